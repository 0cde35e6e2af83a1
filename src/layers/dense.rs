//! Fully connected layer `y = x W^T + b` (optionally ReLU), with DropConnect.
//!
//! Shapes: `x: (batch, inputs)`, `W: (outputs, inputs)` (PyTorch's `Linear`
//! layout), `b: (outputs)`, `y: (batch, outputs)`, all row-major. Backward
//! accumulates `dW += dy^T x` and `db += sum_rows(dy)` (zero them first for a
//! fresh gradient) and overwrites `dx = dy W`.
//!
//! # DropConnect
//! Wan et al. 2013: each weight is kept with probability `q` by one Bernoulli
//! mask per forward pass, shared by the whole batch (the paper's cheap variant;
//! its per-sample variant costs a weight matrix per sample). The mask has
//! `outputs * inputs` bits, bit `o * inputs + i` for `W[o][i]`, drawn by
//! [`crate::kernels::bernoulli::bernoulli_mask`]'s streams. It is applied while W is packed for the
//! multiply, never materialized as a masked copy, and backward reuses it.
//! Train: `y = s (W ⊙ M) x + b` with `s = 1` (vanilla) or `1/q` (inverted);
//! eval: `y = q W x + b` (vanilla) or `W x + b` (inverted).
//!
//! # Platform-specific behavior
//! The multiply accumulates in `f32` with fused multiply-adds where the target
//! has them (one rounding) and separate multiply and add elsewhere (two), in an
//! order that depends on the tile sizes in `simd`. Results differ
//! across targets within the usual dot-product bound: relative to
//! `sum |x_i w_i|`, the error is at most about `k * 2^-24` for depth `k`
//! (tests allow `2 k * 2^-24`).

use crate::kernels::bernoulli::{mask_bytes, sample_mask};
use crate::kernels::gemm::{gemm, gemv, AMat, BMat, Epilogue, GEMM_SCRATCH_LEN};

/// Largest batch the forward computes as matrix-vector products (no packing).
const GEMV_MAX_BATCH: usize = 1;
use crate::error::Error;
use crate::kernels::words::{bytes, bytes_mut};
use crate::layers::buffers::{BackwardBuffers, ForwardBuffers};
use crate::layers::dropout::Dropout;
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};
use crate::rng::MaskRng;

/// A dense layer's shape; it owns no memory.
///
/// ```
/// use tinyreg::{Dense, DenseParams, ForwardBuffers};
/// let layer = Dense::new(3, 2).with_relu();
/// let w = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5]; // (outputs, inputs)
/// let b = [0.0, -1.0];
/// let x = [1.0, 2.0, 3.0];                 // batch of 1
/// let mut y = [0.0; 2];
/// let mut scratch = vec![0.0; Dense::SCRATCH_LEN];
/// let params = DenseParams { weights: &w, bias: &b };
/// layer.forward(params, ForwardBuffers { batch: 1, input: &x, output: &mut y, scratch: &mut scratch })?;
/// assert_eq!(y, [0.0, 2.0]); // relu(1 - 3), relu(3 - 1)
/// # Ok::<(), tinyreg::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    inputs: usize,
    outputs: usize,
    relu: bool,
}

/// A dense layer's parameters, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct DenseParams<'a> {
    /// `(outputs, inputs)`, row-major.
    pub weights: &'a [f32],
    /// `(outputs)`.
    pub bias: &'a [f32],
}

/// A dense layer's gradients, accumulated into.
#[derive(Debug)]
pub struct DenseGrads<'a> {
    /// `(outputs, inputs)`; backward adds `dy^T x`.
    pub weights: &'a mut [f32],
    /// `(outputs)`; backward adds the column sums of `dy`.
    pub bias: &'a mut [f32],
}

/// DropConnect settings for [`Dense::forward_dropconnect`]: the kind and keep
/// probability of a [`Dropout`], applied to the weights.
pub type DropConnect = Dropout;

impl Dense {
    /// Floats of packing scratch every call needs, whatever the shape: a
    /// `GEMM_KC x (GEMM_NV * LANES)` panel (32 KiB with AVX-512 off Zen 4,
    /// 16 KiB elsewhere with SIMD, none without).
    ///
    /// cbindgen:ignore
    pub const SCRATCH_LEN: usize = GEMM_SCRATCH_LEN;

    /// `inputs -> outputs`, no activation.
    pub const fn new(inputs: usize, outputs: usize) -> Self {
        Dense {
            inputs,
            outputs,
            relu: false,
        }
    }

    /// The same layer followed by a fused ReLU.
    pub const fn with_relu(self) -> Self {
        Dense { relu: true, ..self }
    }

    /// Input features.
    pub const fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output features.
    pub const fn outputs(&self) -> usize {
        self.outputs
    }

    /// Whether a ReLU follows.
    pub const fn has_relu(&self) -> bool {
        self.relu
    }

    /// Floats of `W`.
    pub const fn weights_len(&self) -> usize {
        crate::size::mul(self.inputs, self.outputs)
    }

    /// Bytes of a DropConnect mask: one bit per weight.
    pub const fn dropconnect_mask_bytes(&self) -> usize {
        mask_bytes(self.weights_len())
    }

    /// `output = input W^T + b`, then ReLU if the layer has one.
    pub fn forward(&self, params: DenseParams<'_>, io: ForwardBuffers<'_>) -> Result<(), Error> {
        self.check_forward(params, &io)?;
        self.forward_unchecked(params, None, 1.0, io);
        Ok(())
    }

    /// Forward with DropConnect on the weights. Train draws a fresh mask into
    /// `mask` ([`Dense::dropconnect_mask_bytes`] bytes) from `rng`; eval uses the
    /// full weights scaled by `dropconnect.eval_scale()`, leaving `rng` and `mask`.
    ///
    /// DropConnect draws one mask per forward pass, shared by the batch (Wan et
    /// al.'s cheap variant), applies it while W is packed, and reuses it in
    /// [`Dense::backward_dropconnect`]:
    ///
    /// ```
    /// use tinyreg::{BackwardBuffers, Dense, DenseGrads, DenseParams, DropConnect, ForwardBuffers};
    /// use tinyreg::{MaskRng, Mode, softmax_cross_entropy};
    ///
    /// let layer = Dense::new(64, 10);                     // x: (batch, 64) -> y: (batch, 10)
    /// let (w, b) = (vec![0.01f32; layer.weights_len()], vec![0.0f32; 10]);
    /// let params = DenseParams { weights: &w, bias: &b };
    /// let x = vec![0.5f32; 32 * 64];
    /// let mut y = vec![0.0f32; 32 * 10];
    /// let mut scratch = vec![0.0f32; Dense::SCRATCH_LEN]; // packing panel, fixed size
    /// let mut mask = vec![0u8; layer.dropconnect_mask_bytes()];
    /// let dropconnect = DropConnect::inverted(0.8)?;
    /// let mut rng = MaskRng::seed_from_u64(1);
    /// let io = ForwardBuffers { batch: 32, input: &x, output: &mut y, scratch: &mut scratch };
    /// layer.forward_dropconnect(&dropconnect, Mode::Train, &mut rng, &mut mask, params, io)?;
    ///
    /// let labels = [3u32; 32];
    /// let mut dy = vec![0.0f32; 32 * 10];
    /// let loss = softmax_cross_entropy(10, &y, &labels, &mut dy)?; // mean loss, dL/dy
    /// let (mut dw, mut db) = (vec![0.0f32; w.len()], vec![0.0f32; 10]);
    /// let grads = DenseGrads { weights: &mut dw, bias: &mut db };
    /// let io = BackwardBuffers {
    ///     batch: 32, input: &x, output: &y, grad_output: &mut dy, grad_input: None, scratch: &mut scratch,
    /// };
    /// layer.backward_dropconnect(&dropconnect, Mode::Train, &mask, params, grads, io)?;
    /// assert!((loss - 10f32.ln()).abs() < 1e-3);          // equal logits: ln 10
    /// # Ok::<(), tinyreg::Error>(())
    /// ```
    pub fn forward_dropconnect(
        &self,
        dropconnect: &DropConnect,
        mode: Mode,
        rng: &mut MaskRng,
        mask: &mut [u8],
        params: DenseParams<'_>,
        io: ForwardBuffers<'_>,
    ) -> Result<(), Error> {
        self.check_forward(params, &io)?;
        match mode {
            Mode::Train => {
                check_at_least(self.dropconnect_mask_bytes(), mask.len())?;
                sample_mask(dropconnect.keep(), rng, self.weights_len(), mask);
                let scale = dropconnect.train_scale();
                self.forward_unchecked(params, Some(mask), scale, io);
            }
            Mode::Eval => {
                let scale = dropconnect.eval_scale();
                self.forward_unchecked(params, None, scale, io);
            }
        }
        Ok(())
    }

    /// Train forward with a DropConnect mask the caller chose (bit `o * inputs + i`
    /// keeps `W[o][i]`): `y = s (W ⊙ M) x + b`, `s = dropconnect.train_scale()`.
    pub fn forward_with_mask(
        &self,
        dropconnect: &DropConnect,
        mask: &[u8],
        params: DenseParams<'_>,
        io: ForwardBuffers<'_>,
    ) -> Result<(), Error> {
        self.check_forward(params, &io)?;
        check_at_least(self.dropconnect_mask_bytes(), mask.len())?;
        let scale = dropconnect.train_scale();
        self.forward_unchecked(params, Some(mask), scale, io);
        Ok(())
    }

    /// Backward. With a ReLU, `io.grad_output` is overwritten with the
    /// gradient before the ReLU (zero where `output <= 0`). Accumulates into
    /// `grads`, and writes `dL/dx` into `io.grad_input` unless it is `None`.
    pub fn backward(
        &self,
        params: DenseParams<'_>,
        grads: DenseGrads<'_>,
        io: BackwardBuffers<'_>,
    ) -> Result<(), Error> {
        self.check_backward(params, &grads, &io)?;
        self.backward_unchecked(params, None, 1.0, grads, io);
        Ok(())
    }

    /// Backward of [`Dense::forward_dropconnect`], with the mask it drew (train)
    /// or the eval scaling (eval; `mask` unused).
    pub fn backward_dropconnect(
        &self,
        dropconnect: &DropConnect,
        mode: Mode,
        mask: &[u8],
        params: DenseParams<'_>,
        grads: DenseGrads<'_>,
        io: BackwardBuffers<'_>,
    ) -> Result<(), Error> {
        self.check_backward(params, &grads, &io)?;
        match mode {
            Mode::Train => {
                check_at_least(self.dropconnect_mask_bytes(), mask.len())?;
                let scale = dropconnect.train_scale();
                self.backward_unchecked(params, Some(mask), scale, grads, io);
            }
            Mode::Eval => {
                let scale = dropconnect.eval_scale();
                self.backward_unchecked(params, None, scale, grads, io);
            }
        }
        Ok(())
    }

    fn forward_unchecked(
        &self,
        params: DenseParams<'_>,
        mask: Option<&[u8]>,
        scale: f32,
        io: ForwardBuffers<'_>,
    ) {
        let (i, o) = (self.inputs, self.outputs);
        let ForwardBuffers {
            batch,
            input,
            output,
            scratch,
        } = io;
        let epilogue = Epilogue {
            alpha: scale,
            overwrite_with_bias: Some(params.bias),
            mask: None,
            relu: self.relu,
        };
        if batch <= GEMV_MAX_BATCH {
            if o > 0 {
                gemv(batch, o, i, input, params.weights, mask, output, epilogue);
            }
            return;
        }
        gemm(
            batch,
            o,
            i,
            AMat::RowMajor { data: input, ld: i },
            BMat {
                data: params.weights,
                ld: i,
                transposed: true,
                mask,
            },
            output,
            o,
            scratch,
            epilogue,
        );
    }

    fn backward_unchecked(
        &self,
        params: DenseParams<'_>,
        mask: Option<&[u8]>,
        scale: f32,
        grads: DenseGrads<'_>,
        io: BackwardBuffers<'_>,
    ) {
        let (i, o) = (self.inputs, self.outputs);
        let BackwardBuffers {
            batch,
            input,
            output,
            grad_output,
            grad_input,
            scratch,
        } = io;
        if self.relu {
            relu_backward_unchecked(output, grad_output);
        }
        let dy = &*grad_output;
        // db += column sums of dy.
        for row in dy.chunks_exact(o.max(1)).take(batch) {
            for (g, &d) in grads.bias.iter_mut().zip(row) {
                *g += d;
            }
        }
        // dW[o x i] += scale * (dy^T x) ⊙ M: A = dy^T (column-major view of dy).
        gemm(
            o,
            i,
            batch,
            AMat::ColMajor { data: dy, ld: o },
            BMat {
                data: input,
                ld: i,
                transposed: false,
                mask: None,
            },
            grads.weights,
            i,
            scratch,
            Epilogue {
                alpha: scale,
                overwrite_with_bias: None,
                mask,
                relu: false,
            },
        );
        // dx[batch x i] = scale * dy (W ⊙ M).
        if let Some(dx) = grad_input {
            gemm(
                batch,
                i,
                o,
                AMat::RowMajor { data: dy, ld: o },
                BMat {
                    data: params.weights,
                    ld: i,
                    transposed: false,
                    mask,
                },
                dx,
                i,
                scratch,
                Epilogue {
                    alpha: scale,
                    overwrite_with_bias: Some(&[]),
                    mask: None,
                    relu: false,
                },
            );
        }
    }

    fn check_lens(
        &self,
        batch: usize,
        params: DenseParams<'_>,
        (input, output, scratch): (usize, usize, usize),
    ) -> Result<(), Error> {
        check_len(product(batch, self.inputs)?, input)?;
        check_len(product(batch, self.outputs)?, output)?;
        check_len(product(self.outputs, self.inputs)?, params.weights.len())?;
        check_len(self.outputs, params.bias.len())?;
        check_at_least(Self::SCRATCH_LEN, scratch)
    }

    fn check_forward(&self, params: DenseParams<'_>, io: &ForwardBuffers<'_>) -> Result<(), Error> {
        let lens = (io.input.len(), io.output.len(), io.scratch.len());
        self.check_lens(io.batch, params, lens)
    }

    fn check_backward(
        &self,
        params: DenseParams<'_>,
        grads: &DenseGrads<'_>,
        io: &BackwardBuffers<'_>,
    ) -> Result<(), Error> {
        let lens = (io.input.len(), io.output.len(), io.scratch.len());
        self.check_lens(io.batch, params, lens)?;
        check_len(io.output.len(), io.grad_output.len())?;
        check_len(params.weights.len(), grads.weights.len())?;
        check_len(self.outputs, grads.bias.len())?;
        if let Some(dx) = io.grad_input.as_deref() {
            check_len(io.input.len(), dx.len())?;
        }
        Ok(())
    }
}

/// Dense and DropConnect layers in a network: the parameter region is the
/// weights, then the bias; DropConnect's mask bits sit in the saved region.
impl Dense {
    pub(crate) fn forward_pass(&self, io: ForwardIo<'_>) -> Result<(), Error> {
        let (weights, bias) = io.params.split_at(self.weights_len());
        let params = DenseParams { weights, bias };
        self.forward(params, io.buffers())
    }

    pub(crate) fn forward_pass_dropconnect(
        &self,
        dropconnect: &DropConnect,
        io: ForwardIo<'_>,
        draws: &mut Draws<'_>,
    ) -> Result<(), Error> {
        let (weights, bias) = io.params.split_at(self.weights_len());
        let params = DenseParams { weights, bias };
        let (buffers, saved) = io.buffers_and_saved();
        let (mode, rng) = (draws.stochastic, &mut *draws.masks);
        self.forward_dropconnect(dropconnect, mode, rng, bytes_mut(saved), params, buffers)
    }

    pub(crate) fn backward_pass(
        &self,
        dropconnect: Option<&DropConnect>,
        io: BackwardIo<'_>,
    ) -> Result<(), Error> {
        let (weights, bias) = io.params.split_at(self.weights_len());
        let params = DenseParams { weights, bias };
        let saved = io.saved;
        let (buffers, grads) = io.buffers_and_grads();
        let (dw, db) = grads.split_at_mut(self.weights_len());
        let grads = DenseGrads {
            weights: dw,
            bias: db,
        };
        match dropconnect {
            None => self.backward(params, grads, buffers),
            Some(dc) => {
                self.backward_dropconnect(dc, Mode::Train, bytes(saved), params, grads, buffers)
            }
        }
    }
}

/// `grad = output > 0 ? grad : 0`, the ReLU backward from the ReLU's output
/// (NaN outputs pass the gradient through). The two must have the same
/// length ([`Error::LengthMismatch`] otherwise, nothing written: it handled
/// the shorter silently once).
pub fn relu_backward(output: &[f32], grad: &mut [f32]) -> Result<(), Error> {
    check_len(output.len(), grad.len())?;
    relu_backward_unchecked(output, grad);
    Ok(())
}

/// [`relu_backward`] for lengths the caller checked.
pub(crate) fn relu_backward_unchecked(output: &[f32], grad: &mut [f32]) {
    debug_assert_eq!(output.len(), grad.len());
    for (g, &y) in grad.iter_mut().zip(output) {
        if y <= 0.0 {
            *g = 0.0;
        }
    }
}

fn product(a: usize, b: usize) -> Result<usize, Error> {
    a.checked_mul(b).ok_or(Error::ShapeOverflow)
}

fn check_len(expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, got })
    }
}

fn check_at_least(needed: usize, got: usize) -> Result<(), Error> {
    if got >= needed {
        Ok(())
    } else {
        Err(Error::BufferTooSmall { needed, got })
    }
}
