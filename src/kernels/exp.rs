//! `exp` of sixteen floats at once, bit for bit `libm::expf` of each.
//!
//! The softmax spent a third of its time in scalar `libm::expf` calls (4.8% of
//! a 64-128-10 training step). This runs the same algorithm, FreeBSD's
//! `e_expf.c` as the `libm` crate ports it (reduction by `k ln 2` split into a
//! high and a low part, a rational approximation on the reduced argument,
//! scaling by `2^k` with `scalbnf`'s steps), on every lane, and picks each
//! lane's branch with selects. Each lane takes the same single-precision
//! operations in the same order as the scalar function does for that input,
//! so the results are the same bits (`exp_matches_libm_bit_for_bit`), and the
//! loss, its gradient and every trained model with them.

use super::blocks::{map_blocks, Source};
use crate::simd::{bits_of, f32s_from_bits, F32s, U32s, HAS_SIMD};

/// `out = libm::expf(z - m)` for every row `z` of `classes` logits, `m` its
/// largest; returns how many floats of `out` that wrote (whole rows of both).
/// Where vectors are registers, the differences of all rows are written first
/// and then exponentiated sixteen at a time: one vector's `exp` is a long
/// chain of dependent operations, and only independent vectors overlap (row
/// by row, the 64-128-10 training step gained a tenth of what all rows at
/// once gain). Elsewhere, one pass of `libm::expf` calls.
pub(crate) fn exp_minus_row_max(classes: usize, logits: &[f32], out: &mut [f32]) -> usize {
    let classes = classes.max(1);
    let mut len = 0;
    for (z, o) in logits
        .chunks_exact(classes)
        .zip(out.chunks_exact_mut(classes))
    {
        let max = row_max(z);
        for (ok, &zk) in o.iter_mut().zip(z) {
            *ok = if HAS_SIMD {
                zk - max
            } else {
                libm::expf(zk - max)
            };
        }
        len += classes;
    }
    if HAS_SIMD {
        map_blocks(Source::InPlace, &mut out[..len], |_, x| exp(x));
    }
    len
}

/// The largest of `z` (`-inf` if empty; NaNs are skipped).
pub(crate) fn row_max(z: &[f32]) -> f32 {
    z.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

// The scalar function's constants (ln 2 in a high part exact in products
// with small integers and a low part, 1 / ln 2), as bit patterns, and its
// approximation's two coefficients.
const LN2_HI: u32 = 0x3f31_7200;
const LN2_LO: u32 = 0x35bf_be8e;
const INV_LN2: u32 = 0x3fb8_aa3b;
#[allow(clippy::excessive_precision)]
const P1: f32 = 1.666_662_544_0e-1;
#[allow(clippy::excessive_precision)]
const P2: f32 = -2.766_733_290_6e-3;
/// 2^127 and 2^-102, `scalbnf`'s steps.
const TWO_127: u32 = 0x7f00_0000;
const TWO_MINUS_102: u32 = 0x0c80_0000;

/// `|x|`'s bits above which each branch of the scalar function applies.
const OVERFLOW: u32 = 0x42b1_7217; // 88.7228 and up, positive x: +inf
const UNDERFLOW: u32 = 0x42cf_f1b4; // 103.9721 and up, negative x: 0
const TINY: u32 = 0x3900_0000; // up to 2^-14: exp(x) = 1 + x
const HALF_LN2: u32 = 0x3eb1_7218; // up to 0.5 ln 2: k = 0
const THREE_HALVES_LN2: u32 = 0x3f85_1592; // up to 1.5 ln 2: k = +-1
const INFINITY: u32 = 0x7f80_0000; // above: NaN

/// `libm::expf` of every lane.
#[inline(always)]
pub(crate) fn exp(x: F32s) -> F32s {
    let c = |bits: u32| F32s::splat(f32::from_bits(bits));
    let bits = bits_of(x);
    let hx = bits & U32s::splat(0x7fff_ffff);
    let negative = bits.simd_gt(U32s::splat(0x7fff_ffff));
    let above = |limit: u32| hx.simd_gt(U32s::splat(limit));
    let pick = |mask: U32s, yes: F32s, no: F32s| f32s_from_bits(mask).select(yes, no);

    // k: the nearest integer to x / ln 2 (rounding half away from zero, by
    // truncation), +-1 between 0.5 and 1.5 ln 2, 0 below.
    let half = pick(negative, F32s::splat(-0.5), F32s::splat(0.5));
    let k_far = (c(INV_LN2) * x + half).trunc_int().round_float();
    let k_near = pick(negative, F32s::splat(-1.0), F32s::ONE);
    let k = pick(
        above(THREE_HALVES_LN2),
        k_far,
        pick(above(HALF_LN2), k_near, F32s::ZERO),
    );

    // With k = 0 these leave x as it is (x - 0 and 0 * LN2_LO are exact),
    // which is what the scalar function's k = 0 branch uses.
    let hi = x - k * c(LN2_HI);
    let lo = k * c(LN2_LO);
    let r = hi - lo;
    let rr = r * r;
    let p = r - rr * (F32s::splat(P1) + rr * F32s::splat(P2));
    let y = F32s::ONE + (r * p / (F32s::splat(2.0) - p) - lo + hi);

    // scalbnf(y, k): a k past the exponent range is applied in two steps.
    let big = k.simd_gt(F32s::splat(127.0));
    let small = k.simd_lt(F32s::splat(-126.0));
    let y = big.select(y * c(TWO_127), small.select(y * c(TWO_MINUS_102), y));
    let k = big.select(
        k - F32s::splat(127.0),
        small.select(k + F32s::splat(102.0), k),
    );
    let exponent: U32s = wide::bytemuck::cast((k + F32s::splat(127.0)).trunc_int());
    let scaled = y * f32s_from_bits(exponent << 23);

    // The scalar function's early returns.
    let result = pick(above(TINY), scaled, F32s::ONE + x);
    let result = pick(negative & above(UNDERFLOW), F32s::ZERO, result);
    let result = pick(!negative & above(OVERFLOW), x * c(TWO_127), result);
    pick(above(INFINITY), x, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::LANES;

    /// Compares every input's bits, sixteen lanes at a time.
    fn check(inputs: impl Iterator<Item = u32>) {
        let mut lanes = [0.0f32; LANES];
        let mut filled = 0;
        let compare = |lanes: &[f32; LANES], n: usize| {
            let got = exp(F32s::new(*lanes));
            for (&x, &e) in lanes.iter().zip(got.as_array()).take(n) {
                let want = libm::expf(x);
                assert_eq!(
                    e.to_bits(),
                    want.to_bits(),
                    "exp({x:e}) = {e:e}, libm {want:e}"
                );
            }
        };
        for b in inputs {
            lanes[filled] = f32::from_bits(b);
            filled += 1;
            if filled == LANES {
                compare(&lanes, LANES);
                filled = 0;
            }
        }
        compare(&lanes, filled);
    }

    fn both_signs(b: u32) -> [u32; 2] {
        [b, b | 0x8000_0000]
    }

    #[test]
    fn exp_matches_libm_bit_for_bit() {
        // Every branch's edges, both signs, and the specials.
        let specials = [0, INFINITY, 0x7fc0_0000, 0x7f80_0001, 1, 0x0080_0000];
        check(specials.into_iter().flat_map(both_signs));
        for limit in [
            OVERFLOW,
            UNDERFLOW,
            TINY,
            HALF_LN2,
            THREE_HALVES_LN2,
            INFINITY,
        ] {
            check((limit - 40..=limit + 40).flat_map(both_signs));
        }
        // A sweep over all patterns, and a dense one where results are
        // neither 0, 1 nor infinite (|x| from 2^-14 to 104).
        check((0..=u32::MAX).step_by(4099));
        check((TINY..=UNDERFLOW + 1).step_by(61).flat_map(both_signs));
    }

    /// All 2^32 patterns: 21 s in a native release build on Zen 4, too long for every run
    /// (`cargo test --release -p tinyreg --lib exp_matches_libm_on_every_pattern -- --ignored`).
    #[test]
    #[ignore]
    fn exp_matches_libm_on_every_pattern() {
        check(0..=u32::MAX);
    }
}
