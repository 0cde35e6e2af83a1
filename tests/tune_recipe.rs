//! The recipe's checks: the initial loss, overfitting a small sample, the
//! learning-rate range test (on a problem whose good rate is known, and on a
//! trainer, which it must leave bit for bit as it found it), and the seeded
//! validation split.

use tinyreg::tune::{
    check_initial_loss, lr_range_sweep, lr_range_test, overfit_small_sample, unregularized_config,
    unregularized_layers, validation_split, InitialLossVerdict, OverfitVerdict, RangePoint,
    RangeTestConfig, INITIAL_LOSS_TOLERANCE,
};
use tinyreg::{
    Dense, Dropout, EpochMetrics, Error, Icls, Layer, LearningRate, Network, Optimizer,
    TrainConfig, Trainer, Update, WeightDecay,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

fn config(optimizer: Optimizer, lr: f32, decay: WeightDecay) -> TrainConfig {
    TrainConfig::new(32, LearningRate::constant(lr))
        .with_update(Update::new(optimizer, decay).unwrap())
        .with_seed(3)
}

fn regularized() -> [Layer; 3] {
    [
        Layer::Dense(Dense::new(64, 64).with_relu()),
        Layer::Dropout {
            features: 64,
            dropout: Dropout::inverted(0.5).unwrap(),
        },
        Layer::DenseDropConnect(Dense::new(64, 10), Dropout::vanilla(0.8).unwrap()),
    ]
}

#[test]
fn initial_loss_is_ln_c_on_a_fresh_net_and_flagged_when_weights_are_scaled() {
    let data = Icls::parse(TRAIN).unwrap();
    let layers = regularized();
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(32, 2, false)];
    let cfg = config(Optimizer::ADAM, 1e-3, WeightDecay::NONE);
    let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
    let report = check_initial_loss(&mut trainer, &data, INITIAL_LOSS_TOLERANCE).unwrap();
    assert_eq!(report.verdict, InitialLossVerdict::Expected, "{report:?}");
    assert!((report.expected - 10f32.ln()).abs() < 1e-6);
    assert!((report.loss - report.expected).abs() < 0.25 * report.expected);

    trainer.params_mut().iter_mut().for_each(|w| *w *= 100.0);
    let report = check_initial_loss(&mut trainer, &data, INITIAL_LOSS_TOLERANCE).unwrap();
    assert_eq!(report.verdict, InitialLossVerdict::TooHigh, "{report:?}");
    assert!(report.loss > 10.0 * report.expected);

    assert!(check_initial_loss(&mut trainer, &data, f32::NAN).is_err());
    assert!(check_initial_loss(&mut trainer, &data, 0.0).is_err());
    let mut order: Vec<u32> = (0..32).collect();
    trainer.train_step(&data, &order).unwrap();
    assert!(matches!(
        check_initial_loss(&mut trainer, &data, 0.25),
        Err(Error::InvalidState { .. })
    ));
    order.clear();
}

#[test]
fn a_small_sample_is_overfit_without_regularization() {
    let data = Icls::parse(TRAIN).unwrap();
    let layers = regularized();
    let mut plain = layers;
    unregularized_layers(&layers, &mut plain).unwrap();
    let decayed = WeightDecay {
        l2: 1e-2,
        decoupled: true,
        l1: 0.0,
    };
    let mut order = vec![0u32; 160];

    // The regularized trainer is refused.
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(32, 2, false)];
    let mut trainer = Trainer::new(net, config(Optimizer::ADAM, 1e-3, decayed), &mut mem).unwrap();
    assert!(matches!(
        overfit_small_sample(&mut trainer, &data, 160, 500, &mut order),
        Err(Error::InvalidConfig { .. })
    ));

    // Switched off: 5 batches of 32 reach 100% train accuracy.
    let net = Network::new(&plain);
    let cfg = unregularized_config(config(Optimizer::ADAM, 3e-3, decayed));
    let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
    let report = overfit_small_sample(&mut trainer, &data, 160, 2000, &mut order).unwrap();
    assert!(
        matches!(report.verdict, OverfitVerdict::Overfit { steps } if steps < 2000),
        "{report:?}"
    );
    assert_eq!(report.accuracy, 1.0);
    assert!(report.last_loss < report.first_loss);

    // A rate far too low is stuck; one far too high diverges or is stuck.
    let mut mem2 = vec![0f32; net.memory_len(32, 0, false)];
    let slow = config(Optimizer::Sgd, 1e-7, WeightDecay::NONE);
    let mut trainer = Trainer::new(net, slow, &mut mem2).unwrap();
    let report = overfit_small_sample(&mut trainer, &data, 160, 50, &mut order).unwrap();
    assert_eq!(report.verdict, OverfitVerdict::Stuck);
    assert_eq!(report.steps, 50);
    let fast = config(Optimizer::Sgd, 1e6, WeightDecay::NONE);
    let mut trainer = Trainer::new(net, fast, &mut mem2).unwrap();
    let report = overfit_small_sample(&mut trainer, &data, 160, 50, &mut order).unwrap();
    assert!(
        matches!(report.verdict, OverfitVerdict::Diverged { .. }),
        "{report:?}"
    );

    // Bad sizes.
    let mut trainer = Trainer::new(net, slow, &mut mem2).unwrap();
    assert!(overfit_small_sample(&mut trainer, &data, 1, 10, &mut order).is_err());
    assert!(overfit_small_sample(&mut trainer, &data, 160, 0, &mut order).is_err());
    assert!(matches!(
        overfit_small_sample(&mut trainer, &data, 161, 10, &mut order),
        Err(Error::BufferTooSmall { .. })
    ));
    assert_eq!(trainer.steps(), 0);
}

/// Gradient descent on `f(w) = a (w - c)^2 / 2` from `w = 1`, with `c = +-0.05`
/// drawn per step (mini-batch noise): a step at `lr` multiplies `w - c` by
/// `1 - lr a`, so rates below `2 / a` shrink the loss and
/// rates above blow it up; `1 / a` is the best. The sweep must stop past
/// `2 / a` and suggest rates within the good range.
#[test]
fn range_sweep_finds_the_known_rate_of_a_quadratic() {
    // Curvatures whose unstable rates (above 2 / a) lie inside the sweep.
    for a in [10.0f64, 400.0, 1e4] {
        let mut w = 1.0f64;
        let mut noise = 0x2545_f491_4f6c_dd1du64;
        let config = RangeTestConfig::FASTAI;
        let mut points = [RangePoint::default(); 100];
        let report = lr_range_sweep(&config, &mut points, |lr| {
            // Mini-batch noise: this step's minimum sits at c = +-0.05.
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let c = if noise & 1 == 1 { 0.05 } else { -0.05 };
            let loss = 0.5 * a * (w - c) * (w - c);
            w -= lr as f64 * a * (w - c);
            Ok(loss as f32)
        })
        .unwrap();
        let good = (0.01 / a) as f32..(2.0 / a) as f32;
        assert!(report.stopped_early, "a = {a}: {report:?}");
        let last = points[report.points - 1].lr;
        assert!(last > (2.0 / a) as f32, "a = {a}: stopped at {last}");
        let s = report.suggestions;
        for (name, lr) in [
            ("valley", s.valley),
            ("steep", s.steep),
            ("min/10", s.min_tenth),
        ] {
            assert!(
                good.contains(&lr),
                "a = {a}: {name} suggests {lr}, good {good:?}"
            );
        }
        // The points are the schedule's rates.
        for (i, p) in points[..report.points].iter().enumerate() {
            assert_eq!(p.lr, config.lr(i as u32));
        }
    }
}

#[test]
fn range_test_restores_the_trainer_bit_for_bit() {
    let data = Icls::parse(TRAIN).unwrap();
    let (train, val) = (
        data.slice(0, 1000).unwrap(),
        data.slice(1000, 1437).unwrap(),
    );
    let layers = regularized();
    let net = Network::new(&layers);
    let floats = net.memory_len(32, 2, false);
    let cfg = config(Optimizer::ADAM, 1e-3, WeightDecay::NONE);
    let mut order = vec![0u32; train.count];
    let mut history = [EpochMetrics::default(); 2];

    // One epoch, the range test, one more epoch...
    let mut mem = vec![0f32; floats];
    let mut tested = Trainer::new(net, cfg, &mut mem).unwrap();
    tested
        .fit(&train, &val, 1, &mut order, &mut history)
        .unwrap();
    let before = tested.params().to_vec();
    let mut snapshot = vec![0f32; tested.snapshot_len()];
    let mut points = [RangePoint::default(); 100];
    let mut sweep_order = vec![0u32; train.count];
    let report = lr_range_test(
        &mut tested,
        &train,
        &RangeTestConfig::FASTAI,
        &mut sweep_order,
        &mut points,
        &mut snapshot,
    )
    .unwrap();
    assert!(report.points > 50, "{report:?}");
    let s = report.suggestions;
    assert!(s.valley > 1e-5 && s.valley < 1.0, "{s:?}");
    assert_eq!(tested.params(), &before[..]);
    tested
        .fit(&train, &val, 1, &mut order, &mut history)
        .unwrap();

    // ...equals two epochs without it.
    let mut mem2 = vec![0f32; floats];
    let mut plain = Trainer::new(net, cfg, &mut mem2).unwrap();
    plain
        .fit(&train, &val, 2, &mut order, &mut history)
        .unwrap();
    assert!(plain
        .params()
        .iter()
        .zip(tested.params())
        .all(|(a, b)| a.to_bits() == b.to_bits()));

    // Bad settings are refused before anything moves.
    for bad in [
        RangeTestConfig {
            start: 0.0,
            ..RangeTestConfig::FASTAI
        },
        RangeTestConfig {
            end: 1e-8,
            ..RangeTestConfig::FASTAI
        },
        RangeTestConfig {
            steps: 1,
            ..RangeTestConfig::FASTAI
        },
        RangeTestConfig {
            smoothing: 1.0,
            ..RangeTestConfig::FASTAI
        },
        RangeTestConfig {
            stop_factor: f32::NAN,
            ..RangeTestConfig::FASTAI
        },
    ] {
        let mut untouched = [RangePoint::default(); 100];
        assert!(lr_range_test(
            &mut plain,
            &train,
            &bad,
            &mut sweep_order,
            &mut untouched,
            &mut snapshot
        )
        .is_err());
        assert!(untouched.iter().all(|p| *p == RangePoint::default()));
    }
    let mut short = [RangePoint::default(); 99];
    assert!(matches!(
        lr_range_test(
            &mut plain,
            &train,
            &RangeTestConfig::FASTAI,
            &mut sweep_order,
            &mut short,
            &mut snapshot
        ),
        Err(Error::BufferTooSmall {
            needed: 100,
            got: 99
        })
    ));
}

#[test]
fn range_test_on_a_fresh_trainer_needs_no_snapshot() {
    let data = Icls::parse(TRAIN).unwrap().slice(0, 500).unwrap();
    let layers = regularized();
    let net = Network::new(&layers);
    let floats = net.memory_len(32, 2, false);
    let cfg = config(Optimizer::ADAM, 1e-3, WeightDecay::NONE);
    let (mut mem, mut mem2) = (vec![0f32; floats], vec![0f32; floats]);
    let mut swept = Trainer::new(net, cfg, &mut mem).unwrap();
    let mut order = vec![0u32; data.count];
    let mut points = [RangePoint::default(); 100];
    let config = RangeTestConfig::FASTAI;
    lr_range_test(&mut swept, &data, &config, &mut order, &mut points, &mut []).unwrap();
    let mut fresh = Trainer::new(net, cfg, &mut mem2).unwrap();
    assert_eq!(swept.state(), fresh.state());
    assert_eq!(swept.steps(), 0);
    let indices: Vec<u32> = (0..32).collect();
    swept.train_step(&data, &indices).unwrap();
    fresh.train_step(&data, &indices).unwrap();
    assert!(swept
        .params()
        .iter()
        .zip(fresh.params())
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    // A trained trainer must give a snapshot.
    assert!(matches!(
        lr_range_test(&mut swept, &data, &config, &mut order, &mut points, &mut []),
        Err(Error::LengthMismatch { .. })
    ));
}

#[test]
fn validation_split_is_seeded_disjoint_and_complete() {
    let data = Icls::parse(TRAIN).unwrap();
    let (mut images, mut labels) = (vec![0u8; data.images.len()], vec![0u8; data.count]);
    let f = data.features();
    let key = |img: &[u8], label: u8| {
        let mut k = img.to_vec();
        k.push(label);
        k
    };
    let mut all: Vec<Vec<u8>> = (0..data.count)
        .map(|i| key(&data.images[i * f..(i + 1) * f], data.labels[i]))
        .collect();
    all.sort();
    let (train, val) = validation_split(&data, 300, 7, &mut images, &mut labels).unwrap();
    assert_eq!((train.count, val.count), (1137, 300));
    let mut got: Vec<Vec<u8>> = (0..train.count)
        .map(|i| key(&train.images[i * f..(i + 1) * f], train.labels[i]))
        .chain((0..val.count).map(|i| key(&val.images[i * f..(i + 1) * f], val.labels[i])))
        .collect();
    got.sort();
    assert_eq!(got, all);
    let first_val = val.labels.to_vec();
    let (mut images2, mut labels2) = (vec![0u8; data.images.len()], vec![0u8; data.count]);
    let (_, val2) = validation_split(&data, 300, 7, &mut images2, &mut labels2).unwrap();
    assert_eq!(val2.labels, &first_val[..]);
    let (_, val3) = validation_split(&data, 300, 8, &mut images2, &mut labels2).unwrap();
    assert_ne!(val3.labels, &first_val[..]);
    let mut short = vec![0u8; 10];
    assert!(validation_split(&data, 300, 7, &mut images, &mut short).is_err());
    assert!(validation_split(&data, 1438, 7, &mut images, &mut labels).is_err());
}

/// Every stochastic layer kind, one at a time: regularized before,
/// unregularized after `unregularized_layers`, and the regularizer-off form
/// is the kind's deterministic twin (keep 1, survival 1), with the rest of
/// the layer unchanged. The network trains the same in train and eval mode.
#[test]
fn unregularized_layers_switches_off_every_stochastic_kind() {
    use tinyreg::layers::spatial_dropout::SpatialDropout;
    use tinyreg::{tune::is_unregularized, DepthScaling, ImageShape, StochasticDepth};
    let shape = ImageShape {
        channels: 2,
        height: 2,
        width: 2,
    };
    let depth = StochasticDepth {
        survival: 0.5,
        scaling: DepthScaling::Paper,
        per_row: true,
    };
    let kinds: [[Layer; 3]; 5] = [
        [
            Layer::Dropout {
                features: 8,
                dropout: Dropout::vanilla(0.5).unwrap(),
            },
            Layer::Relu { features: 8 },
            Layer::Dense(Dense::new(8, 2)),
        ],
        [
            Layer::DenseDropConnect(Dense::new(8, 8), Dropout::inverted(0.5).unwrap()),
            Layer::Relu { features: 8 },
            Layer::Dense(Dense::new(8, 2)),
        ],
        [
            Layer::SpatialDropout(SpatialDropout {
                shape,
                dropout: Dropout::inverted(0.5).unwrap(),
            }),
            Layer::Relu { features: 8 },
            Layer::Dense(Dense::new(8, 2)),
        ],
        [
            Layer::Residual {
                features: 8,
                hidden: 4,
                survival: 0.5,
                scaling: DepthScaling::Inverted,
            },
            Layer::Relu { features: 8 },
            Layer::Dense(Dense::new(8, 2)),
        ],
        [
            Layer::ResidualStart { features: 8, depth },
            Layer::Dense(Dense::new(8, 8)),
            Layer::ResidualEnd {
                features: 8,
                projection: None,
            },
        ],
    ];
    let cfg = config(Optimizer::Sgd, 1e-2, WeightDecay::NONE);
    for layers in kinds {
        let net = Network::new(&layers);
        assert!(!is_unregularized(&net, &cfg), "{:?}", layers[0]);
        let mut plain = layers;
        unregularized_layers(&layers, &mut plain).unwrap();
        assert!(is_unregularized(&Network::new(&plain), &cfg), "{plain:?}");
        let want = match layers[0] {
            Layer::Dropout { features, .. } => Layer::Dropout {
                features,
                dropout: Dropout::vanilla(1.0).unwrap(),
            },
            Layer::DenseDropConnect(d, _) => {
                Layer::DenseDropConnect(d, Dropout::inverted(1.0).unwrap())
            }
            Layer::SpatialDropout(s) => Layer::SpatialDropout(SpatialDropout {
                dropout: Dropout::inverted(1.0).unwrap(),
                ..s
            }),
            Layer::Residual {
                features,
                hidden,
                scaling,
                ..
            } => Layer::Residual {
                features,
                hidden,
                survival: 1.0,
                scaling,
            },
            Layer::ResidualStart { features, depth } => Layer::ResidualStart {
                features,
                depth: StochasticDepth {
                    survival: 1.0,
                    ..depth
                },
            },
            other => panic!("not a stochastic kind: {other:?}"),
        };
        assert_eq!(plain[0], want);
        assert_eq!(plain[1..], layers[1..], "the other layers are unchanged");
    }
}

/// A sweep whose first loss is NaN or whose first step reports a non-finite
/// loss has nothing to suggest: an error, not the start rate as a valley.
#[test]
fn range_sweep_without_a_finite_loss_is_an_error() {
    let config = RangeTestConfig::FASTAI;
    let mut points = [RangePoint::default(); 100];
    assert_eq!(
        lr_range_sweep(&config, &mut points, |_| Ok(f32::NAN)),
        Err(Error::NoFiniteLoss)
    );
    assert_eq!(
        lr_range_sweep(&config, &mut points, |_| Err(Error::NonFiniteLoss {
            row: 0
        })),
        Err(Error::NoFiniteLoss)
    );
    // One finite loss is enough to suggest something.
    let mut first = true;
    let report = lr_range_sweep(&config, &mut points, |_| {
        Ok(if std::mem::take(&mut first) {
            1.0
        } else {
            f32::NAN
        })
    })
    .unwrap();
    assert_eq!(report.suggestions.valley, config.lr(0));
}
