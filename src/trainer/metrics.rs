//! What training reports: loss and accuracy, an epoch's curve point, how a
//! fit ended, and the events [`super::Trainer::fit_observed`] sees.

#[cfg(doc)]
use super::Trainer;

/// Loss and accuracy over some samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction classified correctly.
    pub accuracy: f32,
}

/// One epoch's curve point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochMetrics {
    /// Mean over the epoch's steps (train mode, as Keras reports it).
    pub train: Metrics,
    /// On the validation set, eval mode, after the epoch.
    pub val: Metrics,
    /// Learning rate of the epoch's last step.
    pub lr: f32,
    /// `||update|| / ||weights||` over all weight matrices at the epoch's
    /// last step (healthy near 1e-3; per layer: [`Trainer::update_ratios`]).
    pub update_ratio: f32,
}

/// How [`Trainer::fit`] ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitSummary {
    /// Epochs run (entries written to the history).
    pub epochs: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// The best epoch and value of the monitored metric, if monitored.
    pub best: Option<(u32, f32)>,
    /// Whether the best weights were restored.
    pub restored: bool,
    /// Whether the observer of [`Trainer::fit_observed`] ended training.
    pub interrupted: bool,
}

/// What [`Trainer::fit_observed`] reports as training goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FitEvent {
    /// An optimizer step ended.
    Step {
        /// The epoch it belongs to (from 0).
        epoch: u32,
        /// Steps taken so far, this one included.
        step: u32,
        /// The batch's loss and accuracy (train mode, before the update).
        metrics: Metrics,
    },
    /// An epoch ended; its entry of the history.
    Epoch {
        /// The epoch (from 0).
        epoch: u32,
        /// What [`Trainer::fit`] writes into the history.
        metrics: EpochMetrics,
    },
}
