//! Group `tune`: what the search machinery costs beside the training it
//! drives. A digits trial of the `digits` example trains 60 epochs; the
//! baseline in this group is one of those epochs (`fit_one_epoch`, the
//! 64-128-10 MLP on 1150 images, batch 32, Adam, dropout 0.8). Per trial the
//! machinery computes one point (`point/*`), a 27-trial successive halving's
//! whole bookkeeping is shared by its 27 trials (`halving_27`), and the curves
//! are read once (`diagnose_60_epochs`).
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench tune`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tinyreg::tune::{
    diagnose, max_findings, Finding, Param, Sampler, Space, SuccessiveHalving, Thresholds,
    TrialRecord,
};
use tinyreg::{
    Dense, Dropout, EpochMetrics, Icls, Layer, LearningRate, Metrics, Network, Optimizer,
    TrainConfig, Trainer, Update, WeightDecay,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

fn tune(c: &mut Criterion) {
    let mut group = c.benchmark_group("tune");
    group.measurement_time(Duration::from_secs(3));

    let data = Icls::parse(TRAIN).unwrap();
    let (train, val) = (
        data.slice(0, 1150).unwrap(),
        data.slice(1150, 1437).unwrap(),
    );
    let layers = [
        Layer::Dense(Dense::new(64, 128).with_relu()),
        Layer::Dropout {
            features: 128,
            dropout: Dropout::inverted(0.8).unwrap(),
        },
        Layer::Dense(Dense::new(128, 10)),
    ];
    let net = Network::new(&layers);
    let config = TrainConfig::new(32, LearningRate::constant(2e-3))
        .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap());
    let mut memory = vec![0f32; net.memory_len(32, 2, false)];
    let mut trainer = Trainer::new(net, config, &mut memory).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = [EpochMetrics::default(); 1];
    group.bench_function("fit_one_epoch", |b| {
        b.iter(|| {
            trainer
                .fit(&train, &val, 1, &mut order, &mut history)
                .unwrap();
            black_box(history[0])
        })
    });

    let space = Space::new([
        Param::log_uniform("lr", 1e-4, 1e-1).grid_levels(4),
        Param::log_uniform("weight_decay", 1e-5, 1e-1).grid_levels(2),
        Param::uniform("keep", 0.5, 1.0).grid_levels(2),
    ])
    .unwrap();
    for (name, sampler) in [
        ("point/random", Sampler::Random),
        ("point/grid_shuffled", Sampler::Grid { shuffled: true }),
        ("point/sobol", Sampler::Sobol),
        (
            "point/latin_hypercube",
            Sampler::LatinHypercube { trials: 16 },
        ),
    ] {
        let mut i = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % 16;
                black_box(space.point(sampler, 2026, black_box(i)).unwrap())
            })
        });
    }

    let halving = SuccessiveHalving::new(27, 3, 7, 63).unwrap();
    let mut records = [TrialRecord::EMPTY; 27];
    group.bench_function("halving_27", |b| {
        b.iter(|| {
            halving
                .run(&mut records, |r, epochs| {
                    Ok(((r.trial * 7919) % 97) as f32 / epochs as f32)
                })
                .unwrap()
        })
    });

    let curves: Vec<EpochMetrics> = (0..60)
        .map(|e| {
            let l = 0.1 + 2.0 * (-(e as f32) / 10.0).exp();
            EpochMetrics {
                train: Metrics {
                    loss: l,
                    accuracy: 1.0 - l / 3.0,
                },
                val: Metrics {
                    loss: l * 1.1,
                    accuracy: 0.95 - l / 3.0,
                },
                lr: 1e-3,
                update_ratio: 1e-3,
            }
        })
        .collect();
    let mut findings = [Finding::NoisyLoss { noise: 0.0 }; max_findings(3)];
    let ratios = [1e-3, 0.0, 2e-3];
    group.bench_function("diagnose_60_epochs", |b| {
        b.iter(|| {
            diagnose(
                black_box(&curves),
                &[],
                &ratios,
                &Thresholds::DEFAULT,
                &mut findings,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, tune);
criterion_main!(benches);
