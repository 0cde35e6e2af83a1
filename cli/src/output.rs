//! The output folder and what every command shares: the failure type and
//! its exit status, the folder's path and files (written atomically), the
//! records' formats, the progress bar.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Run;
use crate::data::{self, Data};
use crate::files;
use crate::search::EpochRecord;
use crate::train::{TrainError, Trained};

/// A failure and its exit status.
pub struct Fail(pub u8, pub String);

impl From<data::DataError> for Fail {
    fn from(e: data::DataError) -> Fail {
        Fail(e.status(), e.message().to_string())
    }
}

impl From<TrainError> for Fail {
    fn from(e: TrainError) -> Fail {
        match e {
            TrainError::Config(m) => Fail(2, m),
            TrainError::Training(m) => Fail(4, format!("training failed: {m}")),
            TrainError::Io(m) => Fail(3, m),
        }
    }
}

pub fn load(config: &Path) -> Result<(Run, Data), Fail> {
    let run = Run::load(config).map_err(|e| Fail(2, e.to_string()))?;
    let data = Data::load(&run)?;
    Ok((run, data))
}

/// The output folder of `command` on `config`: `--out`, or `runs/<config
/// name>` (then `-2`, `-3`, ... when that holds another run). Not made yet.
/// A folder that holds another run's records is never written over: an
/// explicit `--out` there is refused, unless it is this command's own run
/// being resumed, or restarted after a kill (its run.json says running).
pub fn out_path(
    config: &Path,
    out: Option<PathBuf>,
    command: &str,
    resume: bool,
) -> Result<PathBuf, Fail> {
    if let Some(dir) = out {
        return match other_run(&dir, config, command, resume) {
            None => Ok(dir),
            Some(held) => Err(Fail(
                2,
                format!(
                    "{} holds {held} already: give another --out{}, or delete the folder",
                    dir.display(),
                    if command == "check" {
                        ""
                    } else {
                        " (or --resume to go on with it)"
                    }
                ),
            )),
        };
    }
    let base = Path::new("runs").join(config.file_stem().unwrap_or_default());
    for k in 1..10_000 {
        let dir = if k == 1 {
            base.clone()
        } else {
            PathBuf::from(format!("{}-{k}", base.display()))
        };
        match other_run(&dir, config, command, resume) {
            None => {
                if k > 1 {
                    println!(
                        "{} holds an earlier run; this one goes to {}",
                        base.display(),
                        dir.display()
                    );
                }
                return Ok(dir);
            }
            Some(_) => continue,
        }
    }
    Err(Fail(
        2,
        format!("{}-2 to -9999 are all taken: give --out", base.display()),
    ))
}

/// What run `dir` holds that this one must not write over, in words.
pub fn other_run(dir: &Path, config: &Path, command: &str, resume: bool) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let (held, status) = (meta["command"].as_str()?, meta["status"].as_str());
    let same_config = meta["config"].as_str() == Some(&config.display().to_string());
    if held == command && (resume || (status == Some("running") && same_config)) {
        return None;
    }
    Some(format!(
        "a {held} run of {} ({})",
        meta["config"].as_str().unwrap_or("another config"),
        status.unwrap_or("finished")
    ))
}

/// Makes the output folder once everything else is checked, and proves it
/// writable before any work (a read-only folder fails now, not after
/// training).
pub fn prepare(dir: &Path) -> Result<(), Fail> {
    files::prepare_dir(dir).map_err(|m| Fail(3, m))
}

/// The scaling a run fitted on its training split, beside its weights.
pub const SCALING: &str = "scaling.json";

/// Keeps the sets' scaling in `dir`, for `predict` to apply the same.
pub fn save_scaling(dir: &Path, sets: &data::Sets) -> Result<(), Fail> {
    match &sets.scaling {
        Some(s) => write(
            &dir.join(SCALING),
            serde_json::to_string(s).map_err(|e| Fail(3, e.to_string()))?,
        ),
        None => Ok(()),
    }
}

/// Writes a record atomically (temporary file, sync, rename).
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), Fail> {
    files::write_atomic(path, bytes.as_ref()).map_err(|m| Fail(3, m))
}

pub fn jsonl<T: serde::Serialize>(items: &[T]) -> String {
    items
        .iter()
        .filter_map(|i| serde_json::to_string(i).ok())
        .map(|l| l + "\n")
        .collect()
}

pub fn epochs_csv(records: &[EpochRecord]) -> String {
    let mut s = String::from(
        "trial,epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,update_ratio\n",
    );
    for r in records {
        s += &format!(
            "{},{},{},{},{},{},{},{}\n",
            r.trial,
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.val_loss,
            r.val_accuracy,
            r.lr,
            r.update_ratio
        );
    }
    s
}

pub fn steps_csv(steps: &[f32]) -> String {
    let mut s = String::from("step,loss\n");
    for (i, l) in steps.iter().enumerate() {
        s += &format!("{},{l}\n", i + 1);
    }
    s
}

/// Writes the records of one trained model (its curves, steps and
/// checkpoint) into `dir`: the curves first, then the checkpoint, each
/// atomically, so a kill between them leaves curves one checkpoint ahead at
/// most (a resumed run drops the epochs past its checkpoint).
pub fn save_records(
    dir: &Path,
    epochs: &[EpochRecord],
    steps: &[f32],
    checkpoint: Option<&[u8]>,
) -> Result<(), Fail> {
    write(&dir.join("curves.jsonl"), jsonl(epochs))?;
    write(&dir.join("curves.csv"), epochs_csv(epochs))?;
    write(&dir.join("steps.csv"), steps_csv(steps))?;
    if let Some(bytes) = checkpoint {
        write(&dir.join("weights.tinyreg"), bytes)?;
    }
    Ok(())
}

pub fn save_trained(dir: &Path, t: &Trained) -> Result<(), Fail> {
    save_records(dir, &t.epochs, &t.steps, t.checkpoint.as_deref())
}

pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template =
        format!("{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} (eta {{eta}}) {{msg}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// A line above the bar, or on stdout when there is no bar (not a terminal).
pub fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}
