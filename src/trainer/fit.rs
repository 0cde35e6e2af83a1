//! Evaluation and training for epochs: shuffled batches, validation after
//! each epoch, an observer that sees every step and epoch, early stopping and
//! its best-weights snapshot.

use core::ops::ControlFlow;

use super::data::{shuffled_indices, Icls};
use super::early_stopping::{EarlyStopping, EarlyStoppingConfig, Verdict};
use super::plateau::ReduceOnPlateau;
use super::regions::carve;
use super::{EpochMetrics, FitEvent, FitSummary, Metric, Metrics, Trainer};
use crate::error::Error;
use crate::kernels::words::u32s_mut;
use crate::layers::mode::Mode;

/// Where plateau decay's four counters and its rate sit in `fit`'s counters
/// (after the epochs done and early stopping's four).
const PLATEAU_AT: usize = 5;

impl<'n, 'm> Trainer<'n, 'm> {
    /// Loss and accuracy on all of `data` in eval mode, `batch` samples at a time.
    pub fn evaluate(&mut self, data: &Icls<'_>) -> Result<Metrics, Error> {
        let batch = self.config.batch;
        let (mut loss, mut correct) = (0.0f64, 0usize);
        let mut start = 0;
        while start < data.count {
            let rows = batch.min(data.count - start);
            self.check_rows(rows, data)?;
            let mut idx = [0u32; 64];
            // Gather in runs of at most 64 indices (no heap for an index list).
            let plan = self.plan;
            for chunk_start in (0..rows).step_by(64) {
                let n = 64.min(rows - chunk_start);
                for (k, slot) in idx[..n].iter_mut().enumerate() {
                    *slot = (start + chunk_start + k) as u32;
                }
                let f = self.net.inputs();
                let [input, labels] = carve(
                    self.mem,
                    [
                        (plan.input + chunk_start * f, n * f),
                        (plan.labels + chunk_start, n),
                    ],
                );
                data.gather(&idx[..n], input, u32s_mut(labels))?;
            }
            self.forward(rows, Mode::Eval, Mode::Eval)?;
            let (l, c) = self.loss_and_gradient(rows, None)?;
            loss += l as f64 * rows as f64;
            correct += c;
            start += rows;
        }
        let n = data.count.max(1) as f64;
        Ok(Metrics {
            loss: (loss / n) as f32,
            accuracy: (correct as f64 / n) as f32,
        })
    }

    /// Trains for up to `epochs` epochs over `train` in an order reshuffled
    /// each epoch (Fisher-Yates into `order`, `train.count` entries), evaluating
    /// on `val` after each epoch into `history` (at least `epochs` entries).
    /// The last batch of an epoch is dropped if it has a single sample, so
    /// `train` needs at least 2 samples (an epoch would take no step) and
    /// `val` at least 1 ([`Error::InvalidData`] otherwise).
    pub fn fit(
        &mut self,
        train: &Icls<'_>,
        val: &Icls<'_>,
        epochs: u32,
        order: &mut [u32],
        history: &mut [EpochMetrics],
    ) -> Result<FitSummary, Error> {
        self.fit_observed(train, val, epochs, order, history, &mut |_| {
            ControlFlow::Continue(())
        })
    }

    /// [`Trainer::fit`], telling `observe` of every step and every epoch as
    /// it ends (a progress bar, a step-loss curve, a pruner reading each
    /// epoch); `ControlFlow::Break` ends training after that step or epoch
    /// ([`FitSummary::interrupted`]). Observing changes nothing: the weights
    /// are those of [`Trainer::fit`] bit for bit. A break at the end of an
    /// epoch pauses: the best weights are not restored, and a later `fit` on
    /// this trainer, or on one resumed from its checkpoint, goes on as one
    /// unbroken call would, early stopping's counters included (they live in
    /// the trainer's memory; [`Trainer::epochs_done`] counts the epochs).
    /// The observer is a trait object so that the loop is compiled once, in this crate, whoever
    /// calls it (instantiated in a caller's crate it ran 15% slower).
    pub fn fit_observed(
        &mut self,
        train: &Icls<'_>,
        val: &Icls<'_>,
        epochs: u32,
        order: &mut [u32],
        history: &mut [EpochMetrics],
        observe: &mut dyn FnMut(FitEvent) -> ControlFlow<()>,
    ) -> Result<FitSummary, Error> {
        self.check_live_weights()?;
        // Both data sets checked before `order` is shuffled or the shuffling
        // generator moves (a mismatched set used to fail at its first step).
        self.check_data(train)?;
        self.check_data(val)?;
        if train.count < 2 {
            return Err(Error::InvalidData {
                reason: "training needs at least 2 samples (a last batch of one is dropped, so an epoch of one takes no step)",
            });
        }
        if val.count == 0 {
            return Err(Error::InvalidData {
                reason: "the validation set is empty",
            });
        }
        if order.len() != train.count {
            return Err(Error::LengthMismatch {
                expected: train.count,
                got: order.len(),
            });
        }
        if history.len() < epochs as usize {
            return Err(Error::BufferTooSmall {
                needed: epochs as usize,
                got: history.len(),
            });
        }
        // Early stopping goes on from where earlier calls left it: its
        // counters live in the memory, and so in checkpoints.
        let mut stopper = self
            .config
            .early_stopping
            .map(|(metric, es)| (metric, self.load_stopper(es)));
        let mut summary = FitSummary {
            epochs: 0,
            stopped_early: false,
            best: None,
            restored: false,
            interrupted: false,
        };
        for epoch in 0..epochs {
            shuffled_indices(&mut self.shuffle_rng, order);
            let (train_metrics, interrupted) = self.epoch_steps(train, order, epoch, observe)?;
            if interrupted {
                summary.interrupted = true;
                break;
            }
            let val_metrics = self.evaluate(val)?;
            history[epoch as usize] = EpochMetrics {
                train: train_metrics,
                val: val_metrics,
                lr: self.config.lr.at(self.step.saturating_sub(1)),
                update_ratio: self.update_ratio,
            };
            summary.epochs = epoch as usize + 1;
            // Early stopping hears of the epoch first, so that its counters
            // are in the memory (and in any checkpoint the observer writes)
            // when the observer does.
            let done = self.epochs_done();
            let stop = match stopper.as_mut() {
                Some((metric, es)) => {
                    let stop = self.early_stopping_says_stop(*metric, es, done, val_metrics);
                    self.store_stopper(es);
                    stop
                }
                None => false,
            };
            self.plateau_after_epoch(val_metrics);
            self.set_epochs_done(done.saturating_add(1));
            let ended = FitEvent::Epoch {
                epoch,
                metrics: history[epoch as usize],
            };
            let interrupted = observe(ended).is_break();
            if stop {
                summary.stopped_early = true;
                break;
            }
            if interrupted {
                summary.interrupted = true;
                break;
            }
        }
        if let Some((_, es)) = stopper {
            summary.best = es.best();
            // Restore whether or not patience ran out (keras-team/keras#12511),
            // but not when the observer paused training: a paused run goes on
            // from its last weights in the next call.
            if es.config().restore_best_weights && es.best().is_some() && !summary.interrupted {
                self.restore_best();
                summary.restored = true;
            }
        }
        Ok(summary)
    }

    /// One epoch's steps over the shuffled `order`: the mean train metrics,
    /// and whether the observer ended training.
    fn epoch_steps(
        &mut self,
        train: &Icls<'_>,
        order: &[u32],
        epoch: u32,
        observe: &mut dyn FnMut(FitEvent) -> ControlFlow<()>,
    ) -> Result<(Metrics, bool), Error> {
        let (mut loss, mut acc, mut steps) = (0.0f64, 0.0f64, 0usize);
        let last = order.chunks(self.config.batch).rposition(|c| c.len() >= 2);
        for (k, chunk) in order.chunks(self.config.batch).enumerate() {
            if chunk.len() < 2 {
                continue;
            }
            // The update ratio is reported for the epoch's last step only,
            // so only that step pays for measuring it.
            let own = self.measure_update;
            self.measure_update = Some(k) == last;
            let m = self.train_step(train, chunk);
            self.measure_update = own;
            let m = m?;
            loss += m.loss as f64;
            acc += m.accuracy as f64;
            steps += 1;
            let step = FitEvent::Step {
                epoch,
                step: self.step,
                metrics: m,
            };
            if observe(step).is_break() {
                return Ok((Metrics::default(), true));
            }
        }
        let steps = steps.max(1) as f64;
        let metrics = Metrics {
            loss: (loss / steps) as f32,
            accuracy: (acc / steps) as f32,
        };
        Ok((metrics, false))
    }

    /// Feeds the epoch's validation metric to early stopping; snapshots the
    /// weights on an improvement (when they are to be restored); true when
    /// patience has run out.
    fn early_stopping_says_stop(
        &mut self,
        metric: Metric,
        es: &mut EarlyStopping,
        epoch: u32,
        val: Metrics,
    ) -> bool {
        let value = match metric {
            Metric::ValLoss => val.loss,
            Metric::ValAccuracy => val.accuracy,
        };
        match es.update(epoch, value) {
            Verdict::Improved => {
                if es.config().restore_best_weights {
                    self.snapshot_best();
                }
                false
            }
            Verdict::Continue => false,
            Verdict::Stop => true,
        }
    }

    /// Epochs `fit` has run since the trainer was made or reset.
    pub fn epochs_done(&self) -> u32 {
        self.mem[self.plan.fit_state] as u32
    }

    fn set_epochs_done(&mut self, epochs: u32) {
        self.mem[self.plan.fit_state] = epochs as f32;
    }

    /// Early stopping as earlier `fit` calls (or a checkpoint) left it.
    fn load_stopper(&self, config: EarlyStoppingConfig) -> EarlyStopping {
        let at = self.plan.fit_state + 1;
        let mut floats = [0f32; 4];
        floats.copy_from_slice(&self.mem[at..at + 4]);
        EarlyStopping::from_floats(config, floats)
    }

    fn store_stopper(&mut self, es: &EarlyStopping) {
        let at = self.plan.fit_state + 1;
        self.mem[at..at + 4].copy_from_slice(&es.to_floats());
    }

    /// Plateau decay hears of the epoch: its counters and the base rate it
    /// gives the next epoch go to the memory (so to checkpoints too).
    fn plateau_after_epoch(&mut self, val: Metrics) {
        let Some((metric, config)) = self.config.plateau else {
            return;
        };
        let value = match metric {
            Metric::ValLoss => val.loss,
            Metric::ValAccuracy => val.accuracy,
        };
        let at = self.plan.fit_state + PLATEAU_AT;
        let mut floats = [0f32; 4];
        floats.copy_from_slice(&self.mem[at..at + 4]);
        let mut plateau = ReduceOnPlateau::from_floats(config, floats);
        let lr = plateau.update(value, self.config.lr.base);
        self.mem[at..at + 4].copy_from_slice(&plateau.to_floats());
        self.mem[at + 4] = lr;
        self.config.lr.base = lr;
    }

    /// The base rate as the memory's counters say (after a checkpoint or
    /// snapshot is loaded, or a reset): the one plateau decay set after the
    /// last epoch, or before any epoch the chosen one.
    pub(super) fn sync_plateau_rate(&mut self) {
        let at = self.plan.fit_state + PLATEAU_AT;
        self.config.lr.base = match self.config.plateau {
            Some(_) if self.epochs_done() > 0 => self.mem[at + 4],
            _ => self.chosen_base_lr,
        };
    }

    fn snapshot_best(&mut self) {
        let (p, b, plan) = (self.net.params_len(), self.net.buffers_len(), self.plan);
        self.mem
            .copy_within(plan.params..plan.params + p, plan.best);
        self.mem
            .copy_within(plan.buffers..plan.buffers + b, plan.best_buffers);
    }

    fn restore_best(&mut self) {
        let (p, b, plan) = (self.net.params_len(), self.net.buffers_len(), self.plan);
        self.mem.copy_within(plan.best..plan.best + p, plan.params);
        self.mem
            .copy_within(plan.best_buffers..plan.best_buffers + b, plan.buffers);
    }
}
