//! Spatial dropout (`Dropout2d`; Tompson et al. 2015): one keep draw per
//! sample and channel, so a dropped channel is zero over its whole plane.
//! Neighbouring pixels of a feature map are strongly correlated, so dropping
//! single pixels (plain dropout) hardly regularizes a convolution; dropping
//! whole maps does.
//!
//! Train and eval follow [`Dropout`]'s kind exactly as plain dropout does:
//! inverted scales kept channels by `1/q` in train and is the identity in
//! eval; vanilla keeps them as they are and scales by `q` in eval. Either way
//! eval is the expectation of train, value by value. The mask has
//! `batch x channels` bits (PyTorch's `nn.Dropout2d` draws the same shape).

use crate::error::Error;
use crate::kernels::bernoulli::{bernoulli_mask, mask_bit, mask_bytes};
use crate::kernels::words::{bytes, bytes_mut};
use crate::layers::augment::ImageShape;
use crate::layers::dropout::Dropout;
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};
use crate::rng::MaskRng;
use crate::size::{checked_mul, mul};

/// Dropout of whole channels of `(channels, height, width)` images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpatialDropout {
    /// One image.
    pub shape: ImageShape,
    /// Kind and keep probability.
    pub dropout: Dropout,
}

impl SpatialDropout {
    /// Mask bytes for `batch` images: one bit per sample and channel.
    pub const fn mask_bytes(&self, batch: usize) -> usize {
        mask_bytes(mul(batch, self.shape.channels))
    }

    /// Refuses empty images.
    pub fn validate(&self) -> Result<(), Error> {
        if self.shape.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "spatial dropout needs images of at least one value",
            });
        }
        Ok(())
    }

    /// Checks `batch` images' lengths and, if `mask` is given, the mask's
    /// room; returns `(values, channels of the batch)`.
    fn check(
        &self,
        batch: usize,
        input: usize,
        output: usize,
        mask: Option<usize>,
    ) -> Result<(usize, usize), Error> {
        let values = checked_mul(batch, self.shape.len())?;
        let planes = checked_mul(batch, self.shape.channels)?;
        self.validate()?;
        for got in [input, output] {
            if got != values {
                return Err(Error::LengthMismatch {
                    expected: values,
                    got,
                });
            }
        }
        let needed = mask_bytes(planes);
        match mask {
            Some(got) if got < needed => Err(Error::BufferTooSmall { needed, got }),
            _ => Ok((values, planes)),
        }
    }

    /// Forward of `batch` images. Train draws `batch x channels` bits into
    /// `mask` (read by [`SpatialDropout::backward`]); eval neither reads nor
    /// writes it and draws nothing.
    pub fn forward(
        &self,
        mode: Mode,
        rng: &mut MaskRng,
        batch: usize,
        input: &[f32],
        output: &mut [f32],
        mask: &mut [u8],
    ) -> Result<(), Error> {
        let mask_room = (mode == Mode::Train).then_some(mask.len());
        let (_, planes) = self.check(batch, input.len(), output.len(), mask_room)?;
        let plane = self.shape.height * self.shape.width;
        match mode {
            Mode::Train => {
                bernoulli_mask(self.dropout.keep(), rng, planes, mask)?;
                self.scale_by_mask(plane, mask, input, output);
            }
            Mode::Eval => {
                let scale = self.dropout.eval_scale();
                for (y, &x) in output.iter_mut().zip(input) {
                    *y = x * scale;
                }
            }
        }
        Ok(())
    }

    /// Train forward with a mask the caller chose (bit `b * channels + c`
    /// keeps channel `c` of image `b`), e.g. to enumerate every mask.
    pub fn forward_with_mask(
        &self,
        batch: usize,
        mask: &[u8],
        input: &[f32],
        output: &mut [f32],
    ) -> Result<(), Error> {
        self.check(batch, input.len(), output.len(), Some(mask.len()))?;
        let plane = self.shape.height * self.shape.width;
        self.scale_by_mask(plane, mask, input, output);
        Ok(())
    }

    fn scale_by_mask(&self, plane: usize, mask: &[u8], input: &[f32], output: &mut [f32]) {
        let scale = self.dropout.train_scale();
        for (k, (x, y)) in input
            .chunks_exact(plane)
            .zip(output.chunks_exact_mut(plane))
            .enumerate()
        {
            let s = if mask_bit(mask, k) { scale } else { 0.0 };
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * s;
            }
        }
    }

    /// Backward of a train forward: `grad_input` is `grad_output` through the
    /// same kept channels and scale.
    pub fn backward(
        &self,
        batch: usize,
        mask: &[u8],
        grad_output: &[f32],
        grad_input: &mut [f32],
    ) -> Result<(), Error> {
        self.check(batch, grad_output.len(), grad_input.len(), Some(mask.len()))?;
        let plane = self.shape.height * self.shape.width;
        let scale = self.dropout.train_scale();
        for (k, (g, d)) in grad_output
            .chunks_exact(plane)
            .zip(grad_input.chunks_exact_mut(plane))
            .enumerate()
        {
            let s = if mask_bit(mask, k) { scale } else { 0.0 };
            for (d, &g) in d.iter_mut().zip(g) {
                *d = g * s;
            }
        }
        Ok(())
    }

    pub(crate) fn forward_pass(
        &self,
        io: ForwardIo<'_>,
        draws: &mut Draws<'_>,
    ) -> Result<(), Error> {
        let mask = bytes_mut(io.saved);
        self.forward(
            draws.stochastic,
            draws.masks,
            io.rows,
            io.input,
            io.output,
            mask,
        )
    }

    pub(crate) fn backward_pass(&self, io: BackwardIo<'_>) -> Result<(), Error> {
        self.backward(io.rows, bytes(io.saved), io.grad_out, io.grad_in)
    }
}
