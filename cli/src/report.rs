//! Steps 1-3 of the recipe as `check` and `search` run them, and the output
//! folder's pictures and `index.html`, drawn from its records alone (so
//! `report` redraws them).

use std::path::Path;

use serde_json::{json, Value};
use tinyreg::tune::{
    check_initial_loss, diagnose, lr_range_test, max_findings, overfit_small_sample,
    unregularized_config, unregularized_layers, RangePoint, RangeTestConfig, Thresholds,
    INITIAL_LOSS_TOLERANCE,
};
use tinyreg::{EpochMetrics, LearningRate, Metrics, Network, Trainer};

use crate::config::Run;
use crate::data::Sets;
use crate::plot;
use crate::plot_search;
use crate::search::EpochRecord;
use crate::search::TrialSummary;
use crate::train::{build, TrainError};

/// What steps 1-3 found.
pub struct Checks {
    pub lines: Vec<String>,
    pub range_test: Value,
}

/// Step 1 (the initial loss against `ln C`), step 2 (overfit five batches
/// with the regularizers off) and step 3 (fastai's range test), on the
/// config's network and settings.
pub fn recipe_checks(run: &Run, sets: &Sets) -> Result<Checks, TrainError> {
    let t = |e: tinyreg::Error| TrainError::Training(e.to_string());
    let (layers, config, _) = build(run, sets, None, run.config.seed, run.config.train.epochs)?;
    let net = Network::new(&layers);
    let floats = net.memory_len_for(&config);
    let mut memory = crate::train::buffer(0f32, floats, "the trainer's memory")?;
    let mut lines = Vec::new();

    let mut trainer = Trainer::new(net, config, &mut memory).map_err(t)?;
    let r = check_initial_loss(&mut trainer, &sets.train, INITIAL_LOSS_TOLERANCE).map_err(t)?;
    lines.push(format!(
        "step 1, initial loss: {:.3} against ln {} = {:.3} (tolerance {:.0}%): {}",
        r.loss,
        sets.train.classes,
        r.expected,
        r.tolerance * 100.0,
        r.verdict
    ));

    let mut plain = layers.clone();
    unregularized_layers(&layers, &mut plain).map_err(t)?;
    // A constant rate: the config's schedule may have decayed long before
    // the small sample is fit (a short cosine is at its floor).
    let mut plain_config = unregularized_config(config);
    plain_config.lr = LearningRate::constant(config.lr.base);
    let mut trainer = Trainer::new(Network::new(&plain), plain_config, &mut memory).map_err(t)?;
    let mut order = vec![0u32; sets.train.count];
    let sample = (5 * config.batch).min(sets.train.count);
    let r = overfit_small_sample(&mut trainer, &sets.train, sample, 2000, &mut order).map_err(t)?;
    lines.push(format!(
        "step 2, overfit {sample} images (regularizers off, constant rate): {} (loss {:.3} -> {:.4}, accuracy {:.3})",
        r.verdict, r.first_loss, r.last_loss, r.accuracy
    ));

    let mut trainer = Trainer::new(net, config, &mut memory).map_err(t)?;
    let mut points = [RangePoint::default(); 100];
    let range = RangeTestConfig::FASTAI;
    let r = lr_range_test(
        &mut trainer,
        &sets.train,
        &range,
        &mut order,
        &mut points,
        &mut [],
    )
    .map_err(t)?;
    let s = r.suggestions;
    lines.push(format!(
        "step 3, range test {:.0e} to {} over {} steps: {} points{}, minimum {:.3} at {:.2e}; suggestions: valley {:.2e}, steep {:.2e}, minimum/10 {:.2e}",
        range.start,
        range.end,
        range.steps,
        r.points,
        if r.stopped_early { " (stopped at 4x the minimum)" } else { "" },
        r.min_loss,
        r.min_lr,
        s.valley,
        s.steep,
        s.min_tenth
    ));
    let range_test = json!({
        "points": points[..r.points].iter().map(|p| [p.lr, p.loss, p.smoothed]).collect::<Vec<_>>(),
        "valley": s.valley,
        "steep": s.steep,
        "min_tenth": s.min_tenth,
    });
    Ok(Checks { lines, range_test })
}

fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The records of a JSON-lines file for a run to go on from: every line
/// that parses (a missing file is none).
pub fn read_records<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The trial summaries a search's journal holds (a search still running or
/// killed has no trials.jsonl yet): every whole line after the head; a
/// last line torn by a kill is left out.
fn journal_trials(path: &Path) -> Result<Vec<TrialSummary>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let whole = text.rfind('\n').map_or("", |i| &text[..i]);
    whole
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<crate::search::JournalEntry>(l)
                .map(|e| e.summary)
                .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The epoch records a search's journal holds (every whole line after the
/// head).
fn journal_records(path: &Path) -> Vec<EpochRecord> {
    read_records::<crate::search::JournalEntry>(path)
        .into_iter()
        .flat_map(|e| e.records)
        .collect()
}

pub fn read_steps(path: &Path) -> Vec<f32> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| l.split(',').nth(1)?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the report page shows: its pictures (file, caption) and its notes.
#[derive(Default)]
struct Page {
    figures: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Page {
    fn figure(&mut self, file: impl Into<String>, caption: impl Into<String>) {
        self.figures.push((file.into(), caption.into()));
    }
}

/// Draws every picture the records of `dir` allow and writes `index.html`.
pub fn write(dir: &Path) -> Result<(), String> {
    let meta: Value = std::fs::read_to_string(dir.join("run.json"))
        .map_err(|e| {
            format!(
                "{}: {e} (not an output folder of tinyreg?)",
                dir.join("run.json").display()
            )
        })
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("run.json: {e}")))?;
    let mut page = Page::default();
    if let Some(lines) = meta["checks"].as_array() {
        let lines = lines.iter().filter_map(|l| l.as_str()).map(String::from);
        page.notes.extend(lines);
    }
    add_curves(dir, &meta, &mut page)?;
    add_range_test(dir, &meta, &mut page)?;
    let trials = search_trials(dir, &mut page)?;
    let axes = SearchAxes::of(&meta);
    if !trials.is_empty() && !axes.names.is_empty() {
        add_search(dir, &meta, (&axes, &trials), &mut page)?;
    }
    let html = page_html(&meta, &page, &trials);
    crate::files::write_atomic(&dir.join("index.html"), html.as_bytes())
}

/// The trained model's curves and their reading.
fn add_curves(dir: &Path, meta: &Value, page: &mut Page) -> Result<(), String> {
    let curves: Vec<EpochRecord> = read_jsonl(&dir.join("curves.jsonl"))?;
    let steps = read_steps(&dir.join("steps.csv"));
    if curves.is_empty() {
        return Ok(());
    }
    plot::loss_curves(&dir.join("loss.svg"), &curves, &steps)?;
    plot::accuracy_curves(&dir.join("accuracy.svg"), &curves)?;
    page.figure(
        "loss.svg",
        "Loss: train and validation per epoch, every step's loss and its moving average",
    );
    page.figure("accuracy.svg", "Accuracy: train and validation per epoch");
    let history: Vec<EpochMetrics> = curves
        .iter()
        .map(|r| EpochMetrics {
            train: Metrics {
                loss: r.train_loss,
                accuracy: r.train_accuracy,
            },
            val: Metrics {
                loss: r.val_loss,
                accuracy: r.val_accuracy,
            },
            lr: r.lr,
            update_ratio: r.update_ratio,
        })
        .collect();
    let ratios: Vec<f32> = meta["layer_ratios"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_f64())
                .map(|v| v as f32)
                .collect()
        })
        .unwrap_or_default();
    let mut findings =
        vec![tinyreg::tune::Finding::NoisyLoss { noise: 0.0 }; max_findings(ratios.len())];
    let thresholds = &Thresholds::DEFAULT;
    match diagnose(&history, &steps, &ratios, thresholds, &mut findings) {
        Ok(0) => page
            .notes
            .push("diagnosis of the curves: nothing to report".into()),
        Ok(n) => {
            for f in &findings[..n] {
                page.notes.push(format!("diagnosis: {f}"));
            }
        }
        Err(e) => page.notes.push(format!("diagnosis failed: {e}")),
    }
    Ok(())
}

/// The range test, with its suggestions and the rates the run used.
fn add_range_test(dir: &Path, meta: &Value, page: &mut Page) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(dir.join("range_test.json")) else {
        return Ok(());
    };
    let r: Value = serde_json::from_str(&text).map_err(|e| format!("range_test.json: {e}"))?;
    let points: Vec<(f32, f32, f32)> = r["points"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let f = |i: usize| p.get(i)?.as_f64().map(|v| v as f32);
                    Some((f(0)?, f(1).unwrap_or(f32::NAN), f(2).unwrap_or(f32::NAN)))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut marks = Vec::new();
    for (key, words) in [
        ("valley", "suggested: valley (fastai's default)"),
        ("steep", "suggested: steepest fall"),
        ("min_tenth", "suggested: minimum / 10"),
    ] {
        if let Some(v) = r[key].as_f64() {
            marks.push((words, v as f32));
        }
    }
    if let Some(lr) = meta["config_lr"].as_f64() {
        marks.push(("the config's rate", lr as f32));
    }
    if let Some(lr) = meta["winner"]["params"]["lr"].as_f64() {
        marks.push(("the search's winner", lr as f32));
    }
    let searched = meta["lr_range"]
        .as_array()
        .and_then(|a| Some((a.first()?.as_f64()? as f32, a.get(1)?.as_f64()? as f32)));
    if !points.is_empty() {
        plot::range_test(&dir.join("range_test.svg"), &points, &marks, searched)?;
        page.figure(
            "range_test.svg",
            "Learning-rate range test (fastai's sweep) with its suggestions",
        );
    }
    Ok(())
}

/// The search's trials: its trials.jsonl, or while it runs (or after a kill)
/// the trials its journal holds (then says so).
fn search_trials(dir: &Path, page: &mut Page) -> Result<Vec<TrialSummary>, String> {
    let trials: Vec<TrialSummary> = read_jsonl(&dir.join("trials.jsonl"))?;
    if !trials.is_empty() {
        return Ok(trials);
    }
    let mut trials = journal_trials(&dir.join(crate::search::JOURNAL))?;
    trials.sort_by_key(|t| (t.epochs, t.trial));
    if !trials.is_empty() {
        page.notes.push(format!(
            "The search has not finished (running, or killed: `tinyreg search --resume {}` goes on); {} trial{} from its journal so far.",
            dir.display(),
            trials.len(),
            if trials.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(trials)
}

/// The searched parameters' names and which are on a log axis.
struct SearchAxes {
    names: Vec<String>,
    logs: Vec<bool>,
}

impl SearchAxes {
    fn of(meta: &Value) -> SearchAxes {
        let names = meta["params"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let logs = meta["log"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_bool().unwrap_or(false)).collect())
            .unwrap_or_default();
        SearchAxes { names, logs }
    }

    fn log(&self, d: usize) -> bool {
        self.logs.get(d) == Some(&true)
    }
}

/// A trial's value of `name` as a number (a choice by its option's index).
fn numeric(t: &TrialSummary, name: &str) -> Option<f64> {
    match t.params.get(name)? {
        Value::String(s) => crate::config::OPTIMIZERS
            .iter()
            .position(|o| o == s)
            .map(|i| i as f64),
        v => v.as_f64(),
    }
}

/// The longest budget of each trial (halving trains some several times).
fn longest_budgets(trials: &[TrialSummary]) -> Vec<&TrialSummary> {
    let mut best: std::collections::BTreeMap<u64, &TrialSummary> = Default::default();
    for t in trials {
        let e = best.entry(t.trial).or_insert(t);
        if t.epochs > e.epochs {
            *e = t;
        }
    }
    best.into_values().collect()
}

/// The search's pictures: accuracy against each parameter, parallel
/// coordinates, best so far, the trials' curves, importance and the plane.
fn add_search(
    dir: &Path,
    meta: &Value,
    (axes, trials): (&SearchAxes, &[TrialSummary]),
    page: &mut Page,
) -> Result<(), String> {
    let top = longest_budgets(trials);
    for (d, name) in axes.names.iter().enumerate() {
        add_against_param(dir, (d, name, axes.log(d)), (&top, trials), page)?;
    }
    let rows: Vec<(Vec<f64>, f32)> = top
        .iter()
        .filter_map(|t| {
            let v: Option<Vec<f64>> = axes.names.iter().map(|n| numeric(t, n)).collect();
            Some((v?, t.val_accuracy))
        })
        .collect();
    let name_refs: Vec<&str> = axes.names.iter().map(String::as_str).collect();
    let choice_axes: Vec<Option<&[&str]>> = axes
        .names
        .iter()
        .map(|n| {
            top.iter()
                .any(|t| matches!(t.params.get(n.as_str()), Some(Value::String(_))))
                .then_some(crate::config::OPTIMIZERS)
        })
        .collect();
    let parallel = dir.join("parallel.svg");
    plot::parallel_coordinates(&parallel, &name_refs, (&axes.logs, &choice_axes), &rows)?;
    page.figure("parallel.svg", "Parallel coordinates: every trial across the parameters (each axis between its real lowest and highest values), coloured by validation accuracy");
    plot_search::best_so_far(&dir.join("best_so_far.svg"), trials)?;
    page.figure("best_so_far.svg", "Best so far: every trial's validation accuracy in the order the search drew them, and the best one yet");
    add_trial_curves(dir, trials, page)?;
    let shares = plot_search::importance(&rows, &name_refs);
    let importance = dir.join("importance.svg");
    plot_search::importance_chart(&importance, &name_refs, &shares, rows.len())?;
    page.figure("importance.svg", "What matters: the share of the validation accuracy's variance each parameter explains alone (η² over bins; no interactions)");
    if axes.names.len() >= 2 {
        add_search_plane(dir, meta, (axes, &top), page)?;
    }
    Ok(())
}

/// Validation accuracy against parameter `d`: every trial at every budget it
/// reached, coloured by budget; a choice's axis holds the options the trials
/// took, by name.
fn add_against_param(
    dir: &Path,
    (d, name, log): (usize, &str, bool),
    (top, trials): (&[&TrialSummary], &[TrialSummary]),
    page: &mut Page,
) -> Result<(), String> {
    let options: Vec<&str> = crate::config::OPTIMIZERS
        .iter()
        .copied()
        .filter(|o| {
            top.iter()
                .any(|t| t.params.get(name) == Some(&Value::from(*o)))
        })
        .collect();
    let choice = !options.is_empty();
    let points: Vec<(f64, f32, u32)> = trials
        .iter()
        .filter_map(|t| {
            let x = match t.params.get(name)? {
                Value::String(s) => options.iter().position(|o| o == s)? as f64,
                _ => numeric(t, name)?,
            };
            Some((x, t.val_accuracy, t.epochs))
        })
        .collect();
    let file = format!("param_{d}.svg");
    let categories = choice.then_some(&options[..]);
    plot::against_param(&dir.join(&file), (name, log, categories), &points)?;
    page.figure(file, format!("Validation accuracy against {name}"));
    Ok(())
}

/// Every trial's validation curve, from epochs.jsonl or the journal.
fn add_trial_curves(dir: &Path, trials: &[TrialSummary], page: &mut Page) -> Result<(), String> {
    let records: Vec<EpochRecord> = match read_jsonl(&dir.join("epochs.jsonl"))? {
        r if !r.is_empty() => r,
        _ => journal_records(&dir.join(crate::search::JOURNAL)),
    };
    if !records.is_empty() {
        plot_search::trial_curves(&dir.join("trial_curves.svg"), &records, trials)?;
        page.figure(
            "trial_curves.svg",
            "Every trial's validation curve; a cross ends a trial the search stopped early",
        );
    }
    Ok(())
}

/// The lecture's grid-vs-random figure from the first two parameters.
fn add_search_plane(
    dir: &Path,
    meta: &Value,
    (axes, top): (&SearchAxes, &[&TrialSummary]),
    page: &mut Page,
) -> Result<(), String> {
    let names = &axes.names;
    let plane: Vec<(f64, f64, f32)> = top
        .iter()
        .filter_map(|t| {
            Some((
                numeric(t, &names[0])?,
                numeric(t, &names[1])?,
                t.val_accuracy,
            ))
        })
        .collect();
    let sampler = meta["sampler"].as_str().unwrap_or("search");
    plot::search_plane(
        &dir.join("search_plane.svg"),
        (&names[0], axes.log(0)),
        (&names[1], axes.log(1)),
        &plane,
        sampler,
    )?;
    page.figure("search_plane.svg", format!(
        "The lecture's grid-vs-random figure from these trials: {} against {}, and validation accuracy along {}",
        names[0], names[1], names[0]
    ));
    Ok(())
}

/// The page: the run's command and result, the notes, the pictures, the
/// trials ranked by validation accuracy.
fn page_html(meta: &Value, page: &Page, trials: &[TrialSummary]) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tinyreg run</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:90%;max-width:720px}img{border:1px solid #ccc}li{margin:.2em 0}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}</style></head><body>\n",
    );
    html += &format!(
        "<h1>tinyreg {}</h1>\n<p>config <code>{}</code></p>\n",
        escape(meta["command"].as_str().unwrap_or("run")),
        escape(meta["config"].as_str().unwrap_or(""))
    );
    html += &result_html(meta);
    if !page.notes.is_empty() {
        html += "<h2>Recipe and diagnosis</h2><ul>\n";
        for n in &page.notes {
            html += &format!("<li>{}</li>\n", escape(n));
        }
        html += "</ul>\n";
    }
    html += "<h2>Pictures</h2>\n";
    for (file, caption) in &page.figures {
        html += &format!(
            "<figure><img src=\"{file}\" alt=\"{}\"><figcaption>{}</figcaption></figure>\n",
            escape(caption),
            escape(caption)
        );
    }
    if !trials.is_empty() {
        html += &trials_html(trials);
    }
    // Lets a headless browser (and CI) tell that every picture loaded.
    html += "<script>window.addEventListener('load',function(){var i=document.images,bad=0;for(var k=0;k<i.length;k++){if(!i[k].complete||i[k].naturalWidth===0)bad++;}document.body.setAttribute('data-images',i.length+' loaded, '+bad+' missing');});</script>\n</body></html>\n";
    html
}

/// The search's winner (chosen on validation) and the one test score.
fn result_html(meta: &Value) -> String {
    let mut html = String::new();
    if let Some(w) = meta.get("winner").filter(|w| !w.is_null()) {
        html += &format!(
            "<h2>Winner (chosen on validation)</h2><p>trial {} <code>{}</code>: validation accuracy {:.4}, loss {:.4}, {} epochs; retrained from its seed: {}.</p>\n",
            w["trial"], escape(&w["params"].as_object().map_or(String::new(), crate::config::short_params)),
            w["val_accuracy"].as_f64().unwrap_or(f64::NAN), w["val_loss"].as_f64().unwrap_or(f64::NAN), w["epochs"],
            if meta["winner_retrained_identical"].as_bool() == Some(true) { "bit-identical" } else { "differs" }
        );
    }
    if let Some(t) = meta.get("test").filter(|t| !t.is_null()) {
        html += &format!(
            "<p>Test accuracy, scored once for what was chosen: <b>{:.4}</b> (loss {:.4}).</p>\n",
            t["accuracy"].as_f64().unwrap_or(f64::NAN),
            t["loss"].as_f64().unwrap_or(f64::NAN)
        );
    }
    html
}

/// The 50 best trials by validation accuracy (never by test).
fn trials_html(trials: &[TrialSummary]) -> String {
    let mut html = format!(
        "<h2>Trials</h2><p>{} trials (records: trials.jsonl, trials.csv, epochs.jsonl); ranked by validation accuracy, never by test.</p><table><tr><th>trial</th><th>epochs</th><th>val accuracy</th><th>val loss</th><th>params</th></tr>\n",
        trials.len()
    );
    let mut ranked: Vec<&TrialSummary> = trials.iter().collect();
    ranked.sort_by(|a, b| {
        (b.epochs, b.val_accuracy)
            .partial_cmp(&(a.epochs, a.val_accuracy))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for t in ranked.iter().take(50) {
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td><code>{}</code></td></tr>\n",
            t.trial,
            t.epochs,
            t.val_accuracy,
            t.val_loss,
            escape(&Value::Object(t.params.clone()).to_string())
        );
    }
    html + "</table>\n"
}

/// `a/compare.html`: the pictures of runs `a` and `b` side by side, row by
/// row (a picture only one of them has stands alone), under each run's
/// command, config, winner and test score.
pub fn compare(a: &Path, b: &Path) -> Result<(), String> {
    let abs = |d: &Path| std::fs::canonicalize(d).map_err(|e| format!("{}: {e}", d.display()));
    let (a_abs, b_abs) = (abs(a)?, abs(b)?);
    let run = |d: &Path| -> Value {
        std::fs::read_to_string(d.join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    };
    let pictures = |d: &Path| -> Vec<String> {
        let page = std::fs::read_to_string(d.join("index.html")).unwrap_or_default();
        page.split("<img src=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next().map(String::from))
            .collect()
    };
    let (pa, pb) = (pictures(a), pictures(b));
    let mut names: Vec<String> = pa.clone();
    names.extend(pb.iter().filter(|n| !pa.contains(n)).cloned());
    let head = |d: &Path, m: &Value| {
        let winner = m["winner"]["params"]
            .as_object()
            .map_or(String::new(), |p| {
                format!("; winner {}", crate::config::short_params(p))
            });
        let test = m["test"]["accuracy"].as_f64().map_or(String::new(), |t| {
            format!("; test accuracy {t:.4} (scored once)")
        });
        format!(
            "<th><code>{}</code><br>{} of <code>{}</code>{}{}</th>",
            escape(&d.display().to_string()),
            escape(m["command"].as_str().unwrap_or("run")),
            escape(m["config"].as_str().unwrap_or("")),
            escape(&winner),
            escape(&test)
        )
    };
    let mut html = String::from("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tinyreg: two runs</title>\n<style>body{font-family:sans-serif;margin:1em;color:#222}table{border-collapse:collapse}td,th{vertical-align:top;padding:6px;text-align:left;font-weight:normal}img{max-width:100%;border:1px solid #ccc}</style></head><body>\n<h1>Two runs side by side</h1>\n<table><tr>");
    html += &head(a, &run(a));
    html += &head(b, &run(b));
    html += "</tr>\n";
    for name in &names {
        let cell = |d: &Path, list: &[String]| {
            if list.contains(name) {
                format!(
                    "<td><img src=\"file://{}\" alt=\"{}\"></td>",
                    escape(&d.join(name).display().to_string()),
                    escape(name)
                )
            } else {
                "<td></td>".to_string()
            }
        };
        html += &format!("<tr>{}{}</tr>\n", cell(&a_abs, &pa), cell(&b_abs, &pb));
    }
    html += "</table></body></html>\n";
    crate::files::write_atomic(&a.join("compare.html"), html.as_bytes())
}
