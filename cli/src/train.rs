//! Training one configuration: the network and settings from the config and
//! a trial's values, with a record per epoch and the step losses.

use std::ops::ControlFlow;

use tinyreg::layers::loss::argmax;
use tinyreg::trainer::predict::Views;
use tinyreg::trainer::snapshot_ensemble::snapshot_ensemble_proba;
use tinyreg::{
    Augmentation, Augmenter, EpochMetrics, FitEvent, Icls, Layer, Metrics, Network, TrainConfig,
    Trainer,
};

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
    /// Epochs the resumed checkpoint had done (0 for a fresh start).
    pub first_epoch: u32,
    /// The final model, when it is not the live weights alone (a weight
    /// average, test-time views) and training ended.
    pub model: Option<FinalModel>,
}

/// The model training ends with: its validation metrics, the averaged
/// weights (a weights-only checkpoint) if averaged, the views predictions
/// average over (0: none).
#[derive(Clone, Debug)]
pub struct FinalModel {
    pub val: Metrics,
    pub average_weights: Option<Vec<u8>>,
    pub views: usize,
    /// Snapshots whose predictions are averaged (0: none).
    pub snapshots: usize,
}

impl Trained {
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }
}

/// Why training failed: a bad setting (exit 2), training itself (exit 4),
/// or a record that could not be written (exit 3).
#[derive(Debug)]
pub enum TrainError {
    Config(String),
    Training(String),
    Io(String),
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

/// The network, settings and augmentation of `values` on `sets`.
pub fn build(
    run: &Run,
    sets: &Sets,
    values: Option<&Values>,
    seed: u64,
    epochs: u32,
) -> Result<(Vec<Layer>, TrainConfig, Option<Augmentation>), TrainError> {
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
    let augmentation = run
        .augmentation(sets.shape(), values)
        .map_err(|m| TrainError::Config(format!("{}: {m}", run.path.display())))?;
    Ok((layers, config, augmentation))
}

/// Builds the config's network and settles that its trainer's memory can
/// be had, before a command writes anything.
pub fn preflight(run: &Run, sets: &Sets) -> Result<(), TrainError> {
    let epochs = run.config.train.epochs;
    let (layers, config, _) = build(run, sets, None, 0, epochs)?;
    let net = Network::new(&layers);
    buffer(0f32, net.memory_len_for(&config), "the trainer's memory")?;
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
    /// Hand a checkpoint (with training state) to `on_checkpoint` every this
    /// many epochs. Training goes on from it exactly as a resumed run does,
    /// so the weights are those of an unbroken run bit for bit.
    pub checkpoint_every: Option<u32>,
    /// With `resume`: the snapshot ensemble's snapshots taken before the
    /// checkpoint (epoch, weights-only checkpoint), as `on_snapshot` had them.
    pub snapshots: &'a [(u32, Vec<u8>)],
}

/// Steps an epoch of `count` samples takes in batches of `batch`: the last
/// batch of a single sample is dropped (`Trainer::fit`).
pub fn steps_per_epoch(count: usize, batch: usize) -> usize {
    let batch = batch.max(1);
    count / batch + usize::from(count % batch >= 2)
}

/// What a periodic checkpoint hands over: the checkpoint, the epochs done in
/// all (those of a resumed checkpoint included), and this run's records and
/// step losses so far.
pub struct Progress<'p> {
    pub checkpoint: &'p [u8],
    pub epochs_done: u32,
    pub records: &'p [EpochRecord],
    pub steps: &'p [f32],
}

type StepHook<'h> = Box<dyn FnMut(u32, f32) + 'h>;
type EpochHook<'h> = Box<dyn FnMut(&EpochRecord) -> ControlFlow<()> + 'h>;
type CheckpointHook<'h> = Box<dyn FnMut(Progress) -> Result<(), String> + 'h>;
type SnapshotHook<'h> = Box<dyn FnMut(u32, &[u8]) -> Result<(), String> + 'h>;

/// What a training tells its caller as it goes: each step's loss, each
/// epoch's record (the caller may stop training there), and the periodic
/// checkpoints (the caller may fail the run, e.g. when it cannot write one).
/// Each does nothing unless set.
pub struct Hooks<'h> {
    on_step: StepHook<'h>,
    on_epoch: EpochHook<'h>,
    on_checkpoint: CheckpointHook<'h>,
    on_snapshot: SnapshotHook<'h>,
}

impl Default for Hooks<'_> {
    fn default() -> Self {
        Hooks {
            on_step: Box::new(|_, _| {}),
            on_epoch: Box::new(|_| ControlFlow::Continue(())),
            on_checkpoint: Box::new(|_| Ok(())),
            on_snapshot: Box::new(|_, _| Ok(())),
        }
    }
}

impl<'h> Hooks<'h> {
    pub fn on_step(self, f: impl FnMut(u32, f32) + 'h) -> Self {
        Hooks {
            on_step: Box::new(f),
            ..self
        }
    }
    pub fn on_epoch(self, f: impl FnMut(&EpochRecord) -> ControlFlow<()> + 'h) -> Self {
        Hooks {
            on_epoch: Box::new(f),
            ..self
        }
    }
    pub fn on_checkpoint(self, f: impl FnMut(Progress) -> Result<(), String> + 'h) -> Self {
        Hooks {
            on_checkpoint: Box::new(f),
            ..self
        }
    }
    /// Each snapshot of a snapshot ensemble as it is taken: its epoch and
    /// the weights (a weights-only checkpoint), to keep for a resume.
    pub fn on_snapshot(self, f: impl FnMut(u32, &[u8]) -> Result<(), String> + 'h) -> Self {
        Hooks {
            on_snapshot: Box::new(f),
            ..self
        }
    }
}

/// A snapshot ensemble's snapshots: the epochs they are taken at and their
/// weights, one `Trainer::weights_len` piece each.
struct Snapshots {
    epochs: Vec<u32>,
    floats: Vec<f32>,
}

impl Snapshots {
    /// Room for the snapshots of `run`'s schedule of `epochs`; the ones a
    /// resumed checkpoint's `first` epochs took, from `kept`.
    fn new(
        run: &Run,
        trainer: &mut Trainer,
        (epochs, first): (u32, u32),
        kept: &[(u32, Vec<u8>)],
    ) -> Result<Snapshots, TrainError> {
        let epochs = run.snapshot_epochs(epochs);
        let len = trainer.weights_len();
        let floats = buffer(0f32, epochs.len() * len, "the snapshots")?;
        let mut snapshots = Snapshots { epochs, floats };
        for (k, &epoch) in snapshots
            .epochs
            .iter()
            .enumerate()
            .filter(|(_, &e)| e <= first)
        {
            let Some((_, bytes)) = kept.iter().find(|(e, _)| *e == epoch) else {
                return Err(TrainError::Config(format!(
                    "--resume: the snapshot of epoch {epoch} is missing (snapshot-{epoch}.tinyreg)"
                )));
            };
            // The trainer loads the file between two swaps: the slot gets
            // the snapshot, the trainer its own weights back.
            let slot = &mut snapshots.floats[k * len..(k + 1) * len];
            let t =
                |e: tinyreg::Error| TrainError::Config(format!("snapshot-{epoch}.tinyreg: {e}"));
            trainer.swap_weights(slot).map_err(t)?;
            let loaded = trainer.load_weights(bytes);
            trainer.swap_weights(slot).map_err(t)?;
            loaded.map_err(t)?;
        }
        Ok(snapshots)
    }

    fn at(&self, epoch: u32) -> bool {
        self.epochs.contains(&epoch)
    }

    /// Takes the snapshot of `epoch` (one of `epochs`) from the live weights
    /// and hands its checkpoint to `hooks`.
    fn take(&mut self, trainer: &Trainer, epoch: u32, hooks: &mut Hooks) -> Result<(), TrainError> {
        let t = |e: tinyreg::Error| TrainError::Training(e.to_string());
        let Some(k) = self.epochs.iter().position(|&e| e == epoch) else {
            return Ok(());
        };
        let len = trainer.weights_len();
        trainer
            .copy_weights(&mut self.floats[k * len..(k + 1) * len])
            .map_err(t)?;
        let mut bytes = vec![0u8; trainer.checkpoint_len(false).map_err(t)?];
        trainer.write_checkpoint(false, &mut bytes).map_err(t)?;
        (hooks.on_snapshot)(epoch, &bytes).map_err(TrainError::Io)
    }
}

/// Trains `values` for `epochs` from `id.seed` (trial `id.index`), telling
/// `hooks` of its steps, epochs and periodic checkpoints.
pub fn train(
    run: &Run,
    sets: &Sets,
    values: Option<&Values>,
    (id, epochs): (TrialId, u32),
    options: Options,
    mut hooks: Hooks,
) -> Result<Trained, TrainError> {
    let (layers, config, augmentation) = build(run, sets, values, id.seed, epochs)?;
    let net = Network::new(&layers);
    let floats = net.memory_len_for(&config);
    let mut memory = buffer(0f32, floats, "the trainer's memory")?;
    let (mut augment_floats, mut augment_labels) = augment_buffers(augmentation, config.batch)?;
    let config_error = |e: tinyreg::Error| TrainError::Config(e.to_string());
    let mut trainer = Trainer::new(net, config, &mut memory).map_err(config_error)?;
    if let Some(a) = augmentation {
        let augmenter = Augmenter::new(a, config.batch, &mut augment_floats, &mut augment_labels)
            .map_err(config_error)?;
        trainer
            .set_augmenter(Some(augmenter))
            .map_err(config_error)?;
    }
    let first_epoch = resume(&mut trainer, options.resume, sets.train.count)?;
    let mut snapshots =
        Snapshots::new(run, &mut trainer, (epochs, first_epoch), options.snapshots)?;
    let until = options.stop_after.unwrap_or(epochs).min(epochs);
    if first_epoch >= until {
        return Err(TrainError::Config(format!(
            "the checkpoint has {first_epoch} of {until} epochs done already: nothing left to train (give a larger --epochs, up to the config's {epochs})"
        )));
    }
    let mut records = Vec::with_capacity(epochs as usize);
    let mut steps = Vec::new();
    let mut checkpoint_bytes = Vec::new();
    let start = std::time::Instant::now();
    let span = Span {
        first: first_epoch,
        until,
        epochs,
        every: options.checkpoint_every,
        trial: id.index,
    };
    let interrupted = fit_paused(
        (&mut trainer, &mut snapshots),
        sets,
        span,
        &mut hooks,
        (&mut records, &mut steps),
        &mut checkpoint_bytes,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let checkpoint = if options.checkpoint {
        write_checkpoint(&trainer, &mut checkpoint_bytes)?;
        Some(checkpoint_bytes)
    } else {
        None
    };
    let ended = !interrupted && first_epoch + records.len() as u32 >= epochs;
    let (model, test) = match snapshots.epochs.is_empty() {
        true => final_model(run, sets, &mut trainer, !interrupted, options.score_test)?,
        false => snapshot_model(
            sets,
            (&mut trainer, &mut snapshots),
            ended,
            options.score_test,
        )?,
    };
    Ok(Trained {
        epochs: records,
        steps,
        layer_ratios: trainer.update_ratios().to_vec(),
        seconds,
        checkpoint,
        test,
        first_epoch,
        model,
    })
}

/// Loads the checkpoint to resume from, if any; the epochs it had done.
fn resume(trainer: &mut Trainer, bytes: Option<&[u8]>, count: usize) -> Result<u32, TrainError> {
    let Some(bytes) = bytes else {
        return Ok(0);
    };
    trainer
        .load_checkpoint(bytes)
        .map_err(|e| TrainError::Config(format!("--resume: {e}")))?;
    let per_epoch = steps_per_epoch(count, trainer.config().batch).max(1) as u32;
    Ok(trainer.steps() / per_epoch)
}

/// The augmenter's buffers for batches of `batch` (none without one).
fn augment_buffers(
    augmentation: Option<Augmentation>,
    batch: usize,
) -> Result<(Vec<f32>, Vec<u32>), TrainError> {
    let what = "the augmentation's memory";
    Ok(match augmentation {
        Some(a) => (
            buffer(0f32, a.floats_len(batch), what)?,
            buffer(0u32, a.labels_len(batch), what)?,
        ),
        None => (Vec::new(), Vec::new()),
    })
}

/// Where a training's epochs run: after `first` (a resumed checkpoint's)
/// up to `until` (--epochs) of a schedule of `epochs`, a checkpoint every
/// `every` epochs, as trial `trial`.
#[derive(Clone, Copy)]
struct Span {
    first: u32,
    until: u32,
    epochs: u32,
    every: Option<u32>,
    trial: u64,
}

/// Trains the epochs of `span` as one `fit`, paused (an observer's break at
/// an epoch's end) for each periodic checkpoint and at `until`: a paused fit
/// goes on in the next call exactly as one call would, early stopping
/// included, and only training's real end restores the best weights. Adds
/// to the epoch records and step losses; true when a hook stopped training.
fn fit_paused(
    (trainer, snapshots): (&mut Trainer, &mut Snapshots),
    sets: &Sets,
    span: Span,
    hooks: &mut Hooks,
    (records, steps): (&mut Vec<EpochRecord>, &mut Vec<f32>),
    checkpoint_bytes: &mut Vec<u8>,
) -> Result<bool, TrainError> {
    let mut order = vec![0u32; sets.train.count];
    let left = (span.epochs - span.first) as usize;
    let mut history = buffer(EpochMetrics::default(), left, "the epochs")?;
    let snapshot_at = snapshots.epochs.clone();
    let pause_at = |epoch: u32| {
        let periodic = span
            .every
            .is_some_and(|n| (epoch - span.first).is_multiple_of(n));
        // A snapshot's epoch pauses even at the end, before anything could
        // change the weights.
        snapshot_at.contains(&epoch) || epoch < span.epochs && (epoch == span.until || periodic)
    };
    let mut done = span.first;
    let mut interrupted = false;
    loop {
        let base = done;
        let summary = trainer
            .fit_observed(
                &sets.train,
                &sets.val,
                span.epochs - base,
                &mut order,
                &mut history,
                &mut |event| match event {
                    FitEvent::Step { step, metrics, .. } => {
                        steps.push(metrics.loss);
                        (hooks.on_step)(step, metrics.loss);
                        ControlFlow::Continue(())
                    }
                    FitEvent::Epoch { epoch, metrics } => {
                        let record = EpochRecord {
                            trial: span.trial,
                            epoch: base + epoch + 1,
                            train_loss: metrics.train.loss,
                            train_accuracy: metrics.train.accuracy,
                            val_loss: metrics.val.loss,
                            val_accuracy: metrics.val.accuracy,
                            lr: metrics.lr,
                            update_ratio: metrics.update_ratio,
                        };
                        interrupted = (hooks.on_epoch)(&record).is_break();
                        records.push(record);
                        if interrupted || pause_at(base + epoch + 1) {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    }
                },
            )
            .map_err(|e| TrainError::Training(e.to_string()))?;
        done = base + summary.epochs as u32;
        if summary.interrupted && !interrupted && snapshots.at(done) {
            snapshots.take(trainer, done, hooks)?;
        }
        if interrupted || !summary.interrupted || done >= span.until {
            return Ok(interrupted);
        }
        write_checkpoint(trainer, checkpoint_bytes)?;
        (hooks.on_checkpoint)(Progress {
            checkpoint: checkpoint_bytes,
            epochs_done: done,
            records,
            steps,
        })
        .map_err(TrainError::Io)?;
    }
}

/// The model training ends with and its one test score (when `ended` and
/// `score_test`). The model is what the config says it is: with a weight
/// average, the average; with test-time views, predictions averaged over
/// them. Its validation metrics and the test score are that model's; the
/// averaged weights are handed back apart (the checkpoint keeps the live
/// ones, to go on training from).
fn final_model(
    run: &Run,
    sets: &Sets,
    trainer: &mut Trainer,
    ended: bool,
    score_test: bool,
) -> Result<(Option<FinalModel>, Option<Metrics>), TrainError> {
    let t = |e: tinyreg::Error| TrainError::Training(e.to_string());
    let views = run
        .test_time_views(sets.shape())
        .map_err(TrainError::Config)?;
    let averaged = trainer.config().average.is_some() && ended && trainer.swap_average().is_ok();
    let views = views.as_ref().map(|(pad, list)| Views {
        shape: sets.shape(),
        pad: *pad,
        list,
    });
    let model = if (averaged || views.is_some()) && ended {
        let val = evaluate(trainer, &sets.val, views).map_err(t)?;
        let average_weights = if averaged {
            let mut bytes = vec![0u8; trainer.checkpoint_len(false).map_err(t)?];
            trainer.write_checkpoint(false, &mut bytes).map_err(t)?;
            Some(bytes)
        } else {
            None
        };
        Some(FinalModel {
            val,
            average_weights,
            views: views.map_or(0, |v| v.list.len()),
            snapshots: 0,
        })
    } else {
        None
    };
    let test = match (&sets.test, score_test && ended) {
        (Some(data), true) => Some(evaluate(trainer, data, views).map_err(t)?),
        _ => None,
    };
    if averaged {
        trainer.swap_average().map_err(t)?;
    }
    Ok((model, test))
}

/// The snapshot ensemble as the final model (when training `ended` with
/// every snapshot taken): its validation metrics, and its one test score
/// when `score_test`.
fn snapshot_model(
    sets: &Sets,
    (trainer, snapshots): (&mut Trainer, &mut Snapshots),
    ended: bool,
    score_test: bool,
) -> Result<(Option<FinalModel>, Option<Metrics>), TrainError> {
    if !ended {
        return Ok((None, None));
    }
    let t = |e: tinyreg::Error| TrainError::Training(e.to_string());
    let val = evaluate_ensemble(trainer, &sets.val, &mut snapshots.floats).map_err(t)?;
    let model = FinalModel {
        val,
        average_weights: None,
        views: 0,
        snapshots: snapshots.epochs.len(),
    };
    let test = match (&sets.test, score_test) {
        (Some(data), true) => {
            Some(evaluate_ensemble(trainer, data, &mut snapshots.floats).map_err(t)?)
        }
        _ => None,
    };
    Ok((Some(model), test))
}

/// Loss and accuracy on `data` of the mean probabilities of `snapshots`.
fn evaluate_ensemble(
    trainer: &mut Trainer,
    data: &Icls,
    snapshots: &mut [f32],
) -> Result<Metrics, tinyreg::Error> {
    let mut tmp = vec![0f32; trainer.config().batch * trainer.network().outputs()];
    score(trainer, data, &mut |trainer, x, rows, probs| {
        let tmp = &mut tmp[..probs.len()];
        snapshot_ensemble_proba(trainer, snapshots, x, rows, probs, tmp)
    })
}

/// Loss and accuracy on `data`, averaged over `views` when given.
fn evaluate(
    trainer: &mut Trainer,
    data: &Icls,
    views: Option<Views>,
) -> Result<Metrics, tinyreg::Error> {
    let Some(views) = views else {
        return trainer.evaluate(data);
    };
    let batch = trainer.config().batch;
    let mut scratch = vec![0f32; batch * data.features()];
    let mut tmp = vec![0f32; batch * trainer.network().outputs()];
    score(trainer, data, &mut |trainer, x, rows, probs| {
        let (scratch, tmp) = (&mut scratch[..x.len()], &mut tmp[..probs.len()]);
        trainer.predict_views(x, rows, views, scratch, tmp, probs)
    })
}

/// Writes the class probabilities of `rows` inputs into the last slice.
type Predict<'p> =
    dyn FnMut(&mut Trainer, &[f32], usize, &mut [f32]) -> Result<(), tinyreg::Error> + 'p;

/// Class probabilities of each batch of `data` (by `predict`: rows, their
/// inputs, the probabilities to write) scored as the mean cross-entropy
/// and the accuracy of their most probable class.
fn score(
    trainer: &mut Trainer,
    data: &Icls,
    predict: &mut Predict,
) -> Result<Metrics, tinyreg::Error> {
    let (batch, classes, features) = (
        trainer.config().batch,
        trainer.network().outputs(),
        data.features(),
    );
    let mut input = vec![0f32; batch * features];
    let mut probs = vec![0f32; batch * classes];
    let mut labels = vec![0u32; batch];
    let (mut loss, mut correct) = (0f64, 0usize);
    let indices: Vec<u32> = (0..data.count as u32).collect();
    for chunk in indices.chunks(batch) {
        let rows = chunk.len();
        let (x, y) = (&mut input[..rows * features], &mut labels[..rows]);
        data.gather(chunk, x, y)?;
        let p = &mut probs[..rows * classes];
        predict(trainer, x, rows, p)?;
        for (row, &label) in p.chunks_exact(classes).zip(y.iter()) {
            loss -= f64::from(row[label as usize].max(f32::MIN_POSITIVE).ln());
            correct += usize::from(argmax(row) == label as usize);
        }
    }
    let n = data.count.max(1);
    Ok(Metrics {
        loss: (loss / n as f64) as f32,
        accuracy: correct as f32 / n as f32,
    })
}

/// The trainer's checkpoint with its training state, into `bytes`.
fn write_checkpoint(trainer: &Trainer, bytes: &mut Vec<u8>) -> Result<(), TrainError> {
    let t = |e: tinyreg::Error| TrainError::Training(e.to_string());
    bytes.resize(trainer.checkpoint_len(true).map_err(t)?, 0);
    trainer.write_checkpoint(true, bytes).map_err(t)
}
