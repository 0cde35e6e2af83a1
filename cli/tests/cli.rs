//! The command line end to end, on the digits data: bad configs and bad
//! `--params` exit with status 2 and write nothing; `trial` prints one JSON
//! line per epoch and reproduces `search`'s trial; a search gives the same
//! trials on 1 and 2 threads; `train` stopped and resumed equals an unbroken
//! run; `predict` loads the weights; `report` redraws the folder.

use std::path::{Path, PathBuf};

mod common;
use common::{scratch, stderr, tinyreg};

/// A small digits config (400 training images, 100 of them for validation;
/// 4 epochs; a 4-trial search of 3 epochs) in `dir`: `cargo test` runs the
/// binary unoptimized.
fn config(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let text = format!(
        r#"seed = 1
[data]
format = "icls"
train = "{train}"
test = "{test}"
limit = 400
validation = 100
[network]
layers = [
  {{ type = "dense", units = 32, relu = true }},
  {{ type = "dropout", keep = 0.8 }},
  {{ type = "dense", units = 10 }},
]
[train]
epochs = 4
batch = 32
optimizer = "adamw"
lr = 3e-3
weight_decay = 1e-4
[search]
sampler = "sobol"
trials = 4
epochs = 3
seed = 7
params = [
  {{ name = "lr", low = 1e-4, high = 1e-1, log = true }},
  {{ name = "layers.1.keep", low = 0.5, high = 1.0 }},
]
"#,
        train = data.join("digits-train.bin").display(),
        test = data.join("digits-test.bin").display(),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn bad_configs_exit_2_name_the_line_and_write_nothing() {
    let dir = scratch("bad_configs");
    let cases: [(&str, &str, &str); 6] = [
        ("keep = 0.8", "keep = 1.5", ":11: network.layers[1].keep"),
        ("epochs = 4", "epochs = 0", ":15: must be at least 1"),
        ("lr = 3e-3", "lr = -1.0", ":18: must be positive"),
        (
            "units = 10",
            "units = 11",
            "the last layer gives 11 outputs",
        ),
        ("name = \"lr\"", "name = \"rate\"", "unknown parameter"),
        (
            "batch = 32",
            "batch = 32\nbatchsize = 3",
            "unknown field `batchsize`",
        ),
    ];
    for (from, to, expected) in cases {
        let path = config(&dir, |t| t.replacen(from, to, 1));
        let out = dir.join("out");
        for command in ["train", "search", "check"] {
            let o = tinyreg(&[
                command,
                path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ]);
            assert_eq!(
                o.status.code(),
                Some(2),
                "{command} with {to}: {}",
                stderr(&o)
            );
            assert!(stderr(&o).contains(expected), "{to}: {}", stderr(&o));
            assert!(!out.exists(), "{command} wrote its folder for a bad config");
        }
    }
    let missing = config(&dir, |t| t.replace("digits-train.bin", "no-such-file.bin"));
    let o = tinyreg(&["train", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no-such-file.bin"));
}

#[test]
fn trial_prints_a_json_line_per_epoch_and_refuses_bad_params() {
    let dir = scratch("trial");
    let path = config(&dir, |t| t);
    let path = path.to_str().unwrap();
    let o = tinyreg(&[
        "trial",
        path,
        "--params",
        r#"{"lr": 0.01, "layers.1.keep": 0.7}"#,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], i as u64 + 1);
        for key in [
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy",
            "lr",
            "update_ratio",
        ] {
            assert!(l[key].is_number(), "{key} in {l}");
        }
    }
    for (params, expected) in [
        (r#"{"lr": 0.01}"#, "missing \"layers.1.keep\""),
        (r#"{"lr": 5, "layers.1.keep": 0.7}"#, "\"lr\" must be in"),
        (
            r#"{"lr": 0.01, "layers.1.keep": 0.7, "x": 1}"#,
            "unknown parameter \"x\"",
        ),
        (
            r#"{"lr": "fast", "layers.1.keep": 0.7}"#,
            "must be a number",
        ),
        ("[1, 2]", "must be a JSON object"),
        (
            r#"{"lr": 1e999, "layers.1.keep": 0.7}"#,
            "not valid JSON: number out of range",
        ),
        (
            r#"{"lr": 1e-300, "layers.1.keep": 0.7}"#,
            "\"lr\" must be in [0.0001, 0.1], got 1e-300",
        ),
    ] {
        let o = tinyreg(&["trial", path, "--params", params]);
        assert_eq!(o.status.code(), Some(2), "{params}");
        assert!(stderr(&o).contains(expected), "{params}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
}

fn trials(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("trials.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

#[test]
fn search_is_the_same_on_any_number_of_threads_and_trial_reproduces_it() {
    let dir = scratch("search");
    let path = config(&dir, |t| t);
    let path = path.to_str().unwrap();
    let (one, two) = (dir.join("one"), dir.join("two"));
    for (out, threads) in [(&one, "1"), (&two, "2")] {
        let o = tinyreg(&[
            "search",
            path,
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("retrained from its seed: bit-identical"),
            "{text}"
        );
    }
    assert_eq!(trials(&one), trials(&two));
    assert_eq!(trials(&one).len(), 4);
    for name in [
        "index.html",
        "loss.svg",
        "range_test.svg",
        "parallel.svg",
        "search_plane.svg",
        "weights.tinyreg",
        "trials.csv",
        "epochs.csv",
    ] {
        assert!(one.join(name).exists(), "{name}");
    }
    // Trial 2 by its point, as an external engine runs it.
    let t = &trials(&one)[2];
    let o = tinyreg(&[
        "trial",
        path,
        "--params",
        &t["params"].to_string(),
        "--trial",
        "2",
    ]);
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8(o.stdout).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["val_accuracy"], t["val_accuracy"]);
    assert_eq!(last["val_loss"], t["val_loss"]);
    // report redraws the folder from its records.
    std::fs::remove_file(one.join("parallel.svg")).unwrap();
    std::fs::remove_file(one.join("index.html")).unwrap();
    let o = tinyreg(&["report", one.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(one.join("parallel.svg").exists() && one.join("index.html").exists());
}

#[test]
fn train_resumed_equals_unbroken_and_predict_loads_its_weights() {
    let dir = scratch("train");
    let path = config(&dir, |t| t);
    let path = path.to_str().unwrap();
    let (whole, half, rest) = (dir.join("whole"), dir.join("half"), dir.join("rest"));
    let o = tinyreg(&["train", path, "--out", whole.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tinyreg(&[
        "train",
        path,
        "--out",
        half.to_str().unwrap(),
        "--epochs",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let weights = half.join("weights.tinyreg");
    let o = tinyreg(&[
        "train",
        path,
        "--out",
        rest.to_str().unwrap(),
        "--resume",
        weights.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |d: &Path| std::fs::read_to_string(d.join("curves.csv")).unwrap();
    let unbroken: Vec<String> = read(&whole).lines().skip(3).map(String::from).collect();
    let resumed: Vec<String> = read(&rest).lines().skip(1).map(String::from).collect();
    assert_eq!(unbroken, resumed);
    assert_eq!(
        std::fs::read(whole.join("weights.tinyreg")).unwrap(),
        std::fs::read(rest.join("weights.tinyreg")).unwrap()
    );

    let o = tinyreg(&[
        "predict",
        path,
        "--weights",
        whole.join("weights.tinyreg").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 360);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("run.json")).unwrap()).unwrap();
    let accuracy = meta["test"]["accuracy"].as_f64().unwrap();
    assert!(
        stderr(&o).contains(&format!("accuracy {accuracy:.4}")),
        "{}",
        stderr(&o)
    );

    // Weights for another network are refused.
    let wider = config(&dir, |t| t.replace("units = 32", "units = 33"));
    let o = tinyreg(&[
        "predict",
        wider.to_str().unwrap(),
        "--weights",
        whole.join("weights.tinyreg").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("another network"), "{}", stderr(&o));
}

/// Every line of a config deleted, or each number on it replaced by a
/// hostile value: `tinyreg` never panics (status 101) or hangs, and a
/// refusal (status 2) writes nothing.
#[test]
fn mangled_configs_never_panic() {
    let dir = scratch("mangled");
    let base = config(&dir, |t| t.replace("limit = 400", "limit = 200"));
    let text = std::fs::read_to_string(&base).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut variants = Vec::new();
    for i in 0..lines.len() {
        let mut v = lines.clone();
        v.remove(i);
        variants.push(v.join("\n"));
        let numeric = lines[i]
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
            .find(|w| w.parse::<f64>().is_ok() && !w.is_empty())
            .map(String::from);
        if let Some(number) = numeric {
            for hostile in ["0", "-1", "nan", "1e40", "18446744073709551615", "\"x\""] {
                let mut v = lines.clone();
                let line = lines[i].replacen(&number, hostile, 1);
                v[i] = &line;
                variants.push(v.join("\n"));
            }
        }
    }
    let path = dir.join("mangled.toml");
    let out = dir.join("out");
    for (k, variant) in variants.iter().enumerate() {
        std::fs::write(&path, variant).unwrap();
        let o = tinyreg(&[
            "trial",
            path.to_str().unwrap(),
            "--point",
            "0",
            "--epochs",
            "1",
        ]);
        let code = o.status.code();
        assert!(
            matches!(code, Some(0 | 2 | 3 | 4)),
            "variant {k} exited with {code:?}: {}\n{variant}",
            stderr(&o)
        );
        if code == Some(2) {
            // What `trial` refuses, `check` refuses before writing anything.
            let o = tinyreg(&[
                "check",
                path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(2), "variant {k}: {}", stderr(&o));
            assert!(
                !out.exists(),
                "variant {k}: refused, but wrote {}",
                out.display()
            );
        }
    }
    assert!(variants.len() > 50, "{} variants", variants.len());
}

/// A residual CNN from the config: `batch_norm_2d`, blocks (one that widens
/// the channels and halves the image, so `block_end` adds a 1x1 strided
/// projection), `spatial_dropout`, `global_avg_pool`; it trains, the search
/// can set a block's survival, and a block left open is a config error on
/// its line.
#[test]
fn residual_cnn_config_trains_and_open_blocks_are_refused() {
    let dir = scratch("resnet");
    let cnn = |t: String| {
        t.replace(
            r#"  { type = "dense", units = 32, relu = true },
  { type = "dropout", keep = 0.8 },
  { type = "dense", units = 10 },"#,
            r#"  { type = "conv", filters = 4, kernel = 3, padding = 1 },
  { type = "batch_norm_2d" },
  { type = "relu" },
  { type = "block_start", survival = 0.8 },
  { type = "conv", filters = 8, kernel = 3, padding = 1, stride = 2 },
  { type = "batch_norm_2d" },
  { type = "block_end" },
  { type = "spatial_dropout", keep = 0.9 },
  { type = "block_start", per_row = true },
  { type = "conv", filters = 8, kernel = 3, padding = 1, relu = true },
  { type = "block_end" },
  { type = "global_avg_pool" },
  { type = "dense", units = 10 },"#,
        )
        .replace("layers.1.keep", "layers.3.survival")
    };
    let path = config(&dir, cnn);
    let path = path.to_str().unwrap();
    let o = tinyreg(&[
        "trial",
        path,
        "--params",
        r#"{"lr": 0.01, "layers.3.survival": 0.7}"#,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(last["val_loss"].as_f64().unwrap().is_finite(), "{last}");
    let open = config(&dir, |t| {
        cnn(t).replace(
            "  { type = \"block_end\" },\n  { type = \"global",
            "  { type = \"global",
        )
    });
    let o = tinyreg(&["check", open.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("a residual block is never closed"),
        "{}",
        stderr(&o)
    );
}

/// Fractional pooling with PyTorch's windows drawn per plane trains from a
/// config; Graham's options beside a kernel, and a kernel too wide for the
/// output, are refused naming the layer.
#[test]
fn fractional_pool_pytorch_windows_config_trains_and_bad_windows_are_refused() {
    let dir = scratch("fmp");
    let fmp = |pool: &'static str| {
        move |t: String| {
            t.replace(
                r#"  { type = "dense", units = 32, relu = true },"#,
                &format!("  {pool}\n  {{ type = \"dense\", units = 32, relu = true }},"),
            )
            .replace("layers.1.keep", "layers.2.keep")
        }
    };
    let good = config(
        &dir,
        fmp(
            r#"{ type = "fractional_max_pool", out = 5, kernel = 2, per_plane = true, eval_samplings = 0 },"#,
        ),
    );
    let params = r#"{"lr": 0.01, "layers.2.keep": 0.8}"#;
    let o = tinyreg(&["trial", good.to_str().unwrap(), "--params", params]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(last["val_loss"].as_f64().unwrap().is_finite(), "{last}");
    for (pool, says) in [
        (
            r#"{ type = "fractional_max_pool", out = 5, kernel = 2, random = true },"#,
            "drop overlapping and random",
        ),
        (
            r#"{ type = "fractional_max_pool", out = 7, kernel = 3 },"#,
            "out + kernel - 1 <= in",
        ),
    ] {
        let bad = config(&dir, fmp(pool));
        let o = tinyreg(&["check", bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(stderr(&o).contains("network.layers[0]"), "{}", stderr(&o));
    }
}

/// `schedule = "cosine_restarts"` trains, and its rate goes back up at a
/// restart (a plain cosine only falls): cycles of 1 epoch, then 2.
#[test]
fn cosine_restarts_schedule_restarts() {
    let dir = scratch("restarts");
    let path = config(&dir, |t| {
        t.replace(
            "weight_decay = 1e-4",
            "weight_decay = 1e-4\nschedule = \"cosine_restarts\"\ncycle_epochs = 1\ncycle_mult = 2",
        )
    });
    let params = r#"{"lr": 0.003, "layers.1.keep": 0.8}"#;
    let o = tinyreg(&["trial", path.to_str().unwrap(), "--params", params]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rates: Vec<f64> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["lr"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(rates.len() >= 3, "{rates:?}");
    assert!(
        rates.windows(2).any(|w| w[1] > w[0]),
        "no restart in {rates:?}"
    );
}

/// Search settings that only the search reads (zero trials or epochs, a
/// grid too large, a layer width bound no network can have) are refused
/// before any work: exit 2, no folder made, no range_test.json.
#[test]
fn search_refusals_write_nothing_and_make_no_folder() {
    let dir = scratch("search_refusals");
    let cases: [(&str, &str, &str); 4] = [
        ("trials = 4", "trials = 0", "trials"),
        ("epochs = 3\nseed = 7", "epochs = 0\nseed = 7", "epochs"),
        (
            "{ name = \"lr\", low = 1e-4, high = 1e-1, log = true },",
            "{ name = \"lr\", low = 1e-4, high = 1e-1, log = true },\n  { name = \"layers.0.units\", low = 1, high = 4000000000000, int = true },",
            "memory",
        ),
        (
            "sampler = \"sobol\"\ntrials = 4\nepochs = 3\nseed = 7\nparams = [\n  { name = \"lr\", low = 1e-4, high = 1e-1, log = true },",
            "sampler = \"grid\"\nepochs = 3\nseed = 7\nparams = [\n  { name = \"lr\", low = 1e-4, high = 1e-1, log = true, levels = 4000000000 },",
            "trials",
        ),
    ];
    for (from, to, expected) in cases {
        let path = config(&dir, |t| {
            assert!(t.contains(from), "{from}");
            t.replacen(from, to, 1)
        });
        let out = dir.join("out");
        let o = tinyreg(&[
            "search",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{to}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{to}: {}", stderr(&o));
        assert!(!out.exists(), "{to}: the refused search made its folder");
    }
    // A folder that cannot be made (a file stands where it would be) fails
    // before any training, and leaves nothing.
    let path = config(&dir, |t| t);
    let blocker = dir.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = blocker.join("out");
    for command in ["search", "train", "check"] {
        let o = tinyreg(&[
            command,
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(3), "{command}: {}", stderr(&o));
        assert!(
            o.stdout.is_empty(),
            "{command} worked before failing: {:?}",
            o.stdout
        );
    }
    let o = tinyreg(&["train", path.to_str().unwrap(), "--epochs", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--epochs must be at least 1"),
        "{}",
        stderr(&o)
    );
}

/// Cuts a finished search back to two whole trials and half of a third, as
/// a kill inside the third's append leaves it, with none of the final
/// records.
fn cut_search(cut: &Path) {
    let journal = std::fs::read_to_string(cut.join("journal.jsonl")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert_eq!(lines.len(), 5, "a head and four trials");
    let torn = format!(
        "{}\n{}\n{}\n{}",
        lines[0],
        lines[1],
        lines[2],
        &lines[3][..lines[3].len() / 2]
    );
    std::fs::write(cut.join("journal.jsonl"), torn).unwrap();
    for name in [
        "trials.jsonl",
        "trials.csv",
        "epochs.jsonl",
        "epochs.csv",
        "weights.tinyreg",
        "index.html",
    ] {
        std::fs::remove_file(cut.join(name)).unwrap();
    }
}

/// A search cut short (its journal torn inside a line, no final records)
/// resumes, trains only what is missing, and ends with the trials, epochs
/// and checkpoint of an unbroken search; the cut folder still reports; a
/// second search into a folder with a journal is refused.
#[test]
fn search_resumes_from_its_journal_with_the_results_of_an_unbroken_search() {
    let dir = scratch("search_resume");
    let path = config(&dir, |t| t);
    let path = path.to_str().unwrap();
    let (whole, cut) = (dir.join("whole"), dir.join("cut"));
    for out in [&whole, &cut] {
        let o = tinyreg(&["search", path, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = tinyreg(&["search", path, "--out", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    cut_search(&cut);
    let o = tinyreg(&["report", cut.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(cut.join("index.html")).unwrap();
    assert!(page.contains("2 trials from its journal"), "{page}");

    let o = tinyreg(&[
        "search",
        "--resume",
        cut.to_str().unwrap(),
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("resumed: 2 finished trials"), "{text}");
    assert!(text.contains("torn"), "{text}");
    let without_seconds = |dir: &Path| -> Vec<serde_json::Value> {
        trials(dir)
            .into_iter()
            .map(|mut t| {
                t.as_object_mut().unwrap().remove("seconds");
                t
            })
            .collect()
    };
    assert_eq!(without_seconds(&cut), without_seconds(&whole));
    for name in ["epochs.jsonl", "weights.tinyreg", "curves.jsonl"] {
        assert_eq!(
            std::fs::read(cut.join(name)).unwrap(),
            std::fs::read(whole.join(name)).unwrap(),
            "{name}"
        );
    }
    // A changed config is not resumed.
    std::fs::write(
        path,
        std::fs::read_to_string(path)
            .unwrap()
            .replace("seed = 7", "seed = 8"),
    )
    .unwrap();
    let o = tinyreg(&["search", "--resume", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("changed since the search"),
        "{}",
        stderr(&o)
    );
}

/// Images of another shape with the same number of values (8x8 against
/// 4x16) are refused, as a test set and by `predict --data`, not scored.
#[test]
fn data_of_another_image_shape_is_refused() {
    let dir = scratch("shapes");
    let digits =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits-test.bin"))
            .unwrap();
    // ICLS: magic, version, count, rows, cols, channels, ... (u32 each).
    let mut wide = digits.clone();
    wide[12..16].copy_from_slice(&4u32.to_le_bytes());
    wide[16..20].copy_from_slice(&16u32.to_le_bytes());
    let wide_path = dir.join("wide.bin");
    std::fs::write(&wide_path, &wide).unwrap();
    let test = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits-test.bin");
    let path = config(&dir, |t| {
        t.replace(
            &test.display().to_string(),
            &wide_path.display().to_string(),
        )
    });
    let o = tinyreg(&[
        "train",
        path.to_str().unwrap(),
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("4x16"), "{}", stderr(&o));
    assert!(!dir.join("out").exists());
    // predict --data with the same file.
    let path = config(&dir, |t| t);
    let out = dir.join("trained");
    let o = tinyreg(&[
        "train",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let weights = out.join("weights.tinyreg");
    let o = tinyreg(&[
        "predict",
        path.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        wide_path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("4x16"), "{}", stderr(&o));
}

/// A folder holding another run is never written over: `search` into a
/// `train` folder is refused with nothing changed; `predict` after a search
/// over a layer's width takes the winner's width from the folder, or from
/// --params (only the widths are needed).
#[test]
fn runs_never_overwrite_each_other_and_predict_asks_only_for_shapes() {
    let dir = scratch("no_overwrite");
    let path = config(&dir, |t| {
        t.replace(
            "{ name = \"layers.1.keep\", low = 0.5, high = 1.0 },",
            "{ name = \"layers.0.units\", low = 8, high = 48, int = true },",
        )
    });
    let path = path.to_str().unwrap();
    let out = dir.join("out");
    let o = tinyreg(&["train", path, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(out.join("weights.tinyreg")).unwrap();
    for command in ["search", "check"] {
        let o = tinyreg(&[command, path, "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{command}: {}", stderr(&o));
        assert!(stderr(&o).contains("holds a train run"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(out.join("weights.tinyreg")).unwrap(), before);
    assert!(!out.join("journal.jsonl").exists());

    let searched = dir.join("searched");
    let o = tinyreg(&["search", path, "--out", searched.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let weights = searched.join("weights.tinyreg");
    let w = weights.to_str().unwrap();
    let o = tinyreg(&["predict", path, "--weights", w]);
    assert!(
        o.status.success(),
        "the winner's width from run.json: {}",
        stderr(&o)
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(searched.join("run.json")).unwrap()).unwrap();
    let units = run["winner"]["params"]["layers.0.units"].as_i64().unwrap();
    let only_width = format!("{{\"layers.0.units\": {units}}}");
    let o = tinyreg(&["predict", path, "--weights", w, "--params", &only_width]);
    assert!(o.status.success(), "only the width: {}", stderr(&o));
    // Moved away from its folder, the weights need the width, and say so.
    let alone = dir.join("alone.tinyreg");
    std::fs::copy(&weights, &alone).unwrap();
    let o = tinyreg(&["predict", path, "--weights", alone.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("depends on the searched [\"layers.0.units\"]"),
        "{}",
        stderr(&o)
    );
}

/// The report's pictures can be read without the config at hand: a choice
/// parameter's axis names its options, the loss is on a log axis, the range
/// test names its suggestions in words, and no text is below 12 px.
#[test]
fn report_pictures_name_choices_and_stay_readable() {
    let dir = scratch("pictures");
    let path = config(&dir, |t| {
        t.replace(
            "{ name = \"layers.1.keep\", low = 0.5, high = 1.0 },",
            "{ name = \"optimizer\", choices = [\"sgd\", \"adam\"] },",
        )
    });
    let out = dir.join("out");
    let o = tinyreg(&[
        "search",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let choice = svg("param_1.svg");
    assert!(
        choice.contains("\nsgd\n")
            && choice.contains("\nadam\n")
            && !choice.contains("\nnesterov\n"),
        "{choice}"
    );
    assert!(svg("loss.svg").contains("cross-entropy (log)"));
    let range = svg("range_test.svg");
    assert!(
        range.contains("valley (fastai")
            && range.contains("winner")
            && range.contains("the config")
            && range.contains("the searched range: 1.0e-4 to 1.0e-1"),
        "{range}"
    );
    for name in [
        "loss.svg",
        "accuracy.svg",
        "range_test.svg",
        "param_0.svg",
        "param_1.svg",
        "parallel.svg",
    ] {
        for size in svg(name).split("font-size=\"").skip(1) {
            let px: f32 = size.split('"').next().unwrap().parse().unwrap();
            assert!(px >= 12.0, "{name}: text of {px} px");
        }
    }
}

/// A successive-halving search's page: rungs coloured and named by budget,
/// the best-so-far history, every trial's curve with the stopped ones
/// crossed, what matters, parallel coordinates with real values and a colour
/// bar, values on hover; and two runs side by side.
#[test]
fn report_shows_rungs_history_curves_importance_and_compares_runs() {
    let dir = scratch("halving_page");
    let path = config(&dir, |t| {
        t.replace(
            "sampler = \"sobol\"\ntrials = 4",
            "sampler = \"halving\"\ntrials = 9\neta = 3\nmin_epochs = 1",
        )
    });
    let (a, b) = (dir.join("a"), dir.join("b"));
    let o = tinyreg(&[
        "search",
        path.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = |name: &str| std::fs::read_to_string(a.join(name)).unwrap();
    let param = svg("param_0.svg");
    for rung in ["1 epoch\n", "3 epochs"] {
        assert!(param.contains(rung), "rung legend {rung}: {param}");
    }
    assert!(param.contains("<title>lr "), "hover values");
    assert!(svg("best_so_far.svg").contains("best so far (3 epochs)"));
    assert!(!curves_text_has_fraction(&svg("trial_curves.svg")));
    let curves = svg("trial_curves.svg");
    assert!(
        curves.contains("(stopped here)") && curves.contains("<title>trial"),
        "{curves}"
    );
    assert!(svg("importance.svg").contains("lr: "));
    let parallel = svg("parallel.svg");
    assert!(
        parallel.contains("val acc") && parallel.contains("e-"),
        "real values and a colour bar: {parallel}"
    );
    let page = svg("index.html");
    for picture in [
        "best_so_far.svg",
        "trial_curves.svg",
        "importance.svg",
        "parallel.svg",
    ] {
        assert!(page.contains(picture), "{picture} on the page");
    }
    // Two runs side by side.
    let o = tinyreg(&[
        "train",
        path.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tinyreg(&["report", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let compare = std::fs::read_to_string(a.join("compare.html")).unwrap();
    assert!(
        compare.contains("search of") && compare.contains("train of"),
        "{compare}"
    );
    assert!(
        compare.matches("loss.svg").count() >= 2,
        "both runs' loss pictures"
    );
}

/// Whether a picture's tick labels hold a fraction or a repeated whole
/// number (a count axis labelled 2, 2, 2 between its integers).
fn curves_text_has_fraction(svg: &str) -> bool {
    let labels: Vec<&str> = svg
        .split("</text>")
        .filter_map(|t| t.rsplit('>').next())
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    labels.iter().any(|l| !seen.insert(*l))
}

/// `[augment]` and `[mix]` change training, reproduce, and a run stopped
/// and resumed augments exactly as an unbroken one; their numbers are
/// searchable; features (not images) are refused for `[augment]`.
#[test]
fn augment_and_mix_sections_train_resume_exactly_and_search() {
    let dir = scratch("augment");
    let sections = "[augment]\ncrop_pad = 1\nrotation = 10\nhflip = true\ncutout = 2\n\
                    [mix]\nkind = \"cutmix\"\nalpha = 1.0\n\
                    [test_time]\nviews = \"ten_crop\"\npad = 1\n[search]";
    let path = config(&dir, |t| t.replace("[search]", sections));
    let path = path.to_str().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec!["train", path, "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = tinyreg(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        out
    };
    let weights = |d: &Path| std::fs::read(d.join("weights.tinyreg")).unwrap();
    let whole = run("whole", &[]);
    let meta = std::fs::read_to_string(whole.join("run.json")).unwrap();
    assert!(meta.contains("10 test-time views"), "{meta}");
    let half = run("half", &["--epochs", "2"]);
    let checkpoint = half.join("weights.tinyreg");
    let rest = run("rest", &["--resume", checkpoint.to_str().unwrap()]);
    assert_eq!(weights(&whole), weights(&rest));

    let plain = config(&dir, |t| t);
    let out = dir.join("plain");
    let o = tinyreg(&[
        "train",
        plain.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(weights(&whole), weights(&out));

    let params = r#"{"lr": 0.003, "layers.1.keep": 0.8, "mix.alpha": 0.4, "augment.cutout": 3}"#;
    let searched = config(&dir, |t| {
        t.replace("[search]", sections).replace(
            "params = [",
            "params = [\n  { name = \"mix.alpha\", low = 0.2, high = 1.0 },\n  { name = \"augment.cutout\", low = 0, high = 4, int = true },",
        )
    });
    let o = tinyreg(&["trial", searched.to_str().unwrap(), "--params", params]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A search over a section the config does not have is refused.
    let missing = config(&dir, |t| {
        t.replace(
            "params = [",
            "params = [\n  { name = \"mix.alpha\", low = 0.2, high = 1.0 },",
        )
    });
    let o = tinyreg(&["check", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("needs the [mix] section"),
        "{}",
        stderr(&o)
    );
}

/// `[early_stopping]` stops before the config's epochs and `[average]`
/// writes the averaged weights, which score the test; a run stopped with
/// `--epochs` and resumed (patience half spent, the average under way)
/// ends exactly as an unbroken one: same stop, weights and average.
#[test]
fn early_stopping_and_average_sections_resume_exactly() {
    let dir = scratch("early_stopping");
    let sections = "[early_stopping]\nmetric = \"val_loss\"\npatience = 2\nmin_delta = 0.05\n\
                    [average]\nkind = \"exponential\"\ndecay = 0.9\n[search]";
    let path = config(&dir, |t| {
        t.replace("epochs = 4\nbatch", "epochs = 30\nbatch")
            .replace("[search]", sections)
    });
    let path = path.to_str().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec!["train", path, "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = tinyreg(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (out, String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    let (whole, said) = run("whole", &[]);
    assert!(
        said.contains("final model (the averaged weights): val loss"),
        "{said}"
    );
    assert!(said.contains("training, the averaged weights)"), "{said}");
    let curves = std::fs::read_to_string(whole.join("curves.csv")).unwrap();
    let epochs = curves.lines().count() - 1;
    assert!(
        epochs < 30,
        "early stopping stopped nothing: {epochs} epochs"
    );
    assert!(epochs > 3, "stopped at once: {epochs} epochs");
    // Paused one epoch before the stop, with patience being spent.
    let pause = (epochs - 1).to_string();
    let (half, _) = run("half", &["--epochs", &pause]);
    let checkpoint = half.join("weights.tinyreg");
    let (rest, _) = run("rest", &["--resume", checkpoint.to_str().unwrap()]);
    for file in ["weights.tinyreg", "weights-average.tinyreg"] {
        assert!(read(&whole, file) == read(&rest, file), "{file} differs");
    }
    // The resumed folder's curves are the epochs after the pause.
    let tail = std::fs::read_to_string(rest.join("curves.csv")).unwrap();
    let rest_lines: Vec<&str> = tail.lines().skip(1).collect();
    let whole_lines: Vec<&str> = curves.lines().skip(1 + epochs - 1).collect();
    assert_eq!(rest_lines, whole_lines);
    assert_ne!(
        read(&whole, "weights.tinyreg"),
        read(&whole, "weights-average.tinyreg")
    );
}

/// A snapshot ensemble: a snapshot file at each of the last cycles' ends,
/// the final model named, and a run paused between two snapshots and
/// resumed ends with the files and scores of an unbroken one.
#[test]
fn snapshot_ensemble_resumes_with_its_snapshots() {
    let dir = scratch("snapshot_ensemble");
    let path = config(&dir, |t| {
        t.replace(
            "epochs = 4\n",
            "epochs = 7\nschedule = \"cosine_restarts\"\ncycle_epochs = 1\ncycle_mult = 2\n",
        )
        .replace("[search]", "[snapshot_ensemble]\nsnapshots = 2\n[search]")
    });
    let path = path.to_str().unwrap();
    let (whole, cut) = (dir.join("whole"), dir.join("cut"));
    let o = tinyreg(&["train", path, "--out", whole.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("final model (the ensemble of 2 snapshots)"),
        "{text}"
    );
    // Cycles end at epochs 1, 3 and 7: the last two are kept.
    assert!(!whole.join("snapshot-1.tinyreg").exists());
    for epoch in [3, 7] {
        assert!(whole.join(format!("snapshot-{epoch}.tinyreg")).exists());
    }
    let o = tinyreg(&[
        "train",
        path,
        "--out",
        cut.to_str().unwrap(),
        "--epochs",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tinyreg(&[
        "train",
        path,
        "--out",
        cut.to_str().unwrap(),
        "--resume",
        cut.join("weights.tinyreg").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for file in [
        "weights.tinyreg",
        "snapshot-3.tinyreg",
        "snapshot-7.tinyreg",
    ] {
        let read = |d: &Path| std::fs::read(d.join(file)).unwrap();
        assert_eq!(read(&cut), read(&whole), "{file}");
    }
    let final_model = |d: &Path| -> serde_json::Value {
        let meta = std::fs::read_to_string(d.join("run.json")).unwrap();
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        serde_json::json!([meta["final_model"], meta["test"]])
    };
    assert_eq!(final_model(&cut), final_model(&whole));
}

/// Without warm restarts, or beside `[average]`, `[snapshot_ensemble]` is
/// refused before anything is written.
#[test]
fn snapshot_ensemble_needs_warm_restarts_and_stands_alone() {
    let dir = scratch("snapshot_ensemble_refused");
    let path = config(&dir, |t| {
        t.replace(
            "epochs = 4\n",
            "epochs = 7\nschedule = \"cosine_restarts\"\n",
        )
        .replace("[search]", "[snapshot_ensemble]\nsnapshots = 2\n[search]")
    });
    let path = path.to_str().unwrap();
    for (edit, says) in [
        ("cosine_restarts", "needs train.schedule"),
        ("[snapshot_ensemble]", "leave out [average]"),
    ] {
        let bad = std::fs::read_to_string(path).unwrap().replace(
            edit,
            if edit == "cosine_restarts" {
                "cosine"
            } else {
                "[average]\nkind = \"uniform\"\n[snapshot_ensemble]"
            },
        );
        let bad_path = dir.join("bad.toml");
        std::fs::write(&bad_path, bad).unwrap();
        let o = tinyreg(&[
            "train",
            bad_path.to_str().unwrap(),
            "--out",
            dir.join("no").to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
        assert!(!dir.join("no").exists());
    }
}

/// `[plateau]` decays the rate when the validation loss stops improving
/// (here: any improvement under 50% counts as none), and a refused factor
/// writes nothing.
#[test]
fn plateau_decays_the_rate_and_bad_factors_are_refused() {
    let dir = scratch("plateau");
    let path = config(&dir, |t| {
        t.replace("epochs = 4\n", "epochs = 4\nschedule = \"constant\"\n")
            .replace(
                "[search]",
                "[plateau]\nfactor = 0.5\npatience = 0\nthreshold = 0.5\n[search]",
            )
    });
    let out = dir.join("out");
    let o = tinyreg(&[
        "train",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let curves = std::fs::read_to_string(out.join("curves.jsonl")).unwrap();
    let rates: Vec<f64> = curves
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["lr"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(rates.windows(2).any(|w| w[1] < w[0] * 0.6), "{rates:?}");
    let bad = std::fs::read_to_string(&path)
        .unwrap()
        .replace("factor = 0.5", "factor = 1.5");
    std::fs::write(&path, bad).unwrap();
    let no = dir.join("no");
    let o = tinyreg(&[
        "train",
        path.to_str().unwrap(),
        "--out",
        no.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("plateau: "), "{}", stderr(&o));
    assert!(!no.exists());
}

/// `plateau.factor` and `average.decay` are searchable: a trial's value
/// reaches the training (a smaller factor decays the rate further), and
/// either is refused without its section.
#[test]
fn plateau_factor_and_average_decay_are_searched() {
    let dir = scratch("plateau_search");
    let sections =
        "[plateau]\npatience = 0\nthreshold = 0.5\n[average]\nkind = \"exponential\"\n[search]";
    let path = config(&dir, |t| {
        t.replace("epochs = 4\n", "epochs = 4\nschedule = \"constant\"\n")
            .replace("[search]", sections)
            .replace(
                "params = [",
                "params = [\n  { name = \"plateau.factor\", low = 0.1, high = 0.9 },\n  { name = \"average.decay\", low = 0.5, high = 0.99 },",
            )
    });
    let last_rate = |factor: &str| -> f64 {
        let params = format!(
            r#"{{"lr": 0.003, "layers.1.keep": 0.8, "plateau.factor": {factor}, "average.decay": 0.9}}"#
        );
        let o = tinyreg(&["trial", path.to_str().unwrap(), "--params", &params]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        last["lr"].as_f64().unwrap()
    };
    assert!(last_rate("0.1") < last_rate("0.9"));
    let missing = config(&dir, |t| {
        t.replace(
            "params = [",
            "params = [\n  { name = \"average.decay\", low = 0.5, high = 0.99 },",
        )
    });
    let o = tinyreg(&["check", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("needs the [average] section"),
        "{}",
        stderr(&o)
    );
}
