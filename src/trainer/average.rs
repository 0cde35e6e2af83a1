//! Weight averaging (Polyak and Juditsky 1992; the lecture's "keep a moving
//! average of the parameters and use it at test time"): after each optimizer
//! step the trainer folds the weights into one extra copy in its memory, and
//! [`Trainer::swap_average`] swaps that copy in for evaluation and back.
//!
//! The rules are those of `torch.optim.swa_utils.AveragedModel` with
//! `use_buffers=True` (the setting torchvision's EMA recipe uses): batch-norm
//! running statistics are averaged with the weights, so the averaged network
//! evaluates with statistics that belong to it.

use super::Trainer;
use crate::error::Error;

/// How the average weighs the steps it has seen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AverageKind {
    /// `avg += (1 - decay)(w - avg)`: an exponential moving average
    /// (`swa_utils.get_ema_multi_avg_fn(decay)`, a lerp; `decay` in `[0, 1)`).
    Exponential {
        /// Weight kept of the old average each step, e.g. 0.999. A double,
        /// as PyTorch's is: `1 - decay` is formed in `f64` and rounded once
        /// to the `f32` step weight (0.001 for 0.999; an `f32` decay of
        /// 0.999 would give 0.000999987).
        decay: f64,
    },
    /// `avg += (w - avg) / n` at the `n`-th averaged step: the plain mean of
    /// every step's weights (stochastic weight averaging's default, updated
    /// every step).
    Uniform,
}

/// The weight average a [`crate::TrainConfig`] asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightAverage {
    /// Exponential or uniform.
    pub kind: AverageKind,
    /// Optimizer steps before averaging starts: the average is a copy of the
    /// weights after step `start + 1` and is updated from there on (like
    /// `swa_start`: early weights are far from where training ends).
    pub start: u32,
}

impl WeightAverage {
    /// An exponential moving average with `decay`, from the first step.
    pub const fn exponential(decay: f64) -> Self {
        WeightAverage {
            kind: AverageKind::Exponential { decay },
            start: 0,
        }
    }

    /// The uniform mean of every step's weights, from the first step.
    pub const fn uniform() -> Self {
        WeightAverage {
            kind: AverageKind::Uniform,
            start: 0,
        }
    }

    /// Starts averaging after `start` optimizer steps.
    pub const fn with_start(self, start: u32) -> Self {
        WeightAverage { start, ..self }
    }

    /// `decay` must be finite and in `[0, 1)` (1 would never move from the
    /// first copy; NaN would poison every weight).
    pub fn validate(&self) -> Result<(), Error> {
        match self.kind {
            AverageKind::Exponential { decay } if !(0.0..1.0).contains(&decay) => {
                Err(Error::InvalidSetting {
                    setting: "decay",
                    rule: "an exponential weight average's decay must be in [0, 1)",
                })
            }
            _ => Ok(()),
        }
    }
}

/// Folds `live` into `avg` as the `n`-th averaged step (`n >= 1`; the first
/// copies).
pub fn fold_into_average(kind: AverageKind, n: u32, live: &[f32], avg: &mut [f32]) {
    if n <= 1 {
        avg.copy_from_slice(live);
        return;
    }
    match kind {
        AverageKind::Exponential { decay } => {
            // PyTorch passes `1 - decay` as a double, and its f32 lerp
            // rounds that weight once to f32: so do we.
            let weight = (1.0 - decay) as f32;
            for (a, &w) in avg.iter_mut().zip(live) {
                *a += weight * (w - *a);
            }
        }
        AverageKind::Uniform => {
            let n = n as f32;
            for (a, &w) in avg.iter_mut().zip(live) {
                *a += (w - *a) / n;
            }
        }
    }
}

impl Trainer<'_, '_> {
    /// Floats of the average: the parameters and the batch-norm buffers.
    pub(super) fn average_len(&self) -> usize {
        match self.config.average {
            Some(_) => self.net.params_len() + self.net.buffers_len(),
            None => 0,
        }
    }

    /// Floats of early stopping's snapshot and `fit`'s counters in the
    /// training state (none without early stopping or plateau decay).
    pub(super) fn fit_state_len(&self) -> usize {
        let counters = match (self.config.early_stopping, self.config.plateau) {
            (None, None) => 0,
            _ => super::network::FIT_STATE_LEN,
        };
        match self.config.early_stopping {
            Some((_, es)) if es.restore_best_weights => {
                self.net.params_len() + self.net.buffers_len() + counters
            }
            _ => counters,
        }
    }

    /// Folds the weights into the average after optimizer step `self.step`.
    pub(super) fn update_average(&mut self) {
        let Some(average) = self.config.average else {
            return;
        };
        if self.step <= average.start {
            return;
        }
        let n = self.step - average.start;
        let (p, b, plan) = (self.net.params_len(), self.net.buffers_len(), self.plan);
        // The regions are disjoint; the carve keeps the borrow checker happy.
        let [params, buffers, avg] = super::regions::carve(
            self.mem,
            [(plan.params, p), (plan.buffers, b), (plan.average, p + b)],
        );
        let (avg_params, avg_buffers) = avg.split_at_mut(p);
        fold_into_average(average.kind, n, params, avg_params);
        fold_into_average(average.kind, n, buffers, avg_buffers);
    }

    /// Swaps the averaged weights (and batch-norm statistics) with the live
    /// ones, in place: evaluate or predict with the average, then swap again
    /// to go on training. While the average is in, training and saving the
    /// training state refuse ([`Error::AverageSwappedIn`]); a weights-only
    /// checkpoint saves the averaged network. Refused without a configured
    /// average, or before its first averaged step.
    ///
    /// ```
    /// use tinyreg::{Dense, Icls, Layer, LearningRate, Network, TrainConfig, Trainer, WeightAverage};
    /// let layers = [Layer::Dense(Dense::new(4, 3))];
    /// let config = TrainConfig::new(2, LearningRate::constant(0.1))
    ///     .with_average(WeightAverage::exponential(0.9));
    /// let net = Network::new(&layers);
    /// let mut memory = vec![0.0; net.memory_len_for(&config)];
    /// let mut trainer = Trainer::new(net, config, &mut memory).unwrap();
    /// trainer.train_step_batch(&[0.5; 8], &[0, 2], None).unwrap();
    /// trainer.swap_average().unwrap(); // the averaged weights are in
    /// let mut probs = [0.0; 3];
    /// trainer.predict_proba(&[1.0; 4], 1, 0, &mut probs).unwrap();
    /// trainer.swap_average().unwrap(); // the live ones again
    /// ```
    pub fn swap_average(&mut self) -> Result<(), Error> {
        let Some(average) = self.config.average else {
            return Err(Error::InvalidState {
                reason: "no weight average configured (TrainConfig::with_average)",
            });
        };
        if self.step <= average.start {
            return Err(Error::InvalidState {
                reason: "the weight average starts after its start step: nothing averaged yet",
            });
        }
        let (p, b, plan) = (self.net.params_len(), self.net.buffers_len(), self.plan);
        let [params, buffers, avg] = super::regions::carve(
            self.mem,
            [(plan.params, p), (plan.buffers, b), (plan.average, p + b)],
        );
        let (avg_params, avg_buffers) = avg.split_at_mut(p);
        params.swap_with_slice(avg_params);
        buffers.swap_with_slice(avg_buffers);
        self.average_in = !self.average_in;
        Ok(())
    }

    /// Whether [`Trainer::swap_average`] has the averaged weights in.
    pub fn average_in(&self) -> bool {
        self.average_in
    }

    /// Refuses while the averaged weights are in (training them would fold
    /// the average into itself and mix two sets of optimizer moments).
    pub(super) fn check_live_weights(&self) -> Result<(), Error> {
        if self.average_in {
            Err(Error::AverageSwappedIn)
        } else {
            Ok(())
        }
    }
}
