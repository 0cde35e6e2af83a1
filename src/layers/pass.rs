//! What a layer gets for one pass through a network: its share of the
//! trainer's memory, and for forward the modes and the mask generator.
//!
//! Every layer kind's `forward_pass`/`backward_pass` takes these, so the
//! trainer carves the regions once and dispatches; lengths are the ones the
//! layer's `*_len` methods gave the plan, for `rows` samples.

use crate::layers::buffers::{BackwardBuffers, ForwardBuffers};
use crate::layers::mode::Mode;
use crate::rng::MaskRng;

/// A layer's regions for a forward pass of `rows` samples.
pub(crate) struct ForwardIo<'a> {
    pub rows: usize,
    /// `rows * inputs`.
    pub input: &'a [f32],
    /// `rows * outputs`.
    pub output: &'a mut [f32],
    /// Trainable parameters (`params_len`).
    pub params: &'a [f32],
    /// Non-trainable state (`buffers_len`: batch norm's running statistics).
    pub buffers: &'a mut [f32],
    /// What backward needs (`saved_len(rows)`).
    pub saved: &'a mut [f32],
    /// The shared scratch (GEMM panel, a convolution's columns).
    pub scratch: &'a mut [f32],
    /// `rows * outputs` of room for eval-mode fractional pooling's samplings
    /// (empty for every other layer).
    pub tmp: &'a mut [f32],
    /// A residual block's end: the block's input (its start's output).
    pub skip: &'a [f32],
    /// A residual block's end: the branch's multipliers its start saved.
    pub block_scales: &'a [f32],
}

/// The modes and the generator of one forward pass.
pub(crate) struct Draws<'r> {
    /// Mode of dropout, DropConnect, stochastic depth and fractional pooling.
    pub stochastic: Mode,
    /// Mode of batch norm (Monte Carlo dropout runs the two apart).
    pub norm: Mode,
    /// Whether a backward pass follows (a training step): max pooling
    /// records its argmaxes only then.
    pub backward_follows: bool,
    /// Every mask and random region comes from here, in layer order.
    pub masks: &'r mut MaskRng,
}

/// A layer's regions for the backward pass of a train forward.
pub(crate) struct BackwardIo<'a> {
    pub rows: usize,
    pub input: &'a [f32],
    pub output: &'a [f32],
    pub params: &'a [f32],
    pub saved: &'a [f32],
    pub scratch: &'a mut [f32],
    /// Gradients of the parameters, accumulated into.
    pub grads: &'a mut [f32],
    /// Gradient of the loss with respect to the output (a fused ReLU masks
    /// it in place).
    pub grad_out: &'a mut [f32],
    /// Gradient with respect to the input (empty for a first dense layer).
    pub grad_in: &'a mut [f32],
    /// False for the network's first layer: nothing reads its input gradient.
    pub need_input_grad: bool,
    /// A third gradient buffer for residual blocks (else empty): the
    /// [`crate::layers::layer::Layer::Residual`] branch's hidden gradient, or the gradient
    /// of a block's input through its skip path, from the end to the start.
    pub spare: &'a mut [f32],
    /// A residual block's end: the block's input.
    pub skip: &'a [f32],
    /// A residual block's end: the branch's multipliers its start saved.
    pub block_scales: &'a [f32],
}

impl<'a> ForwardIo<'a> {
    /// The public forward buffers of a weighted layer's call.
    pub fn buffers(self) -> ForwardBuffers<'a> {
        self.buffers_and_saved().0
    }

    /// [`Self::buffers`], and the saved region beside them.
    pub fn buffers_and_saved(self) -> (ForwardBuffers<'a>, &'a mut [f32]) {
        let buffers = ForwardBuffers {
            batch: self.rows,
            input: self.input,
            output: self.output,
            scratch: self.scratch,
        };
        (buffers, self.saved)
    }
}

impl<'a> BackwardIo<'a> {
    /// The public backward buffers of a weighted layer's call (no input
    /// gradient for the first layer), and the parameters' gradients.
    pub fn buffers_and_grads(self) -> (BackwardBuffers<'a>, &'a mut [f32]) {
        let buffers = BackwardBuffers {
            batch: self.rows,
            input: self.input,
            output: self.output,
            grad_output: self.grad_out,
            grad_input: self.need_input_grad.then_some(self.grad_in),
            scratch: self.scratch,
        };
        (buffers, self.grads)
    }
}
