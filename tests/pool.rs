//! Max pooling and fractional max pooling: region sequences, forward against a
//! brute-force oracle (ties, NaN), backward routing, PyTorch's windows.
use rand_core::SeedableRng;
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
    region_max_pool_forward(planes, h, w, rows, cols, &x, &mut y, &mut arg).unwrap();
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
    region_max_pool_backward(planes, h, w, rows, cols, &arg, &dy, &mut dx).unwrap();
    assert_eq!(dx.iter().sum::<f32>(), dy.iter().sum::<f32>());
    assert!(region_max_pool_forward(planes, h, w, rows, cols, &x[1..], &mut y, &mut arg).is_err());
    let mut bad = arg.clone();
    bad[n_out - 1] = 200;
    let before = dx.clone();
    assert!(region_max_pool_backward(planes, h, w, rows, cols, &bad, &dy, &mut dx).is_err());
    assert_eq!(dx, before, "an error writes nothing");
}

#[test]
fn region_max_pool_ties_go_to_the_first_in_row_major_order() {
    let x = [1.0f32, 3.0, 3.0, 3.0];
    let (mut y, mut arg) = ([0f32; 1], [0u8; 1]);
    region_max_pool_forward(1, 2, 2, &[(0, 2)], &[(0, 2)], &x, &mut y, &mut arg).unwrap();
    assert_eq!((y[0], arg[0]), (3.0, 1));
}
