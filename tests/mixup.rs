//! Mixup: the SIMD blend equals the reference bit for bit, the mixed loss
//! equals the soft-label loss against mixed one-hot targets.
mod common;

use common::{edge_biased, same_bits};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::mixup::{blend, softmax_cross_entropy_mixed, Mixup};
use tinyreg::{reference, softmax_cross_entropy_soft};

#[test]
fn blend_matches_reference_for_every_length_and_offset() {
    for lambda in [0.0f32, 1.0, 0.3, 0.999_999] {
        for len in 0..=49 {
            for offset in 0..16 {
                let a = edge_biased(len + offset, len as u64);
                let b = edge_biased(len + offset, 100 + offset as u64);
                let mut fast = vec![0f32; len];
                let mut slow = vec![0f32; len];
                blend(lambda, &a[offset..], &b[offset..], &mut fast).unwrap();
                reference::blend(lambda, &a[offset..], &b[offset..], &mut slow);
                assert!(
                    same_bits(&fast, &slow),
                    "lambda {lambda} len {len} offset {offset}"
                );
            }
        }
    }
    assert!(blend(1.5, &[1.0], &[1.0], &mut [0.0]).is_err());
    assert!(blend(0.5, &[1.0, 2.0], &[1.0], &mut [0.0, 0.0]).is_err());
}

#[test]
fn mixup_mixed_loss_equals_soft_label_loss() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    let mixup = Mixup::new(0.4).unwrap();
    let (batch, classes) = (6usize, 5usize);
    let mut pairs = [0u32; 6];
    let lambda = mixup.sample(&mut rng, &mut pairs).unwrap();
    assert!((0.0..=1.0).contains(&lambda));
    assert_eq!(pairs, [5, 0, 1, 2, 3, 4]);
    let logits: Vec<f32> = (0..batch * classes)
        .map(|i| ((i * 37) % 11) as f32 * 0.3 - 1.5)
        .collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % classes as u32).collect();
    let partner: Vec<u32> = pairs.iter().map(|&j| labels[j as usize]).collect();
    let mut grad = vec![0f32; batch * classes];
    let mixed = softmax_cross_entropy_mixed(classes, &logits, &labels, &partner, lambda, &mut grad)
        .unwrap();
    let mut targets = vec![0f32; batch * classes];
    for r in 0..batch {
        targets[r * classes + labels[r] as usize] += lambda;
        targets[r * classes + partner[r] as usize] += 1.0 - lambda;
    }
    let mut grad_soft = vec![0f32; batch * classes];
    let soft = softmax_cross_entropy_soft(classes, &logits, &targets, &mut grad_soft).unwrap();
    assert!(
        (mixed - soft).abs() <= 1e-5 * (1.0 + soft.abs()),
        "{mixed} vs {soft}"
    );
    for (a, b) in grad.iter().zip(&grad_soft) {
        assert!((a - b).abs() <= 1e-6);
    }
    // Blending a batch: row i mixes with its partner.
    let x: Vec<f32> = (0..batch * 3).map(|i| i as f32).collect();
    let mut out = vec![0f32; batch * 3];
    mixup.mix(lambda, &pairs, 3, &x, &mut out).unwrap();
    for i in 0..batch {
        let j = pairs[i] as usize;
        for f in 0..3 {
            assert_eq!(
                out[i * 3 + f],
                lambda * x[i * 3 + f] + (1.0 - lambda) * x[j * 3 + f]
            );
        }
    }
    assert!(Mixup::new(0.0).is_err());
}
