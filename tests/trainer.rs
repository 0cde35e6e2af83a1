//! The trainer: determinism, early stopping's restore, batch norm against
//! PyTorch's rule, gradient checks, stochastic depth's expectation, and a
//! short digits run.
use tinyreg::BatchNormGrads;
use tinyreg::{
    BatchNorm, BatchNormState, Dense, DepthScaling, Dropout, EarlyStoppingConfig, EpochMetrics,
    Icls, Layer, LearningRate, Metric, Mode, Monitor, Network, Optimizer, TrainConfig, Trainer,
    Update, WeightDecay,
};

mod common;
use common::check_gradients;

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");
const TEST: &[u8] = include_bytes!("../data/digits-test.bin");

fn config(batch: usize, seed: u64, optimizer: Optimizer) -> TrainConfig {
    TrainConfig::new(batch, LearningRate::constant(2e-3))
        .with_update(Update::new(optimizer, WeightDecay::NONE).unwrap())
        .with_seed(seed)
}

fn mlp() -> [Layer; 3] {
    [
        Layer::Dense(Dense::new(64, 64).with_relu()),
        Layer::Dropout {
            features: 64,
            dropout: Dropout::inverted(0.8).unwrap(),
        },
        Layer::Dense(Dense::new(64, 10)),
    ]
}

fn train_params(layers: &[Layer], cfg: TrainConfig, epochs: u32) -> Vec<f32> {
    let train = Icls::parse(TRAIN).unwrap().slice(0, 400).unwrap();
    let test = Icls::parse(TEST).unwrap();
    let net = Network::new(layers);
    let mut mem =
        vec![0f32; net.memory_len(cfg.batch, cfg.update.optimizer.state_per_param(), false)];
    let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); epochs as usize];
    trainer
        .fit(&train, &test, epochs, &mut order, &mut history)
        .unwrap();
    trainer.params().to_vec()
}

#[test]
fn trainer_is_deterministic_bit_for_bit() {
    let layers = mlp();
    let a = train_params(&layers, config(32, 7, Optimizer::ADAM), 3);
    let b = train_params(&layers, config(32, 7, Optimizer::ADAM), 3);
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    let c = train_params(&layers, config(32, 8, Optimizer::ADAM), 3);
    assert_ne!(a, c, "another seed gives other weights");
}

/// With patience longer than training, early stopping never stops, yet the
/// weights at the end are the best epoch's (keras-team/keras#12511): equal, bit for
/// bit, to a run of exactly best + 1 epochs without early stopping.
#[test]
fn trainer_early_stopping_restores_best_weights_even_without_stopping() {
    let layers = [
        Layer::Dense(Dense::new(64, 64).with_relu()),
        Layer::Dense(Dense::new(64, 10)),
    ];
    let train = Icls::parse(TRAIN).unwrap().slice(0, 300).unwrap();
    let val = Icls::parse(TEST).unwrap();
    let mut cfg = config(16, 5, Optimizer::ADAM);
    cfg.lr = LearningRate::constant(1e-2); // overfits fast: val loss turns up
    let es = EarlyStoppingConfig {
        mode: Monitor::Min,
        min_delta: 0.0,
        patience: 100,
        start_from_epoch: 0,
        restore_best_weights: true,
    };
    let epochs = 25;
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(16, 2, true)];
    let mut trainer = Trainer::new(
        net,
        TrainConfig {
            early_stopping: Some((Metric::ValLoss, es)),
            ..cfg
        },
        &mut mem,
    )
    .unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); epochs];
    let summary = trainer
        .fit(&train, &val, epochs as u32, &mut order, &mut history)
        .unwrap();
    assert!(!summary.stopped_early && summary.restored);
    let (best_epoch, best_loss) = summary.best.unwrap();
    assert!(
        (best_epoch as usize) < epochs - 1,
        "val loss should rise before the end (best {best_epoch})"
    );
    let min = history
        .iter()
        .map(|h| h.val.loss)
        .fold(f32::INFINITY, f32::min);
    assert_eq!(best_loss, min);
    let restored = trainer.params().to_vec();

    let mut mem2 = vec![0f32; net.memory_len(16, 2, false)];
    let mut plain = Trainer::new(net, cfg, &mut mem2).unwrap();
    let mut history2 = vec![EpochMetrics::default(); best_epoch as usize + 1];
    plain
        .fit(&train, &val, best_epoch + 1, &mut order, &mut history2)
        .unwrap();
    assert_eq!(
        restored,
        plain.params(),
        "restored weights are the best epoch's"
    );
    assert_eq!(trainer.evaluate(&val).unwrap().loss, best_loss);
}

#[test]
fn trainer_early_stopping_stops_when_patience_runs_out() {
    let layers = [Layer::Dense(Dense::new(64, 10))];
    let train = Icls::parse(TRAIN).unwrap().slice(0, 200).unwrap();
    let val = Icls::parse(TEST).unwrap();
    let mut cfg = config(16, 1, Optimizer::Sgd);
    cfg.lr = LearningRate::constant(0.0); // nothing improves after epoch 0
    let es = EarlyStoppingConfig {
        mode: Monitor::Min,
        min_delta: 0.0,
        patience: 3,
        start_from_epoch: 0,
        restore_best_weights: false,
    };
    cfg.early_stopping = Some((Metric::ValLoss, es));
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(16, 0, false)];
    let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); 50];
    let summary = trainer
        .fit(&train, &val, 50, &mut order, &mut history)
        .unwrap();
    assert!(summary.stopped_early);
    assert_eq!(summary.epochs, 4);
    assert_eq!(summary.best.map(|b| b.0), Some(0));
}

/// PyTorch's BatchNorm1d on x = [[1, 2], [3, 6]] from running (0, 1), momentum
/// 0.1: batch mean (2, 4), biased var (1, 4), unbiased (2, 8); running mean
/// becomes (0.2, 0.4) and running var 0.9 + 0.1 (2, 8) = (1.1, 1.7).
#[test]
fn batch_norm_running_stats_follow_pytorch() {
    let bn = BatchNorm::new(2);
    let x = [1.0f32, 2.0, 3.0, 6.0];
    let (gamma, beta) = ([1.0f32, 2.0], [0.0f32, 0.5]);
    let (mut mean, mut var) = ([0.0f32; 2], [1.0f32; 2]);
    let mut y = [0f32; 4];
    let mut saved = vec![0f32; bn.saved_len(2)];
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean,
        running_var: &mut var,
    };
    bn.forward(Mode::Train, 2, state, &x, &mut y, &mut saved)
        .unwrap();
    assert_eq!(mean, [0.2, 0.4]);
    assert!((var[0] - 1.1).abs() < 1e-6 && (var[1] - 1.7).abs() < 1e-6);
    let k0 = 1.0 / (1.0f64 + 1e-5).sqrt();
    let k1 = 1.0 / (4.0f64 + 1e-5).sqrt();
    let want = [-k0, 2.0 * -2.0 * k1 + 0.5, k0, 2.0 * 2.0 * k1 + 0.5];
    for (a, b) in y.iter().zip(want) {
        assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
    }
    // Eval uses the running statistics.
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean,
        running_var: &mut var,
    };
    bn.forward(Mode::Eval, 2, state, &x, &mut y, &mut [])
        .unwrap();
    assert!((y[0] as f64 - (1.0 - 0.2) / (1.1f64 + 1e-5).sqrt()).abs() < 1e-6);
}

/// Batch norm backward against central differences of an f64 forward.
#[test]
fn batch_norm_backward_matches_finite_differences() {
    let (batch, f) = (5usize, 3usize);
    let x: Vec<f32> = (0..batch * f)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3)
        .collect();
    let gamma = [1.5f32, -0.7, 0.3];
    let beta = [0.1f32, 0.2, -0.3];
    let r: Vec<f32> = (0..batch * f)
        .map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.25)
        .collect();
    let loss = |x: &[f64], g: &[f64]| -> f64 {
        let mut total = 0.0;
        for j in 0..f {
            let mean = (0..batch).map(|b| x[b * f + j]).sum::<f64>() / batch as f64;
            let var = (0..batch)
                .map(|b| (x[b * f + j] - mean).powi(2))
                .sum::<f64>()
                / batch as f64;
            for b in 0..batch {
                total += r[b * f + j] as f64 * (g[j] * (x[b * f + j] - mean) / (var + 1e-5).sqrt());
            }
        }
        total
    };
    let bn = BatchNorm::new(f);
    let (mut mean, mut var) = ([0f32; 3], [1f32; 3]);
    let mut y = vec![0f32; batch * f];
    let mut saved = vec![0f32; bn.saved_len(batch)];
    let state = BatchNormState {
        gamma: &gamma,
        beta: &beta,
        running_mean: &mut mean,
        running_var: &mut var,
    };
    bn.forward(Mode::Train, batch, state, &x, &mut y, &mut saved)
        .unwrap();
    let (mut dgamma, mut dbeta, mut dx) = ([0f32; 3], [0f32; 3], vec![0f32; batch * f]);
    bn.backward(
        batch,
        &gamma,
        &saved,
        &r,
        BatchNormGrads {
            gamma: &mut dgamma,
            beta: &mut dbeta,
        },
        &mut dx,
    )
    .unwrap();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let g64: Vec<f64> = gamma.iter().map(|&v| v as f64).collect();
    let h = 1e-6;
    for i in 0..batch * f {
        let (mut xp, mut xm) = (x64.clone(), x64.clone());
        xp[i] += h;
        xm[i] -= h;
        let fd = (loss(&xp, &g64) - loss(&xm, &g64)) / (2.0 * h);
        assert!(
            (fd - dx[i] as f64).abs() < 1e-5 * (1.0 + fd.abs()),
            "dx[{i}]: {fd} vs {}",
            dx[i]
        );
    }
    for j in 0..f {
        let (mut gp, mut gm) = (g64.clone(), g64.clone());
        gp[j] += h;
        gm[j] -= h;
        let fd = (loss(&x64, &gp) - loss(&x64, &gm)) / (2.0 * h);
        assert!(
            (fd - dgamma[j] as f64).abs() < 1e-5 * (1.0 + fd.abs()),
            "dgamma[{j}]"
        );
        let fd_beta: f64 = (0..batch).map(|b| r[b * f + j] as f64).sum();
        assert!((fd_beta - dbeta[j] as f64).abs() < 1e-6);
    }
}

/// Whole-network gradients (dense, batch norm, a residual block, ReLU) against
/// central differences of the network's own f32 loss. In f32 a difference
/// quotient carries about eps * |L| / h of rounding noise (h = 1e-3: ~2e-4)
/// and O(h^2) truncation; the tolerance allows 1e-3 + 1e-2 relative. (h = 1e-2
/// crosses ReLU kinks: seen as a 10% miss that vanished at h = 3e-3 and 1e-3.)
#[test]
fn trainer_network_gradients_match_finite_differences() {
    let layers = [
        Layer::Dense(Dense::new(64, 12)),
        Layer::BatchNorm(BatchNorm::new(12)),
        Layer::Relu { features: 12 },
        Layer::Residual {
            features: 12,
            hidden: 6,
            survival: 1.0,
            scaling: DepthScaling::Inverted,
        },
        Layer::Dense(Dense::new(12, 10)),
    ];
    let data = Icls::parse(TRAIN).unwrap();
    let idx: Vec<u32> = (0..8).collect();
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(8, 0, false)];
    let mut trainer = Trainer::new(net, config(8, 3, Optimizer::Sgd), &mut mem).unwrap();
    let checked = check_gradients(&mut trainer, &data, &idx, 7, "");
    assert!(checked > 100);
}

/// Stochastic depth: eval is the exact expectation of train over the block's
/// two outcomes (kept with q, dropped with 1 - q), through a linear layer, for
/// both scaling conventions.
#[test]
fn residual_stochastic_depth_eval_is_the_expectation_of_train() {
    for scaling in [DepthScaling::Paper, DepthScaling::Inverted] {
        let layers = [
            Layer::Residual {
                features: 4,
                hidden: 3,
                survival: 0.6,
                scaling,
            },
            Layer::Dense(Dense::new(4, 3)),
        ];
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(2, 0, false)];
        let mut trainer = Trainer::new(net, config(2, 9, Optimizer::Sgd), &mut mem).unwrap();
        let x = [0.5f32, -1.0, 2.0, 0.25, 1.5, 0.0, -0.5, 1.0];
        let mut outcomes: Vec<Vec<f32>> = Vec::new();
        for _ in 0..200 {
            let mut z = vec![0f32; 6];
            trainer.logits(&x, 2, Mode::Train, &mut z).unwrap();
            if !outcomes.contains(&z) {
                outcomes.push(z);
            }
        }
        assert_eq!(outcomes.len(), 2, "a block is either kept or dropped");
        let mut eval = vec![0f32; 6];
        trainer.logits(&x, 2, Mode::Eval, &mut eval).unwrap();
        // Which outcome is "kept" is not labelled: one of the two assignments
        // must satisfy q * kept + (1 - q) * dropped == eval.
        let q = tinyreg::Keep::new(0.6).unwrap().probability();
        let ok = |kept: &[f32], dropped: &[f32]| {
            kept.iter().zip(dropped).zip(&eval).all(|((&k, &d), &e)| {
                let mean = q * k as f64 + (1.0 - q) * d as f64;
                (mean - e as f64).abs() <= 1e-5 * (1.0 + mean.abs())
            })
        };
        assert!(
            ok(&outcomes[0], &outcomes[1]) || ok(&outcomes[1], &outcomes[0]),
            "{scaling:?}"
        );
    }
}

/// A short digits run reaches 0.90 test accuracy (below 0.88 means a bug; the
/// scikit-learn MLP gets 0.897 to 0.922 on this split).
#[test]
fn trainer_digits_short_run_reaches_090() {
    let train = Icls::parse(TRAIN).unwrap();
    let test = Icls::parse(TEST).unwrap();
    let layers = mlp();
    let net = Network::new(&layers);
    let cfg = config(32, 0, Optimizer::ADAM);
    let mut mem = vec![0f32; net.memory_len(32, 2, false)];
    let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); 30];
    trainer
        .fit(&train, &test, 30, &mut order, &mut history)
        .unwrap();
    let acc = trainer.evaluate(&test).unwrap().accuracy;
    assert!(acc >= 0.90, "test accuracy {acc}");
    assert!(history[29].train.loss < history[0].train.loss);
}

/// Monte Carlo dropout: with keep 1 every pass equals the eval pass; with
/// keep < 1 the average of T passes is the mean of T single-pass predictions
/// from the same generator positions, and differs from eval.
#[test]
fn trainer_monte_carlo_dropout_averages_stochastic_passes() {
    let x: Vec<f32> = (0..2 * 64).map(|i| (i % 17) as f32 / 16.0).collect();
    for keep in [1.0f32, 0.5] {
        let layers = [
            Layer::Dense(Dense::new(64, 32).with_relu()),
            Layer::Dropout {
                features: 32,
                dropout: Dropout::inverted(keep).unwrap(),
            },
            Layer::Dense(Dense::new(32, 10)),
        ];
        let net = Network::new(&layers);
        let (mut m1, mut m2) = (
            vec![0f32; net.memory_len(2, 0, false)],
            vec![0f32; net.memory_len(2, 0, false)],
        );
        let mut a = Trainer::new(net, config(2, 4, Optimizer::Sgd), &mut m1).unwrap();
        let mut b = Trainer::new(net, config(2, 4, Optimizer::Sgd), &mut m2).unwrap();
        let (mut eval, mut mc) = ([0f32; 20], [0f32; 20]);
        a.predict_proba(&x, 2, 0, &mut eval).unwrap();
        a.predict_proba(&x, 2, 8, &mut mc).unwrap();
        let mut mean = [0f32; 20];
        for _ in 0..8 {
            let mut one = [0f32; 20];
            b.predict_proba(&x, 2, 1, &mut one).unwrap();
            for (m, o) in mean.iter_mut().zip(one) {
                *m += o / 8.0;
            }
        }
        for (p, q) in mc.iter().zip(mean) {
            assert!((p - q).abs() < 1e-6);
        }
        let differs = mc.iter().zip(&eval).any(|(p, e)| (p - e).abs() > 1e-4);
        assert_eq!(differs, keep < 1.0, "keep {keep}");
        assert!((mc.iter().take(10).sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

/// An ensemble predicts the mean of its members' probabilities.
#[test]
fn ensemble_proba_is_the_mean_of_member_probabilities() {
    let layers = [
        Layer::Dense(Dense::new(64, 16).with_relu()),
        Layer::Dense(Dense::new(16, 10)),
    ];
    let net = Network::new(&layers);
    let floats = net.memory_len(3, 0, false);
    let (mut m1, mut m2, mut m3) = (vec![0f32; floats], vec![0f32; floats], vec![0f32; floats]);
    let mut members = [
        Trainer::new(net, config(3, 1, Optimizer::Sgd), &mut m1).unwrap(),
        Trainer::new(net, config(3, 2, Optimizer::Sgd), &mut m2).unwrap(),
    ];
    let x: Vec<f32> = (0..3 * 64).map(|i| (i % 5) as f32 * 0.2).collect();
    let (mut probs, mut tmp) = ([0f32; 30], [0f32; 30]);
    tinyreg::ensemble_proba(&mut members, &x, 3, &mut probs, &mut tmp).unwrap();
    let (mut p1, mut p2) = ([0f32; 30], [0f32; 30]);
    members[0].predict_proba(&x, 3, 0, &mut p1).unwrap();
    members[1].predict_proba(&x, 3, 0, &mut p2).unwrap();
    for i in 0..30 {
        assert!((probs[i] - (p1[i] + p2[i]) / 2.0).abs() < 1e-6);
    }
    assert_ne!(p1, p2, "members from different seeds differ");
    let mut lone = Trainer::new(net, config(3, 1, Optimizer::Sgd), &mut m3).unwrap();
    assert!(tinyreg::ensemble_proba(&mut [], &x, 3, &mut probs, &mut tmp).is_err());
    assert!(
        lone.predict_proba(&x, 4, 0, &mut [0f32; 40]).is_err(),
        "more rows than the batch"
    );
}

#[test]
fn trainer_rejects_bad_networks_and_small_memory() {
    let mismatched = [
        Layer::Dense(Dense::new(64, 16)),
        Layer::Dense(Dense::new(15, 10)),
    ];
    let net = Network::new(&mismatched);
    let mut mem = vec![0f32; 100_000];
    assert!(Trainer::new(net, config(4, 0, Optimizer::Sgd), &mut mem).is_err());
    let ok = [Layer::Dense(Dense::new(64, 10))];
    let net = Network::new(&ok);
    let needed = net.memory_len(4, 0, false);
    let mut small = vec![0f32; needed - 1];
    assert!(matches!(
        Trainer::new(net, config(4, 0, Optimizer::Sgd), &mut small),
        Err(tinyreg::Error::BufferTooSmall { .. })
    ));
    let bad_sd = [
        Layer::Residual {
            features: 64,
            hidden: 8,
            survival: 0.0,
            scaling: DepthScaling::Paper,
        },
        Layer::Dense(Dense::new(64, 10)),
    ];
    assert!(Trainer::new(
        Network::new(&bad_sd),
        config(4, 0, Optimizer::Sgd),
        &mut mem
    )
    .is_err());
}

/// A small CNN (conv + ReLU, 2x2 max or average pooling, dense) trained
/// through the trainer: gradients against central differences of its own loss.
#[test]
fn trainer_cnn_gradients_match_finite_differences() {
    use tinyreg::{Conv2d, ImageShape};
    let conv = Conv2d {
        in_channels: 1,
        out_channels: 3,
        height: 8,
        width: 8,
        k: 3,
        stride: 1,
        padding: 1,
    };
    let shape = ImageShape {
        channels: 3,
        height: 8,
        width: 8,
    };
    for pool in [
        Layer::MaxPool {
            shape,
            k: 2,
            stride: 2,
        },
        Layer::AvgPool {
            shape,
            k: 2,
            stride: 2,
        },
        // Overlapping windows: their gradients add up.
        Layer::AvgPool {
            shape,
            k: 3,
            stride: 1,
        },
    ] {
        let layers = [
            Layer::Conv2d { conv, relu: true },
            pool,
            Layer::Dense(Dense::new(pool.outputs(), 10)),
        ];
        let data = Icls::parse(TRAIN).unwrap();
        let idx: Vec<u32> = (0..4).collect();
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(4, 0, false)];
        let mut trainer = Trainer::new(net, config(4, 6, Optimizer::Sgd), &mut mem).unwrap();
        // Blank pixels give pre-activations equal to the conv bias: start it
        // off zero so no ReLU sits on its kink (where differences see half a
        // slope); average pooling passes every one of them on.
        let bias = conv.weights_len();
        trainer.params_mut()[bias..bias + 3].fill(0.05);
        check_gradients(&mut trainer, &data, &idx, 3, &format!("{pool:?}"));
    }
}

/// A convolution, `BatchNorm2d`, ReLU, spatial dropout (keep 1, so the loss is
/// a function of the parameters alone) and global average pooling: the
/// trainer's gradients against central differences of its loss.
#[test]
fn trainer_batch_norm_2d_and_global_avg_pool_gradients_match_finite_differences() {
    use tinyreg::layers::spatial_dropout::SpatialDropout;
    use tinyreg::{Conv2d, ImageShape};
    let conv = Conv2d {
        in_channels: 1,
        out_channels: 4,
        height: 8,
        width: 8,
        k: 3,
        stride: 1,
        padding: 1,
    };
    let shape = ImageShape {
        channels: 4,
        height: 8,
        width: 8,
    };
    let layers = [
        Layer::Conv2d { conv, relu: false },
        Layer::BatchNorm(BatchNorm::over_channels(4, 64)),
        Layer::Relu { features: 256 },
        Layer::SpatialDropout(SpatialDropout {
            shape,
            dropout: Dropout::inverted(1.0).unwrap(),
        }),
        Layer::GlobalAvgPool { shape },
        Layer::Dense(Dense::new(4, 10)),
    ];
    let data = Icls::parse(TRAIN).unwrap();
    let idx: Vec<u32> = (0..4).collect();
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(4, 0, false)];
    let mut trainer = Trainer::new(net, config(4, 8, Optimizer::Sgd), &mut mem).unwrap();
    let checked = check_gradients(&mut trainer, &data, &idx, 1, "bn2d");
    assert_eq!(checked, net.params_len());
}
