//! A network: a sequence of [`Layer`]s over `(batch, features)` activations,
//! and the layout of all of its memory in one caller-provided `f32` buffer.
//!
//! # Memory
//! [`Network::memory_len`] (a `const fn`) gives the floats the whole training
//! state takes, so firmware can declare `static mut ARENA: [f32; N]`. Per
//! layer, with `B` the batch, `i`/`o` its input/output features:
//!
//! | layer | parameters | activations and saved state |
//! |---|---|---|
//! | `Dense` | `o i + o` | `B o` |
//! | `DenseDropConnect` | `o i + o` | `B o` + `ceil(o i / 32)` (bit mask) |
//! | `Relu`, `Dropout` | 0 | `B o` (+ `ceil(B o / 32)` mask for dropout) |
//! | `BatchNorm` | `2 o` (+ `2 o` running stats) | `B o` + `(B + 3) o` saved (`x_hat`, `inv_std`, the batch mean and variance until the loss is known finite) |
//! | `Residual` (hidden `h`) | `2 h o + h + o` | `B o` + `B h` + 1 |
//!
//! Every parameter float costs `2 + s` floats (itself, its gradient, `s` floats
//! of optimizer state: 0 SGD, 1 momentum, 2 Adam), plus 1 for the best-weights
//! snapshot when early stopping restores weights. Then come one float per
//! layer (its last update-to-weight ratio), the input batch
//! (`B i_0`), its labels (`B`), two gradient buffers of `B * max features` (three
//! with residual blocks; a first dense layer's inputs do not count, since its
//! input gradient is never computed), and the GEMM packing panel
//! ([`crate::Dense::SCRATCH_LEN`]: 8192 floats with AVX-512, 2048 with other
//! SIMD, none on targets without SIMD).

use crate::layers::augment::ImageShape;
use crate::layers::batch_norm::BatchNorm;
use crate::layers::conv::Conv2d;
use crate::size::{add, mul};
use crate::{mask_bytes, Dense, Dropout};

/// How a residual block with stochastic depth scales its branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthScaling {
    /// Huang et al. 2016: train `x + b f(x)`, eval `x + q f(x)`.
    Paper,
    /// torchvision `StochasticDepth`: train `x + b f(x) / q`, eval `x + f(x)`.
    Inverted,
}

/// One layer of a [`Network`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Layer {
    /// Fully connected, optionally with a fused ReLU ([`Dense::with_relu`]).
    Dense(Dense),
    /// Fully connected with DropConnect on its weights.
    DenseDropConnect(Dense, Dropout),
    /// `max(x, 0)` over `features`.
    Relu {
        /// Features.
        features: usize,
    },
    /// Vanilla or inverted dropout over `features`.
    Dropout {
        /// Features.
        features: usize,
        /// Kind and keep probability.
        dropout: Dropout,
    },
    /// Batch normalization over `features`.
    BatchNorm(BatchNorm),
    /// `y = x + b * s * f(x)` with `f = Dense(features -> hidden) + ReLU ->
    /// Dense(hidden -> features)`, `b ~ Bernoulli(survival)` drawn once per batch
    /// (torchvision's `batch` mode). A dropped branch is not computed at all.
    Residual {
        /// Features in and out.
        features: usize,
        /// Width of the branch.
        hidden: usize,
        /// Probability the branch survives, in `(0, 1]`.
        survival: f32,
        /// Which scaling convention.
        scaling: DepthScaling,
    },
    /// 2-D convolution over `(channels, height, width)` images, optionally with
    /// a ReLU.
    Conv2d {
        /// The shape.
        conv: Conv2d,
        /// Apply `max(., 0)` to the output.
        relu: bool,
    },
    /// `k x k` max pooling with `stride`, per channel.
    MaxPool {
        /// Input image shape.
        shape: ImageShape,
        /// Window side (at most 16).
        k: usize,
        /// Stride.
        stride: usize,
    },
    /// `k x k` average pooling with `stride`, per channel (no padding).
    AvgPool {
        /// Input image shape.
        shape: ImageShape,
        /// Window side (at most 16).
        k: usize,
        /// Stride.
        stride: usize,
    },
    /// Fractional max pooling (Graham 2014) to `out_height x out_width`, with
    /// random or pseudorandom boundaries drawn once per batch and axis (the
    /// paper draws per plane), disjoint or overlapping regions; eval as
    /// [`FmpEval`] says.
    FractionalMaxPool {
        /// Input image shape.
        shape: ImageShape,
        /// Output height (`out < in <= 2 out`).
        out_height: usize,
        /// Output width.
        out_width: usize,
        /// Regions `[a_{i-1}, a_i]` instead of `[a_{i-1}, a_i)`.
        overlapping: bool,
        /// How the boundaries are drawn.
        increments: FmpIncrements,
        /// What eval computes.
        eval: FmpEval,
    },
}

/// How [`Layer::FractionalMaxPool`] draws its region boundaries (Graham 2014).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmpIncrements {
    /// `a_i = ceil(alpha (i + u)) - ceil(alpha u)` for one uniform `u` per axis.
    Pseudorandom,
    /// A uniformly random arrangement of the increments 1 and 2.
    Random,
}

/// What [`Layer::FractionalMaxPool`] computes in eval mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmpEval {
    /// The mean output of `n >= 1` fixed samplings, the paper's test-time
    /// averaging (`n = 1`: one fixed sampling). Sampling `s` of `n` takes
    /// `u = (s + 1/2) / n` on both axes for pseudorandom boundaries, and the
    /// arrangements drawn from seed `s` (rows, then columns) for random ones.
    Average(u8),
    /// The mean over every distinct pair of row and column boundaries, each
    /// weighted as train draws it: the expectation of the train output
    /// (exact up to train's `u` having 24 bits). Pseudorandom boundaries take
    /// `in / gcd(in, out)` equally likely pieces per axis
    /// ([`crate::layers::pool::fmp_pseudorandom_pieces`]), random ones
    /// `C(out, in - out)` arrangements
    /// ([`crate::layers::pool::fmp_random_count`]); the product of the two
    /// axes' counts must not exceed [`MAX_EXACT_FMP_SAMPLINGS`].
    Exact,
}

/// Most samplings [`FmpEval::Exact`] runs (each is one pooling pass in eval).
pub const MAX_EXACT_FMP_SAMPLINGS: usize = 4096;

/// Largest output side of a pooling layer (its regions sit on the stack).
pub const MAX_POOL_SIDE: usize = 256;

/// Survival probability of block `l` of `total` (from 1) under linear decay to
/// `last` (Huang et al. use `last = 0.5`): `1 - (l / total)(1 - last)`.
pub fn linear_survival(l: usize, total: usize, last: f32) -> f32 {
    1.0 - (l as f32 / total.max(1) as f32) * (1.0 - last)
}

const fn ceil_words(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

impl Layer {
    /// Input features.
    pub const fn inputs(&self) -> usize {
        match *self {
            Layer::Dense(d) | Layer::DenseDropConnect(d, _) => d.inputs(),
            Layer::Relu { features }
            | Layer::Dropout { features, .. }
            | Layer::Residual { features, .. } => features,
            Layer::BatchNorm(bn) => bn.features(),
            Layer::Conv2d { conv, .. } => mul(mul(conv.in_channels, conv.height), conv.width),
            Layer::MaxPool { shape, .. }
            | Layer::AvgPool { shape, .. }
            | Layer::FractionalMaxPool { shape, .. } => shape.len(),
        }
    }

    /// Output features.
    pub const fn outputs(&self) -> usize {
        match *self {
            Layer::Dense(d) | Layer::DenseDropConnect(d, _) => d.outputs(),
            Layer::Conv2d { conv, .. } => {
                mul(mul(conv.out_channels, conv.out_height()), conv.out_width())
            }
            Layer::MaxPool { shape, k, stride } | Layer::AvgPool { shape, k, stride } => {
                let oh = if stride == 0 || shape.height < k {
                    0
                } else {
                    (shape.height - k) / stride + 1
                };
                let ow = if stride == 0 || shape.width < k {
                    0
                } else {
                    (shape.width - k) / stride + 1
                };
                mul(mul(shape.channels, oh), ow)
            }
            Layer::FractionalMaxPool {
                shape,
                out_height,
                out_width,
                ..
            } => mul(mul(shape.channels, out_height), out_width),
            _ => self.inputs(),
        }
    }

    /// Trainable floats.
    pub const fn params_len(&self) -> usize {
        match *self {
            Layer::Dense(d) | Layer::DenseDropConnect(d, _) => add(d.weights_len(), d.outputs()),
            Layer::BatchNorm(bn) => mul(2, bn.features()),
            Layer::Residual {
                features, hidden, ..
            } => add(mul(mul(2, features), hidden), add(hidden, features)),
            Layer::Conv2d { conv, .. } => add(conv.weights_len(), conv.out_channels),
            Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::FractionalMaxPool { .. } => 0,
        }
    }

    /// Non-trainable state saved with the weights (batch norm's running stats).
    pub const fn buffers_len(&self) -> usize {
        match *self {
            Layer::BatchNorm(bn) => mul(2, bn.features()),
            _ => 0,
        }
    }

    /// Floats a train forward saves for backward, besides the output.
    pub const fn saved_len(&self, batch: usize) -> usize {
        match *self {
            Layer::DenseDropConnect(d, _) => ceil_words(d.dropconnect_mask_bytes()),
            Layer::Dropout { features, .. } => ceil_words(mask_bytes(mul(batch, features))),
            Layer::BatchNorm(bn) => bn.saved_len(batch),
            Layer::Residual { hidden, .. } => add(mul(batch, hidden), 1),
            Layer::MaxPool { .. } => ceil_words(mul(batch, self.outputs())),
            // Argmax bytes, then the row and column regions as (u16, u16) words.
            Layer::FractionalMaxPool {
                out_height,
                out_width,
                ..
            } => add(
                ceil_words(mul(batch, self.outputs())),
                add(out_height, out_width),
            ),
            Layer::Dense(_) | Layer::Relu { .. } | Layer::Conv2d { .. } | Layer::AvgPool { .. } => {
                0
            }
        }
    }

    /// Floats of scratch besides the GEMM panel (a convolution's columns).
    pub const fn scratch_len(&self) -> usize {
        match *self {
            Layer::Conv2d { conv, .. } => {
                conv.scratch_len() - crate::kernels::gemm::GEMM_SCRATCH_LEN
            }
            _ => 0,
        }
    }

    /// Whether the layer has weight matrices (dense, convolution, residual):
    /// the tensors weight decay applies to and update ratios are measured on.
    pub const fn has_weights(&self) -> bool {
        matches!(
            self,
            Layer::Dense(_)
                | Layer::DenseDropConnect(..)
                | Layer::Conv2d { .. }
                | Layer::Residual { .. }
        )
    }

    /// Widest activation the layer touches as the network's first layer: a
    /// first dense layer's input gradient is never computed (nothing needs
    /// it), so its inputs take no gradient buffer (4 KB of the firmware's RAM).
    pub const fn widest_as_first(&self) -> usize {
        match *self {
            Layer::Dense(d) | Layer::DenseDropConnect(d, _) => d.outputs(),
            _ => self.widest(),
        }
    }

    /// Widest activation the layer touches (for the gradient buffers).
    pub const fn widest(&self) -> usize {
        let io = if self.inputs() > self.outputs() {
            self.inputs()
        } else {
            self.outputs()
        };
        match *self {
            Layer::Residual { hidden, .. } if hidden > io => hidden,
            _ => io,
        }
    }
}

/// A sequence of layers; the last one's outputs are the class logits.
#[derive(Clone, Copy, Debug)]
pub struct Network<'a> {
    layers: &'a [Layer],
}

/// Where each region of the memory buffer starts (offsets in floats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub params: usize,
    pub grads: usize,
    pub opt_state: usize,
    pub best: usize,
    pub buffers: usize,
    pub best_buffers: usize,
    pub ratios: usize,
    pub input: usize,
    pub labels: usize,
    pub acts: usize,
    pub saved: usize,
    pub grad_a: usize,
    pub grad_b: usize,
    pub grad_c: usize,
    pub scratch: usize,
    pub end: usize,
}

impl<'a> Network<'a> {
    /// A network over `layers` (checked when a [`crate::Trainer`] is made).
    pub const fn new(layers: &'a [Layer]) -> Self {
        Network { layers }
    }

    /// The layers.
    pub const fn layers(&self) -> &'a [Layer] {
        self.layers
    }

    /// Input features.
    pub const fn inputs(&self) -> usize {
        if self.layers.is_empty() {
            0
        } else {
            self.layers[0].inputs()
        }
    }

    /// Output features (classes).
    pub const fn outputs(&self) -> usize {
        if self.layers.is_empty() {
            0
        } else {
            self.layers[self.layers.len() - 1].outputs()
        }
    }

    /// Trainable floats of the whole network.
    pub const fn params_len(&self) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, self.layers[l].params_len());
            l += 1;
        }
        total
    }

    pub(crate) const fn buffers_len(&self) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, self.layers[l].buffers_len());
            l += 1;
        }
        total
    }

    pub(crate) const fn acts_len(&self, batch: usize) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, mul(batch, self.layers[l].outputs()));
            l += 1;
        }
        total
    }

    pub(crate) const fn saved_len(&self, batch: usize) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, self.layers[l].saved_len(batch));
            l += 1;
        }
        total
    }

    const fn has_residual(&self) -> bool {
        let mut l = 0;
        while l < self.layers.len() {
            if matches!(self.layers[l], Layer::Residual { .. }) {
                return true;
            }
            l += 1;
        }
        false
    }

    const fn extra_scratch(&self) -> usize {
        let mut w = 0;
        let mut l = 0;
        while l < self.layers.len() {
            let x = self.layers[l].scratch_len();
            if x > w {
                w = x;
            }
            l += 1;
        }
        w
    }

    const fn widest(&self) -> usize {
        let mut w = 0;
        let mut l = 0;
        while l < self.layers.len() {
            let x = if l == 0 {
                self.layers[l].widest_as_first()
            } else {
                self.layers[l].widest()
            };
            if x > w {
                w = x;
            }
            l += 1;
        }
        w
    }

    pub(crate) const fn plan(&self, batch: usize, state_per_param: usize, keep_best: bool) -> Plan {
        // Saturating throughout: a plan that overflows ends at usize::MAX,
        // which `Trainer::new` refuses (it wrapped to a few floats once).
        let p = self.params_len();
        let bufs = self.buffers_len();
        let params = 0;
        let grads = add(params, p);
        let opt_state = add(grads, p);
        let best = add(opt_state, mul(state_per_param, p));
        let buffers = add(best, if keep_best { p } else { 0 });
        let best_buffers = add(buffers, bufs);
        let ratios = add(best_buffers, if keep_best { bufs } else { 0 });
        let input = add(ratios, self.layers.len());
        let labels = add(input, mul(batch, self.inputs()));
        let acts = add(labels, batch);
        let saved = add(acts, self.acts_len(batch));
        let grad_a = add(saved, self.saved_len(batch));
        let grad_b = add(grad_a, mul(batch, self.widest()));
        let grad_c = add(grad_b, mul(batch, self.widest()));
        // The third gradient buffer only serves residual branches.
        let scratch = add(
            grad_c,
            if self.has_residual() {
                mul(batch, self.widest())
            } else {
                0
            },
        );
        let end = add(add(scratch, self.extra_scratch()), Dense::SCRATCH_LEN);
        Plan {
            params,
            grads,
            opt_state,
            best,
            buffers,
            best_buffers,
            ratios,
            input,
            labels,
            acts,
            saved,
            grad_a,
            grad_b,
            grad_c,
            scratch,
            end,
        }
    }

    /// Floats of memory training takes at batch size `batch`, with
    /// `state_per_param` optimizer floats per parameter
    /// ([`crate::Optimizer::state_per_param`]) and, if `keep_best`, a snapshot of
    /// the best weights for early stopping.
    ///
    /// ```
    /// use tinyreg::{Dense, Layer, Network, Optimizer};
    /// const LAYERS: [Layer; 2] = [Layer::Dense(Dense::new(64, 32).with_relu()), Layer::Dense(Dense::new(32, 10))];
    /// const FLOATS: usize = Network::new(&LAYERS).memory_len(16, Optimizer::ADAM.state_per_param(), false);
    /// static mut ARENA: [f32; FLOATS] = [0.0; FLOATS]; // sized at compile time
    /// assert!(FLOATS > 4 * (64 * 32 + 32 + 32 * 10 + 10));
    /// ```
    pub const fn memory_len(&self, batch: usize, state_per_param: usize, keep_best: bool) -> usize {
        self.plan(batch, state_per_param, keep_best).end
    }
}
