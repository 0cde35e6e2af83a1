//! ReLU as a layer of its own (dense layers and convolutions fuse theirs).

use crate::layers::pass::{BackwardIo, ForwardIo};

/// `y = max(x, 0)`.
pub(crate) fn relu_forward_pass(io: ForwardIo<'_>) {
    for (y, &x) in io.output.iter_mut().zip(io.input) {
        *y = if x < 0.0 { 0.0 } else { x };
    }
}

/// `dx = dy` where the output is positive, else 0.
pub(crate) fn relu_backward_pass(io: BackwardIo<'_>) {
    for ((gi, &go), &y) in io.grad_in.iter_mut().zip(io.grad_out.iter()).zip(io.output) {
        *gi = if y > 0.0 { go } else { 0.0 };
    }
}
