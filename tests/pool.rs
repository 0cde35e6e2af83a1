#![allow(clippy::needless_range_loop)] // index loops mirror the pooling formulas
//! Max pooling and fractional max pooling: region sequences, forward against a
//! brute-force oracle (ties, NaN), backward routing, PyTorch's windows.
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::pool::*;

fn check_bounds(b: &[u16], input: usize) {
    assert_eq!(b[0], 0);
    assert_eq!(*b.last().unwrap() as usize, input);
    assert!(b.windows(2).all(|w| matches!(w[1] - w[0], 1 | 2)), "{b:?}");
}

#[test]
fn fmp_bounds_start_at_zero_end_at_input_with_steps_of_one_or_two() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let mut b = [0u16; 64];
    for output in 1..40 {
        for input in output..=2 * output {
            fmp_random_bounds(&mut rng, input, output, &mut b).unwrap();
            check_bounds(&b[..=output], input);
            let twos = b[..=output].windows(2).filter(|w| w[1] - w[0] == 2).count();
            assert_eq!(twos, input - output);
            for u in [0.0f32, 0.123, 0.5, 0.999_999] {
                fmp_pseudorandom_bounds(u, input, output, &mut b).unwrap();
                check_bounds(&b[..=output], input);
            }
        }
    }
    assert!(fmp_random_bounds(&mut rng, 10, 4, &mut b).is_err()); // ratio above 2
    assert!(fmp_pseudorandom_bounds(1.0, 5, 4, &mut b).is_err());
}

/// Every arrangement of the random boundaries is equally likely: in = 5,
/// out = 3 has 3 arrangements of (2, 2, 1).
#[test]
fn fmp_random_bounds_are_uniform() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    let mut counts = std::collections::HashMap::new();
    let mut b = [0u16; 4];
    for _ in 0..30_000 {
        fmp_random_bounds(&mut rng, 5, 3, &mut b).unwrap();
        *counts.entry(b).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 3);
    let chi2: f64 = counts
        .values()
        .map(|&c| (c as f64 - 10_000.0).powi(2) / 10_000.0)
        .sum();
    assert!(chi2 < 25.0, "chi2 {chi2}");
}

/// Worked by hand from PyTorch's generate_intervals: in 10, out 4, k 2, u 0.5:
/// a = 8/3; starts floor((i + 0.5) a) - floor(0.5 a) = 1-1, 4-1, 6-1, then 8.
#[test]
fn pytorch_fmp_regions_match_worked_examples() {
    let mut r = [(0u16, 0u16); 8];
    pytorch_fmp_regions(0.5, 10, 4, 2, &mut r).unwrap();
    assert_eq!(&r[..4], &[(0, 2), (3, 2), (5, 2), (8, 2)]);
    // u = 0: starts floor(i a): 0, 2, 5, then 8.
    pytorch_fmp_regions(0.0, 10, 4, 2, &mut r).unwrap();
    assert_eq!(&r[..4], &[(0, 2), (2, 2), (5, 2), (8, 2)]);
    // One output: the last window only.
    pytorch_fmp_regions(0.3, 7, 1, 3, &mut r).unwrap();
    assert_eq!(r[0], (4, 3));
}

fn brute_force(h: usize, w: usize, rows: &[Region], cols: &[Region], x: &[f32]) -> Vec<f32> {
    let mut out = Vec::new();
    for &(r0, rl) in rows {
        for &(c0, cl) in cols {
            let mut vals = Vec::new();
            for r in r0..r0 + rl {
                for c in c0..c0 + cl {
                    vals.push(x[r as usize * w + c as usize]);
                }
            }
            let _ = h;
            out.push(if vals.iter().any(|v| v.is_nan()) {
                f32::NAN
            } else {
                vals.iter().copied().fold(f32::NEG_INFINITY, f32::max)
            });
        }
    }
    out
}

#[test]
fn region_max_pool_matches_brute_force_and_routes_gradients() {
    let (planes, h, w) = (2usize, 9usize, 7usize);
    let mut x: Vec<f32> = (0..planes * h * w)
        .map(|i| ((i * 37) % 23) as f32 - 11.0)
        .collect();
    x[5] = f32::NAN;
    x[70] = x[71]; // a tie
    let mut rows = [(0u16, 0u16); 8];
    let mut cols = [(0u16, 0u16); 8];
    let nr = max_pool_regions(h, 2, 2, &mut rows).unwrap();
    let mut b = [0u16; 8];
    fmp_random_bounds(&mut Xoshiro128PlusPlus::seed_from_u64(3), w, 5, &mut b).unwrap();
    fmp_regions(&b[..6], true, w, &mut cols).unwrap();
    let (rows, cols) = (&rows[..nr], &cols[..5]);
    let n_out = planes * rows.len() * cols.len();
    let mut y = vec![0f32; n_out];
    let mut arg = vec![0u8; n_out];
    let regions = PoolRegions {
        planes,
        height: h,
        width: w,
        rows,
        cols,
    };
    region_max_pool_forward(regions, &x, &mut y, &mut arg).unwrap();
    for p in 0..planes {
        let want = brute_force(h, w, rows, cols, &x[p * h * w..(p + 1) * h * w]);
        let got = &y[p * rows.len() * cols.len()..(p + 1) * rows.len() * cols.len()];
        for (a, b) in got.iter().zip(&want) {
            assert!(a == b || (a.is_nan() && b.is_nan()), "{a} vs {b}");
        }
    }
    // Backward: the gradient lands on the recorded argmax, which holds the max.
    let dy: Vec<f32> = (0..n_out).map(|i| i as f32 + 1.0).collect();
    let mut dx = vec![0f32; x.len()];
    region_max_pool_backward(regions, &arg, &dy, &mut dx).unwrap();
    assert_eq!(dx.iter().sum::<f32>(), dy.iter().sum::<f32>());
    assert!(region_max_pool_forward(regions, &x[1..], &mut y, &mut arg).is_err());
    // The eval pooling refuses the same bad lengths, writing nothing.
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let y_before = bits(&y);
    assert!(region_max_pool_eval(regions, &x[1..], &mut y).is_err());
    assert!(region_max_pool_eval(regions, &x, &mut y[1..]).is_err());
    assert_eq!(bits(&y), y_before);
    let mut bad = arg.clone();
    bad[n_out - 1] = 200;
    let before = dx.clone();
    assert!(region_max_pool_backward(regions, &bad, &dy, &mut dx).is_err());
    assert_eq!(dx, before, "an error writes nothing");
}

#[test]
fn region_max_pool_ties_go_to_the_first_in_row_major_order() {
    let x = [1.0f32, 3.0, 3.0, 3.0];
    let (mut y, mut arg) = ([0f32; 1], [0u8; 1]);
    region_max_pool_forward(
        PoolRegions {
            planes: 1,
            height: 2,
            width: 2,
            rows: &[(0, 2)],
            cols: &[(0, 2)],
        },
        &x,
        &mut y,
        &mut arg,
    )
    .unwrap();
    assert_eq!((y[0], arg[0]), (3.0, 1));
}

/// Eval by averaging over every distinct sampling equals the expectation of
/// train: for a 5x5 plane pooled to 3x3 with random boundaries (3 arrangements
/// per axis, 9 samplings, equally likely), the exact average over the 9 equals
/// the Monte Carlo mean of train passes within 6 standard errors per output.
#[test]
fn fmp_eval_average_is_the_expectation_of_train() {
    let x: Vec<f32> = (0..25).map(|i| ((i * 17) % 11) as f32).collect();
    let pool_with = |rb: &[u16], cb: &[u16]| {
        let (mut rr, mut cr) = ([(0u16, 0u16); 3], [(0u16, 0u16); 3]);
        fmp_regions(rb, false, 5, &mut rr).unwrap();
        fmp_regions(cb, false, 5, &mut cr).unwrap();
        let (mut y, mut arg) = ([0f32; 9], [0u8; 9]);
        region_max_pool_forward(
            PoolRegions {
                planes: 1,
                height: 5,
                width: 5,
                rows: &rr,
                cols: &cr,
            },
            &x,
            &mut y,
            &mut arg,
        )
        .unwrap();
        y
    };
    // The three arrangements of increments (2, 2, 1).
    let all: [[u16; 4]; 3] = [[0, 2, 4, 5], [0, 2, 3, 5], [0, 1, 3, 5]];
    let mut exact = [0f64; 9];
    let mut second = [0f64; 9];
    for rb in &all {
        for cb in &all {
            for (k, v) in pool_with(rb, cb).iter().enumerate() {
                exact[k] += *v as f64 / 9.0;
                second[k] += (*v as f64).powi(2) / 9.0;
            }
        }
    }
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(9);
    const T: usize = 30_000;
    let mut mean = [0f64; 9];
    let (mut rb, mut cb) = ([0u16; 4], [0u16; 4]);
    for _ in 0..T {
        fmp_random_bounds(&mut rng, 5, 3, &mut rb).unwrap();
        fmp_random_bounds(&mut rng, 5, 3, &mut cb).unwrap();
        for (k, v) in pool_with(&rb, &cb).iter().enumerate() {
            mean[k] += *v as f64 / T as f64;
        }
    }
    for k in 0..9 {
        let sd = ((second[k] - exact[k] * exact[k]).max(0.0) / T as f64).sqrt();
        assert!(
            (mean[k] - exact[k]).abs() <= 6.0 * sd + 1e-9,
            "output {k}: {} vs {}",
            mean[k],
            exact[k]
        );
    }
}

/// The vectorized 2x2 / stride-2 path equals the generic rule: the same
/// windows given with one region per axis shifted by nothing but checked by
/// brute force, with NaN, ties and a tail past the vectors.
#[test]
fn max_pool_2x2_fast_path_matches_brute_force() {
    // Rows of 35 outputs (two vectors and a tail), of the CNN's 14 and 7, and
    // of 1 to 3; odd sides leave a row and a column out.
    for (planes, h, w) in [
        (3usize, 6usize, 70usize),
        (2, 28, 28),
        (3, 14, 14),
        (2, 7, 7),
        (2, 5, 3),
        (1, 2, 2),
        (2, 3, 6),
    ] {
        max_pool_2x2_case(planes, h, w);
    }
}

fn max_pool_2x2_case(planes: usize, h: usize, w: usize) {
    let mut x: Vec<f32> = (0..planes * h * w).map(|i| ((i * 31) % 7) as f32).collect();
    let at = 3 % x.len();
    x[at] = f32::NAN;
    let at = (w + 40) % x.len();
    x[at] = f32::NAN;
    let at = (2 * w * h + 5) % x.len();
    x[at] = -0.0;
    let mut rr = [(0u16, 0u16); 64];
    let nr = max_pool_regions(h, 2, 2, &mut rr).unwrap();
    let mut cr = [(0u16, 0u16); 64];
    let nc = max_pool_regions(w, 2, 2, &mut cr).unwrap();
    let n_out = planes * nr * nc;
    let (mut y, mut arg) = (vec![0f32; n_out], vec![0u8; n_out]);
    let regions = PoolRegions {
        planes,
        height: h,
        width: w,
        rows: &rr[..nr],
        cols: &cr[..nc],
    };
    region_max_pool_forward(regions, &x, &mut y, &mut arg).unwrap();
    for p in 0..planes {
        for i in 0..nr {
            for j in 0..nc {
                let o = p * nr * nc + i * nc + j;
                let cands = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .map(|(dr, dc)| x[p * h * w + (2 * i + dr) * w + 2 * j + dc]);
                let (mut best, mut at) = (cands[0], 0u8);
                for k in 1..4 {
                    if !best.is_nan() && (cands[k] > best || cands[k].is_nan()) {
                        best = cands[k];
                        at = k as u8;
                    }
                }
                assert!(
                    y[o].to_bits() == best.to_bits() || (y[o].is_nan() && best.is_nan()),
                    "{p} {i} {j}"
                );
                assert_eq!(arg[o], at, "argmax {p} {i} {j}");
            }
        }
    }
    // Backward: each output's gradient lands on its argmax, everything else
    // (the row and column an odd side leaves out included) is zero.
    // A -0.0 gradient lands as +0.0 (zero plus it), as the generic path gives.
    let mut dy: Vec<f32> = (0..n_out).map(|o| o as f32 + 0.5).collect();
    dy[n_out / 2] = -0.0;
    let mut dx = vec![f32::NAN; planes * h * w];
    region_max_pool_backward(regions, &arg, &dy, &mut dx).unwrap();
    let mut want = vec![0f32; planes * h * w];
    for p in 0..planes {
        for i in 0..nr {
            for j in 0..nc {
                let o = p * nr * nc + i * nc + j;
                let (dr, dc) = (arg[o] as usize / 2, arg[o] as usize % 2);
                want[p * h * w + (2 * i + dr) * w + 2 * j + dc] = 0.0 + dy[o];
            }
        }
    }
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&dx), bits(&want), "backward {planes} x {h} x {w}");
    // An offset past its window is refused before anything is written.
    let mut bad = arg.clone();
    bad[n_out - 1] = 4;
    let before = bits(&dx);
    let err = region_max_pool_backward(regions, &bad, &dy, &mut dx);
    assert!(err.is_err(), "an offset past the window is refused");
    assert_eq!(bits(&dx), before, "an error writes nothing");
}

/// Average pooling: means of the regions; backward is the adjoint
/// (<dy, pool(x)> = <unpool(dy), x>), checked in f64.
#[test]
fn region_avg_pool_forward_and_backward() {
    let (planes, h, w) = (2usize, 7usize, 6usize);
    let x: Vec<f32> = (0..planes * h * w)
        .map(|i| ((i * 29) % 13) as f32 - 6.0)
        .collect();
    let mut rr = [(0u16, 0u16); 8];
    let nr = max_pool_regions(h, 3, 2, &mut rr).unwrap();
    let mut cr = [(0u16, 0u16); 8];
    let nc = max_pool_regions(w, 2, 1, &mut cr).unwrap();
    let (rows, cols) = (&rr[..nr], &cr[..nc]);
    let n_out = planes * nr * nc;
    let mut y = vec![0f32; n_out];
    let regions = PoolRegions {
        planes,
        height: h,
        width: w,
        rows,
        cols,
    };
    region_avg_pool_forward(regions, &x, &mut y).unwrap();
    for p in 0..planes {
        for (i, &(r0, rl)) in rows.iter().enumerate() {
            for (j, &(c0, cl)) in cols.iter().enumerate() {
                let mut sum = 0.0f64;
                for r in r0..r0 + rl {
                    for c in c0..c0 + cl {
                        sum += x[p * h * w + r as usize * w + c as usize] as f64;
                    }
                }
                let want = sum / (rl as f64 * cl as f64);
                assert!((y[p * nr * nc + i * nc + j] as f64 - want).abs() < 1e-5);
            }
        }
    }
    let dy: Vec<f32> = (0..n_out).map(|i| (i % 5) as f32 - 2.0).collect();
    let mut dx = vec![0f32; x.len()];
    region_avg_pool_backward(regions, &dy, &mut dx).unwrap();
    let lhs: f64 = dy.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
    let rhs: f64 = dx.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
    assert!(
        (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
        "{lhs} vs {rhs}"
    );
    assert!(region_avg_pool_forward(regions, &x[1..], &mut y).is_err());
}

/// Region sequences of every kind the crate builds, plus arbitrary ones.
fn regions_of_kind(kind: u8, size: usize, seed: u64, out: &mut Vec<Region>) {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut regions = [(0u16, 0u16); 256];
    let mut bounds = [0u16; 257];
    let draw = |rng: &mut Xoshiro128PlusPlus, n: usize| (rng.next_u32() as usize) % n;
    out.clear();
    match kind {
        // k x k pooling, k and stride drawn.
        0 => {
            let k = 1 + draw(&mut rng, size.min(16));
            let s = 1 + draw(&mut rng, 4);
            let n = max_pool_regions(size, k, s, &mut regions).unwrap();
            out.extend_from_slice(&regions[..n]);
        }
        // Graham's random or pseudorandom boundaries, disjoint or overlapping.
        1..=4 => {
            let o = size.div_ceil(2) + draw(&mut rng, size / 2 + 1);
            let o = o.clamp(1, size);
            if kind <= 2 {
                fmp_random_bounds(&mut rng, size, o, &mut bounds).unwrap();
            } else {
                let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
                fmp_pseudorandom_bounds(u, size, o, &mut bounds).unwrap();
            }
            fmp_regions(&bounds[..=o], kind.is_multiple_of(2), size, &mut regions).unwrap();
            out.extend_from_slice(&regions[..o]);
        }
        // PyTorch's windows.
        5 => {
            let k = 1 + draw(&mut rng, size.min(4));
            let o = 1 + draw(&mut rng, size - k + 1);
            let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
            pytorch_fmp_regions(u, size, o, k, &mut regions).unwrap();
            out.extend_from_slice(&regions[..o]);
        }
        // Anything inside the plane, in any order.
        _ => {
            for _ in 0..1 + draw(&mut rng, 40) {
                let len = 1 + draw(&mut rng, size.min(16));
                let start = draw(&mut rng, size - len + 1);
                out.push((start as u16, len as u16));
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// The vectorized pooling equals the reference bit for bit, argmax
    /// included, for every kind of region, odd shapes, ties, NaN and -0.0;
    /// so does the eval pooling, which records no argmax.
    #[test]
    fn region_max_pool_matches_reference(
        planes in 1usize..4,
        height in 1usize..24,
        width in 1usize..90,
        row_kind in 0u8..7,
        col_kind in 0u8..7,
        seed in 0u64..1_000_000,
        levels in 1u32..6,
    ) {
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        regions_of_kind(row_kind, height, seed, &mut rows);
        regions_of_kind(col_kind, width, seed ^ 0xA5A5, &mut cols);
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
        let x: Vec<f32> = (0..planes * height * width)
            .map(|_| match rng.next_u32() % 64 {
                0 => f32::NAN,
                1 => -0.0,
                2 => f32::NEG_INFINITY,
                r => (r % levels) as f32,
            })
            .collect();
        let n_out = planes * rows.len() * cols.len();
        let (mut y, mut arg) = (vec![0f32; n_out], vec![0u8; n_out]);
        let (mut y_ref, mut arg_ref) = (vec![0f32; n_out], vec![0u8; n_out]);
        let regions = PoolRegions { planes, height, width, rows: &rows, cols: &cols};
        region_max_pool_forward(regions, &x, &mut y, &mut arg)
            .unwrap();
        tinyreg::reference::region_max_pool(regions, &x, &mut y_ref, &mut arg_ref)
        .unwrap();
        let mut y_eval = vec![1.5f32; n_out];
        region_max_pool_eval(regions, &x, &mut y_eval).unwrap();
        for o in 0..n_out {
            proptest::prop_assert!(
                y[o].to_bits() == y_ref[o].to_bits() || (y[o].is_nan() && y_ref[o].is_nan()),
                "output {o}: {} vs {}", y[o], y_ref[o]
            );
            proptest::prop_assert_eq!(arg[o], arg_ref[o], "argmax {}", o);
            proptest::prop_assert!(
                y_eval[o].to_bits() == y_ref[o].to_bits()
                    || (y_eval[o].is_nan() && y_ref[o].is_nan()),
                "eval output {o}: {} vs {}", y_eval[o], y_ref[o]
            );
        }
    }
}

/// Ranking enumerates each of Graham's random arrangements exactly once, in
/// lexicographic order, and they are exactly the sequences the random draw
/// produces (which hits every one of them).
#[test]
fn fmp_ranked_bounds_enumerate_the_random_draws() {
    assert_eq!(fmp_random_count(5, 3), Some(3));
    assert_eq!(fmp_random_count(32, 22), Some(646_646));
    assert_eq!(fmp_random_count(4, 4), Some(1));
    assert_eq!(fmp_random_count(9, 4), None);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(11);
    for (input, output) in [(5usize, 3usize), (7, 5), (9, 6), (10, 7), (6, 6), (8, 4)] {
        let count = fmp_random_count(input, output).unwrap() as usize;
        let mut all: Vec<Vec<u16>> = Vec::new();
        for rank in 0..count as u64 {
            let mut b = [0u16; 16];
            fmp_ranked_bounds(rank, input, output, &mut b).unwrap();
            check_bounds(&b[..=output], input);
            all.push(b[..=output].to_vec());
        }
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "lexicographic, distinct"
        );
        let mut b = [0u16; 16];
        assert!(fmp_ranked_bounds(count as u64, input, output, &mut b).is_err());
        let mut seen = vec![false; count];
        for _ in 0..200 * count {
            fmp_random_bounds(&mut rng, input, output, &mut b).unwrap();
            let at = all
                .iter()
                .position(|s| s[..] == b[..=output])
                .expect("a ranked sequence");
            seen[at] = true;
        }
        assert!(
            seen.iter().all(|&s| s),
            "{input} -> {output}: every arrangement drawn"
        );
    }
}

/// Pseudorandom boundaries are constant on each of `in / gcd(in, out)`
/// equal intervals of `u`: every point of a fine grid gives its interval's
/// midpoint sequence, and the sequence does vary unless the ratio is whole.
#[test]
fn fmp_pseudorandom_pieces_are_equal_constant_intervals() {
    for (input, output) in [
        (28usize, 20usize),
        (20, 14),
        (5, 3),
        (32, 22),
        (10, 5),
        (9, 9),
    ] {
        let n = fmp_pseudorandom_pieces(input, output);
        let mut mid = [0u16; 64];
        let mut b = [0u16; 64];
        let mut changes = 0;
        let mut last: Option<Vec<u16>> = None;
        for j in 0..n {
            fmp_pseudorandom_bounds((j as f32 + 0.5) / n as f32, input, output, &mut mid).unwrap();
            for t in 0..1000 {
                let u = (j as f64 + (t as f64 + 0.5) / 1000.0) / n as f64;
                fmp_pseudorandom_bounds(u as f32, input, output, &mut b).unwrap();
                assert_eq!(
                    b[..=output],
                    mid[..=output],
                    "{input} -> {output}, piece {j}, u {u}"
                );
            }
            changes += last.as_deref().is_some_and(|l| l != &mid[..=output]) as usize;
            last = Some(mid[..=output].to_vec());
        }
        // With an integer ratio every increment is that ratio, whatever u.
        let varies = input % output != 0;
        assert_eq!(changes > 0, varies, "{input} -> {output}");
    }
}

/// Global average pooling: each plane's mean, and backward spreads each
/// gradient evenly over its plane (`AdaptiveAvgPool2d(1)`'s definition).
#[test]
fn global_avg_pool_worked_numbers() {
    use tinyreg::layers::pool::global_avg::{global_avg_pool_backward, global_avg_pool_forward};
    use tinyreg::ImageShape;
    let shape = ImageShape {
        channels: 2,
        height: 2,
        width: 2,
    };
    let x = [
        1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0, 0.0, 0.0, 0.0, -8.0, 1.0, 1.0, 1.0, 1.0,
    ];
    let mut y = [0f32; 4];
    global_avg_pool_forward(shape, 2, &x, &mut y).unwrap();
    assert_eq!(y, [2.5, 7.0, -2.0, 1.0]);
    let mut dx = [0f32; 16];
    global_avg_pool_backward(shape, 2, &[1.0, 2.0, -4.0, 0.5], &mut dx).unwrap();
    let want = [[0.25f32; 4], [0.5; 4], [-1.0; 4], [0.125; 4]].concat();
    assert_eq!(dx.to_vec(), want);
    let err = global_avg_pool_forward(shape, 3, &x, &mut y);
    assert!(matches!(err, Err(tinyreg::Error::LengthMismatch { .. })));
}

#[test]
fn div_multiplier_divides_every_argmax_offset_exactly() {
    use tinyreg::layers::pool::div_multiplier;
    // Every region length a u16 holds, every offset a u8 holds.
    for len in 1..=u16::MAX {
        let m = div_multiplier(len);
        for at in 0..256u32 {
            assert_eq!((at * m) >> 16, at / len as u32, "{at} / {len}");
        }
    }
    assert_eq!(div_multiplier(0), 0);
}
