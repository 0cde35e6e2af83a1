//! `bernoulli_mask`: golden masks, keep rates, stream independence, reference.
mod common;

use proptest::prelude::*;
use tinyreg::{bernoulli_mask, mask_bytes, reference, Error, Keep, MaskRng, STREAMS};

/// The stream is API: these masks must never change (90 units, 12 bytes).
const GOLDEN: [(u64, f32, [u8; 12]); 6] = [
    (0, 0.5, [211, 88, 79, 9, 166, 17, 214, 218, 55, 213, 211, 2]),
    (
        0,
        0.9,
        [215, 255, 239, 63, 255, 223, 255, 255, 247, 255, 255, 2],
    ),
    (
        1,
        0.5,
        [83, 12, 146, 149, 128, 33, 146, 114, 137, 31, 136, 3],
    ),
    (
        1,
        0.9,
        [255, 94, 255, 247, 207, 255, 247, 255, 239, 255, 223, 3],
    ),
    (
        42,
        0.5,
        [232, 70, 29, 101, 103, 58, 119, 76, 170, 41, 164, 0],
    ),
    (
        42,
        0.9,
        [251, 255, 255, 247, 255, 255, 255, 255, 239, 255, 254, 1],
    ),
];

#[test]
fn bernoulli_mask_golden_masks_are_pinned() {
    for (seed, keep, want) in GOLDEN {
        let mut got = [0u8; 12];
        bernoulli_mask(
            Keep::new(keep).unwrap(),
            &mut MaskRng::seed_from_u64(seed),
            90,
            &mut got,
        )
        .unwrap();
        assert_eq!(got, want, "seed {seed}");
        let mut oracle = [0u8; 12];
        reference::bernoulli_mask(
            keep,
            &mut reference::streams_from_seed(seed),
            90,
            &mut oracle,
        )
        .unwrap();
        assert_eq!(oracle, want, "reference, seed {seed}");
    }
}

fn kept(mask: &[u8]) -> u64 {
    mask.iter().map(|b| b.count_ones() as u64).sum()
}

/// The number kept out of n is Binomial(n, q): within 6 standard deviations
/// (a false alarm has probability about 2e-9 per check).
#[test]
fn bernoulli_mask_keep_rate_is_binomial() {
    const N: usize = 1 << 20;
    let mut mask = vec![0u8; mask_bytes(N)];
    for keep in [1e-4f32, 0.01, 0.1, 0.5, 0.9, 0.99] {
        for seed in 0..3 {
            let keep = Keep::new(keep).unwrap();
            let q = keep.probability();
            bernoulli_mask(keep, &mut MaskRng::seed_from_u64(seed), N, &mut mask).unwrap();
            let mean = N as f64 * q;
            let sd = (N as f64 * q * (1.0 - q)).sqrt();
            let k = kept(&mask) as f64;
            assert!(
                (k - mean).abs() <= 6.0 * sd,
                "keep {q}: {k} kept of {N}, expected {mean} ± {sd}"
            );
        }
    }
}

#[test]
fn bernoulli_mask_extremes_keep_all_or_none_and_still_advance() {
    let n = 1000;
    let mut mask = vec![0u8; mask_bytes(n)];
    let mut rng = MaskRng::seed_from_u64(3);
    bernoulli_mask(Keep::ALL, &mut rng, n, &mut mask).unwrap();
    assert_eq!(kept(&mask), n as u64);
    bernoulli_mask(Keep::new(0.0).unwrap(), &mut rng, n, &mut mask).unwrap();
    assert_eq!(kept(&mask), 0);
    // Both calls consumed ceil(n / 16) draws per stream.
    let mut expected = MaskRng::seed_from_u64(3);
    expected.skip_blocks(2 * n.div_ceil(STREAMS));
    assert_eq!(rng, expected);
}

/// Bits of neighbouring streams (units 16b + j and 16b + j + 1) and of the same
/// stream at consecutive draws (units i and i + 16) are independent: a 2x2
/// chi-square with one degree of freedom stays below 33 (p < 1e-8).
#[test]
fn bernoulli_mask_streams_are_independent() {
    const BLOCKS: usize = 1 << 16;
    let n = BLOCKS * STREAMS;
    let mut mask = vec![0u8; mask_bytes(n)];
    let keep = Keep::new(0.5).unwrap();
    bernoulli_mask(keep, &mut MaskRng::seed_from_u64(11), n, &mut mask).unwrap();
    let bit = |i: usize| mask[i / 8] >> (i % 8) & 1 == 1;
    let chi2 = |pairs: &mut dyn Iterator<Item = (usize, usize)>| {
        let mut table = [[0f64; 2]; 2];
        let mut total = 0.0;
        for (a, b) in pairs {
            table[bit(a) as usize][bit(b) as usize] += 1.0;
            total += 1.0;
        }
        let row = [table[0][0] + table[0][1], table[1][0] + table[1][1]];
        let col = [table[0][0] + table[1][0], table[0][1] + table[1][1]];
        let mut stat = 0.0;
        for r in 0..2 {
            for c in 0..2 {
                let e = row[r] * col[c] / total;
                stat += (table[r][c] - e).powi(2) / e;
            }
        }
        stat
    };
    for j in 0..STREAMS - 1 {
        let stat = chi2(&mut (0..BLOCKS).map(|b| (b * STREAMS + j, b * STREAMS + j + 1)));
        assert!(stat < 33.0, "streams {j} and {}: chi2 {stat}", j + 1);
        let stat = chi2(&mut (0..BLOCKS - 1).map(|b| (b * STREAMS + j, (b + 1) * STREAMS + j)));
        assert!(stat < 33.0, "stream {j} consecutive draws: chi2 {stat}");
    }
    // And each stream alone keeps at the right rate.
    for j in 0..STREAMS {
        let k = (0..BLOCKS).filter(|b| bit(b * STREAMS + j)).count() as f64;
        let sd = (BLOCKS as f64 * 0.25).sqrt();
        assert!(
            (k - BLOCKS as f64 / 2.0).abs() <= 6.0 * sd,
            "stream {j}: {k}"
        );
    }
}

#[test]
fn bernoulli_mask_rejects_a_short_buffer_and_writes_nothing() {
    let mut mask = [0xAAu8; 12];
    let mut rng = MaskRng::seed_from_u64(5);
    let before = rng.clone();
    let err = bernoulli_mask(Keep::new(0.5).unwrap(), &mut rng, 97, &mut mask);
    assert_eq!(
        err,
        Err(Error::BufferTooSmall {
            needed: 13,
            got: 12
        })
    );
    assert_eq!(mask, [0xAA; 12]);
    assert_eq!(rng, before);
}

#[test]
fn bernoulli_mask_matches_reference_for_every_small_length() {
    for p in [0.0f32, 2f32.powi(-33), 0.3, 0.5, 0.999, 1.0] {
        let keep = Keep::new(p).unwrap();
        for units in 0..=3 * STREAMS + 1 {
            let mut fast = [0x5Au8; 16];
            let mut slow = [0x5Au8; 16];
            let mut rng = MaskRng::seed_from_u64(units as u64);
            let mut streams = reference::streams_from_seed(units as u64);
            bernoulli_mask(keep, &mut rng, units, &mut fast).unwrap();
            reference::bernoulli_mask(p, &mut streams, units, &mut slow).unwrap();
            assert_eq!(fast, slow, "units {units}");
            // Bytes past the mask are untouched; padding bits are zero.
            assert!(fast[mask_bytes(units)..].iter().all(|&b| b == 0x5A));
            if units % 8 != 0 {
                assert_eq!(fast[units / 8] >> (units % 8), 0);
            }
            // Both generators end at the same place.
            assert_eq!(reference::streams_of(&rng), streams);
        }
    }
}

proptest! {
    #[test]
    fn bernoulli_mask_matches_reference(units in 0usize..2000, keep in common::edge_keep(), seed in any::<u64>()) {
        let mut fast = vec![0u8; mask_bytes(units)];
        let mut slow = vec![0u8; mask_bytes(units)];
        bernoulli_mask(Keep::new(keep).unwrap(), &mut MaskRng::seed_from_u64(seed), units, &mut fast).unwrap();
        reference::bernoulli_mask(keep, &mut reference::streams_from_seed(seed), units, &mut slow).unwrap();
        prop_assert_eq!(fast, slow);
    }
}

proptest! {
    /// The crate's threshold is the oracle's, computed apart: `round(keep *
    /// 2^32)` half away from zero.
    #[test]
    fn keep_threshold_matches_the_oracle(keep in common::edge_keep()) {
        prop_assert_eq!(Keep::new(keep).unwrap().threshold(), reference::threshold(keep).unwrap());
    }
}

#[test]
fn keep_and_the_oracle_refuse_the_same_probabilities() {
    for keep in [f32::NAN, -0.0001, 1.0001, f32::INFINITY] {
        assert!(
            Keep::new(keep).is_err() && reference::threshold(keep).is_err(),
            "{keep}"
        );
    }
}
