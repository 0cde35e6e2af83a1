//! Fractional max pooling as a network layer: Graham's regions and PyTorch's
//! windows, drawn per batch or per plane; eval's averaged samplings bit for
//! bit, its exact mode against the mean of train, train's draws against the
//! windows they must come from, gradients under fixed draws, and refusals.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::pool::*;
use tinyreg::{
    Conv2d, Dense, EpochMetrics, FmpEval, FmpIncrements, FmpWindows, Icls, ImageShape, Layer,
    LearningRate, Mode, Network, Optimizer, TrainConfig, Trainer, Update, WeightDecay,
};

mod common;
use common::check_gradients;

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");
const TEST: &[u8] = include_bytes!("../data/digits-test.bin");

fn config(batch: usize, seed: u64, optimizer: Optimizer) -> TrainConfig {
    TrainConfig::new(batch, LearningRate::constant(2e-3))
        .with_update(Update::new(optimizer, WeightDecay::NONE).unwrap())
        .with_seed(seed)
}

const fn graham(increments: FmpIncrements, overlapping: bool) -> FmpWindows {
    FmpWindows::Graham {
        increments,
        overlapping,
    }
}

/// Every kind of regions a layer can draw.
const WINDOWS: [FmpWindows; 6] = [
    graham(FmpIncrements::Pseudorandom, false),
    graham(FmpIncrements::Pseudorandom, true),
    graham(FmpIncrements::Random, false),
    graham(FmpIncrements::Random, true),
    FmpWindows::PyTorch { kernel: 2 },
    FmpWindows::PyTorch { kernel: 3 },
];

fn fmp(
    channels: usize,
    side: usize,
    out: usize,
    windows: FmpWindows,
    per_plane: bool,
    eval: FmpEval,
) -> Layer {
    Layer::FractionalMaxPool {
        shape: ImageShape {
            channels,
            height: side,
            width: side,
        },
        out_height: out,
        out_width: out,
        windows,
        per_plane,
        eval,
    }
}

/// The row and column regions of `windows` at `u` (both axes), or from `rng`
/// for random boundaries.
fn regions_at(
    windows: FmpWindows,
    u: [f32; 2],
    rng: &mut Xoshiro128PlusPlus,
    side: usize,
    out: usize,
) -> [Vec<Region>; 2] {
    let mut axes = [vec![(0u16, 0u16); out], vec![(0u16, 0u16); out]];
    for (axis, regions) in axes.iter_mut().enumerate() {
        let mut bounds = vec![0u16; out + 1];
        match windows {
            FmpWindows::PyTorch { kernel } => {
                pytorch_fmp_regions(u[axis], side, out, kernel as usize, regions).unwrap();
                continue;
            }
            FmpWindows::Graham {
                increments: FmpIncrements::Pseudorandom,
                ..
            } => fmp_pseudorandom_bounds(u[axis], side, out, &mut bounds).unwrap(),
            FmpWindows::Graham {
                increments: FmpIncrements::Random,
                ..
            } => fmp_random_bounds(rng, side, out, &mut bounds).unwrap(),
        }
        let FmpWindows::Graham { overlapping, .. } = windows else {
            unreachable!()
        };
        fmp_regions(&bounds, overlapping, side, regions).unwrap();
    }
    axes
}

fn pooled(x: &[f32], side: usize, [rows, cols]: &[Vec<Region>; 2]) -> Vec<f32> {
    let planes = x.len() / (side * side);
    let n = planes * rows.len() * cols.len();
    let (mut y, mut arg) = (vec![0f32; n], vec![0u8; n]);
    region_max_pool_forward(
        PoolRegions {
            planes,
            height: side,
            width: side,
            rows,
            cols,
        },
        x,
        &mut y,
        &mut arg,
    )
    .unwrap();
    y
}

/// Eval is the documented average: sampling `s` of `n` at
/// `u = (s + 1/2) / n` (pseudorandom boundaries, PyTorch's windows) or from
/// seed `s` (random), rows then columns, summed in order and scaled by `1/n`
/// — bit for bit, and the same whether train draws per batch or per plane.
#[test]
fn fractional_max_pool_eval_averages_its_samplings() {
    let (side, out, n) = (9usize, 6usize, 3usize);
    let x: Vec<f32> = (0..2 * side * side)
        .map(|i| ((i * 29) % 31) as f32)
        .collect();
    for windows in WINDOWS {
        let mut want = vec![0f32; 2 * out * out];
        for s in 0..n {
            let u = (s as f32 + 0.5) / n as f32;
            let mut rng = Xoshiro128PlusPlus::seed_from_u64(s as u64);
            let y = pooled(&x, side, &regions_at(windows, [u; 2], &mut rng, side, out));
            for (w, v) in want.iter_mut().zip(&y) {
                *w = if s == 0 { *v } else { *w + v };
            }
        }
        want.iter_mut().for_each(|w| *w *= 1.0 / n as f32);
        for per_plane in [false, true] {
            let layers = [fmp(
                2,
                side,
                out,
                windows,
                per_plane,
                FmpEval::Average(n as u8),
            )];
            let net = Network::new(&layers);
            let mut mem = vec![0f32; net.memory_len(1, 0, false)];
            let mut trainer = Trainer::new(net, config(1, 0, Optimizer::Sgd), &mut mem).unwrap();
            let mut got = vec![0f32; 2 * out * out];
            trainer.logits(&x, 1, Mode::Eval, &mut got).unwrap();
            assert_eq!(got, want, "{windows:?} per plane {per_plane}");
        }
    }
}

/// `FmpEval::Exact` is the expectation of train: the mean of many train
/// passes (each drawing new regions) is within 6 standard errors of the exact
/// eval output at every position, for every kind of regions drawn per batch,
/// and for PyTorch's windows and Graham's random regions drawn per plane.
#[test]
fn fractional_max_pool_exact_eval_is_the_expectation_of_train() {
    let (side, out) = (7usize, 5usize);
    let x: Vec<f32> = (0..2 * side * side)
        .map(|i| ((i * 23) % 19) as f32)
        .collect();
    let n = 2 * out * out;
    // 7 -> 5 with 3x3 windows starts at 0..=4 whatever u is: nothing to average.
    for windows in &WINDOWS[..5] {
        let per_plane_too = matches!(
            windows,
            FmpWindows::PyTorch { .. }
                | FmpWindows::Graham {
                    increments: FmpIncrements::Random,
                    overlapping: true
                }
        );
        for per_plane in [false, true].into_iter().take(1 + per_plane_too as usize) {
            let layers = [fmp(2, side, out, *windows, per_plane, FmpEval::Exact)];
            let net = Network::new(&layers);
            let mut mem = vec![0f32; net.memory_len(1, 0, false)];
            let mut trainer = Trainer::new(net, config(1, 3, Optimizer::Sgd), &mut mem).unwrap();
            let mut exact = vec![0f32; n];
            trainer.logits(&x, 1, Mode::Eval, &mut exact).unwrap();
            const T: usize = 4_000;
            let (mut sum, mut sq) = (vec![0f64; n], vec![0f64; n]);
            let mut y = vec![0f32; n];
            for _ in 0..T {
                trainer.logits(&x, 1, Mode::Train, &mut y).unwrap();
                for k in 0..n {
                    sum[k] += y[k] as f64;
                    sq[k] += (y[k] as f64).powi(2);
                }
            }
            let mut varies = false;
            for k in 0..n {
                let mean = sum[k] / T as f64;
                let var = (sq[k] / T as f64 - mean * mean).max(0.0);
                varies |= var > 0.0;
                let se = (var / T as f64).sqrt();
                assert!(
                    (mean - exact[k] as f64).abs() <= 6.0 * se + 1e-4,
                    "{windows:?} per plane {per_plane} output {k}: train mean {mean} vs exact {}",
                    exact[k]
                );
            }
            assert!(varies, "{windows:?}: train draws differ");
        }
    }
}

/// Train draws the windows it says: with PyTorch's windows, every plane's
/// train output is the pooling at one of the `pytorch_fmp_pieces` values of
/// `u` per axis; drawn per plane, two identical planes part ways, drawn per
/// batch they never do.
#[test]
fn fractional_max_pool_train_draws_pytorch_windows_per_plane() {
    let (side, out, k) = (9usize, 6usize, 2usize);
    let plane: Vec<f32> = (0..side * side).map(|i| ((i * 37) % 41) as f32).collect();
    let x = [plane.clone(), plane.clone()].concat();
    let pieces = pytorch_fmp_pieces(side, out, k);
    assert_eq!(pieces, 7, "a = 7/5");
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(0);
    let windows = FmpWindows::PyTorch { kernel: k as u8 };
    let candidates: Vec<Vec<f32>> = (0..pieces * pieces)
        .map(|s| {
            let mid = |j: usize| (j as f32 + 0.5) / pieces as f32;
            let u = [mid(s % pieces), mid(s / pieces)];
            pooled(&plane, side, &regions_at(windows, u, &mut rng, side, out))
        })
        .collect();
    for per_plane in [false, true] {
        let layers = [fmp(2, side, out, windows, per_plane, FmpEval::Average(1))];
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(1, 0, false)];
        let mut trainer = Trainer::new(net, config(1, 5, Optimizer::Sgd), &mut mem).unwrap();
        let mut y = vec![0f32; 2 * out * out];
        let mut parted = 0;
        for _ in 0..50 {
            trainer.logits(&x, 1, Mode::Train, &mut y).unwrap();
            let (a, b) = y.split_at(out * out);
            for p in [a, b] {
                assert!(
                    candidates.iter().any(|c| c == p),
                    "{p:?} is no PyTorch pooling"
                );
            }
            parted += (a != b) as usize;
        }
        if per_plane {
            assert!(parted > 25, "per plane, {parted} of 50 passes differed");
        } else {
            assert_eq!(parted, 0, "one draw a batch");
        }
    }
}

/// Conv, fractional pooling drawn per plane (both kinds of regions), dense:
/// the trainer's gradients against central differences of its loss under
/// the same draws.
#[test]
fn fractional_max_pool_per_plane_gradients_match_finite_differences() {
    let conv = Conv2d {
        in_channels: 1,
        out_channels: 2,
        height: 8,
        width: 8,
        k: 3,
        stride: 1,
        padding: 1,
    };
    for windows in [
        graham(FmpIncrements::Random, true),
        FmpWindows::PyTorch { kernel: 2 },
    ] {
        let layers = [
            Layer::Conv2d { conv, relu: false },
            fmp(2, 8, 5, windows, true, FmpEval::Average(1)),
            Layer::Dense(Dense::new(50, 10)),
        ];
        let data = Icls::parse(TRAIN).unwrap();
        let idx: Vec<u32> = (0..4).collect();
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(4, 0, false)];
        let mut trainer = Trainer::new(net, config(4, 6, Optimizer::Sgd), &mut mem).unwrap();
        let checked = check_gradients(&mut trainer, &data, &idx, 7, &format!("{windows:?}"));
        assert!(checked > 70);
    }
}

/// Fractional pooling in a network learns (both kinds of regions, per batch
/// and per plane), and eval is deterministic.
#[test]
fn fractional_max_pool_trains() {
    for (windows, per_plane) in [
        (graham(FmpIncrements::Pseudorandom, true), false),
        (graham(FmpIncrements::Random, true), false),
        (FmpWindows::PyTorch { kernel: 2 }, true),
    ] {
        let layers = [
            fmp(1, 8, 5, windows, per_plane, FmpEval::Average(4)),
            Layer::Dense(Dense::new(25, 32).with_relu()),
            Layer::Dense(Dense::new(32, 10)),
        ];
        let train = Icls::parse(TRAIN).unwrap().slice(0, 512).unwrap();
        let test = Icls::parse(TEST).unwrap();
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(16, 2, false)];
        let mut trainer = Trainer::new(net, config(16, 2, Optimizer::ADAM), &mut mem).unwrap();
        let x: Vec<f32> = (0..64).map(|i| ((i * 13) % 17) as f32 / 17.0).collect();
        let (mut a, mut b, mut e1, mut e2) = ([0f32; 10], [0f32; 10], [0f32; 10], [0f32; 10]);
        let mut differs = false;
        for _ in 0..10 {
            trainer.logits(&x, 1, Mode::Train, &mut a).unwrap();
            trainer.logits(&x, 1, Mode::Train, &mut b).unwrap();
            differs |= a != b;
        }
        assert!(differs, "train samplings vary");
        trainer.logits(&x, 1, Mode::Eval, &mut e1).unwrap();
        trainer.logits(&x, 1, Mode::Eval, &mut e2).unwrap();
        assert_eq!(e1, e2);
        let mut order = vec![0u32; train.count];
        let mut history = vec![EpochMetrics::default(); 8];
        trainer
            .fit(&train, &test, 8, &mut order, &mut history)
            .unwrap();
        // 8x8 digits pooled to 5x5 keep enough to learn from (chance is 0.1).
        let losses: Vec<f32> = history.iter().map(|h| h.train.loss).collect();
        assert!(losses[7] < 0.7 * losses[0], "{windows:?}: {losses:?}");
        assert!(history[7].val.accuracy > 0.5, "{}", history[7].val.accuracy);
    }
}

/// Refused with a typed error before anything runs: exact eval with too many
/// samplings, `Average(0)`, PyTorch windows that do not fit (`out + k - 1 >
/// in`), a zero or oversized kernel, and Graham's regions outside
/// `out < in <= 2 out`.
#[test]
fn fractional_max_pool_bad_layers_are_refused() {
    let pseudo = graham(FmpIncrements::Pseudorandom, false);
    for bad in [
        // 32 -> 22 random: C(22, 10)^2 samplings.
        fmp(
            1,
            32,
            22,
            graham(FmpIncrements::Random, true),
            false,
            FmpEval::Exact,
        ),
        fmp(1, 7, 5, pseudo, false, FmpEval::Average(0)),
        fmp(
            1,
            7,
            5,
            FmpWindows::PyTorch { kernel: 4 },
            true,
            FmpEval::Average(1),
        ),
        fmp(
            1,
            7,
            5,
            FmpWindows::PyTorch { kernel: 0 },
            false,
            FmpEval::Average(1),
        ),
        fmp(
            1,
            40,
            20,
            FmpWindows::PyTorch { kernel: 17 },
            false,
            FmpEval::Average(1),
        ),
        fmp(1, 7, 3, pseudo, true, FmpEval::Average(1)),
        fmp(1, 7, 7, pseudo, false, FmpEval::Average(1)),
    ] {
        let layers = [bad];
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(1, 0, false)];
        assert!(
            matches!(
                Trainer::new(net, config(1, 3, Optimizer::Sgd), &mut mem),
                Err(tinyreg::Error::InvalidConfig { .. })
            ),
            "{bad:?}"
        );
    }
    // PyTorch's windows may shrink by more than half: 28 -> 13 with 3x3.
    let layers = [fmp(
        1,
        28,
        13,
        FmpWindows::PyTorch { kernel: 3 },
        true,
        FmpEval::Exact,
    )];
    let net = Network::new(&layers);
    let mut mem = vec![0f32; net.memory_len(1, 0, false)];
    assert!(Trainer::new(net, config(1, 3, Optimizer::Sgd), &mut mem).is_ok());
}
