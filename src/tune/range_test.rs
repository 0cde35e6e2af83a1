//! Step 3: the learning-rate range test (Smith 2015; fastai's `lr_find`).
//!
//! The rate grows exponentially, `lr_i = start (end/start)^(i/(n-1))`, one
//! step each; the loss is smoothed, `s_i = b s_{i-1} + (1-b) l_i`, and
//! de-biased by `1 - b^(i+1)`; the sweep stops when `s_i > stop_factor *
//! min s` or a loss is not finite. Three suggestions, as fastai gives them:
//! - **valley** (fastai's default): the longest run of decreasing smoothed
//!   loss, the point 2/3 of the way into it;
//! - **steep**: the most negative slope `d s / d ln lr` (over a span of
//!   1/20 of the sweep, where fastai takes neighbours: see `suggest`);
//!
//! all three taken from the points up to the smallest smoothed loss.
//! - **minimum/10**: the rate of the smallest smoothed loss, divided by 10.
//!
//! It is noisy from run to run (fastai/fastai#3295): report the three, not one
//! truth. The trainer's weights, optimizer state, batch norm statistics,
//! generators and step count are restored bit for bit afterwards.

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::error::{check_setting, Error};
use crate::trainer::data::{shuffled_indices, Icls};
use crate::trainer::optim::LearningRate;
use crate::trainer::Trainer;

/// The sweep's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RangeTestConfig {
    /// First rate (1e-7).
    pub start: f32,
    /// Last rate (10).
    pub end: f32,
    /// Steps, one rate each (100).
    pub steps: u32,
    /// Smoothing `b` of the loss, in `[0, 1)` (0.98).
    pub smoothing: f32,
    /// Stop once the smoothed loss exceeds this many times its minimum (4).
    pub stop_factor: f32,
}

impl RangeTestConfig {
    /// fastai's defaults: 1e-7 to 10 over 100 steps, smoothing 0.98, stop at 4x.
    pub const FASTAI: RangeTestConfig = RangeTestConfig {
        start: 1e-7,
        end: 10.0,
        steps: 100,
        smoothing: 0.98,
        stop_factor: 4.0,
    };

    fn check(&self) -> Result<(), Error> {
        let start = self.start > 0.0 && self.start.is_finite();
        check_setting(start, "start", "must be positive and finite")?;
        let end = self.end > self.start && self.end.is_finite();
        check_setting(end, "end", "must be finite and above start")?;
        check_setting(self.steps >= 2, "steps", "must be at least 2")?;
        let smoothing = (0.0..1.0).contains(&self.smoothing);
        check_setting(smoothing, "smoothing", "must be in [0, 1)")?;
        check_setting(self.stop_factor > 1.0, "stop_factor", "must be above 1")
    }

    /// The rate of step `i`.
    pub fn lr(&self, i: u32) -> f32 {
        let t = i as f64 / (self.steps - 1).max(1) as f64;
        // exp and log rather than pow: the firmware links them already.
        (self.start as f64 * libm::exp(t * libm::log(self.end as f64 / self.start as f64))) as f32
    }
}

impl Default for RangeTestConfig {
    fn default() -> Self {
        Self::FASTAI
    }
}

/// One step of the sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RangePoint {
    /// The step's rate.
    pub lr: f32,
    /// The step's loss.
    pub loss: f32,
    /// The de-biased smoothed loss.
    pub smoothed: f32,
}

/// The suggested rates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Suggestions {
    /// 2/3 into the longest decreasing run (fastai's default).
    pub valley: f32,
    /// The steepest descent of the smoothed loss against `ln lr`.
    pub steep: f32,
    /// The rate of the minimum smoothed loss, over 10.
    pub min_tenth: f32,
}

/// What the sweep found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RangeTestReport {
    /// Points written (the first `points` of the caller's array).
    pub points: usize,
    /// Whether the loss blew up before the last rate.
    pub stopped_early: bool,
    /// The smallest smoothed loss and its rate.
    pub min_loss: f32,
    /// Its rate.
    pub min_lr: f32,
    /// The suggestions (from the points before the stop).
    pub suggestions: Suggestions,
}

/// The sweep over any training step: `step(lr)` takes one step at `lr` and
/// returns its loss (an error other than [`Error::NonFiniteLoss`] aborts;
/// that one ends the sweep). Writes up to `config.steps` points.
/// [`Error::NoFiniteLoss`] when the first loss is already not finite: there
/// is nothing to suggest a rate from.
pub fn lr_range_sweep(
    config: &RangeTestConfig,
    points: &mut [RangePoint],
    mut step: impl FnMut(f32) -> Result<f32, Error>,
) -> Result<RangeTestReport, Error> {
    config.check()?;
    let n = config.steps as usize;
    if points.len() < n {
        return Err(Error::BufferTooSmall {
            needed: n,
            got: points.len(),
        });
    }
    let b = config.smoothing as f64;
    let (mut avg, mut min, mut power) = (0.0f64, f64::INFINITY, 1.0f64);
    let mut written = 0;
    let mut stopped_early = false;
    for i in 0..config.steps {
        let lr = config.lr(i);
        let loss = match step(lr) {
            Ok(l) => l,
            Err(Error::NonFiniteLoss { .. }) => f32::NAN,
            Err(e) => return Err(e),
        };
        avg = b * avg + (1.0 - b) * loss as f64;
        power *= b; // b^(i + 1)
        let smoothed = avg / (1.0 - power);
        points[written] = RangePoint {
            lr,
            loss,
            smoothed: smoothed as f32,
        };
        written += 1;
        if !smoothed.is_finite() || smoothed > config.stop_factor as f64 * min {
            stopped_early = i + 1 < config.steps;
            break;
        }
        min = min.min(smoothed);
    }
    if !points[0].smoothed.is_finite() {
        return Err(Error::NoFiniteLoss);
    }
    // Suggestions from the points before a blow-up.
    let usable = if stopped_early || !points[written - 1].smoothed.is_finite() {
        written.saturating_sub(1).max(1)
    } else {
        written
    };
    let (suggestions, min_lr, min_loss) = suggest(&points[..usable]);
    Ok(RangeTestReport {
        points: written,
        stopped_early,
        min_loss,
        min_lr,
        suggestions,
    })
}

/// Valley, steep and minimum/10 from the smoothed losses of `points` (not
/// empty), all taken on the way down to the minimum: past it a network can
/// blow up and then recover to a worse level (saturated units), and that
/// recovery's slope says nothing about a good rate.
fn suggest(all: &[RangePoint]) -> (Suggestions, f32, f32) {
    let min_i = (0..all.len())
        .reduce(|a, b| {
            if all[b].smoothed < all[a].smoothed {
                b
            } else {
                a
            }
        })
        .unwrap_or(0);
    let points = &all[..=min_i];
    let s = |i: usize| points[i].smoothed;
    // Slopes over a span of points (1/20 of the sweep: 5 at the default
    // 100), not neighbours: at the start the de-biased average has seen few
    // losses and point-to-point differences are mostly noise.
    let span = (all.len() / 20).max(1);
    let mut steep_i = 0;
    let mut steepest = f32::INFINITY;
    for i in 0..points.len().saturating_sub(span) {
        let dx = libm::logf(points[i + span].lr) - libm::logf(points[i].lr);
        let slope = (s(i + span) - s(i)) / dx;
        if slope < steepest {
            steepest = slope;
            steep_i = i + span / 2;
        }
    }
    // Longest run of strictly decreasing smoothed loss.
    let (mut best_start, mut best_len, mut start) = (0, 1, 0);
    for i in 1..points.len() {
        if s(i) >= s(i - 1) {
            start = i;
        }
        if i + 1 - start > best_len {
            best_len = i + 1 - start;
            best_start = start;
        }
    }
    let valley_i = best_start + (2 * (best_len - 1)) / 3;
    (
        Suggestions {
            valley: points[valley_i].lr,
            steep: points[steep_i].lr,
            min_tenth: points[min_i].lr / 10.0,
        },
        points[min_i].lr,
        s(min_i),
    )
}

/// The range test on a trainer: one step per rate on mini-batches of `data`
/// (shuffled into `order`, `data.count` entries, from the trainer's seed),
/// then everything put back as it was, using `snapshot`
/// ([`Trainer::snapshot_len`] floats). A trainer that has taken no step may
/// pass an empty `snapshot`: it is [reset](Trainer::reset) from its seed
/// instead, which needs no memory (how the firmware runs it). Nothing is
/// written on a bad input.
///
/// ```
/// use tinyreg::tune::{lr_range_test, RangePoint, RangeTestConfig};
/// use tinyreg::{Dense, Icls, Layer, Network, Optimizer, TrainConfig, Trainer, Update, WeightDecay, LearningRate};
/// let layers = [Layer::Dense(Dense::new(64, 32).with_relu()), Layer::Dense(Dense::new(32, 10))];
/// let data = Icls::parse(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits-train.bin")))?;
/// let config = TrainConfig { batch: 32, update: Update::new(Optimizer::ADAM, WeightDecay::NONE)?,
///     lr: LearningRate::constant(1e-3), clip_norm: None, seed: 0, early_stopping: None, plateau: None, average: None };
/// let net = Network::new(&layers);
/// let mut memory = vec![0.0; net.memory_len(32, 2, false)];
/// let mut trainer = Trainer::new(net, config, &mut memory)?;
/// let before = trainer.params().to_vec();
/// let mut snapshot = vec![0.0; trainer.snapshot_len()];
/// let (mut order, mut points) = (vec![0; data.count], [RangePoint::default(); 100]);
/// let report = lr_range_test(&mut trainer, &data, &RangeTestConfig::FASTAI, &mut order, &mut points, &mut snapshot)?;
/// assert!(report.suggestions.valley > 1e-5 && report.suggestions.valley < 1.0);
/// assert_eq!(trainer.params(), &before[..]); // restored bit for bit
/// # Ok::<(), tinyreg::Error>(())
/// ```
pub fn lr_range_test(
    trainer: &mut Trainer<'_, '_>,
    data: &Icls<'_>,
    config: &RangeTestConfig,
    order: &mut [u32],
    points: &mut [RangePoint],
    snapshot: &mut [f32],
) -> Result<RangeTestReport, Error> {
    config.check()?;
    if points.len() < config.steps as usize {
        return Err(Error::BufferTooSmall {
            needed: config.steps as usize,
            got: points.len(),
        });
    }
    if order.len() != data.count {
        return Err(Error::LengthMismatch {
            expected: data.count,
            got: order.len(),
        });
    }
    if data.count < 2 {
        return Err(Error::InvalidConfig {
            reason: "the range test needs at least 2 samples",
        });
    }
    if data.features() != trainer.network().inputs() {
        return Err(Error::LengthMismatch {
            expected: trainer.network().inputs(),
            got: data.features(),
        });
    }
    let reset = snapshot.is_empty() && trainer.steps() == 0;
    let state = if reset {
        None
    } else {
        Some(trainer.save_snapshot(snapshot)?)
    };
    let original_lr = trainer.config().lr;
    let batch = trainer.config().batch.min(data.count);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(trainer.config().seed ^ 0x1f_f1d);
    let mut at = data.count;
    let result = lr_range_sweep(config, points, |lr| {
        if at + batch > data.count {
            shuffled_indices(&mut rng, order);
            at = 0;
        }
        trainer.set_learning_rate(LearningRate::constant(lr))?;
        let m = trainer.train_step(data, &order[at..at + batch]);
        at += batch;
        m.map(|m| m.loss)
    });
    trainer.set_learning_rate(original_lr)?;
    match state {
        Some(state) => trainer.restore_snapshot(snapshot, &state)?,
        None => trainer.reset(),
    }
    result
}
