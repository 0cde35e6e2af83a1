//! Residual blocks with stochastic depth (Huang et al. 2016).
//!
//! - Around any layers: [`crate::layers::layer::Layer::ResidualStart`] ... `ResidualEnd`,
//!   `y = skip(x) + m f(x)` with `skip` the identity or a projection and `m`
//!   the branch's multiplier: in train `b s` with `b ~ Bernoulli(survival)`
//!   per batch or per sample and `s` the scaling's train scale (1 for the
//!   paper's, `1/q` for torchvision's); in eval the scaling's eval scale (`q`
//!   or 1). The start saves `m` (one, or one per sample) for its end and for
//!   backward; a batch whose branch is dropped skips the branch's layers
//!   forward and backward (the trainer reads the saved `m = 0`).
//! - The original fixed block [`crate::layers::layer::Layer::Residual`]: `f = Dense(features
//!   -> hidden) + ReLU -> Dense(hidden -> features)`, one draw per batch.
//!   Memory: parameters `W1, b1, W2, b2`; saved one flag (did the branch
//!   run) then the hidden activations (`rows * hidden`).

use crate::error::Error;
use crate::kernels::bernoulli::{bernoulli_mask, mask_bit, Keep};
use crate::layers::buffers::{BackwardBuffers, ForwardBuffers};
use crate::layers::conv::Conv2d;
use crate::layers::dense::{Dense, DenseGrads, DenseParams};
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};
use crate::size::{add, mul};

/// How a residual block with stochastic depth scales its branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthScaling {
    /// Huang et al. 2016: train `x + b f(x)`, eval `x + q f(x)`.
    Paper,
    /// torchvision `StochasticDepth`: train `x + b f(x) / q`, eval `x + f(x)`.
    Inverted,
}

/// Stochastic depth for a residual block (Huang et al. 2016): the branch
/// survives with probability `survival`, once per batch (a dropped branch is
/// not computed at all, forward or backward) or per sample (torchvision's
/// `StochasticDepth(mode="row")`: the branch runs for the whole batch and each
/// row keeps or drops it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StochasticDepth {
    /// Probability the branch survives, in `(0, 1]`; 1 is a plain residual
    /// block ([`linear_survival`] gives the paper's decay over depth).
    pub survival: f32,
    /// Which scaling convention.
    pub scaling: DepthScaling,
    /// One draw per sample instead of one per batch.
    pub per_row: bool,
}

impl StochasticDepth {
    /// A block that always runs: `y = skip(x) + f(x)`.
    pub const ALWAYS: StochasticDepth = StochasticDepth {
        survival: 1.0,
        scaling: DepthScaling::Inverted,
        per_row: false,
    };
}

/// How a residual block's input reaches its output when the branch changes
/// the shape (ResNet's "option B" projection shortcut).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Projection {
    /// A convolution of the input images (usually 1x1, with the branch's stride).
    Conv(Conv2d),
    /// A dense layer of the input features (no ReLU).
    Dense(Dense),
}

impl Projection {
    /// Input features.
    pub const fn inputs(&self) -> usize {
        match *self {
            Projection::Conv(conv) => mul(mul(conv.in_channels, conv.height), conv.width),
            Projection::Dense(d) => d.inputs(),
        }
    }

    /// Output features.
    pub const fn outputs(&self) -> usize {
        match *self {
            Projection::Conv(conv) => {
                mul(mul(conv.out_channels, conv.out_height()), conv.out_width())
            }
            Projection::Dense(d) => d.outputs(),
        }
    }

    /// Trainable floats: weights then bias.
    pub const fn params_len(&self) -> usize {
        add(self.weights_len(), self.bias_len())
    }

    /// Weight floats (the parameters start with them).
    pub const fn weights_len(&self) -> usize {
        match *self {
            Projection::Conv(conv) => conv.weights_len(),
            Projection::Dense(d) => d.weights_len(),
        }
    }

    /// Bias floats: one per output channel or feature.
    pub const fn bias_len(&self) -> usize {
        match *self {
            Projection::Conv(conv) => conv.out_channels,
            Projection::Dense(d) => d.outputs(),
        }
    }
}

/// Survival probability of block `l` of `total` (from 1) under linear decay to
/// `last` (Huang et al. use `last = 0.5`): `1 - (l / total)(1 - last)`.
pub fn linear_survival(l: usize, total: usize, last: f32) -> f32 {
    1.0 - (l as f32 / total.max(1) as f32) * (1.0 - last)
}

/// The shape and rule of one block, as [`crate::layers::layer::Layer::Residual`] gives them.
#[derive(Clone, Copy)]
pub(crate) struct Residual {
    pub features: usize,
    pub hidden: usize,
    pub survival: f32,
    pub scaling: DepthScaling,
}

/// The branch's two layers and their parameters, split from one region.
struct Branch<'a> {
    first: (Dense, DenseParams<'a>),
    second: (Dense, DenseParams<'a>),
}

impl Residual {
    fn branch<'a>(&self, params: &'a [f32]) -> Branch<'a> {
        let (f, h) = (self.features, self.hidden);
        let (w1, rest) = params.split_at(h * f);
        let (b1, rest) = rest.split_at(h);
        let (w2, b2) = rest.split_at(f * h);
        Branch {
            first: (
                Dense::new(f, h).with_relu(),
                DenseParams {
                    weights: w1,
                    bias: b1,
                },
            ),
            second: (
                Dense::new(h, f),
                DenseParams {
                    weights: w2,
                    bias: b2,
                },
            ),
        }
    }

    /// The branch's scale in a train pass that keeps it, and in eval.
    fn scales(&self) -> Result<(f32, f32), Error> {
        depth_scales(StochasticDepth {
            survival: self.survival,
            scaling: self.scaling,
            per_row: false,
        })
    }

    pub(crate) fn forward_pass(
        &self,
        io: ForwardIo<'_>,
        draws: &mut Draws<'_>,
    ) -> Result<(), Error> {
        let keep = Keep::new(self.survival)?;
        let (train_scale, eval_scale) = self.scales()?;
        let (kept, scale) = match draws.stochastic {
            Mode::Train => {
                let mut bit = [0u8; 1];
                bernoulli_mask(keep, draws.masks, 1, &mut bit)?;
                (bit[0] & 1 == 1, train_scale)
            }
            Mode::Eval => (true, eval_scale),
        };
        let (flag, hidden) = io.saved.split_at_mut(1);
        flag[0] = if kept { 1.0 } else { 0.0 };
        if !kept {
            io.output.copy_from_slice(io.input);
            return Ok(());
        }
        let branch = self.branch(io.params);
        let (first, p1) = branch.first;
        let (second, p2) = branch.second;
        let rows = io.rows;
        let (input, scratch) = (io.input, &mut *io.scratch);
        first.forward(p1, buffers(rows, input, hidden, scratch))?;
        second.forward(p2, buffers(rows, hidden, io.output, scratch))?;
        for (y, &x) in io.output.iter_mut().zip(io.input.iter()) {
            *y = x + scale * *y;
        }
        Ok(())
    }

    /// `grad_in` holds the scaled output gradient, then the branch's input
    /// gradient, to which the identity path's is added; `spare` holds the
    /// hidden gradient.
    pub(crate) fn backward_pass(&self, io: BackwardIo<'_>) -> Result<(), Error> {
        let (flag, hidden) = io.saved.split_at(1);
        if flag[0] != 1.0 {
            io.grad_in.copy_from_slice(io.grad_out);
            return Ok(());
        }
        let (scale, _) = self.scales()?;
        let (f, h) = (self.features, self.hidden);
        let branch = self.branch(io.params);
        let (first, p1) = branch.first;
        let (second, p2) = branch.second;
        let (dw1, rest) = io.grads.split_at_mut(h * f);
        let (db1, rest) = rest.split_at_mut(h);
        let (dw2, db2) = rest.split_at_mut(f * h);
        for (g, &d) in io.grad_in.iter_mut().zip(io.grad_out.iter()) {
            *g = scale * d;
        }
        let dh = &mut io.spare[..io.rows * h];
        let g2 = DenseGrads {
            weights: dw2,
            bias: db2,
        };
        let rows = io.rows;
        let io2 = BackwardBuffers {
            batch: rows,
            input: hidden,
            output: io.output,
            grad_output: io.grad_in,
            grad_input: Some(dh),
            scratch: io.scratch,
        };
        second.backward(p2, g2, io2)?;
        let g1 = DenseGrads {
            weights: dw1,
            bias: db1,
        };
        let dh = &mut io.spare[..rows * h];
        let io1 = BackwardBuffers {
            batch: rows,
            input: io.input,
            output: hidden,
            grad_output: dh,
            grad_input: Some(io.grad_in),
            scratch: io.scratch,
        };
        first.backward(p1, g1, io1)?;
        for (g, &d) in io.grad_in.iter_mut().zip(io.grad_out.iter()) {
            *g += d;
        }
        Ok(())
    }
}

/// The branch multiplier's train (when kept) and eval values.
fn depth_scales(depth: StochasticDepth) -> Result<(f32, f32), Error> {
    let q = Keep::new(depth.survival)?.probability() as f32;
    Ok(match depth.scaling {
        DepthScaling::Paper => (1.0, q),
        DepthScaling::Inverted => (1.0 / q, 1.0),
    })
}

/// Mask bits drawn at a time for per-sample stochastic depth (a stack buffer).
const DRAW_CHUNK: usize = 512;

/// A block's start: passes its input on (the branch reads it, the end adds it
/// back) and saves the branch's multiplier(s) `m` in `saved`.
pub(crate) fn start_forward_pass(
    depth: StochasticDepth,
    io: ForwardIo<'_>,
    draws: &mut Draws<'_>,
) -> Result<(), Error> {
    let keep = Keep::new(depth.survival)?;
    let (train_scale, eval_scale) = depth_scales(depth)?;
    match draws.stochastic {
        Mode::Train => {
            for chunk in io.saved.chunks_mut(DRAW_CHUNK) {
                let mut bits = [0u8; DRAW_CHUNK / 8];
                let bytes = chunk.len().div_ceil(8);
                bernoulli_mask(keep, draws.masks, chunk.len(), &mut bits[..bytes])?;
                for (i, m) in chunk.iter_mut().enumerate() {
                    *m = if mask_bit(&bits, i) { train_scale } else { 0.0 };
                }
            }
        }
        Mode::Eval => io.saved.fill(eval_scale),
    }
    io.output.copy_from_slice(io.input);
    Ok(())
}

/// Multiplier of sample `row`: the one saved value, or the row's own.
fn multiplier(block_scales: &[f32], row: usize) -> f32 {
    match block_scales {
        [m] => *m,
        per_row => per_row[row],
    }
}

/// A block's end: `output = skip(block input) + m * branch output`; a
/// sample with `m = 0` never reads the branch (it did not run, or its value
/// may be anything).
pub(crate) fn end_forward_pass(
    projection: Option<Projection>,
    io: ForwardIo<'_>,
) -> Result<(), Error> {
    match projection {
        None => io.output.copy_from_slice(io.skip),
        Some(Projection::Dense(d)) => {
            let (weights, bias) = io.params.split_at(d.weights_len());
            let params = DenseParams { weights, bias };
            d.forward(params, buffers(io.rows, io.skip, io.output, io.scratch))?;
        }
        Some(Projection::Conv(conv)) => {
            let (weights, bias) = io.params.split_at(conv.weights_len());
            let io = buffers(io.rows, io.skip, io.output, io.scratch);
            conv.forward(weights, bias, false, io)?;
        }
    }
    let width = io.output.len() / io.rows.max(1);
    for (row, (y, f)) in io
        .output
        .chunks_exact_mut(width.max(1))
        .zip(io.input.chunks_exact(width.max(1)))
        .enumerate()
    {
        let m = multiplier(io.block_scales, row);
        if m != 0.0 {
            for (y, &f) in y.iter_mut().zip(f) {
                *y += m * f;
            }
        }
    }
    Ok(())
}

/// A block's end backward: the branch's output gradient `m dy` into
/// `grad_in` (where the branch ran), and the skip path's gradient of the
/// block's input into `spare` for the start (through the projection, whose
/// parameter gradients accumulate).
pub(crate) fn end_backward_pass(
    projection: Option<Projection>,
    io: BackwardIo<'_>,
) -> Result<(), Error> {
    let width = io.grad_out.len() / io.rows.max(1);
    for (row, (g, d)) in io
        .grad_in
        .chunks_exact_mut(width.max(1))
        .zip(io.grad_out.chunks_exact(width.max(1)))
        .enumerate()
    {
        let m = multiplier(io.block_scales, row);
        for (g, &d) in g.iter_mut().zip(d) {
            *g = m * d;
        }
    }
    match projection {
        None => io.spare.copy_from_slice(io.grad_out),
        Some(Projection::Dense(d)) => {
            let (weights, bias) = io.params.split_at(d.weights_len());
            let params = DenseParams { weights, bias };
            let (buffers, grads) = projection_buffers(io);
            let (dw, db) = grads.split_at_mut(d.weights_len());
            let grads = DenseGrads {
                weights: dw,
                bias: db,
            };
            d.backward(params, grads, buffers)?;
        }
        Some(Projection::Conv(conv)) => {
            let weights = &io.params[..conv.weights_len()];
            let (buffers, grads) = projection_buffers(io);
            let (dw, db) = grads.split_at_mut(conv.weights_len());
            conv.backward(weights, false, dw, db, buffers)?;
        }
    }
    Ok(())
}

/// The forward buffers of one weighted call inside a block.
fn buffers<'a>(
    batch: usize,
    input: &'a [f32],
    output: &'a mut [f32],
    scratch: &'a mut [f32],
) -> ForwardBuffers<'a> {
    ForwardBuffers {
        batch,
        input,
        output,
        scratch,
    }
}

/// The projection's backward buffers at a block's end: its input is the
/// block's (`skip`), its input gradient goes to `spare`.
fn projection_buffers<'a>(io: BackwardIo<'a>) -> (BackwardBuffers<'a>, &'a mut [f32]) {
    let buffers = BackwardBuffers {
        batch: io.rows,
        input: io.skip,
        output: io.output,
        grad_output: io.grad_out,
        grad_input: Some(io.spare),
        scratch: io.scratch,
    };
    (buffers, io.grads)
}

/// A block's start backward: the gradient of its input is the branch's
/// (`grad_out`, unless the batch dropped the branch) plus the skip path's
/// (`spare`).
pub(crate) fn start_backward_pass(io: BackwardIo<'_>) {
    if io.saved == [0.0] {
        io.grad_in.copy_from_slice(io.spare);
        return;
    }
    for ((g, &d), &s) in io
        .grad_in
        .iter_mut()
        .zip(io.grad_out.iter())
        .zip(io.spare.iter())
    {
        *g = d + s;
    }
}
