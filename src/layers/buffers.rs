//! The buffers of one forward or backward call of a weighted layer (dense or
//! convolution), named, so a call reads as what it passes rather than as
//! eight positional slices.
//!
//! Every length is a multiple of `batch`: a layer checks them all against
//! its shape before it writes anything.

/// What a forward call reads and writes for `batch` samples.
#[derive(Debug)]
pub struct ForwardBuffers<'a> {
    /// Samples in the batch.
    pub batch: usize,
    /// `(batch, inputs)`, row-major.
    pub input: &'a [f32],
    /// `(batch, outputs)`, overwritten.
    pub output: &'a mut [f32],
    /// At least the layer's scratch length (its `SCRATCH_LEN` or
    /// `scratch_len()`); its contents on entry do not matter.
    pub scratch: &'a mut [f32],
}

/// What a backward call reads and writes: the forward's `input` and `output`,
/// the gradient of the loss with respect to the output, and where the
/// gradient with respect to the input goes.
#[derive(Debug)]
pub struct BackwardBuffers<'a> {
    /// Samples in the batch (as in the forward call).
    pub batch: usize,
    /// The forward's input.
    pub input: &'a [f32],
    /// The forward's output (a fused ReLU reads its sign).
    pub output: &'a [f32],
    /// `dL/dy`; with a fused ReLU, overwritten with the gradient before it.
    pub grad_output: &'a mut [f32],
    /// `dL/dx`, overwritten; `None` skips it (a network's first layer).
    pub grad_input: Option<&'a mut [f32]>,
    /// As in the forward call.
    pub scratch: &'a mut [f32],
}
