//! ICLS parsing, batch gathering and Fisher-Yates shuffling.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::trainer::data::{shuffled_indices, uniform_below};
use tinyreg::{Error, Icls};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

#[test]
fn icls_parses_the_shipped_digits() {
    let d = Icls::parse(TRAIN).unwrap();
    assert_eq!(
        (d.count, d.rows, d.cols, d.channels, d.classes, d.max_value),
        (1437, 8, 8, 1, 10, 16)
    );
    let mut counts = [0usize; 10];
    d.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [143, 146, 142, 146, 144, 145, 144, 143, 141, 143]); // data/README.md
    let mut x = vec![0f32; 2 * 64];
    let mut y = [0u32; 2];
    d.gather(&[0, 1436], &mut x, &mut y).unwrap();
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(x[0], d.images[0] as f32 / 16.0);
    assert_eq!(y, [d.labels[0] as u32, d.labels[1436] as u32]);
    assert_eq!(
        d.gather(&[1437], &mut x[..64], &mut y[..1]),
        Err(Error::IndexOutOfRange {
            index: 1437,
            len: 1437
        })
    );
}

#[test]
fn icls_rejects_malformed_files() {
    assert!(Icls::parse(&TRAIN[..100]).is_err());
    let mut bad = TRAIN.to_vec();
    bad[0] = b'X';
    assert!(Icls::parse(&bad).is_err());
    let mut bad = TRAIN.to_vec();
    *bad.last_mut().unwrap() = 10; // a label equal to the class count
    assert!(matches!(Icls::parse(&bad), Err(Error::InvalidData { .. })));
    let mut bad = TRAIN.to_vec();
    bad.push(0);
    assert!(Icls::parse(&bad).is_err());
}

#[test]
fn shuffled_indices_is_a_seeded_permutation() {
    let mut a = vec![0u32; 1000];
    let mut b = vec![0u32; 1000];
    shuffled_indices(&mut Xoshiro128PlusPlus::seed_from_u64(1), &mut a);
    shuffled_indices(&mut Xoshiro128PlusPlus::seed_from_u64(1), &mut b);
    assert_eq!(a, b);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_ne!(a, sorted);
}

/// Every permutation of 3 items is equally likely: 6 cells, 60,000 shuffles,
/// chi-square with 5 degrees of freedom below 30 (p < 2e-5).
#[test]
fn shuffle_is_uniform_over_permutations() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    let mut counts = std::collections::HashMap::new();
    let mut idx = [0u32; 3];
    for _ in 0..60_000 {
        shuffled_indices(&mut rng, &mut idx);
        *counts.entry(idx).or_insert(0usize) += 1;
    }
    assert_eq!(counts.len(), 6);
    let chi2: f64 = counts
        .values()
        .map(|&c| (c as f64 - 10_000.0).powi(2) / 10_000.0)
        .sum();
    assert!(chi2 < 30.0, "chi2 {chi2}");
    for _ in 0..1000 {
        assert!(uniform_below(&mut rng, std::num::NonZeroU32::new(7).unwrap()) < 7);
    }
}

/// ICLS version 2 stores little-endian `f32` values, gathered as they are;
/// the validation split carries them whole; NaN, a `max_value` other than 1
/// and a short file are refused.
#[test]
fn icls_version_2_holds_f32_values() {
    let values: [f32; 6] = [0.5, -1.25, 3.0e7, 1e-30, 0.0, -0.0];
    let mut bytes = b"ICLS".to_vec();
    for v in [2u32, 3, 1, 2, 1, 4, 1] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes.extend_from_slice(&[3, 0, 1]);
    let d = Icls::parse(&bytes).unwrap();
    assert_eq!((d.count, d.features(), d.sample_bytes()), (3, 2, 8));
    assert_eq!(d.dtype, tinyreg::trainer::data::Dtype::F32);
    let (mut x, mut y) = ([0f32; 4], [0u32; 2]);
    d.gather(&[2, 0], &mut x, &mut y).unwrap();
    assert_eq!(
        x.map(f32::to_bits),
        [0.0f32, -0.0, 0.5, -1.25].map(f32::to_bits)
    );
    assert_eq!(y, [1, 3]);
    let (mut images, mut labels) = (vec![0u8; d.images.len()], vec![0u8; 3]);
    let (train, val) = tinyreg::tune::validation_split(&d, 1, 0, &mut images, &mut labels).unwrap();
    assert_eq!((train.count, val.count, train.dtype), (2, 1, d.dtype));
    let mut all: Vec<u32> = (0..2)
        .flat_map(|i| train.sample_values(i).map(f32::to_bits).collect::<Vec<_>>())
        .chain(val.sample_values(0).map(f32::to_bits))
        .collect();
    all.sort();
    let mut want: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
    want.sort();
    assert_eq!(all, want, "the split moves whole samples");

    let mut nan = bytes.clone();
    nan[32 + 8..32 + 12].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(Icls::parse(&nan).is_err());
    let mut max = bytes.clone();
    max[28] = 255;
    assert!(Icls::parse(&max).is_err());
    assert!(Icls::parse(&bytes[..bytes.len() - 1]).is_err());
}
