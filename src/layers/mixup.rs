//! Mixup (Zhang et al. 2018), train only: `lambda ~ Beta(alpha, alpha)`, each
//! sample `i` is blended with a partner `j = pairs[i]`,
//! `x'_i = lambda x_i + (1 - lambda) x_j`, and the loss is
//! `lambda CE(y_i) + (1 - lambda) CE(y_j)`, which equals cross-entropy against
//! the mixed one-hot labels, so no soft-label buffer is needed
//! ([`softmax_cross_entropy_mixed`]). Partners follow torchvision's `RandomMixUp`:
//! the batch rolled by one (`j = i - 1`, wrapping), over a batch the data loader
//! already shuffled. Eval sees the original input.

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::beta;
use crate::error::{check_setting, Error};
use crate::kernels::blend;

/// `out = lambda * a + (1 - lambda) * b`, lane-wise (the SIMD blend; bit for bit
/// equal to the oracle `reference::blend`).
///
/// ```
/// let mut out = [0.0f32; 3];
/// tinyreg::layers::mixup::blend(0.25, &[4.0, 8.0, 0.0], &[0.0, 4.0, 4.0], &mut out)?;
/// assert_eq!(out, [1.0, 5.0, 3.0]);
/// # Ok::<(), tinyreg::Error>(())
/// ```
pub fn blend(lambda: f32, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), Error> {
    check_lambda(lambda)?;
    for got in [b.len(), out.len()] {
        if got != a.len() {
            return Err(Error::LengthMismatch {
                expected: a.len(),
                got,
            });
        }
    }
    blend::blend(lambda, a, b, out);
    Ok(())
}

pub(crate) fn check_lambda(lambda: f32) -> Result<(), Error> {
    check_setting((0.0..=1.0).contains(&lambda), "lambda", "must be in [0, 1]")
}

/// Mixup settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mixup {
    alpha: f32,
}

impl Mixup {
    /// `lambda ~ Beta(alpha, alpha)`; `alpha` positive and finite (0.2 to 0.4
    /// in the paper's ImageNet runs, 1.0 for CIFAR).
    pub fn new(alpha: f32) -> Result<Self, Error> {
        check_setting(
            alpha > 0.0 && alpha.is_finite(),
            "alpha",
            "must be positive and finite",
        )?;
        Ok(Mixup { alpha })
    }

    /// Draws `lambda` and fills `pairs` with each sample's partner (the batch
    /// rolled by one). Returns `lambda`.
    pub fn sample(&self, rng: &mut Xoshiro128PlusPlus, pairs: &mut [u32]) -> Result<f32, Error> {
        let lambda = beta(rng, self.alpha, self.alpha)?;
        let n = pairs.len();
        for (i, p) in pairs.iter_mut().enumerate() {
            *p = ((i + n - 1) % n) as u32;
        }
        Ok(lambda)
    }

    /// Blends a batch (`pairs.len()` rows of `features`) into `out`:
    /// `out[i] = lambda input[i] + (1 - lambda) input[pairs[i]]`.
    pub fn mix(
        &self,
        lambda: f32,
        pairs: &[u32],
        features: usize,
        input: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        check_lambda(lambda)?;
        let n = pairs
            .len()
            .checked_mul(features)
            .ok_or(Error::ShapeOverflow)?;
        for got in [input.len(), out.len()] {
            if got != n {
                return Err(Error::LengthMismatch { expected: n, got });
            }
        }
        if let Some(&j) = pairs.iter().find(|&&j| j as usize >= pairs.len()) {
            return Err(Error::IndexOutOfRange {
                index: j as usize,
                len: pairs.len(),
            });
        }
        if features == 0 {
            return Ok(());
        }
        for (i, (o, &j)) in out.chunks_exact_mut(features).zip(pairs).enumerate() {
            let j = j as usize;
            blend::blend(
                lambda,
                &input[i * features..(i + 1) * features],
                &input[j * features..(j + 1) * features],
                o,
            );
        }
        Ok(())
    }
}

/// `lambda CE(labels) + (1 - lambda) CE(partner labels)`, the batch mean, with
/// its gradient `(softmax - lambda onehot_i - (1 - lambda) onehot_j) / batch`
/// in `grad`; equal to [`crate::layers::loss::softmax_cross_entropy_soft`] against the mixed
/// one-hot targets, without building them.
pub fn softmax_cross_entropy_mixed(
    classes: usize,
    logits: &[f32],
    labels: &[u32],
    partner_labels: &[u32],
    lambda: f32,
    grad: &mut [f32],
) -> Result<f32, Error> {
    check_lambda(lambda)?;
    if partner_labels.len() != labels.len() {
        return Err(Error::LengthMismatch {
            expected: labels.len(),
            got: partner_labels.len(),
        });
    }
    if let Some((row, &label)) = partner_labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(Error::LabelOutOfRange {
            row,
            label,
            classes,
        });
    }
    let batch = labels.len();
    let expected = batch.checked_mul(classes).ok_or(Error::ShapeOverflow)?;
    if classes == 0 || logits.len() != expected {
        return Err(Error::LengthMismatch {
            expected,
            got: logits.len(),
        });
    }
    // The partner's loss first, read-only: a non-finite one is an error, as
    // for the plain loss, before anything is written.
    let mut partner_loss = 0.0f64;
    for (row, (&yj, z)) in partner_labels
        .iter()
        .zip(logits.chunks_exact(classes))
        .enumerate()
    {
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = z.iter().map(|&v| libm::expf(v - max)).sum();
        let loss = libm::logf(sum) + (max - z[yj as usize]);
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { row });
        }
        partner_loss += loss as f64;
    }
    // The integer-label loss writes softmax - onehot_i; move (1 - lambda) of
    // the one-hot mass to the partner, and mix the two losses.
    let li = crate::layers::loss::softmax_cross_entropy(classes, logits, labels, grad)?;
    let inv = 1.0 / batch as f32;
    for (r, (&yi, &yj)) in labels.iter().zip(partner_labels).enumerate() {
        let g = &mut grad[r * classes..(r + 1) * classes];
        g[yi as usize] += (1.0 - lambda) * inv;
        g[yj as usize] -= (1.0 - lambda) * inv;
    }
    let lj = (partner_loss / batch.max(1) as f64) as f32;
    Ok(lambda * li + (1.0 - lambda) * lj)
}
