//! Optimizers, decay, clipping and schedules against torch.optim's update rules
//! written out in f64.
use tinyreg::trainer::optim::clip_grad_norm;
use tinyreg::{LearningRate, Optimizer, Schedule, Update, WeightDecay};

fn params() -> (Vec<f32>, Vec<f32>) {
    // 37 elements: two whole vectors and a tail; includes 0 (sign(0) = 0).
    let p: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.1).collect();
    let g: Vec<f32> = (0..37)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.05)
        .collect();
    (p, g)
}

fn close(a: f32, b: f64) -> bool {
    (a as f64 - b).abs() <= 1e-6 * (1.0 + b.abs())
}

#[test]
fn optim_sgd_momentum_nesterov_follow_torch() {
    let (l2, l1, lr, mu) = (0.01f64, 0.001f64, 0.1f64, 0.9f64);
    for (opt, nesterov, momentum) in [
        (Optimizer::Sgd, false, 0.0),
        (Optimizer::Momentum { momentum: 0.9 }, false, mu),
        (Optimizer::Nesterov { momentum: 0.9 }, true, mu),
    ] {
        let update = Update::new(
            opt,
            WeightDecay {
                l2: l2 as f32,
                decoupled: false,
                l1: l1 as f32,
            },
        )
        .unwrap();
        let (mut p, g) = params();
        let mut state = vec![0f32; p.len() * opt.state_per_param()];
        let mut p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let mut buf = vec![0f64; p.len()];
        for step in 1..=3 {
            update
                .apply(lr as f32, step, &mut p, &g, &mut state)
                .unwrap();
            for i in 0..p64.len() {
                let sign = if p64[i] > 0.0 {
                    1.0
                } else if p64[i] < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                let d = g[i] as f64 + l2 * p64[i] + l1 * sign;
                if momentum == 0.0 {
                    p64[i] -= lr * d;
                } else {
                    buf[i] = momentum * buf[i] + d;
                    p64[i] -= lr
                        * if nesterov {
                            d + momentum * buf[i]
                        } else {
                            buf[i]
                        };
                }
            }
        }
        for (a, &b) in p.iter().zip(&p64) {
            assert!(close(*a, b), "{opt:?}: {a} vs {b}");
        }
    }
}

#[test]
fn optim_adam_and_adamw_follow_torch() {
    let (lr, b1, b2, eps, wd) = (0.01f64, 0.9f64, 0.999f64, 1e-8f64, 0.1f64);
    for decoupled in [false, true] {
        let update = Update::new(
            Optimizer::ADAM,
            WeightDecay {
                l2: wd as f32,
                decoupled,
                l1: 0.0,
            },
        )
        .unwrap();
        let (mut p, g) = params();
        let mut state = vec![0f32; 2 * p.len()];
        let mut p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let (mut m, mut v) = (vec![0f64; p.len()], vec![0f64; p.len()]);
        for step in 1..=4u32 {
            update
                .apply(lr as f32, step, &mut p, &g, &mut state)
                .unwrap();
            for i in 0..p64.len() {
                let mut d = g[i] as f64;
                if decoupled {
                    p64[i] *= 1.0 - lr * wd; // AdamW
                } else {
                    d += wd * p64[i]; // Adam's weight_decay
                }
                m[i] = b1 * m[i] + (1.0 - b1) * d;
                v[i] = b2 * v[i] + (1.0 - b2) * d * d;
                let mhat = m[i] / (1.0 - b1.powi(step as i32));
                let vhat = v[i] / (1.0 - b2.powi(step as i32));
                p64[i] -= lr * mhat / (vhat.sqrt() + eps);
            }
        }
        for (a, &b) in p.iter().zip(&p64) {
            assert!(
                (*a as f64 - b).abs() <= 2e-6 * (1.0 + b.abs()),
                "decoupled {decoupled}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn optim_rejects_bad_settings_and_lengths() {
    assert!(Update::new(Optimizer::Momentum { momentum: 1.0 }, WeightDecay::NONE).is_err());
    assert!(Update::new(
        Optimizer::Adam {
            beta1: 0.9,
            beta2: f32::NAN,
            eps: 1e-8
        },
        WeightDecay::NONE
    )
    .is_err());
    assert!(Update::new(
        Optimizer::Sgd,
        WeightDecay {
            l2: -1.0,
            decoupled: false,
            l1: 0.0
        }
    )
    .is_err());
    let update = Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap();
    let mut p = [1.0f32; 4];
    assert!(update
        .apply(0.1, 1, &mut p, &[0.0; 3], &mut [0.0; 8])
        .is_err());
    assert!(update
        .apply(0.1, 1, &mut p, &[0.0; 4], &mut [0.0; 7])
        .is_err());
    assert_eq!(p, [1.0; 4]);
}

#[test]
fn optim_clip_grad_norm_like_torch() {
    let mut g = [3.0f32, 4.0];
    let norm = clip_grad_norm(&mut g, 1.0);
    assert_eq!(norm, 5.0);
    assert!((g[0] - 3.0 / (5.0 + 1e-6)).abs() < 1e-7 && (g[1] - 4.0 / (5.0 + 1e-6)).abs() < 1e-7);
    let mut small = [0.3f32, 0.4];
    clip_grad_norm(&mut small, 1.0);
    assert_eq!(small, [0.3, 0.4]);
}

#[test]
fn optim_schedules() {
    let step = LearningRate {
        base: 1.0,
        schedule: Schedule::Step {
            every: 10,
            gamma: 0.5,
        },
        warmup: 0,
    };
    assert_eq!(
        (step.at(0), step.at(9), step.at(10), step.at(25)),
        (1.0, 1.0, 0.5, 0.25)
    );
    let exp = LearningRate {
        base: 2.0,
        schedule: Schedule::Exponential { gamma: 0.9 },
        warmup: 0,
    };
    assert!((exp.at(2) - 2.0 * 0.81).abs() < 1e-6);
    let cos = LearningRate {
        base: 1.0,
        schedule: Schedule::Cosine {
            total: 100,
            min: 0.1,
        },
        warmup: 0,
    };
    assert_eq!(cos.at(0), 1.0);
    assert!((cos.at(50) - 0.55).abs() < 1e-6);
    assert_eq!(cos.at(100), 0.1);
    assert_eq!(cos.at(500), 0.1);
    let warm = LearningRate {
        base: 1.0,
        schedule: Schedule::Constant,
        warmup: 4,
    };
    assert_eq!(
        [warm.at(0), warm.at(1), warm.at(3), warm.at(4), warm.at(100)],
        [0.25, 0.5, 1.0, 1.0, 1.0]
    );
}

/// Warm restarts against PyTorch's `CosineAnnealingWarmRestarts(T_0=3,
/// T_mult=2, eta_min=0.1)` on a base of 1, its worked numbers: cycles of 3,
/// 6 and 12 steps restarting at steps 3, 9 and 21, `0.1 + 0.9 (1 + cos(pi
/// t_cur / T_i)) / 2` within them; `T_mult = 1` repeats the first cycle;
/// a first cycle of 0, a growth of 0 and a min above the base are refused.
#[test]
fn optim_cosine_warm_restarts_follow_torch() {
    let sgdr = |first, mult| LearningRate {
        base: 1.0,
        schedule: Schedule::CosineWarmRestarts {
            first,
            mult,
            min: 0.1,
        },
        warmup: 0,
    };
    let lr = sgdr(3, 2);
    lr.validate().unwrap();
    // (step, rate): 0.775 = 0.1 + 0.9 * 3/4, 0.325 = 0.1 + 0.9 / 4,
    // 0.9397114 = 0.1 + 0.9 (1 + cos(pi / 6)) / 2, 0.55 = halfway.
    for (t, want) in [
        (0, 1.0),
        (1, 0.775),
        (2, 0.325),
        (3, 1.0),
        (4, 0.939_711_4),
        (6, 0.55),
        (9, 1.0),
        (15, 0.55),
        (21, 1.0),
    ] {
        assert!(
            (lr.at(t) - want).abs() < 1e-6,
            "step {t}: {} vs {want}",
            lr.at(t)
        );
    }
    let flat = sgdr(3, 1);
    for t in 0..30 {
        assert_eq!(flat.at(t), flat.at(t % 3), "step {t}");
    }
    // Bounded however far: the cycles saturate at u32::MAX steps.
    assert!(sgdr(1, 7).at(u32::MAX).is_finite());
    for bad in [sgdr(0, 2), sgdr(3, 0)] {
        assert!(bad.validate().is_err());
    }
    let above = LearningRate {
        base: 0.05,
        ..sgdr(3, 2)
    };
    assert!(above.validate().is_err());
}
