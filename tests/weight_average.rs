//! Weight averaging (`TrainConfig::with_average`, `Trainer::swap_average`):
//! the average follows `torch.optim.swa_utils`' rules step by step (EMA as a
//! lerp, the uniform mean), over the weights and batch norm's running
//! statistics; it starts after its start step; it changes nothing about
//! training; swapping twice gives the live weights back bit for bit; it is
//! part of the training state checkpoints resume from; bad settings and
//! training with the average in are refused with nothing changed.
use tinyreg::trainer::average::fold_into_average;
use tinyreg::{
    AverageKind, BatchNorm, Dense, Error, Icls, Layer, LearningRate, Network, Optimizer,
    TrainConfig, Trainer, Update, WeightAverage, WeightDecay,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

const LAYERS: [Layer; 3] = [
    Layer::Dense(Dense::new(64, 16).with_relu()),
    Layer::BatchNorm(BatchNorm::new(16)),
    Layer::Dense(Dense::new(16, 10)),
];

fn config(average: Option<WeightAverage>) -> TrainConfig {
    TrainConfig {
        average,
        ..TrainConfig::new(8, LearningRate::constant(5e-3))
            .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap())
            .with_seed(11)
    }
}

fn batch(step: usize) -> Vec<u32> {
    (0..8).map(|i| ((step * 8 + i) % 300) as u32).collect()
}

/// The weights and buffers after each of `steps` steps of a trainer without
/// an average.
fn trajectory(steps: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    let data = Icls::parse(TRAIN).unwrap();
    let net = Network::new(&LAYERS);
    let mut mem = vec![0f32; net.memory_len_for(&config(None))];
    let mut trainer = Trainer::new(net, config(None), &mut mem).unwrap();
    (0..steps)
        .map(|s| {
            trainer.train_step(&data, &batch(s)).unwrap();
            (trainer.params().to_vec(), trainer.buffers().to_vec())
        })
        .collect()
}

/// The averaged weights and buffers after `steps` steps with `average`, and
/// the live ones after swapping twice.
fn averaged(average: WeightAverage, steps: usize) -> [Vec<f32>; 4] {
    let data = Icls::parse(TRAIN).unwrap();
    let net = Network::new(&LAYERS);
    let config = config(Some(average));
    let mut mem = vec![0f32; net.memory_len_for(&config)];
    let mut trainer = Trainer::new(net, config, &mut mem).unwrap();
    for s in 0..steps {
        trainer.train_step(&data, &batch(s)).unwrap();
    }
    trainer.swap_average().unwrap();
    assert!(trainer.average_in());
    let (p, b) = (trainer.params().to_vec(), trainer.buffers().to_vec());
    trainer.swap_average().unwrap();
    assert!(!trainer.average_in());
    [p, b, trainer.params().to_vec(), trainer.buffers().to_vec()]
}

#[test]
fn weight_average_fold_worked_numbers() {
    // EMA with decay 0.75 (exact in binary): 1 + 0.25 (3 - 1) = 1.5 and
    // 2 + 0.25 (-2 - 2) = 1; the uniform mean's third step: 1 + (4 - 1) / 3 = 2.
    let mut avg = [1.0, 2.0];
    fold_into_average(
        AverageKind::Exponential { decay: 0.75 },
        2,
        &[3.0, -2.0],
        &mut avg,
    );
    assert_eq!(avg, [1.5, 1.0]);
    let mut avg = [1.0, 2.0];
    fold_into_average(AverageKind::Uniform, 3, &[4.0, 5.0], &mut avg);
    assert_eq!(avg, [2.0, 3.0]);
    // The first averaged step copies, whatever was there.
    let mut avg = [f32::NAN, 9.0];
    fold_into_average(AverageKind::Uniform, 1, &[4.0, 5.0], &mut avg);
    assert_eq!(avg, [4.0, 5.0]);
}

/// PyTorch's EMA lerps by the double `1 - decay`, rounded once to `f32`:
/// 0.999 gives a step weight of 0.001f32 (from 1.0000000000000009e-3), while
/// an `f32` decay of 0.999 (0.99900001...) would give 0.000999987.
#[test]
fn weight_average_ema_weight_is_pytorchs_for_inexact_decays() {
    let mut avg = [0.0f32];
    fold_into_average(
        AverageKind::Exponential { decay: 0.999 },
        2,
        &[1.0],
        &mut avg,
    );
    assert_eq!(avg, [0.001f32]);
    assert_ne!(avg[0], 1.0 - 0.999f32, "the f32 weight differs");
}

#[test]
fn weight_average_follows_the_recurrences_over_weights_and_buffers() {
    let steps = 12;
    let path = trajectory(steps);
    for (kind, start) in [
        (AverageKind::Exponential { decay: 0.9 }, 0),
        (AverageKind::Exponential { decay: 0.5 }, 4),
        (AverageKind::Uniform, 0),
        (AverageKind::Uniform, 5),
    ] {
        let [p, b, live_p, live_b] = averaged(WeightAverage { kind, start }, steps);
        let start = start as usize;
        // The average changes nothing about training.
        assert_eq!(live_p, path[steps - 1].0);
        assert_eq!(live_b, path[steps - 1].1);
        // The same recurrence in f64, from the copy after step start + 1.
        let mut expect: Vec<f64> = path[start]
            .0
            .iter()
            .chain(&path[start].1)
            .map(|&v| v as f64)
            .collect();
        for (n, (wp, wb)) in path.iter().enumerate().skip(start + 1) {
            let n = (n - start + 1) as f64;
            for (e, &w) in expect.iter_mut().zip(wp.iter().chain(wb)) {
                *e += match kind {
                    AverageKind::Exponential { decay } => (1.0 - decay) * (w as f64 - *e),
                    AverageKind::Uniform => (w as f64 - *e) / n,
                };
            }
        }
        let got: Vec<f32> = p.iter().chain(&b).copied().collect();
        assert_eq!(got.len(), expect.len());
        for (i, (&g, &e)) in got.iter().zip(&expect).enumerate() {
            assert!(
                (g as f64 - e).abs() <= 1e-5 * (1.0 + e.abs()),
                "{kind:?} start {start}: [{i}] {g} vs {e}"
            );
        }
        // Not the live weights: the average is something else.
        assert_ne!(p, live_p);
        if kind == AverageKind::Uniform && start == 5 {
            // The mean of steps 6..=12, directly.
            for (i, &g) in p.iter().enumerate() {
                let mean = path[5..].iter().map(|(w, _)| w[i] as f64).sum::<f64>() / 7.0;
                assert!(
                    (g as f64 - mean).abs() <= 1e-5 * (1.0 + mean.abs()),
                    "[{i}] {g} vs {mean}"
                );
            }
        }
    }
}

#[test]
fn weight_average_is_a_copy_at_its_first_step_and_refused_before() {
    let data = Icls::parse(TRAIN).unwrap();
    let net = Network::new(&LAYERS);
    let config = config(Some(WeightAverage::exponential(0.99).with_start(3)));
    let mut mem = vec![0f32; net.memory_len_for(&config)];
    let mut trainer = Trainer::new(net, config, &mut mem).unwrap();
    for s in 0..3 {
        assert!(matches!(
            trainer.swap_average(),
            Err(Error::InvalidState { .. })
        ));
        trainer.train_step(&data, &batch(s)).unwrap();
    }
    assert!(
        trainer.swap_average().is_err(),
        "nothing averaged after 3 steps with start 3"
    );
    trainer.train_step(&data, &batch(3)).unwrap();
    let (p, b) = (trainer.params().to_vec(), trainer.buffers().to_vec());
    trainer.swap_average().unwrap();
    assert_eq!(trainer.params(), &p[..]);
    assert_eq!(trainer.buffers(), &b[..]);

    // Without an average, swapping is refused.
    let net = Network::new(&LAYERS);
    let mut mem = vec![0f32; net.memory_len_for(&super_config())];
    let mut plain = Trainer::new(net, super_config(), &mut mem).unwrap();
    plain.train_step(&data, &batch(0)).unwrap();
    assert!(matches!(
        plain.swap_average(),
        Err(Error::InvalidState { .. })
    ));
}

fn super_config() -> TrainConfig {
    config(None)
}

#[test]
fn weight_average_in_refuses_training_and_state_saving() {
    let data = Icls::parse(TRAIN).unwrap();
    let net = Network::new(&LAYERS);
    let config = config(Some(WeightAverage::uniform()));
    let mut mem = vec![0f32; net.memory_len_for(&config)];
    let mut trainer = Trainer::new(net, config, &mut mem).unwrap();
    trainer.train_step(&data, &batch(0)).unwrap();
    trainer.train_step(&data, &batch(1)).unwrap();
    trainer.swap_average().unwrap();
    let (p, state) = (trainer.params().to_vec(), trainer.state());
    assert_eq!(
        trainer.train_step(&data, &batch(2)),
        Err(Error::AverageSwappedIn)
    );
    assert_eq!(
        trainer.train_step_batch(&[0.0; 64], &[1], None),
        Err(Error::AverageSwappedIn)
    );
    let (mut order, mut history) = (vec![0u32; 300], [tinyreg::EpochMetrics::default(); 1]);
    let small = data.slice(0, 300).unwrap();
    assert_eq!(
        trainer
            .fit(&small, &small, 1, &mut order, &mut history)
            .map(|_| ()),
        Err(Error::AverageSwappedIn)
    );
    assert_eq!(order, vec![0u32; 300], "fit shuffled nothing");
    let mut out = vec![0u8; trainer.checkpoint_len(true).unwrap()];
    assert_eq!(
        trainer.write_checkpoint(true, &mut out),
        Err(Error::AverageSwappedIn)
    );
    let mut snapshot = vec![0f32; trainer.snapshot_len()];
    assert_eq!(
        trainer.save_snapshot(&mut snapshot).map(|_| ()),
        Err(Error::AverageSwappedIn)
    );
    assert_eq!(trainer.params(), &p[..]);
    assert_eq!(trainer.state(), state);
    // A weights-only checkpoint saves the averaged network.
    let mut weights = vec![0u8; trainer.checkpoint_len(false).unwrap()];
    trainer.write_checkpoint(false, &mut weights).unwrap();
    // Loading over the swapped-in average would lose the live weights.
    assert_eq!(trainer.load_weights(&weights), Err(Error::AverageSwappedIn));
    let mut full = vec![0u8; trainer.checkpoint_len(true).unwrap()];
    trainer.swap_average().unwrap();
    trainer.write_checkpoint(true, &mut full).unwrap();
    trainer.swap_average().unwrap();
    assert_eq!(trainer.load_checkpoint(&full), Err(Error::AverageSwappedIn));
    assert_eq!(trainer.params(), &p[..]);
    trainer.swap_average().unwrap();
    trainer.load_weights(&weights).unwrap();
    assert_eq!(trainer.params(), &p[..]);
}

#[test]
fn weight_average_resumes_from_a_checkpoint() {
    let data = Icls::parse(TRAIN).unwrap();
    let net = Network::new(&LAYERS);
    let config = config(Some(WeightAverage::exponential(0.8)));
    let run = |split: Option<usize>| {
        let mut mem = vec![0f32; net.memory_len_for(&config)];
        let mut trainer = Trainer::new(net, config, &mut mem).unwrap();
        for s in 0..10 {
            if split == Some(s) {
                let mut bytes = vec![0u8; trainer.checkpoint_len(true).unwrap()];
                trainer.write_checkpoint(true, &mut bytes).unwrap();
                let mut mem2 = vec![0f32; net.memory_len_for(&config)];
                let mut fresh = Trainer::new(net, config, &mut mem2).unwrap();
                fresh.load_checkpoint(&bytes).unwrap();
                for s in s..10 {
                    fresh.train_step(&data, &batch(s)).unwrap();
                }
                fresh.swap_average().unwrap();
                return fresh.params().to_vec();
            }
            trainer.train_step(&data, &batch(s)).unwrap();
        }
        trainer.swap_average().unwrap();
        trainer.params().to_vec()
    };
    assert_eq!(run(Some(6)), run(None));
    // A checkpoint without the average is refused by a trainer that keeps one.
    let plain = super_config();
    let mut mem = vec![0f32; net.memory_len_for(&plain)];
    let trainer = Trainer::new(net, plain, &mut mem).unwrap();
    let mut bytes = vec![0u8; trainer.checkpoint_len(true).unwrap()];
    trainer.write_checkpoint(true, &mut bytes).unwrap();
    let mut mem2 = vec![0f32; net.memory_len_for(&config)];
    let mut averaging = Trainer::new(net, config, &mut mem2).unwrap();
    assert!(matches!(
        averaging.load_checkpoint(&bytes),
        Err(Error::BadCheckpoint { .. })
    ));
}

#[test]
fn weight_average_refuses_bad_settings_and_small_memory() {
    let net = Network::new(&LAYERS);
    for decay in [f64::NAN, 1.0, -0.1, 1.5, f64::INFINITY] {
        let config = config(Some(WeightAverage::exponential(decay)));
        let mut mem = vec![0f32; net.memory_len_for(&config)];
        assert!(
            matches!(
                Trainer::new(net, config, &mut mem).map(|_| ()),
                Err(Error::InvalidSetting {
                    setting: "decay",
                    ..
                })
            ),
            "decay {decay}"
        );
    }
    let config = config(Some(WeightAverage::exponential(0.0)));
    let floats = net.memory_len_for(&config);
    assert_eq!(
        floats,
        net.memory_len(8, 2, false) + net.params_len() + net.buffers_len()
    );
    let mut mem = vec![0f32; floats - 1];
    assert!(matches!(
        Trainer::new(net, config, &mut mem).map(|_| ()),
        Err(Error::BufferTooSmall { .. })
    ));
    let mut mem = vec![0f32; floats];
    assert!(Trainer::new(net, config, &mut mem).is_ok());
}
