//! `ReduceOnPlateau` against PyTorch's `ReduceLROnPlateau` step by step
//! (its `step` written out by hand for these sequences), and refusals.
use tinyreg::{Monitor, PlateauConfig, ReduceOnPlateau};

/// Mode min, factor 0.5, patience 1, relative threshold 0, cooldown 1,
/// min_lr 0.1, from 1.0: a reduction after the second epoch without a new
/// best, none in the cooldown epoch after it, and the floor at 0.1 (then no
/// more reductions: 0.1 - 0.1 is not above eps).
#[test]
fn plateau_follows_torch_reduce_lr_on_plateau() {
    let mut plateau = ReduceOnPlateau::new(PlateauConfig {
        factor: 0.5,
        patience: 1,
        threshold: 0.0,
        cooldown: 1,
        min_lr: 0.1,
        ..PlateauConfig::new(Monitor::Min)
    })
    .unwrap();
    let metrics = [
        1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9, 0.91, 0.92, 0.93, 0.94,
        0.95, 0.96,
    ];
    // PyTorch: best/num_bad_epochs/cooldown_counter per step, worked out:
    // e3 bad 1; e4 bad 2 > 1 -> 0.5, cooldown 1; e5 bad 1, cooldown -> 0;
    // e6 new best 0.8; e7 bad 1; e8 bad 2 -> 0.25; e9 cooldown; e10 bad 1;
    // e11 bad 2 -> 0.125; e12 cooldown; e13 bad 1; e14 -> max(0.0625, 0.1);
    // e15 cooldown; e16 bad 1; e17 bad 2 -> max(0.05, 0.1) = 0.1, no change.
    let want = [
        1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.1, 0.1, 0.1,
        0.1, 0.1,
    ];
    let mut lr = 1.0f32;
    for (e, (&m, &w)) in metrics.iter().zip(&want).enumerate() {
        lr = plateau.update(m, lr);
        assert_eq!(lr, w, "epoch {}", e + 1);
    }
    assert_eq!(plateau.best(), f64::from(0.8f32));
}

/// Mode max with an absolute threshold: a gain of 0.005 over the best is not
/// an improvement of 0.01, so it counts as a bad epoch; NaN is a bad epoch.
#[test]
fn plateau_max_mode_absolute_threshold_and_nan() {
    let mut plateau = ReduceOnPlateau::new(PlateauConfig {
        factor: 0.1,
        patience: 2,
        threshold: 0.01,
        relative: false,
        ..PlateauConfig::new(Monitor::Max)
    })
    .unwrap();
    let mut lr = 1.0f32;
    for (m, want) in [
        (0.5, 1.0),
        (0.505, 1.0),
        (f32::NAN, 1.0),
        (0.509, 0.1),
        (0.52, 0.1),
    ] {
        lr = plateau.update(m, lr);
        assert!((lr - want).abs() < 1e-7, "{m}: {lr} vs {want}");
    }
    assert_eq!(plateau.best(), f64::from(0.52f32));
}

/// A factor of 1 or above, below 0 or NaN, and a negative or infinite
/// threshold, min_lr or eps are refused.
#[test]
fn plateau_refuses_bad_settings() {
    let base = PlateauConfig::new(Monitor::Min);
    for bad in [
        PlateauConfig {
            factor: 1.0,
            ..base
        },
        PlateauConfig {
            factor: -0.1,
            ..base
        },
        PlateauConfig {
            factor: f64::NAN,
            ..base
        },
        PlateauConfig {
            threshold: -1e-4,
            ..base
        },
        PlateauConfig {
            min_lr: f64::INFINITY,
            ..base
        },
        PlateauConfig { eps: -1.0, ..base },
    ] {
        assert!(ReduceOnPlateau::new(bad).is_err(), "{bad:?}");
    }
    assert!(ReduceOnPlateau::new(base).is_ok());
}

/// PyTorch compares in `f64`: with the default relative threshold 1e-4 and a
/// best of 1.0, the bar is `1.0 * (1 - 1e-4) = 0.9999` (a double), and the
/// `f32` metric 0.9999 (0.99989998...) lies below it: an improvement. In
/// `f32` the bar rounds to the metric itself and the epoch would count as
/// bad, reducing the rate one epoch early.
#[test]
fn plateau_compares_in_f64_as_pytorch() {
    let mut plateau = ReduceOnPlateau::new(PlateauConfig {
        patience: 0,
        ..PlateauConfig::new(Monitor::Min)
    })
    .unwrap();
    let metric = 0.9999f32;
    assert!(f64::from(metric) < 1.0 * (1.0 - 1e-4));
    assert_eq!(plateau.update(1.0, 1.0), 1.0);
    assert_eq!(plateau.update(metric, 1.0), 1.0, "an improvement in f64");
    assert_eq!(plateau.best(), f64::from(metric));
}
