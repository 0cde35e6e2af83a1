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
