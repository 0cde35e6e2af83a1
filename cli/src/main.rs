//! `tinyreg`: the hyperparameter recipe from a config file.
//!
//! Exit statuses (the interface an external engine such as Optuna drives):
//! 0 done; 2 bad usage, config or `--params` (nothing written); 3 data
//! missing or unreadable; 4 training failed (a non-finite loss); 5 standard
//! output closed (the driver went away).

mod config;
mod data;
mod plot;
mod report;
mod search;
mod train;

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use config::Run;
use data::Data;
use search::{better, EpochRecord, TrialId, TrialSummary};
use train::{Options, TrainError, Trained};

#[derive(Parser)]
#[command(
    name = "tinyreg",
    version,
    about = "Check a network, find a learning rate, search hyperparameters and look at the curves, from a TOML config",
    after_help = "Exit statuses: 0 done; 2 bad usage, config or --params (nothing written); \
                  3 data missing or unreadable; 4 training failed (a non-finite loss); \
                  5 standard output closed (the driver went away).\n\
                  Example: tinyreg search configs/digits.toml, then open runs/digits/index.html"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Steps 1-3 of the recipe: the initial loss, overfitting a small sample, the learning-rate range test.
    Check {
        config: PathBuf,
        /// Output folder (default: runs/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Train the config, a progress bar and a line per epoch; test scored once at the end.
    Train {
        config: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Go on from a checkpoint written by `train` (its weights.tinyreg).
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Stop after this many epochs in all (default: the config's). The
        /// schedule spans the config's epochs, so `--resume` goes on exactly.
        #[arg(long)]
        epochs: Option<u32>,
    },
    /// Run the config's search on N threads; the winner (on validation) is retrained and scored once on test.
    Search {
        config: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: one per core); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// One trial: JSON lines on stdout, one per epoch (what an external engine drives).
    Trial {
        config: PathBuf,
        /// The search parameters, a JSON object: {"lr": 0.01, ...}.
        #[arg(long, conflicts_with = "point")]
        params: Option<String>,
        /// Take the values of the search's point N instead.
        #[arg(long)]
        point: Option<u64>,
        /// Trial index: trains from seed search.seed * 1000 + N (as `search` does).
        #[arg(long, default_value_t = 0)]
        trial: u64,
        /// Epochs (default: the search's).
        #[arg(long)]
        epochs: Option<u32>,
    },
    /// The search's points as JSON lines ({"trial": i, "params": {...}}), for an external engine to enqueue.
    Points { config: PathBuf },
    /// Redraw the pictures and index.html of an output folder from its records.
    Report { dir: PathBuf },
    /// Predict the test set (or --data) with saved weights; prints the accuracy, writes one class per line.
    Predict {
        config: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// The values the weights were trained with (a JSON object, as `trial --params`).
        #[arg(long)]
        params: Option<String>,
        /// An ICLS file (default: the config's test set).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to write the predicted classes (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A failure and its exit status.
struct Fail(u8, String);

impl From<TrainError> for Fail {
    fn from(e: TrainError) -> Fail {
        match e {
            TrainError::Config(m) => Fail(2, m),
            TrainError::Training(m) => Fail(4, format!("training failed: {m}")),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config, out } => check(&config, out),
        Command::Train {
            config,
            out,
            resume,
            epochs,
        } => train_command(&config, out, resume, epochs),
        Command::Search {
            config,
            out,
            threads,
        } => search_command(&config, out, threads),
        Command::Trial {
            config,
            params,
            point,
            trial,
            epochs,
        } => trial_command(&config, params, point, trial, epochs),
        Command::Points { config } => points_command(&config),
        Command::Report { dir } => report::write(&dir).map_err(|m| Fail(2, m)),
        Command::Predict {
            config,
            weights,
            params,
            data,
            out,
        } => predict(&config, &weights, params, data, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, message)) => {
            eprintln!("tinyreg: {message}");
            ExitCode::from(code)
        }
    }
}

fn load(config: &Path) -> Result<(Run, Data), Fail> {
    let run = Run::load(config).map_err(|e| Fail(2, e.to_string()))?;
    let data = Data::load(&run).map_err(|m| Fail(3, m))?;
    Ok((run, data))
}

fn out_dir(config: &Path, out: Option<PathBuf>) -> Result<PathBuf, Fail> {
    let dir = out.unwrap_or_else(|| Path::new("runs").join(config.file_stem().unwrap_or_default()));
    std::fs::create_dir_all(&dir).map_err(|e| Fail(3, format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), Fail> {
    std::fs::write(path, bytes).map_err(|e| Fail(3, format!("{}: {e}", path.display())))
}

fn jsonl<T: serde::Serialize>(items: &[T]) -> String {
    items
        .iter()
        .filter_map(|i| serde_json::to_string(i).ok())
        .map(|l| l + "\n")
        .collect()
}

fn epochs_csv(records: &[EpochRecord]) -> String {
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

fn steps_csv(steps: &[f32]) -> String {
    let mut s = String::from("step,loss\n");
    for (i, l) in steps.iter().enumerate() {
        s += &format!("{},{l}\n", i + 1);
    }
    s
}

/// Writes the records of one trained model (its curves, steps and
/// checkpoint) into `dir`.
fn save_trained(dir: &Path, t: &Trained) -> Result<(), Fail> {
    write(&dir.join("curves.jsonl"), jsonl(&t.epochs))?;
    write(&dir.join("curves.csv"), epochs_csv(&t.epochs))?;
    write(&dir.join("steps.csv"), steps_csv(&t.steps))?;
    if let Some(bytes) = &t.checkpoint {
        write(&dir.join("weights.tinyreg"), bytes)?;
    }
    Ok(())
}

fn bar(len: u64, unit: &str) -> ProgressBar {
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
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

fn check(config: &Path, out: Option<PathBuf>) -> Result<(), Fail> {
    let (run, mut data) = load(config)?;
    let sets = data.sets().map_err(|m| Fail(3, m))?;
    train::preflight(&run, &sets)?;
    let dir = out_dir(config, out)?;
    let summary = report::recipe_checks(&run, &sets).map_err(Fail::from)?;
    for line in &summary.lines {
        println!("{line}");
    }
    write(&dir.join("range_test.json"), summary.range_test.to_string())?;
    let meta = json!({
        "command": "check",
        "config": config.display().to_string(),
        "checks": summary.lines,
    });
    write(&dir.join("run.json"), meta.to_string())?;
    report::write(&dir).map_err(|m| Fail(3, m))?;
    println!("pictures and records: {}/index.html", dir.display());
    Ok(())
}

fn train_command(
    config: &Path,
    out: Option<PathBuf>,
    resume: Option<PathBuf>,
    epochs: Option<u32>,
) -> Result<(), Fail> {
    let (run, mut data) = load(config)?;
    let resume_bytes = resume
        .as_ref()
        .map(|p| std::fs::read(p).map_err(|e| Fail(3, format!("{}: {e}", p.display()))))
        .transpose()?;
    let sets = data.sets().map_err(|m| Fail(3, m))?;
    train::preflight(&run, &sets)?;
    let dir = out_dir(config, out)?;
    // The schedule spans the config's epochs; --epochs stops earlier (and a
    // resumed run goes on to the end, bit-identical to an unbroken one).
    let schedule_epochs = run.config.train.epochs.max(epochs.unwrap_or(0));
    let steps_per_epoch = sets.train.count.div_ceil(run.config.train.batch) as u64;
    let progress = bar(
        epochs.unwrap_or(schedule_epochs) as u64 * steps_per_epoch,
        "steps",
    );
    let id = TrialId {
        index: 0,
        seed: run.config.seed,
    };
    let options = Options {
        checkpoint: true,
        score_test: true,
        resume: resume_bytes.as_deref(),
        stop_after: epochs,
    };
    let trained = train::train(
        &run,
        &sets,
        None,
        (id, schedule_epochs),
        options,
        |_, _| progress.inc(1),
        |r| {
            say(&progress, format!(
                "epoch {:3}: train loss {:.4} acc {:.4} | val loss {:.4} acc {:.4} | lr {:.2e} | update/weight {:.1e}",
                r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.lr, r.update_ratio
            ));
            ControlFlow::Continue(())
        },
    )?;
    progress.finish_and_clear();
    save_trained(&dir, &trained)?;
    let test = trained
        .test
        .map(|m| json!({"loss": m.loss, "accuracy": m.accuracy}));
    if let Some(m) = trained.test {
        println!(
            "test (scored once, after training): loss {:.4}, accuracy {:.4}",
            m.loss, m.accuracy
        );
    }
    let meta = json!({
        "command": "train",
        "config": config.display().to_string(),
        "seconds": trained.seconds,
        "layer_ratios": trained.layer_ratios,
        "test": test,
        "resumed_from": resume.map(|p| p.display().to_string()),
    });
    write(&dir.join("run.json"), meta.to_string())?;
    report::write(&dir).map_err(|m| Fail(3, m))?;
    println!(
        "trained in {:.2} s; weights {}/weights.tinyreg; pictures {}/index.html",
        trained.seconds,
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn search_command(config: &Path, out: Option<PathBuf>, threads: Option<usize>) -> Result<(), Fail> {
    let (run, mut data) = load(config)?;
    let spec = run
        .search()
        .ok_or_else(|| {
            Fail(
                2,
                format!("{}: the config has no [search]", config.display()),
            )
        })?
        .clone();
    let sets = data.sets().map_err(|m| Fail(3, m))?;
    train::preflight(&run, &sets)?;
    let dir = out_dir(config, out)?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let started = Instant::now();
    let checks = report::recipe_checks(&run, &sets).map_err(Fail::from)?;
    for line in &checks.lines {
        println!("{line}");
    }
    write(&dir.join("range_test.json"), checks.range_test.to_string())?;

    let n = search::trial_count(&run).map_err(|m| Fail(2, m))?;
    let epochs = spec.epochs.unwrap_or(run.config.train.epochs);
    println!(
        "search: {:?}, {n} trials of up to {epochs} epochs, {threads} threads",
        spec.sampler
    );
    let progress = bar(n, "trials");
    let trials_started = Instant::now();
    let mut all_epochs: Vec<EpochRecord> = Vec::new();
    // One trial at `budget` epochs, trained from its seed.
    let one = |index: u64, budget: u32| -> Result<(TrialSummary, Trained), Fail> {
        let (values, params) = search::values_at(&run, index).map_err(|m| Fail(2, m))?;
        let id = TrialId::of(spec.seed, index);
        let t = train::train(
            &run,
            &sets,
            Some(&values),
            (id, budget),
            Options::default(),
            |_, _| {},
            |_| ControlFlow::Continue(()),
        )?;
        let last = t.last().cloned();
        Ok((
            TrialSummary {
                trial: index,
                seed: id.seed,
                params,
                epochs: budget,
                val_loss: last.as_ref().map_or(f32::NAN, |r| r.val_loss),
                val_accuracy: last.as_ref().map_or(f32::NAN, |r| r.val_accuracy),
                seconds: t.seconds,
                rung: None,
            },
            t,
        ))
    };
    let show = |s: &TrialSummary| {
        say(
            &progress,
            format!(
                "trial {:3}: {} -> validation {:.4} (loss {:.4}, {} epochs, {:.2} s)",
                s.trial,
                serde_json::Value::Object(s.params.clone()),
                s.val_accuracy,
                s.val_loss,
                s.epochs,
                s.seconds
            ),
        );
        progress.inc(1);
    };
    let mut summaries: Vec<TrialSummary> = Vec::new();
    if spec.sampler == config::SamplerName::Halving {
        use tinyreg::tune::{SuccessiveHalving, TrialRecord};
        let halving = SuccessiveHalving::new(n as u32, spec.eta, spec.min_epochs, epochs)
            .map_err(|e| Fail(2, format!("search: {e}")))?;
        let mut records = train::buffer(TrialRecord::EMPTY, n as usize, "the trials")?;
        halving
            .start(&mut records)
            .map_err(|e| Fail(2, e.to_string()))?;
        progress.set_length(
            (0..halving.rungs())
                .map(|r| halving.trials_at(r) as u64)
                .sum(),
        );
        for rung in 0..halving.rungs() {
            let budget = halving.budget(rung);
            let pending: Vec<usize> = (0..records.len())
                .filter(|&i| records[i].rung == rung && !records[i].scored)
                .collect();
            let results = search::run_parallel(
                pending.len(),
                threads,
                |k| one(records[pending[k]].trial, budget),
                |_, r| {
                    if let Ok((s, _)) = r {
                        show(s);
                    }
                },
            );
            for (k, r) in results.into_iter().enumerate() {
                let (mut s, t) = r?;
                let score = if s.val_accuracy.is_nan() {
                    f32::NEG_INFINITY
                } else {
                    s.val_accuracy
                };
                halving
                    .report(&mut records, pending[k], score)
                    .map_err(|e| Fail(4, e.to_string()))?;
                s.rung = Some(rung);
                all_epochs.extend(t.epochs);
                summaries.push(s);
            }
            if rung + 1 < halving.rungs() {
                halving
                    .promote(rung, &mut records)
                    .map_err(|e| Fail(4, e.to_string()))?;
            }
        }
    } else {
        let results = search::run_parallel(
            n as usize,
            threads,
            |i| one(i as u64, epochs),
            |_, r| {
                if let Ok((s, _)) = r {
                    show(s);
                }
            },
        );
        for r in results {
            let (s, t) = r?;
            all_epochs.extend(t.epochs);
            summaries.push(s);
        }
    }
    progress.finish_and_clear();
    let trials_seconds = trials_started.elapsed().as_secs_f64();
    println!(
        "{} trials in {trials_seconds:.2} s on {threads} threads ({:.2} s of training in all)",
        summaries.len(),
        summaries.iter().map(|s| s.seconds).sum::<f64>()
    );
    let search_seconds = started.elapsed().as_secs_f64();
    // The winner: the best of the longest budget, on validation.
    let top = summaries.iter().map(|s| s.epochs).max().unwrap_or(0);
    let winner = summaries
        .iter()
        .filter(|s| s.epochs == top)
        .fold(None::<&TrialSummary>, |best, s| match best {
            Some(b) if !better(s, b) => Some(b),
            _ => Some(s),
        })
        .cloned()
        .ok_or_else(|| Fail(4, "no trial finished".into()))?;
    let (values, _) = search::values_at(&run, winner.trial).map_err(|m| Fail(2, m))?;
    let again = train::train(
        &run,
        &sets,
        Some(&values),
        (TrialId::of(spec.seed, winner.trial), winner.epochs),
        Options {
            checkpoint: true,
            score_test: true,
            resume: None,
            stop_after: None,
        },
        |_, _| {},
        |_| ControlFlow::Continue(()),
    )?;
    let identical = again.last().map(|r| (r.val_accuracy, r.val_loss))
        == Some((winner.val_accuracy, winner.val_loss));
    println!(
        "winner: trial {} {} -> validation {:.4} (loss {:.4}); retrained from its seed: {}",
        winner.trial,
        serde_json::Value::Object(winner.params.clone()),
        winner.val_accuracy,
        winner.val_loss,
        if identical {
            "bit-identical"
        } else {
            "DIFFERS"
        }
    );
    if let Some(m) = again.test {
        println!(
            "test accuracy of the winner, scored once: {:.4} (loss {:.4})",
            m.accuracy, m.loss
        );
    }
    save_trained(&dir, &again)?;
    write(&dir.join("trials.jsonl"), jsonl(&summaries))?;
    write(&dir.join("epochs.jsonl"), jsonl(&all_epochs))?;
    write(&dir.join("epochs.csv"), epochs_csv(&all_epochs))?;
    let mut trials_csv = format!(
        "trial,seed,epochs,rung,val_loss,val_accuracy,seconds,{}\n",
        search::names(&run).join(",")
    );
    for s in &summaries {
        let values: Vec<String> = search::names(&run)
            .iter()
            .map(|n| s.params.get(*n).map_or(String::new(), |v| v.to_string()))
            .collect();
        trials_csv += &format!(
            "{},{},{},{},{},{},{:.4},{}\n",
            s.trial,
            s.seed,
            s.epochs,
            s.rung.map_or(String::new(), |r| r.to_string()),
            s.val_loss,
            s.val_accuracy,
            s.seconds,
            values.join(",")
        );
    }
    write(&dir.join("trials.csv"), trials_csv)?;
    let names = search::names(&run);
    let meta = json!({
        "command": "search",
        "config": config.display().to_string(),
        "checks": checks.lines,
        "sampler": format!("{:?}", spec.sampler),
        "params": names,
        "log": names.iter().map(|n| search::is_log(&run, n)).collect::<Vec<_>>(),
        "threads": threads,
        "seconds": search_seconds,
        "trials_seconds": trials_seconds,
        "winner": winner,
        "winner_retrained_identical": identical,
        "layer_ratios": again.layer_ratios,
        "test": again.test.map(|m| json!({"loss": m.loss, "accuracy": m.accuracy})),
    });
    write(&dir.join("run.json"), meta.to_string())?;
    report::write(&dir).map_err(|m| Fail(3, m))?;
    println!(
        "search took {:.1} s; records, weights and pictures in {}/ (open index.html)",
        search_seconds,
        dir.display()
    );
    Ok(())
}

fn trial_command(
    config: &Path,
    params: Option<String>,
    point: Option<u64>,
    trial: u64,
    epochs: Option<u32>,
) -> Result<(), Fail> {
    let run = Run::load(config).map_err(|e| Fail(2, e.to_string()))?;
    let spec = run.search().ok_or_else(|| {
        Fail(
            2,
            format!("{}: the config has no [search]", config.display()),
        )
    })?;
    let (values, _) = match (params, point) {
        (Some(text), _) => search::values_from_json(&run, &text).map_err(|m| Fail(2, m))?,
        (None, Some(i)) => search::values_at(&run, i).map_err(|m| Fail(2, m))?,
        (None, None) => return Err(Fail(2, "give --params JSON or --point N".into())),
    };
    let epochs = epochs.unwrap_or(spec.epochs.unwrap_or(run.config.train.epochs));
    if epochs == 0 {
        return Err(Fail(2, "--epochs must be at least 1".into()));
    }
    let mut data = Data::load(&run).map_err(|m| Fail(3, m))?;
    let sets = data.sets().map_err(|m| Fail(3, m))?;
    let id = TrialId::of(spec.seed, trial);
    let mut closed = false;
    let stdout = std::io::stdout();
    train::train(
        &run,
        &sets,
        Some(&values),
        (id, epochs),
        Options::default(),
        |_, _| {},
        |r| {
            let mut out = stdout.lock();
            let ok = serde_json::to_writer(&mut out, r).is_ok()
                && writeln!(out).is_ok()
                && out.flush().is_ok();
            if ok {
                ControlFlow::Continue(())
            } else {
                closed = true;
                ControlFlow::Break(())
            }
        },
    )?;
    if closed {
        return Err(Fail(5, "standard output closed; trial abandoned".into()));
    }
    Ok(())
}

fn points_command(config: &Path) -> Result<(), Fail> {
    let run = Run::load(config).map_err(|e| Fail(2, e.to_string()))?;
    let spec = run.search().ok_or_else(|| {
        Fail(
            2,
            format!("{}: the config has no [search]", config.display()),
        )
    })?;
    let n = search::trial_count(&run).map_err(|m| Fail(2, m))?;
    let epochs = spec.epochs.unwrap_or(run.config.train.epochs);
    let mut out = std::io::stdout().lock();
    for i in 0..n {
        let (_, params) = search::values_at(&run, i).map_err(|m| Fail(2, m))?;
        let line = json!({"trial": i, "seed": TrialId::of(spec.seed, i).seed, "epochs": epochs, "params": params});
        if writeln!(out, "{line}").is_err() {
            return Err(Fail(5, "standard output closed".into()));
        }
    }
    Ok(())
}

fn predict(
    config: &Path,
    weights: &Path,
    params: Option<String>,
    data_file: Option<PathBuf>,
    out: Option<PathBuf>,
) -> Result<(), Fail> {
    let (run, mut data) = load(config)?;
    let values = params
        .map(|p| search::values_from_json(&run, &p).map(|v| v.0))
        .transpose()
        .map_err(|m| Fail(2, m))?;
    let bytes =
        std::fs::read(weights).map_err(|e| Fail(3, format!("{}: {e}", weights.display())))?;
    let extra = data_file
        .as_ref()
        .map(|p| std::fs::read(p).map_err(|e| Fail(3, format!("{}: {e}", p.display()))))
        .transpose()?;
    let sets = data.sets().map_err(|m| Fail(3, m))?;
    let target = match &extra {
        Some(b) => tinyreg::Icls::parse(b).map_err(|e| Fail(3, format!("--data: {e}")))?,
        None => sets
            .test
            .ok_or_else(|| Fail(2, "the config has no test set; give --data".into()))?,
    };
    let (layers, config_t) = train::build(&run, &sets, values.as_ref(), 0, 1)?;
    let net = tinyreg::Network::new(&layers);
    let floats = net.memory_len(
        config_t.batch,
        config_t.update.optimizer.state_per_param(),
        false,
    );
    let mut memory = train::buffer(0f32, floats, "the trainer's memory")?;
    let mut trainer =
        tinyreg::Trainer::new(net, config_t, &mut memory).map_err(|e| Fail(2, e.to_string()))?;
    trainer
        .load_weights(&bytes)
        .map_err(|e| Fail(2, format!("{}: {e}", weights.display())))?;
    let (classes, features, batch) = (net.outputs(), target.features(), config_t.batch);
    if features != net.inputs() || target.classes != classes {
        return Err(Fail(
            2,
            format!(
                "the data has {features} features and {} classes, the network takes {} and gives {classes}",
                target.classes,
                net.inputs()
            ),
        ));
    }
    let mut input = vec![0f32; batch * features];
    let mut probs = vec![0f32; batch * classes];
    let mut labels = vec![0u32; batch];
    let mut lines = String::new();
    let mut correct = 0usize;
    for start in (0..target.count).step_by(batch) {
        let rows = batch.min(target.count - start);
        let indices: Vec<u32> = (start..start + rows).map(|i| i as u32).collect();
        target
            .gather(&indices, &mut input[..rows * features], &mut labels[..rows])
            .map_err(|e| Fail(3, e.to_string()))?;
        trainer
            .predict_proba(
                &input[..rows * features],
                rows,
                0,
                &mut probs[..rows * classes],
            )
            .map_err(|e| Fail(4, e.to_string()))?;
        for r in 0..rows {
            let row = &probs[r * classes..(r + 1) * classes];
            let class = (0..classes).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            correct += usize::from(class == labels[r] as usize);
            lines += &format!("{class}\n");
        }
    }
    match out {
        Some(p) => write(&p, lines)?,
        None => print!("{lines}"),
    }
    eprintln!(
        "accuracy {:.4} on {} images ({} correct)",
        correct as f64 / target.count.max(1) as f64,
        target.count,
        correct
    );
    Ok(())
}
