//! Color jitter's per-pixel maps: `clamp(s x + t, 0, max)` (brightness,
//! contrast) and the blend of each RGB channel with the pixel's gray
//! (saturation), lane-wise; sums for the image's mean in 16 partial sums,
//! added in lane order (the same order on every target).

use super::blocks::{map_blocks, Source};
use crate::simd::{load_f32s, store_f32s, F32s, LANES};

/// `x = clamp(scale x + shift, 0, max)` in place (the product rounded, then
/// the sum, as PyTorch's `_blend` computes `ratio img + (1 - ratio) other`).
pub(crate) fn scale_shift_clamp(x: &mut [f32], scale: f32, shift: f32, max: f32) {
    let (s, t, hi) = (F32s::splat(scale), F32s::splat(shift), F32s::splat(max));
    map_blocks(Source::InPlace, x, |_, v| {
        (s * v + t).max(F32s::ZERO).min(hi)
    });
}

/// torchvision's `rgb_to_grayscale` weights.
pub(crate) const GRAY: [f32; 3] = [0.2989, 0.587, 0.114];

/// Blends each of the `r`, `g`, `b` planes with the pixel's gray:
/// `c = clamp(f c + (1 - f) gray, 0, max)`.
pub(crate) fn blend_with_gray(r: &mut [f32], g: &mut [f32], b: &mut [f32], factor: f32, max: f32) {
    let (f, m, hi) = (
        F32s::splat(factor),
        F32s::splat(1.0 - factor),
        F32s::splat(max),
    );
    let w = GRAY.map(F32s::splat);
    let full = r.len() / LANES * LANES;
    let blend = |x: F32s, gray: F32s| (f * x + m * gray).max(F32s::ZERO).min(hi);
    for i in (0..full).step_by(LANES) {
        let (rv, gv, bv) = (load_f32s(&r[i..]), load_f32s(&g[i..]), load_f32s(&b[i..]));
        let gray = w[0] * rv + w[1] * gv + w[2] * bv;
        store_f32s(&mut r[i..], blend(rv, gray));
        store_f32s(&mut g[i..], blend(gv, gray));
        store_f32s(&mut b[i..], blend(bv, gray));
    }
    for i in full..r.len() {
        let gray = GRAY[0] * r[i] + GRAY[1] * g[i] + GRAY[2] * b[i];
        for c in [&mut r[i], &mut g[i], &mut b[i]] {
            *c = (factor * *c + (1.0 - factor) * gray).max(0.0).min(max);
        }
    }
}

/// The sum of `x`, or of the gray of the `r`, `g`, `b` planes.
pub(crate) fn sum(planes: &[&[f32]]) -> f32 {
    let n = planes.first().map_or(0, |p| p.len());
    let full = n / LANES * LANES;
    let gray = |i: usize| -> f32 {
        match planes {
            [x] => x[i],
            [r, g, b] => GRAY[0] * r[i] + GRAY[1] * g[i] + GRAY[2] * b[i],
            _ => 0.0,
        }
    };
    let mut acc = F32s::ZERO;
    let w = GRAY.map(F32s::splat);
    for i in (0..full).step_by(LANES) {
        acc += match planes {
            [x] => load_f32s(&x[i..]),
            [r, g, b] => {
                w[0] * load_f32s(&r[i..]) + w[1] * load_f32s(&g[i..]) + w[2] * load_f32s(&b[i..])
            }
            _ => F32s::ZERO,
        };
    }
    let mut total = 0.0f32;
    for lane in acc.to_array() {
        total += lane;
    }
    for i in full..n {
        total += gray(i);
    }
    total
}
