//! Batch normalization, PyTorch's semantics: over features (`BatchNorm1d`,
//! [`BatchNorm::new`]) or per channel over the batch and the plane of each
//! image (`BatchNorm2d`, [`BatchNorm::over_channels`]). A feature's (or
//! channel's) statistics are taken over its `n = batch x plane` values.
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

use crate::error::{check_setting, Error};
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, ForwardIo};

/// A batch-norm layer's shape and constants.
///
/// ```
/// use tinyreg::{BatchNorm, BatchNormState, Mode};
///
/// let bn = BatchNorm::new(2); // 2 features, PyTorch's momentum 0.1 and eps 1e-5
/// let (gamma, beta) = ([1.0f32; 2], [0.0f32; 2]);
/// let (mut mean, mut var) = ([0.0f32; 2], [1.0f32; 2]); // running statistics
/// let x = [1.0, 10.0, 3.0, 30.0]; // (batch 2, features 2)
/// let mut y = [0.0f32; 4];
/// let mut saved = vec![0.0f32; bn.saved_len(2)]; // what backward needs
/// let state = BatchNormState { gamma: &gamma, beta: &beta, running_mean: &mut mean, running_var: &mut var };
/// bn.forward(Mode::Train, 2, state, &x, &mut y, &mut saved)?;
/// assert!((y[0] + 1.0).abs() < 1e-3 && (y[2] - 1.0).abs() < 1e-3); // the batch's own statistics
/// assert!((mean[0] - 0.2).abs() < 1e-6); // 0.9 * 0 + 0.1 * 2
///
/// // Eval normalizes with the running statistics instead.
/// let state = BatchNormState { gamma: &gamma, beta: &beta, running_mean: &mut mean, running_var: &mut var };
/// bn.forward(Mode::Eval, 2, state, &x, &mut y, &mut saved)?;
/// # Ok::<(), tinyreg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    features: usize,
    /// Values per feature and sample: 1 for `BatchNorm1d`, `height x width`
    /// for `BatchNorm2d`.
    plane: usize,
    momentum: f32,
    eps: f32,
}

/// Batch norm's parameter gradients, accumulated into by
/// [`BatchNorm::backward`].
#[derive(Debug)]
pub struct BatchNormGrads<'a> {
    /// `dL/dgamma`, one per feature.
    pub gamma: &'a mut [f32],
    /// `dL/dbeta`, one per feature.
    pub beta: &'a mut [f32],
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
    /// PyTorch's default momentum of the running statistics.
    pub const DEFAULT_MOMENTUM: f32 = 0.1;
    /// PyTorch's default `eps` added to the variance.
    pub const EPS: f32 = 1e-5;

    /// PyTorch's defaults: momentum 0.1, eps 1e-5.
    pub const fn new(features: usize) -> Self {
        BatchNorm {
            features,
            plane: 1,
            momentum: Self::DEFAULT_MOMENTUM,
            eps: Self::EPS,
        }
    }

    /// `BatchNorm2d` over `(channels, height, width)` images with PyTorch's
    /// defaults: one `gamma`, `beta` and pair of running statistics per
    /// channel, taken over the batch and the `plane = height x width` values.
    pub const fn over_channels(channels: usize, plane: usize) -> Self {
        BatchNorm {
            features: channels,
            plane,
            momentum: Self::DEFAULT_MOMENTUM,
            eps: Self::EPS,
        }
    }

    /// Other constants for the same shape.
    pub const fn with_constants(self, momentum: f32, eps: f32) -> Self {
        BatchNorm {
            momentum,
            eps,
            ..self
        }
    }

    /// Other constants.
    pub const fn with(features: usize, momentum: f32, eps: f32) -> Self {
        BatchNorm {
            features,
            plane: 1,
            momentum,
            eps,
        }
    }

    /// Checks the constants: `momentum` in `[0, 1]` and `eps` positive and
    /// finite (NaN momentum, a negative eps, or eps 0 on a constant input
    /// made every output and statistic NaN).
    pub fn validate(&self) -> Result<(), Error> {
        let plane_rule = "batch norm over channels needs at least 1 value a plane";
        check_setting(self.plane > 0, "plane", plane_rule)?;
        let momentum = (0.0..=1.0).contains(&self.momentum);
        check_setting(momentum, "momentum", "must be in [0, 1]")?;
        let eps = self.eps > 0.0 && self.eps.is_finite();
        check_setting(eps, "eps", "must be positive and finite")
    }

    /// Features (channels) normalized: the length of `gamma`, `beta` and
    /// each running statistic.
    pub const fn features(&self) -> usize {
        self.features
    }

    /// Values per feature and sample (1, or a channel's `height x width`).
    pub const fn plane(&self) -> usize {
        self.plane
    }

    /// Floats of one sample: `features x plane`.
    pub const fn sample_len(&self) -> usize {
        crate::size::mul(self.features, self.plane)
    }

    /// Floats saved by a train forward: `x_hat` (`batch x sample_len`) and
    /// `inv_std` (`features`) for backward, then the batch mean and unbiased
    /// variance (`features` each) for [`BatchNorm::commit_running`].
    pub const fn saved_len(&self, batch: usize) -> usize {
        crate::size::add(
            crate::size::mul(batch, self.sample_len()),
            crate::size::mul(3, self.features),
        )
    }

    /// Offsets of feature `j`'s values in a batch: sample-major, then the plane.
    fn positions(&self, batch: usize, j: usize) -> impl Iterator<Item = usize> {
        let (len, plane) = (self.features * self.plane, self.plane);
        (0..batch).flat_map(move |b| (0..plane).map(move |p| b * len + j * plane + p))
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
                    for i in self.positions(batch, j) {
                        output[i] = scale * (input[i] - mean) + state.beta[j];
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
        let n = crate::size::checked_mul(batch, self.plane)?;
        if n < 2 {
            return Err(Error::InvalidConfig {
                reason:
                    "batch norm in train mode needs at least 2 values per feature (batch x plane)",
            });
        }
        let rows_len = crate::size::checked_mul(batch, crate::size::checked_mul(f, self.plane)?)?;
        same_lengths([
            (f, gamma.len()),
            (f, beta.len()),
            (rows_len, input.len()),
            (rows_len, output.len()),
        ])?;
        self.saved_fits(batch, saved.len())?;
        let (x_hat, rest) = saved.split_at_mut(rows_len);
        let (inv_std, rest) = rest.split_at_mut(f);
        let (batch_mean, rest) = rest.split_at_mut(f);
        let batch_var = &mut rest[..f];
        for j in 0..f {
            let mean = self
                .positions(batch, j)
                .map(|i| input[i] as f64)
                .sum::<f64>()
                / n as f64;
            let var = self
                .positions(batch, j)
                .map(|i| {
                    let d = input[i] as f64 - mean;
                    d * d
                })
                .sum::<f64>()
                / n as f64;
            let istd = 1.0 / libm::sqrt(var + self.eps as f64);
            inv_std[j] = istd as f32;
            for i in self.positions(batch, j) {
                let xh = ((input[i] as f64 - mean) * istd) as f32;
                x_hat[i] = xh;
                output[i] = gamma[j] * xh + beta[j];
            }
            batch_mean[j] = mean as f32;
            batch_var[j] = (var * n as f64 / (n - 1) as f64) as f32;
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
        let rows_len = batch * self.sample_len();
        let stats = &saved[rows_len + f..rows_len + 3 * f];
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
    pub fn backward(
        &self,
        batch: usize,
        gamma: &[f32],
        saved: &[f32],
        grad_output: &[f32],
        grads: BatchNormGrads<'_>,
        grad_input: &mut [f32],
    ) -> Result<(), Error> {
        let BatchNormGrads {
            gamma: grad_gamma,
            beta: grad_beta,
        } = grads;
        let f = self.features;
        let n = crate::size::checked_mul(batch, self.sample_len())?;
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
        let count = (batch * self.plane) as f64;
        for j in 0..f {
            let sum_dy: f64 = self
                .positions(batch, j)
                .map(|i| grad_output[i] as f64)
                .sum();
            let sum_dy_xh: f64 = self
                .positions(batch, j)
                .map(|i| grad_output[i] as f64 * x_hat[i] as f64)
                .sum();
            grad_gamma[j] += sum_dy_xh as f32;
            grad_beta[j] += sum_dy as f32;
            let k = gamma[j] as f64 * inv_std[j] as f64 / count;
            for i in self.positions(batch, j) {
                grad_input[i] = (k
                    * (count * grad_output[i] as f64 - sum_dy - x_hat[i] as f64 * sum_dy_xh))
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
        let n = crate::size::checked_mul(batch, self.sample_len())?;
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
        let grads = BatchNormGrads {
            gamma: dgamma,
            beta: dbeta,
        };
        self.backward(io.rows, gamma, io.saved, io.grad_out, grads, io.grad_in)
    }
}

/// The first `(expected, got)` pair that differs, as a `LengthMismatch`.
fn same_lengths<const N: usize>(pairs: [(usize, usize); N]) -> Result<(), Error> {
    match pairs.into_iter().find(|(expected, got)| expected != got) {
        Some((expected, got)) => Err(Error::LengthMismatch { expected, got }),
        None => Ok(()),
    }
}
