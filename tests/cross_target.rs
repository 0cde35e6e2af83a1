//! The same seed on every target: a CNN (convolution, batch norm, max
//! pooling, dropout, dense, Adam) and an MLP (dense, dropout, SGD with
//! momentum) trained on digits, compared across x86-64, aarch64 (NEON) and
//! wasm32 (simd128).
//!
//! Targets that do the same arithmetic must give the same bits: every vector
//! is 16 lanes on every target and every sum runs in an order fixed by the
//! code, so what can differ is whether `a * b + c` is rounded once (fused, with
//! x86 FMA and on aarch64) or twice (SSE2 without FMA, wasm32 simd128, the
//! scalar targets). Between those two classes the parameters differ by
//! rounding that training carries on, so they are compared within a
//! tolerance instead. Masks and search points are pinned by their own golden
//! tests (`bernoulli_mask`, `tune_sampler`), which run on every target.
//!
//! Each target's run writes `<target>.bits` into the folder named by
//! `TINYREG_CROSS_TARGET_DIR` (when it is set); `scripts/test-cross-target.sh`
//! runs this test on each target and then the ignored
//! `cross_target_results_agree` on the host, which reads them all.
use tinyreg::{
    BatchNorm, Conv2d, Dense, Dropout, EpochMetrics, Icls, ImageShape, Layer, LearningRate,
    Network, Optimizer, TrainConfig, Trainer, Update, WeightDecay,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");
const DIR_VARIABLE: &str = "TINYREG_CROSS_TARGET_DIR";

/// How this build rounds `a * b + c` in the kernels (`wide`'s `mul_add`).
/// AVX-512 builds also sum and transpose through in-register shuffles
/// (`simd::reduce16`), in another order, so they form a class of their own.
fn arithmetic() -> &'static str {
    if cfg!(target_feature = "avx512f") {
        "fused-avx512"
    } else if cfg!(any(
        target_feature = "fma",
        all(target_arch = "aarch64", target_feature = "neon")
    )) {
        "fused"
    } else {
        "separate"
    }
}

/// A name for this build: the architecture and its vector features.
fn build_name() -> String {
    let arch = std::env::consts::ARCH;
    let features = [
        ("avx512f", cfg!(target_feature = "avx512f")),
        ("avx2", cfg!(target_feature = "avx2")),
        ("fma", cfg!(target_feature = "fma")),
        ("sse2", cfg!(target_feature = "sse2")),
        ("neon", cfg!(target_feature = "neon")),
        ("simd128", cfg!(target_feature = "simd128")),
    ];
    let on: Vec<&str> = features
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
    format!("{arch}-{}", on.join("-"))
}

fn cnn() -> Vec<Layer> {
    let conv = Conv2d {
        in_channels: 1,
        out_channels: 4,
        height: 8,
        width: 8,
        k: 3,
        stride: 1,
        padding: 1,
    };
    let shape = ImageShape {
        channels: 4,
        height: 8,
        width: 8,
    };
    vec![
        Layer::Conv2d { conv, relu: false },
        Layer::BatchNorm(BatchNorm::over_channels(4, 64)),
        Layer::Relu { features: 256 },
        Layer::MaxPool {
            shape,
            k: 2,
            stride: 2,
        },
        Layer::Dropout {
            features: 64,
            dropout: Dropout::inverted(0.8).unwrap(),
        },
        Layer::Dense(Dense::new(64, 10)),
    ]
}

/// The second layer's 300 inputs span more than one depth block of the
/// matrix product (`simd::GEMM_KC`), whose partial sums are then added.
fn mlp() -> Vec<Layer> {
    vec![
        Layer::Dense(Dense::new(64, 300).with_relu()),
        Layer::Dropout {
            features: 300,
            dropout: Dropout::vanilla(0.7).unwrap(),
        },
        Layer::Dense(Dense::new(300, 10)),
    ]
}

/// Parameters after `epochs` epochs on 300 digits, and the last epoch's
/// validation accuracy.
fn train(layers: &[Layer], optimizer: Optimizer, lr: f32, epochs: u32) -> (Vec<f32>, f32) {
    let all = Icls::parse(TRAIN).unwrap();
    let (train, val) = (all.slice(0, 300).unwrap(), all.slice(300, 500).unwrap());
    let cfg = TrainConfig::new(16, LearningRate::constant(lr))
        .with_update(Update::new(optimizer, WeightDecay::NONE).unwrap())
        .with_seed(11);
    let net = Network::new(layers);
    let mut mem = vec![0f32; net.memory_len(cfg.batch, optimizer.state_per_param(), false)];
    let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); epochs as usize];
    trainer
        .fit(&train, &val, epochs, &mut order, &mut history)
        .unwrap();
    (
        trainer.params().to_vec(),
        history[history.len() - 1].val.accuracy,
    )
}

fn runs() -> [(&'static str, Vec<f32>, f32); 2] {
    let (cnn_params, cnn_acc) = train(&cnn(), Optimizer::ADAM, 3e-3, 3);
    let (mlp_params, mlp_acc) = train(&mlp(), Optimizer::Momentum { momentum: 0.9 }, 0.02, 3);
    [("cnn", cnn_params, cnn_acc), ("mlp", mlp_params, mlp_acc)]
}

#[test]
fn cross_target_training_learns_and_is_written_for_comparison() {
    let runs = runs();
    for (name, params, acc) in &runs {
        assert!(params.iter().all(|p| p.is_finite()), "{name}");
        // Ten classes: chance is 0.1.
        assert!(*acc > 0.5, "{name} reached only {acc} on {}", build_name());
    }
    let Some(dir) = std::env::var_os(DIR_VARIABLE) else {
        return;
    };
    let mut text = format!("build {}\narithmetic {}\n", build_name(), arithmetic());
    for (name, params, acc) in &runs {
        text += &format!("{name}-accuracy {:08x}\n{name}", acc.to_bits());
        for p in params {
            text += &format!(" {:08x}", p.to_bits());
        }
        text += "\n";
    }
    let path = std::path::Path::new(&dir).join(format!("{}.bits", build_name()));
    std::fs::write(&path, text).unwrap();
}

/// One target's results: its build, its arithmetic, and named bit vectors.
struct Results {
    build: String,
    arithmetic: String,
    values: Vec<(String, Vec<f32>)>,
}

fn read_results(path: &std::path::Path) -> Results {
    let text = std::fs::read_to_string(path).unwrap();
    let mut results = Results {
        build: String::new(),
        arithmetic: String::new(),
        values: Vec::new(),
    };
    for line in text.lines() {
        let mut words = line.split(' ');
        let key = words.next().unwrap().to_string();
        match key.as_str() {
            "build" => results.build = words.next().unwrap().to_string(),
            "arithmetic" => results.arithmetic = words.next().unwrap().to_string(),
            _ => {
                let values = words
                    .map(|w| f32::from_bits(u32::from_str_radix(w, 16).unwrap()))
                    .collect();
                results.values.push((key, values));
            }
        }
    }
    results
}

/// The 99th percentile and the largest of the differences between two
/// parameter vectors, relative to the largest magnitude in either (so they
/// read as "parts of the typical weight").
fn relative_gaps(a: &[f32], b: &[f32]) -> (f32, f32) {
    let scale = a.iter().chain(b).fold(0f32, |m, x| m.max(x.abs())).max(1.0);
    let mut gaps: Vec<f32> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / scale)
        .collect();
    gaps.sort_by(f32::total_cmp);
    let p99 = gaps[(gaps.len() * 99 / 100).saturating_sub(1)];
    (p99, gaps[gaps.len() - 1])
}

/// Where the arithmetic differs, training drifts by rounding. Almost every
/// parameter stays within a few ulps (measured: 99th percentile 7.5e-8 of the
/// largest weight after three epochs), but Adam divides by the root of the
/// squared gradient, so a parameter whose gradient is near zero moves by up to
/// the learning rate in a direction rounding decides: 3 of the CNN's 698
/// parameters moved by more than 1e-3, the largest by 1.9% of the largest
/// weight, and 1 of 200 validation digits changed class. The bounds below
/// leave room over those figures; a wrong kernel is off everywhere.
const P99_TOLERANCE: f32 = 1e-5;
const MAX_TOLERANCE: f32 = 0.05;
const ACCURACY_TOLERANCE: f32 = 0.02;

#[test]
#[ignore = "reads every target's results: scripts/test-cross-target.sh runs it after them"]
fn cross_target_results_agree() {
    let Some(dir) = std::env::var_os(DIR_VARIABLE) else {
        return;
    };
    let mut all: Vec<Results> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bits"))
        .map(|p| read_results(&p))
        .collect();
    all.sort_by(|a, b| a.build.cmp(&b.build));
    assert!(all.len() >= 2, "fewer than two targets' results in {dir:?}");
    let mut failures = Vec::new();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_eq!(a.values.len(), b.values.len());
            for ((name, x), (other, y)) in a.values.iter().zip(&b.values) {
                assert_eq!(name, other);
                assert_eq!(x.len(), y.len(), "{name}: {} vs {}", a.build, b.build);
                let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
                let (p99, gap) = if name.ends_with("-accuracy") {
                    (0.0, (x[0] - y[0]).abs())
                } else {
                    relative_gaps(x, y)
                };
                let allowed = if name.ends_with("-accuracy") {
                    ACCURACY_TOLERANCE
                } else {
                    MAX_TOLERANCE
                };
                let verdict = if same {
                    "same bits"
                } else if a.arithmetic == b.arithmetic {
                    "DIFFERENT BITS with the same arithmetic"
                } else if gap <= allowed && p99 <= P99_TOLERANCE {
                    "within tolerance"
                } else {
                    "OUTSIDE TOLERANCE"
                };
                let line = format!(
                    "{name}: {} ({}) vs {} ({}): {verdict}, largest gap {gap:.1e}, 99th percentile {p99:.1e}",
                    a.build, a.arithmetic, b.build, b.arithmetic
                );
                println!("{line}");
                if verdict.contains(char::is_uppercase) {
                    failures.push(line);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
