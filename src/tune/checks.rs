//! The recipe's first two steps: check the initial loss, and overfit a small
//! sample with every regularizer switched off.

use crate::error::{check_setting, Error};
use crate::layers::dropout::{Dropout, DropoutKind};
use crate::layers::layer::{Layer, StochasticDepth};
use crate::layers::spatial_dropout::SpatialDropout;
use crate::trainer::data::Icls;
use crate::trainer::network::Network;
use crate::trainer::optim::{Update, WeightDecay};
use crate::trainer::{TrainConfig, Trainer};

/// Relative tolerance of [`check_initial_loss`]: the loss passes when
/// `|loss - ln C| <= INITIAL_LOSS_TOLERANCE * ln C`. The crate's
/// initialization (He-uniform hidden layers, Xavier-uniform last layer) starts
/// digits at 2.38 against ln 10 = 2.30; weights scaled by 10 give about 11.
pub const INITIAL_LOSS_TOLERANCE: f32 = 0.25;

/// What the initial loss says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialLossVerdict {
    /// Within the tolerance of `ln C`.
    Expected,
    /// Above: logits too large (weights initialized too big) or a bug in the
    /// loss.
    TooHigh,
    /// Below: the network already knows the labels (a leak?) or the loss is
    /// not over all the classes.
    TooLow,
    /// NaN or infinite.
    NotFinite,
}

impl core::fmt::Display for InitialLossVerdict {
    /// In words, for reports.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            InitialLossVerdict::Expected => "as expected",
            InitialLossVerdict::TooHigh => {
                "too high: the logits start too large (initial weights too big?) or the loss has a bug"
            }
            InitialLossVerdict::TooLow => {
                "too low: the network knows the labels already (a leak?) or the loss misses classes"
            }
            InitialLossVerdict::NotFinite => "not finite",
        })
    }
}

/// Step 1: the loss before any step against `ln C`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InitialLossReport {
    /// Mean cross-entropy in eval mode (no dropout, no decay) before any step.
    pub loss: f32,
    /// `ln C` for the network's `C` classes.
    pub expected: f32,
    /// The relative tolerance applied.
    pub tolerance: f32,
    /// The verdict.
    pub verdict: InitialLossVerdict,
}

/// Step 1 of the recipe: evaluates `data` (eval mode: no dropout, and weight
/// decay is not part of the loss) before any step, and compares with `ln C`
/// under `tolerance` (relative; [`INITIAL_LOSS_TOLERANCE`] is the default).
/// Refuses a trainer that has taken steps, or a tolerance that is not
/// positive and finite. Only batch norm's running statistics are read; the
/// trainer is unchanged.
pub fn check_initial_loss(
    trainer: &mut Trainer<'_, '_>,
    data: &Icls<'_>,
    tolerance: f32,
) -> Result<InitialLossReport, Error> {
    let finite = tolerance > 0.0 && tolerance.is_finite();
    check_setting(finite, "tolerance", "must be positive and finite")?;
    if trainer.steps() != 0 {
        return Err(Error::InvalidState {
            reason: "the initial loss is checked before any step",
        });
    }
    let classes = trainer.network().outputs();
    let expected = libm::logf(classes as f32);
    let loss = trainer.evaluate(data)?.loss;
    let verdict = if !loss.is_finite() {
        InitialLossVerdict::NotFinite
    } else if loss > expected * (1.0 + tolerance) {
        InitialLossVerdict::TooHigh
    } else if loss < expected * (1.0 - tolerance) {
        InitialLossVerdict::TooLow
    } else {
        InitialLossVerdict::Expected
    };
    Ok(InitialLossReport {
        loss,
        expected,
        tolerance,
        verdict,
    })
}

/// `layers` with every stochastic regularizer switched off, into `out` (same
/// length): dropout, DropConnect and spatial dropout keep 1, residual
/// branches (the dense block and the general block's stochastic depth)
/// always survive. The memory plan is unchanged (the same layer kinds), so
/// the same buffer serves. Fractional max pooling keeps its random regions:
/// they are the layer's structure (noted, not changed). The match is
/// exhaustive: a new layer kind must say here whether it regularizes.
pub fn unregularized_layers(layers: &[Layer], out: &mut [Layer]) -> Result<(), Error> {
    if out.len() != layers.len() {
        return Err(Error::LengthMismatch {
            expected: layers.len(),
            got: out.len(),
        });
    }
    // Every conversion is checked before `out` is written.
    for layer in layers {
        unregularized(*layer)?;
    }
    for (o, layer) in out.iter_mut().zip(layers) {
        *o = unregularized(*layer)?;
    }
    Ok(())
}

fn keep_all(d: Dropout) -> Result<Dropout, Error> {
    match d.kind() {
        DropoutKind::Vanilla => Dropout::vanilla(1.0),
        DropoutKind::Inverted => Dropout::inverted(1.0),
    }
}

/// One layer's regularizer-off form.
fn unregularized(layer: Layer) -> Result<Layer, Error> {
    Ok(match layer {
        Layer::Dropout { features, dropout } => Layer::Dropout {
            features,
            dropout: keep_all(dropout)?,
        },
        Layer::DenseDropConnect(d, dropout) => Layer::DenseDropConnect(d, keep_all(dropout)?),
        Layer::SpatialDropout(s) => Layer::SpatialDropout(SpatialDropout {
            dropout: keep_all(s.dropout)?,
            ..s
        }),
        Layer::Residual {
            features,
            hidden,
            scaling,
            ..
        } => Layer::Residual {
            features,
            hidden,
            survival: 1.0,
            scaling,
        },
        Layer::ResidualStart { features, depth } => Layer::ResidualStart {
            features,
            depth: StochasticDepth {
                survival: 1.0,
                ..depth
            },
        },
        Layer::Dense(_)
        | Layer::Relu { .. }
        | Layer::BatchNorm(_)
        | Layer::GlobalAvgPool { .. }
        | Layer::ResidualEnd { .. }
        | Layer::Conv2d { .. }
        | Layer::MaxPool { .. }
        | Layer::AvgPool { .. }
        | Layer::FractionalMaxPool { .. } => layer,
    })
}

/// Whether one layer trains without a stochastic regularizer.
fn layer_is_unregularized(layer: &Layer) -> bool {
    match *layer {
        Layer::Dropout { dropout, .. } | Layer::DenseDropConnect(_, dropout) => {
            dropout.keep() == crate::kernels::bernoulli::Keep::ALL
        }
        Layer::SpatialDropout(s) => s.dropout.keep() == crate::kernels::bernoulli::Keep::ALL,
        Layer::Residual { survival, .. } => survival >= 1.0,
        Layer::ResidualStart { depth, .. } => depth.survival >= 1.0,
        Layer::Dense(_)
        | Layer::Relu { .. }
        | Layer::BatchNorm(_)
        | Layer::GlobalAvgPool { .. }
        | Layer::ResidualEnd { .. }
        | Layer::Conv2d { .. }
        | Layer::MaxPool { .. }
        | Layer::AvgPool { .. }
        | Layer::FractionalMaxPool { .. } => true,
    }
}

/// `config` without weight decay or early stopping.
pub fn unregularized_config(config: TrainConfig) -> TrainConfig {
    TrainConfig {
        update: Update {
            decay: WeightDecay::NONE,
            ..config.update
        },
        early_stopping: None,
        average: None,
        ..config
    }
}

/// Whether `net` and `config` train without any regularizer: no dropout or
/// DropConnect or spatial dropout below keep 1, no stochastic depth, no
/// weight decay.
pub fn is_unregularized(net: &Network<'_>, config: &TrainConfig) -> bool {
    let layers_ok = net.layers().iter().all(layer_is_unregularized);
    layers_ok && config.update.decay == WeightDecay::NONE
}

/// How step 2 ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OverfitVerdict {
    /// 100% train accuracy on the sample after `steps` steps.
    Overfit {
        /// Steps it took.
        steps: u32,
    },
    /// The budget ran out below 100% (learning rate too low, model too small,
    /// or a bug).
    Stuck,
    /// The loss became NaN or infinite at `step` (learning rate too high).
    Diverged {
        /// The step.
        step: u32,
    },
}

impl core::fmt::Display for OverfitVerdict {
    /// In words, for reports.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            OverfitVerdict::Overfit { steps } => write!(f, "fit 100% in {steps} steps"),
            OverfitVerdict::Stuck => {
                f.write_str("stuck below 100% (rate too low, model too small, or a bug)")
            }
            OverfitVerdict::Diverged { step } => {
                write!(f, "diverged at step {step} (rate too high)")
            }
        }
    }
}

/// Step 2: training on a small sample without regularization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverfitReport {
    /// The verdict.
    pub verdict: OverfitVerdict,
    /// Steps taken.
    pub steps: u32,
    /// Training loss of the first step.
    pub first_loss: f32,
    /// Eval-mode loss on the sample at the end.
    pub last_loss: f32,
    /// Eval-mode accuracy on the sample at the end.
    pub accuracy: f32,
}

/// Step 2 of the recipe: trains on the first `samples` of `data` (in batches
/// of the trainer's batch size, in order, pass after pass) for at most
/// `max_steps` steps, evaluating the sample after every pass, until it is
/// classified 100% correctly. The trainer must be unregularized
/// ([`is_unregularized`]; build it from [`unregularized_layers`] and
/// [`unregularized_config`]) and not augmenting; `order` holds at least `samples` indices of
/// scratch. `samples >= 2`, `max_steps >= 1`.
pub fn overfit_small_sample(
    trainer: &mut Trainer<'_, '_>,
    data: &Icls<'_>,
    samples: usize,
    max_steps: u32,
    order: &mut [u32],
) -> Result<OverfitReport, Error> {
    if !is_unregularized(&trainer.network(), trainer.config()) || trainer.augmenting() {
        return Err(Error::InvalidConfig {
            reason: "switch regularizers off first (tune::unregularized_layers, unregularized_config, Trainer::set_augmenter(None))",
        });
    }
    let samples_ok = (2..=data.count).contains(&samples);
    check_setting(
        samples_ok,
        "samples",
        "must be at least 2 and at most data.count",
    )?;
    check_setting(max_steps > 0, "max_steps", "must be at least 1")?;
    if order.len() < samples {
        return Err(Error::BufferTooSmall {
            needed: samples,
            got: order.len(),
        });
    }
    let sample = data.slice(0, samples)?;
    let order = &mut order[..samples];
    for (i, o) in order.iter_mut().enumerate() {
        *o = i as u32;
    }
    let batch = trainer.config().batch;
    let (mut steps, mut first_loss) = (0u32, f32::NAN);
    loop {
        // Every pass takes at least one step (samples >= 2), so the loop ends.
        for chunk in order.chunks(batch).filter(|c| c.len() >= 2 || batch == 1) {
            let m = trainer.train_step(&sample, chunk);
            steps += 1;
            let m = match m {
                Ok(m) => m,
                Err(Error::NonFiniteLoss { .. }) => {
                    return Ok(OverfitReport {
                        verdict: OverfitVerdict::Diverged { step: steps },
                        steps,
                        first_loss,
                        last_loss: f32::NAN,
                        accuracy: 0.0,
                    })
                }
                Err(e) => return Err(e),
            };
            if steps == 1 {
                first_loss = m.loss;
            }
            if steps >= max_steps {
                break;
            }
        }
        let eval = trainer.evaluate(&sample)?;
        let verdict = if !eval.loss.is_finite() {
            Some(OverfitVerdict::Diverged { step: steps })
        } else if eval.accuracy >= 1.0 {
            Some(OverfitVerdict::Overfit { steps })
        } else if steps >= max_steps {
            Some(OverfitVerdict::Stuck)
        } else {
            None
        };
        if let Some(verdict) = verdict {
            return Ok(OverfitReport {
                verdict,
                steps,
                first_loss,
                last_loss: eval.loss,
                accuracy: eval.accuracy,
            });
        }
    }
}
