//! Checkpoints: resuming is bit-identical to never stopping, weights-only
//! files predict the same, and a file for another network, another optimizer,
//! a truncated or a corrupted one is refused with nothing changed. Also
//! `fit_observed`: observing changes nothing, and breaking stops training.
use std::ops::ControlFlow;

use tinyreg::trainer::checkpoint::{
    crc32c, fingerprint, seal, CheckpointHeader, CHECKSUM_BYTES, HEADER_BYTES,
};
use tinyreg::{
    BatchNorm, Dense, Dropout, EarlyStoppingConfig, EpochMetrics, Error, FitEvent, Icls, Layer,
    LearningRate, Metric, Monitor, Network, Optimizer, PlateauConfig, Schedule, TrainConfig,
    Trainer, Update, WeightAverage, WeightDecay,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

fn mlp(keep: f32) -> [Layer; 4] {
    [
        Layer::Dense(Dense::new(64, 32).with_relu()),
        Layer::BatchNorm(BatchNorm::new(32)),
        Layer::Dropout {
            features: 32,
            dropout: Dropout::inverted(keep).unwrap(),
        },
        Layer::Dense(Dense::new(32, 10)),
    ]
}

fn config(optimizer: Optimizer) -> TrainConfig {
    TrainConfig {
        batch: 16,
        update: Update::new(optimizer, WeightDecay::NONE).unwrap(),
        lr: LearningRate {
            base: 3e-3,
            schedule: Schedule::Cosine {
                total: 100,
                min: 1e-4,
            },
            warmup: 0,
        },
        clip_norm: None,
        seed: 7,
        plateau: None,
        early_stopping: None,
        average: None,
    }
}

fn data() -> (Icls<'static>, Icls<'static>) {
    let all = Icls::parse(TRAIN).unwrap();
    (all.slice(0, 200).unwrap(), all.slice(200, 300).unwrap())
}

fn memory(layers: &[Layer], cfg: &TrainConfig) -> Vec<f32> {
    let net = Network::new(layers);
    vec![0f32; net.memory_len(cfg.batch, cfg.update.optimizer.state_per_param(), false)]
}

fn fit(trainer: &mut Trainer, epochs: u32) -> Vec<EpochMetrics> {
    let (train, val) = data();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); epochs as usize];
    trainer
        .fit(&train, &val, epochs, &mut order, &mut history)
        .unwrap();
    history
}

#[test]
fn checkpoint_resume_is_bit_identical_to_never_stopping() {
    let (layers, cfg) = (mlp(0.8), config(Optimizer::ADAM));
    let mut mem = memory(&layers, &cfg);
    let mut straight = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    let expected = fit(&mut straight, 4);
    let expected_params = straight.params().to_vec();

    let mut mem = memory(&layers, &cfg);
    let mut first = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    fit(&mut first, 2);
    let mut bytes = vec![0u8; first.checkpoint_len(true).unwrap()];
    first.write_checkpoint(true, &mut bytes).unwrap();

    // A new trainer (other seed, so its own initialization differs) resumes.
    let mut other_cfg = cfg;
    other_cfg.seed = 99;
    let mut mem = memory(&layers, &cfg);
    let mut resumed = Trainer::new(Network::new(&layers), other_cfg, &mut mem).unwrap();
    resumed.load_checkpoint(&bytes).unwrap();
    let rest = fit(&mut resumed, 2);
    assert_eq!(&rest[..], &expected[2..]);
    assert!(resumed.params() == &expected_params[..]);
}

/// Early stopping and a weight average carry over a pause: a `fit` the
/// observer pauses one epoch after the best (patience half spent),
/// checkpointed and resumed in another
/// trainer, stops at the same epoch with the same best and ends with the
/// same (restored) weights and average as one unbroken call.
#[test]
fn checkpoint_resume_carries_early_stopping_and_the_average() {
    let layers = mlp(0.8);
    let stop = EarlyStoppingConfig {
        mode: Monitor::Min,
        min_delta: 0.02,
        patience: 2,
        start_from_epoch: 1,
        restore_best_weights: true,
    };
    let cfg = config(Optimizer::ADAM)
        .with_early_stopping(Metric::ValLoss, stop)
        .with_average(WeightAverage::exponential(0.9));
    let (train, val) = data();
    let net = Network::new(&layers);
    let run = |resume: Option<&[u8]>, pause_after: Option<u32>| {
        let mut mem = vec![0f32; net.memory_len_for(&cfg)];
        let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
        if let Some(bytes) = resume {
            trainer.load_checkpoint(bytes).unwrap();
        }
        let mut order = vec![0u32; train.count];
        let mut history = vec![EpochMetrics::default(); 30];
        let summary = trainer
            .fit_observed(
                &train,
                &val,
                30,
                &mut order,
                &mut history,
                &mut |e| match e {
                    FitEvent::Epoch { epoch, .. } if Some(epoch + 1) == pause_after => {
                        ControlFlow::Break(())
                    }
                    _ => ControlFlow::Continue(()),
                },
            )
            .unwrap();
        let mut bytes = vec![0u8; trainer.checkpoint_len(true).unwrap()];
        trainer.write_checkpoint(true, &mut bytes).unwrap();
        let done = trainer.epochs_done();
        trainer.swap_average().unwrap();
        let average = trainer.params().to_vec();
        trainer.swap_average().unwrap();
        (summary, trainer.params().to_vec(), average, done, bytes)
    };
    let (unbroken, weights, average, done, _) = run(None, None);
    assert!(unbroken.stopped_early && unbroken.restored, "{unbroken:?}");
    // Paused with a best seen and one epoch of patience spent: a resumed
    // run that forgot them would take its next epoch as a new best.
    let pause = unbroken.best.unwrap().0 + 2;
    assert!(pause < done, "the run stops after the pause");
    let (paused, _, _, _, bytes) = run(None, Some(pause));
    assert!(paused.interrupted && !paused.restored && !paused.stopped_early);
    let (resumed, resumed_weights, resumed_average, resumed_done, _) = run(Some(&bytes), None);
    assert_eq!(resumed_done, done);
    assert_eq!(resumed.best, unbroken.best);
    assert!(resumed.stopped_early && resumed.restored);
    assert!(resumed_weights == weights, "the restored best differs");
    assert!(resumed_average == average, "the average differs");
}

#[test]
fn checkpoint_weights_only_predicts_like_the_trainer_that_wrote_it() {
    let (layers, cfg) = (mlp(0.8), config(Optimizer::ADAM));
    let (_, val) = data();
    let mut mem = memory(&layers, &cfg);
    let mut trained = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    fit(&mut trained, 2);
    let metrics = trained.evaluate(&val).unwrap();
    let mut bytes = vec![0u8; trained.checkpoint_len(false).unwrap()];
    trained.write_checkpoint(false, &mut bytes).unwrap();
    assert!(bytes.len() < trained.checkpoint_len(true).unwrap());

    // Another dropout rate and another optimizer: the weights still fit.
    let other_layers = mlp(0.5);
    let other_cfg = config(Optimizer::Sgd);
    let mut mem = memory(&other_layers, &other_cfg);
    let mut loaded = Trainer::new(Network::new(&other_layers), other_cfg, &mut mem).unwrap();
    loaded.load_weights(&bytes).unwrap();
    assert_eq!(loaded.evaluate(&val).unwrap(), metrics);
    // A weights-only file cannot be resumed from.
    assert!(matches!(
        loaded.load_checkpoint(&bytes),
        Err(Error::BadCheckpoint { .. })
    ));
}

#[test]
fn checkpoint_refuses_other_networks_and_damaged_files_changing_nothing() {
    let (layers, cfg) = (mlp(0.8), config(Optimizer::ADAM));
    let mut mem = memory(&layers, &cfg);
    let mut trained = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    fit(&mut trained, 1);
    let mut bytes = vec![0u8; trained.checkpoint_len(true).unwrap()];
    trained.write_checkpoint(true, &mut bytes).unwrap();
    assert_eq!(
        CheckpointHeader::parse(&bytes).unwrap().fingerprint,
        fingerprint(&Network::new(&layers))
    );

    let wider = [
        Layer::Dense(Dense::new(64, 33).with_relu()),
        Layer::BatchNorm(BatchNorm::new(33)),
        Layer::Dense(Dense::new(33, 10)),
    ];
    let mut mem = memory(&wider, &cfg);
    let mut other = Trainer::new(Network::new(&wider), cfg, &mut mem).unwrap();
    let before = other.params().to_vec();
    assert!(matches!(
        other.load_weights(&bytes),
        Err(Error::BadCheckpoint { .. })
    ));
    assert!(matches!(
        other.load_checkpoint(&bytes),
        Err(Error::BadCheckpoint { .. })
    ));
    assert!(other.params() == &before[..]);

    let sgd = config(Optimizer::Sgd);
    let mut mem = memory(&layers, &sgd);
    let mut fresh = Trainer::new(Network::new(&layers), sgd, &mut mem).unwrap();
    let before = fresh.params().to_vec();
    assert!(matches!(
        fresh.load_checkpoint(&bytes),
        Err(Error::BadCheckpoint { .. })
    ));
    let mut damaged = vec![
        bytes[..bytes.len() - 1].to_vec(),
        bytes[..HEADER_BYTES - 1].to_vec(),
        Vec::new(),
    ];
    for (at, value) in [(0, b'T'), (8, 3), (12, 4), (24, 0xff), (35, 1)] {
        let mut b = bytes.clone();
        b[at] = value;
        damaged.push(b);
    }
    let mut zero_masks = bytes.clone();
    zero_masks[68..84].fill(0);
    seal(&mut zero_masks).unwrap();
    damaged.push(zero_masks);
    for b in &damaged {
        assert!(fresh.load_checkpoint(b).is_err());
        assert!(
            fresh.params() == &before[..],
            "a refused file changed weights"
        );
        assert_eq!(fresh.steps(), 0);
    }
    // Only the damaged generator state leaves the weights readable.
    for b in &damaged[..damaged.len() - 1] {
        assert!(fresh.load_weights(b).is_err());
        assert!(
            fresh.params() == &before[..],
            "a refused file changed weights"
        );
    }
    fresh.load_weights(&damaged[damaged.len() - 1]).unwrap();
    assert!(fresh.params() == trained.params());
}

#[test]
fn fit_observed_changes_nothing_and_breaks_where_told() {
    let (layers, cfg) = (mlp(0.8), config(Optimizer::ADAM));
    let (train, val) = data();
    let mut mem = memory(&layers, &cfg);
    let mut plain = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    let expected = fit(&mut plain, 3);
    let expected_params = plain.params().to_vec();

    let mut mem = memory(&layers, &cfg);
    let mut observed = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); 3];
    let (mut steps, mut epochs) = (Vec::new(), Vec::new());
    let summary = observed
        .fit_observed(&train, &val, 3, &mut order, &mut history, &mut |event| {
            match event {
                FitEvent::Step { step, metrics, .. } => steps.push((step, metrics.loss)),
                FitEvent::Epoch { metrics, .. } => epochs.push(metrics),
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(!summary.interrupted);
    assert_eq!(epochs, expected);
    assert!(observed.params() == &expected_params[..]);
    // 200 samples in batches of 16: 13 steps an epoch, numbered from 1.
    assert_eq!(steps.len(), 39);
    assert!(steps.iter().enumerate().all(|(i, s)| s.0 == i as u32 + 1));

    let mut mem = memory(&layers, &cfg);
    let mut stopped = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    let summary = stopped
        .fit_observed(
            &train,
            &val,
            3,
            &mut order,
            &mut history,
            &mut |event| match event {
                FitEvent::Epoch { epoch: 1, .. } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            },
        )
        .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.epochs, 2);
    assert_eq!(stopped.steps(), 26);
}

#[test]
fn checkpoint_crc32c_is_castagnolis() {
    // The check value of the CRC-32C catalogue entry, and RFC 3720's
    // 32 zero bytes.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[]), 0);
}

/// Every byte of a small checkpoint flipped in turn (every bit of it at
/// once, and its lowest bit alone): each load is refused with a typed error
/// and changes nothing.
#[test]
fn checkpoint_flipping_any_byte_is_refused() {
    let layers = [
        Layer::Dense(Dense::new(64, 4).with_relu()),
        Layer::BatchNorm(BatchNorm::new(4)),
        Layer::Dense(Dense::new(4, 10)),
    ];
    let cfg = config(Optimizer::ADAM);
    let mut mem = memory(&layers, &cfg);
    let mut trained = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    fit(&mut trained, 1);
    let mut bytes = vec![0u8; trained.checkpoint_len(true).unwrap()];
    trained.write_checkpoint(true, &mut bytes).unwrap();
    let mut mem = memory(&layers, &cfg);
    let mut fresh = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    let before = fresh.params().to_vec();
    let mut refused = 0;
    for at in 0..bytes.len() {
        for mask in [0xffu8, 0x01] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            let checkpoint = fresh.load_checkpoint(&b);
            let weights = fresh.load_weights(&b);
            assert!(
                matches!(
                    checkpoint,
                    Err(Error::ChecksumMismatch { .. } | Error::BadCheckpoint { .. })
                ) && weights.is_err(),
                "byte {at} ^ {mask:#x}: {checkpoint:?} {weights:?}"
            );
            assert!(fresh.params() == &before[..], "byte {at} changed weights");
            assert_eq!(fresh.steps(), 0);
            refused += 1;
        }
    }
    assert_eq!(refused, 2 * bytes.len());
    fresh.load_checkpoint(&bytes).unwrap();
    assert!(fresh.params() == trained.params());
}

/// Version 1 (no checksum) still loads; a sealed body of NaN does not.
#[test]
fn checkpoint_reads_version_1_and_refuses_non_finite_floats() {
    let (layers, cfg) = (mlp(0.8), config(Optimizer::ADAM));
    let mut mem = memory(&layers, &cfg);
    let mut trained = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    fit(&mut trained, 1);
    let mut bytes = vec![0u8; trained.checkpoint_len(true).unwrap()];
    trained.write_checkpoint(true, &mut bytes).unwrap();
    assert_eq!(CheckpointHeader::parse(&bytes).unwrap().version, 2);
    let mut v1 = bytes[..bytes.len() - CHECKSUM_BYTES].to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(CheckpointHeader::parse(&v1).unwrap().version, 1);
    let mut mem = memory(&layers, &cfg);
    let mut fresh = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    fresh.load_checkpoint(&v1).unwrap();
    assert!(fresh.params() == trained.params());
    assert_eq!(fresh.steps(), trained.steps());

    let mut mem = memory(&layers, &cfg);
    let mut fresh = Trainer::new(Network::new(&layers), cfg, &mut mem).unwrap();
    let before = fresh.params().to_vec();
    for at in [HEADER_BYTES, bytes.len() - CHECKSUM_BYTES - 4] {
        for bad in [f32::NAN, f32::INFINITY] {
            let mut b = bytes.clone();
            b[at..at + 4].copy_from_slice(&bad.to_le_bytes());
            seal(&mut b).unwrap();
            assert!(matches!(
                fresh.load_weights(&b),
                Err(Error::BadCheckpoint { .. })
            ));
            assert!(matches!(
                fresh.load_checkpoint(&b),
                Err(Error::BadCheckpoint { .. })
            ));
            assert!(fresh.params() == &before[..]);
        }
    }
}

/// Plateau decay's counters and the rate it set live in the memory: a fit
/// paused right after a reduction, checkpointed and resumed in another
/// trainer, trains on at the reduced rate and ends with the weights of one
/// unbroken call; `reset` goes back to the chosen rate.
#[test]
fn checkpoint_resume_carries_plateau_decay() {
    let layers = mlp(0.8);
    let plateau = PlateauConfig {
        factor: 0.5,
        patience: 0,
        threshold: 0.2,
        ..PlateauConfig::new(Monitor::Min)
    };
    let cfg = config(Optimizer::ADAM)
        .with_lr(LearningRate::constant(3e-3))
        .with_plateau(Metric::ValLoss, plateau);
    let (train, val) = data();
    let net = Network::new(&layers);
    let run = |resume: Option<&[u8]>, pause_after: Option<u32>| {
        let mut mem = vec![0f32; net.memory_len_for(&cfg)];
        let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
        if let Some(bytes) = resume {
            trainer.load_checkpoint(bytes).unwrap();
        }
        let mut order = vec![0u32; train.count];
        let mut history = vec![EpochMetrics::default(); 12];
        trainer
            .fit_observed(
                &train,
                &val,
                12 - trainer.epochs_done(),
                &mut order,
                &mut history,
                &mut |e| match e {
                    FitEvent::Epoch { epoch, .. } if Some(epoch + 1) == pause_after => {
                        ControlFlow::Break(())
                    }
                    _ => ControlFlow::Continue(()),
                },
            )
            .unwrap();
        let mut bytes = vec![0u8; trainer.checkpoint_len(true).unwrap()];
        trainer.write_checkpoint(true, &mut bytes).unwrap();
        let rates: Vec<f32> = history.iter().map(|h| h.lr).collect();
        let base = trainer.config().lr.base;
        trainer.reset();
        assert_eq!(trainer.config().lr.base, 3e-3, "reset keeps a decayed rate");
        (trainer.epochs_done(), rates, base, bytes)
    };
    let (_, rates, base, unbroken) = run(None, None);
    // The first reduction: the epoch after the first that did not improve.
    let first_low = rates
        .iter()
        .position(|&r| r < 3e-3)
        .expect("the rate never decayed");
    assert!(base < 3e-3 && first_low >= 1, "{rates:?}");
    let (_, _, paused_base, bytes) = run(None, Some(first_low as u32));
    assert_eq!(
        paused_base, 1.5e-3,
        "paused right after the first reduction"
    );
    let (_, resumed_rates, _, resumed) = run(Some(&bytes), None);
    assert_eq!(
        resumed_rates[0], 1.5e-3,
        "the resumed fit forgot the decayed rate"
    );
    assert_eq!(resumed, unbroken, "the resumed run's checkpoint differs");
}
