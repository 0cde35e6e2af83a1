//! `Dropout`: expectation identities (exact and Monte Carlo), SIMD vs reference
//! bit for bit, mask-free backward, and error handling.
mod common;

use common::{edge_biased, same_bits};
use proptest::prelude::*;
use tinyreg::{reference, Dropout, DropoutKind, Error, MaskRng, Mode, STREAMS};

const KINDS: [DropoutKind; 2] = [DropoutKind::Vanilla, DropoutKind::Inverted];

fn layers() -> Vec<Dropout> {
    rules().into_iter().map(|(d, _)| d).collect()
}

/// Every layer of the edge keeps, with the oracle's reading of it.
fn rules() -> Vec<(Dropout, reference::Rule)> {
    let mut out = Vec::new();
    for keep in [0.0f32, 2f32.powi(-33), 0.1, 0.3, 0.5, 0.9, 0.999, 1.0] {
        for kind in KINDS {
            if let Ok(d) = Dropout::new(kind, keep) {
                out.push((d, reference::Rule { kind, keep }));
            }
        }
    }
    out
}

fn mask_of(bits: u32, n: usize) -> Vec<u8> {
    (0..n.div_ceil(8))
        .map(|b| (bits >> (8 * b)) as u8)
        .collect()
}

/// Sum over all 2^n masks of P(mask) * f(mask), in f64, per unit.
fn expectation(dropout: &Dropout, x: &[f32], f: impl Fn(&[u8], &mut [f32])) -> Vec<f64> {
    let n = x.len();
    let q = dropout.keep().probability();
    let mut mean = vec![0f64; n];
    let mut y = vec![0f32; n];
    for bits in 0..1u32 << n {
        let kept = bits.count_ones() as i32;
        let p = q.powi(kept) * (1.0 - q).powi(n as i32 - kept);
        f(&mask_of(bits, n), &mut y);
        for (m, &v) in mean.iter_mut().zip(&y) {
            *m += p * v as f64;
        }
    }
    mean
}

/// The tolerance of the exact identity: train scaling and eval scaling each
/// round once to f32 (relative 2^-24 each), the f64 sum of 2^n terms adds
/// nothing visible. So |E[train] - eval| <= 2^-23 |x|.
fn assert_identity(mean: &[f64], eval: &[f32], x: &[f32], what: &str) {
    for ((&m, &e), &xi) in mean.iter().zip(eval).zip(x) {
        let tol = 2f64.powi(-23) * xi.abs() as f64 + 1e-300;
        assert!(
            (m - e as f64).abs() <= tol,
            "{what}: E[train] {m} vs eval {e} (x = {xi})"
        );
    }
}

#[test]
fn dropout_eval_is_the_exact_expectation_of_train() {
    let mut rng = MaskRng::seed_from_u64(0);
    for dropout in layers() {
        for n in 1..=10 {
            let x: Vec<f32> = (0..n)
                .map(|i| (i as f32 - 4.3) * 1.7e3f32.powi(i as i32 % 3 - 1))
                .collect();
            let mut eval = vec![0f32; n];
            dropout
                .forward(Mode::Eval, &mut rng, &x, &mut eval, &mut [])
                .unwrap();
            let mean = expectation(&dropout, &x, |mask, y| {
                dropout.forward_with_mask(mask, &x, y).unwrap()
            });
            assert_identity(&mean, &eval, &x, &format!("forward {dropout:?} n={n}"));

            // Backward: the gradient's expectation is the eval backward.
            let dy: Vec<f32> = x.iter().map(|v| 0.25 - v).collect();
            let mut dx_eval = vec![0f32; n];
            dropout
                .backward(Mode::Eval, &[], &dy, &mut dx_eval)
                .unwrap();
            let mean = expectation(&dropout, &dy, |mask, dx| {
                dropout.backward(Mode::Train, mask, &dy, dx).unwrap()
            });
            assert_identity(&mean, &dx_eval, &dy, &format!("backward {dropout:?} n={n}"));
        }
    }
}

/// The train forward is `forward_with_mask` of the mask it wrote.
#[test]
fn dropout_forward_train_applies_the_mask_it_writes() {
    for dropout in layers() {
        let x = edge_biased(333, 9);
        let mut y = vec![0f32; x.len()];
        let mut mask = vec![0u8; Dropout::mask_bytes(x.len())];
        dropout
            .forward(
                Mode::Train,
                &mut MaskRng::seed_from_u64(4),
                &x,
                &mut y,
                &mut mask,
            )
            .unwrap();
        let mut again = vec![0f32; x.len()];
        dropout.forward_with_mask(&mask, &x, &mut again).unwrap();
        assert!(same_bits(&y, &again), "{dropout:?}");
    }
}

/// Monte Carlo for large n: the sum of outputs S has mean sum(q * x * s) and
/// variance sum((x * s)^2) q (1 - q); at fixed seeds it stays within 6 sd.
#[test]
fn dropout_monte_carlo_sum_matches_eval() {
    const N: usize = 1 << 18;
    let x: Vec<f32> = (0..N)
        .map(|i| ((i * 7919) % 1000) as f32 / 250.0 - 1.0)
        .collect();
    let mut y = vec![0f32; N];
    let mut mask = vec![0u8; Dropout::mask_bytes(N)];
    for kind in KINDS {
        for keep in [0.1f32, 0.5, 0.9] {
            let d = Dropout::new(kind, keep).unwrap();
            let q = d.keep().probability();
            let s = d.train_scale() as f64;
            let var: f64 = x
                .iter()
                .map(|&v| (v as f64 * s).powi(2) * q * (1.0 - q))
                .sum();
            for seed in 0..3 {
                let mut rng = MaskRng::seed_from_u64(seed);
                d.forward(Mode::Train, &mut rng, &x, &mut y, &mut mask)
                    .unwrap();
                let train: f64 = y.iter().map(|&v| v as f64).sum();
                d.forward(Mode::Eval, &mut rng, &x, &mut y, &mut mask)
                    .unwrap();
                let eval: f64 = y.iter().map(|&v| v as f64).sum();
                assert!(
                    (train - eval).abs() <= 6.0 * var.sqrt() + 1e-6 * eval.abs(),
                    "{kind:?} keep {keep} seed {seed}: {train} vs {eval}, sd {}",
                    var.sqrt()
                );
            }
        }
    }
}

/// Monte Carlo per unit: the mean of T passes of every unit is within 6 sd of
/// eval (37 units, so a false alarm has probability below 1e-7).
#[test]
fn dropout_monte_carlo_per_unit_mean_matches_eval() {
    const T: usize = 1 << 14;
    let x: Vec<f32> = (0..37).map(|i| i as f32 * 0.3 - 5.0).collect();
    let mut rng = MaskRng::seed_from_u64(77);
    for kind in KINDS {
        let d = Dropout::new(kind, 0.7).unwrap();
        let q = d.keep().probability();
        let mut sum = vec![0f64; x.len()];
        let mut y = vec![0f32; x.len()];
        let mut mask = [0u8; 5];
        for _ in 0..T {
            d.forward(Mode::Train, &mut rng, &x, &mut y, &mut mask)
                .unwrap();
            for (s, &v) in sum.iter_mut().zip(&y) {
                *s += v as f64;
            }
        }
        d.forward(Mode::Eval, &mut rng, &x, &mut y, &mut mask)
            .unwrap();
        for i in 0..x.len() {
            let v = x[i] as f64 * d.train_scale() as f64;
            let sd = (v * v * q * (1.0 - q) / T as f64).sqrt();
            let mean = sum[i] / T as f64;
            assert!(
                (mean - y[i] as f64).abs() <= 6.0 * sd + 1e-6,
                "{kind:?} unit {i}: {mean} vs {}",
                y[i]
            );
        }
    }
}

/// Every length 0..=3*16+1 at every offset: the SIMD paths equal the reference
/// bit for bit, in and out of place, masks included, bytes past them untouched.
#[test]
fn dropout_matches_reference_for_every_length_and_offset() {
    for (dropout, rule) in rules() {
        for len in 0..=3 * STREAMS + 1 {
            for offset in 0..STREAMS {
                let seed = (len * 31 + offset) as u64;
                check_against_reference((&dropout, rule), len, offset, seed);
            }
        }
    }
}

fn check_against_reference(
    (dropout, rule): (&Dropout, reference::Rule),
    len: usize,
    offset: usize,
    seed: u64,
) {
    let buf = edge_biased(len + offset, seed);
    let x = &buf[offset..];
    let mask_len = Dropout::mask_bytes(len);
    for mode in [Mode::Train, Mode::Eval] {
        // Out of place.
        let mut y = vec![f32::NAN; len + offset];
        let mut mask = vec![0xA5u8; mask_len + 3];
        let mut rng = MaskRng::seed_from_u64(seed);
        dropout
            .forward(mode, &mut rng, x, &mut y[offset..], &mut mask)
            .unwrap();
        let mut y_ref = vec![f32::NAN; len];
        let mut mask_ref = vec![0xA5u8; mask_len + 3];
        let mut streams = reference::streams_from_seed(seed);
        reference::dropout_forward(rule, mode, &mut streams, x, &mut y_ref, &mut mask_ref).unwrap();
        assert!(
            same_bits(&y[offset..], &y_ref),
            "{dropout:?} {mode:?} len {len} off {offset}"
        );
        assert_eq!(mask, mask_ref, "{dropout:?} {mode:?} len {len}");
        assert_eq!(reference::streams_of(&rng), streams);

        // In place.
        let mut data = buf.clone();
        let mut mask_in = vec![0xA5u8; mask_len + 3];
        let mut rng = MaskRng::seed_from_u64(seed);
        dropout
            .forward_in_place(mode, &mut rng, &mut data[offset..], &mut mask_in)
            .unwrap();
        assert!(same_bits(&data[offset..], &y_ref));
        assert_eq!(mask_in, mask_ref);

        // Mask-free forward, and backward by regeneration vs backward from bits.
        let mut rng = MaskRng::seed_from_u64(seed);
        let mut y_free = vec![0f32; len];
        let saved = dropout
            .forward_mask_free(mode, &mut rng, x, &mut y_free)
            .unwrap();
        assert!(same_bits(&y_free, &y_ref));
        let mut data = buf.clone();
        let mut rng = MaskRng::seed_from_u64(seed);
        let saved_in = dropout
            .forward_mask_free_in_place(mode, &mut rng, &mut data[offset..])
            .unwrap();
        assert!(same_bits(&data[offset..], &y_ref));
        assert_eq!(saved, saved_in);

        let dy = edge_biased(len, seed ^ 0xff);
        let mut dx = vec![0f32; len];
        dropout.backward(mode, &mask, &dy, &mut dx).unwrap();
        let mut dx_ref = vec![0f32; len];
        reference::dropout_backward(rule, mode, &mask_ref, &dy, &mut dx_ref).unwrap();
        assert!(
            same_bits(&dx, &dx_ref),
            "backward {dropout:?} {mode:?} len {len}"
        );
        let mut dx_regen = vec![0f32; len];
        dropout
            .backward_regenerate(mode, &saved, &dy, &mut dx_regen)
            .unwrap();
        assert!(
            same_bits(&dx_regen, &dx_ref),
            "regenerate {dropout:?} {mode:?} len {len}"
        );
        let mut g = dy.clone();
        dropout.backward_in_place(mode, &mask, &mut g).unwrap();
        assert!(same_bits(&g, &dx_ref));
        let mut g = dy.clone();
        dropout
            .backward_regenerate_in_place(mode, &saved, &mut g)
            .unwrap();
        assert!(same_bits(&g, &dx_ref));
    }
}

#[test]
fn dropout_rejects_bad_keep() {
    for keep in [f32::NAN, -0.0001, 1.0001, f32::INFINITY, -f32::INFINITY] {
        for kind in KINDS {
            assert!(matches!(
                Dropout::new(kind, keep),
                Err(Error::InvalidKeep { .. })
            ));
        }
    }
    assert!(Dropout::vanilla(0.0).is_ok());
    assert_eq!(
        Dropout::inverted(0.0),
        Err(Error::InvalidKeep { keep: 0.0 })
    );
    assert!(Dropout::inverted(2f32.powi(-34)).is_err());
    assert!(Dropout::inverted(2f32.powi(-33)).is_ok());
}

/// Bad lengths and short masks return an error and touch nothing: not the
/// output, not the mask, not the generator.
#[test]
fn dropout_errors_write_nothing() {
    let d = Dropout::inverted(0.5).unwrap();
    let x = [1.0f32; 40];
    let mut rng = MaskRng::seed_from_u64(1);
    let before = rng.clone();
    for mode in [Mode::Train, Mode::Eval] {
        let mut y = [7.0f32; 39];
        let mut mask = [0xEEu8; 5];
        assert_eq!(
            d.forward(mode, &mut rng, &x, &mut y, &mut mask),
            Err(Error::LengthMismatch {
                expected: 40,
                got: 39
            })
        );
        assert_eq!(
            d.forward_mask_free(mode, &mut rng, &x, &mut y).map(|_| ()),
            Err(Error::LengthMismatch {
                expected: 40,
                got: 39
            })
        );
        assert_eq!(
            d.backward(mode, &mask, &x, &mut y),
            Err(Error::LengthMismatch {
                expected: 40,
                got: 39
            })
        );
        assert_eq!(y, [7.0; 39]);
    }
    let mut y = [7.0f32; 40];
    let mut short = [0xEEu8; 4];
    let small = Err(Error::BufferTooSmall { needed: 5, got: 4 });
    assert_eq!(
        d.forward(Mode::Train, &mut rng, &x, &mut y, &mut short),
        small
    );
    assert_eq!(
        d.forward_in_place(Mode::Train, &mut rng, &mut y, &mut short),
        small
    );
    assert_eq!(d.forward_with_mask(&short, &x, &mut y), small);
    assert_eq!(d.backward(Mode::Train, &short, &x, &mut y), small);
    assert_eq!(d.backward_in_place(Mode::Train, &short, &mut y), small);
    assert_eq!(y, [7.0; 40]);
    assert_eq!(short, [0xEE; 4]);
    assert_eq!(rng, before);
    // In eval mode no mask is needed at all.
    assert_eq!(d.forward(Mode::Eval, &mut rng, &x, &mut y, &mut []), Ok(()));
}

#[test]
fn dropout_error_messages_say_what_is_wrong() {
    assert_eq!(
        Error::BufferTooSmall { needed: 5, got: 4 }.to_string(),
        "buffer too small: needs 5, got 4"
    );
    assert!(Error::InvalidKeep { keep: 2.0 }
        .to_string()
        .contains("(0, 1]"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn dropout_matches_reference(
        x in proptest::collection::vec(common::edge_f32(), 0..400),
        keep in common::edge_keep(),
        inverted in any::<bool>(),
        seed in any::<u64>(),
        train in any::<bool>(),
    ) {
        let kind = if inverted { DropoutKind::Inverted } else { DropoutKind::Vanilla };
        let mode = if train { Mode::Train } else { Mode::Eval };
        let Ok(d) = Dropout::new(kind, keep) else {
            prop_assert!(inverted && keep < 2f32.powi(-33));
            return Ok(());
        };
        let n = x.len();
        let mut y = vec![0f32; n];
        let mut mask = vec![0u8; Dropout::mask_bytes(n)];
        d.forward(mode, &mut MaskRng::seed_from_u64(seed), &x, &mut y, &mut mask).unwrap();
        let mut y_ref = vec![0f32; n];
        let mut mask_ref = vec![0u8; Dropout::mask_bytes(n)];
        let rule = reference::Rule { kind, keep };
        reference::dropout_forward(rule, mode, &mut reference::streams_from_seed(seed), &x, &mut y_ref, &mut mask_ref).unwrap();
        prop_assert!(same_bits(&y, &y_ref));
        prop_assert_eq!(&mask, &mask_ref);
        let mut dx = vec![0f32; n];
        let mut dx_ref = vec![0f32; n];
        d.backward(mode, &mask, &x, &mut dx).unwrap();
        reference::dropout_backward(rule, mode, &mask_ref, &x, &mut dx_ref).unwrap();
        prop_assert!(same_bits(&dx, &dx_ref));
    }

    #[test]
    fn dropout_never_panics_on_any_lengths(
        n in 0usize..100, out in 0usize..100, mask_len in 0usize..20,
        keep in any::<f32>(), seed in any::<u64>(), inverted in any::<bool>(),
    ) {
        let kind = if inverted { DropoutKind::Inverted } else { DropoutKind::Vanilla };
        if let Ok(d) = Dropout::new(kind, keep) {
            let x = vec![1.0f32; n];
            let mut y = vec![0f32; out];
            let mut mask = vec![0u8; mask_len];
            let mut rng = MaskRng::seed_from_u64(seed);
            for mode in [Mode::Train, Mode::Eval] {
                let r = d.forward(mode, &mut rng, &x, &mut y, &mut mask);
                let ok = n == out && (mode == Mode::Eval || mask_len >= n.div_ceil(8));
                prop_assert_eq!(r.is_ok(), ok);
                let r = d.backward(mode, &mask, &x, &mut y);
                prop_assert_eq!(r.is_ok(), ok);
            }
        }
    }
}
