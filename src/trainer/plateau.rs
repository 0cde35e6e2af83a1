//! The lecture's "loss plateaus: decay the learning rate", driven by a
//! validation metric: PyTorch's `ReduceLROnPlateau` (and Keras's, which
//! counts the same way): after `patience` epochs without an improvement of
//! more than `threshold`, the rate is multiplied by `factor` (not below
//! `min_lr`), then `cooldown` epochs pass before bad epochs count again.
//!
//! ```
//! use tinyreg::{Monitor, PlateauConfig, ReduceOnPlateau};
//! let mut plateau = ReduceOnPlateau::new(PlateauConfig {
//!     factor: 0.5,
//!     patience: 1,
//!     ..PlateauConfig::new(Monitor::Min)
//! })
//! .unwrap();
//! let mut lr = 1e-2;
//! for val_loss in [0.9, 0.8, 0.85, 0.86] {
//!     lr = plateau.update(val_loss, lr);
//! }
//! assert_eq!(lr, 5e-3); // two epochs without improving on 0.8
//! ```
//!
//! With a [`crate::Trainer`], set [`crate::TrainConfig::with_plateau`]:
//! [`crate::Trainer::fit`] then updates it after every epoch, and its counters
//! and the decayed rate live in the trainer's memory, so a checkpoint
//! resumes them. (By hand: one epoch a `fit`, the new rate to
//! [`crate::Trainer::set_learning_rate`].)

use super::early_stopping::Monitor;
use crate::error::{check_setting, Error};

/// Settings of [`ReduceOnPlateau`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlateauConfig {
    /// Whether smaller (a loss) or larger (an accuracy) is better.
    pub mode: Monitor,
    /// What a reduction multiplies the rate by, in `[0, 1)`.
    pub factor: f64,
    /// Epochs without improvement tolerated: the next one reduces.
    pub patience: u32,
    /// Smallest improvement that counts (`>= 0`): relative to the best
    /// (`best (1 - threshold)` for a minimum, `best (1 + threshold)` for a
    /// maximum) or absolute (`best -+ threshold`).
    pub threshold: f64,
    /// Whether `threshold` is relative (PyTorch's default) or absolute.
    pub relative: bool,
    /// Epochs after a reduction in which bad epochs are not counted.
    pub cooldown: u32,
    /// The lowest rate a reduction gives (`>= 0`).
    pub min_lr: f64,
    /// A reduction smaller than this is skipped (PyTorch's `eps`).
    pub eps: f64,
}

impl PlateauConfig {
    /// PyTorch's defaults: factor 0.1, patience 10, threshold 1e-4
    /// relative, no cooldown, `min_lr` 0, `eps` 1e-8.
    pub const fn new(mode: Monitor) -> Self {
        PlateauConfig {
            mode,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            relative: true,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }

    /// Refuses a factor outside `[0, 1)` (PyTorch: "Factor should be < 1.0"),
    /// and a threshold, `min_lr` or `eps` that is negative or not finite.
    pub fn validate(&self) -> Result<(), Error> {
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        let factor = (0.0..1.0).contains(&self.factor);
        check_setting(factor, "factor", "must be in [0, 1)")?;
        let rule = "must be finite and >= 0";
        check_setting(non_negative(self.threshold), "threshold", rule)?;
        check_setting(non_negative(self.min_lr), "min_lr", rule)?;
        check_setting(non_negative(self.eps), "eps", rule)?;
        Ok(())
    }
}

/// The state of plateau decay between epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReduceOnPlateau {
    config: PlateauConfig,
    best: f64,
    bad_epochs: u32,
    cooldown_left: u32,
}

impl ReduceOnPlateau {
    /// Starts with no best value (the first finite metric improves on it).
    pub fn new(config: PlateauConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(ReduceOnPlateau {
            config,
            best: match config.mode {
                Monitor::Min => f64::INFINITY,
                Monitor::Max => f64::NEG_INFINITY,
            },
            bad_epochs: 0,
            cooldown_left: 0,
        })
    }

    /// After an epoch: its `metric` and the rate it trained at; returns the
    /// rate for the next epoch. A NaN metric is a bad epoch (as in PyTorch,
    /// whose comparisons with NaN are false).
    ///
    /// The comparison and the reduction are computed in `f64`, as PyTorch's
    /// Python floats are (an `f32` `best * (1 - 1e-4)` rounds the bar to
    /// the metric's own value in some cases and misses an improvement); the
    /// reduced rate is then rounded once to `f32`.
    pub fn update(&mut self, metric: f32, lr: f32) -> f32 {
        let c = self.config;
        let metric = f64::from(metric);
        if self.improves(metric) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs = self.bad_epochs.saturating_add(1);
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > c.patience {
            self.cooldown_left = c.cooldown;
            self.bad_epochs = 0;
            let old = f64::from(lr);
            let reduced = (old * c.factor).max(c.min_lr);
            if old - reduced > c.eps {
                return reduced as f32;
            }
        }
        lr
    }

    /// The state as four floats for the trainer's memory: whether a best
    /// was seen, the best, the bad epochs, the cooldown left.
    pub(crate) fn to_floats(self) -> [f32; 4] {
        let seen = self.best.is_finite();
        // `best` is always a metric that came in as an `f32`: exact.
        let best = if seen { self.best as f32 } else { 0.0 };
        [
            f32::from(u8::from(seen)),
            best,
            self.bad_epochs as f32,
            self.cooldown_left as f32,
        ]
    }

    /// The state [`ReduceOnPlateau::to_floats`] wrote (a fresh one from
    /// zeros).
    pub(crate) fn from_floats(config: PlateauConfig, f: [f32; 4]) -> Self {
        let fresh = match config.mode {
            Monitor::Min => f64::INFINITY,
            Monitor::Max => f64::NEG_INFINITY,
        };
        ReduceOnPlateau {
            config,
            best: if f[0] != 0.0 { f64::from(f[1]) } else { fresh },
            bad_epochs: f[2] as u32,
            cooldown_left: f[3] as u32,
        }
    }

    /// The best metric so far (infinite before the first).
    pub fn best(&self) -> f64 {
        self.best
    }

    fn improves(&self, metric: f64) -> bool {
        let (best, t) = (self.best, self.config.threshold);
        match (self.config.mode, self.config.relative) {
            (Monitor::Min, true) => metric < best * (1.0 - t),
            (Monitor::Min, false) => metric < best - t,
            (Monitor::Max, true) => metric > best * (1.0 + t),
            (Monitor::Max, false) => metric > best + t,
        }
    }
}
