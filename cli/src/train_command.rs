//! `tinyreg train`: one config trained with a progress bar and a line per
//! epoch, checkpointed as it goes (`--resume` ends where an unbroken run
//! would), the final model named and the test set scored once.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::output::{bar, load, out_path, prepare, save_records, save_scaling, say, write, Fail};
use crate::report;
use crate::search::{EpochRecord, TrialId};
use crate::train::{self, Hooks, Options, Trained};

/// What `tinyreg train` was asked for on the command line.
pub struct TrainFlags {
    pub out: Option<PathBuf>,
    pub resume: Option<PathBuf>,
    pub epochs: Option<u32>,
    pub checkpoint_every: u32,
}

/// Trains `config` into its folder.
pub fn run(config: &Path, flags: TrainFlags) -> Result<(), Fail> {
    let TrainFlags {
        out,
        resume,
        epochs,
        checkpoint_every,
    } = flags;
    check_counts(epochs, checkpoint_every)?;
    let (run, mut data) = load(config)?;
    let resume_bytes = read_checkpoint(resume.as_deref())?;
    let sets = data.sets()?;
    train::preflight(&run, &sets)?;
    let dir = out_path(config, out, "train", resume.is_some())?;
    prepare(&dir)?;
    save_scaling(&dir, &sets)?;
    let per_epoch = train::steps_per_epoch(sets.train.count, run.config.train.batch);
    let prior = Prior::read(&dir, resume.is_some(), per_epoch);
    let resumed_from = resume.as_ref().map(|p| p.display().to_string());
    let started = json!({
        "command": "train",
        "config": config.display().to_string(),
        "status": "running",
        "resumed_from": resumed_from,
    });
    write(&dir.join("run.json"), started.to_string())?;
    // The schedule spans the config's epochs; --epochs stops earlier (and a
    // resumed run goes on to the end, bit-identical to an unbroken one).
    let schedule_epochs = run.config.train.epochs.max(epochs.unwrap_or(0));
    let progress = bar(
        epochs.unwrap_or(schedule_epochs) as u64 * per_epoch as u64,
        "steps",
    );
    let id = TrialId {
        index: 0,
        seed: run.config.seed,
    };
    let kept = match resume {
        Some(_) => read_snapshots(&dir, &run.snapshot_epochs(schedule_epochs))?,
        None => Vec::new(),
    };
    let options = Options {
        checkpoint: true,
        score_test: true,
        resume: resume_bytes.as_deref(),
        stop_after: epochs,
        checkpoint_every: Some(checkpoint_every),
        snapshots: &kept,
    };
    let hooks = Hooks::default()
        .on_step(|_, _| progress.inc(1))
        .on_epoch(|r| {
            say(&progress, format!(
                "epoch {:3}: train loss {:.4} acc {:.4} | val loss {:.4} acc {:.4} | lr {:.2e} | update/weight {:.1e}",
                r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.lr, r.update_ratio
            ));
            ControlFlow::Continue(())
        })
        .on_snapshot(|epoch, bytes| {
            let path = dir.join(format!("snapshot-{epoch}.tinyreg"));
            write(&path, bytes).map_err(|Fail(_, m)| m)
        })
        .on_checkpoint(|p| {
            let first = p.records.first().map_or(p.epochs_done + 1, |r| r.epoch);
            let (e, s) = prior.merged(first, p.records, p.steps);
            save_records(&dir, &e, &s, Some(p.checkpoint)).map_err(|Fail(_, m)| m)
        });
    let trained = train::train(&run, &sets, None, (id, schedule_epochs), options, hooks)?;
    progress.finish_and_clear();
    let (all_epochs, all_steps) =
        prior.merged(trained.first_epoch + 1, &trained.epochs, &trained.steps);
    save_records(&dir, &all_epochs, &all_steps, trained.checkpoint.as_deref())?;
    finish(&dir, (config, &run), &trained, resumed_from)
}

/// Names the final model, prints the one test score, writes run.json and
/// the report.
fn finish(
    dir: &Path,
    (config, run): (&Path, &crate::config::Run),
    trained: &Trained,
    resumed_from: Option<String>,
) -> Result<(), Fail> {
    let model = final_model(dir, trained)?;
    let test = trained
        .test
        .map(|m| json!({"loss": m.loss, "accuracy": m.accuracy}));
    if let Some(m) = trained.test {
        println!(
            "test (scored once, after training, {model}): loss {:.4}, accuracy {:.4}",
            m.loss, m.accuracy
        );
    }
    let meta = json!({
        "command": "train",
        "config": config.display().to_string(),
        "status": "done",
        "config_lr": run.config.train.lr,
        "seconds": trained.seconds,
        "layer_ratios": trained.layer_ratios,
        "test": test,
        "final_model": trained.model.as_ref().map(|m| json!({"val": {"loss": m.val.loss, "accuracy": m.val.accuracy}, "what": model})),
        "resumed_from": resumed_from,
    });
    write(&dir.join("run.json"), meta.to_string())?;
    report::write(dir).map_err(|m| Fail(3, m))?;
    println!(
        "trained in {:.2} s; weights {}/weights.tinyreg; pictures {}/index.html",
        trained.seconds,
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// The snapshot files of `epochs` the folder holds (a resumed run's).
fn read_snapshots(dir: &Path, epochs: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, Fail> {
    let mut kept = Vec::new();
    for &epoch in epochs {
        let path = dir.join(format!("snapshot-{epoch}.tinyreg"));
        match std::fs::read(&path) {
            Ok(bytes) => kept.push((epoch, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Fail(3, format!("{}: {e}", path.display()))),
        }
    }
    Ok(kept)
}

/// `--epochs` and `--checkpoint-every` are at least 1.
fn check_counts(epochs: Option<u32>, checkpoint_every: u32) -> Result<(), Fail> {
    if epochs == Some(0) {
        return Err(Fail(2, "--epochs must be at least 1".into()));
    }
    if checkpoint_every == 0 {
        return Err(Fail(2, "--checkpoint-every must be at least 1".into()));
    }
    Ok(())
}

/// The bytes of the checkpoint to resume from, its header checked.
fn read_checkpoint(resume: Option<&Path>) -> Result<Option<Vec<u8>>, Fail> {
    let Some(path) = resume else {
        return Ok(None);
    };
    let bytes = std::fs::read(path).map_err(|e| Fail(3, format!("{}: {e}", path.display())))?;
    tinyreg::trainer::checkpoint::CheckpointHeader::parse(&bytes)
        .map_err(|e| Fail(2, format!("{}: {e}", path.display())))?;
    Ok(Some(bytes))
}

/// The records a resumed run goes on from: the folder's curves and step
/// losses up to its checkpoint (later ones are dropped as they come).
struct Prior {
    epochs: Vec<EpochRecord>,
    steps: Vec<f32>,
    per_epoch: usize,
}

impl Prior {
    fn read(dir: &Path, resumed: bool, per_epoch: usize) -> Prior {
        let (epochs, steps) = if resumed {
            (
                report::read_records::<EpochRecord>(&dir.join("curves.jsonl")),
                report::read_steps(&dir.join("steps.csv")),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Prior {
            epochs,
            steps,
            per_epoch,
        }
    }

    /// Prior records of the epochs before `first` (1-based), and new ones.
    fn merged(
        &self,
        first: u32,
        new: &[EpochRecord],
        steps: &[f32],
    ) -> (Vec<EpochRecord>, Vec<f32>) {
        let mut e: Vec<EpochRecord> = self
            .epochs
            .iter()
            .filter(|r| r.epoch < first)
            .cloned()
            .collect();
        e.extend_from_slice(new);
        let kept = (first as usize).saturating_sub(1) * self.per_epoch;
        let mut s: Vec<f32> = self.steps.iter().copied().take(kept).collect();
        s.extend_from_slice(steps);
        (e, s)
    }
}

/// Names the model the test score is for (the averaged weights, test-time
/// views, or the weights), saves the average and prints its validation.
fn final_model(dir: &Path, trained: &Trained) -> Result<String, Fail> {
    let Some(m) = &trained.model else {
        return Ok("the weights".to_string());
    };
    if let Some(bytes) = &m.average_weights {
        write(&dir.join("weights-average.tinyreg"), bytes)?;
    }
    let mut what = Vec::new();
    if m.average_weights.is_some() {
        what.push("the averaged weights".to_string());
    }
    if m.views > 0 {
        what.push(format!("{} test-time views", m.views));
    }
    if m.snapshots > 0 {
        what.push(format!("the ensemble of {} snapshots", m.snapshots));
    }
    let what = what.join(", ");
    println!(
        "final model ({what}): val loss {:.4}, accuracy {:.4}",
        m.val.loss, m.val.accuracy
    );
    Ok(what)
}
