//! What the search examples share: the digits MLP's search space, one trial
//! (a configuration trained from its seed, scored on the validation split),
//! and a pool of worker threads that gives the same results whatever their
//! number (each trial is a pure function of the search seed and its index).
#![allow(dead_code)]

use std::ops::ControlFlow;
use std::time::Instant;

use tinyreg::tune::{run_parallel, Param, Point, Sampler, Space};
use tinyreg::{
    shaped, Dropout, EpochMetrics, Error, FitEvent, Icls, ImageShape, Layer, LayerDesc,
    LearningRate, Metrics, Network, Optimizer, Schedule, TrainConfig, Trainer, Update, WeightDecay,
};

/// Learning rate and AdamW's decay in log space (the lecture's advice), the
/// hidden layer's dropout keep linearly. A grid takes 4 x 2 x 2 = 16 points.
pub const SPACE: [Param; 3] = [
    Param::log_uniform("lr", 1e-4, 1e-1).grid_levels(4),
    Param::log_uniform("weight_decay", 1e-5, 1e-1).grid_levels(2),
    Param::uniform("keep", 0.5, 1.0).grid_levels(2),
];

/// One configuration of [`SPACE`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    pub lr: f32,
    pub weight_decay: f32,
    pub keep: f32,
}

impl Hyper {
    pub fn of(point: &Point<3>) -> Hyper {
        Hyper {
            lr: point.f32_or(0, 1e-3),
            weight_decay: point.f32_or(1, 0.0),
            keep: point.f32_or(2, 1.0),
        }
    }
}

impl std::fmt::Display for Hyper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lr {:.2e}, wd {:.1e}, keep {:.2}",
            self.lr, self.weight_decay, self.keep
        )
    }
}

/// A one-hidden-layer MLP and its batch.
#[derive(Clone, Copy, Debug)]
pub struct Task {
    pub inputs: usize,
    pub hidden: usize,
    pub batch: usize,
}

/// Digits: 64-128-10, batch 32.
pub const DIGITS: Task = Task {
    inputs: 64,
    hidden: 128,
    batch: 32,
};

/// Fashion-MNIST: 784-256-10, batch 64.
pub const FASHION: Task = Task {
    inputs: 784,
    hidden: 256,
    batch: 64,
};

impl Task {
    /// The MLP with inverted dropout `keep` after the hidden layer.
    pub fn mlp(&self, keep: f32) -> Result<[Layer; 3], Error> {
        let dense = |units, relu| LayerDesc::Dense {
            units,
            relu,
            dropconnect: None,
        };
        Ok(shaped(
            ImageShape::features(self.inputs),
            10,
            [
                dense(self.hidden, true),
                LayerDesc::Dropout(Dropout::inverted(keep)?),
                dense(10, false),
            ],
        )?)
    }
}

/// Adam (AdamW's decoupled decay) at `hyper`, cosine over `cosine_epochs`.
pub fn config(
    task: &Task,
    hyper: Hyper,
    seed: u64,
    steps_per_epoch: u32,
    cosine_epochs: u32,
) -> Result<TrainConfig, Error> {
    Ok(TrainConfig {
        batch: task.batch,
        update: Update::new(
            Optimizer::ADAM,
            WeightDecay {
                l2: hyper.weight_decay,
                decoupled: true,
                l1: 0.0,
            },
        )?,
        lr: LearningRate {
            base: hyper.lr,
            schedule: Schedule::Cosine {
                total: cosine_epochs * steps_per_epoch,
                min: hyper.lr / 20.0,
            },
            warmup: 0,
        },
        clip_norm: None,
        seed,
        plateau: None,
        early_stopping: None,
        average: None,
    })
}

/// A trained trial: its curves and final metrics.
pub struct Outcome {
    pub hyper: Hyper,
    pub seed: u64,
    pub epochs: u32,
    pub history: Vec<EpochMetrics>,
    pub val: Metrics,
    pub ratios: Vec<f32>,
    /// Every step's training loss (what the diagnosis reads for noise).
    pub steps: Vec<f32>,
    pub seconds: f64,
}

/// What one trial trains: a configuration from a seed for some epochs, with
/// a cosine schedule over `cosine_epochs`.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    pub hyper: Hyper,
    pub seed: u64,
    pub epochs: u32,
    pub cosine_epochs: u32,
}

/// Trains `trial` on `train`, validating on `val` each epoch; `test` (if
/// given) is scored once at the end.
pub fn train_trial(
    task: &Task,
    trial: Trial,
    train: &Icls,
    val: &Icls,
    test: Option<&Icls>,
) -> Result<(Outcome, Option<Metrics>), Error> {
    let Trial {
        hyper,
        seed,
        epochs,
        cosine_epochs,
    } = trial;
    let layers = task.mlp(hyper.keep)?;
    let net = Network::new(&layers);
    let steps_per_epoch = train.count.div_ceil(task.batch) as u32;
    let cfg = config(task, hyper, seed, steps_per_epoch, cosine_epochs)?;
    let mut memory = vec![0f32; net.memory_len(task.batch, 2, false)];
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); epochs as usize];
    let start = Instant::now();
    let mut trainer = Trainer::new(net, cfg, &mut memory)?;
    let mut steps = Vec::new();
    trainer.fit_observed(train, val, epochs, &mut order, &mut history, &mut |event| {
        if let FitEvent::Step { metrics, .. } = event {
            steps.push(metrics.loss);
        }
        ControlFlow::Continue(())
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let val_metrics = history[epochs as usize - 1].val;
    let test_metrics = test.map(|t| trainer.evaluate(t)).transpose()?;
    Ok((
        Outcome {
            hyper,
            seed,
            epochs,
            history,
            val: val_metrics,
            ratios: trainer.update_ratios().to_vec(),
            steps,
            seconds,
        },
        test_metrics,
    ))
}

/// Whether `a` ranks above `b`: higher validation accuracy, ties (frequent
/// on a few hundred samples) broken by the lower validation loss.
pub fn better(a: &Outcome, b: &Outcome) -> bool {
    a.val.accuracy > b.val.accuracy || (a.val.accuracy == b.val.accuracy && a.val.loss < b.val.loss)
}

/// Position of the best outcome.
pub fn best_index(outcomes: &[Outcome]) -> usize {
    (0..outcomes.len())
        .reduce(|a, b| {
            if better(&outcomes[b], &outcomes[a]) {
                b
            } else {
                a
            }
        })
        .unwrap_or(0)
}

/// A search: `trials` points of `sampler` from `seed`, `epochs` each.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub sampler: Sampler,
    pub seed: u64,
    pub trials: usize,
    pub epochs: u32,
}

/// Runs `search` over `space` on every core; trial `i` trains from seed
/// `search.seed * 1000 + i`. `label` prefixes a progress line per trial
/// (none if empty).
pub fn run_search(
    task: &Task,
    space: &Space<3>,
    search: Search,
    (train, val): (&Icls, &Icls),
    label: &str,
) -> Result<Vec<Outcome>, Error> {
    let Search {
        sampler,
        seed: search_seed,
        trials,
        epochs,
    } = search;
    let mut slots: Vec<Option<_>> = (0..trials).map(|_| None).collect();
    run_parallel(
        &mut slots,
        threads(),
        |i| {
            let point = space.point(sampler, search_seed, i as u64)?;
            let trial = Trial {
                hyper: Hyper::of(&point),
                seed: search_seed * 1000 + i as u64,
                epochs,
                cosine_epochs: epochs,
            };
            train_trial(task, trial, train, val, None).map(|r| r.0)
        },
        |i, r| {
            if let (false, Ok(o)) = (label.is_empty(), r) {
                println!(
                    "  {label} trial {i:2}: {} -> validation {:.4} (loss {:.4}, {:.2} s)",
                    o.hyper, o.val.accuracy, o.val.loss, o.seconds
                );
            }
        },
    );
    let results: Vec<_> = slots.into_iter().flatten().collect();
    results.into_iter().collect()
}

/// Worker threads: one per core.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn mean_sd(v: &[f32]) -> (f32, f32) {
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}
