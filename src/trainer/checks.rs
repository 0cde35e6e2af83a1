//! What a trainer refuses before it touches memory: bad settings and
//! networks whose shapes do not chain or whose layers are out of range.

use super::TrainConfig;
use crate::error::{check_setting, Error};
use crate::layers::layer::{Layer, Projection};

/// The settings a trainer refuses: a zero batch, a learning rate or
/// schedule that is not finite and non-negative, a clipping norm that is not
/// positive and finite (a negative one flipped the gradient), an early
/// stopping `min_delta` that is not finite and non-negative (NaN stopped
/// after `patience` and restored epoch 0).
pub(super) fn check_config(config: &TrainConfig) -> Result<(), Error> {
    check_setting(config.batch > 0, "batch", "must be at least 1")?;
    config.lr.validate()?;
    if let Some(norm) = config.clip_norm {
        let finite = norm > 0.0 && norm.is_finite();
        check_setting(finite, "clip_norm", "must be positive and finite")?;
    }
    if let Some((_, es)) = config.early_stopping {
        let finite = es.min_delta >= 0.0 && es.min_delta.is_finite();
        check_setting(finite, "min_delta", "must be finite and >= 0")?;
    }
    if let Some(average) = config.average {
        average.validate()?;
    }
    if let Some((_, plateau)) = config.plateau {
        plateau.validate()?;
    }
    Ok(())
}

/// What a network of `layers` must be (taken as a slice, so that
/// `network.rs` can call it without a circle of imports).
pub(super) fn check_network(layers: &[Layer]) -> Result<(), Error> {
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
        layer.validate()?;
    }
    check_blocks(layers)?;
    if layers.last().map_or(0, Layer::outputs) == 0 {
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
