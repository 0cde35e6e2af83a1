//! Beta and Gamma samplers: sample means and variances within statistical bounds.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::distributions::{beta, gamma, normal, uniform01};

const N: usize = 200_000;

/// Mean within 6 standard errors; variance within 6 standard errors of the
/// sample variance (using the fourth central moment of the true distribution,
/// bounded here by the sample's own).
fn check(samples: &[f64], mean: f64, var: f64, what: &str) {
    let n = samples.len() as f64;
    let m = samples.iter().sum::<f64>() / n;
    let v = samples.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = samples.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    assert!(
        (m - mean).abs() <= 6.0 * (var / n).sqrt(),
        "{what}: mean {m} vs {mean}"
    );
    let var_se = ((m4 - v * v) / n).sqrt();
    assert!(
        (v - var).abs() <= 6.0 * var_se,
        "{what}: variance {v} vs {var} (se {var_se})"
    );
}

#[test]
fn beta_moments_match_for_several_alphas() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    for (a, b) in [
        (0.2f32, 0.2f32),
        (0.4, 0.4),
        (1.0, 1.0),
        (2.0, 2.0),
        (0.5, 3.0),
        (5.0, 1.5),
    ] {
        let s: Vec<f64> = (0..N)
            .map(|_| beta(&mut rng, a, b).unwrap() as f64)
            .collect();
        assert!(s.iter().all(|&x| (0.0..=1.0).contains(&x)));
        let (a, b) = (a as f64, b as f64);
        check(
            &s,
            a / (a + b),
            a * b / ((a + b).powi(2) * (a + b + 1.0)),
            &format!("Beta({a}, {b})"),
        );
    }
}

#[test]
fn gamma_normal_uniform_moments() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    for k in [0.3f32, 1.0, 2.5, 9.0] {
        let s: Vec<f64> = (0..N).map(|_| gamma(&mut rng, k).unwrap() as f64).collect();
        check(&s, k as f64, k as f64, &format!("Gamma({k})"));
    }
    let s: Vec<f64> = (0..N).map(|_| normal(&mut rng) as f64).collect();
    check(&s, 0.0, 1.0, "normal");
    let s: Vec<f64> = (0..N).map(|_| uniform01(&mut rng) as f64).collect();
    check(&s, 0.5, 1.0 / 12.0, "uniform");
}

#[test]
fn beta_rejects_bad_parameters() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    for (a, b) in [
        (0.0, 1.0),
        (1.0, -1.0),
        (f32::NAN, 1.0),
        (1.0, f32::INFINITY),
    ] {
        assert!(beta(&mut rng, a, b).is_err());
    }
}
