//! `tinyreg search`: everything checked before any work, then every finished
//! trial kept in the folder's journal, so a killed search goes on with
//! `--resume DIR` and ends with the results of an unbroken one.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tinyreg::tune::{run_parallel, SuccessiveHalving, TrialRecord};

use crate::config::{self, Run};
use crate::data::{Data, Sets};
use crate::files::Journal;
use crate::output::{bar, epochs_csv, jsonl, out_path, prepare, save_trained, say, write, Fail};
use crate::search::{self, better, EpochRecord, JournalEntry, TrialId, TrialSummary, JOURNAL};
use crate::train::{self, Hooks, Options};

/// The journal's first line: which search it records.
#[derive(Serialize, Deserialize)]
struct JournalHead {
    journal: String,
    /// The config, as a path that works from any folder.
    config: PathBuf,
    /// FNV-1a of the config's bytes: a resumed search must run the same one.
    config_hash: String,
    trials: u64,
}

/// Finished trials by (trial, epochs of training).
type Finished = HashMap<(u64, u32), JournalEntry>;

fn fnv1a(bytes: &[u8]) -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash = (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The search: `config` (or the journal's, with `resume`) into its folder.
pub fn run(
    config: Option<&Path>,
    out: Option<PathBuf>,
    threads: Option<usize>,
    resume: Option<&Path>,
) -> Result<(), Fail> {
    let place = locate(config, out, resume)?;
    let run = Run::load(&place.config).map_err(|e| Fail(2, e.to_string()))?;
    let spec = run
        .search()
        .ok_or_else(|| {
            let config = place.config.display();
            Fail(2, format!("{config}: the config has no [search]"))
        })?
        .clone();
    let mut data = Data::load(&run)?;
    let sets = data.sets()?;
    train::preflight(&run, &sets)?;
    let plan = validate(&run, &sets)?;
    let dir = &place.dir;
    prepare(dir)?;
    crate::output::save_scaling(dir, &sets)?;
    let (journal, finished) = open_journal(&place, plan.n)?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let started = Instant::now();
    let checks = crate::report::recipe_checks(&run, &sets).map_err(Fail::from)?;
    for line in &checks.lines {
        println!("{line}");
    }
    write(&dir.join("range_test.json"), checks.range_test.to_string())?;
    let meta = Meta {
        run: &run,
        config: &place.config,
        checks: &checks.lines,
        sampler: format!("{:?}", spec.sampler),
        threads,
    };
    // A killed search's folder still reports (from the journal).
    write(&dir.join("run.json"), meta.json("running").to_string())?;
    announce(&meta, &plan, (&finished, dir));
    let trials = Trials {
        run: &run,
        sets: &sets,
        seed: spec.seed,
        finished,
        journal: Mutex::new(journal),
    };
    let trials_started = Instant::now();
    let (summaries, all_epochs) = run_trials(&trials, &plan, threads)?;
    let trials_seconds = trials_started.elapsed().as_secs_f64();
    println!(
        "{} trials in {trials_seconds:.2} s on {threads} thread{} ({:.2} s of training in all)",
        summaries.len(),
        if threads == 1 { "" } else { "s" },
        summaries.iter().map(|s| s.seconds).sum::<f64>()
    );
    let records = (&summaries[..], &all_epochs[..]);
    let timing = (started, trials_seconds);
    finish(&run, &sets, dir, records, meta.json("done"), timing)
}

/// Where a search runs: its config, its folder, and (resuming) the journal's
/// head; the config's hash.
struct Place {
    config: PathBuf,
    dir: PathBuf,
    head: Option<JournalHead>,
    hash: String,
}

/// The config and folder of a new or resumed search, refused when a resumed
/// config changed or a new search would overwrite another's journal.
fn locate(
    config: Option<&Path>,
    out: Option<PathBuf>,
    resume: Option<&Path>,
) -> Result<Place, Fail> {
    let (config, dir, head) = match resume {
        Some(dir) => {
            let head = read_head(dir)?;
            let config = config.map_or(head.config.clone(), Path::to_path_buf);
            (config, dir.to_path_buf(), Some(head))
        }
        None => {
            let config = config.ok_or_else(|| Fail(2, "give the config".into()))?;
            let dir = out_path(config, out, "search", false)?;
            (config.to_path_buf(), dir, None)
        }
    };
    let text = std::fs::read(&config).map_err(|e| Fail(2, format!("{}: {e}", config.display())))?;
    let hash = fnv1a(&text);
    match &head {
        Some(h) if h.config_hash != hash => {
            return Err(Fail(
                2,
                format!(
                    "{} changed since the search in {} started; resume it with the config it began with",
                    config.display(),
                    dir.display()
                ),
            ))
        }
        None if dir.join(JOURNAL).exists() => {
            return Err(Fail(
                2,
                format!(
                    "{} holds a search already ({JOURNAL}): continue it with --resume {}, or give another --out",
                    dir.display(),
                    dir.display()
                ),
            ))
        }
        _ => {}
    }
    Ok(Place {
        config,
        dir,
        head,
        hash,
    })
}

/// The journal a resumed search goes on with, or a new one headed by the
/// config's absolute path and hash.
fn open_journal(place: &Place, n: u64) -> Result<(Journal, Finished), Fail> {
    if place.head.is_some() {
        return resume_journal(&place.dir, n);
    }
    let config = &place.config;
    let head = JournalHead {
        journal: "tinyreg search".into(),
        config: std::fs::canonicalize(config).unwrap_or(config.clone()),
        config_hash: place.hash.clone(),
        trials: n,
    };
    let line = serde_json::to_string(&head).map_err(|e| Fail(3, e.to_string()))?;
    let journal = Journal::create(&place.dir.join(JOURNAL), &line).map_err(|m| Fail(3, m))?;
    Ok((journal, Finished::new()))
}

/// What run.json says of a search, running or done.
struct Meta<'a> {
    run: &'a Run,
    config: &'a Path,
    checks: &'a [String],
    sampler: String,
    threads: usize,
}

impl Meta<'_> {
    fn json(&self, status: &str) -> serde_json::Value {
        let run = self.run;
        let names = search::names(run);
        json!({
            "command": "search",
            "config": self.config.display().to_string(),
            "status": status,
            "checks": self.checks,
            "sampler": self.sampler,
            "params": names,
            "log": names.iter().map(|n| search::is_log(run, n)).collect::<Vec<_>>(),
            "threads": self.threads,
            "config_lr": run.config.train.lr,
            "lr_range": search::bounds(run, "lr"),
        })
    }
}

/// The search's first lines: sampler, trials, threads, and what a resume
/// found.
fn announce(meta: &Meta, plan: &Plan, (finished, dir): (&Finished, &Path)) {
    let threads = meta.threads;
    println!(
        "search: {}, {} trials of up to {} epochs, {threads} thread{}",
        meta.sampler.to_lowercase(),
        plan.n,
        plan.epochs,
        if threads == 1 { "" } else { "s" }
    );
    if !finished.is_empty() {
        println!(
            "resumed: {} finished trial{} from {}",
            finished.len(),
            if finished.len() == 1 { "" } else { "s" },
            dir.join(JOURNAL).display()
        );
    }
}

/// Every trial of the plan on `threads` threads, one line and a tick of the
/// progress bar as each finishes.
fn run_trials(
    trials: &Trials,
    plan: &Plan,
    threads: usize,
) -> Result<(Vec<TrialSummary>, Vec<EpochRecord>), Fail> {
    let progress = bar(plan.n, "trials");
    let show = |s: &TrialSummary| {
        say(
            &progress,
            format!(
                "trial {:3}: {} -> validation {:.4} (loss {:.4}, {} epochs, {:.2} s)",
                s.trial,
                crate::config::short_params(&s.params),
                s.val_accuracy,
                s.val_loss,
                s.epochs,
                s.seconds
            ),
        );
        progress.inc(1);
    };
    let results = match &plan.halving {
        Some(halving) => run_halving(trials, halving, threads, &progress, &show),
        None => {
            let mut slots: Vec<Option<_>> = (0..plan.n as usize).map(|_| None).collect();
            run_parallel(
                &mut slots,
                threads,
                |i| trials.one(i as u64, plan.epochs, None),
                |_, r| {
                    if let Ok((s, _)) = r {
                        show(s);
                    }
                },
            );
            let results: Vec<_> = slots.into_iter().flatten().collect();
            collect(results)
        }
    };
    progress.finish_and_clear();
    results
}

/// What the search will run, settled before any work.
struct Plan {
    n: u64,
    epochs: u32,
    halving: Option<SuccessiveHalving>,
}

/// Every setting of the search, and the network of every trial, checked
/// before anything is written: a refused search leaves no folder behind.
fn validate(run: &Run, sets: &Sets) -> Result<Plan, Fail> {
    let spec = run
        .search()
        .ok_or_else(|| Fail(2, "the config has no [search]".into()))?;
    let n = search::trial_count(run).map_err(|m| Fail(2, m))?;
    let epochs = spec.epochs.unwrap_or(run.config.train.epochs);
    if epochs == 0 {
        return Err(Fail(2, "search.epochs must be at least 1".into()));
    }
    let halving = if spec.sampler == config::SamplerName::Halving {
        let trials = u32::try_from(n).map_err(|_| {
            Fail(
                2,
                format!("search: {n} trials is too many for successive halving"),
            )
        })?;
        Some(
            SuccessiveHalving::new(trials, spec.eta, spec.min_epochs, epochs)
                .map_err(|e| Fail(2, format!("search: {e}")))?,
        )
    } else {
        None
    };
    for i in 0..n {
        let (values, params) = search::values_at(run, i).map_err(|m| Fail(2, m))?;
        let (layers, config, _) =
            train::build(run, sets, Some(&values), 0, epochs).map_err(|e| {
                Fail::from(e).prefixed(&format!(
                    "trial {i} {}",
                    serde_json::Value::Object(params.clone())
                ))
            })?;
        let floats = tinyreg::Network::new(&layers).memory_len_for(&config);
        // Reserved and given back at once (no page is touched): a width
        // no machine can hold is refused now, not when its trial comes.
        let mut probe: Vec<f32> = Vec::new();
        if floats == usize::MAX || probe.try_reserve_exact(floats).is_err() {
            return Err(Fail(
                2,
                format!(
                    "trial {i} {}: the network's memory ({floats} floats) does not fit this machine",
                    serde_json::Value::Object(params)
                ),
            ));
        }
    }
    Ok(Plan { n, epochs, halving })
}

impl Fail {
    fn prefixed(self, what: &str) -> Fail {
        Fail(self.0, format!("{what}: {}", self.1))
    }
}

/// The head of the journal in `dir`, for `--resume`.
fn read_head(dir: &Path) -> Result<JournalHead, Fail> {
    let path = dir.join(JOURNAL);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Fail(
            2,
            format!(
                "--resume: {}: {e} (not a search folder, or it never started)",
                path.display()
            ),
        )
    })?;
    let first = text.lines().next().unwrap_or("");
    serde_json::from_str(first).map_err(|e| {
        Fail(
            2,
            format!(
                "--resume: {}: line 1 is not a journal head: {e}",
                path.display()
            ),
        )
    })
}

/// Opens the journal to go on, with the trials it finished.
fn resume_journal(dir: &Path, n: u64) -> Result<(Journal, Finished), Fail> {
    let path = dir.join(JOURNAL);
    let (journal, read) = Journal::resume(&path).map_err(|m| Fail(3, m))?;
    if read.torn {
        println!("{}: dropped a last line torn by the kill", path.display());
    }
    let mut finished = Finished::new();
    for (i, line) in read.lines.iter().enumerate().skip(1) {
        let entry: JournalEntry = serde_json::from_str(line)
            .map_err(|e| Fail(3, format!("{}:{}: {e}", path.display(), i + 1)))?;
        if entry.summary.trial >= n {
            return Err(Fail(
                3,
                format!(
                    "{}:{}: trial {} is not in this search",
                    path.display(),
                    i + 1,
                    entry.summary.trial
                ),
            ));
        }
        finished.insert((entry.summary.trial, entry.summary.epochs), entry);
    }
    Ok((journal, finished))
}

/// Trains trials, or takes them from the journal when it has them.
struct Trials<'a> {
    run: &'a Run,
    sets: &'a Sets<'a>,
    seed: u64,
    finished: Finished,
    journal: Mutex<Journal>,
}

impl Trials<'_> {
    /// Trial `index` at `budget` epochs, trained from its seed (or as the
    /// journal kept it), then journaled.
    fn one(
        &self,
        index: u64,
        budget: u32,
        rung: Option<u32>,
    ) -> Result<(TrialSummary, Vec<EpochRecord>), Fail> {
        if let Some(e) = self.finished.get(&(index, budget)) {
            return Ok((e.summary.clone(), e.records.clone()));
        }
        let (values, params) = search::values_at(self.run, index).map_err(|m| Fail(2, m))?;
        let id = TrialId::of(self.seed, index);
        let t = train::train(
            self.run,
            self.sets,
            Some(&values),
            (id, budget),
            Options::default(),
            Hooks::default().on_epoch(|_| ControlFlow::Continue(())),
        )?;
        let last = t.last().cloned();
        let summary = TrialSummary {
            trial: index,
            seed: id.seed,
            params,
            epochs: budget,
            val_loss: last.as_ref().map_or(f32::NAN, |r| r.val_loss),
            val_accuracy: last.as_ref().map_or(f32::NAN, |r| r.val_accuracy),
            seconds: t.seconds,
            rung,
        };
        let entry = JournalEntry {
            summary,
            records: t.epochs,
        };
        let line = serde_json::to_string(&entry).map_err(|e| Fail(3, e.to_string()))?;
        self.journal
            .lock()
            .map_err(|_| Fail(3, "the journal's lock was poisoned".into()))?
            .append(&line)
            .map_err(|m| Fail(3, m))?;
        Ok((entry.summary, entry.records))
    }
}

type Outcome = Result<(TrialSummary, Vec<EpochRecord>), Fail>;

fn collect(results: Vec<Outcome>) -> Result<(Vec<TrialSummary>, Vec<EpochRecord>), Fail> {
    let (mut summaries, mut epochs) = (Vec::new(), Vec::new());
    for r in results {
        let (s, e) = r?;
        summaries.push(s);
        epochs.extend(e);
    }
    Ok((summaries, epochs))
}

/// Successive halving: each rung's trials on the workers, scored, the best
/// promoted; the rungs' order and the promotions depend on the scores only.
fn run_halving(
    trials: &Trials,
    halving: &SuccessiveHalving,
    threads: usize,
    progress: &indicatif::ProgressBar,
    show: &(dyn Fn(&TrialSummary) + Sync),
) -> Result<(Vec<TrialSummary>, Vec<EpochRecord>), Fail> {
    let n = halving.trials() as usize;
    let mut records = train::buffer(TrialRecord::EMPTY, n, "the trials")?;
    halving
        .start(&mut records)
        .map_err(|e| Fail(2, e.to_string()))?;
    progress.set_length(
        (0..halving.rungs())
            .map(|r| halving.trials_at(r) as u64)
            .sum(),
    );
    let (mut summaries, mut all_epochs) = (Vec::new(), Vec::new());
    for rung in 0..halving.rungs() {
        let budget = halving.budget(rung);
        let pending: Vec<usize> = halving.pending(rung, &records).collect();
        let mut slots: Vec<Option<_>> = (0..pending.len()).map(|_| None).collect();
        run_parallel(
            &mut slots,
            threads,
            |k| trials.one(records[pending[k]].trial, budget, Some(rung)),
            |_, r| {
                if let Ok((s, _)) = r {
                    show(s);
                }
            },
        );
        let results: Vec<_> = slots.into_iter().flatten().collect();
        let (rung_summaries, rung_epochs) = collect(results)?;
        for (k, s) in rung_summaries.iter().enumerate() {
            let score = if s.val_accuracy.is_nan() {
                f32::NEG_INFINITY
            } else {
                s.val_accuracy
            };
            halving
                .report(&mut records, pending[k], score)
                .map_err(|e| Fail(4, e.to_string()))?;
        }
        summaries.extend(rung_summaries);
        all_epochs.extend(rung_epochs);
        if rung + 1 < halving.rungs() {
            halving
                .promote(rung, &mut records)
                .map_err(|e| Fail(4, e.to_string()))?;
        }
    }
    Ok((summaries, all_epochs))
}

/// The winner (on validation) retrained from its seed and scored once on
/// test; every record and the page written.
fn finish(
    run: &Run,
    sets: &Sets,
    dir: &Path,
    (summaries, all_epochs): (&[TrialSummary], &[EpochRecord]),
    mut meta: serde_json::Value,
    (started, trials_seconds): (Instant, f64),
) -> Result<(), Fail> {
    let spec = run
        .search()
        .ok_or_else(|| Fail(2, "the config has no [search]".into()))?;
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
    let (values, _) = search::values_at(run, winner.trial).map_err(|m| Fail(2, m))?;
    let again = train::train(
        run,
        sets,
        Some(&values),
        (TrialId::of(spec.seed, winner.trial), winner.epochs),
        Options {
            checkpoint: true,
            score_test: true,
            ..Options::default()
        },
        Hooks::default(),
    )?;
    let identical = again.last().map(|r| (r.val_accuracy, r.val_loss))
        == Some((winner.val_accuracy, winner.val_loss));
    println!(
        "winner: trial {} ({}) -> validation {:.4} (loss {:.4}); retrained from its seed: {}",
        winner.trial,
        crate::config::short_params(&winner.params),
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
    save_trained(dir, &again)?;
    write(&dir.join("trials.jsonl"), jsonl(summaries))?;
    write(&dir.join("epochs.jsonl"), jsonl(all_epochs))?;
    write(&dir.join("epochs.csv"), epochs_csv(all_epochs))?;
    write(&dir.join("trials.csv"), trials_csv(run, summaries))?;
    let search_seconds = started.elapsed().as_secs_f64();
    meta["seconds"] = json!(search_seconds);
    meta["trials_seconds"] = json!(trials_seconds);
    meta["winner"] = json!(winner);
    meta["winner_retrained_identical"] = json!(identical);
    meta["layer_ratios"] = json!(again.layer_ratios);
    meta["test"] = json!(again
        .test
        .map(|m| json!({"loss": m.loss, "accuracy": m.accuracy})));
    write(&dir.join("run.json"), meta.to_string())?;
    crate::report::write(dir).map_err(|m| Fail(3, m))?;
    println!(
        "search took {:.1} s; records, weights and pictures in {}/ (open index.html)",
        search_seconds,
        dir.display()
    );
    Ok(())
}

fn trials_csv(run: &Run, summaries: &[TrialSummary]) -> String {
    let names = search::names(run);
    let mut csv = format!(
        "trial,seed,epochs,rung,val_loss,val_accuracy,seconds,{}\n",
        names.join(",")
    );
    for s in summaries {
        let values: Vec<String> = names
            .iter()
            .map(|n| s.params.get(*n).map_or(String::new(), |v| v.to_string()))
            .collect();
        csv += &format!(
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
    csv
}
