//! A network described without its shapes: each [`LayerDesc`] says what the
//! layer is, [`build_layers`] follows the shape from the input image through
//! the list and fills in every size (as PyTorch's lazy modules or Keras's
//! `Sequential` do). The C ABI's descriptors and the command line's TOML both
//! map onto [`LayerDesc`] and go through here, so the three describe a network
//! one way. [`shaped`] does the same in a `const`, so firmware knows its
//! network's memory at compile time.

use core::fmt;

use crate::error::Error;
use crate::layers::augment::ImageShape;
use crate::layers::batch_norm::BatchNorm;
use crate::layers::conv::Conv2d;
use crate::layers::dense::Dense;
use crate::layers::dropout::Dropout;
use crate::layers::layer::Layer;
use crate::layers::pool::{FmpEval, FmpWindows};
use crate::layers::residual::{DepthScaling, Projection, StochasticDepth};
use crate::layers::spatial_dropout::SpatialDropout;

/// One layer of a network, without the sizes its input fixes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerDesc {
    /// Fully connected to `units`, optionally with a fused ReLU and
    /// DropConnect on the weights; flattens an image input.
    Dense {
        /// Outputs.
        units: usize,
        /// `max(., 0)` on the output.
        relu: bool,
        /// DropConnect, if any.
        dropconnect: Option<Dropout>,
    },
    /// `max(x, 0)`.
    Relu,
    /// Dropout of single values.
    Dropout(Dropout),
    /// Batch norm over every value as a feature (`BatchNorm1d` on the
    /// flattened input).
    BatchNorm {
        /// How far the running statistics move each step
        /// ([`LayerDesc::BATCH_NORM`] has PyTorch's 0.1).
        momentum: f32,
    },
    /// Batch norm per channel of an image input (`BatchNorm2d`).
    BatchNorm2d {
        /// As for [`LayerDesc::BatchNorm`].
        momentum: f32,
    },
    /// Convolution of an image input to `filters` channels.
    Conv {
        /// Output channels.
        filters: usize,
        /// Window side.
        kernel: usize,
        /// Step.
        stride: usize,
        /// Zeros around the input.
        padding: usize,
        /// `max(., 0)` on the output.
        relu: bool,
    },
    /// `kernel x kernel` max pooling with `stride`.
    MaxPool {
        /// Window side.
        kernel: usize,
        /// Step.
        stride: usize,
    },
    /// `kernel x kernel` average pooling with `stride`.
    AvgPool {
        /// Window side.
        kernel: usize,
        /// Step.
        stride: usize,
    },
    /// Fractional max pooling of an image input to `out x out`.
    FractionalMaxPool {
        /// Output side.
        out: usize,
        /// Graham's regions or PyTorch's windows.
        windows: FmpWindows,
        /// A draw for every plane instead of one a batch.
        per_plane: bool,
        /// What eval computes.
        eval: FmpEval,
    },
    /// Dropout of whole channels of an image input.
    SpatialDropout(Dropout),
    /// Each channel's mean.
    GlobalAvgPool,
    /// A dense residual block `x + f(x)`, `f` two dense layers through
    /// `hidden` units, with stochastic depth; flattens an image input.
    Residual {
        /// Width of the branch.
        hidden: usize,
        /// Probability the branch survives, in `(0, 1]`.
        survival: f32,
        /// Which scaling convention.
        scaling: DepthScaling,
    },
    /// Opens a residual block around the layers up to the next
    /// [`LayerDesc::BlockEnd`].
    BlockStart(StochasticDepth),
    /// Closes it; a 1x1 strided convolution (images) or a dense layer maps
    /// the block's input where the branch changed the shape.
    BlockEnd,
}

impl LayerDesc {
    /// Batch norm with PyTorch's momentum.
    pub const BATCH_NORM: LayerDesc = LayerDesc::BatchNorm {
        momentum: BatchNorm::DEFAULT_MOMENTUM,
    };
    /// Per-channel batch norm with PyTorch's momentum.
    pub const BATCH_NORM_2D: LayerDesc = LayerDesc::BatchNorm2d {
        momentum: BatchNorm::DEFAULT_MOMENTUM,
    };

    /// The kind's name, as the command line's `type` spells it.
    pub const fn name(&self) -> &'static str {
        match self {
            LayerDesc::Dense { .. } => "dense",
            LayerDesc::Relu => "relu",
            LayerDesc::Dropout(_) => "dropout",
            LayerDesc::BatchNorm { .. } => "batch_norm",
            LayerDesc::BatchNorm2d { .. } => "batch_norm_2d",
            LayerDesc::Conv { .. } => "conv",
            LayerDesc::MaxPool { .. } => "max_pool",
            LayerDesc::AvgPool { .. } => "avg_pool",
            LayerDesc::FractionalMaxPool { .. } => "fractional_max_pool",
            LayerDesc::SpatialDropout(_) => "spatial_dropout",
            LayerDesc::GlobalAvgPool => "global_avg_pool",
            LayerDesc::Residual { .. } => "residual",
            LayerDesc::BlockStart(_) => "block_start",
            LayerDesc::BlockEnd => "block_end",
        }
    }

    /// Checks what can be checked without the input's shape, naming the
    /// field at fault: sizes of at least 1, probabilities in range (the
    /// rules of [`Dropout`], [`BatchNorm::validate`] and stochastic depth).
    /// [`build_layers`] calls it first; the command line calls it as it reads
    /// a config, before any data is loaded.
    pub fn check(&self) -> Result<(), (&'static str, Error)> {
        let at_least_one = |field, n: usize| {
            if n == 0 {
                Err((field, invalid("must be at least 1")))
            } else {
                Ok(())
            }
        };
        match *self {
            LayerDesc::Dense { units, .. } => at_least_one("units", units),
            LayerDesc::BatchNorm { momentum } | LayerDesc::BatchNorm2d { momentum } => {
                BatchNorm::new(1)
                    .with_constants(momentum, BatchNorm::EPS)
                    .validate()
                    .map_err(|_| ("momentum", invalid("must be in [0, 1]")))
            }
            LayerDesc::Conv {
                filters,
                kernel,
                stride,
                ..
            } => {
                at_least_one("filters", filters)?;
                at_least_one("kernel", kernel)?;
                at_least_one("stride", stride)
            }
            LayerDesc::MaxPool { kernel, stride } | LayerDesc::AvgPool { kernel, stride } => {
                at_least_one("kernel", kernel)?;
                at_least_one("stride", stride)
            }
            LayerDesc::FractionalMaxPool { out, .. } => at_least_one("out", out),
            LayerDesc::Residual {
                hidden, survival, ..
            } => {
                at_least_one("hidden", hidden)?;
                check_survival(survival)
            }
            LayerDesc::BlockStart(depth) => check_survival(depth.survival),
            // A `Dropout` is checked when it is made.
            LayerDesc::Relu
            | LayerDesc::Dropout(_)
            | LayerDesc::SpatialDropout(_)
            | LayerDesc::GlobalAvgPool
            | LayerDesc::BlockEnd => Ok(()),
        }
    }
}

/// Stochastic depth's survival: in `(0, 1]`, as a keep probability.
fn check_survival(survival: f32) -> Result<(), (&'static str, Error)> {
    match Dropout::inverted(survival) {
        Ok(_) => Ok(()),
        Err(e) => Err(("survival", e)),
    }
}

/// Why [`build_layers`] or [`shaped`] refused: which description, of what
/// kind, which field where one is at fault, and the error. `layer` equals
/// the number of descriptions when the list as a whole is wrong (a block
/// never closed, the wrong number of outputs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuildError {
    /// Index of the description at fault.
    pub layer: usize,
    /// Its kind's name ([`LayerDesc::name`]), or `"network"`.
    pub kind: &'static str,
    /// The field at fault, when one is.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub error: Error,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {} ({})", self.layer, self.kind)?;
        if let Some(field) = self.field {
            write!(f, " {field}")?;
        }
        write!(f, ": {}", self.error)
    }
}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Error {
        e.error
    }
}

/// The shape between two layers: its features, the image it is (if it is
/// one), and the open residual block's input.
#[derive(Clone, Copy)]
struct Cursor {
    features: usize,
    image: Option<ImageShape>,
    block: Option<(usize, Option<ImageShape>)>,
}

const fn invalid(reason: &'static str) -> Error {
    Error::InvalidConfig { reason }
}

const NEEDS_IMAGE: Error =
    invalid("this layer needs an image input (it follows a dense layer or global pooling)");

/// `desc` at the shape `at`: the layer, and the shape after it. Shapes only;
/// each layer's own rules are [`Layer::validate`]'s.
const fn infer(
    desc: LayerDesc,
    at: Cursor,
) -> Result<(Layer, Cursor), (Option<&'static str>, Error)> {
    let features = at.features;
    let mut next = at;
    let layer = match desc {
        LayerDesc::Dense {
            units,
            relu,
            dropconnect,
        } => {
            next.image = None;
            let dense = Dense::new(features, units);
            let dense = if relu { dense.with_relu() } else { dense };
            match dropconnect {
                Some(d) => Layer::DenseDropConnect(dense, d),
                None => Layer::Dense(dense),
            }
        }
        LayerDesc::Relu => Layer::Relu { features },
        LayerDesc::Dropout(dropout) => Layer::Dropout { features, dropout },
        LayerDesc::BatchNorm { momentum } => {
            Layer::BatchNorm(BatchNorm::new(features).with_constants(momentum, BatchNorm::EPS))
        }
        LayerDesc::BatchNorm2d { momentum } => {
            let Some(s) = at.image else {
                return Err((None, NEEDS_IMAGE));
            };
            Layer::BatchNorm(
                BatchNorm::over_channels(s.channels, s.height.saturating_mul(s.width))
                    .with_constants(momentum, BatchNorm::EPS),
            )
        }
        LayerDesc::Conv {
            filters,
            kernel,
            stride,
            padding,
            relu,
        } => {
            let Some(s) = at.image else {
                return Err((None, NEEDS_IMAGE));
            };
            let conv = Conv2d {
                in_channels: s.channels,
                out_channels: filters,
                height: s.height,
                width: s.width,
                k: kernel,
                stride,
                padding,
            };
            if kernel == 0
                || stride == 0
                || kernel > s.height.saturating_add(padding.saturating_mul(2))
                || kernel > s.width.saturating_add(padding.saturating_mul(2))
            {
                return Err((
                    Some("kernel"),
                    invalid(
                        "the kernel must fit the padded image, with kernel and stride at least 1",
                    ),
                ));
            }
            next.image = Some(ImageShape {
                channels: filters,
                height: conv.out_height(),
                width: conv.out_width(),
            });
            Layer::Conv2d { conv, relu }
        }
        LayerDesc::MaxPool { kernel, stride } | LayerDesc::AvgPool { kernel, stride } => {
            let Some(s) = at.image else {
                return Err((None, NEEDS_IMAGE));
            };
            if kernel == 0 || stride == 0 || kernel > s.height || kernel > s.width {
                return Err((
                    Some("kernel"),
                    invalid("a pooling window must fit the image, with a stride of at least 1"),
                ));
            }
            next.image = Some(ImageShape {
                channels: s.channels,
                height: (s.height - kernel) / stride + 1,
                width: (s.width - kernel) / stride + 1,
            });
            match desc {
                LayerDesc::MaxPool { .. } => Layer::MaxPool {
                    shape: s,
                    k: kernel,
                    stride,
                },
                _ => Layer::AvgPool {
                    shape: s,
                    k: kernel,
                    stride,
                },
            }
        }
        LayerDesc::FractionalMaxPool {
            out,
            windows,
            per_plane,
            eval,
        } => {
            let Some(s) = at.image else {
                return Err((None, NEEDS_IMAGE));
            };
            next.image = Some(ImageShape {
                channels: s.channels,
                height: out,
                width: out,
            });
            Layer::FractionalMaxPool {
                shape: s,
                out_height: out,
                out_width: out,
                windows,
                per_plane,
                eval,
            }
        }
        LayerDesc::SpatialDropout(dropout) => {
            let Some(shape) = at.image else {
                return Err((None, NEEDS_IMAGE));
            };
            Layer::SpatialDropout(SpatialDropout { shape, dropout })
        }
        LayerDesc::GlobalAvgPool => {
            let Some(shape) = at.image else {
                return Err((None, NEEDS_IMAGE));
            };
            next.image = None;
            Layer::GlobalAvgPool { shape }
        }
        LayerDesc::Residual {
            hidden,
            survival,
            scaling,
        } => {
            next.image = None;
            Layer::Residual {
                features,
                hidden,
                survival,
                scaling,
            }
        }
        LayerDesc::BlockStart(depth) => {
            if at.block.is_some() {
                return Err((None, invalid("residual blocks do not nest")));
            }
            next.block = Some((features, at.image));
            Layer::ResidualStart { features, depth }
        }
        LayerDesc::BlockEnd => {
            let Some((skip, from)) = at.block else {
                return Err((None, invalid("a block end without a block start")));
            };
            next.block = None;
            let projection = match projection(skip, from, features, at.image) {
                Ok(p) => p,
                Err(e) => return Err((None, e)),
            };
            Layer::ResidualEnd {
                features,
                projection,
            }
        }
    };
    next.features = layer.outputs();
    Ok((layer, next))
}

/// The shape of an `input` image as the first cursor.
const fn start(input: ImageShape) -> Result<Cursor, Error> {
    match input.channels.checked_mul(input.height) {
        Some(plane) => match plane.checked_mul(input.width) {
            Some(features) => Ok(Cursor {
                features,
                image: Some(input),
                block: None,
            }),
            None => Err(Error::ShapeOverflow),
        },
        None => Err(Error::ShapeOverflow),
    }
}

/// What the list as a whole must end with: a closed block and `classes`
/// outputs.
const fn finish(end: Cursor, count: usize, classes: usize) -> Result<(), BuildError> {
    let error = if end.block.is_some() {
        invalid("a residual block is never closed")
    } else if end.features != classes {
        Error::LengthMismatch {
            expected: classes,
            got: end.features,
        }
    } else {
        return Ok(());
    };
    Err(BuildError {
        layer: count,
        kind: "network",
        field: None,
        error,
    })
}

/// Fills `out` with the layers `descs` describe for `input` images (a
/// `1 x 1 x n` shape for plain features) and returns them; the last must
/// give `classes` outputs. Each layer is checked as it is built
/// ([`Layer::validate`]: a window that does not fit, a keep probability out
/// of range, an image layer after a dense one, a block left open), and a
/// refusal names the description at fault.
///
/// ```
/// use tinyreg::{build_layers, Dropout, Error, ImageShape, Layer, LayerDesc, Network};
///
/// fn main() -> Result<(), Error> {
///     let descs = [
///         LayerDesc::Conv { filters: 8, kernel: 3, stride: 1, padding: 1, relu: true },
///         LayerDesc::BATCH_NORM_2D,
///         LayerDesc::MaxPool { kernel: 2, stride: 2 },
///         LayerDesc::Dropout(Dropout::inverted(0.8)?),
///         LayerDesc::Dense { units: 10, relu: false, dropconnect: None }, // 8 * 4 * 4 inputs, inferred
///     ];
///     let image = ImageShape { channels: 1, height: 8, width: 8 };
///     let mut out = [Layer::Relu { features: 0 }; 5];
///     let layers = build_layers(image, 10, &descs, &mut out)?;
///     assert_eq!(Network::new(layers).params_len(), 8 * 9 + 8 + 2 * 8 + 128 * 10 + 10);
///
///     // A refusal names the description: a 9x9 kernel does not fit an 8x8 image.
///     let bad = [LayerDesc::Conv { filters: 8, kernel: 9, stride: 1, padding: 0, relu: true }];
///     let refused = build_layers(image, 10, &bad, &mut out).unwrap_err();
///     assert_eq!((refused.layer, refused.kind), (0, "conv"));
///     Ok(())
/// }
/// ```
pub fn build_layers<'o>(
    input: ImageShape,
    classes: usize,
    descs: &[LayerDesc],
    out: &'o mut [Layer],
) -> Result<&'o [Layer], BuildError> {
    if descs.len() > out.len() {
        return Err(BuildError {
            layer: out.len(),
            kind: "network",
            field: None,
            error: Error::BufferTooSmall {
                needed: descs.len(),
                got: out.len(),
            },
        });
    }
    let mut at = start(input).map_err(|error| BuildError {
        layer: 0,
        kind: "network",
        field: None,
        error,
    })?;
    for (i, (desc, slot)) in descs.iter().zip(out.iter_mut()).enumerate() {
        let refuse = |(field, error)| BuildError {
            layer: i,
            kind: desc.name(),
            field,
            error,
        };
        desc.check().map_err(|(f, e)| refuse((Some(f), e)))?;
        let (layer, next) = infer(*desc, at).map_err(refuse)?;
        layer.validate().map_err(|e| refuse((None, e)))?;
        *slot = layer;
        at = next;
    }
    finish(at, descs.len(), classes)?;
    Ok(&out[..descs.len()])
}

/// [`build_layers`] in a `const`: the layers of `descs` as an array, so that
/// a network and its memory are known at compile time (a bad description
/// then fails the build). Each layer's own rules are checked when a trainer
/// takes the network ([`Layer::validate`]), as for a hand-built list.
///
/// ```
/// use tinyreg::{shaped, Dropout, ImageShape, Layer, LayerDesc, Network, Optimizer};
///
/// const LAYERS: [Layer; 3] = match shaped(
///     ImageShape::features(64),
///     10,
///     [
///         LayerDesc::Dense { units: 128, relu: true, dropconnect: None },
///         LayerDesc::Dropout(match Dropout::inverted(0.8) { Ok(d) => d, Err(_) => panic!() }),
///         LayerDesc::Dense { units: 10, relu: false, dropconnect: None },
///     ],
/// ) {
///     Ok(layers) => layers,
///     Err(_) => panic!("the network does not fit its input"),
/// };
/// const FLOATS: usize = Network::new(&LAYERS).memory_len(32, Optimizer::ADAM.state_per_param(), false);
/// static mut MEMORY: [f32; FLOATS] = [0.0; FLOATS];
/// assert_eq!(Network::new(&LAYERS).params_len(), 64 * 128 + 128 + 128 * 10 + 10);
/// ```
pub const fn shaped<const N: usize>(
    input: ImageShape,
    classes: usize,
    descs: [LayerDesc; N],
) -> Result<[Layer; N], BuildError> {
    let mut out = [Layer::Relu { features: 0 }; N];
    let mut at = match start(input) {
        Ok(at) => at,
        Err(error) => {
            return Err(BuildError {
                layer: 0,
                kind: "network",
                field: None,
                error,
            })
        }
    };
    let mut i = 0;
    while i < N {
        match infer(descs[i], at) {
            Ok((layer, next)) => {
                out[i] = layer;
                at = next;
            }
            Err((field, error)) => {
                return Err(BuildError {
                    layer: i,
                    kind: descs[i].name(),
                    field,
                    error,
                })
            }
        }
        i += 1;
    }
    match finish(at, N, classes) {
        Ok(()) => Ok(out),
        Err(e) => Err(e),
    }
}

/// The skip path of a block from `skip` features (an image `from`, if it
/// is one) to `features` (`to`): none when they match, a 1x1 convolution
/// with the stride that maps the sides when both are images, else dense.
pub const fn projection(
    skip: usize,
    from: Option<ImageShape>,
    features: usize,
    to: Option<ImageShape>,
) -> Result<Option<Projection>, Error> {
    if skip == features {
        return Ok(None);
    }
    match (from, to) {
        (Some(from), Some(to)) => {
            let stride = match from.height.checked_div(to.height) {
                Some(s) => s,
                None => 0,
            };
            if stride == 0
                || from.height != stride.saturating_mul(to.height)
                || from.width != stride.saturating_mul(to.width)
            {
                return Err(invalid(
                    "no 1x1 strided projection maps the block's input images to its output",
                ));
            }
            Ok(Some(Projection::Conv(Conv2d {
                in_channels: from.channels,
                out_channels: to.channels,
                height: from.height,
                width: from.width,
                k: 1,
                stride,
                padding: 0,
            })))
        }
        _ => Ok(Some(Projection::Dense(Dense::new(skip, features)))),
    }
}
