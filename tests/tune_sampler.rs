//! Search spaces and samplers: golden values (the streams are API), grids
//! visit every point once, points stay in bounds, marginals are right, bad
//! spaces are refused.

use tinyreg::tune::{Param, Point, Sampler, Space, Value};
use tinyreg::Error;

const OPTIMIZERS: &[&str] = &["sgd", "adam"];

fn space3() -> Space<3> {
    Space::new([
        Param::log_uniform("lr", 1e-4, 1e-1),
        Param::uniform("keep", 0.5, 1.0),
        Param::int_log("width", 16, 256),
    ])
    .unwrap()
}

fn reals<const N: usize>(p: &Point<N>) -> [f64; N] {
    core::array::from_fn(|i| p.values[i].as_f64().unwrap())
}

/// The first points of each sampler for seed 2026, pinned: a change to any
/// stream is a breaking change to every recorded search.
#[test]
fn golden_points_per_sampler() {
    let space = space3();
    let golden: [(Sampler, [[f64; 3]; 3]); 4] = [
        (Sampler::Random, GOLDEN_RANDOM),
        (Sampler::Sobol, GOLDEN_SOBOL),
        (Sampler::LatinHypercube { trials: 16 }, GOLDEN_LHS),
        (Sampler::Grid { shuffled: true }, GOLDEN_GRID),
    ];
    for (sampler, expected) in golden {
        for (i, want) in expected.iter().enumerate() {
            let got = reals(&space.point(sampler, 2026, i as u64).unwrap());
            for d in 0..3 {
                assert!(
                    (got[d] - want[d]).abs() <= 1e-12 * want[d].abs(),
                    "{sampler:?} trial {i} dim {d}: {} != {}",
                    got[d],
                    want[d]
                );
            }
        }
    }
}

const GOLDEN_RANDOM: [[f64; 3]; 3] = [
    [0.07907448513846815, 0.8580738002177082, 225.0],
    [0.0007474936242213233, 0.826491298872919, 43.0],
    [0.00012048722144487889, 0.8354585562677246, 79.0],
];
const GOLDEN_SOBOL: [[f64; 3]; 3] = [
    [0.0006880215688518844, 0.8695514407590963, 149.0],
    [0.08884538596625957, 0.6513095398549922, 22.0],
    [0.0004641022395432129, 0.5979344770894386, 36.0],
];
const GOLDEN_LHS: [[f64; 3]; 3] = [
    [0.0013224647471889433, 0.7225720605420837, 97.0],
    [0.00010725581899012382, 0.968653563797021, 41.0],
    [0.0019499052601656042, 0.7637680051394662, 21.0],
];
const GOLDEN_GRID: [[f64; 3]; 3] = [
    [0.1, 0.75, 256.0],
    [0.0001, 0.75, 64.0],
    [0.0031622776601683816, 0.5, 16.0],
];

/// The firmware's space and seed: trial 5 of each sampler as `f64` bits. The
/// firmware checks the same constants under QEMU on the Cortex-M4F and the
/// RV32 (software floats) and fails if any differs.
#[test]
fn golden_points_match_the_firmware() {
    let space = Space::new([
        Param::log_uniform("lr", 3e-4, 3e-2),
        Param::uniform("keep", 0.6, 1.0),
    ])
    .unwrap();
    let golden: [(Sampler, [u64; 2]); 4] = [
        (
            Sampler::Random,
            [0x3f43_c5e6_0987_efc5, 0x3fea_8a76_7489_3712],
        ),
        (
            Sampler::Sobol,
            [0x3f8a_113c_a424_0064, 0x3fea_b60e_0b79_999a],
        ),
        (
            Sampler::LatinHypercube { trials: 8 },
            [0x3f9a_2b2f_c33f_2c50, 0x3fe3_84bc_950a_e1f9],
        ),
        (
            Sampler::Grid { shuffled: true },
            [0x3f68_9374_bc6a_7ef8, 0x3fe9_9999_9999_999a],
        ),
    ];
    for (sampler, bits) in golden {
        let p = space.point(sampler, 2026, 5).unwrap();
        let got = [0, 1].map(|i| p.values[i].as_f64().unwrap().to_bits());
        assert_eq!(got, bits, "{sampler:?}");
    }
}

#[test]
fn grid_visits_every_point_once_in_order_and_shuffled() {
    let space = space3();
    let n = space.grid_len().unwrap();
    assert_eq!(n, 27);
    for shuffled in [false, true] {
        let mut seen: Vec<[u64; 3]> = Vec::new();
        for i in 0..n {
            let p = space.point(Sampler::Grid { shuffled }, 9, i).unwrap();
            let key = p.unit.map(|u| (u * 1000.0).round() as u64);
            assert!(!seen.contains(&key), "grid point {key:?} visited twice");
            seen.push(key);
        }
        assert_eq!(seen.len(), 27);
        assert_eq!(
            space.point(Sampler::Grid { shuffled }, 9, n),
            Err(Error::IndexOutOfRange { index: 27, len: 27 })
        );
    }
    // The in-order grid's corners are the bounds, exactly.
    let first = reals(
        &space
            .point(Sampler::Grid { shuffled: false }, 0, 0)
            .unwrap(),
    );
    let last = reals(
        &space
            .point(Sampler::Grid { shuffled: false }, 0, 26)
            .unwrap(),
    );
    assert_eq!(first, [1e-4, 0.5, 16.0]);
    assert_eq!(last, [1e-1, 1.0, 256.0]);
}

#[test]
fn conditional_grid_has_one_canonical_point_per_configuration() {
    let space = Space::new([
        Param::choice("optimizer", OPTIMIZERS),
        Param::uniform("momentum", 0.5, 0.9).active_when(0, 0),
        Param::log_uniform("lr", 1e-3, 1e-1).grid_levels(2),
    ])
    .unwrap();
    assert_eq!(space.grid_len().unwrap(), 2 * 3 * 2);
    let canonical: Vec<Point<3>> = (0..12)
        .map(|i| {
            space
                .point(Sampler::Grid { shuffled: false }, 0, i)
                .unwrap()
        })
        .filter(|p| space.is_canonical(p))
        .collect();
    // SGD: 3 momenta x 2 rates; Adam: 2 rates (momentum inactive).
    assert_eq!(canonical.len(), 8);
    let adam = canonical
        .iter()
        .filter(|p| p.values[0] == Value::Choice(1))
        .count();
    assert_eq!(adam, 2);
    for p in &canonical {
        assert_eq!(
            p.values[1] == Value::Inactive,
            p.values[0] == Value::Choice(1)
        );
    }
}

#[test]
fn points_stay_in_bounds_for_every_sampler() {
    let space = Space::new([
        Param::log_uniform("a", 1e-7, 10.0),
        Param::uniform("b", -3.0, 3.0),
        Param::int("c", -5, 5),
        Param::int_log("d", 1, 1000),
        Param::choice("e", OPTIMIZERS),
    ])
    .unwrap();
    for sampler in [
        Sampler::Random,
        Sampler::Sobol,
        Sampler::LatinHypercube { trials: 500 },
        Sampler::Grid { shuffled: true },
    ] {
        let n = sampler.len(&space).unwrap().min(500);
        for i in 0..n {
            let p = space.point(sampler, 1, i).unwrap();
            let v = reals(&p);
            assert!((1e-7..=10.0).contains(&v[0]), "{sampler:?} {v:?}");
            assert!((-3.0..=3.0).contains(&v[1]));
            assert!((-5.0..=5.0).contains(&v[2]) && v[2].fract() == 0.0);
            assert!((1.0..=1000.0).contains(&v[3]) && v[3].fract() == 0.0);
            assert!(v[4] == 0.0 || v[4] == 1.0);
            assert!(p.unit.iter().all(|u| (0.0..=1.0).contains(u)));
        }
    }
}

/// Kolmogorov-Smirnov: log-uniform draws have `ln x` uniform on
/// `[ln a, ln b]`. With 4000 draws the 0.1% critical value of `D` is
/// `1.95 / sqrt(4000) = 0.031`; random and scrambled Sobol must pass.
#[test]
fn log_uniform_marginal_passes_kolmogorov_smirnov() {
    let space = Space::new([Param::log_uniform("lr", 1e-6, 1.0)]).unwrap();
    for sampler in [Sampler::Random, Sampler::Sobol] {
        let mut u: Vec<f64> = (0..4000)
            .map(|i| {
                let x = space.point(sampler, 77, i).unwrap().values[0]
                    .as_f64()
                    .unwrap();
                (x.ln() - 1e-6f64.ln()) / (1.0f64.ln() - 1e-6f64.ln())
            })
            .collect();
        u.sort_by(f64::total_cmp);
        let n = u.len() as f64;
        let d = u
            .iter()
            .enumerate()
            .map(|(i, &x)| ((i + 1) as f64 / n - x).max(x - i as f64 / n))
            .fold(0.0, f64::max);
        assert!(d < 1.95 / n.sqrt(), "{sampler:?}: D = {d}");
    }
    // And a wrong marginal is caught: plain uniform draws read in log space.
    let uniform = Space::new([Param::uniform("lr", 1e-6, 1.0)]).unwrap();
    let mut u: Vec<f64> = (0..4000)
        .map(|i| {
            let x = uniform.point(Sampler::Random, 77, i).unwrap().values[0]
                .as_f64()
                .unwrap();
            (x.ln() - 1e-6f64.ln()) / (1.0f64.ln() - 1e-6f64.ln())
        })
        .collect();
    u.sort_by(f64::total_cmp);
    let d = u
        .iter()
        .enumerate()
        .map(|(i, &x)| ((i + 1) as f64 / 4000.0 - x).max(x - i as f64 / 4000.0))
        .fold(0.0, f64::max);
    assert!(d > 0.5);
}

/// Sobol's net property survives the scrambling: the first 2^m points put one
/// point in each of the 2^m equal intervals of every axis (and, for the first
/// two axes, in each of the 2^m dyadic boxes of any shape).
#[test]
fn scrambled_sobol_is_stratified() {
    let space = Space::new([
        Param::uniform("a", 0.0, 1.0),
        Param::uniform("b", 0.0, 1.0),
        Param::uniform("c", 0.0, 1.0),
    ])
    .unwrap();
    let m = 6;
    let n = 1usize << m;
    let pts: Vec<[f64; 3]> = (0..n as u64)
        .map(|i| space.point(Sampler::Sobol, 5, i).unwrap().unit)
        .collect();
    for d in 0..3 {
        let mut hit = vec![false; n];
        for p in &pts {
            let cell = (p[d] * n as f64) as usize;
            assert!(!hit[cell], "axis {d}: two points in interval {cell}");
            hit[cell] = true;
        }
    }
    for k in 0..=m {
        let (cols, rows) = (1usize << k, 1usize << (m - k));
        let mut hit = vec![false; n];
        for p in &pts {
            let cell = (p[0] * cols as f64) as usize * rows + (p[1] * rows as f64) as usize;
            assert!(!hit[cell], "box {cols}x{rows}: two points in cell {cell}");
            hit[cell] = true;
        }
    }
}

#[test]
fn latin_hypercube_puts_one_point_per_stratum() {
    let space = space3();
    for trials in [1u64, 7, 16, 100] {
        for d in 0..3 {
            let mut hit = vec![false; trials as usize];
            for i in 0..trials {
                let p = space
                    .point(Sampler::LatinHypercube { trials }, 3, i)
                    .unwrap();
                let s = (p.unit[d] * trials as f64) as usize;
                assert!(!hit[s]);
                hit[s] = true;
            }
        }
    }
}

#[test]
fn random_access_equals_sequential_order() {
    // A worker that computes trial 37 alone gets what a sequential run gets.
    let space = space3();
    for sampler in [
        Sampler::Random,
        Sampler::Sobol,
        Sampler::LatinHypercube { trials: 64 },
        Sampler::Grid { shuffled: true },
    ] {
        let sequential: Vec<_> = (0..27)
            .map(|i| space.point(sampler, 11, i).unwrap())
            .collect();
        for i in (0..27).rev() {
            assert_eq!(space.point(sampler, 11, i).unwrap(), sequential[i as usize]);
        }
        // Different seeds differ.
        assert_ne!(space.point(sampler, 12, 3).unwrap(), sequential[3]);
    }
}

#[test]
fn bad_spaces_and_samplers_are_refused() {
    let bad = |p: Param| Space::new([Param::uniform("ok", 0.0, 1.0), p]).unwrap_err();
    assert!(matches!(
        Space::<0>::new([]),
        Err(Error::InvalidSetting {
            setting: "params",
            ..
        })
    ));
    for p in [
        Param::uniform("x", 2.0, 1.0),
        Param::uniform("x", -1e308, 1e308), // a width past f64::MAX: NaN points
        Param::uniform("x", f64::NAN, 1.0),
        Param::uniform("x", 0.0, f64::INFINITY),
        Param::log_uniform("x", 0.0, 1.0),
        Param::log_uniform("x", -1.0, 1.0),
        Param::log_uniform("x", 1.0, f64::NAN),
        Param::int("x", 5, 4),
        Param::int_log("x", 0, 4),
        Param::choice("x", &[]),
        Param::uniform("x", 0.0, 1.0).grid_levels(0),
        Param::uniform("x", 0.0, 1.0).active_when(0, 0), // not a choice
        Param::uniform("x", 0.0, 1.0).active_when(1, 0), // not earlier
    ] {
        let e = bad(p);
        assert!(
            matches!(e, Error::InvalidParam { param: 1, .. }),
            "{p:?}: {e}"
        );
    }
    let choice = Space::new([
        Param::choice("o", OPTIMIZERS),
        Param::uniform("m", 0.0, 1.0).active_when(0, 2),
    ]);
    assert!(matches!(choice, Err(Error::InvalidParam { param: 1, .. })));
    let space = space3();
    assert!(matches!(
        space.point(Sampler::LatinHypercube { trials: 0 }, 0, 0),
        Err(Error::InvalidSetting {
            setting: "trials",
            ..
        })
    ));
    assert!(matches!(
        space.point(Sampler::LatinHypercube { trials: 5 }, 0, 5),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        space.point(Sampler::Sobol, 0, 1 << 32),
        Err(Error::IndexOutOfRange { .. })
    ));
    let wide = Space::new([Param::uniform("x", 0.0, 1.0); 17]).unwrap();
    assert!(matches!(
        wide.point(Sampler::Sobol, 0, 0),
        Err(Error::InvalidConfig { .. })
    ));
    let huge = Space::new([Param::uniform("x", 0.0, 1.0).grid_levels(u32::MAX); 3]).unwrap();
    assert_eq!(huge.grid_len(), Err(Error::ShapeOverflow));
}
