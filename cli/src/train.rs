//! Training one configuration: the network and settings from the config and
//! a trial's values, with a record per epoch and the step losses.

use std::ops::ControlFlow;

use tinyreg::{EpochMetrics, FitEvent, Layer, Metrics, Network, TrainConfig, Trainer};

use crate::config::{Run, Values};
use crate::data::Sets;
use crate::search::{EpochRecord, TrialId};

/// What training one configuration gave.
#[derive(Clone, Debug)]
pub struct Trained {
    pub epochs: Vec<EpochRecord>,
    pub steps: Vec<f32>,
    pub layer_ratios: Vec<f32>,
    pub seconds: f64,
    /// The checkpoint (with training state) if asked for.
    pub checkpoint: Option<Vec<u8>>,
    pub test: Option<Metrics>,
}

impl Trained {
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }
}

/// Why training failed: a bad setting (exit 2) or training itself (exit 4).
#[derive(Debug)]
pub enum TrainError {
    Config(String),
    Training(String),
}

/// `n` copies of `fill`, or an error (not an abort) when the machine cannot
/// hold them: sizes come from the config.
pub fn buffer<T: Clone>(fill: T, n: usize, what: &str) -> Result<Vec<T>, TrainError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        TrainError::Config(format!(
            "{what}: {n} elements do not fit in this machine's memory"
        ))
    })?;
    v.resize(n, fill);
    Ok(v)
}

/// The network and settings of `values` on `sets`.
pub fn build(
    run: &Run,
    sets: &Sets,
    values: Option<&Values>,
    seed: u64,
    epochs: u32,
) -> Result<(Vec<Layer>, TrainConfig), TrainError> {
    let layers = run
        .layers(sets.shape(), sets.train.classes, values)
        .map_err(|(line, m)| {
            TrainError::Config(match line {
                Some(l) => format!("{}:{l}: {m}", run.path.display()),
                None => format!("{}: {m}", run.path.display()),
            })
        })?;
    let batch = run.config.train.batch;
    let steps = sets.train.count.div_ceil(batch) as u32;
    let config = run
        .train_config(values, seed, steps, epochs)
        .map_err(TrainError::Config)?;
    Ok((layers, config))
}

/// Builds the config's network and settles that its trainer's memory can
/// be had, before a command writes anything.
pub fn preflight(run: &Run, sets: &Sets) -> Result<(), TrainError> {
    let epochs = run.config.train.epochs;
    let (layers, config) = build(run, sets, None, 0, epochs)?;
    let net = Network::new(&layers);
    let state = config.update.optimizer.state_per_param();
    buffer(
        0f32,
        net.memory_len(config.batch, state, false),
        "the trainer's memory",
    )?;
    buffer(EpochMetrics::default(), epochs as usize, "the epochs")?;
    Ok(())
}

/// Options of one training.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// Keep a checkpoint at the end.
    pub checkpoint: bool,
    /// Score the test set once at the end.
    pub score_test: bool,
    /// Start from this checkpoint (training state included).
    pub resume: Option<&'a [u8]>,
    /// Stop once this many epochs (counting those of the checkpoint) are
    /// done; the schedule still spans all of them, so a run stopped here and
    /// resumed is bit-identical to one never stopped.
    pub stop_after: Option<u32>,
}

/// Trains `values` for `epochs` from `id.seed` (trial `id.index`); `on_epoch` sees each
/// epoch's record and may stop training; `on_step` sees each step.
pub fn train(
    run: &Run,
    sets: &Sets,
    values: Option<&Values>,
    (id, epochs): (TrialId, u32),
    options: Options,
    mut on_step: impl FnMut(u32, f32),
    mut on_epoch: impl FnMut(&EpochRecord) -> ControlFlow<()>,
) -> Result<Trained, TrainError> {
    let (layers, config) = build(run, sets, values, id.seed, epochs)?;
    let net = Network::new(&layers);
    let floats = net.memory_len(
        config.batch,
        config.update.optimizer.state_per_param(),
        false,
    );
    let mut memory = buffer(0f32, floats, "the trainer's memory")?;
    let mut trainer =
        Trainer::new(net, config, &mut memory).map_err(|e| TrainError::Config(e.to_string()))?;
    let first_epoch = match options.resume {
        Some(bytes) => {
            trainer
                .load_checkpoint(bytes)
                .map_err(|e| TrainError::Config(format!("--resume: {e}")))?;
            trainer.steps() / sets.train.count.div_ceil(config.batch).max(1) as u32
        }
        None => 0,
    };
    let until = options.stop_after.unwrap_or(epochs).min(epochs);
    if first_epoch >= until {
        return Err(TrainError::Config(format!(
            "the checkpoint has {first_epoch} epochs already; nothing to do up to {until}"
        )));
    }
    let to_run = until - first_epoch;
    let mut order = vec![0u32; sets.train.count];
    let mut history = buffer(EpochMetrics::default(), to_run as usize, "the epochs")?;
    let mut records = Vec::with_capacity(epochs as usize);
    let mut steps = Vec::new();
    let start = std::time::Instant::now();
    let summary = trainer
        .fit_observed(
            &sets.train,
            &sets.val,
            to_run,
            &mut order,
            &mut history,
            &mut |event| match event {
                FitEvent::Step { step, metrics, .. } => {
                    steps.push(metrics.loss);
                    on_step(step, metrics.loss);
                    ControlFlow::Continue(())
                }
                FitEvent::Epoch { epoch, metrics } => {
                    let record = EpochRecord {
                        trial: id.index,
                        epoch: first_epoch + epoch + 1,
                        train_loss: metrics.train.loss,
                        train_accuracy: metrics.train.accuracy,
                        val_loss: metrics.val.loss,
                        val_accuracy: metrics.val.accuracy,
                        lr: metrics.lr,
                        update_ratio: metrics.update_ratio,
                    };
                    let flow = on_epoch(&record);
                    records.push(record);
                    flow
                }
            },
        )
        .map_err(|e| TrainError::Training(e.to_string()))?;
    let seconds = start.elapsed().as_secs_f64();
    let checkpoint = if options.checkpoint {
        let len = trainer
            .checkpoint_len(true)
            .map_err(|e| TrainError::Training(e.to_string()))?;
        let mut bytes = vec![0u8; len];
        trainer
            .write_checkpoint(true, &mut bytes)
            .map_err(|e| TrainError::Training(e.to_string()))?;
        Some(bytes)
    } else {
        None
    };
    let test = match (&sets.test, options.score_test && !summary.interrupted) {
        (Some(t), true) => Some(
            trainer
                .evaluate(t)
                .map_err(|e| TrainError::Training(e.to_string()))?,
        ),
        _ => None,
    };
    Ok(Trained {
        epochs: records,
        steps,
        layer_ratios: trainer.update_ratios().to_vec(),
        seconds,
        checkpoint,
        test,
    })
}
