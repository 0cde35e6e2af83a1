//! The main job: train an MLP on the digits set (8x8 images, 1437 train / 360
//! test) without and with each regularizer, over several seeds, and print a
//! table of train and test accuracy, the gap and the time.
//!
//! Run: `cargo run --release --example digits`

use std::time::Instant;

use tinyreg::trainer::optim::Schedule;
use tinyreg::{
    ensemble_proba, BatchNorm, Dense, DepthScaling, Dropout, EarlyStoppingConfig, EpochMetrics,
    Error, Icls, Layer, LearningRate, Metric, Monitor, Network, Optimizer, TrainConfig, Trainer,
    Update, WeightDecay,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");
const TEST: &[u8] = include_bytes!("../data/digits-test.bin");
const SEEDS: [u64; 5] = [0, 1, 2, 3, 4];
const EPOCHS: u32 = 60;
const BATCH: usize = 32;
const HIDDEN: usize = 128;

struct Row {
    name: &'static str,
    layers: Vec<Layer>,
    decay: WeightDecay,
    early_stopping: bool,
}

fn mlp(middle: &[Layer]) -> Vec<Layer> {
    let mut layers = vec![Layer::Dense(Dense::new(64, HIDDEN).with_relu())];
    layers.extend_from_slice(middle);
    layers.push(Layer::Dense(Dense::new(HIDDEN, 10)));
    layers
}

fn config(seed: u64, decay: WeightDecay, early_stopping: bool) -> Result<TrainConfig, Error> {
    Ok(TrainConfig {
        batch: BATCH,
        update: Update::new(Optimizer::ADAM, decay)?,
        lr: LearningRate {
            base: 2e-3,
            schedule: Schedule::Cosine {
                total: EPOCHS * 45,
                min: 1e-4,
            },
            warmup: 0,
        },
        clip_norm: None,
        seed,
        early_stopping: early_stopping.then_some((
            Metric::ValLoss,
            EarlyStoppingConfig {
                mode: Monitor::Min,
                min_delta: 0.0,
                patience: 10,
                start_from_epoch: 5,
                restore_best_weights: true,
            },
        )),
    })
}

/// Trains one network; returns (train accuracy, test accuracy, seconds).
fn run(
    layers: &[Layer],
    cfg: TrainConfig,
    train: &Icls,
    val: &Icls,
    test: &Icls,
) -> Result<(f32, f32, f64), Error> {
    let net = Network::new(layers);
    let keep_best = cfg.early_stopping.is_some();
    let mut mem =
        vec![0f32; net.memory_len(BATCH, cfg.update.optimizer.state_per_param(), keep_best)];
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); EPOCHS as usize];
    let start = Instant::now();
    let mut trainer = Trainer::new(net, cfg, &mut mem)?;
    trainer.fit(train, val, EPOCHS, &mut order, &mut history)?;
    let seconds = start.elapsed().as_secs_f64();
    let train_acc = trainer.evaluate(train)?.accuracy;
    let test_acc = trainer.evaluate(test)?.accuracy;
    Ok((train_acc, test_acc, seconds))
}

fn mean_sd(v: &[f32]) -> (f32, f32) {
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn main() -> Result<(), Error> {
    let train = Icls::parse(TRAIN)?;
    let test = Icls::parse(TEST)?;
    // Early stopping monitors a validation split carved from the end of train.
    let (fit_part, val_part) = (train.slice(0, 1150)?, train.slice(1150, train.count)?);
    let inverted = Dropout::inverted(0.8)?;
    let vanilla = Dropout::vanilla(0.8)?;
    let residual = |survival| Layer::Residual {
        features: HIDDEN,
        hidden: HIDDEN,
        survival,
        scaling: DepthScaling::Inverted,
    };
    let none = WeightDecay::NONE;
    let rows = vec![
        Row {
            name: "none (64-128-10)",
            layers: mlp(&[]),
            decay: none,
            early_stopping: false,
        },
        Row {
            name: "vanilla dropout 0.8",
            layers: mlp(&[Layer::Dropout {
                features: HIDDEN,
                dropout: vanilla,
            }]),
            decay: none,
            early_stopping: false,
        },
        Row {
            name: "inverted dropout 0.8",
            layers: mlp(&[Layer::Dropout {
                features: HIDDEN,
                dropout: inverted,
            }]),
            decay: none,
            early_stopping: false,
        },
        Row {
            name: "DropConnect 0.8 (out layer)",
            layers: vec![
                Layer::Dense(Dense::new(64, HIDDEN).with_relu()),
                Layer::DenseDropConnect(Dense::new(HIDDEN, 10), inverted),
            ],
            decay: none,
            early_stopping: false,
        },
        Row {
            name: "batch norm",
            layers: vec![
                Layer::Dense(Dense::new(64, HIDDEN)),
                Layer::BatchNorm(BatchNorm::new(HIDDEN)),
                Layer::Relu { features: HIDDEN },
                Layer::Dense(Dense::new(HIDDEN, 10)),
            ],
            decay: none,
            early_stopping: false,
        },
        Row {
            name: "residual block, no drop",
            layers: mlp(&[residual(1.0)]),
            decay: none,
            early_stopping: false,
        },
        Row {
            name: "stochastic depth 0.5",
            layers: mlp(&[residual(0.5)]),
            decay: none,
            early_stopping: false,
        },
        Row {
            name: "L2 1e-2 decoupled (AdamW)",
            layers: mlp(&[]),
            decay: WeightDecay {
                l2: 1e-2,
                decoupled: true,
                l1: 0.0,
            },
            early_stopping: false,
        },
        Row {
            name: "L1 1e-4",
            layers: mlp(&[]),
            decay: WeightDecay {
                l2: 0.0,
                decoupled: false,
                l1: 1e-4,
            },
            early_stopping: false,
        },
        Row {
            name: "early stopping (val split)",
            layers: mlp(&[]),
            decay: none,
            early_stopping: true,
        },
    ];

    println!("digits: 1437 train / 360 test, batch {BATCH}, Adam lr 2e-3 cosine, {EPOCHS} epochs, seeds {SEEDS:?}");
    println!("scikit-learn MLP baseline on this split: 0.908 to 0.918 test accuracy\n");
    println!("| regularizer | train acc | test acc | gap | time/run |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        let (mut tr, mut te, mut secs) = (vec![], vec![], 0.0);
        for &seed in &SEEDS {
            let cfg = config(seed, row.decay, row.early_stopping)?;
            let (fit_on, val) = if row.early_stopping {
                (&fit_part, &val_part)
            } else {
                (&train, &test)
            };
            let (a, b, s) = run(&row.layers, cfg, fit_on, val, &test)?;
            tr.push(a);
            te.push(b);
            secs += s;
        }
        let ((trm, trs), (tem, tes)) = (mean_sd(&tr), mean_sd(&te));
        println!(
            "| {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} | {:.2} s |",
            row.name,
            trm,
            trs,
            tem,
            tes,
            trm - tem,
            secs / SEEDS.len() as f64
        );
    }

    // A 5-member ensemble of the plain MLP (members from seeds 10..15), once.
    let layers = mlp(&[]);
    let net = Network::new(&layers);
    let floats = net.memory_len(BATCH, 2, false);
    let mut arenas: Vec<Vec<f32>> = (0..5).map(|_| vec![0f32; floats]).collect();
    let start = Instant::now();
    let mut members = Vec::new();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); EPOCHS as usize];
    for (k, arena) in arenas.iter_mut().enumerate() {
        let mut t = Trainer::new(net, config(10 + k as u64, none, false)?, arena)?;
        t.fit(&train, &test, EPOCHS, &mut order, &mut history)?;
        members.push(t);
    }
    let seconds = start.elapsed().as_secs_f64();
    let accuracy = |data: &Icls, members: &mut Vec<Trainer>| -> Result<f32, Error> {
        let mut correct = 0;
        let mut x = vec![0f32; BATCH * 64];
        let mut labels = [0u32; BATCH];
        let (mut probs, mut tmp) = (vec![0f32; BATCH * 10], vec![0f32; BATCH * 10]);
        for start in (0..data.count).step_by(BATCH) {
            let rows = BATCH.min(data.count - start);
            let idx: Vec<u32> = (start as u32..(start + rows) as u32).collect();
            data.gather(&idx, &mut x[..rows * 64], &mut labels[..rows])?;
            ensemble_proba(
                members,
                &x[..rows * 64],
                rows,
                &mut probs[..rows * 10],
                &mut tmp[..rows * 10],
            )?;
            for r in 0..rows {
                let p = &probs[r * 10..(r + 1) * 10];
                let best = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
                correct += (best == labels[r] as usize) as usize;
            }
        }
        Ok(correct as f32 / data.count as f32)
    };
    let (tr, te) = (
        accuracy(&train, &mut members)?,
        accuracy(&test, &mut members)?,
    );
    println!(
        "| 5-member ensemble (one run) | {tr:.3} | {te:.3} | {:.3} | {seconds:.2} s |",
        tr - te
    );
    Ok(())
}
