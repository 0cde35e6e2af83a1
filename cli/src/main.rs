//! `tinyreg`: the hyperparameter recipe from a config file.
//!
//! Exit statuses (the interface an external engine such as Optuna drives):
//! 0 done; 2 bad usage, config, `--params` or data (nothing written); 3 a
//! file missing or unreadable, or an output folder that cannot be written;
//! 4 training failed (a non-finite loss); 5 standard output closed (the
//! driver went away).

mod chart;
mod config;
mod data;
mod data_command;
mod data_spec;
mod files;
mod output;
mod plot;
mod plot_search;
mod predict_command;
mod report;
mod search;
mod search_command;
mod train;
mod train_command;

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use config::Run;
use data::Data;
use output::{load, out_path, prepare, write, Fail};
use search::TrialId;
use train::{Hooks, Options};

#[derive(Parser)]
#[command(
    name = "tinyreg",
    version,
    about = "Check a network, find a learning rate, search hyperparameters and look at the curves, from a TOML config",
    after_help = "Exit statuses: 0 done; 2 bad usage, config, --params or data (nothing written); \
                  3 a file missing or unreadable, or an unwritable output folder; 4 training failed (a non-finite loss); \
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
        /// Output folder (default: runs/NAME, NAME the config file's stem).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Train the config, a progress bar and a line per epoch; test scored once at the end.
    Train {
        config: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Go on from a checkpoint written by `train` (its weights.tinyreg),
        /// e.g. after a kill: the result is that of an unbroken run, bit for bit.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// Stop after this many epochs in all (default: the config's). The
        /// schedule spans the config's epochs, so `--resume` goes on exactly.
        #[arg(long)]
        epochs: Option<u32>,
        /// Write weights.tinyreg (with the training state) and the curves
        /// every N epochs, so a killed run loses at most N epochs.
        #[arg(long, default_value_t = 1)]
        checkpoint_every: u32,
    },
    /// Run the config's search on N threads; the winner (on validation) is retrained and scored once on test.
    /// Every finished trial is kept in the folder's journal.jsonl: `--resume DIR` goes on after a kill.
    Search {
        /// The config (with --resume: optional, the journal names it).
        #[arg(required_unless_present = "resume")]
        config: Option<PathBuf>,
        #[arg(long, conflicts_with = "resume")]
        out: Option<PathBuf>,
        /// Worker threads (default: one per core); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Continue the killed search in DIR from its journal: the trials it
        /// finished are not run again, and the results equal an unbroken search's.
        #[arg(long, value_name = "DIR")]
        resume: Option<PathBuf>,
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
    /// What a data file (CSV, .npy with --labels, .npz, ICLS, a folder of
    /// class folders) or a config's [data] holds: samples, shape, classes
    /// and their counts, value range, NaN and infinite values, the splits.
    Data {
        path: PathBuf,
        /// The labels' .npy file, for a features .npy.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// A data file (or a config's [data]) as ICLS files, train.bin and
    /// test.bin in --out, as read (no split, no scaling), for the crate's
    /// examples and firmware.
    Convert {
        path: PathBuf,
        #[arg(long)]
        labels: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Redraw the pictures and index.html of an output folder from its
    /// records; with a second folder, also DIR/compare.html: the two runs'
    /// pictures side by side.
    Report {
        dir: PathBuf,
        /// Another output folder to compare with.
        other: Option<PathBuf>,
    },
    /// Predict the test set (or --data) with saved weights; prints the accuracy, writes one class per line.
    Predict {
        config: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        /// The values the weights were trained with (a JSON object, as `trial --params`).
        #[arg(long)]
        params: Option<String>,
        /// A data file (or image folder) in the config's data format, read
        /// with its options and scaled as the weights were trained (default:
        /// the config's test set).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The labels' .npy file of --data, for the npy format.
        #[arg(long, requires = "data")]
        data_labels: Option<PathBuf>,
        /// Where to write the predicted classes (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
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
            checkpoint_every,
        } => {
            let flags = train_command::TrainFlags {
                out,
                resume,
                epochs,
                checkpoint_every,
            };
            train_command::run(&config, flags)
        }
        Command::Search {
            config,
            out,
            threads,
            resume,
        } => search_command::run(config.as_deref(), out, threads, resume.as_deref()),
        Command::Trial {
            config,
            params,
            point,
            trial,
            epochs,
        } => trial_command(&config, params, point, trial, epochs),
        Command::Points { config } => points_command(&config),
        Command::Data { path, labels } => data_command::data_command(&path, labels.as_deref()),
        Command::Convert { path, labels, out } => {
            data_command::convert_command(&path, labels.as_deref(), &out)
        }
        Command::Report { dir, other } => report::write(&dir)
            .and_then(|()| match &other {
                Some(o) => report::write(o).and_then(|()| report::compare(&dir, o)),
                None => Ok(()),
            })
            .map_err(|m| Fail(2, m)),
        Command::Predict {
            config,
            weights,
            params,
            data,
            data_labels,
            out,
        } => predict_command::run(&config, &weights, params, (data, data_labels), out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, message)) => {
            eprintln!("tinyreg: {message}");
            ExitCode::from(code)
        }
    }
}

fn check(config: &Path, out: Option<PathBuf>) -> Result<(), Fail> {
    let (run, mut data) = load(config)?;
    let sets = data.sets()?;
    train::preflight(&run, &sets)?;
    let dir = out_path(config, out, "check", false)?;
    prepare(&dir)?;
    let summary = report::recipe_checks(&run, &sets).map_err(Fail::from)?;
    for line in &summary.lines {
        println!("{line}");
    }
    write(&dir.join("range_test.json"), summary.range_test.to_string())?;
    let meta = json!({
        "command": "check",
        "config": config.display().to_string(),
        "config_lr": run.config.train.lr,
        "checks": summary.lines,
    });
    write(&dir.join("run.json"), meta.to_string())?;
    report::write(&dir).map_err(|m| Fail(3, m))?;
    println!("pictures and records: {}/index.html", dir.display());
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
    let mut data = Data::load(&run)?;
    let sets = data.sets()?;
    let id = TrialId::of(spec.seed, trial);
    let mut closed = false;
    let stdout = std::io::stdout();
    train::train(
        &run,
        &sets,
        Some(&values),
        (id, epochs),
        Options::default(),
        Hooks::default().on_epoch(|r| {
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
        }),
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
