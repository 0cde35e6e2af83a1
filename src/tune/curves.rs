//! Step 6: reading the loss and accuracy curves (CS231n 2021, lecture 8).
//!
//! [`diagnose`] reads a per-epoch history ([`EpochMetrics`]), optionally the
//! per-step training losses and the per-layer update ratios, and writes one
//! [`Finding`] per problem, each with the numbers behind it and a suggestion.
//! The thresholds are the fields of [`Thresholds`] (defaults in
//! [`Thresholds::DEFAULT`]); a healthy run yields no finding.
//!
//! The rules read the whole history against its learning-rate schedule: an
//! update ratio is judged at the schedule's peak rate (a cosine schedule
//! ending at 5% of the rate shrinks the last epochs' ratios 20-fold, which
//! says nothing about the rate), and the step losses' scatter is judged over
//! the epochs at half the peak rate or more, against the progress the loss
//! made there. Each finding's advice is a direction for one knob
//! ([`Finding::advice`]), and the findings of one run never pull a knob
//! both ways ([`contradiction`] finds such a pair; `diagnose` settles any by
//! the rule that a rate too high somewhere comes down first).

use core::fmt;

use crate::error::Error;
use crate::trainer::EpochMetrics;

/// Where each finding starts (see each field).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Diverging: any loss NaN or infinite, or the training loss climbing back
    /// more than this fraction (0.5) of the way from its minimum to its first
    /// value (a relative rise would flag the noise of a loss near zero).
    pub rise_fraction: f32,
    /// Diverging, too: a step's loss above this multiple (3) of the first
    /// step's, which an epoch's mean can hide when the loss explodes and
    /// settles back at chance. On the shipped digits config the largest step
    /// loss is 1.0x the first trained as shipped and for its search's winner,
    /// 4.0x at lr 0.15 (test accuracy 0.86 against 0.96) and 33x at lr 0.5.
    pub spike_factor: f32,
    /// Flat start: the smoothed step loss stays within this fraction of its
    /// start (0.02) over the first `flat_fraction` of the steps...
    pub flat_tolerance: f32,
    /// ...of this fraction of the steps (0.1; epochs when no step losses),
    /// and afterwards falls by more than `10 x flat_tolerance`.
    pub flat_fraction: f32,
    /// Plateau: over the last `plateau_epochs` epochs (5) the validation loss
    /// moves less than `plateau_tolerance` (0.01) relative to its level.
    pub plateau_epochs: usize,
    /// See `plateau_epochs`.
    pub plateau_tolerance: f32,
    /// Noisy: over the steps of the epochs whose rate is at least half the
    /// peak (where a rate too high shows; a decayed rate hides it), the
    /// root-mean-square residual of the step losses around their moving
    /// average (window `noise_window`, 20) above `noise_ratio` (0.15) of the
    /// fall of that average over the same steps: the scatter hides the
    /// trend. Measured on the shipped digits config: 0.036 trained as
    /// shipped, 0.061 for its search's winner, 0.10 at 75 times the rate;
    /// steps scattered by +-50% of a falling loss score 0.19. (Relative to
    /// the loss's level instead, every run that reaches a loss near zero
    /// looks noisy: the healthy winner scored 1.65.)
    pub noise_ratio: f32,
    /// See `noise_ratio`.
    pub noise_window: usize,
    /// Overfitting: the final train-validation accuracy gap above this (0.05)
    /// while the validation loss ended `val_rise` (5%) above its minimum, or
    /// a gap above twice this whatever the loss (the lecture's "big gap":
    /// 40 digits trained to 100% with 0.87 on validation, the loss still
    /// falling, is overfitting too).
    pub overfit_gap: f32,
    /// See `overfit_gap`.
    pub val_rise: f32,
    /// Underfitting: final training accuracy below this (0.9) with a gap under
    /// `overfit_gap / 2`.
    pub underfit_accuracy: f32,
    /// Update-to-weight ratio healthy in `[ratio_low, ratio_high]`
    /// (1e-4 to 1e-2 around the lecture's 1e-3), judged at the schedule's
    /// peak rate: each epoch's ratio times `peak / lr` (an update scales
    /// with the rate for SGD and Adam alike), the median over the epochs;
    /// the per-layer ratios (the last step's) times `peak / last lr`.
    pub ratio_low: f32,
    /// See `ratio_low`.
    pub ratio_high: f32,
}

impl Thresholds {
    /// The documented defaults.
    pub const DEFAULT: Thresholds = Thresholds {
        rise_fraction: 0.5,
        spike_factor: 3.0,
        flat_tolerance: 0.02,
        flat_fraction: 0.1,
        plateau_epochs: 5,
        plateau_tolerance: 0.01,
        noise_ratio: 0.15,
        noise_window: 20,
        overfit_gap: 0.05,
        val_rise: 0.05,
        underfit_accuracy: 0.9,
        ratio_low: 1e-4,
        ratio_high: 1e-2,
    };
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a finding's advice turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Knob {
    /// The learning rate (or its schedule).
    LearningRate,
    /// The mini-batch size.
    BatchSize,
    /// Dropout, weight decay, augmentation and the like.
    Regularization,
    /// The model's width or depth.
    ModelSize,
    /// Epochs trained.
    TrainingLength,
    /// The initial weights' scale.
    Initialization,
}

/// Which way a finding's advice turns its knob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Less of it.
    Lower,
    /// More of it.
    Raise,
    /// Different, neither more nor less (an initialization).
    Change,
}

/// One problem read off the curves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Finding {
    /// A loss became NaN or infinite, or the training loss rose well above its
    /// minimum.
    Diverged {
        /// First epoch with the problem.
        epoch: usize,
        /// Its training loss (the step's, for a spike).
        loss: f32,
        /// The minimum training loss before it (of the steps, for a spike).
        min_loss: f32,
    },
    /// The loss stayed flat, then fell: a bad initialization.
    FlatStart {
        /// Steps (or epochs) it stayed flat.
        flat_for: usize,
        /// Its relative fall afterwards.
        fall: f32,
    },
    /// The validation loss stopped moving: decay the learning rate.
    Plateau {
        /// First epoch of the flat stretch.
        since_epoch: usize,
        /// Relative change over it.
        change: f32,
    },
    /// The step losses scatter widely around their moving average.
    NoisyLoss {
        /// RMS residual over the mean.
        noise: f32,
    },
    /// Training accuracy well above validation while the validation loss
    /// rises, or far above it.
    Overfitting {
        /// Final train minus validation accuracy.
        gap: f32,
        /// Epoch of the lowest validation loss.
        best_epoch: usize,
        /// Relative rise of the validation loss since then; 0 when under
        /// `Thresholds::val_rise`, and the finding rests on the gap alone.
        val_rise: f32,
    },
    /// Low training accuracy and no gap.
    Underfitting {
        /// Final training accuracy.
        train_accuracy: f32,
        /// Final gap.
        gap: f32,
    },
    /// An update-to-weight ratio outside the healthy band.
    UpdateRatio {
        /// The layer, or `None` for the whole network (from the history).
        layer: Option<usize>,
        /// The ratio.
        ratio: f32,
        /// Above the band (else below).
        too_high: bool,
    },
}

impl Finding {
    /// A short name of the finding's kind ("overfitting", ...), for reports
    /// that print no numbers (firmware without float formatting).
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Diverged { .. } => "diverged",
            Finding::FlatStart { .. } => "flat start",
            Finding::Plateau { .. } => "plateau",
            Finding::NoisyLoss { .. } => "noisy loss",
            Finding::Overfitting { .. } => "overfitting",
            Finding::Underfitting { .. } => "underfitting",
            Finding::UpdateRatio { too_high: true, .. } => "update ratio high",
            Finding::UpdateRatio {
                too_high: false, ..
            } => "update ratio low",
        }
    }

    /// The knobs its advice turns, and which way.
    pub fn advice(&self) -> &'static [(Knob, Direction)] {
        use Direction::*;
        use Knob::*;
        match self {
            Finding::Diverged { .. } => &[(LearningRate, Lower)],
            Finding::FlatStart { .. } => &[(Initialization, Change)],
            Finding::Plateau { .. } => &[(LearningRate, Lower)],
            Finding::NoisyLoss { .. } => &[(LearningRate, Lower), (BatchSize, Raise)],
            // Stopping earlier helps only where the validation loss turned up.
            Finding::Overfitting { val_rise, .. } if *val_rise > 0.0 => {
                &[(Regularization, Raise), (TrainingLength, Lower)]
            }
            Finding::Overfitting { .. } => &[(Regularization, Raise)],
            Finding::Underfitting { .. } => &[
                (TrainingLength, Raise),
                (ModelSize, Raise),
                (Regularization, Lower),
            ],
            Finding::UpdateRatio { too_high: true, .. } => &[(LearningRate, Lower)],
            Finding::UpdateRatio {
                too_high: false, ..
            } => &[(LearningRate, Raise)],
        }
    }

    /// What to try.
    pub fn suggestion(&self) -> &'static str {
        match self {
            Finding::Diverged { .. } => "lower the learning rate (or clip gradients)",
            Finding::FlatStart { .. } => "check the initialization (scale of the weights)",
            Finding::Plateau { .. } => "decay the learning rate (step, cosine or on plateau)",
            Finding::NoisyLoss { .. } => "lower the learning rate or enlarge the batch",
            Finding::Overfitting { val_rise, .. } if *val_rise > 0.0 => {
                "more regularization or more data; stop earlier"
            }
            Finding::Overfitting { .. } => "more regularization or more data",
            Finding::Underfitting { .. } => {
                "train longer or use a bigger model; less regularization"
            }
            Finding::UpdateRatio { too_high: true, .. } => "the learning rate is too high",
            Finding::UpdateRatio {
                too_high: false, ..
            } => "the learning rate is too low",
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Finding::Diverged {
                epoch,
                loss,
                min_loss,
            } => write!(
                f,
                "diverged: training loss {loss:.4} at epoch {epoch} (minimum {min_loss:.4})"
            ),
            Finding::FlatStart { flat_for, fall } => write!(
                f,
                "flat start: the loss stayed flat for {flat_for} points, then fell {:.0}%",
                fall * 100.0
            ),
            Finding::Plateau {
                since_epoch,
                change,
            } => write!(
                f,
                "plateau: validation loss moved {:.2}% since epoch {since_epoch}",
                change * 100.0
            ),
            Finding::NoisyLoss { noise } => write!(
                f,
                "noisy loss: at the higher rates the steps scatter {:.0}% of the loss's fall around their moving average",
                noise * 100.0
            ),
            Finding::Overfitting {
                gap,
                best_epoch,
                val_rise,
            } if val_rise > 0.0 => write!(
                f,
                "overfitting: train-val accuracy gap {gap:.3}, validation loss up {:.0}% since epoch {best_epoch}",
                val_rise * 100.0
            ),
            Finding::Overfitting { gap, .. } => write!(
                f,
                "overfitting: train-val accuracy gap {gap:.3} (validation loss not rising)"
            ),
            Finding::Underfitting {
                train_accuracy,
                gap,
            } => write!(
                f,
                "underfitting: training accuracy {train_accuracy:.3} with a gap of {gap:.3}"
            ),
            Finding::UpdateRatio {
                layer,
                ratio,
                too_high,
            } => {
                let level = if too_high { "high" } else { "low" };
                match layer {
                    Some(l) => write!(
                        f,
                        "update/weight ratio of layer {l} at the peak rate {ratio:.1e} is {level}"
                    ),
                    None => write!(f, "update/weight ratio at the peak rate {ratio:.1e} is {level}"),
                }
            }
        }?;
        write!(f, ": {}", self.suggestion())
    }
}

/// Most findings [`diagnose`] writes: six kinds plus one per ratio.
pub const fn max_findings(layer_ratios: usize) -> usize {
    7 + layer_ratios
}

/// The first pair of `findings` whose advice turns one knob both ways, if
/// any ([`diagnose`] never writes one).
pub fn contradiction(findings: &[Finding]) -> Option<(Finding, Finding)> {
    for (i, a) in findings.iter().enumerate() {
        for b in &findings[i + 1..] {
            for &(knob, dir) in a.advice() {
                let opposite = match dir {
                    Direction::Lower => Direction::Raise,
                    Direction::Raise => Direction::Lower,
                    Direction::Change => continue,
                };
                if b.advice().contains(&(knob, opposite)) {
                    return Some((*a, *b));
                }
            }
        }
    }
    None
}

/// Reads `history` (at least one epoch), the per-step training losses
/// `step_losses` (may be empty) and per-layer update ratios `layer_ratios`
/// (0 marks a layer without weights; may be empty), and writes the findings
/// into `findings` (at least [`max_findings`]`(layer_ratios.len())`). Returns
/// how many.
///
/// ```
/// use tinyreg::tune::{diagnose, max_findings, Finding, Thresholds};
/// use tinyreg::{EpochMetrics, Metrics};
/// // Train accuracy climbs to 1.0 while validation loss turns up: overfitting.
/// let history: Vec<EpochMetrics> = (0..20).map(|e| EpochMetrics {
///     train: Metrics { loss: 1.0 / (e + 1) as f32, accuracy: (0.7 + 0.03 * e as f32).min(1.0) },
///     val: Metrics { loss: 0.5 + 0.02 * (e as f32 - 8.0).abs(), accuracy: 0.85 },
///     lr: 1e-3, update_ratio: 1e-3,
/// }).collect();
/// let mut findings = [Finding::NoisyLoss { noise: 0.0 }; max_findings(0)];
/// let n = diagnose(&history, &[], &[], &Thresholds::DEFAULT, &mut findings)?;
/// assert!(matches!(findings[..n], [Finding::Overfitting { best_epoch: 8, .. }]));
/// # Ok::<(), tinyreg::Error>(())
/// ```
pub fn diagnose(
    history: &[EpochMetrics],
    step_losses: &[f32],
    layer_ratios: &[f32],
    thresholds: &Thresholds,
    findings: &mut [Finding],
) -> Result<usize, Error> {
    if history.is_empty() {
        return Err(Error::InvalidSetting {
            setting: "history",
            rule: "diagnosis needs at least one epoch",
        });
    }
    let needed = max_findings(layer_ratios.len());
    if findings.len() < needed {
        return Err(Error::BufferTooSmall {
            needed,
            got: findings.len(),
        });
    }
    let t = thresholds;
    let mut n = 0;
    let mut push = |f: Finding| {
        findings[n] = f;
        n += 1;
    };
    let last = history.len() - 1;
    let end = history[last];

    // Divergence: non-finite, or rising well above the minimum.
    let mut min_loss = f32::INFINITY;
    let mut diverged = false;
    let first = history[0].train.loss;
    for (e, m) in history.iter().enumerate() {
        let finite = m.train.loss.is_finite() && m.val.loss.is_finite();
        let given_back = m.train.loss - min_loss > t.rise_fraction * (first - min_loss).abs();
        if !finite || (e > 0 && given_back && m.train.loss > min_loss) {
            push(Finding::Diverged {
                epoch: e,
                loss: m.train.loss,
                min_loss,
            });
            diverged = true;
            break;
        }
        min_loss = min_loss.min(m.train.loss);
    }
    if !diverged {
        if let Some(f) = spike(history.len(), step_losses, t) {
            push(f);
            diverged = true;
        }
    }
    if let Some(f) = flat_start(history, step_losses, t) {
        push(f);
    }
    if !diverged {
        if let Some(f) = noisy(history, step_losses, t) {
            push(f);
        }
        // Overfitting: a gap, and validation loss up from its minimum.
        let gap = end.train.accuracy - end.val.accuracy;
        let best_epoch = (0..history.len())
            .reduce(|a, b| {
                if history[b].val.loss < history[a].val.loss {
                    b
                } else {
                    a
                }
            })
            .unwrap_or(0);
        let best = history[best_epoch].val.loss;
        let rise = if best > 0.0 {
            (end.val.loss - best) / best
        } else {
            0.0
        };
        let overfitting = gap > t.overfit_gap && (rise > t.val_rise || gap > 2.0 * t.overfit_gap);
        if overfitting {
            push(Finding::Overfitting {
                gap,
                best_epoch,
                val_rise: if rise > t.val_rise { rise } else { 0.0 },
            });
        }
        if end.train.accuracy < t.underfit_accuracy && gap.abs() < t.overfit_gap / 2.0 {
            push(Finding::Underfitting {
                train_accuracy: end.train.accuracy,
                gap,
            });
        }
        // Plateau: the validation loss flat over the last epochs (and not
        // rising, which is overfitting's).
        let w = t.plateau_epochs;
        if !overfitting && w >= 2 && history.len() > w {
            let window = &history[history.len() - w..];
            let (lo, hi) = window
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), m| {
                    (lo.min(m.val.loss), hi.max(m.val.loss))
                });
            let level = window[0].val.loss.abs().max(f32::MIN_POSITIVE);
            let change = (hi - lo) / level;
            if change < t.plateau_tolerance && end.train.accuracy < 1.0 {
                push(Finding::Plateau {
                    since_epoch: history.len() - w,
                    change,
                });
            }
        }
    }
    // Ratios at the peak rate (an update scales with the rate).
    let peak = history
        .iter()
        .map(|m| m.lr)
        .filter(|lr| lr.is_finite() && *lr > 0.0)
        .fold(0.0f32, f32::max);
    let at_peak = |ratio: f32, lr: f32| {
        if peak > 0.0 && lr > 0.0 {
            ratio * (peak / lr)
        } else {
            ratio
        }
    };
    let band = |ratio: f32, layer| {
        (ratio < t.ratio_low || ratio > t.ratio_high).then_some(Finding::UpdateRatio {
            layer,
            ratio,
            too_high: ratio > t.ratio_high,
        })
    };
    let mut ratios = [0f32; 64];
    let mut k = 0;
    for m in history.iter().rev() {
        if k == ratios.len() {
            break;
        }
        if m.update_ratio.is_finite() && m.update_ratio > 0.0 {
            ratios[k] = at_peak(m.update_ratio, m.lr);
            k += 1;
        }
    }
    let whole = median(&mut ratios[..k]);
    if let Some(f) = whole.and_then(|r| band(r, None)) {
        push(f);
    }
    for (l, &r) in layer_ratios.iter().enumerate() {
        if r != 0.0 {
            if let Some(f) = band(at_peak(r, end.lr), Some(l)) {
                push(f);
            }
        }
    }
    // A rate too high (or a loss that diverged, scattered or stalled) comes
    // down before a slow layer asks for more: drop the "too low" findings
    // when any finding lowers the rate.
    let lowers = findings[..n]
        .iter()
        .any(|f| f.advice().contains(&(Knob::LearningRate, Direction::Lower)));
    if lowers {
        let mut kept = 0;
        for i in 0..n {
            if !matches!(
                findings[i],
                Finding::UpdateRatio {
                    too_high: false,
                    ..
                }
            ) {
                findings[kept] = findings[i];
                kept += 1;
            }
        }
        n = kept;
    }
    Ok(n)
}

/// The median of `values` (sorted in place), `None` when empty.
fn median(values: &mut [f32]) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f32::total_cmp);
    let m = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[m]
    } else {
        0.5 * (values[m - 1] + values[m])
    })
}

/// The losses smoothed by a trailing moving average of `window`.
fn moving_average(losses: &[f32], window: usize, i: usize) -> f32 {
    let start = (i + 1).saturating_sub(window.max(1));
    let s = &losses[start..=i];
    s.iter().sum::<f32>() / s.len() as f32
}

/// The first step whose loss exceeds `spike_factor` times the first step's
/// (or is not finite), as a divergence in the epoch it falls in.
fn spike(epochs: usize, step_losses: &[f32], t: &Thresholds) -> Option<Finding> {
    let first = *step_losses.first()?;
    if !(first.is_finite() && first > 0.0 && t.spike_factor > 1.0) {
        return None;
    }
    let mut min_loss = first;
    for (i, &loss) in step_losses.iter().enumerate() {
        if !loss.is_finite() || loss > t.spike_factor * first {
            // Steps spread evenly over the epochs; widened so the product cannot overflow.
            let epoch = (i as u64 * epochs as u64 / step_losses.len() as u64) as usize;
            return Some(Finding::Diverged {
                epoch,
                loss,
                min_loss,
            });
        }
        min_loss = min_loss.min(loss);
    }
    None
}

fn flat_start(history: &[EpochMetrics], steps: &[f32], t: &Thresholds) -> Option<Finding> {
    // The series: smoothed step losses if there are enough, else epochs.
    let use_steps = steps.len() >= 4 * t.noise_window.max(1);
    let len = if use_steps {
        steps.len()
    } else {
        history.len()
    };
    let at = |i: usize| {
        if use_steps {
            moving_average(steps, t.noise_window, i)
        } else {
            history[i].train.loss
        }
    };
    let flat_for = ((len as f32 * t.flat_fraction) as usize).max(3);
    if len < 2 * flat_for + 1 {
        return None;
    }
    let first = if use_steps {
        at(t.noise_window.min(len - 1))
    } else {
        at(0)
    };
    let start_i = if use_steps { t.noise_window } else { 0 };
    if !first.is_finite() || first <= 0.0 || start_i + flat_for >= len {
        return None;
    }
    let flat =
        (start_i..start_i + flat_for).all(|i| (at(i) - first).abs() < t.flat_tolerance * first);
    let fall = (first - at(len - 1)) / first;
    (flat && fall > 10.0 * t.flat_tolerance).then_some(Finding::FlatStart { flat_for, fall })
}

/// The steps' scatter against their progress over the epochs at half the
/// peak rate or more ([`Thresholds::noise_ratio`]).
fn noisy(history: &[EpochMetrics], steps: &[f32], t: &Thresholds) -> Option<Finding> {
    let w = t.noise_window.max(2);
    if steps.len() < 2 * w || steps.iter().any(|l| !l.is_finite()) {
        return None;
    }
    let peak = history.iter().map(|m| m.lr).fold(0.0f32, f32::max);
    let epochs = history.len();
    let high = |i: usize| {
        let e = (i * epochs / steps.len()).min(epochs - 1);
        peak.is_nan() || peak <= 0.0 || history[e].lr >= 0.5 * peak
    };
    let (mut sq, mut count) = (0.0f64, 0usize);
    let (mut first, mut last) = (None, None);
    for i in w..steps.len() {
        if !high(i) {
            continue;
        }
        let avg = moving_average(steps, w, i) as f64;
        let r = steps[i] as f64 - avg;
        sq += r * r;
        count += 1;
        first.get_or_insert(avg);
        last = Some(avg);
    }
    let (Some(first), Some(last)) = (first, last) else {
        return None;
    };
    if count < w {
        return None;
    }
    let rms = libm::sqrt(sq / count as f64);
    let progress = first - last;
    let noise = if progress > 0.0 {
        (rms / progress) as f32
    } else if rms > 0.0 {
        f32::INFINITY
    } else {
        0.0
    };
    (noise > t.noise_ratio).then_some(Finding::NoisyLoss { noise })
}
