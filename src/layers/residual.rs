//! A residual block with stochastic depth (Huang et al. 2016):
//! `y = x + b * s * f(x)`, `f = Dense(features -> hidden) + ReLU ->
//! Dense(hidden -> features)`, `b ~ Bernoulli(survival)` drawn once per batch.
//! A dropped branch is neither computed forward nor backward.
//!
//! Memory: parameters `W1, b1, W2, b2`; saved one flag (did the branch run)
//! then the hidden activations (`rows * hidden`).

use crate::error::Error;
use crate::kernels::bernoulli::{bernoulli_mask, Keep};
use crate::layers::dense::{Dense, DenseGrads, DenseParams};
use crate::layers::layer::DepthScaling;
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};

/// The shape and rule of one block, as [`crate::Layer::Residual`] gives them.
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
        let q = Keep::new(self.survival)?.probability() as f32;
        Ok(match self.scaling {
            DepthScaling::Paper => (1.0, q),
            DepthScaling::Inverted => (1.0 / q, 1.0),
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
        first.forward(io.rows, p1, io.input, hidden, io.scratch)?;
        second.forward(io.rows, p2, hidden, io.output, io.scratch)?;
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
        second.backward(
            rows,
            p2,
            hidden,
            io.output,
            io.grad_in,
            g2,
            Some(dh),
            io.scratch,
        )?;
        let g1 = DenseGrads {
            weights: dw1,
            bias: db1,
        };
        let dh = &mut io.spare[..rows * h];
        first.backward(
            rows,
            p1,
            io.input,
            hidden,
            dh,
            g1,
            Some(io.grad_in),
            io.scratch,
        )?;
        for (g, &d) in io.grad_in.iter_mut().zip(io.grad_out.iter()) {
            *g += d;
        }
        Ok(())
    }
}
