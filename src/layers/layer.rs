//! [`Layer`]: one layer of a network, its shape and its memory, and the
//! forward and backward the trainer dispatches to (each kind's own code sits in
//! its module: `layers/dense.rs`, `layers/pool/network_layer.rs`,
//! `layers/residual.rs`, ...).

use crate::error::Error;
use crate::kernels::bernoulli::{mask_bytes, Keep};
use crate::layers::activation;
use crate::layers::augment::ImageShape;
use crate::layers::batch_norm::BatchNorm;
use crate::layers::conv::Conv2d;
use crate::layers::dense::Dense;
use crate::layers::dropout::Dropout;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};
use crate::layers::pool::network_layer::Pooling;
use crate::layers::pool::{self, global_avg};
use crate::layers::residual::{self, Residual};
// The kinds' own types live with their code; the old paths stay.
pub use crate::layers::pool::{
    FmpEval, FmpIncrements, FmpWindows, MAX_EXACT_FMP_SAMPLINGS, MAX_POOL_SIDE,
};
pub use crate::layers::residual::{linear_survival, DepthScaling, Projection, StochasticDepth};
use crate::layers::spatial_dropout::SpatialDropout;
use crate::size::{add, mul};

/// One layer of a network (the trainer's `Network`). Every size is explicit, so a list can
/// be a `const` and its memory known at compile time; `layers::describe::
/// build_layers` fills the sizes in from the input shape instead.
///
/// ```
/// use tinyreg::{BatchNorm, Conv2d, Dense, Dropout, ImageShape, Layer, Network};
///
/// // A small CNN for 1x8x8 images: conv 3x3 (8 filters) + ReLU, batch norm per
/// // channel, 2x2 max pooling, inverted dropout, dense to 10 classes.
/// let conv = Conv2d { in_channels: 1, out_channels: 8, height: 8, width: 8, k: 3, stride: 1, padding: 1 };
/// let layers = [
///     Layer::Conv2d { conv, relu: true },
///     Layer::BatchNorm(BatchNorm::over_channels(8, 8 * 8)),
///     Layer::MaxPool { shape: ImageShape { channels: 8, height: 8, width: 8 }, k: 2, stride: 2 },
///     Layer::Dropout { features: 8 * 4 * 4, dropout: Dropout::inverted(0.8)? },
///     Layer::Dense(Dense::new(8 * 4 * 4, 10)),
/// ];
/// let net = Network::new(&layers);
/// net.validate()?; // every layer's inputs match the previous layer's outputs
/// assert_eq!((net.inputs(), net.outputs()), (64, 10));
/// assert_eq!(net.params_len(), 8 * 9 + 8 + 2 * 8 + 128 * 10 + 10);
/// # Ok::<(), tinyreg::Error>(())
/// ```
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
    /// Batch normalization over features, or per channel over the batch and
    /// each image's plane ([`BatchNorm::over_channels`], `BatchNorm2d`).
    BatchNorm(BatchNorm),
    /// Spatial dropout (`Dropout2d`): whole channels of each image.
    SpatialDropout(SpatialDropout),
    /// Each channel's plane to its mean: `(c, h, w)` to `c`.
    GlobalAvgPool {
        /// Input image shape.
        shape: ImageShape,
    },
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
    /// Opens a residual block around the layers up to the matching
    /// [`Layer::ResidualEnd`]: `y = skip(x) + m f(x)`, `f` those layers, `m`
    /// the stochastic depth's draw and scale. Blocks do not nest, hold at
    /// least one layer, and may not hold a [`Layer::Residual`].
    ResidualStart {
        /// Features of the block's input.
        features: usize,
        /// Survival, scaling, per batch or per sample.
        depth: StochasticDepth,
    },
    /// Closes a residual block: adds the block's input (or its projection)
    /// to the branch's output.
    ResidualEnd {
        /// Features of the branch's output, and the block's.
        features: usize,
        /// Maps the block's input to `features` when they differ.
        projection: Option<Projection>,
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
    /// Fractional max pooling (Graham 2014) to `out_height x out_width`:
    /// Graham's regions or PyTorch's windows ([`FmpWindows`]), drawn once per
    /// batch or, as the paper and PyTorch do, once per plane; eval as
    /// [`FmpEval`] says (the same for both: every plane's draw has the same law).
    FractionalMaxPool {
        /// Input image shape.
        shape: ImageShape,
        /// Output height.
        out_height: usize,
        /// Output width.
        out_width: usize,
        /// Which regions the draws make.
        windows: FmpWindows,
        /// A draw for every plane (sample and channel) instead of one a batch.
        per_plane: bool,
        /// What eval computes.
        eval: FmpEval,
    },
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
            | Layer::Residual { features, .. }
            | Layer::ResidualStart { features, .. }
            | Layer::ResidualEnd { features, .. } => features,
            Layer::BatchNorm(bn) => bn.sample_len(),
            Layer::SpatialDropout(sd) => sd.shape.len(),
            Layer::GlobalAvgPool { shape } => shape.len(),
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
            Layer::MaxPool { .. } | Layer::AvgPool { .. } | Layer::FractionalMaxPool { .. } => {
                match self.pooling() {
                    Some(p) => p.outputs(),
                    None => 0,
                }
            }
            Layer::GlobalAvgPool { shape } => shape.channels,
            Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::BatchNorm(_)
            | Layer::SpatialDropout(_)
            | Layer::Residual { .. }
            | Layer::ResidualStart { .. }
            | Layer::ResidualEnd { .. } => self.inputs(),
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
            Layer::ResidualEnd {
                projection: Some(p),
                ..
            } => p.params_len(),
            Layer::ResidualStart { .. } | Layer::ResidualEnd { .. } => 0,
            Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::SpatialDropout(_)
            | Layer::GlobalAvgPool { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::FractionalMaxPool { .. } => 0,
        }
    }

    /// Non-trainable state saved with the weights (batch norm's running stats).
    pub const fn buffers_len(&self) -> usize {
        match *self {
            Layer::BatchNorm(bn) => mul(2, bn.features()),
            Layer::Dense(_)
            | Layer::DenseDropConnect(..)
            | Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::SpatialDropout(_)
            | Layer::Residual { .. }
            | Layer::ResidualStart { .. }
            | Layer::ResidualEnd { .. }
            | Layer::Conv2d { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool { .. }
            | Layer::FractionalMaxPool { .. } => 0,
        }
    }

    /// Floats a train forward saves for backward, besides the output.
    pub const fn saved_len(&self, batch: usize) -> usize {
        match *self {
            Layer::DenseDropConnect(d, _) => ceil_words(d.dropconnect_mask_bytes()),
            Layer::Dropout { features, .. } => ceil_words(mask_bytes(mul(batch, features))),
            Layer::SpatialDropout(sd) => ceil_words(sd.mask_bytes(batch)),
            Layer::BatchNorm(bn) => bn.saved_len(batch),
            Layer::Residual { hidden, .. } => add(mul(batch, hidden), 1),
            // The branch's multiplier: one, or one per sample.
            Layer::ResidualStart { depth, .. } => {
                if depth.per_row {
                    batch
                } else {
                    1
                }
            }
            Layer::MaxPool { .. } => ceil_words(mul(batch, self.outputs())),
            // Argmax bytes, then the row and column regions as (u16, u16)
            // words: one set, or one a plane.
            Layer::FractionalMaxPool {
                shape,
                out_height,
                out_width,
                per_plane,
                ..
            } => add(
                ceil_words(mul(batch, self.outputs())),
                mul(
                    add(out_height, out_width),
                    if per_plane {
                        mul(batch, shape.channels)
                    } else {
                        1
                    },
                ),
            ),
            Layer::Dense(_)
            | Layer::Relu { .. }
            | Layer::Conv2d { .. }
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool { .. }
            | Layer::ResidualEnd { .. } => 0,
        }
    }

    /// Floats of scratch besides the GEMM panel (a convolution's columns).
    pub const fn scratch_len(&self) -> usize {
        match *self {
            Layer::Conv2d { conv, .. }
            | Layer::ResidualEnd {
                projection: Some(Projection::Conv(conv)),
                ..
            } => conv.scratch_len() - crate::kernels::gemm::GEMM_SCRATCH_LEN,
            Layer::Dense(_)
            | Layer::DenseDropConnect(..)
            | Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::BatchNorm(_)
            | Layer::SpatialDropout(_)
            | Layer::Residual { .. }
            | Layer::ResidualStart { .. }
            | Layer::ResidualEnd { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool { .. }
            | Layer::FractionalMaxPool { .. } => 0,
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
                | Layer::ResidualEnd {
                    projection: Some(_),
                    ..
                }
        )
    }

    /// Widest activation the layer touches as the network's first layer: a
    /// first dense layer's input gradient is never computed (nothing needs
    /// it), so its inputs take no gradient buffer (4 KB of the firmware's RAM).
    pub const fn widest_as_first(&self) -> usize {
        match *self {
            Layer::Dense(d) | Layer::DenseDropConnect(d, _) => d.outputs(),
            Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::BatchNorm(_)
            | Layer::SpatialDropout(_)
            | Layer::Residual { .. }
            | Layer::ResidualStart { .. }
            | Layer::ResidualEnd { .. }
            | Layer::Conv2d { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool { .. }
            | Layer::FractionalMaxPool { .. } => self.widest(),
        }
    }

    /// Floats per sample of the third gradient buffer the layer uses: the
    /// fixed residual branch's hidden gradient, or a block's skip gradient.
    pub const fn spare_len(&self) -> usize {
        match *self {
            Layer::Residual { .. } => self.widest(),
            Layer::ResidualStart { features, .. } => features,
            Layer::ResidualEnd {
                projection: Some(p),
                ..
            } => p.inputs(),
            Layer::ResidualEnd { features, .. } => features,
            Layer::Dense(_)
            | Layer::DenseDropConnect(..)
            | Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::BatchNorm(_)
            | Layer::SpatialDropout(_)
            | Layer::Conv2d { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool { .. }
            | Layer::FractionalMaxPool { .. } => 0,
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
            Layer::ResidualEnd {
                projection: Some(p),
                ..
            } if p.inputs() > io => p.inputs(),
            Layer::Residual { .. }
            | Layer::ResidualEnd { .. }
            | Layer::Dense(_)
            | Layer::DenseDropConnect(..)
            | Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::BatchNorm(_)
            | Layer::SpatialDropout(_)
            | Layer::ResidualStart { .. }
            | Layer::Conv2d { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::GlobalAvgPool { .. }
            | Layer::FractionalMaxPool { .. } => io,
        }
    }
}

/// What the trainer's memory holds for each kind: its parameter tensors and
/// their first values.
impl Layer {
    /// `(length, decayed)` of each parameter tensor in storage order (weight
    /// decay and update ratios apply to weight matrices, not to biases or
    /// batch norm's scale and shift); unused entries are `(0, false)`.
    pub(crate) fn param_tensors(&self) -> [(usize, bool); 4] {
        match *self {
            Layer::Dense(d) | Layer::DenseDropConnect(d, _) => [
                (d.weights_len(), true),
                (d.outputs(), false),
                (0, false),
                (0, false),
            ],
            Layer::BatchNorm(bn) => [
                (bn.features(), false),
                (bn.features(), false),
                (0, false),
                (0, false),
            ],
            Layer::Conv2d { conv, .. } => [
                (conv.weights_len(), true),
                (conv.out_channels, false),
                (0, false),
                (0, false),
            ],
            Layer::Residual {
                features: f,
                hidden: h,
                ..
            } => [(h * f, true), (h, false), (f * h, true), (f, false)],
            Layer::ResidualEnd {
                projection: Some(p),
                ..
            } => [
                (p.weights_len(), true),
                (p.bias_len(), false),
                (0, false),
                (0, false),
            ],
            Layer::ResidualStart { .. } | Layer::ResidualEnd { .. } => [(0, false); 4],
            Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::SpatialDropout(_)
            | Layer::GlobalAvgPool { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::FractionalMaxPool { .. } => [(0, false); 4],
        }
    }

    /// First values of the zeroed `params` and `buffers`: weights uniform
    /// in `±bound` from `uniform(bound)` (He for layers before a ReLU, Glorot
    /// for the logits layer `last` and a residual branch's output), biases 0,
    /// batch norm's scale and running variance 1.
    pub(crate) fn initialize(
        &self,
        params: &mut [f32],
        buffers: &mut [f32],
        last: bool,
        uniform: &mut dyn FnMut(f32) -> f32,
    ) {
        match *self {
            Layer::Dense(d) | Layer::DenseDropConnect(d, _) => {
                let (i, o) = (d.inputs(), d.outputs());
                let bound = if last {
                    libm::sqrtf(6.0 / (i + o) as f32)
                } else {
                    libm::sqrtf(6.0 / i.max(1) as f32)
                };
                params[..i * o].iter_mut().for_each(|w| *w = uniform(bound));
            }
            Layer::Residual {
                features: f,
                hidden: h,
                ..
            } => {
                let he = libm::sqrtf(6.0 / f.max(1) as f32);
                params[..h * f].iter_mut().for_each(|w| *w = uniform(he));
                let xavier = libm::sqrtf(6.0 / (f + h) as f32);
                let w2 = h * f + h;
                params[w2..w2 + f * h]
                    .iter_mut()
                    .for_each(|w| *w = uniform(xavier));
            }
            Layer::BatchNorm(bn) => {
                let f = bn.features();
                params[..f].fill(1.0);
                buffers[f..2 * f].fill(1.0);
            }
            Layer::Conv2d { conv, .. }
            | Layer::ResidualEnd {
                projection: Some(Projection::Conv(conv)),
                ..
            } => {
                let fan_in = conv.in_channels * conv.k * conv.k;
                let he = libm::sqrtf(6.0 / fan_in.max(1) as f32);
                params[..conv.weights_len()]
                    .iter_mut()
                    .for_each(|w| *w = uniform(he));
            }
            Layer::ResidualEnd {
                projection: Some(Projection::Dense(d)),
                ..
            } => {
                let xavier = libm::sqrtf(6.0 / (d.inputs() + d.outputs()).max(1) as f32);
                params[..d.weights_len()]
                    .iter_mut()
                    .for_each(|w| *w = uniform(xavier));
            }
            Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::SpatialDropout(_)
            | Layer::GlobalAvgPool { .. }
            | Layer::MaxPool { .. }
            | Layer::AvgPool { .. }
            | Layer::FractionalMaxPool { .. }
            | Layer::ResidualStart { .. }
            | Layer::ResidualEnd { .. } => {}
        }
    }
}

/// What identifies and checks a layer kind.
impl Layer {
    /// The kind's number in a checkpoint's fingerprint (a new kind takes the
    /// next one; a number is never reused).
    pub const fn kind_code(&self) -> u8 {
        match self {
            Layer::Dense(_) => 1,
            Layer::DenseDropConnect(..) => 2,
            Layer::Relu { .. } => 3,
            Layer::Dropout { .. } => 4,
            Layer::BatchNorm(_) => 5,
            Layer::Residual { .. } => 6,
            Layer::Conv2d { .. } => 7,
            Layer::MaxPool { .. } => 8,
            Layer::AvgPool { .. } => 9,
            Layer::FractionalMaxPool { .. } => 10,
            Layer::SpatialDropout(_) => 11,
            Layer::GlobalAvgPool { .. } => 12,
            Layer::ResidualStart { .. } => 13,
            Layer::ResidualEnd { .. } => 14,
        }
    }

    /// The pooling kinds as the pool module takes them.
    const fn pooling(&self) -> Option<Pooling> {
        Some(match *self {
            Layer::MaxPool { shape, k, stride } => Pooling::Max { shape, k, stride },
            Layer::AvgPool { shape, k, stride } => Pooling::Avg { shape, k, stride },
            Layer::FractionalMaxPool {
                shape,
                out_height,
                out_width,
                windows,
                per_plane,
                eval,
            } => Pooling::Fractional {
                shape,
                out_height,
                out_width,
                windows,
                per_plane,
                eval,
            },
            Layer::Dense(_)
            | Layer::DenseDropConnect(..)
            | Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::BatchNorm(_)
            | Layer::Residual { .. }
            | Layer::ResidualStart { .. }
            | Layer::ResidualEnd { .. }
            | Layer::Conv2d { .. }
            | Layer::SpatialDropout(_)
            | Layer::GlobalAvgPool { .. } => return None,
        })
    }

    /// Checks the layer on its own (its kind's module says what it
    /// accepts); how layers chain and blocks close is the trainer's check.
    /// Every kind needs at least one input and one output value (a
    /// `Dense::new(0, 10)` or a 0-channel batch norm would train on
    /// nothing), and a dense residual branch at least one hidden unit.
    pub fn validate(&self) -> Result<(), Error> {
        if self.inputs() == 0 || self.outputs() == 0 {
            return Err(Error::InvalidConfig {
                reason: "every layer needs at least one input and one output value",
            });
        }
        if let Layer::Residual { hidden: 0, .. } = *self {
            return Err(Error::InvalidConfig {
                reason: "a residual branch needs at least one hidden unit",
            });
        }
        let survival = match *self {
            Layer::Conv2d { conv, .. } => return conv.validate(),
            Layer::BatchNorm(bn) => return bn.validate(),
            Layer::SpatialDropout(sd) => return sd.validate(),
            Layer::GlobalAvgPool { shape } => return global_avg::validate(shape),
            Layer::MaxPool { .. } | Layer::AvgPool { .. } | Layer::FractionalMaxPool { .. } => {
                return self
                    .pooling()
                    .map_or(Err(NOT_POOLING), pool::network_layer::validate)
            }
            Layer::Residual { survival, .. } => survival,
            Layer::ResidualStart { depth, .. } => depth.survival,
            Layer::Dense(_)
            | Layer::DenseDropConnect(..)
            | Layer::Relu { .. }
            | Layer::Dropout { .. }
            | Layer::ResidualEnd { .. } => return Ok(()),
        };
        // A survival whose 32-bit threshold is 0 would never keep a branch.
        if !(survival > 0.0 && survival <= 1.0) || Keep::new(survival)?.threshold() == 0 {
            return Err(Error::InvalidKeep { keep: survival });
        }
        Ok(())
    }
}

/// What a pooling arm would say if [`Layer::pooling`] disagreed with it
/// (it cannot: both list the same three kinds).
const NOT_POOLING: Error = Error::InvalidConfig {
    reason: "not a pooling layer",
};

/// The forward and backward each kind's module implements; adding a layer
/// kind adds one arm to each.
impl Layer {
    /// Forward of `io.rows` samples: `io.output` from `io.input`.
    pub(crate) fn forward_pass(
        &self,
        io: ForwardIo<'_>,
        draws: &mut Draws<'_>,
    ) -> Result<(), Error> {
        match *self {
            Layer::Dense(d) => d.forward_pass(io),
            Layer::DenseDropConnect(d, dc) => d.forward_pass_dropconnect(&dc, io, draws),
            Layer::Relu { .. } => {
                activation::relu_forward_pass(io);
                Ok(())
            }
            Layer::Dropout { dropout, .. } => dropout.forward_pass(io, draws),
            Layer::SpatialDropout(sd) => sd.forward_pass(io, draws),
            Layer::GlobalAvgPool { shape } => pool::global_avg::forward_pass(shape, io),
            Layer::BatchNorm(bn) => bn.forward_pass(io, draws.norm),
            Layer::Conv2d { conv, relu } => conv.forward_pass(relu, io),
            Layer::MaxPool { .. } | Layer::AvgPool { .. } | Layer::FractionalMaxPool { .. } => {
                self.pooling().map_or(Err(NOT_POOLING), |p| {
                    pool::network_layer::forward_pass(p, io, draws)
                })
            }
            Layer::Residual {
                features,
                hidden,
                survival,
                scaling,
            } => Residual {
                features,
                hidden,
                survival,
                scaling,
            }
            .forward_pass(io, draws),
            Layer::ResidualStart { depth, .. } => residual::start_forward_pass(depth, io, draws),
            Layer::ResidualEnd { projection, .. } => residual::end_forward_pass(projection, io),
        }
    }

    /// Backward after a train forward: parameter gradients accumulated,
    /// `io.grad_in` from `io.grad_out`.
    pub(crate) fn backward_pass(&self, io: BackwardIo<'_>) -> Result<(), Error> {
        match *self {
            Layer::Dense(d) => d.backward_pass(None, io),
            Layer::DenseDropConnect(d, dc) => d.backward_pass(Some(&dc), io),
            Layer::Relu { .. } => {
                activation::relu_backward_pass(io);
                Ok(())
            }
            Layer::Dropout { dropout, .. } => dropout.backward_pass(io),
            Layer::SpatialDropout(sd) => sd.backward_pass(io),
            Layer::GlobalAvgPool { shape } => pool::global_avg::backward_pass(shape, io),
            Layer::BatchNorm(bn) => bn.backward_pass(io),
            Layer::Conv2d { conv, relu } => conv.backward_pass(relu, io),
            Layer::MaxPool { .. } | Layer::AvgPool { .. } | Layer::FractionalMaxPool { .. } => {
                self.pooling().map_or(Err(NOT_POOLING), |p| {
                    pool::network_layer::backward_pass(p, io)
                })
            }
            Layer::Residual {
                features,
                hidden,
                survival,
                scaling,
            } => Residual {
                features,
                hidden,
                survival,
                scaling,
            }
            .backward_pass(io),
            Layer::ResidualStart { .. } => {
                residual::start_backward_pass(io);
                Ok(())
            }
            Layer::ResidualEnd { projection, .. } => residual::end_backward_pass(projection, io),
        }
    }
}
