//! Snapshot ensembles (Huang et al. 2017, "Snapshot Ensembles: Train 1, get M
//! for free"): train with cosine warm restarts
//! ([`crate::Schedule::CosineWarmRestarts`]), copy the weights at the end of
//! each cycle into a caller-provided buffer ([`Trainer::copy_weights`]), and
//! predict with the mean of the snapshots' probabilities
//! ([`snapshot_ensemble_proba`]), as [`super::predict::ensemble_proba`]
//! averages separate trainers. One trainer's memory serves every snapshot:
//! each is swapped in for its pass and swapped back.

use super::predict::add_member;
use super::Trainer;
use crate::error::Error;

impl Trainer<'_, '_> {
    /// Floats of one set of weights: the parameters and the buffers
    /// (batch norm's running statistics).
    pub fn weights_len(&self) -> usize {
        self.net.params_len() + self.net.buffers_len()
    }

    /// Copies the weights and buffers into `out` ([`Trainer::weights_len`]
    /// floats): a snapshot.
    pub fn copy_weights(&self, out: &mut [f32]) -> Result<(), Error> {
        if out.len() != self.weights_len() {
            return Err(Error::LengthMismatch {
                expected: self.weights_len(),
                got: out.len(),
            });
        }
        let (params, buffers) = out.split_at_mut(self.net.params_len());
        params.copy_from_slice(self.params());
        buffers.copy_from_slice(self.buffers());
        Ok(())
    }

    /// Swaps the weights and buffers with `other` ([`Trainer::weights_len`]
    /// floats), in place; swapping again undoes it.
    pub fn swap_weights(&mut self, other: &mut [f32]) -> Result<(), Error> {
        if other.len() != self.weights_len() {
            return Err(Error::LengthMismatch {
                expected: self.weights_len(),
                got: other.len(),
            });
        }
        let (p, b, plan) = (self.net.params_len(), self.net.buffers_len(), self.plan);
        let (other_params, other_buffers) = other.split_at_mut(p);
        self.mem[plan.params..plan.params + p].swap_with_slice(other_params);
        self.mem[plan.buffers..plan.buffers + b].swap_with_slice(other_buffers);
        Ok(())
    }
}

/// The mean of the class probabilities of each snapshot in `snapshots`
/// (whole [`Trainer::weights_len`] pieces, one after the other, at least
/// one): `probs = (1/K) sum_k softmax(snapshot_k(input))` (`rows x classes`),
/// with `tmp` (as long as `probs`) as scratch. The trainer's own weights are
/// back in place afterwards, bit for bit, and so are the snapshots.
///
/// ```
/// use tinyreg::trainer::snapshot_ensemble::snapshot_ensemble_proba;
/// use tinyreg::{Dense, Layer, LearningRate, Network, Schedule, TrainConfig, Trainer};
/// let layers = [Layer::Dense(Dense::new(4, 3))];
/// // Two cycles of 5 steps: a snapshot at the end of each.
/// let rate = LearningRate {
///     base: 0.1,
///     schedule: Schedule::CosineWarmRestarts { first: 5, mult: 1, min: 0.0 },
///     warmup: 0,
/// };
/// let config = TrainConfig::new(2, rate);
/// let net = Network::new(&layers);
/// let mut memory = vec![0.0; net.memory_len_for(&config)];
/// let mut trainer = Trainer::new(net, config, &mut memory).unwrap();
/// let mut snapshots = vec![0.0; 2 * trainer.weights_len()];
/// for snapshot in snapshots.chunks_exact_mut(trainer.weights_len()) {
///     for _ in 0..5 {
///         trainer.train_step_batch(&[0.5, -1.0, 0.25, 2.0, 1.0, 0.0, -0.5, 0.5], &[0, 2], None).unwrap();
///     }
///     trainer.copy_weights(snapshot).unwrap();
/// }
/// let (mut probs, mut tmp) = ([0.0; 3], [0.0; 3]);
/// snapshot_ensemble_proba(&mut trainer, &mut snapshots, &[1.0; 4], 1, &mut probs, &mut tmp).unwrap();
/// assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// ```
pub fn snapshot_ensemble_proba(
    trainer: &mut Trainer<'_, '_>,
    snapshots: &mut [f32],
    input: &[f32],
    rows: usize,
    probs: &mut [f32],
    tmp: &mut [f32],
) -> Result<(), Error> {
    let len = trainer.weights_len();
    if snapshots.is_empty() || len == 0 || !snapshots.len().is_multiple_of(len) {
        return Err(Error::InvalidConfig {
            reason: "snapshots must be one or more whole sets of weights (Trainer::weights_len)",
        });
    }
    if tmp.len() != probs.len() {
        return Err(Error::LengthMismatch {
            expected: probs.len(),
            got: tmp.len(),
        });
    }
    trainer.check_input(input.len(), rows, probs.len())?;
    probs.fill(0.0);
    let k = (snapshots.len() / len) as f32;
    for snapshot in snapshots.chunks_exact_mut(len) {
        trainer.swap_weights(snapshot)?;
        let predicted = trainer.predict_proba(input, rows, 0, tmp);
        // Swapped back whatever happened, before the result is looked at.
        trainer.swap_weights(snapshot)?;
        predicted?;
        add_member(probs, tmp, k);
    }
    Ok(())
}
