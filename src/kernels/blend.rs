//! The mixup blend `out = lambda * a + (1 - lambda) * b`, lane-wise: one
//! rounding per multiply and one for the add (no FMA), so every target and the
//! scalar reference agree bit for bit.

#[cfg(not(target_feature = "avx512f"))]
use super::blocks::map_blocks2;
#[cfg(not(target_feature = "avx512f"))]
use crate::simd::F32s;

/// `out = lambda * a + (1 - lambda) * b`; lengths were checked by the caller.
#[cfg(not(target_feature = "avx512f"))]
pub(crate) fn blend(lambda: f32, a: &[f32], b: &[f32], out: &mut [f32]) {
    let (l, m) = (F32s::splat(lambda), F32s::splat(1.0 - lambda));
    map_blocks2(a, b, out, |x, y| l * x + m * y)
}

/// `out = lambda * a + (1 - lambda) * b`; lengths were checked by the caller.
///
/// With AVX-512 the blend still runs on 256-bit vectors: it streams three
/// arrays that rarely fit in L2, and on Zen 4 a streaming loop with any
/// 512-bit operation in it moved a 1M blend 8-10% slower (4M: 20%) than the
/// same loop on 256-bit vectors. Where the arrays sit in L2 the 512-bit loop
/// is the faster (4K: 435 against 455 ns), a case the blend of a mini-batch
/// rarely meets. The first few elements go one at a time until the output is aligned
/// to its vectors (and the inputs, where they share its alignment, as arrays
/// from one allocator do): loads that straddle cache lines cost a 1M blend
/// another 3.5%. Every element gets the same two products and sum.
#[cfg(target_feature = "avx512f")]
pub(crate) fn blend(lambda: f32, a: &[f32], b: &[f32], out: &mut [f32]) {
    use wide::f32x8;
    const HALF: usize = 8;
    let one = |o: &mut f32, x: f32, y: f32| *o = lambda * x + (1.0 - lambda) * y;
    let head = out.as_ptr().align_offset(HALF * 4).min(out.len());
    let full = head + (out.len() - head) / HALF * HALF;
    for ((o, &x), &y) in out[..head].iter_mut().zip(a).zip(b) {
        one(o, x, y);
    }
    let (l, m) = (f32x8::splat(lambda), f32x8::splat(1.0 - lambda));
    for ((x, y), z) in a[head..full]
        .chunks_exact(HALF)
        .zip(b[head..full].chunks_exact(HALF))
        .zip(out[head..full].chunks_exact_mut(HALF))
    {
        let load = |s: &[f32]| {
            let mut lanes = [0.0f32; HALF];
            lanes.copy_from_slice(s);
            f32x8::new(lanes)
        };
        z.copy_from_slice((l * load(x) + m * load(y)).as_array());
    }
    for ((o, &x), &y) in out[full..].iter_mut().zip(&a[full..]).zip(&b[full..]) {
        one(o, x, y);
    }
}
