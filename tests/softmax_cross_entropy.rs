//! `softmax_cross_entropy` and its soft-label variant.
use proptest::prelude::*;
use tinyreg::{reference, softmax_cross_entropy, softmax_cross_entropy_soft, Error};

#[test]
fn softmax_cross_entropy_of_zero_logits_is_ln_c() {
    for classes in [2usize, 10, 100, 1000] {
        let logits = vec![0f32; 3 * classes];
        let mut grad = vec![0f32; 3 * classes];
        let loss =
            softmax_cross_entropy(classes, &logits, &[0, 1, (classes - 1) as u32], &mut grad)
                .unwrap();
        assert!(
            (loss as f64 - (classes as f64).ln()).abs() < 1e-5,
            "{classes}: {loss}"
        );
    }
}

#[test]
fn softmax_cross_entropy_is_stable_for_huge_logits() {
    let logits = [1e30f32, 1e30, -1e30, -1e30, 0.0, 5.0];
    let mut grad = [0f32; 6];
    // Row 0: label 0 ties the max: loss ln 2, softmax (1/2, 1/2, 0).
    // Row 1: label 1 (0.0) against 5.0 and -1e30: loss ln(1 + e^5).
    let loss = softmax_cross_entropy(3, &logits, &[0, 1], &mut grad).unwrap();
    assert!(loss.is_finite() && grad.iter().all(|g| g.is_finite()));
    let mut exact = [0f64; 6];
    let want = reference::softmax_cross_entropy(3, &logits, &[0, 1], &mut exact);
    let by_hand = (2f64.ln() + (1.0 + 5f64.exp()).ln()) / 2.0;
    assert!((want - by_hand).abs() < 1e-12);
    assert!((loss as f64 - want).abs() <= 1e-6 * want.abs());
    // Gradient of the mean: (softmax - onehot) / 2.
    assert_eq!(&grad[..3], &[-0.25, 0.25, 0.0]);
    assert!((grad[4] as f64 - exact[4]).abs() < 1e-7 && grad[3] == 0.0);
}

#[test]
fn softmax_cross_entropy_reports_bad_input_and_writes_nothing() {
    let mut grad = [7f32; 4];
    assert_eq!(
        softmax_cross_entropy(2, &[0.0; 4], &[0, 2], &mut grad),
        Err(Error::LabelOutOfRange {
            row: 1,
            label: 2,
            classes: 2
        })
    );
    assert_eq!(
        softmax_cross_entropy(2, &[0.0, f32::NAN, 1.0, 2.0], &[0, 1], &mut grad),
        Err(Error::NonFiniteLoss { row: 0 })
    );
    assert_eq!(
        softmax_cross_entropy(2, &[0.0; 3], &[0, 1], &mut grad),
        Err(Error::LengthMismatch {
            expected: 4,
            got: 3
        })
    );
    assert_eq!(grad, [7.0; 4]);
    assert!(softmax_cross_entropy(0, &[], &[], &mut []).is_err());
}

proptest! {
    #[test]
    fn softmax_cross_entropy_matches_reference_and_gradient_rows_sum_to_zero(
        classes in 1usize..40, rows in 1usize..8, seed in any::<u64>(), spread in 0.1f32..50.0
    ) {
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s >> 40) as f32 / (1u64 << 24) as f32 };
        let logits: Vec<f32> = (0..rows * classes).map(|_| (next() - 0.5) * spread).collect();
        let labels: Vec<u32> = (0..rows).map(|_| (next() * classes as f32) as u32 % classes as u32).collect();
        let mut grad = vec![0f32; rows * classes];
        let loss = softmax_cross_entropy(classes, &logits, &labels, &mut grad).unwrap();
        let mut exact = vec![0f64; rows * classes];
        let want = reference::softmax_cross_entropy(classes, &logits, &labels, &mut exact);
        prop_assert!((loss as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()), "{} vs {}", loss, want);
        for (g, e) in grad.iter().zip(&exact) {
            prop_assert!((*g as f64 - e).abs() <= 1e-6);
        }
        for row in grad.chunks(classes) {
            let sum: f64 = row.iter().map(|&g| g as f64).sum();
            prop_assert!(sum.abs() <= 1e-6, "row sums to {}", sum);
        }
        // The soft form with one-hot targets agrees.
        let mut targets = vec![0f32; rows * classes];
        for (r, &l) in labels.iter().enumerate() {
            targets[r * classes + l as usize] = 1.0;
        }
        let mut grad_soft = vec![0f32; rows * classes];
        let soft = softmax_cross_entropy_soft(classes, &logits, &targets, &mut grad_soft).unwrap();
        prop_assert!((soft - loss).abs() <= 1e-5 * (1.0 + loss.abs()));
        for (a, b) in grad.iter().zip(&grad_soft) {
            prop_assert!((a - b).abs() <= 1e-6);
        }
    }
}

/// Mixed targets: lambda CE(y_i) + (1 - lambda) CE(y_j) equals CE against the
/// mixed one-hot labels (what mixup relies on).
#[test]
fn softmax_cross_entropy_soft_of_mixed_labels_is_the_mixed_loss() {
    let logits = [0.3f32, -1.2, 2.0, 0.7];
    let lambda = 0.3f32;
    let mut g = [0f32; 4];
    let li = softmax_cross_entropy(4, &logits, &[2], &mut g).unwrap();
    let lj = softmax_cross_entropy(4, &logits, &[0], &mut g).unwrap();
    let targets = [1.0 - lambda, 0.0, lambda, 0.0];
    let mixed = softmax_cross_entropy_soft(4, &logits, &targets, &mut g).unwrap();
    assert!((mixed - (lambda * li + (1.0 - lambda) * lj)).abs() < 1e-6);
}
