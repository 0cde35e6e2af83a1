//! Regression tests for hostile input (issue 15): each case once panicked,
//! hung or returned silent garbage; now it returns a typed error (or a
//! documented result) and writes nothing.

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::distributions::{beta, gamma};
use tinyreg::Error;

#[test]
fn gamma_refuses_shapes_that_are_not_positive_and_finite() {
    // -inf and -1e30 recursed without end (stack overflow).
    for shape in [f32::NEG_INFINITY, -1e30, -1.0, 0.0, f32::NAN, f32::INFINITY] {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
        let before = rng.clone();
        assert!(matches!(gamma(&mut rng, shape), Err(Error::InvalidConfig { .. })));
        assert_eq!(rng, before, "no draw on error");
    }
    // Tiny shapes underflow to 0 instead of recursing.
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    assert!(gamma(&mut rng, 1e-30).unwrap() >= 0.0);
}

#[test]
fn beta_of_huge_shapes_is_near_one_half() {
    // Beta(f32::MAX, f32::MAX) always returned 0 (X + Y overflowed).
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    for _ in 0..100 {
        let x = beta(&mut rng, f32::MAX, f32::MAX).unwrap();
        assert!((x - 0.5).abs() < 1e-3, "{x}");
    }
    let x = beta(&mut rng, f32::MAX, 1.0).unwrap();
    assert!(x > 0.999 && x <= 1.0, "{x}");
    let x = beta(&mut rng, 1.0, f32::MAX).unwrap();
    assert!((0.0..1e-3).contains(&x), "{x}");
}

mod trainer_settings {
    use tinyreg::trainer::optim::Schedule;
    use tinyreg::{
        Dense, EarlyStoppingConfig, Error, Layer, LearningRate, Metric, Monitor, Network,
        Optimizer, TrainConfig, Trainer, Update, WeightDecay,
    };

    const LAYERS: [Layer; 1] = [Layer::Dense(Dense::new(4, 3))];

    fn config() -> TrainConfig {
        TrainConfig {
            batch: 2,
            update: Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap(),
            lr: LearningRate::constant(1e-3),
            clip_norm: None,
            seed: 0,
            early_stopping: None,
        }
    }

    fn refused(cfg: TrainConfig) {
        let net = Network::new(&LAYERS);
        let mut mem = vec![7.0f32; net.memory_len(2, 2, true)];
        let e = Trainer::new(net, cfg, &mut mem).err();
        assert!(matches!(e, Some(Error::InvalidConfig { .. })), "{cfg:?}: {e:?}");
        assert!(mem.iter().all(|&v| v == 7.0), "nothing written");
    }

    #[test]
    fn rates_clipping_and_min_delta_that_make_garbage_are_refused() {
        for base in [f32::NAN, f32::INFINITY, -1e-3] {
            refused(TrainConfig {
                lr: LearningRate::constant(base),
                ..config()
            });
        }
        for schedule in [
            Schedule::Exponential { gamma: f32::NAN },
            Schedule::Step { every: 0, gamma: 0.5 },
            Schedule::Step { every: 3, gamma: -0.5 },
            Schedule::Cosine { total: 10, min: f32::NAN },
            Schedule::Cosine { total: 10, min: 1.0 },
        ] {
            refused(TrainConfig {
                lr: LearningRate {
                    base: 1e-3,
                    schedule,
                    warmup: 0,
                },
                ..config()
            });
        }
        for norm in [-1.0, 0.0, f32::NAN, f32::INFINITY] {
            refused(TrainConfig {
                clip_norm: Some(norm),
                ..config()
            });
        }
        let es = EarlyStoppingConfig {
            mode: Monitor::Min,
            min_delta: f32::NAN,
            patience: 2,
            start_from_epoch: 0,
            restore_best_weights: true,
        };
        refused(TrainConfig {
            early_stopping: Some((Metric::ValLoss, es)),
            ..config()
        });
        let net = Network::new(&LAYERS);
        let mut mem = vec![0f32; net.memory_len(2, 2, false)];
        let mut trainer = Trainer::new(net, config(), &mut mem).unwrap();
        assert!(trainer
            .set_learning_rate(LearningRate::constant(f32::NAN))
            .is_err());
        assert_eq!(trainer.config().lr, LearningRate::constant(1e-3));
    }
}
