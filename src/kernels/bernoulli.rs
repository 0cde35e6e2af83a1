//! Exact Bernoulli masks by integer threshold.
//!
//! A unit is kept when its 32-bit draw `u` satisfies `u < t`, with
//! `t = round(keep * 2^32)`. The probability a unit survives is then exactly
//! `q = t / 2^32`, which every scale in the crate uses instead of `keep`, so the
//! expectation identities hold exactly. `keep = 1` gives `t = 2^32`: every unit is
//! kept and the draws are still made and ignored, so the generator advances by the
//! same amount whatever `keep` is.
//!
//! Element `i` of a mask is decided by stream `i % 16`, draw `i / 16`, of a
//! [`MaskRng`]: its bit depends on the seed and `i` only, on every target.

use super::blocks::{blocks_for, MaskWriter};
use crate::error::Error;
use crate::rng::MaskRng;
use crate::simd::{U32s, LANES};

const TWO_POW_32: f64 = 4_294_967_296.0;

/// A keep probability as an exact integer threshold `t` in `[0, 2^32]`.
///
/// ```
/// use tinyreg::Keep;
/// let keep = Keep::new(0.9).unwrap();
/// assert_eq!(keep.threshold(), 3_865_470_464); // round(0.9f32 * 2^32)
/// assert_eq!(keep.probability(), 3_865_470_464.0 / 4_294_967_296.0);
/// assert!(Keep::new(f32::NAN).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    threshold: u64,
}

impl Keep {
    /// Every unit kept.
    pub const ALL: Keep = Keep { threshold: 1 << 32 };

    /// `t = round(keep * 2^32)` (half away from zero). Fails with
    /// [`Error::InvalidKeep`] for NaN or values outside `[0, 1]`. A `const fn`,
    /// so layer tables can be constants.
    pub const fn new(keep: f32) -> Result<Keep, Error> {
        #[allow(clippy::manual_range_contains)] // `contains` is not const
        if !(keep >= 0.0 && keep <= 1.0) {
            return Err(Error::InvalidKeep { keep });
        }
        // keep has 24 significant bits, so keep * 2^32 and + 0.5 are exact in
        // f64, and the cast truncates: floor(x + 0.5) rounds half up.
        let threshold = (keep as f64 * TWO_POW_32 + 0.5) as u64;
        Ok(Keep { threshold })
    }

    /// A threshold given directly; `None` above `2^32`.
    pub const fn from_threshold(threshold: u64) -> Option<Keep> {
        if threshold <= 1 << 32 {
            Some(Keep { threshold })
        } else {
            None
        }
    }

    /// The integer threshold `t`: a draw `u` keeps its unit when `u < t`.
    pub const fn threshold(self) -> u64 {
        self.threshold
    }

    /// The exact keep probability `q = t / 2^32` (exact in `f64`).
    pub fn probability(self) -> f64 {
        self.threshold as f64 / TWO_POW_32
    }

    /// Whether a draw keeps its unit.
    pub const fn keeps(self, draw: u32) -> bool {
        (draw as u64) < self.threshold
    }

    pub(crate) fn rule(self) -> KeepRule {
        match self.threshold {
            0 => KeepRule::None,
            t if t >= 1 << 32 => KeepRule::All,
            t => KeepRule::Below(t as u32),
        }
    }
}

/// How a block of draws becomes lane masks; split three ways so the common case
/// is one unsigned compare and `t = 0` or `t = 2^32` need no 33-bit arithmetic.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeepRule {
    None,
    Below(u32),
    All,
}

/// The lane mask of a block of draws: all ones where the unit is kept.
pub(crate) trait KeepLanes: Copy {
    fn lanes(self, draws: U32s) -> U32s;
}

#[derive(Clone, Copy)]
pub(crate) struct KeepNone;
#[derive(Clone, Copy)]
pub(crate) struct KeepAll;
#[derive(Clone, Copy)]
pub(crate) struct KeepBelow(pub(crate) U32s);

impl KeepLanes for KeepNone {
    #[inline(always)]
    fn lanes(self, _: U32s) -> U32s {
        U32s::ZERO
    }
}
impl KeepLanes for KeepAll {
    #[inline(always)]
    fn lanes(self, _: U32s) -> U32s {
        U32s::splat(u32::MAX)
    }
}
impl KeepLanes for KeepBelow {
    #[inline(always)]
    fn lanes(self, draws: U32s) -> U32s {
        draws.simd_lt(self.0)
    }
}

/// Calls `f` with the [`KeepLanes`] implementation for `keep`, monomorphizing the
/// caller's loop for each regime.
macro_rules! with_keep_lanes {
    ($keep:expr, |$rule:ident| $body:expr) => {
        match $keep.rule() {
            $crate::kernels::bernoulli::KeepRule::None => {
                let $rule = $crate::kernels::bernoulli::KeepNone;
                $body
            }
            $crate::kernels::bernoulli::KeepRule::All => {
                let $rule = $crate::kernels::bernoulli::KeepAll;
                $body
            }
            $crate::kernels::bernoulli::KeepRule::Below(t) => {
                let $rule = $crate::kernels::bernoulli::KeepBelow($crate::simd::U32s::splat(t));
                $body
            }
        }
    };
}
pub(crate) use with_keep_lanes;

/// 16 lane masks to 16 bits, lane `j` to bit `j`.
#[inline(always)]
pub(crate) fn lanes_to_bits(lanes: U32s) -> u16 {
    lanes.to_bitmask() as u16
}

/// 16 bits to 16 lane masks, bit `j` to lane `j`.
#[inline(always)]
pub(crate) fn bits_to_lanes(bits: u16) -> U32s {
    const BIT: [u32; LANES] = {
        let mut b = [0u32; LANES];
        let mut j = 0;
        while j < LANES {
            b[j] = 1 << j;
            j += 1;
        }
        b
    };
    (U32s::splat(bits as u32) & U32s::new(BIT)).simd_ne(U32s::ZERO)
}

/// Bit `i` of a mask: whether unit `i` is kept (bits past the mask read as
/// dropped). The one reader of the mask format, for every layer and kernel.
#[inline(always)]
pub fn mask_bit(mask: &[u8], i: usize) -> bool {
    mask.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
}

/// Bytes of a bit-packed mask of `units` units: bit `i % 8` of byte `i / 8`.
pub const fn mask_bytes(units: usize) -> usize {
    units.div_ceil(8)
}

/// Draws a mask of `units` bits into `mask`; the caller checked
/// `mask.len() >= mask_bytes(units)`.
pub(crate) fn sample_mask(keep: Keep, rng: &mut MaskRng, units: usize, mask: &mut [u8]) {
    let mut writer = MaskWriter::new(mask, units);
    with_keep_lanes!(keep, |rule| {
        for b in 0..blocks_for(units) {
            writer.put(b, lanes_to_bits(rule.lanes(rng.next_u32s())));
        }
    });
}

/// Draws a bit-packed keep mask of `units` units from `rng`.
///
/// Validates like every public entry point: `mask` must hold
/// [`mask_bytes`]`(units)` bytes. Consumes `ceil(units / 16)` draws per stream.
///
/// ```
/// use tinyreg::{bernoulli_mask, Keep, MaskRng, mask_bytes};
/// let mut rng = MaskRng::seed_from_u64(1);
/// let mut mask = [0u8; mask_bytes(100)];
/// bernoulli_mask(Keep::new(0.5).unwrap(), &mut rng, 100, &mut mask).unwrap();
/// let kept: u32 = mask.iter().map(|b| b.count_ones()).sum();
/// assert!((30..70).contains(&kept));
/// ```
pub fn bernoulli_mask(
    keep: Keep,
    rng: &mut MaskRng,
    units: usize,
    mask: &mut [u8],
) -> Result<(), Error> {
    let needed = mask_bytes(units);
    if mask.len() < needed {
        return Err(Error::BufferTooSmall {
            needed,
            got: mask.len(),
        });
    }
    sample_mask(keep, rng, units, mask);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_rounds_and_spans_the_range() {
        assert_eq!(Keep::new(0.0).unwrap().threshold(), 0);
        assert_eq!(Keep::new(1.0).unwrap().threshold(), 1 << 32);
        assert_eq!(Keep::new(0.5).unwrap().threshold(), 1 << 31);
        // 2^-33 rounds up (half away from zero), anything smaller to 0.
        assert_eq!(Keep::new(2f32.powi(-33)).unwrap().threshold(), 1);
        assert_eq!(Keep::new(2f32.powi(-34)).unwrap().threshold(), 0);
        for bad in [f32::NAN, -0.1, 1.0001, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(Keep::new(bad).is_err());
        }
    }

    #[test]
    fn compare_keeps_exactly_the_draws_below_the_threshold() {
        let t = 1000u32;
        let draws = U32s::new([
            0,
            1,
            998,
            999,
            1000,
            1001,
            u32::MAX,
            1 << 31,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        let bits = lanes_to_bits(KeepBelow(U32s::splat(t)).lanes(draws));
        assert_eq!(bits, 0b1111_1111_0000_1111);
        assert_eq!(lanes_to_bits(KeepAll.lanes(draws)), u16::MAX);
        assert_eq!(lanes_to_bits(KeepNone.lanes(draws)), 0);
        let keep = Keep::from_threshold(t as u64).unwrap();
        assert!(keep.keeps(999) && !keep.keeps(1000));
    }

    #[test]
    fn bits_and_lanes_round_trip() {
        for bits in [0u16, 1, 0x8000, 0xa5a5, u16::MAX, 0x1234] {
            assert_eq!(lanes_to_bits(bits_to_lanes(bits)), bits);
        }
    }
}
