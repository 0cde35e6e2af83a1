//! A network described without its shapes: each [`LayerDesc`] says what the
//! layer is, [`build_layers`] follows the shape from the input image through
//! the list and fills in every size (as PyTorch's lazy modules or Keras's
//! `Sequential` do). The C ABI's layer descriptors go through here.

use crate::error::Error;
use crate::layers::augment::ImageShape;
use crate::layers::batch_norm::BatchNorm;
use crate::layers::conv::Conv2d;
use crate::layers::dense::Dense;
use crate::layers::dropout::Dropout;
use crate::layers::layer::{FmpEval, FmpWindows, Layer, Projection, StochasticDepth};
use crate::layers::spatial_dropout::SpatialDropout;
use crate::size::checked_mul;

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
    BatchNorm,
    /// Batch norm per channel of an image input (`BatchNorm2d`).
    BatchNorm2d,
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
    /// Opens a residual block.
    BlockStart(StochasticDepth),
    /// Closes it; a 1x1 strided convolution (images) or a dense layer maps
    /// the block's input where the branch changed the shape.
    BlockEnd,
}

/// Why [`build_layers`] refused: the index of the description and the error.
pub type BuildError = (usize, Error);

/// Fills `out` with the layers `descs` describe for `input` images (a
/// `1 x 1 x n` shape for plain features) and returns them; the last must
/// give `classes` outputs. Shapes are checked as they go (a convolution or
/// window that does not fit, an image layer after a dense one, a block left
/// open or ending without a start); the trainer checks the rest.
///
/// ```
/// use tinyreg::layers::describe::{build_layers, LayerDesc};
/// use tinyreg::{Dropout, Error, ImageShape, Layer, Network};
///
/// let descs = [
///     LayerDesc::Conv { filters: 8, kernel: 3, stride: 1, padding: 1, relu: true },
///     LayerDesc::BatchNorm2d,
///     LayerDesc::MaxPool { kernel: 2, stride: 2 },
///     LayerDesc::Dropout(Dropout::inverted(0.8)?),
///     LayerDesc::Dense { units: 10, relu: false, dropconnect: None }, // 8 * 4 * 4 inputs, inferred
/// ];
/// let image = ImageShape { channels: 1, height: 8, width: 8 };
/// let mut out = [Layer::Relu { features: 0 }; 5];
/// let layers = build_layers(image, 10, &descs, &mut out).map_err(|(_, e)| e)?;
/// assert_eq!(Network::new(layers).params_len(), 8 * 9 + 8 + 2 * 8 + 128 * 10 + 10);
///
/// // A refusal names the description: a 9x9 kernel does not fit an 8x8 image.
/// let bad = [LayerDesc::Conv { filters: 8, kernel: 9, stride: 1, padding: 0, relu: true }];
/// assert!(matches!(build_layers(image, 10, &bad, &mut out), Err((0, _))));
/// # Ok::<(), Error>(())
/// ```
pub fn build_layers<'o>(
    input: ImageShape,
    classes: usize,
    descs: &[LayerDesc],
    out: &'o mut [Layer],
) -> Result<&'o [Layer], BuildError> {
    if descs.len() > out.len() {
        return Err((
            out.len(),
            Error::BufferTooSmall {
                needed: descs.len(),
                got: out.len(),
            },
        ));
    }
    let mut image = Some(input);
    let mut features = checked_mul(
        checked_mul(input.channels, input.height).map_err(|e| (0, e))?,
        input.width,
    )
    .map_err(|e| (0, e))?;
    let mut block: Option<(usize, Option<ImageShape>)> = None;
    for (i, (desc, slot)) in descs.iter().zip(out.iter_mut()).enumerate() {
        let fail = |reason| (i, Error::InvalidConfig { reason });
        let need_image = |image: Option<ImageShape>| {
            image.ok_or(fail(
                "this layer needs an image input (it follows a dense layer or global pooling)",
            ))
        };
        let layer = match *desc {
            LayerDesc::Dense {
                units,
                relu,
                dropconnect,
            } => {
                image = None;
                let dense = Dense::new(features, units);
                let dense = if relu { dense.with_relu() } else { dense };
                match dropconnect {
                    Some(d) => Layer::DenseDropConnect(dense, d),
                    None => Layer::Dense(dense),
                }
            }
            LayerDesc::Relu => Layer::Relu { features },
            LayerDesc::Dropout(dropout) => Layer::Dropout { features, dropout },
            LayerDesc::BatchNorm => Layer::BatchNorm(BatchNorm::new(features)),
            LayerDesc::BatchNorm2d => {
                let s = need_image(image)?;
                Layer::BatchNorm(BatchNorm::over_channels(s.channels, s.height * s.width))
            }
            LayerDesc::Conv {
                filters,
                kernel,
                stride,
                padding,
                relu,
            } => {
                let s = need_image(image)?;
                let conv = Conv2d {
                    in_channels: s.channels,
                    out_channels: filters,
                    height: s.height,
                    width: s.width,
                    k: kernel,
                    stride,
                    padding,
                };
                conv.validate().map_err(|e| (i, e))?;
                image = Some(ImageShape {
                    channels: filters,
                    height: conv.out_height(),
                    width: conv.out_width(),
                });
                Layer::Conv2d { conv, relu }
            }
            LayerDesc::MaxPool { kernel, stride } | LayerDesc::AvgPool { kernel, stride } => {
                let s = need_image(image)?;
                if kernel == 0 || stride == 0 || kernel > s.height || kernel > s.width {
                    return Err(fail(
                        "a pooling window must fit the image, with a stride of at least 1",
                    ));
                }
                image = Some(ImageShape {
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
                let s = need_image(image)?;
                image = Some(ImageShape {
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
            LayerDesc::SpatialDropout(dropout) => Layer::SpatialDropout(SpatialDropout {
                shape: need_image(image)?,
                dropout,
            }),
            LayerDesc::GlobalAvgPool => {
                let s = need_image(image)?;
                image = None;
                Layer::GlobalAvgPool { shape: s }
            }
            LayerDesc::BlockStart(depth) => {
                if block.is_some() {
                    return Err(fail("residual blocks do not nest"));
                }
                block = Some((features, image));
                Layer::ResidualStart { features, depth }
            }
            LayerDesc::BlockEnd => {
                let Some((skip, from)) = block.take() else {
                    return Err(fail("a block end without a block start"));
                };
                Layer::ResidualEnd {
                    features,
                    projection: projection(skip, from, features, image).map_err(|e| (i, e))?,
                }
            }
        };
        features = layer.outputs();
        *slot = layer;
    }
    if block.is_some() {
        return Err((
            descs.len(),
            Error::InvalidConfig {
                reason: "a residual block is never closed",
            },
        ));
    }
    if features != classes {
        return Err((
            descs.len(),
            Error::LengthMismatch {
                expected: classes,
                got: features,
            },
        ));
    }
    Ok(&out[..descs.len()])
}

/// The skip path of a block from `skip` features (an image `from`, if it
/// is one) to `features` (`to`): none when they match, a 1x1 convolution
/// with the stride that maps the sides when both are images, else dense.
pub fn projection(
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
            let stride = from.height.checked_div(to.height).unwrap_or(0);
            if stride == 0 || from.height != stride * to.height || from.width != stride * to.width {
                return Err(Error::InvalidConfig {
                    reason: "no 1x1 strided projection maps the block's input images to its output",
                });
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
