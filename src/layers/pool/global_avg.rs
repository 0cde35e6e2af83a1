//! Global average pooling: each channel's plane to its mean, `(channels,
//! height, width)` to `channels` (PyTorch's `AdaptiveAvgPool2d(1)` then
//! `flatten`). A residual CNN ends with it instead of a wide dense layer.

use crate::error::Error;
use crate::layers::augment::ImageShape;
use crate::layers::pass::{BackwardIo, ForwardIo};
use crate::size::checked_mul;

/// Refuses empty images (a network layer over them).
pub fn validate(shape: ImageShape) -> Result<(), Error> {
    if shape.is_empty() {
        return Err(Error::InvalidConfig {
            reason: "global average pooling needs images of at least one value",
        });
    }
    Ok(())
}

/// Checks `batch` images against their pooled outputs; returns the plane.
fn check(shape: ImageShape, batch: usize, images: usize, pooled: usize) -> Result<usize, Error> {
    let plane = checked_mul(shape.height, shape.width)?;
    if plane == 0 {
        return Err(Error::InvalidConfig {
            reason: "global average pooling needs images of at least one value",
        });
    }
    for (expected, got) in [
        (checked_mul(batch, shape.len())?, images),
        (checked_mul(batch, shape.channels)?, pooled),
    ] {
        if expected != got {
            return Err(Error::LengthMismatch { expected, got });
        }
    }
    Ok(plane)
}

/// `output[b, c] = mean over the plane of input[b, c]` for `batch` images.
pub fn global_avg_pool_forward(
    shape: ImageShape,
    batch: usize,
    input: &[f32],
    output: &mut [f32],
) -> Result<(), Error> {
    let plane = check(shape, batch, input.len(), output.len())?;
    let inv = 1.0 / plane as f32;
    for (y, x) in output.iter_mut().zip(input.chunks_exact(plane)) {
        *y = x.iter().sum::<f32>() * inv;
    }
    Ok(())
}

/// `grad_input[b, c, p] = grad_output[b, c] / plane`.
pub fn global_avg_pool_backward(
    shape: ImageShape,
    batch: usize,
    grad_output: &[f32],
    grad_input: &mut [f32],
) -> Result<(), Error> {
    let plane = check(shape, batch, grad_input.len(), grad_output.len())?;
    let inv = 1.0 / plane as f32;
    for (&g, d) in grad_output.iter().zip(grad_input.chunks_exact_mut(plane)) {
        d.fill(g * inv);
    }
    Ok(())
}

pub(crate) fn forward_pass(shape: ImageShape, io: ForwardIo<'_>) -> Result<(), Error> {
    global_avg_pool_forward(shape, io.rows, io.input, io.output)
}

pub(crate) fn backward_pass(shape: ImageShape, io: BackwardIo<'_>) -> Result<(), Error> {
    global_avg_pool_backward(shape, io.rows, io.grad_out, io.grad_in)
}
