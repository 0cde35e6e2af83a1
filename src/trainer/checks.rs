//! What a trainer refuses before it touches memory: bad settings and
//! networks whose shapes do not chain or whose layers are out of range.

use super::network::Network;
use super::TrainConfig;
use crate::error::Error;
use crate::kernels::bernoulli::Keep;
use crate::layers::layer::{FmpWindows, Layer, Projection, MAX_POOL_SIDE};
use crate::layers::pool::{self, network_layer::fmp_eval_samplings};

/// The settings a trainer refuses: a zero batch, a learning rate or
/// schedule that is not finite and non-negative, a clipping norm that is not
/// positive and finite (a negative one flipped the gradient), an early
/// stopping `min_delta` that is not finite and non-negative (NaN stopped
/// after `patience` and restored epoch 0).
pub(super) fn check_config(config: &TrainConfig) -> Result<(), Error> {
    let bad = |reason| Err(Error::InvalidConfig { reason });
    if config.batch == 0 {
        return bad("batch must be at least 1");
    }
    config.lr.validate()?;
    if let Some(norm) = config.clip_norm {
        if !(norm > 0.0 && norm.is_finite()) {
            return bad("clip_norm must be positive and finite");
        }
    }
    if let Some((_, es)) = config.early_stopping {
        if !(es.min_delta >= 0.0 && es.min_delta.is_finite()) {
            return bad("early stopping's min_delta must be finite and >= 0");
        }
    }
    Ok(())
}

pub(super) fn check_network(net: &Network<'_>) -> Result<(), Error> {
    let layers = net.layers();
    if layers.is_empty() {
        return Err(Error::InvalidConfig {
            reason: "a network needs at least one layer",
        });
    }
    for pair in layers.windows(2) {
        if pair[0].outputs() != pair[1].inputs() {
            return Err(Error::LengthMismatch {
                expected: pair[0].outputs(),
                got: pair[1].inputs(),
            });
        }
    }
    for layer in layers {
        let bad_pool = |reason| Err(Error::InvalidConfig { reason });
        match *layer {
            Layer::Conv2d { conv, .. } => conv.validate()?,
            Layer::BatchNorm(bn) => bn.validate()?,
            Layer::SpatialDropout(sd) if sd.shape.is_empty() => {
                return bad_pool("spatial dropout needs images of at least one value")
            }
            Layer::GlobalAvgPool { shape } if shape.is_empty() => {
                return bad_pool("global average pooling needs images of at least one value")
            }
            Layer::MaxPool { shape, k, stride } | Layer::AvgPool { shape, k, stride } => {
                if k == 0
                    || k > pool::MAX_REGION
                    || stride == 0
                    || shape.height < k
                    || shape.width < k
                {
                    return bad_pool("pooling needs 1 <= k <= 16, k <= the image, stride >= 1");
                }
                if (shape.height - k) / stride + 1 > MAX_POOL_SIDE
                    || (shape.width - k) / stride + 1 > MAX_POOL_SIDE
                {
                    return bad_pool("pooling output sides are limited to 256");
                }
            }
            Layer::FractionalMaxPool {
                shape,
                out_height,
                out_width,
                windows,
                ..
            } => {
                let sides = [(shape.height, out_height), (shape.width, out_width)];
                if let FmpWindows::PyTorch { kernel } = windows {
                    let k = kernel as usize;
                    let fits = |(i, o): (usize, usize)| {
                        o > 0 && o <= MAX_POOL_SIDE && i <= u16::MAX as usize && o + k <= i + 1
                    };
                    if k == 0 || k > pool::MAX_REGION || !sides.into_iter().all(fits) {
                        return bad_pool(
                            "PyTorch's fractional pooling needs 1 <= kernel <= 16, out + kernel - 1 <= in, out <= 256",
                        );
                    }
                }
                let fits =
                    |(i, o): (usize, usize)| o > 0 && o < i && i <= 2 * o && o <= MAX_POOL_SIDE;
                if matches!(windows, FmpWindows::Graham { .. }) && !sides.into_iter().all(fits) {
                    return bad_pool("fractional pooling needs out < in <= 2 out, out <= 256");
                }
                if fmp_eval_samplings(*layer).is_none() {
                    return bad_pool(
                        "fractional pooling's eval needs Average(n >= 1), or Exact with at most MAX_EXACT_FMP_SAMPLINGS samplings",
                    );
                }
            }
            _ => {}
        }
        let survival = match *layer {
            Layer::Residual { survival, .. } => Some(survival),
            Layer::ResidualStart { depth, .. } => Some(depth.survival),
            _ => None,
        };
        if let Some(survival) = survival {
            if !(survival > 0.0 && survival <= 1.0) || Keep::new(survival)?.threshold() == 0 {
                return Err(Error::InvalidKeep { keep: survival });
            }
        }
    }
    check_blocks(layers)?;
    if net.outputs() == 0 {
        return Err(Error::InvalidConfig {
            reason: "the last layer must have outputs",
        });
    }
    Ok(())
}

/// Residual blocks: every start closed by a later end, ends only after a
/// start, no nesting, at least one layer inside and no fixed
/// [`Layer::Residual`] (both use the third gradient buffer), and the skip
/// path's shape: the identity where the block keeps its shape, else a
/// projection from the block's input to its output.
fn check_blocks(layers: &[Layer]) -> Result<(), Error> {
    let bad = |reason| Err(Error::InvalidConfig { reason });
    let mut open: Option<(usize, usize)> = None; // (index, features) of the start
    for (l, layer) in layers.iter().enumerate() {
        match (*layer, open) {
            (Layer::ResidualStart { .. }, Some(_)) => {
                return bad("residual blocks do not nest: a block starts before the last one ended")
            }
            (Layer::ResidualStart { features, .. }, None) => open = Some((l, features)),
            (Layer::ResidualEnd { .. }, None) => {
                return bad("a residual block ends without a start")
            }
            (Layer::ResidualEnd { .. }, Some((start, _))) if l == start + 1 => {
                return bad("a residual block needs at least one layer between its start and end")
            }
            (
                Layer::ResidualEnd {
                    features,
                    projection,
                },
                Some((_, skip)),
            ) => {
                match projection {
                    None if skip != features => {
                        return bad(
                            "a residual block that changes its shape needs a projection on its skip path",
                        )
                    }
                    Some(p) if p.inputs() != skip || p.outputs() != features => {
                        return bad("a residual block's projection must map its input to its output")
                    }
                    Some(Projection::Conv(conv)) => conv.validate()?,
                    _ => {}
                }
                open = None;
            }
            (Layer::Residual { .. }, Some(_)) => {
                return bad("a fixed residual block cannot sit inside a residual block")
            }
            _ => {}
        }
    }
    match open {
        Some(_) => bad("a residual block is never closed"),
        None => Ok(()),
    }
}
