//! Snapshot ensembles: `snapshot_ensemble_proba` is `ensemble_proba` over
//! trainers holding the snapshots, bit for bit; the trainer's weights and the
//! snapshots come back unchanged; bad lengths are refused with nothing
//! written.
use tinyreg::{
    ensemble_proba, snapshot_ensemble_proba, BatchNorm, Dense, Error, Icls, Layer, LearningRate,
    Network, Schedule, TrainConfig, Trainer,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

const LAYERS: [Layer; 3] = [
    Layer::Dense(Dense::new(64, 16).with_relu()),
    Layer::BatchNorm(BatchNorm::new(16)),
    Layer::Dense(Dense::new(16, 10)),
];

/// Cycles of 10 steps restarting at 0.05.
fn config() -> TrainConfig {
    TrainConfig::new(
        8,
        LearningRate {
            base: 0.05,
            schedule: Schedule::CosineWarmRestarts {
                first: 10,
                mult: 1,
                min: 0.0,
            },
            warmup: 0,
        },
    )
    .with_seed(5)
}

#[test]
fn snapshot_ensemble_equals_an_ensemble_of_its_snapshots() {
    let data = Icls::parse(TRAIN).unwrap();
    let net = Network::new(&LAYERS);
    let floats = net.memory_len_for(&config());
    let mut mem = vec![0f32; floats];
    let mut trainer = Trainer::new(net, config(), &mut mem).unwrap();
    let len = trainer.weights_len();
    assert_eq!(len, net.params_len() + net.buffers_len());
    let mut snapshots = vec![0f32; 3 * len];
    let mut step = 0;
    for snapshot in snapshots.chunks_exact_mut(len) {
        for _ in 0..10 {
            let batch: Vec<u32> = (0..8).map(|i| (step * 8 + i) % 500).collect();
            trainer.train_step(&data, &batch).unwrap();
            step += 1;
        }
        trainer.copy_weights(snapshot).unwrap();
    }
    // Train on, so the live weights differ from every snapshot.
    trainer.train_step(&data, &[1, 2, 3, 4]).unwrap();
    let (live_p, live_b) = (trainer.params().to_vec(), trainer.buffers().to_vec());
    let kept = snapshots.clone();

    let rows = 5;
    let mut input = vec![0f32; rows * 64];
    let mut labels = vec![0u32; rows];
    data.gather(&[600, 601, 602, 603, 604], &mut input, &mut labels)
        .unwrap();
    let (mut probs, mut tmp) = (vec![0f32; rows * 10], vec![0f32; rows * 10]);
    snapshot_ensemble_proba(
        &mut trainer,
        &mut snapshots,
        &input,
        rows,
        &mut probs,
        &mut tmp,
    )
    .unwrap();
    assert_eq!(trainer.params(), &live_p[..]);
    assert_eq!(trainer.buffers(), &live_b[..]);
    assert_eq!(snapshots, kept);

    // Three trainers holding the snapshots, averaged by `ensemble_proba`.
    let mut memories = vec![vec![0f32; floats]; 3];
    let mut members: Vec<Trainer> = memories
        .iter_mut()
        .map(|m| Trainer::new(net, config(), m).unwrap())
        .collect();
    let mut copies = kept.clone();
    for (member, snapshot) in members.iter_mut().zip(copies.chunks_exact_mut(len)) {
        member.swap_weights(snapshot).unwrap();
    }
    let mut expect = vec![0f32; rows * 10];
    ensemble_proba(&mut members, &input, rows, &mut expect, &mut tmp).unwrap();
    assert_eq!(probs, expect);
    for row in probs.chunks_exact(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    // And it is not just one of them: the members disagree somewhere.
    let mut one = vec![0f32; rows * 10];
    members[0].predict_proba(&input, rows, 0, &mut one).unwrap();
    assert_ne!(one, probs);
}

#[test]
fn snapshot_ensemble_refuses_bad_lengths_with_nothing_written() {
    let net = Network::new(&LAYERS);
    let mut mem = vec![0f32; net.memory_len_for(&config())];
    let mut trainer = Trainer::new(net, config(), &mut mem).unwrap();
    let len = trainer.weights_len();
    let params = trainer.params().to_vec();
    let input = vec![0.5f32; 2 * 64];
    let mut tmp = [0f32; 30];
    for (snapshots, rows, probs_len, tmp_len) in [
        (0, 2, 20, 20),
        (len + 1, 2, 20, 20),
        (2 * len - 3, 2, 20, 20),
        (len, 2, 20, 19),
        (len, 3, 20, 20),
        (len, 0, 0, 0),
        (len, 2, 30, 30),
    ] {
        let mut snaps = vec![0.25f32; snapshots];
        let mut probs = vec![7.0f32; probs_len];
        let got = snapshot_ensemble_proba(
            &mut trainer,
            &mut snaps,
            &input[..(rows * 64).min(input.len())],
            rows,
            &mut probs,
            &mut tmp[..tmp_len],
        );
        assert!(got.is_err(), "{snapshots} {rows} {probs_len} {tmp_len}");
        assert!(probs.iter().all(|&p| p == 7.0));
        assert!(snaps.iter().all(|&s| s == 0.25));
        assert_eq!(trainer.params(), &params[..]);
    }
    let mut short = vec![0f32; len - 1];
    assert!(matches!(
        trainer.copy_weights(&mut short),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(trainer.swap_weights(&mut short).is_err());
    assert!(short.iter().all(|&s| s == 0.0));
    assert_eq!(trainer.params(), &params[..]);
}
