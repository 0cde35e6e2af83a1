//! Samplers as pure functions: `point(seed, index)` depends on nothing else,
//! so trial `i` of a search is the same whatever the number of workers or the
//! order they run in (the reproducibility Optuna's FAQ says parallel searches
//! lose). Every stream is pinned by golden tests (`tests/tune_sampler.rs`).
//!
//! - **Random**: coordinate `d` of trial `i` is a 53-bit uniform from a
//!   counter-based hash of `(seed, i, d)` (SplitMix64's finalizer, Steele,
//!   Lea and Flood 2014), so any trial is computed directly.
//! - **Grid**: trial `i` is the mixed-radix number `i` over every
//!   parameter's levels (the last parameter fastest), or with `shuffled`, the
//!   rank `perm(i)` of a seeded permutation of the grid (a Feistel network
//!   over the next power of four, cycle-walked into range: at most the domain
//!   size steps, fewer than 4 expected).
//! - **Sobol**: Sobol's sequence with Joe and Kuo's direction numbers
//!   (`new-joe-kuo-6.21201`, the first [`SOBOL_MAX_DIMS`] dimensions), in
//!   index order: point `i` is the XOR of the direction numbers of the set
//!   bits of `i`. SciPy's `qmc.Sobol(scramble=False)` walks the same points in
//!   Gray-code order, so its point `k` is this sampler's index `k ^ (k >> 1)`
//!   (its point 2 is index 3); the first `2^m` points are the same set.
//!   Owen-scrambled per
//!   dimension by Burley's hash-based nested uniform scrambling (Burley 2020,
//!   "Practical Hash-based Owen Scrambling"). Scrambling keeps the net
//!   property: the first `2^m` points put exactly one point in each of the
//!   `2^m` equal intervals of every axis. Indices below `2^32`.
//! - **Latin hypercube** of `trials` points (McKay, Beckman and Conover
//!   1979): on each axis, trial `i` falls in stratum `perm_d(i)` of `trials`
//!   equal strata (a seeded permutation per axis), at a uniform offset in it.

use super::space::{Point, Space};
use crate::error::Error;

/// How trial indices become points of the unit cube.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampler {
    /// Independent uniform coordinates.
    Random,
    /// The full grid of [`super::Param::levels`], in order or in a seeded
    /// permuted order (so a grid cut short still spreads over the space).
    Grid {
        /// Visit the grid in a seeded random order.
        shuffled: bool,
    },
    /// Owen-scrambled Sobol points (best in power-of-two counts).
    Sobol,
    /// A Latin hypercube of `trials` points.
    LatinHypercube {
        /// Points in the design (at least 1).
        trials: u64,
    },
}

/// Dimensions the Sobol sampler supports.
pub const SOBOL_MAX_DIMS: usize = 16;

impl Sampler {
    /// How many distinct trials the sampler has for `space`: the grid's size,
    /// a Latin hypercube's `trials`, `2^32` Sobol points, or `u64::MAX`.
    pub fn len<const N: usize>(&self, space: &Space<N>) -> Result<u64, Error> {
        match *self {
            Sampler::Random => Ok(u64::MAX),
            Sampler::Grid { .. } => space.grid_len(),
            Sampler::Sobol => Ok(1 << 32),
            Sampler::LatinHypercube { trials } => Ok(trials),
        }
    }
}

impl<const N: usize> Space<N> {
    /// Trial `index` of `sampler`'s sequence for `seed`: a pure function.
    ///
    /// Errors (nothing computed): [`Error::IndexOutOfRange`] past the
    /// sampler's [`Sampler::len`]; [`Error::InvalidSetting`] for a Latin
    /// hypercube of 0 trials or Sobol beyond [`SOBOL_MAX_DIMS`] parameters.
    ///
    /// ```
    /// use tinyreg::tune::{Param, Sampler, Space};
    /// let space = Space::new([Param::log_uniform("lr", 1e-4, 1e-1), Param::uniform("keep", 0.5, 1.0)])?;
    /// let a = space.point(Sampler::Sobol, 7, 5)?;
    /// let b = space.point(Sampler::Sobol, 7, 5)?; // same seed and index: same point, anywhere
    /// assert_eq!(a, b);
    /// let lr = a.values[0].as_f64().unwrap();
    /// assert!((1e-4..=1e-1).contains(&lr));
    /// # Ok::<(), tinyreg::Error>(())
    /// ```
    pub fn point(&self, sampler: Sampler, seed: u64, index: u64) -> Result<Point<N>, Error> {
        let len = sampler.len(self)?;
        if let Sampler::LatinHypercube { trials: 0 } = sampler {
            return Err(Error::InvalidSetting {
                setting: "trials",
                rule: "a Latin hypercube needs at least one trial",
            });
        }
        if sampler == Sampler::Sobol && N > SOBOL_MAX_DIMS {
            return Err(Error::InvalidConfig {
                reason: "the Sobol sampler supports at most 16 parameters",
            });
        }
        if index >= len {
            return Err(Error::IndexOutOfRange {
                index: index.min(usize::MAX as u64) as usize,
                len: len.min(usize::MAX as u64) as usize,
            });
        }
        let unit: [f64; N] = match sampler {
            Sampler::Random => core::array::from_fn(|d| unit_f64(hash3(seed, index, d as u64))),
            Sampler::Grid { shuffled } => {
                let rank = if shuffled {
                    permute(index, len, hash3(seed, GRID_STREAM, 0))
                } else {
                    index
                };
                let (unit, values) = self.grid_point(rank);
                return Ok(Point {
                    index,
                    unit,
                    values,
                });
            }
            Sampler::Sobol => core::array::from_fn(|d| {
                let x = sobol(d, index as u32);
                let key = hash3(seed, SOBOL_STREAM, d as u64) as u32;
                // The cell's middle: 32 bits never reach 0 or 1 exactly.
                (owen_scramble(x, key) as f64 + 0.5) / 4_294_967_296.0
            }),
            Sampler::LatinHypercube { trials } => core::array::from_fn(|d| {
                let key = hash3(seed, LHS_STREAM, d as u64);
                let stratum = permute(index, trials, key);
                let jitter = unit_f64(hash3(seed ^ LHS_STREAM, index, d as u64));
                (stratum as f64 + jitter) / trials as f64
            }),
        };
        Ok(Point {
            index,
            unit,
            values: self.values_at(&unit),
        })
    }
}

const GRID_STREAM: u64 = 0x6772_6964; // "grid"
const SOBOL_STREAM: u64 = 0x0073_6f62_6f6c; // "sobol"
const LHS_STREAM: u64 = 0x006c_6873; // "lhs"

/// SplitMix64's output function: a bijective 64-bit mix.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of three words, each mixed in turn.
pub(crate) const fn hash3(a: u64, b: u64, c: u64) -> u64 {
    const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
    let h = mix64(a.wrapping_add(GOLDEN));
    let h = mix64(h ^ b.wrapping_add(GOLDEN.wrapping_mul(2)));
    mix64(h ^ c.wrapping_add(GOLDEN.wrapping_mul(3)))
}

/// The top 53 bits as a uniform in `[0, 1)`.
fn unit_f64(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A seeded bijection of `[0, n)`, random access: a 4-round Feistel network
/// on the smallest even number of bits covering `n`, cycle-walked (re-applied
/// until the value falls below `n`; it does, since `index < n` lies on the
/// same cycle).
pub(crate) fn permute(index: u64, n: u64, key: u64) -> u64 {
    debug_assert!(index < n);
    if n <= 1 {
        return 0;
    }
    let bits = 64 - (n - 1).leading_zeros();
    let half = bits.div_ceil(2).max(1);
    let mask = (1u64 << half) - 1;
    let mut x = index;
    // Bounded: a cycle of the permutation on 2^(2 half) values.
    loop {
        let (mut left, mut right) = (x >> half, x & mask);
        for round in 0..4u64 {
            let f = hash3(key, round, right) & mask;
            (left, right) = (right, left ^ f);
        }
        x = (left << half) | right;
        if x < n {
            return x;
        }
    }
}

/// Joe and Kuo's `(s, a, m_1..m_s)` for dimensions 2 to 16 (dimension 1 is
/// van der Corput's).
const JOE_KUO: [(u32, u32, [u32; 6]); SOBOL_MAX_DIMS - 1] = [
    (1, 0, [1, 0, 0, 0, 0, 0]),
    (2, 1, [1, 3, 0, 0, 0, 0]),
    (3, 1, [1, 3, 1, 0, 0, 0]),
    (3, 2, [1, 1, 1, 0, 0, 0]),
    (4, 1, [1, 1, 3, 3, 0, 0]),
    (4, 4, [1, 3, 5, 13, 0, 0]),
    (5, 2, [1, 1, 5, 5, 17, 0]),
    (5, 4, [1, 1, 5, 5, 5, 0]),
    (5, 7, [1, 1, 7, 11, 19, 0]),
    (5, 11, [1, 1, 5, 1, 1, 0]),
    (5, 13, [1, 1, 1, 3, 11, 0]),
    (5, 14, [1, 3, 5, 5, 31, 0]),
    (6, 1, [1, 3, 3, 9, 7, 49]),
    (6, 13, [1, 1, 1, 15, 21, 21]),
    (6, 16, [1, 3, 1, 13, 27, 49]),
];

/// Direction numbers `v[d][j]` (bit `j` of the index flips `v[d][j]`).
const DIRECTIONS: [[u32; 32]; SOBOL_MAX_DIMS] = directions();

const fn directions() -> [[u32; 32]; SOBOL_MAX_DIMS] {
    let mut v = [[0u32; 32]; SOBOL_MAX_DIMS];
    let mut j = 0;
    while j < 32 {
        v[0][j] = 1 << (31 - j);
        j += 1;
    }
    let mut d = 1;
    while d < SOBOL_MAX_DIMS {
        let (s, a, m) = JOE_KUO[d - 1];
        let s = s as usize;
        let mut i = 0;
        while i < 32 {
            v[d][i] = if i < s {
                m[i] << (31 - i)
            } else {
                let mut x = v[d][i - s] ^ (v[d][i - s] >> s);
                let mut k = 1;
                while k < s {
                    if (a >> (s - 1 - k)) & 1 == 1 {
                        x ^= v[d][i - k];
                    }
                    k += 1;
                }
                x
            };
            i += 1;
        }
        d += 1;
    }
    v
}

/// Coordinate `d` of Sobol point `index` (index order, not Gray-code order),
/// as a 32-bit fraction.
pub(crate) fn sobol(d: usize, index: u32) -> u32 {
    let mut x = 0;
    let mut bits = index;
    let mut j = 0;
    while bits != 0 {
        if bits & 1 == 1 {
            x ^= DIRECTIONS[d][j];
        }
        bits >>= 1;
        j += 1;
    }
    x
}

/// Burley's nested uniform scramble: the Laine-Karras hash, in which each
/// bit depends only on lower bits, applied to the bit-reversed value, so each
/// bit of the fraction depends only on higher ones (an Owen scramble).
pub(crate) fn owen_scramble(x: u32, key: u32) -> u32 {
    let mut v = x.reverse_bits();
    v = v.wrapping_add(key);
    v ^= v.wrapping_mul(0x6c50_b47c);
    v ^= v.wrapping_mul(0xb82f_1e52);
    v ^= v.wrapping_mul(0xc7af_e638);
    v ^= v.wrapping_mul(0x8d22_f6e6);
    v.reverse_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SciPy 1.x `qmc.Sobol(d=16, scramble=False)` gives point `k` at Sobol
    /// index `k ^ (k >> 1)` (Gray-code order); these are its values times 2^32.
    #[test]
    fn sobol_matches_scipy_unscrambled() {
        let expected: [(u32, [u32; 16]); 4] = [
            (
                7,
                [
                    3758096384, 3758096384, 536870912, 1610612736, 3758096384, 2684354560,
                    3758096384, 1610612736, 1610612736, 536870912, 1610612736, 3758096384,
                    3758096384, 536870912, 3758096384, 1610612736,
                ],
            ),
            (
                86,
                [
                    1778384896, 1107296256, 3321888768, 3120562176, 3791650816, 3187671040,
                    100663296, 2046820352, 2717908992, 2986344448, 1979711488, 2919235584,
                    2046820352, 3657433088, 1375731712, 2113929216,
                ],
            ),
            (
                540,
                [
                    943718400, 415236096, 2227175424, 2906652672, 1203765248, 3896508416,
                    197132288, 3862953984, 2151677952, 297795584, 364904448, 1094713344, 692060160,
                    1648361472, 616562688, 1589641216,
                ],
            ),
            (
                10277,
                [
                    2752774144, 3493593088, 688652288, 2262564864, 3816030208, 252968960,
                    546570240, 486801408, 3443785728, 1845231616, 319029248, 2571894784,
                    3998482432, 4045144064, 148111360, 2752249856,
                ],
            ),
        ];
        for (index, values) in expected {
            for (d, &v) in values.iter().enumerate() {
                assert_eq!(sobol(d, index), v, "index {index}, dimension {d}");
            }
        }
    }

    #[test]
    fn owen_scramble_is_a_nested_permutation() {
        // Bit k of the output (from the top) depends only on bits 0..=k of the
        // input: inputs sharing their top 8 bits share the output's top 8 bits.
        for key in [0u32, 1, 0xdead_beef] {
            for top in 0..256u32 {
                let a = owen_scramble(top << 24, key) >> 24;
                let b = owen_scramble((top << 24) | 0x00ab_cdef, key) >> 24;
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn permute_is_a_bijection() {
        for n in [1u64, 2, 3, 5, 16, 17, 100, 1000] {
            let mut seen = [false; 1000];
            for i in 0..n {
                let p = permute(i, n, 42) as usize;
                assert!(p < n as usize && !seen[p]);
                seen[p] = true;
            }
        }
    }
}
