//! Helpers shared by the integration tests.
#![allow(dead_code)]

use proptest::prelude::*;

/// Values that break careless kernels: signed zeros, infinities, NaN, subnormals,
/// extremes, and ordinary numbers.
pub const EDGE_VALUES: [f32; 14] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    1.0e-40,  // subnormal
    -1.0e-45, // smallest subnormal
    f32::MIN_POSITIVE,
    f32::MAX,
    f32::MIN,
    1.0,
    -1.5,
    3.0e-20,
    7.25e19,
];

/// Deterministic pseudo-random f32s with edge values mixed in (every 5th).
pub fn edge_biased(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 5 == 0 {
                EDGE_VALUES[(state >> 40) as usize % EDGE_VALUES.len()]
            } else {
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 8.0
            }
        })
        .collect()
}

/// Bit equality, with every NaN equal to every NaN (payloads follow the hardware).
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// Proptest strategy for f32 biased to edge values.
pub fn edge_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => -10.0f32..10.0,
        1 => proptest::sample::select(EDGE_VALUES.to_vec()),
        1 => any::<f32>(),
    ]
}

/// Proptest strategy for keep values biased to the ends of the range.
pub fn edge_keep() -> impl Strategy<Value = f32> {
    prop_oneof![
        2 => 0.0f32..=1.0,
        1 => proptest::sample::select(vec![0.0f32, 1.0, 0.5, 0.9, 2f32.powi(-33), 1.0 - f32::EPSILON, 1e-6]),
    ]
}

/// Checks every `step`-th parameter's gradient against a central difference
/// of the loss (h = 1e-3, tolerance 1e-3 + 1% of the difference); returns how
/// many were checked. Every loss is computed from the same trainer state
/// (generators, running statistics), so stochastic layers draw the same masks
/// and regions each time.
pub fn check_gradients(
    trainer: &mut tinyreg::Trainer<'_, '_>,
    data: &tinyreg::Icls<'_>,
    idx: &[u32],
    step: usize,
    what: &str,
) -> usize {
    let mut snapshot = vec![0f32; trainer.snapshot_len()];
    let state = trainer.save_snapshot(&mut snapshot).unwrap();
    let loss_at = |trainer: &mut tinyreg::Trainer<'_, '_>, p: usize, value: f32| {
        trainer.restore_snapshot(&snapshot, &state).unwrap();
        trainer.params_mut()[p] = value;
        trainer.compute_gradients(data, idx).unwrap()
    };
    trainer.compute_gradients(data, idx).unwrap();
    let grads = trainer.gradients().to_vec();
    let h = 1e-3f32;
    let mut checked = 0;
    for p in (0..grads.len()).step_by(step) {
        let orig = trainer.params()[p];
        let up = loss_at(trainer, p, orig + h);
        let down = loss_at(trainer, p, orig - h);
        let fd = (up - down) / (2.0 * h);
        assert!(
            (fd - grads[p]).abs() <= 1e-3 + 1e-2 * fd.abs(),
            "{what} param {p}: fd {fd} vs {}",
            grads[p]
        );
        checked += 1;
    }
    trainer.restore_snapshot(&snapshot, &state).unwrap();
    checked
}
