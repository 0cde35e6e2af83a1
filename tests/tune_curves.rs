//! Reading the curves: each finding from a synthetic history made to show it,
//! none from a healthy one, and bad input refused.

use tinyreg::tune::{diagnose, max_findings, Finding, Thresholds};
use tinyreg::{EpochMetrics, Error, Metrics};

fn epoch(train_loss: f32, train_acc: f32, val_loss: f32, val_acc: f32) -> EpochMetrics {
    EpochMetrics {
        train: Metrics {
            loss: train_loss,
            accuracy: train_acc,
        },
        val: Metrics {
            loss: val_loss,
            accuracy: val_acc,
        },
        lr: 1e-3,
        update_ratio: 1e-3,
    }
}

/// Loss falling and flattening, train and validation together, high accuracy.
fn healthy() -> Vec<EpochMetrics> {
    (0..20)
        .map(|e| {
            let l = 0.1 + 2.0 * (-(e as f32) / 3.0).exp();
            let acc = 0.97 - 0.6 * (-(e as f32) / 3.0).exp();
            epoch(l, acc, l * 1.05 + 0.01 * (e as f32 * 1.3).sin(), acc - 0.01)
        })
        .collect()
}

/// Smoothly falling step losses with a little noise.
fn healthy_steps(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            0.2 + 2.0 * (-(i as f32) / 200.0).exp() * (1.0 + 0.03 * ((i * 7919) % 13) as f32 / 13.0)
        })
        .collect()
}

fn run(history: &[EpochMetrics], steps: &[f32], ratios: &[f32]) -> Vec<Finding> {
    let mut out = vec![Finding::NoisyLoss { noise: 0.0 }; max_findings(ratios.len())];
    let n = diagnose(history, steps, ratios, &Thresholds::DEFAULT, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn a_healthy_run_has_no_finding() {
    assert_eq!(
        run(&healthy(), &healthy_steps(1000), &[1e-3, 0.0, 2e-3]),
        []
    );
}

#[test]
fn divergence_is_found() {
    let mut h = healthy();
    h[12].train.loss = f32::NAN;
    let f = run(&h, &[], &[]);
    assert!(
        matches!(f[..], [Finding::Diverged { epoch: 12, .. }]),
        "{f:?}"
    );
    let mut h = healthy();
    for (k, e) in h[10..].iter_mut().enumerate() {
        e.train.loss = 0.5 + k as f32;
    }
    let f = run(&h, &[], &[]);
    assert!(matches!(f[0], Finding::Diverged { epoch: 11, .. }), "{f:?}");
    // Noise near zero is not divergence: 0.02 -> 0.034 after falling from 2.1.
    let mut h = healthy();
    h[15].train.loss = 0.02;
    h[16].train.loss = 0.034;
    assert_eq!(run(&h, &[], &[]), []);
}

#[test]
fn a_flat_start_is_found() {
    // Flat for 300 steps, then falling: a bad initialization.
    let steps: Vec<f32> = (0..1000)
        .map(|i| {
            if i < 300 {
                2.3
            } else {
                0.2 + 2.1 * (-((i - 300) as f32) / 150.0).exp()
            }
        })
        .collect();
    let f = run(&healthy(), &steps, &[]);
    assert!(matches!(f[..], [Finding::FlatStart { .. }]), "{f:?}");
    // Without step losses, from the epochs.
    let mut h = healthy();
    for e in h.iter_mut().take(6) {
        e.train.loss = 2.3;
    }
    let f = run(&h, &[], &[]);
    assert!(matches!(f[..], [Finding::FlatStart { .. }]), "{f:?}");
}

#[test]
fn a_plateau_is_found() {
    let mut h = healthy();
    for e in h.iter_mut() {
        e.val.loss = e.val.loss.max(0.8);
        e.train.loss = e.train.loss.max(0.75);
        e.train.accuracy = e.train.accuracy.min(0.93);
        e.val.accuracy = e.val.accuracy.min(0.92);
    }
    let f = run(&h, &[], &[]);
    assert!(
        matches!(
            f[..],
            [Finding::Plateau {
                since_epoch: 15,
                ..
            }]
        ),
        "{f:?}"
    );
}

#[test]
fn a_noisy_loss_is_found() {
    let steps: Vec<f32> = healthy_steps(1000)
        .iter()
        .enumerate()
        .map(|(i, l)| l * if i % 2 == 0 { 0.5 } else { 1.5 })
        .collect();
    let f = run(&healthy(), &steps, &[]);
    assert!(
        matches!(f[..], [Finding::NoisyLoss { noise }] if noise > 0.15),
        "{f:?}"
    );
}

#[test]
fn overfitting_is_found() {
    let h: Vec<EpochMetrics> = (0..20)
        .map(|e| {
            let t = e as f32;
            epoch(
                1.0 / (t + 1.0),
                (0.7 + 0.03 * t).min(1.0),
                0.5 + 0.02 * (t - 8.0).abs(),
                0.85,
            )
        })
        .collect();
    let f = run(&h, &[], &[]);
    match f[..] {
        [Finding::Overfitting {
            gap,
            best_epoch: 8,
            val_rise,
        }] => {
            assert!((gap - 0.15).abs() < 1e-6 && val_rise > 0.4);
        }
        _ => panic!("{f:?}"),
    }
}

/// Validation loss still falling at the end, train accuracy at 1.0, and
/// validation `val_acc`: a gap of `1 - val_acc`.
fn gap_with_falling_val_loss(val_acc: f32) -> Vec<EpochMetrics> {
    (0..20)
        .map(|e| {
            let t = e as f32;
            let acc = (0.7 + 0.03 * t).min(1.0);
            epoch(1.0 / (t + 1.0), acc, 1.0 - 0.02 * t, val_acc.min(acc))
        })
        .collect()
}

#[test]
fn overfitting_is_a_big_gap_even_while_the_validation_loss_falls() {
    // The lecture's "big gap": 0.13 (twice the 0.05 threshold and more).
    let f = run(&gap_with_falling_val_loss(0.87), &[], &[]);
    match &f[..] {
        [finding @ Finding::Overfitting { gap, val_rise, .. }] => {
            assert!((gap - 0.13).abs() < 1e-6 && *val_rise == 0.0, "{f:?}");
            // Stopping earlier would not help: the validation loss never turned up.
            assert_eq!(finding.suggestion(), "more regularization or more data");
            assert_eq!(finding.advice().len(), 1);
            assert!(finding.to_string().contains("not rising"));
        }
        _ => panic!("{f:?}"),
    }
    // A gap of 0.07 with the loss still falling is not enough on its own.
    let f = run(&gap_with_falling_val_loss(0.93), &[], &[]);
    assert!(
        !f.iter().any(|f| matches!(f, Finding::Overfitting { .. })),
        "{f:?}"
    );
}

#[test]
fn a_loss_that_explodes_within_an_epoch_is_a_divergence() {
    // The epochs look calm (the first epoch's mean hides the explosion), the
    // steps do not: the second step's loss is 30x the first's.
    let mut steps = healthy_steps(400);
    steps[1] = 30.0 * steps[0];
    let f = run(&healthy(), &steps, &[]);
    assert!(
        matches!(f[..], [Finding::Diverged { epoch: 0, loss, min_loss }] if loss == steps[1] && min_loss == steps[0]),
        "{f:?}"
    );
    // 2.9x stays under the threshold (3x).
    steps[1] = 2.9 * steps[0];
    assert!(!run(&healthy(), &steps, &[])
        .iter()
        .any(|f| matches!(f, Finding::Diverged { .. })));
}

#[test]
fn underfitting_is_found() {
    let h: Vec<EpochMetrics> = (0..20)
        .map(|e| {
            let t = e as f32;
            epoch(
                1.5 - 0.03 * t,
                0.5 + 0.01 * t,
                1.5 - 0.03 * t,
                0.5 + 0.01 * t,
            )
        })
        .collect();
    let f = run(&h, &[], &[]);
    assert!(matches!(f[..], [Finding::Underfitting { .. }]), "{f:?}");
}

#[test]
fn update_ratios_outside_the_band_are_found() {
    // Every epoch's ratio high: the whole network's and layer 3's are too
    // high; layer 0's low one is left out (a rate too high comes down
    // first).
    let mut h = healthy();
    h.iter_mut().for_each(|e| e.update_ratio = 0.5);
    let f = run(&h, &[], &[3e-6, 0.0, 1e-3, 0.2]);
    assert_eq!(
        f,
        [
            Finding::UpdateRatio {
                layer: None,
                ratio: 0.5,
                too_high: true
            },
            Finding::UpdateRatio {
                layer: Some(3),
                ratio: 0.2,
                too_high: true
            },
        ]
    );
    // A healthy run but for one slow layer.
    let f = run(&healthy(), &[], &[3e-6, 0.0, 1e-3]);
    assert_eq!(
        f,
        [Finding::UpdateRatio {
            layer: Some(0),
            ratio: 3e-6,
            too_high: false
        }]
    );
    // Each finding says what it saw and what to do.
    let text = f[0].to_string();
    assert!(
        text.contains("3.0e-6") && text.contains("too low"),
        "{text}"
    );
    // One high epoch among healthy ones is not a high ratio (the median
    // reads the whole run).
    let mut h = healthy();
    h[19].update_ratio = 0.5;
    assert_eq!(run(&h, &[], &[]), []);
}

#[test]
fn bad_input_is_refused_and_nothing_written() {
    let mut out = [Finding::NoisyLoss { noise: 9.0 }; 8];
    assert!(matches!(
        diagnose(&[], &[], &[], &Thresholds::DEFAULT, &mut out),
        Err(Error::InvalidSetting {
            setting: "history",
            ..
        })
    ));
    assert_eq!(
        diagnose(&healthy(), &[], &[1e-3; 2], &Thresholds::DEFAULT, &mut out),
        Err(Error::BufferTooSmall { needed: 9, got: 8 })
    );
    assert!(out.iter().all(|f| *f == Finding::NoisyLoss { noise: 9.0 }));
}
