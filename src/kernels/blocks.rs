//! The one driver that cuts slices into vectors and owns the tails.

use crate::simd::{load_f32s, store_f32s, F32s, LANES};

/// Number of vectors (the last one possibly partial) covering `n` elements.
#[inline]
pub(crate) const fn blocks_for(n: usize) -> usize {
    n.div_ceil(LANES)
}

/// Where a block operation reads its input.
pub(crate) enum Source<'a> {
    /// From this slice, of the destination's length.
    Slice(&'a [f32]),
    /// From the destination itself.
    InPlace,
}

/// Calls `op(block_index, x)` for every vector of the source and stores its result
/// in `dst`. A partial last block is zero-padded on the way in and cut on the way
/// out, so `op` only ever sees whole vectors.
#[inline(always)]
pub(crate) fn map_blocks(
    src: Source<'_>,
    dst: &mut [f32],
    mut op: impl FnMut(usize, F32s) -> F32s,
) {
    let full = dst.len() / LANES * LANES;
    let blocks = full / LANES;
    match src {
        Source::Slice(src) => {
            debug_assert_eq!(src.len(), dst.len());
            let (head, tail) = src.split_at(full);
            let (dst_head, dst_tail) = dst.split_at_mut(full);
            for (b, (x, y)) in head
                .chunks_exact(LANES)
                .zip(dst_head.chunks_exact_mut(LANES))
                .enumerate()
            {
                store_f32s(y, op(b, load_f32s(x)));
            }
            map_tail(tail, dst_tail, |x| op(blocks, x));
        }
        Source::InPlace => {
            let (head, tail) = dst.split_at_mut(full);
            for (b, y) in head.chunks_exact_mut(LANES).enumerate() {
                store_f32s(y, op(b, load_f32s(y)));
            }
            let mut copy = [0.0f32; LANES];
            copy[..tail.len()].copy_from_slice(tail);
            map_tail(&copy[..tail.len()], tail, |x| op(blocks, x));
        }
    }
}

/// [`map_blocks`] over two sources of the destination's length (the blend's
/// driver where it runs on [`F32s`]).
#[cfg(not(target_feature = "avx512f"))]
#[inline(always)]
pub(crate) fn map_blocks2(
    a: &[f32],
    b: &[f32],
    dst: &mut [f32],
    mut op: impl FnMut(F32s, F32s) -> F32s,
) {
    debug_assert!(a.len() == dst.len() && b.len() == dst.len());
    let full = dst.len() / LANES * LANES;
    for ((x, y), z) in a[..full]
        .chunks_exact(LANES)
        .zip(b[..full].chunks_exact(LANES))
        .zip(dst[..full].chunks_exact_mut(LANES))
    {
        store_f32s(z, op(load_f32s(x), load_f32s(y)));
    }
    let tail = dst.len() - full;
    if tail > 0 {
        let mut bl = [0.0f32; LANES];
        bl[..tail].copy_from_slice(&b[full..]);
        let other = F32s::new(bl);
        map_tail(&a[full..], &mut dst[full..], |x| op(x, other));
    }
}

/// Runs `op` on fewer than [`LANES`] elements through a padded stack vector.
#[inline(always)]
fn map_tail(src: &[f32], dst: &mut [f32], op: impl FnOnce(F32s) -> F32s) {
    debug_assert!(src.len() < LANES && src.len() == dst.len());
    if src.is_empty() {
        return;
    }
    let mut lanes = [0.0f32; LANES];
    lanes[..src.len()].copy_from_slice(src);
    let out = op(F32s::new(lanes));
    dst.copy_from_slice(&out.as_array()[..dst.len()]);
}

/// Writes the 16 mask bits of block `b` as two little-endian bytes, cutting the
/// last block at `units` so bits past the end are zero.
pub(crate) struct MaskWriter<'a> {
    bytes: &'a mut [u8],
    units: usize,
}

impl<'a> MaskWriter<'a> {
    /// `bytes` must hold at least `mask_bytes(units)`.
    pub(crate) fn new(bytes: &'a mut [u8], units: usize) -> Self {
        debug_assert!(bytes.len() >= units.div_ceil(8));
        MaskWriter { bytes, units }
    }

    #[inline(always)]
    pub(crate) fn put(&mut self, b: usize, bits: u16) {
        let first = LANES * b;
        if first + LANES <= self.units {
            if let Some(dst) = self.bytes.get_mut(2 * b..2 * b + 2) {
                dst.copy_from_slice(&bits.to_le_bytes());
            }
        } else {
            let valid = self.units.saturating_sub(first);
            let bits = bits & ((1u32 << valid) - 1) as u16;
            let len = valid.div_ceil(8);
            if let Some(dst) = self.bytes.get_mut(2 * b..2 * b + len) {
                dst.copy_from_slice(&bits.to_le_bytes()[..len]);
            }
        }
    }
}

/// Reads the 16 mask bits of block `b` (bits past the buffer read as zero).
#[inline(always)]
pub(crate) fn mask_bits(mask: &[u8], b: usize) -> u16 {
    match mask.get(2 * b..2 * b + 2) {
        Some(two) => u16::from_le_bytes([two[0], two[1]]),
        None => mask.get(2 * b).copied().unwrap_or(0) as u16,
    }
}
