//! Continuous distributions for augmentation (mixup's `lambda ~ Beta(a, a)`,
//! crop offsets, box centres), drawn from a scalar `Xoshiro128PlusPlus` with
//! libm, so a seed gives the same values on every target.

use core::num::{NonZeroU32, NonZeroU64};

use rand_core::Rng;
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::error::{check_setting, Error};

/// Most draws a rejection sampler makes before it gives up and returns its
/// fallback: every loop here is bounded. Each accepts a draw with probability
/// above 0.5 (the normal's polar method pi/4, Marsaglia and Tsang's gamma
/// above 0.95), so reaching the cap has probability below 2^-256.
const MAX_REJECTIONS: u32 = 256;

/// A uniform integer in `0..bound`, unbiased (Lemire's multiply-and-reject).
/// The bound is non-zero by type: `0..0` has nothing to draw.
pub fn uniform_below(rng: &mut Xoshiro128PlusPlus, bound: NonZeroU32) -> u32 {
    let bound = bound.get();
    let threshold = bound.wrapping_neg() % bound;
    // Each draw is rejected with probability threshold / 2^32 < 1/2.
    for _ in 0..MAX_REJECTIONS {
        let product = rng.next_u32() as u64 * bound as u64;
        if (product as u32) >= threshold {
            return (product >> 32) as u32;
        }
    }
    0
}

/// [`uniform_below`] for 64-bit bounds (shuffles of `2^32` items or more).
pub fn uniform_below_u64(rng: &mut Xoshiro128PlusPlus, bound: NonZeroU64) -> u64 {
    if let Ok(small) = u32::try_from(bound.get()) {
        // Same draws as the 32-bit sampler for bounds that fit it.
        return uniform_below(rng, NonZeroU32::new(small).unwrap_or(NonZeroU32::MIN)) as u64;
    }
    let bound = bound.get();
    let threshold = bound.wrapping_neg() % bound;
    for _ in 0..MAX_REJECTIONS {
        let product = rng.next_u64() as u128 * bound as u128;
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
    0
}

/// Uniform in `[0, 1)` with 24 random bits (every value a multiple of 2^-24).
pub fn uniform01(rng: &mut Xoshiro128PlusPlus) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Uniform in `(0, 1)`: never exactly 0 (for logarithms).
fn uniform_open(rng: &mut Xoshiro128PlusPlus) -> f32 {
    ((rng.next_u32() >> 8) as f32 + 0.5) * (1.0 / (1u32 << 24) as f32)
}

/// Standard normal by the polar (Marsaglia) method (0 after
/// 256 rejections, which does not happen in practice).
pub fn normal(rng: &mut Xoshiro128PlusPlus) -> f32 {
    for _ in 0..MAX_REJECTIONS {
        let u = 2.0 * uniform01(rng) - 1.0;
        let v = 2.0 * uniform01(rng) - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * libm::sqrtf(-2.0 * libm::logf(s) / s);
        }
    }
    0.0
}

/// `Gamma(shape, 1)` by Marsaglia and Tsang (2000); shapes below 1 use the
/// boost `Gamma(a) = Gamma(a + 1) * U^(1/a)` (once, no recursion). Fails with
/// [`Error::InvalidSetting`] unless `shape` is positive and finite; nothing is
/// drawn then.
pub fn gamma(rng: &mut Xoshiro128PlusPlus, shape: f32) -> Result<f32, Error> {
    let rule = "a Gamma shape must be positive and finite";
    check_setting(shape > 0.0 && shape.is_finite(), "shape", rule)?;
    Ok(gamma_unchecked(rng, shape))
}

/// [`gamma`] for a shape already checked.
fn gamma_unchecked(rng: &mut Xoshiro128PlusPlus, shape: f32) -> f32 {
    let (shape, boost) = if shape < 1.0 {
        (shape + 1.0, libm::powf(uniform_open(rng), 1.0 / shape))
    } else {
        (shape, 1.0)
    };
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / libm::sqrtf(9.0 * d);
    for _ in 0..MAX_REJECTIONS {
        let x = normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = uniform_open(rng);
        if u < 1.0 - 0.0331 * x * x * x * x
            || libm::logf(u) < 0.5 * x * x + d * (1.0 - v + libm::logf(v))
        {
            return d * v * boost;
        }
    }
    d * boost
}

/// `Beta(a, b)` as `X / (X + Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`. Fails
/// with [`Error::InvalidSetting`] unless both are positive and finite.
pub fn beta(rng: &mut Xoshiro128PlusPlus, a: f32, b: f32) -> Result<f32, Error> {
    let ok = |v: f32| v > 0.0 && v.is_finite();
    check_setting(ok(a), "a", "a Beta parameter must be positive and finite")?;
    check_setting(ok(b), "b", "a Beta parameter must be positive and finite")?;
    let x = gamma_unchecked(rng, a);
    let y = gamma_unchecked(rng, b);
    // Both underflow to 0 only for tiny shapes; then the mass sits at 0 or 1.
    if x + y == 0.0 {
        return Ok(if uniform01(rng) < a / (a + b) {
            1.0
        } else {
            0.0
        });
    }
    // Huge shapes overflow x + y: divide by the larger instead.
    Ok(if x >= y {
        1.0 / (1.0 + y / x)
    } else {
        (x / y) / (1.0 + x / y)
    })
}
