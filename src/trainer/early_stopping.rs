//! Early stopping with Keras's semantics (`keras.callbacks.EarlyStopping`).
//!
//! After each epoch the monitored validation metric is compared with the best
//! so far: an improvement is a value below `best - min_delta` (mode
//! [`Monitor::Min`]) or above `best + min_delta` ([`Monitor::Max`]). Epochs
//! before `start_from_epoch` are not tracked. After `patience` epochs without
//! improvement, training stops. With `restore_best_weights`, the caller
//! snapshots the weights whenever [`Verdict::Improved`] is returned and restores
//! them when training ends, *whether or not patience ran out* (keras-team/keras#12511
//! is the bug of restoring only on an early stop).

/// Whether smaller or larger is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Smaller is better (a loss).
    Min,
    /// Larger is better (an accuracy).
    Max,
}

/// Early-stopping settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStoppingConfig {
    /// Direction of improvement.
    pub mode: Monitor,
    /// Smallest change that counts as an improvement (`>= 0`).
    pub min_delta: f32,
    /// Epochs without improvement before stopping.
    pub patience: u32,
    /// Epochs (from 0) before this one are not tracked (warm-up).
    pub start_from_epoch: u32,
    /// Restore the best epoch's weights at the end of training.
    pub restore_best_weights: bool,
}

/// What to do after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A new best: snapshot the weights if restoring.
    Improved,
    /// No improvement (or not tracked yet); keep going.
    Continue,
    /// Patience ran out: stop (and restore, if configured).
    Stop,
}

/// Early-stopping state.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    config: EarlyStoppingConfig,
    best: Option<(u32, f32)>,
    wait: u32,
}

impl EarlyStopping {
    /// Fresh state.
    pub const fn new(config: EarlyStoppingConfig) -> Self {
        EarlyStopping {
            config,
            best: None,
            wait: 0,
        }
    }

    /// The settings.
    pub const fn config(&self) -> &EarlyStoppingConfig {
        &self.config
    }

    /// The best `(epoch, value)` seen.
    pub const fn best(&self) -> Option<(u32, f32)> {
        self.best
    }

    /// Records `value` for `epoch`. NaN never improves.
    pub fn update(&mut self, epoch: u32, value: f32) -> Verdict {
        if epoch < self.config.start_from_epoch {
            return Verdict::Continue;
        }
        let improved = match self.best {
            None => !value.is_nan(),
            Some((_, best)) => match self.config.mode {
                Monitor::Min => value < best - self.config.min_delta,
                Monitor::Max => value > best + self.config.min_delta,
            },
        };
        if improved {
            self.best = Some((epoch, value));
            self.wait = 0;
            return Verdict::Improved;
        }
        self.wait += 1;
        if self.wait >= self.config.patience {
            Verdict::Stop
        } else {
            Verdict::Continue
        }
    }
}

impl EarlyStopping {
    /// The state as floats (a best seen, its epoch, its value, the epochs
    /// since), for a trainer's memory and so its checkpoints: epochs below
    /// 2^24 are exact as floats.
    pub(crate) fn to_floats(&self) -> [f32; 4] {
        let (seen, epoch, value) = match self.best {
            Some((epoch, value)) => (1.0, epoch as f32, value),
            None => (0.0, 0.0, 0.0),
        };
        [seen, epoch, value, self.wait as f32]
    }

    /// The state [`EarlyStopping::to_floats`] wrote.
    pub(crate) fn from_floats(config: EarlyStoppingConfig, f: [f32; 4]) -> Self {
        EarlyStopping {
            config,
            best: (f[0] != 0.0).then_some((f[1] as u32, f[2])),
            wait: f[3] as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Monitor, patience: u32) -> EarlyStoppingConfig {
        EarlyStoppingConfig {
            mode,
            min_delta: 0.01,
            patience,
            start_from_epoch: 1,
            restore_best_weights: true,
        }
    }

    #[test]
    fn early_stopping_follows_keras() {
        let mut es = EarlyStopping::new(config(Monitor::Min, 2));
        assert_eq!(es.update(0, 0.1), Verdict::Continue); // before start_from_epoch
        assert_eq!(es.update(1, 1.0), Verdict::Improved);
        assert_eq!(es.update(2, 0.995), Verdict::Continue); // within min_delta
        assert_eq!(es.update(3, 0.5), Verdict::Improved);
        assert_eq!(es.update(4, 0.6), Verdict::Continue);
        assert_eq!(es.update(5, f32::NAN), Verdict::Stop);
        assert_eq!(es.best(), Some((3, 0.5)));

        let mut es = EarlyStopping::new(config(Monitor::Max, 1));
        assert_eq!(es.update(1, 0.5), Verdict::Improved);
        assert_eq!(es.update(2, 0.505), Verdict::Stop);
    }
}
