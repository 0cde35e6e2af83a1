//! Where each output pixel of an affine map reads the input, [`LANES`]
//! pixels of a row at a time: the source coordinates by one multiply-add per
//! axis, then rounded (nearest) or floored with their fractions (bilinear).
//! The loads themselves are scalar (there is no gather in `wide`); what this
//! takes off them is the per-pixel rounding, bounds tests and their branches.

use crate::simd::{F32s, LANES};

/// An affine map from output to input pixel coordinates:
/// `source = (a x + b y + c, d x + e y + f)` with `(x, y)` the output
/// pixel's centre relative to the image's centre; sources are in input
/// pixels (pixel `k` centred at `k`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PixelMap {
    /// `[a, b, c, d, e, f]`.
    pub m: [f32; 6],
    /// Columns of the image.
    pub width: usize,
    /// Rows of the image.
    pub height: usize,
}

/// The sources of the pixels `col..col + LANES` of output `row`.
#[inline(always)]
fn sources(map: &PixelMap, row: usize, col: usize) -> (F32s, F32s) {
    let (half_w, half_h) = (map.width as f32 * 0.5, map.height as f32 * 0.5);
    let m = map.m;
    let y = row as f32 + 0.5 - half_h;
    let mut xs = [0f32; LANES];
    for (k, x) in xs.iter_mut().enumerate() {
        *x = (col + k) as f32 + 0.5 - half_w;
    }
    let x = F32s::new(xs);
    // The row's share first: one multiply-add per pixel and axis.
    let sx = x * F32s::splat(m[0]) + F32s::splat(m[1] * y + m[2] + half_w - 0.5);
    let sy = x * F32s::splat(m[3]) + F32s::splat(m[4] * y + m[5] + half_h - 0.5);
    (sx, sy)
}

/// `v` as a whole coordinate on an axis of `size` pixels, or -1 outside (NaN
/// included: every comparison with it is false).
#[inline(always)]
fn inside_or_minus_one(v: F32s, size: usize) -> [i32; LANES] {
    let inside = v.simd_ge(F32s::ZERO) & v.simd_le(F32s::splat(size as f32 - 1.0));
    // Whole numbers in [-1, size - 1] now: the plain conversion is exact.
    inside
        .select(v, F32s::splat(-1.0))
        .fast_round_int()
        .to_array()
}

/// Nearest sources of the pixels `col..col + LANES` of output `row`: the
/// input column and row (rounded half to even, as `grid_sample` rounds), -1
/// for pixels whose source is outside the image.
#[inline]
pub(crate) fn nearest_sources(map: &PixelMap, row: usize, col: usize) -> [[i32; LANES]; 2] {
    let (sx, sy) = sources(map, row, col);
    let (cx, cy) = (
        inside_or_minus_one(sx.round_ties_even(), map.width),
        inside_or_minus_one(sy.round_ties_even(), map.height),
    );
    // -1 in either axis marks the pixel outside: fold the rows' into the
    // columns.
    [
        core::array::from_fn(|k| if cy[k] < 0 { -1 } else { cx[k] }),
        cy,
    ]
}

/// Where [`LANES`] bilinear pixels read: each corner's index into the plane
/// and its weight, zero for a corner outside the image (whose index is then
/// 0, a valid load), and the pixels that sit exactly on an input pixel.
pub(crate) struct BilinearTaps {
    /// `[top left, top right, bottom left, bottom right]` indices.
    pub index: [[usize; LANES]; 4],
    /// Their weights, zero outside the image.
    pub weight: [[f32; LANES]; 4],
    /// The input pixel a lane sits exactly on, if any (read alone, so that
    /// the identity is exact).
    pub exact: [Option<usize>; LANES],
}

/// The taps of the pixels `col..col + LANES` of output `row` (lanes past
/// `n` get weight 0).
#[inline]
pub(crate) fn bilinear_taps(map: &PixelMap, row: usize, col: usize, n: usize) -> BilinearTaps {
    let (sx, sy) = sources(map, row, col);
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let (gx, gy) = (F32s::ONE - fx, F32s::ONE - fy);
    let (w, h) = (
        F32s::splat(map.width as f32),
        F32s::splat(map.height as f32),
    );
    // Which corners lie inside, axis by axis (false for NaN and far away).
    let zero = F32s::ZERO;
    let x0_in = x0.simd_ge(zero) & x0.simd_lt(w);
    let x1_in = x0.simd_ge(-F32s::ONE) & x0.simd_lt(w - F32s::ONE);
    let y0_in = y0.simd_ge(zero) & y0.simd_lt(h);
    let y1_in = y0.simd_ge(-F32s::ONE) & y0.simd_lt(h - F32s::ONE);
    let live = F32s::new(core::array::from_fn(|k| if k < n { 1.0 } else { 0.0 }));
    let live = live.simd_ne(zero);
    let masks = [x0_in & y0_in, x1_in & y0_in, x0_in & y1_in, x1_in & y1_in].map(|m| m & live);
    let weights = [gx * gy, fx * gy, gx * fy, fx * fy];
    let weight: [[f32; LANES]; 4] =
        core::array::from_fn(|t| masks[t].select(weights[t], zero).to_array());
    let inside: [[f32; LANES]; 4] = masks.map(|m| m.to_array());
    let (x0, y0) = (x0.to_array(), y0.to_array());
    let exact = fx.simd_eq(zero) & fy.simd_eq(zero);
    let exact = exact.to_array();
    let width = map.width as isize;
    let offsets = [0, 1, width, width + 1];
    let mut taps = BilinearTaps {
        index: [[0; LANES]; 4],
        weight,
        exact: [None; LANES],
    };
    for k in 0..n {
        // Saturating conversions and wrapping arithmetic: an index is only
        // used where its corner is inside, where it is exact.
        let top = (y0[k] as isize)
            .wrapping_mul(width)
            .wrapping_add(x0[k] as isize);
        for t in 0..4 {
            if inside[t][k] != 0.0 {
                taps.index[t][k] = top.wrapping_add(offsets[t]) as usize;
            }
        }
        if exact[k] != 0.0 && inside[0][k] != 0.0 {
            taps.exact[k] = Some(taps.index[0][k]);
        }
    }
    taps
}

/// Bilinear values of [`LANES`] pixels of one channel `plane`, blended with
/// `fill` as torchvision's `_apply_grid_transform` does: `sampled` is the
/// zero-padded bilinear sample of the image and `inside` that of a channel of
/// ones (the weight that fell inside the image), and the pixel is
/// `sampled * inside + (1 - inside) * fill`. The image term is weighed by
/// `inside` a second time, so a border pixel is darker than
/// `sampled + (1 - inside) * fill` even with a fill of 0.
#[inline]
pub(crate) fn bilinear_values(taps: &BilinearTaps, plane: &[f32], fill: f32) -> [f32; LANES] {
    let mut sum = F32s::ZERO;
    let mut inside = F32s::ZERO;
    for t in 0..4 {
        let w = F32s::new(taps.weight[t]);
        let p = F32s::new(core::array::from_fn(|k| plane[taps.index[t][k]]));
        sum += w * p;
        inside += w;
    }
    let mut v = (sum * inside + (F32s::ONE - inside) * F32s::splat(fill)).to_array();
    for (v, exact) in v.iter_mut().zip(&taps.exact) {
        if let Some(at) = *exact {
            *v = plane[at];
        }
    }
    v
}
