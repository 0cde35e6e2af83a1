//! Dropout kernels: the fused train pass (draw, compare, scale, write mask bits),
//! scaling by a saved mask (train backward, or forward with a given mask), and
//! plain scaling (eval).
//!
//! A dropped unit is multiplied by `+0.0`, not replaced by zero: like PyTorch's
//! `x * mask * scale`, a NaN or infinite input stays NaN when dropped, so a
//! non-finite activation is never hidden by the luck of the mask.

use super::bernoulli::{bits_to_lanes, lanes_to_bits, with_keep_lanes, Keep, KeepLanes};
use super::blocks::{map_blocks, MaskWriter, Source};
use crate::rng::MaskRng;
use crate::simd::{f32s_from_bits, U32s};

/// `dst = src * (kept ? scale : 0)` with a fresh mask from `rng`, written to `mask`
/// when given. With `mask = None` this is also the regeneration pass of the
/// mask-free backward (same draws, same lanes).
pub(crate) fn mask_and_scale(
    keep: Keep,
    scale: f32,
    rng: &mut MaskRng,
    src: Source<'_>,
    dst: &mut [f32],
    mask: Option<&mut [u8]>,
) {
    let units = dst.len();
    let scale_bits = U32s::splat(scale.to_bits());
    with_keep_lanes!(keep, |rule| match mask {
        Some(mask) => {
            let mut writer = MaskWriter::new(mask, units);
            map_blocks(src, dst, |b, x| {
                let lanes = rule.lanes(rng.next_u32s());
                writer.put(b, lanes_to_bits(lanes));
                x * f32s_from_bits(lanes & scale_bits)
            })
        }
        None => map_blocks(src, dst, |_, x| {
            x * f32s_from_bits(rule.lanes(rng.next_u32s()) & scale_bits)
        }),
    })
}

/// `dst = src * (bit ? scale : 0)` with the bits of a saved mask.
pub(crate) fn scale_by_mask(scale: f32, mask: &[u8], src: Source<'_>, dst: &mut [f32]) {
    let scale_bits = U32s::splat(scale.to_bits());
    map_blocks(src, dst, |b, x| {
        let lanes = bits_to_lanes(super::blocks::mask_bits(mask, b));
        x * f32s_from_bits(lanes & scale_bits)
    })
}

/// `dst = src * scale`.
pub(crate) fn scale(scale: f32, src: Source<'_>, dst: &mut [f32]) {
    let factor = crate::simd::F32s::splat(scale);
    map_blocks(src, dst, |_, x| x * factor)
}
