//! [`MaskRng`]: 16 independent xoshiro128++ streams advanced together in SIMD.
//!
//! Stream `j` is the base generator jumped `j` times (each jump skips 2^64 draws,
//! so the streams never overlap in practice). Each stream's output equals
//! [`rand_xoshiro::Xoshiro128PlusPlus`] bit for bit: that crate is the reference.
//! A call to [`MaskRng::next_block`] draws once from every stream; element `i` of a
//! mask uses stream `i % 16`, draw `i / 16` (see [`crate::kernels::bernoulli`]).

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::error::Error;
use crate::simd::{U32s, LANES};

/// Number of logical random streams, fixed whatever the SIMD width of the target.
pub const STREAMS: usize = LANES;

/// Bytes of a saved [`MaskRngState`]: four `u32` words for each stream.
pub const STATE_BYTES: usize = STREAMS * 16;

/// Sixteen xoshiro128++ streams in SIMD lanes: the generator of every mask.
///
/// Deliberately not `Copy`: an accidental copy would repeat a stream. Save and
/// restore it explicitly with [`MaskRng::state`] and [`MaskRng::from_state`].
///
/// ```
/// use tinyreg::MaskRng;
/// let mut rng = MaskRng::seed_from_u64(42);
/// let saved = rng.state();
/// let first = rng.next_block();
/// let mut again = MaskRng::from_state(&saved).unwrap();
/// assert_eq!(again.next_block(), first);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskRng {
    s: [U32s; 4],
}

/// A saved [`MaskRng`]: 64 words, stream `j`'s state at `words[4j..4j + 4]`.
///
/// This is what the mask-free dropout mode keeps instead of a mask: 256 bytes,
/// whatever the number of units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskRngState {
    words: [u32; 4 * STREAMS],
}

impl MaskRngState {
    /// The state as little-endian bytes (stream 0 first), e.g. to store in flash.
    pub fn to_bytes(&self) -> [u8; STATE_BYTES] {
        let mut out = [0u8; STATE_BYTES];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.words.iter()) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Reads bytes written by [`MaskRngState::to_bytes`].
    ///
    /// Fails with [`Error::InvalidRngState`] if a stream's state is all zero (a
    /// fixed point of xoshiro that no seed reaches).
    pub fn from_bytes(bytes: &[u8; STATE_BYTES]) -> Result<Self, Error> {
        let mut words = [0u32; 4 * STREAMS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        let state = MaskRngState { words };
        state.validate()?;
        Ok(state)
    }

    fn validate(&self) -> Result<(), Error> {
        match self.words.chunks_exact(4).position(|s| s == [0; 4]) {
            Some(stream) => Err(Error::InvalidRngState { stream }),
            None => Ok(()),
        }
    }
}

impl MaskRng {
    /// Seeds the base stream like `Xoshiro128PlusPlus::seed_from_u64(seed)` and
    /// derives the others by jumps.
    pub fn seed_from_u64(seed: u64) -> Self {
        Self::from_base(Xoshiro128PlusPlus::seed_from_u64(seed))
    }

    /// Stream `j` is `base` jumped `j` times.
    pub fn from_base(base: Xoshiro128PlusPlus) -> Self {
        let mut words = [0u32; 4 * STREAMS];
        let mut stream = base;
        for chunk in words.chunks_exact_mut(4) {
            let bytes = stream.state();
            for (w, b) in chunk.iter_mut().zip(bytes.chunks_exact(4)) {
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            stream.jump();
        }
        Self::from_words(&words)
    }

    /// Restores a generator saved by [`MaskRng::state`].
    ///
    /// Fails with [`Error::InvalidRngState`] if a stream's state is all zero; a
    /// state from [`MaskRng::state`] or [`MaskRngState::from_bytes`] never is.
    pub fn from_state(state: &MaskRngState) -> Result<Self, Error> {
        state.validate()?;
        Ok(Self::from_words(&state.words))
    }

    fn from_words(words: &[u32; 4 * STREAMS]) -> Self {
        let mut s = [[0u32; LANES]; 4];
        for (stream, chunk) in words.chunks_exact(4).enumerate() {
            for (k, &w) in chunk.iter().enumerate() {
                s[k][stream] = w;
            }
        }
        MaskRng {
            s: s.map(U32s::new),
        }
    }

    /// Saves the current state; [`MaskRng::from_state`] continues from here.
    pub fn state(&self) -> MaskRngState {
        let mut words = [0u32; 4 * STREAMS];
        for (k, v) in self.s.iter().enumerate() {
            for (stream, &w) in v.as_array().iter().enumerate() {
                words[4 * stream + k] = w;
            }
        }
        MaskRngState { words }
    }

    /// Stream `j` as a scalar `rand_xoshiro` generator at the same position, or
    /// `None` if `j >= STREAMS`.
    pub fn stream(&self, j: usize) -> Option<Xoshiro128PlusPlus> {
        if j >= STREAMS {
            return None;
        }
        let mut seed = [0u8; 16];
        for (k, v) in self.s.iter().enumerate() {
            seed[4 * k..4 * k + 4].copy_from_slice(&v.as_array()[j].to_le_bytes());
        }
        Some(Xoshiro128PlusPlus::from_seed(seed))
    }

    /// One draw from every stream: lane `j` is stream `j`'s next `u32`.
    pub fn next_block(&mut self) -> [u32; STREAMS] {
        self.next_u32s().to_array()
    }

    /// Advances every stream by `draws` draws (the cost of `draws` blocks).
    pub fn skip_blocks(&mut self, draws: usize) {
        for _ in 0..draws {
            self.next_u32s();
        }
    }

    /// One xoshiro128++ step in every lane (Blackman and Vigna's algorithm).
    #[inline(always)]
    pub(crate) fn next_u32s(&mut self) -> U32s {
        let [s0, s1, s2, s3] = self.s;
        let sum = s0 + s3;
        let out = rotate_left::<7>(sum) + s0;
        let t = s1 << 9u32;
        let s2 = s2 ^ s0;
        let s3 = s3 ^ s1;
        let s1 = s1 ^ s2;
        let s0 = s0 ^ s3;
        let s2 = s2 ^ t;
        let s3 = rotate_left::<11>(s3);
        self.s = [s0, s1, s2, s3];
        out
    }
}

#[inline(always)]
fn rotate_left<const R: u32>(v: U32s) -> U32s {
    (v << R) | (v >> (32 - R))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn every_lane_matches_rand_xoshiro_jumped() {
        for seed in [0u64, 1, 0xdead_beef, u64::MAX] {
            let mut rng = MaskRng::seed_from_u64(seed);
            let mut lanes: [Xoshiro128PlusPlus; STREAMS] = core::array::from_fn(|j| {
                let mut s = Xoshiro128PlusPlus::seed_from_u64(seed);
                for _ in 0..j {
                    s.jump();
                }
                s
            });
            for _ in 0..100 {
                let block = rng.next_block();
                for (j, lane) in lanes.iter_mut().enumerate() {
                    assert_eq!(block[j], lane.next_u32(), "seed {seed} lane {j}");
                }
            }
        }
    }

    #[test]
    fn state_round_trips_through_bytes() {
        let mut rng = MaskRng::seed_from_u64(7);
        rng.skip_blocks(3);
        let bytes = rng.state().to_bytes();
        let mut back = MaskRng::from_state(&MaskRngState::from_bytes(&bytes).unwrap()).unwrap();
        assert_eq!(back.next_block(), rng.next_block());
    }

    #[test]
    fn zero_stream_state_is_rejected() {
        let mut bytes = MaskRng::seed_from_u64(7).state().to_bytes();
        bytes[16 * 5..16 * 6].fill(0);
        assert_eq!(
            MaskRngState::from_bytes(&bytes),
            Err(Error::InvalidRngState { stream: 5 })
        );
    }

    #[test]
    fn stream_view_continues_the_lane() {
        let mut rng = MaskRng::seed_from_u64(9);
        rng.skip_blocks(5);
        let mut s3 = rng.stream(3).unwrap();
        let block = rng.next_block();
        assert_eq!(block[3], s3.next_u32());
        assert!(rng.stream(STREAMS).is_none());
    }
}
