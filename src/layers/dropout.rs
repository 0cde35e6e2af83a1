//! Vanilla and inverted dropout, train and eval, forward and backward.
//!
//! | kind | train forward | eval forward | backward (train / eval) |
//! |---|---|---|---|
//! | [`DropoutKind::Vanilla`] | `y = x * m` | `y = q * x` | `dx = dy * m` / `dx = q * dy` |
//! | [`DropoutKind::Inverted`] | `y = x * m / q` | `y = x` | `dx = dy * m / q` / `dx = dy` |
//!
//! `m` is a Bernoulli mask with keep probability `q = round(keep * 2^32) / 2^32`
//! (see [`Keep`]); `1/q` and `q` are rounded once to `f32`. The mask is kept one
//! bit per unit ([`Dropout::forward`]), or not at all: [`Dropout::forward_mask_free`]
//! returns the generator state (256 bytes) and [`Dropout::backward_regenerate`]
//! redraws the same mask from it.

use crate::error::Error;
use crate::kernels::bernoulli::{mask_bytes, Keep};
use crate::kernels::blocks::Source;
use crate::kernels::dropout as kernel;
use crate::kernels::words::{bytes, bytes_mut};
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};
use crate::rng::{MaskRng, MaskRngState};

/// Which dropout: they differ in where the `q` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropoutKind {
    /// Srivastava et al. 2014 as published: train keeps units, eval scales by `q`.
    Vanilla,
    /// Train keeps units and divides by `q`; eval is the identity (what PyTorch,
    /// Keras, burn and candle implement).
    Inverted,
}

/// A dropout layer's settings. It owns no buffers: every call takes its slices.
///
/// ```
/// use tinyreg::{Dropout, MaskRng, Mode, mask_bytes};
///
/// let dropout = Dropout::inverted(0.8)?;
/// let mut rng = MaskRng::seed_from_u64(7);
/// let x = [1.0f32; 40];
/// let mut y = [0.0f32; 40];
/// let mut mask = [0u8; mask_bytes(40)];
/// dropout.forward(Mode::Train, &mut rng, &x, &mut y, &mut mask)?;
/// // Kept units are scaled by 1/q, dropped ones are zero.
/// assert!(y.iter().all(|&v| v == 0.0 || v == dropout.train_scale()));
///
/// // Backward routes the gradient through the same mask.
/// let mut dx = [0.0f32; 40];
/// dropout.backward(Mode::Train, &mask, &[1.0; 40], &mut dx)?;
/// assert_eq!(dx, y);
///
/// // Eval is the identity for inverted dropout.
/// dropout.forward(Mode::Eval, &mut rng, &x, &mut y, &mut mask)?;
/// assert_eq!(y, x);
/// # Ok::<(), tinyreg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropout {
    kind: DropoutKind,
    keep: Keep,
}

impl Dropout {
    /// Dropout of `kind` keeping each unit with probability `keep`.
    ///
    /// Fails with [`Error::InvalidKeep`] if `keep` is NaN or outside `[0, 1]`, or
    /// for inverted dropout if it rounds to a zero threshold (`keep < 2^-33`).
    pub const fn new(kind: DropoutKind, keep: f32) -> Result<Self, Error> {
        let k = match Keep::new(keep) {
            Ok(k) => k,
            Err(e) => return Err(e),
        };
        if matches!(kind, DropoutKind::Inverted) && k.threshold() == 0 {
            return Err(Error::InvalidKeep { keep });
        }
        Ok(Dropout { kind, keep: k })
    }

    /// Vanilla dropout; `keep` in `[0, 1]`.
    pub const fn vanilla(keep: f32) -> Result<Self, Error> {
        Self::new(DropoutKind::Vanilla, keep)
    }

    /// Inverted dropout; `keep` in `(0, 1]`.
    pub const fn inverted(keep: f32) -> Result<Self, Error> {
        Self::new(DropoutKind::Inverted, keep)
    }

    /// The kind.
    pub fn kind(&self) -> DropoutKind {
        self.kind
    }

    /// The exact keep probability.
    pub fn keep(&self) -> Keep {
        self.keep
    }

    /// What a kept unit is multiplied by in train mode: 1, or `1/q` rounded to f32.
    pub fn train_scale(&self) -> f32 {
        match self.kind {
            DropoutKind::Vanilla => 1.0,
            DropoutKind::Inverted => (1.0 / self.keep.probability()) as f32,
        }
    }

    /// What every unit is multiplied by in eval mode: `q` rounded to f32, or 1.
    pub fn eval_scale(&self) -> f32 {
        match self.kind {
            DropoutKind::Vanilla => self.keep.probability() as f32,
            DropoutKind::Inverted => 1.0,
        }
    }

    /// Bytes of mask [`Dropout::forward`] needs for `units` units (one bit each).
    pub const fn mask_bytes(units: usize) -> usize {
        mask_bytes(units)
    }

    /// Forward pass. Train: one fused pass draws the mask, writes its bits into
    /// `mask` and scales `input` into `output`. Eval: scales by
    /// [`Dropout::eval_scale`]; `rng` and `mask` are left alone.
    ///
    /// Errors: `output` of another length than `input`; `mask` shorter than
    /// [`mask_bytes`]`(input.len())` in train mode.
    pub fn forward(
        &self,
        mode: Mode,
        rng: &mut MaskRng,
        input: &[f32],
        output: &mut [f32],
        mask: &mut [u8],
    ) -> Result<(), Error> {
        check_same_len(input.len(), output.len())?;
        match mode {
            Mode::Train => {
                check_mask(input.len(), mask.len())?;
                let scale = self.train_scale();
                kernel::mask_and_scale(
                    self.keep,
                    scale,
                    rng,
                    Source::Slice(input),
                    output,
                    Some(mask),
                );
            }
            Mode::Eval => self.eval(Source::Slice(input), output),
        }
        Ok(())
    }

    /// [`Dropout::forward`] overwriting `data`.
    pub fn forward_in_place(
        &self,
        mode: Mode,
        rng: &mut MaskRng,
        data: &mut [f32],
        mask: &mut [u8],
    ) -> Result<(), Error> {
        match mode {
            Mode::Train => {
                check_mask(data.len(), mask.len())?;
                let scale = self.train_scale();
                kernel::mask_and_scale(self.keep, scale, rng, Source::InPlace, data, Some(mask));
            }
            Mode::Eval => self.eval(Source::InPlace, data),
        }
        Ok(())
    }

    /// Forward without a mask buffer: returns the generator state the mask was
    /// drawn from, which [`Dropout::backward_regenerate`] uses to redraw it (256
    /// bytes, whatever the number of units). In eval mode the state returned is
    /// the untouched `rng`'s.
    pub fn forward_mask_free(
        &self,
        mode: Mode,
        rng: &mut MaskRng,
        input: &[f32],
        output: &mut [f32],
    ) -> Result<MaskRngState, Error> {
        check_same_len(input.len(), output.len())?;
        let saved = rng.state();
        match mode {
            Mode::Train => {
                let scale = self.train_scale();
                kernel::mask_and_scale(self.keep, scale, rng, Source::Slice(input), output, None);
            }
            Mode::Eval => self.eval(Source::Slice(input), output),
        }
        Ok(saved)
    }

    /// [`Dropout::forward_mask_free`] overwriting `data`.
    pub fn forward_mask_free_in_place(
        &self,
        mode: Mode,
        rng: &mut MaskRng,
        data: &mut [f32],
    ) -> Result<MaskRngState, Error> {
        let saved = rng.state();
        match mode {
            Mode::Train => {
                let scale = self.train_scale();
                kernel::mask_and_scale(self.keep, scale, rng, Source::InPlace, data, None);
            }
            Mode::Eval => self.eval(Source::InPlace, data),
        }
        Ok(saved)
    }

    /// Train forward with a mask the caller chose (for instance the same mask for
    /// every step of a sequence): `output = input * (bit ? train_scale : 0)`.
    pub fn forward_with_mask(
        &self,
        mask: &[u8],
        input: &[f32],
        output: &mut [f32],
    ) -> Result<(), Error> {
        check_same_len(input.len(), output.len())?;
        check_mask(input.len(), mask.len())?;
        kernel::scale_by_mask(self.train_scale(), mask, Source::Slice(input), output);
        Ok(())
    }

    /// Backward pass: `grad_input = grad_output * m * train_scale` in train mode
    /// (with the mask [`Dropout::forward`] wrote), `grad_output * eval_scale` in
    /// eval mode (`mask` unused).
    pub fn backward(
        &self,
        mode: Mode,
        mask: &[u8],
        grad_output: &[f32],
        grad_input: &mut [f32],
    ) -> Result<(), Error> {
        check_same_len(grad_output.len(), grad_input.len())?;
        match mode {
            Mode::Train => {
                check_mask(grad_output.len(), mask.len())?;
                kernel::scale_by_mask(
                    self.train_scale(),
                    mask,
                    Source::Slice(grad_output),
                    grad_input,
                );
            }
            Mode::Eval => self.eval(Source::Slice(grad_output), grad_input),
        }
        Ok(())
    }

    /// [`Dropout::backward`] overwriting `grad`.
    pub fn backward_in_place(
        &self,
        mode: Mode,
        mask: &[u8],
        grad: &mut [f32],
    ) -> Result<(), Error> {
        match mode {
            Mode::Train => {
                check_mask(grad.len(), mask.len())?;
                kernel::scale_by_mask(self.train_scale(), mask, Source::InPlace, grad);
            }
            Mode::Eval => self.eval(Source::InPlace, grad),
        }
        Ok(())
    }

    /// Backward of [`Dropout::forward_mask_free`]: redraws the mask from `saved`.
    pub fn backward_regenerate(
        &self,
        mode: Mode,
        saved: &MaskRngState,
        grad_output: &[f32],
        grad_input: &mut [f32],
    ) -> Result<(), Error> {
        check_same_len(grad_output.len(), grad_input.len())?;
        match mode {
            Mode::Train => {
                let mut rng = MaskRng::from_state(saved)?;
                let scale = self.train_scale();
                kernel::mask_and_scale(
                    self.keep,
                    scale,
                    &mut rng,
                    Source::Slice(grad_output),
                    grad_input,
                    None,
                );
            }
            Mode::Eval => self.eval(Source::Slice(grad_output), grad_input),
        }
        Ok(())
    }

    /// [`Dropout::backward_regenerate`] overwriting `grad`.
    pub fn backward_regenerate_in_place(
        &self,
        mode: Mode,
        saved: &MaskRngState,
        grad: &mut [f32],
    ) -> Result<(), Error> {
        match mode {
            Mode::Train => {
                let mut rng = MaskRng::from_state(saved)?;
                let scale = self.train_scale();
                kernel::mask_and_scale(self.keep, scale, &mut rng, Source::InPlace, grad, None);
            }
            Mode::Eval => self.eval(Source::InPlace, grad),
        }
        Ok(())
    }

    fn eval(&self, src: Source<'_>, dst: &mut [f32]) {
        match (self.kind, src) {
            (DropoutKind::Inverted, Source::Slice(src)) => dst.copy_from_slice(src),
            (DropoutKind::Inverted, Source::InPlace) => {}
            (DropoutKind::Vanilla, src) => kernel::scale(self.eval_scale(), src, dst),
        }
    }
}

/// Dropout in a network: the mask bits sit in the saved region.
impl Dropout {
    pub(crate) fn forward_pass(
        &self,
        io: ForwardIo<'_>,
        draws: &mut Draws<'_>,
    ) -> Result<(), Error> {
        let mask = bytes_mut(io.saved);
        self.forward(draws.stochastic, draws.masks, io.input, io.output, mask)
    }

    pub(crate) fn backward_pass(&self, io: BackwardIo<'_>) -> Result<(), Error> {
        self.backward(Mode::Train, bytes(io.saved), io.grad_out, io.grad_in)
    }
}

fn check_same_len(expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, got })
    }
}

fn check_mask(units: usize, got: usize) -> Result<(), Error> {
    let needed = mask_bytes(units);
    if got >= needed {
        Ok(())
    } else {
        Err(Error::BufferTooSmall { needed, got })
    }
}
