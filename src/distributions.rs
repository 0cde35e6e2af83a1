//! Continuous distributions for augmentation (mixup's `lambda ~ Beta(a, a)`,
//! crop offsets, box centres), drawn from a scalar `Xoshiro128PlusPlus` with
//! libm, so a seed gives the same values on every target.

use rand_core::Rng;
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::Error;

/// Uniform in `[0, 1)` with 24 random bits (every value a multiple of 2^-24).
pub fn uniform01(rng: &mut Xoshiro128PlusPlus) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
}

/// Uniform in `(0, 1)`: never exactly 0 (for logarithms).
fn uniform_open(rng: &mut Xoshiro128PlusPlus) -> f32 {
    ((rng.next_u32() >> 8) as f32 + 0.5) * (1.0 / (1u32 << 24) as f32)
}

/// Standard normal by the polar (Marsaglia) method.
pub fn normal(rng: &mut Xoshiro128PlusPlus) -> f32 {
    loop {
        let u = 2.0 * uniform01(rng) - 1.0;
        let v = 2.0 * uniform01(rng) - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * libm::sqrtf(-2.0 * libm::logf(s) / s);
        }
    }
}

/// `Gamma(shape, 1)` by Marsaglia and Tsang (2000); shapes below 1 use the
/// boost `Gamma(a) = Gamma(a + 1) * U^(1/a)`. `shape` must be positive and
/// finite (checked by [`beta`]).
pub fn gamma(rng: &mut Xoshiro128PlusPlus, shape: f32) -> f32 {
    if shape < 1.0 {
        let boost = libm::powf(uniform_open(rng), 1.0 / shape);
        return gamma(rng, shape + 1.0) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / libm::sqrtf(9.0 * d);
    loop {
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
            return d * v;
        }
    }
}

/// `Beta(a, b)` as `X / (X + Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`. Fails
/// with [`Error::InvalidConfig`] unless both are positive and finite.
pub fn beta(rng: &mut Xoshiro128PlusPlus, a: f32, b: f32) -> Result<f32, Error> {
    let ok = |v: f32| v > 0.0 && v.is_finite();
    if !ok(a) || !ok(b) {
        return Err(Error::InvalidConfig {
            reason: "Beta parameters must be positive and finite",
        });
    }
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    // Both underflow to 0 only for tiny shapes; then the mass sits at 0 or 1.
    if x + y == 0.0 {
        return Ok(if uniform01(rng) < a / (a + b) {
            1.0
        } else {
            0.0
        });
    }
    Ok(x / (x + y))
}
