//! What the command line costs: one digits trial (configs/digits.toml's
//! network and settings, 1 and 60 epochs) trained by the crate in-process
//! against the same trial run as `tinyreg trial` (process start, config,
//! data, JSON lines). Both give the same validation accuracy (checked first).
//!
//! `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench cli_trial`
//! (it builds the `tinyreg` binary first, in the bench profile's target
//! directory and with the same flags).

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use tinyreg::tune::validation_split;
use tinyreg::{
    Dense, Dropout, EpochMetrics, Icls, Layer, LearningRate, Network, Optimizer, Schedule,
    TrainConfig, Trainer, Update, WeightDecay,
};

const PARAMS: &str = r#"{"lr": 0.002, "weight_decay": 0.0001, "layers.1.keep": 0.8}"#;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The crate alone: returns the last validation accuracy; `observed` trains
/// through `fit_observed`, keeping every step's loss as the command does.
fn in_process(full: &Icls, epochs: u32, observed: bool) -> f32 {
    let (mut images, mut labels) = (vec![0u8; full.images.len()], vec![0u8; full.count]);
    let (train, val) = validation_split(full, 287, 0, &mut images, &mut labels).unwrap();
    let layers = [
        Layer::Dense(Dense::new(64, 128).with_relu()),
        Layer::Dropout {
            features: 128,
            dropout: Dropout::inverted(0.8).unwrap(),
        },
        Layer::Dense(Dense::new(128, 10)),
    ];
    let steps = train.count.div_ceil(32) as u32;
    let config = TrainConfig {
        batch: 32,
        update: Update::new(
            Optimizer::ADAM,
            WeightDecay {
                l2: 1e-4,
                decoupled: true,
                l1: 0.0,
            },
        )
        .unwrap(),
        lr: LearningRate {
            base: 2e-3,
            schedule: Schedule::Cosine {
                total: epochs * steps,
                min: 2e-3 * 0.05,
            },
            warmup: 0,
        },
        clip_norm: None,
        seed: 2026 * 1000,
        plateau: None,
        early_stopping: None,
        average: None,
    };
    let net = Network::new(&layers);
    let mut memory = vec![0f32; net.memory_len(32, 2, false)];
    let mut trainer = Trainer::new(net, config, &mut memory).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); epochs as usize];
    if observed {
        let mut steps = Vec::new();
        trainer
            .fit_observed(
                &train,
                &val,
                epochs,
                &mut order,
                &mut history,
                &mut |event| {
                    if let tinyreg::FitEvent::Step { metrics, .. } = event {
                        steps.push(metrics.loss);
                    }
                    std::ops::ControlFlow::Continue(())
                },
            )
            .unwrap();
    } else {
        trainer
            .fit(&train, &val, epochs, &mut order, &mut history)
            .unwrap();
    }
    history[epochs as usize - 1].val.accuracy
}

/// Builds `tinyreg` (release, this bench's target directory) and returns its
/// path. A binary of another package is not a dependency cargo can hand a
/// bench, so the bench asks cargo for it.
fn build_command_line() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "tinyreg-cli",
            "--bin",
            "tinyreg",
        ])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building tinyreg failed");
    // This bench runs from <target>/release/deps/; the binary sits in <target>/release/.
    let exe = std::env::current_exe().expect("the bench knows its path");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench runs from <target>/release/deps");
    release.join(format!("tinyreg{}", std::env::consts::EXE_SUFFIX))
}

/// `tinyreg trial`: returns the last line's validation accuracy.
fn command_line(exe: &Path, epochs: u32) -> f32 {
    let out = Command::new(exe)
        .current_dir(root())
        .args([
            "trial",
            "configs/digits.toml",
            "--params",
            PARAMS,
            "--trial",
            "0",
            "--epochs",
            &epochs.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["val_accuracy"].as_f64().unwrap() as f32
}

fn trial(c: &mut Criterion) {
    let bytes = std::fs::read(root().join("data/digits-train.bin")).unwrap();
    let full = Icls::parse(&bytes).unwrap();
    let exe = build_command_line();
    // A one-epoch trial isolates what the command adds (process, config,
    // data, JSON); the 60-epoch trial is what it is added to.
    for epochs in [1, 60] {
        assert_eq!(
            in_process(&full, epochs, false),
            command_line(&exe, epochs),
            "the two must train the same trial"
        );
        let mut group = c.benchmark_group(format!("trial_digits_{epochs}_epochs"));
        group.sample_size(40);
        group.measurement_time(std::time::Duration::from_secs(12));
        group.bench_function("crate_in_process", |b| {
            b.iter(|| in_process(&full, epochs, false))
        });
        group.bench_function("crate_in_process_observed", |b| {
            b.iter(|| in_process(&full, epochs, true))
        });
        group.bench_function("tinyreg_trial_command", |b| {
            b.iter(|| command_line(&exe, epochs))
        });
        group.finish();
    }
}

criterion_group!(benches, trial);
criterion_main!(benches);
