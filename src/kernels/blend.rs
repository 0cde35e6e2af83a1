//! The mixup blend `out = lambda * a + (1 - lambda) * b`, lane-wise: one
//! rounding per multiply and one for the add (no FMA), so every target and the
//! scalar reference agree bit for bit.

use super::blocks::map_blocks2;
use crate::simd::F32s;

/// `out = lambda * a + (1 - lambda) * b`; lengths were checked by the caller.
pub(crate) fn blend(lambda: f32, a: &[f32], b: &[f32], out: &mut [f32]) {
    let (l, m) = (F32s::splat(lambda), F32s::splat(1.0 - lambda));
    map_blocks2(a, b, out, |x, y| l * x + m * y)
}
