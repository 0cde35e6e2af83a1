//! Regression tests for hostile input: each case once panicked,
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
        assert!(matches!(
            gamma(&mut rng, shape),
            Err(Error::InvalidSetting {
                setting: "shape",
                ..
            })
        ));
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
        TrainConfig::new(2, LearningRate::constant(1e-3))
            .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap())
    }

    fn refused(cfg: TrainConfig) {
        let net = Network::new(&LAYERS);
        let mut mem = vec![7.0f32; net.memory_len(2, 2, true)];
        let e = Trainer::new(net, cfg, &mut mem).err();
        assert!(
            matches!(e, Some(Error::InvalidSetting { .. })),
            "{cfg:?}: {e:?}"
        );
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
            Schedule::Step {
                every: 0,
                gamma: 0.5,
            },
            Schedule::Step {
                every: 3,
                gamma: -0.5,
            },
            Schedule::Cosine {
                total: 10,
                min: f32::NAN,
            },
            Schedule::Cosine {
                total: 10,
                min: 1.0,
            },
            // Found by the `optim` fuzz target: a factor above 1 grew the
            // rate to infinity (and a zero base times infinity to NaN).
            Schedule::Exponential { gamma: 1.5 },
            Schedule::Step {
                every: 17733,
                gamma: 8191.876,
            },
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

mod layers_and_data {
    use tinyreg::layers::mixup::softmax_cross_entropy_mixed;
    use tinyreg::layers::pool::{
        fmp_regions, pytorch_fmp_regions, region_avg_pool_backward, region_avg_pool_forward,
        region_max_pool_forward, PoolRegions, Region,
    };
    use tinyreg::{relu_backward, BatchNorm, BatchNormGrads, Conv2d, Error, ForwardBuffers, Icls};

    #[test]
    fn batch_norm_refuses_huge_batches_and_bad_constants() {
        // backward with a huge batch indexed out of bounds.
        let bn = BatchNorm::new(4);
        let (gamma, saved, dy) = ([1.0f32; 4], [0.0f32; 8], [0.0f32; 4]);
        let (mut dg, mut db, mut dx) = ([0.0f32; 4], [0.0f32; 4], [5.0f32; 4]);
        let e = bn.backward(
            usize::MAX / 2,
            &gamma,
            &saved,
            &dy,
            BatchNormGrads {
                gamma: &mut dg,
                beta: &mut db,
            },
            &mut dx,
        );
        assert!(e.is_err());
        assert_eq!(dx, [5.0; 4]);
        for (momentum, eps) in [(f32::NAN, 1e-5), (0.1, -1.0), (0.1, 0.0), (2.0, 1e-5)] {
            assert!(matches!(
                BatchNorm::with(4, momentum, eps).validate(),
                Err(Error::InvalidSetting {
                    setting: "momentum" | "eps",
                    ..
                })
            ));
        }
    }

    #[test]
    fn convolution_of_an_image_of_usize_max_pixels_is_an_overflow() {
        // A 2^32 x 2^32 image (2^16 x 2^16 on 32-bit targets) wrapped to 0 pixels
        // and panicked ("chunk size must be non-zero").
        let conv = Conv2d {
            in_channels: 1,
            out_channels: 1,
            height: 1 << (usize::BITS / 2),
            width: 1 << (usize::BITS / 2),
            k: 1,
            stride: 1,
            padding: 0,
        };
        let mut out = [0.0f32; 4];
        let e = conv.forward(
            &[1.0],
            &[0.0],
            false,
            ForwardBuffers {
                batch: 1,
                input: &[0.0; 4],
                output: &mut out,
                scratch: &mut [0.0; 16],
            },
        );
        assert_eq!(e, Err(Error::ShapeOverflow));
    }

    #[test]
    fn pooling_empty_planes_is_refused_instead_of_looping() {
        // planes = usize::MAX of 0x0 planes looped 2^64 times.
        let none: [Region; 0] = [];
        let mut argmax = [0u8; 0];
        let regions = PoolRegions {
            planes: usize::MAX,
            height: 0,
            width: 0,
            rows: &none,
            cols: &none,
        };
        assert!(region_max_pool_forward(regions, &[], &mut [], &mut argmax).is_err());
        assert!(region_avg_pool_forward(regions, &[], &mut []).is_err());
        assert!(region_avg_pool_backward(regions, &[], &mut []).is_err());
    }

    #[test]
    fn fractional_regions_refuse_bad_u_sizes_and_bounds() {
        let mut regions = [(9u16, 9u16); 4];
        for u in [f32::NAN, 7.5, -3.0, 1.0] {
            assert!(
                pytorch_fmp_regions(u, 8, 4, 2, &mut regions).is_err(),
                "u = {u}"
            );
        }
        assert!(pytorch_fmp_regions(0.5, 70_000, 4, 2, &mut regions).is_err());
        // Unordered bounds made a region of 65,534.
        assert!(fmp_regions(&[0, 3, 2, 6, 8], false, 8, &mut regions).is_err());
        assert!(fmp_regions(&[0, 2, 4, 6, 9], false, 8, &mut regions).is_err());
        assert_eq!(regions, [(9, 9); 4], "nothing written");
        assert!(fmp_regions(&[0, 2, 4, 6, 8], false, 8, &mut regions).is_ok());
    }

    #[test]
    fn relu_backward_refuses_mismatched_lengths() {
        let mut g = [1.0f32; 3];
        assert!(matches!(
            relu_backward(&[1.0, -1.0], &mut g),
            Err(Error::LengthMismatch { .. })
        ));
        assert_eq!(g, [1.0; 3]);
        relu_backward(&[1.0, -1.0, 2.0], &mut g).unwrap();
        assert_eq!(g, [1.0, 0.0, 1.0]);
    }

    #[test]
    fn mixed_loss_with_an_infinite_partner_loss_is_an_error() {
        // lambda = 1 weighed an infinite partner loss by 0: Ok(NaN).
        let logits = [0.0f32, f32::NEG_INFINITY, 1.0, 2.0];
        let mut grad = [7.0f32; 4];
        let e = softmax_cross_entropy_mixed(2, &logits, &[0, 0], &[1, 1], 1.0, &mut grad);
        assert_eq!(e, Err(Error::NonFiniteLoss { row: 0 }));
        assert_eq!(grad, [7.0; 4]);
    }

    #[test]
    fn an_icls_built_by_hand_with_inconsistent_fields_is_refused() {
        let images = [0u8; 8];
        let labels = [0u8; 2];
        let bad = Icls {
            count: 5, // the slices hold 2 samples of 4
            rows: 2,
            cols: 2,
            channels: 1,
            classes: 10,
            max_value: 255,
            dtype: tinyreg::trainer::data::Dtype::U8,
            images: &images,
            labels: &labels,
        };
        let (mut x, mut y) = ([0.0f32; 4], [0u32; 1]);
        assert!(matches!(
            bad.gather(&[4], &mut x, &mut y),
            Err(Error::InvalidData { .. })
        ));
        assert!(bad.slice(0, 5).is_err());
    }
}

mod trainer_side_effects {
    use tinyreg::{
        ensemble_proba, BatchNorm, Dense, Error, Layer, LearningRate, Network, Optimizer,
        TrainConfig, Trainer, Update, WeightDecay,
    };

    const LAYERS: [Layer; 3] = [
        Layer::Dense(Dense::new(4, 6)),
        Layer::BatchNorm(BatchNorm::new(6)),
        Layer::Dense(Dense::new(6, 3)),
    ];

    fn config() -> TrainConfig {
        TrainConfig::new(4, LearningRate::constant(0.1))
            .with_update(Update::new(Optimizer::Sgd, WeightDecay::NONE).unwrap())
            .with_seed(5)
    }

    #[test]
    fn a_bad_mix_is_refused_before_the_forward_pass() {
        let net = Network::new(&LAYERS);
        let mut mem = vec![0f32; net.memory_len(4, 0, false)];
        let mut trainer = Trainer::new(net, config(), &mut mem).unwrap();
        let x = [0.5f32; 16];
        let before = (trainer.state(), mem_copy(&trainer));
        // A NaN lambda moved batch norm's running statistics first.
        let e = trainer.train_step_batch(&x, &[0, 1, 2, 0], Some((&[1, 2, 0, 1], f32::NAN)));
        assert!(matches!(
            e,
            Err(Error::InvalidSetting {
                setting: "lambda",
                ..
            })
        ));
        // A partner label out of range advanced the mask generator first.
        let e = trainer.train_step_batch(&x, &[0, 1, 2, 0], Some((&[1, 2, 9, 1], 0.5)));
        assert!(matches!(e, Err(Error::LabelOutOfRange { row: 2, .. })));
        let e = trainer.train_step_batch(&x, &[0, 1, 2, 0], Some((&[1, 2], 0.5)));
        assert!(matches!(e, Err(Error::LengthMismatch { .. })));
        assert_eq!((trainer.state(), mem_copy(&trainer)), before);
    }

    /// Parameters, optimizer state and batch norm's running statistics.
    fn mem_copy(t: &Trainer) -> Vec<u32> {
        let mut snapshot = vec![0f32; t.snapshot_len()];
        t.save_snapshot(&mut snapshot).unwrap();
        snapshot.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn ensemble_proba_checks_every_member_before_writing() {
        let net = Network::new(&LAYERS);
        let (mut m1, mut m2) = (
            vec![0f32; net.memory_len(4, 0, false)],
            vec![0f32; net.memory_len(4, 0, false)],
        );
        let mut members = [
            Trainer::new(net, config(), &mut m1).unwrap(),
            Trainer::new(net, config(), &mut m2).unwrap(),
        ];
        let mut probs = [9.0f32; 6];
        let mut tmp = [0.0f32; 6];
        // Too few input rows: probs was zeroed before the error.
        let e = ensemble_proba(&mut members, &[0.5; 4], 2, &mut probs, &mut tmp);
        assert!(matches!(e, Err(Error::LengthMismatch { .. })));
        assert_eq!(probs, [9.0; 6]);
    }

    #[test]
    fn a_plan_that_overflows_is_refused() {
        // Relu { features: 2^63 } at batch 2 "needed" 2,050 floats.
        let layers = [Layer::Relu {
            features: 1 << (usize::BITS - 1),
        }];
        let net = Network::new(&layers);
        assert_eq!(net.memory_len(2, 0, false), usize::MAX);
        let mut mem = vec![0f32; 4096];
        assert_eq!(
            Trainer::new(
                net,
                TrainConfig {
                    batch: 2,
                    ..config()
                },
                &mut mem
            )
            .err(),
            Some(Error::ShapeOverflow)
        );
    }

    #[test]
    fn the_step_count_saturates_instead_of_wrapping() {
        let net = Network::new(&LAYERS);
        let mut mem = vec![0f32; net.memory_len(4, 0, false)];
        let mut state = Trainer::new(net, config(), &mut mem).unwrap().state();
        state.step = u32::MAX;
        let mut resumed = Trainer::resume(net, config(), &mut mem, &state).unwrap();
        resumed
            .train_step_batch(&[0.5; 16], &[0, 1, 2, 0], None)
            .unwrap();
        assert_eq!(resumed.steps(), u32::MAX);
    }
}

#[test]
fn convolution_of_an_empty_padded_image_is_refused() {
    // 0x0 input with padding 2 and a 3x3 kernel has a 1x1 output but no
    // input: it panicked on a zero chunk size (found by the conv fuzz target).
    let conv = tinyreg::Conv2d {
        in_channels: 1,
        out_channels: 4,
        height: 0,
        width: 0,
        k: 3,
        stride: 2,
        padding: 2,
    };
    let mut out = [9.0f32; 4];
    let e = conv.forward_im2col(
        &[0.0; 36],
        &[0.0; 4],
        false,
        tinyreg::ForwardBuffers {
            batch: 1,
            input: &[],
            output: &mut out,
            scratch: &mut [0.0; 1 << 14],
        },
    );
    assert!(matches!(e, Err(Error::InvalidConfig { .. })));
    assert_eq!(out, [9.0; 4]);
}

/// A step whose loss is not finite leaves the trainer as it was: batch
/// norm's running statistics did not move and the mask generator did not
/// advance (the next good step equals a fresh trainer's).
#[test]
fn non_finite_loss_moves_no_running_statistics_and_no_generator() {
    use tinyreg::{
        BatchNorm, Dense, Dropout, Layer, LearningRate, Network, Optimizer, TrainConfig, Trainer,
        Update, WeightDecay,
    };
    let layers = [
        Layer::Dense(Dense::new(4, 8).with_relu()),
        Layer::BatchNorm(BatchNorm::new(8)),
        Layer::Dropout {
            features: 8,
            dropout: Dropout::inverted(0.5).unwrap(),
        },
        Layer::Dense(Dense::new(8, 3)),
    ];
    let config = TrainConfig::new(4, LearningRate::constant(1e-2))
        .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap())
        .with_seed(3);
    let net = Network::new(&layers);
    let len = net.memory_len(4, 2, false);
    let (mut a, mut b) = (vec![0f32; len], vec![0f32; len]);
    let mut hit = Trainer::new(net, config, &mut a).unwrap();
    let mut fresh = Trainer::new(net, config, &mut b).unwrap();
    let good: Vec<f32> = (0..16).map(|i| (i % 5) as f32 * 0.25).collect();
    let mut bad = good.clone();
    bad[5] = f32::NAN;
    let labels = [0u32, 1, 2, 1];
    let mut before = vec![0f32; hit.snapshot_len()];
    let state = hit.save_snapshot(&mut before).unwrap();
    assert!(matches!(
        hit.train_step_batch(&bad, &labels, None),
        Err(Error::NonFiniteLoss { .. })
    ));
    let mut after = vec![0f32; hit.snapshot_len()];
    assert_eq!(hit.save_snapshot(&mut after).unwrap(), state);
    assert!(
        before == after,
        "weights, optimizer state or running statistics moved"
    );
    let m1 = hit.train_step_batch(&good, &labels, None).unwrap();
    let m2 = fresh.train_step_batch(&good, &labels, None).unwrap();
    assert_eq!(m1, m2);
    assert!(hit.params() == fresh.params());
}

/// A NaN or negative clipping norm leaves the gradients as they are instead
/// of flipping their sign (a property the `optim` fuzz target checks).
#[test]
fn clip_grad_norm_never_flips_a_sign() {
    use tinyreg::trainer::optim::clip_grad_norm;
    for max_norm in [-1.0, f32::NAN, -0.0] {
        let mut g = [3.0f32, -4.0];
        let norm = clip_grad_norm(&mut g, max_norm);
        assert_eq!(norm, 5.0);
        assert!(g == [3.0, -4.0] || max_norm == 0.0, "{max_norm}: {g:?}");
    }
    let mut g = [3.0f32, -4.0];
    clip_grad_norm(&mut g, 0.0);
    assert_eq!(g, [0.0, -0.0]);
}

/// A valid schedule's rate is finite at every step, even for a base near
/// `f32::MAX` (found by the `optim` fuzz target: warm-up computed `base * (t
/// + 1)` and cosine `(base - min) * 2` before dividing, both overflowing).
#[test]
fn schedules_of_a_huge_base_stay_finite() {
    use tinyreg::{LearningRate, Schedule};
    for (schedule, warmup) in [
        (Schedule::Constant, 103),
        (
            Schedule::Cosine {
                total: 2_139_062_143,
                min: 0.0,
            },
            287,
        ),
    ] {
        let rate = LearningRate {
            base: 3.3895314e38,
            schedule,
            warmup,
        };
        rate.validate().unwrap();
        for t in [0, 2, 999, u32::MAX] {
            assert!(rate.at(t).is_finite(), "{rate:?} at {t}");
        }
    }
}

/// `fit` on data of the wrong width (train or validation) is refused before
/// it shuffles `order` or moves the shuffling generator (it failed at the
/// first step once, with the order already rewritten; through the C ABI,
/// whose order buffer is sized by the data's count, that wrote past it).
#[test]
fn fit_on_mismatched_data_writes_nothing_and_draws_nothing() {
    use tinyreg::{Dense, EpochMetrics, Icls, Layer, LearningRate, Network, TrainConfig, Trainer};
    let train_bytes = include_bytes!("../data/digits-train.bin");
    let digits = Icls::parse(train_bytes).unwrap();
    let layers = [Layer::Dense(Dense::new(63, 10))];
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(8, 0, false)];
    let mut trainer = Trainer::new(
        net,
        TrainConfig::new(8, LearningRate::constant(1e-2)),
        &mut mem,
    )
    .unwrap();
    let state = trainer.state();
    let mut order = vec![7u32; digits.count];
    let mut history = [EpochMetrics::default(); 1];
    let err = trainer.fit(&digits, &digits, 1, &mut order, &mut history);
    assert!(
        matches!(
            err,
            Err(Error::LengthMismatch {
                expected: 63,
                got: 64
            })
        ),
        "{err:?}"
    );
    assert!(order.iter().all(|&i| i == 7));
    assert_eq!(trainer.state(), state);
}

#[test]
fn successive_halving_refuses_trial_indices_past_u64_max() {
    use tinyreg::tune::{SuccessiveHalving, TrialRecord};
    let halving = SuccessiveHalving::new(3, 3, 1, 3)
        .unwrap()
        .with_first_trial(u64::MAX);
    let mut records = [TrialRecord::EMPTY; 3];
    assert!(matches!(
        halving.start(&mut records),
        Err(Error::InvalidConfig { .. })
    ));
    // (Debug: an empty record's NaN score is not equal to itself.)
    assert_eq!(
        format!("{records:?}"),
        format!("{:?}", [TrialRecord::EMPTY; 3]),
        "nothing written"
    );
    // The last index that fits is fine.
    let halving = halving.with_first_trial(u64::MAX - 2);
    halving.start(&mut records).unwrap();
    assert_eq!(records[2].trial, u64::MAX);
}

#[test]
fn successive_halving_promote_refuses_rungs_past_the_last() {
    use tinyreg::tune::{SuccessiveHalving, TrialRecord};
    let halving = SuccessiveHalving::new(9, 3, 1, 9).unwrap();
    let mut records = [TrialRecord::EMPTY; 9];
    halving.start(&mut records).unwrap();
    for i in 0..9 {
        halving.report(&mut records, i, i as f32).unwrap();
    }
    let before = records;
    for rung in [halving.rungs() - 1, halving.rungs(), u32::MAX - 1, u32::MAX] {
        assert!(matches!(
            halving.promote(rung, &mut records),
            Err(Error::InvalidState { .. })
        ));
        assert_eq!(records, before, "nothing written (rung {rung})");
    }
    assert_eq!(halving.budget(u32::MAX), halving.budget(halving.rungs()));
}

#[test]
fn fractional_pooling_sizes_near_usize_max_are_refused() {
    use tinyreg::layers::pool::{fmp_random_bounds, fmp_random_count};
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut bounds = [0u16; 8];
    for (input, output) in [
        (5, usize::MAX),
        (usize::MAX, 5),
        (usize::MAX, usize::MAX),
        (usize::MAX, usize::MAX / 2 + 1),
    ] {
        assert!(fmp_random_count(input, output).is_none());
        assert!(fmp_random_bounds(&mut rng, input, output, &mut bounds).is_err());
    }
    assert_eq!(
        rng,
        Xoshiro128PlusPlus::seed_from_u64(1),
        "no draw on error"
    );
}

#[test]
fn networks_with_empty_layers_are_refused() {
    use tinyreg::{BatchNorm, Dense, Layer, LearningRate, Network, TrainConfig, Trainer};
    let config = TrainConfig::new(4, LearningRate::constant(0.1));
    let cases: [&[Layer]; 4] = [
        &[Layer::Dense(Dense::new(0, 10))],
        &[Layer::Dense(Dense::new(10, 0))],
        &[
            Layer::BatchNorm(BatchNorm::over_channels(0, 4)),
            Layer::Dense(Dense::new(0, 2)),
        ],
        &[Layer::Relu { features: 0 }],
    ];
    for layers in cases {
        let net = Network::new(layers);
        let mut mem = vec![0f32; net.memory_len_for(&config).max(16)];
        assert!(
            matches!(
                Trainer::new(net, config, &mut mem).map(|_| ()),
                Err(Error::InvalidConfig { .. })
            ),
            "{layers:?}"
        );
    }
}
