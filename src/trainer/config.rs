//! Training settings: [`TrainConfig`] and the metric early stopping watches.

use super::average::WeightAverage;
use super::early_stopping::EarlyStoppingConfig;
use super::optim::{self, LearningRate, Update};
use super::plateau::PlateauConfig;

/// The metric early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Validation loss (mode min).
    ValLoss,
    /// Validation accuracy (mode max).
    ValAccuracy,
}

/// Training settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// Mini-batch size (the memory is sized for it).
    pub batch: usize,
    /// Optimizer and weight decay; decay applies to weight matrices only, not
    /// to biases or batch-norm parameters (like Keras's kernel regularizers).
    pub update: Update,
    /// Learning rate per optimizer step.
    pub lr: LearningRate,
    /// Clip the global gradient norm to this, if set.
    pub clip_norm: Option<f32>,
    /// Seeds initialization, shuffling and every mask.
    pub seed: u64,
    /// Early stopping on a validation metric, if set.
    pub early_stopping: Option<(Metric, EarlyStoppingConfig)>,
    /// Decay of the base rate when a validation metric plateaus, if set
    /// ([`crate::ReduceOnPlateau`] after each epoch of [`crate::Trainer::fit`];
    /// its counters and the reduced rate live in the trainer's memory, and
    /// so in checkpoints).
    pub plateau: Option<(Metric, PlateauConfig)>,
    /// A running average of the weights, if set (one more copy of the
    /// parameters and buffers in memory: [`crate::Network::memory_len_for`]).
    pub average: Option<WeightAverage>,
}

impl TrainConfig {
    /// Plain SGD (no weight decay) at a constant `lr` on batches of
    /// `batch`, seed 0, no clipping, no early stopping; the `with_*` methods
    /// set the rest, in a `const` if need be:
    ///
    /// ```
    /// use tinyreg::{LearningRate, Metric, Optimizer, TrainConfig, Update, WeightDecay};
    /// let config = TrainConfig::new(32, LearningRate::constant(2e-3))
    ///     .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap())
    ///     .with_seed(7)
    ///     .with_clip_norm(5.0);
    /// assert_eq!(config.batch, 32);
    /// assert_eq!(config.clip_norm, Some(5.0));
    /// ```
    pub const fn new(batch: usize, lr: LearningRate) -> Self {
        TrainConfig {
            batch,
            update: Update {
                optimizer: optim::Optimizer::Sgd,
                decay: optim::WeightDecay::NONE,
            },
            lr,
            clip_norm: None,
            seed: 0,
            early_stopping: None,
            plateau: None,
            average: None,
        }
    }

    /// What [`crate::Trainer::new`] checks of the settings: a batch of at
    /// least 1, a finite non-negative learning rate and schedule, a positive
    /// finite clipping norm, a finite non-negative early-stopping delta.
    pub fn validate(&self) -> Result<(), crate::error::Error> {
        super::checks::check_config(self)
    }

    /// The optimizer and weight decay (checked by [`Update::new`]).
    pub const fn with_update(self, update: Update) -> Self {
        TrainConfig { update, ..self }
    }

    /// The learning rate and its schedule.
    pub const fn with_lr(self, lr: LearningRate) -> Self {
        TrainConfig { lr, ..self }
    }

    /// Clips the global gradient norm to `max_norm`.
    pub const fn with_clip_norm(self, max_norm: f32) -> Self {
        TrainConfig {
            clip_norm: Some(max_norm),
            ..self
        }
    }

    /// Seeds initialization, shuffling and every mask.
    pub const fn with_seed(self, seed: u64) -> Self {
        TrainConfig { seed, ..self }
    }

    /// Keeps a running average of the weights ([`crate::Trainer::swap_average`]).
    pub const fn with_average(self, average: WeightAverage) -> Self {
        TrainConfig {
            average: Some(average),
            ..self
        }
    }

    /// Decays the base rate when `metric` plateaus.
    pub const fn with_plateau(self, metric: Metric, config: PlateauConfig) -> Self {
        TrainConfig {
            plateau: Some((metric, config)),
            ..self
        }
    }

    /// Early stopping on `metric`.
    pub const fn with_early_stopping(self, metric: Metric, config: EarlyStoppingConfig) -> Self {
        TrainConfig {
            early_stopping: Some((metric, config)),
            ..self
        }
    }
}
