//! Batch normalization over features (`BatchNorm1d`), PyTorch's semantics.
//!
//! Train: each feature is normalized with the batch mean and the *biased* batch
//! variance, `x_hat = (x - mean) / sqrt(var + eps)`, then `y = gamma x_hat +
//! beta`; the running statistics move by `r = (1 - momentum) r + momentum stat`
//! with the *unbiased* variance (`var * n / (n - 1)`). Eval: the running
//! statistics replace the batch's. Backward (train) goes through the batch
//! statistics:
//! `dx = gamma inv_std / n * (n dy - sum(dy) - x_hat sum(dy x_hat))`.
//! Statistics accumulate in `f64` (a few hundred rows at most), so the result is
//! within a few `f32` roundings of exact.

use crate::error::Error;
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, ForwardIo};

/// A batch-norm layer's shape and constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    features: usize,
    momentum: f32,
    eps: f32,
}

/// Borrowed batch-norm state: parameters and running statistics, `features` each.
#[derive(Debug)]
pub struct BatchNormState<'a> {
    /// Scale `gamma`.
    pub gamma: &'a [f32],
    /// Shift `beta`.
    pub beta: &'a [f32],
    /// Running mean (updated in train mode).
    pub running_mean: &'a mut [f32],
    /// Running (unbiased) variance (updated in train mode).
    pub running_var: &'a mut [f32],
}

impl BatchNorm {
    /// PyTorch's defaults: momentum 0.1, eps 1e-5.
    pub const fn new(features: usize) -> Self {
        BatchNorm {
            features,
            momentum: 0.1,
            eps: 1e-5,
        }
    }

    /// Other constants.
    pub const fn with(features: usize, momentum: f32, eps: f32) -> Self {
        BatchNorm {
            features,
            momentum,
            eps,
        }
    }

    /// Checks the constants: `momentum` in `[0, 1]` and `eps` positive and
    /// finite (NaN momentum, a negative eps, or eps 0 on a constant input
    /// made every output and statistic NaN).
    pub fn validate(&self) -> Result<(), Error> {
        let momentum_ok = (0.0..=1.0).contains(&self.momentum);
        if momentum_ok && self.eps > 0.0 && self.eps.is_finite() {
            Ok(())
        } else {
            Err(Error::InvalidConfig {
                reason: "batch norm needs momentum in [0, 1] and eps positive and finite",
            })
        }
    }

    /// Features normalized.
    pub const fn features(&self) -> usize {
        self.features
    }

    /// Floats saved by a train forward: `x_hat` (`batch x features`) and
    /// `inv_std` (`features`) for backward, then the batch mean and unbiased
    /// variance (`features` each) for [`BatchNorm::commit_running`].
    pub const fn saved_len(&self, batch: usize) -> usize {
        crate::size::mul(crate::size::add(batch, 3), self.features)
    }

    /// Forward. In train mode `batch` must be at least 2 (the unbiased variance
    /// needs it), `saved` receives what backward needs and the running
    /// statistics move ([`BatchNorm::forward_deferred`] then
    /// [`BatchNorm::commit_running`]).
    pub fn forward(
        &self,
        mode: Mode,
        batch: usize,
        state: BatchNormState<'_>,
        input: &[f32],
        output: &mut [f32],
        saved: &mut [f32],
    ) -> Result<(), Error> {
        let f = self.features;
        self.validate()?;
        self.check(batch, &state, input.len(), output.len())?;
        match mode {
            Mode::Train => {
                self.forward_deferred(batch, state.gamma, state.beta, input, output, saved)?;
                self.commit_running(batch, saved, state.running_mean, state.running_var)?;
            }
            Mode::Eval => {
                for j in 0..f {
                    let istd = 1.0 / libm::sqrtf(state.running_var[j] + self.eps);
                    let (scale, mean) = (state.gamma[j] * istd, state.running_mean[j]);
                    for b in 0..batch {
                        output[b * f + j] = scale * (input[b * f + j] - mean) + state.beta[j];
                    }
                }
            }
        }
        Ok(())
    }

    /// The train forward without moving the running statistics: the batch
    /// mean and unbiased variance wait in `saved` until
    /// [`BatchNorm::commit_running`], so a trainer can drop them when the
    /// step fails (a non-finite loss leaves the statistics as they were).
    pub fn forward_deferred(
        &self,
        batch: usize,
        gamma: &[f32],
        beta: &[f32],
        input: &[f32],
        output: &mut [f32],
        saved: &mut [f32],
    ) -> Result<(), Error> {
        let f = self.features;
        self.validate()?;
        if batch < 2 {
            return Err(Error::InvalidConfig {
                reason: "batch norm in train mode needs a batch of at least 2",
            });
        }
        let rows_len = crate::size::checked_mul(batch, f)?;
        same_lengths([
            (f, gamma.len()),
            (f, beta.len()),
            (rows_len, input.len()),
            (rows_len, output.len()),
        ])?;
        self.saved_fits(batch, saved.len())?;
        let (x_hat, rest) = saved.split_at_mut(batch * f);
        let (inv_std, rest) = rest.split_at_mut(f);
        let (batch_mean, rest) = rest.split_at_mut(f);
        let batch_var = &mut rest[..f];
        for j in 0..f {
            let mean = (0..batch).map(|b| input[b * f + j] as f64).sum::<f64>() / batch as f64;
            let var = (0..batch)
                .map(|b| {
                    let d = input[b * f + j] as f64 - mean;
                    d * d
                })
                .sum::<f64>()
                / batch as f64;
            let istd = 1.0 / libm::sqrt(var + self.eps as f64);
            inv_std[j] = istd as f32;
            for b in 0..batch {
                let xh = ((input[b * f + j] as f64 - mean) * istd) as f32;
                x_hat[b * f + j] = xh;
                output[b * f + j] = gamma[j] * xh + beta[j];
            }
            batch_mean[j] = mean as f32;
            batch_var[j] = (var * batch as f64 / (batch - 1) as f64) as f32;
        }
        Ok(())
    }

    /// Moves the running statistics toward the batch's, as saved by
    /// [`BatchNorm::forward_deferred`]:
    /// `r = (1 - momentum) r + momentum stat`.
    pub fn commit_running(
        &self,
        batch: usize,
        saved: &[f32],
        running_mean: &mut [f32],
        running_var: &mut [f32],
    ) -> Result<(), Error> {
        let f = self.features;
        self.saved_fits(batch, saved.len())?;
        same_lengths([(f, running_mean.len()), (f, running_var.len())])?;
        let stats = &saved[(batch + 1) * f..(batch + 3) * f];
        let (batch_mean, batch_var) = stats.split_at(f);
        let m = self.momentum;
        for j in 0..f {
            running_mean[j] = (1.0 - m) * running_mean[j] + m * batch_mean[j];
            running_var[j] = (1.0 - m) * running_var[j] + m * batch_var[j];
        }
        Ok(())
    }

    /// Backward of a train forward: accumulates `dgamma`, `dbeta` and writes
    /// `grad_input`, from what forward saved.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        batch: usize,
        gamma: &[f32],
        saved: &[f32],
        grad_output: &[f32],
        grad_gamma: &mut [f32],
        grad_beta: &mut [f32],
        grad_input: &mut [f32],
    ) -> Result<(), Error> {
        let f = self.features;
        let n = crate::size::checked_mul(batch, f)?;
        crate::size::fits(self.saved_len(batch))?;
        same_lengths([
            (f, gamma.len()),
            (n, grad_output.len()),
            (f, grad_gamma.len()),
            (f, grad_beta.len()),
            (n, grad_input.len()),
        ])?;
        self.saved_fits(batch, saved.len())?;
        let (x_hat, inv_std) = saved.split_at(n);
        for j in 0..f {
            let sum_dy: f64 = (0..batch).map(|b| grad_output[b * f + j] as f64).sum();
            let sum_dy_xh: f64 = (0..batch)
                .map(|b| grad_output[b * f + j] as f64 * x_hat[b * f + j] as f64)
                .sum();
            grad_gamma[j] += sum_dy_xh as f32;
            grad_beta[j] += sum_dy as f32;
            let k = gamma[j] as f64 * inv_std[j] as f64 / batch as f64;
            for b in 0..batch {
                let i = b * f + j;
                grad_input[i] = (k
                    * (batch as f64 * grad_output[i] as f64 - sum_dy - x_hat[i] as f64 * sum_dy_xh))
                    as f32;
            }
        }
        Ok(())
    }

    fn check(
        &self,
        batch: usize,
        state: &BatchNormState<'_>,
        input: usize,
        output: usize,
    ) -> Result<(), Error> {
        let f = self.features;
        let n = batch.checked_mul(f).ok_or(Error::ShapeOverflow)?;
        same_lengths([
            (n, input),
            (n, output),
            (f, state.gamma.len()),
            (f, state.beta.len()),
            (f, state.running_mean.len()),
            (f, state.running_var.len()),
        ])
    }

    /// `saved` holds at least [`BatchNorm::saved_len`] floats.
    fn saved_fits(&self, batch: usize, got: usize) -> Result<(), Error> {
        let needed = self.saved_len(batch);
        if got < needed {
            return Err(Error::BufferTooSmall { needed, got });
        }
        Ok(())
    }
}

/// Batch norm in a network: parameters `gamma` then `beta`, buffers the
/// running mean then variance.
impl BatchNorm {
    pub(crate) fn forward_pass(&self, io: ForwardIo<'_>, norm: Mode) -> Result<(), Error> {
        let f = self.features();
        let (gamma, beta) = io.params.split_at(f);
        if norm == Mode::Train {
            // The running statistics move once the loss is known to be
            // finite (the trainer calls `commit_running`).
            return self.forward_deferred(io.rows, gamma, beta, io.input, io.output, io.saved);
        }
        let (running_mean, running_var) = io.buffers.split_at_mut(f);
        let state = BatchNormState {
            gamma,
            beta,
            running_mean,
            running_var,
        };
        self.forward(norm, io.rows, state, io.input, io.output, io.saved)
    }

    pub(crate) fn backward_pass(&self, io: BackwardIo<'_>) -> Result<(), Error> {
        let f = self.features();
        let (dgamma, dbeta) = io.grads.split_at_mut(f);
        let gamma = &io.params[..f];
        self.backward(
            io.rows,
            gamma,
            io.saved,
            io.grad_out,
            dgamma,
            dbeta,
            io.grad_in,
        )
    }
}

/// The first `(expected, got)` pair that differs, as a `LengthMismatch`.
fn same_lengths<const N: usize>(pairs: [(usize, usize); N]) -> Result<(), Error> {
    match pairs.into_iter().find(|(expected, got)| expected != got) {
        Some((expected, got)) => Err(Error::LengthMismatch { expected, got }),
        None => Ok(()),
    }
}
