//! `Dense`: forward and backward against the f64 reference at edge shapes,
//! finite-difference gradients, DropConnect's exact expectation identity.
mod common;

use proptest::prelude::*;
use tinyreg::BackwardBuffers;
use tinyreg::ForwardBuffers;
use tinyreg::{reference, Dense, DenseGrads, DenseParams, DropConnect, Error, MaskRng, Mode};

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// The stated tolerance: a sum of k products in f32 (FMA or not, any order) is
/// within about k * 2^-24 of exact, relative to the sum of |terms|; we allow
/// (2k + 4) * 2^-24 of it, plus the bias.
fn close(fast: f32, exact: f32, magnitude: f64, k: usize) -> bool {
    if fast.is_nan() || exact.is_nan() {
        return fast.is_nan() && exact.is_nan();
    }
    let tol = (2 * k + 4) as f64 * 2f64.powi(-24) * magnitude + 1e-30;
    (fast as f64 - exact as f64).abs() <= tol
}

struct Case {
    dense: Dense,
    batch: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Case {
    fn new(batch: usize, inputs: usize, outputs: usize, relu: bool, seed: u64) -> Self {
        let dense = if relu {
            Dense::new(inputs, outputs).with_relu()
        } else {
            Dense::new(inputs, outputs)
        };
        Case {
            dense,
            batch,
            x: values(batch * inputs, seed),
            w: values(inputs * outputs, seed + 1),
            b: values(outputs, seed + 2),
        }
    }
    fn params(&self) -> DenseParams<'_> {
        DenseParams {
            weights: &self.w,
            bias: &self.b,
        }
    }
}

/// Sum over i of |x_i w_i| per output (the error scale of the forward).
fn forward_magnitude(c: &Case, bi: usize, o: usize, scale: f32) -> f64 {
    let ni = c.dense.inputs();
    let dot: f64 = (0..ni)
        .map(|i| (c.x[bi * ni + i] as f64 * c.w[o * ni + i] as f64).abs())
        .sum();
    scale.abs() as f64 * dot + c.b[o].abs() as f64
}

fn check_case(c: &Case, mask: Option<&[u8]>, scale: f32) {
    let (ni, no, batch) = (c.dense.inputs(), c.dense.outputs(), c.batch);
    let mut scratch = vec![0f32; Dense::SCRATCH_LEN];
    let dc = DropConnect::inverted(1.0 / scale).unwrap_or(DropConnect::vanilla(1.0).unwrap());
    let mut y = vec![f32::NAN; batch * no];
    match mask {
        None => c
            .dense
            .forward(
                c.params(),
                ForwardBuffers {
                    batch,
                    input: &c.x,
                    output: &mut y,
                    scratch: &mut scratch,
                },
            )
            .unwrap(),
        Some(mask) => c
            .dense
            .forward_with_mask(
                &dc,
                mask,
                c.params(),
                ForwardBuffers {
                    batch,
                    input: &c.x,
                    output: &mut y,
                    scratch: &mut scratch,
                },
            )
            .unwrap(),
    }
    let mut y_ref = vec![0f32; batch * no];
    reference::dense_forward(&c.dense, batch, c.params(), mask, scale, &c.x, &mut y_ref);
    for bi in 0..batch {
        for o in 0..no {
            let (f, e) = (y[bi * no + o], y_ref[bi * no + o]);
            assert!(
                close(f, e, forward_magnitude(c, bi, o, scale), ni),
                "{:?} batch {batch} y[{bi}][{o}]: {f} vs {e}",
                c.dense
            );
        }
    }

    // Backward: gradients accumulate onto existing values.
    let dy0 = values(batch * no, 99);
    let (mut dy, mut dy_ref) = (dy0.clone(), dy0.clone());
    let mut dw = values(ni * no, 5);
    let mut db = values(no, 6);
    let (mut dw_ref, mut db_ref) = (dw.clone(), db.clone());
    let mut dx = vec![f32::NAN; batch * ni];
    let mut dx_ref = vec![0f32; batch * ni];
    let grads = DenseGrads {
        weights: &mut dw,
        bias: &mut db,
    };
    match mask {
        None => c
            .dense
            .backward(
                c.params(),
                grads,
                BackwardBuffers {
                    batch,
                    input: &c.x,
                    output: &y,
                    grad_output: &mut dy,
                    grad_input: Some(&mut dx),
                    scratch: &mut scratch,
                },
            )
            .unwrap(),
        Some(mask) => c
            .dense
            .backward_dropconnect(
                &dc,
                Mode::Train,
                mask,
                c.params(),
                grads,
                BackwardBuffers {
                    batch,
                    input: &c.x,
                    output: &y,
                    grad_output: &mut dy,
                    grad_input: Some(&mut dx),
                    scratch: &mut scratch,
                },
            )
            .unwrap(),
    }
    let grads_ref = DenseGrads {
        weights: &mut dw_ref,
        bias: &mut db_ref,
    };
    let io_ref = BackwardBuffers {
        batch,
        input: &c.x,
        output: &y,
        grad_output: &mut dy_ref,
        grad_input: Some(&mut dx_ref),
        scratch: &mut [],
    };
    reference::dense_backward(&c.dense, c.params(), mask, scale, grads_ref, io_ref);
    assert_eq!(dy, dy_ref, "relu-masked grad_output");
    for o in 0..no {
        let mag: f64 = (0..batch)
            .map(|bi| dy[bi * no + o].abs() as f64)
            .sum::<f64>()
            + db_ref[o].abs() as f64;
        assert!(close(db[o], db_ref[o], mag, batch), "db[{o}]");
        for i in 0..ni {
            let mag: f64 = scale as f64
                * (0..batch)
                    .map(|bi| (dy[bi * no + o] as f64 * c.x[bi * ni + i] as f64).abs())
                    .sum::<f64>()
                + dw_ref[o * ni + i].abs() as f64;
            assert!(
                close(dw[o * ni + i], dw_ref[o * ni + i], mag, batch),
                "{:?} dW[{o}][{i}]: {} vs {}",
                c.dense,
                dw[o * ni + i],
                dw_ref[o * ni + i]
            );
        }
    }
    for bi in 0..batch {
        for i in 0..ni {
            let mag: f64 = scale as f64
                * (0..no)
                    .map(|o| (dy[bi * no + o] as f64 * c.w[o * ni + i] as f64).abs())
                    .sum::<f64>();
            assert!(
                close(dx[bi * ni + i], dx_ref[bi * ni + i], mag, no),
                "dx[{bi}][{i}]"
            );
        }
    }
}

const DIMS: [usize; 7] = [0, 1, 3, 16, 63, 65, 127];

#[test]
fn dense_matches_reference_at_edge_shapes() {
    for &batch in &[0usize, 1, 3, 8, 9, 17] {
        for &inputs in &DIMS {
            for &outputs in &DIMS {
                for relu in [false, true] {
                    check_case(
                        &Case::new(
                            batch,
                            inputs,
                            outputs,
                            relu,
                            (batch * 1000 + inputs * 10 + outputs) as u64,
                        ),
                        None,
                        1.0,
                    );
                }
            }
        }
    }
}

/// Depth beyond one packed block (GEMM_KC is 128 or 256) and every column tail.
#[test]
fn dense_matches_reference_across_depth_blocks_and_tails() {
    for outputs in 1..=33 {
        check_case(
            &Case::new(5, 17, outputs, outputs % 2 == 0, outputs as u64),
            None,
            1.0,
        );
    }
    check_case(&Case::new(3, 600, 40, false, 1), None, 1.0);
    check_case(&Case::new(33, 300, 70, true, 2), None, 1.0);
    check_case(&Case::new(300, 20, 9, false, 3), None, 1.0);
    // Many row tiles with a partial last one, depths in three blocks with a
    // tail past the 16-wide transposes, several column panels with a
    // partial last one.
    check_case(&Case::new(300, 600, 130, true, 4), None, 1.0);
    check_case(&Case::new(21, 37, 100, false, 5), None, 1.0);
}

/// At least one packed panel of samples and more outputs than samples: the
/// GEMM computes `W · x^T` and stores it transposed; partial panels, partial
/// row tiles and depths over several blocks with a tail.
#[test]
fn dense_matches_reference_when_computed_transposed() {
    for (batch, ni, no) in [(32, 64, 128), (40, 300, 77), (47, 529, 50), (64, 784, 256)] {
        for relu in [false, true] {
            check_case(
                &Case::new(batch, ni, no, relu, (batch + no) as u64),
                None,
                1.0,
            );
        }
    }
}

#[test]
fn dense_dropconnect_matches_reference() {
    for (batch, ni, no) in [(1, 64, 64), (7, 33, 17), (16, 65, 3), (2, 300, 20)] {
        let c = Case::new(batch, ni, no, true, 8);
        let dc = DropConnect::inverted(0.7).unwrap();
        let mut mask = vec![0u8; c.dense.dropconnect_mask_bytes()];
        tinyreg::bernoulli_mask(
            dc.keep(),
            &mut MaskRng::seed_from_u64(3),
            ni * no,
            &mut mask,
        )
        .unwrap();
        check_case(&c, Some(&mask), dc.train_scale());
    }
}

/// forward_dropconnect in train mode is forward_with_mask of the mask it drew,
/// and that mask is bernoulli_mask's for the same generator.
#[test]
fn dense_forward_dropconnect_draws_and_applies_one_mask() {
    let c = Case::new(4, 20, 12, false, 4);
    let dc = DropConnect::vanilla(0.6).unwrap();
    let mut scratch = vec![0f32; Dense::SCRATCH_LEN];
    let mut mask = vec![0u8; c.dense.dropconnect_mask_bytes()];
    let mut y = vec![0f32; 4 * 12];
    let mut rng = MaskRng::seed_from_u64(12);
    c.dense
        .forward_dropconnect(
            &dc,
            Mode::Train,
            &mut rng,
            &mut mask,
            c.params(),
            ForwardBuffers {
                batch: 4,
                input: &c.x,
                output: &mut y,
                scratch: &mut scratch,
            },
        )
        .unwrap();
    let mut expected_mask = vec![0u8; mask.len()];
    tinyreg::bernoulli_mask(
        dc.keep(),
        &mut MaskRng::seed_from_u64(12),
        240,
        &mut expected_mask,
    )
    .unwrap();
    assert_eq!(mask, expected_mask);
    let mut again = vec![0f32; 4 * 12];
    c.dense
        .forward_with_mask(
            &dc,
            &mask,
            c.params(),
            ForwardBuffers {
                batch: 4,
                input: &c.x,
                output: &mut again,
                scratch: &mut scratch,
            },
        )
        .unwrap();
    assert_eq!(y, again);
}

/// Eval is the exact expectation of train over every weight mask of a tiny
/// layer (2 x 3 weights: 64 masks), for both scalings, forward and backward.
#[test]
fn dense_dropconnect_eval_is_the_exact_expectation_of_train() {
    let c = Case::new(2, 3, 2, false, 21);
    let mut scratch = vec![0f32; Dense::SCRATCH_LEN];
    for dc in [
        DropConnect::vanilla(0.3).unwrap(),
        DropConnect::inverted(0.8).unwrap(),
        DropConnect::inverted(1.0).unwrap(),
    ] {
        let q = dc.keep().probability();
        let mut mean_y = [0f64; 4];
        let mut mean_dx = [0f64; 6];
        let mut mean_dw = [0f64; 6];
        let dy0 = [0.5f32, -1.0, 2.0, 0.25];
        for bits in 0u8..64 {
            let kept = bits.count_ones() as i32;
            let p = q.powi(kept) * (1.0 - q).powi(6 - kept);
            let mask = [bits];
            let mut y = [0f32; 4];
            c.dense
                .forward_with_mask(
                    &dc,
                    &mask,
                    c.params(),
                    ForwardBuffers {
                        batch: 2,
                        input: &c.x,
                        output: &mut y,
                        scratch: &mut scratch,
                    },
                )
                .unwrap();
            let (mut dw, mut db, mut dx, mut dy) = ([0f32; 6], [0f32; 2], [0f32; 6], dy0);
            let grads = DenseGrads {
                weights: &mut dw,
                bias: &mut db,
            };
            c.dense
                .backward_dropconnect(
                    &dc,
                    Mode::Train,
                    &mask,
                    c.params(),
                    grads,
                    BackwardBuffers {
                        batch: 2,
                        input: &c.x,
                        output: &y,
                        grad_output: &mut dy,
                        grad_input: Some(&mut dx),
                        scratch: &mut scratch,
                    },
                )
                .unwrap();
            for (m, v) in mean_y.iter_mut().zip(y) {
                *m += p * v as f64;
            }
            for (m, v) in mean_dx.iter_mut().zip(dx) {
                *m += p * v as f64;
            }
            for (m, v) in mean_dw.iter_mut().zip(dw) {
                *m += p * v as f64;
            }
        }
        let mut y = [0f32; 4];
        let mut rng = MaskRng::seed_from_u64(0);
        c.dense
            .forward_dropconnect(
                &dc,
                Mode::Eval,
                &mut rng,
                &mut [],
                c.params(),
                ForwardBuffers {
                    batch: 2,
                    input: &c.x,
                    output: &mut y,
                    scratch: &mut scratch,
                },
            )
            .unwrap();
        let (mut dw, mut db, mut dx, mut dy) = ([0f32; 6], [0f32; 2], [0f32; 6], dy0);
        let grads = DenseGrads {
            weights: &mut dw,
            bias: &mut db,
        };
        c.dense
            .backward_dropconnect(
                &dc,
                Mode::Eval,
                &[],
                c.params(),
                grads,
                BackwardBuffers {
                    batch: 2,
                    input: &c.x,
                    output: &y,
                    grad_output: &mut dy,
                    grad_input: Some(&mut dx),
                    scratch: &mut scratch,
                },
            )
            .unwrap();
        // Each output is a few products: a handful of f32 roundings.
        for (m, e) in mean_y.iter().zip(y) {
            assert!(
                (m - e as f64).abs() <= 1e-6 * (1.0 + m.abs()),
                "{dc:?} y: {m} vs {e}"
            );
        }
        for (m, e) in mean_dx.iter().zip(dx) {
            assert!(
                (m - e as f64).abs() <= 1e-6 * (1.0 + m.abs()),
                "{dc:?} dx: {m} vs {e}"
            );
        }
        for (m, e) in mean_dw.iter().zip(dw) {
            assert!(
                (m - e as f64).abs() <= 1e-6 * (1.0 + m.abs()),
                "{dc:?} dW: {m} vs {e}"
            );
        }
    }
}

/// L = sum(y ⊙ R): central differences of an f64 forward against the backward.
fn finite_difference_check(batch: usize, ni: usize, no: usize, relu: bool, seed: u64) {
    let c = Case::new(batch, ni, no, relu, seed);
    let r = values(batch * no, seed + 7);
    let loss = |x: &[f32],
                w: &[f32],
                b: &[f32],
                dx: Option<(usize, f64)>,
                dw: Option<(usize, f64)>,
                db: Option<(usize, f64)>|
     -> f64 {
        let mut total = 0.0;
        for bi in 0..batch {
            for o in 0..no {
                let mut z = b[o] as f64 + db.filter(|d| d.0 == o).map_or(0.0, |d| d.1);
                for i in 0..ni {
                    let xv = x[bi * ni + i] as f64
                        + dx.filter(|d| d.0 == bi * ni + i).map_or(0.0, |d| d.1);
                    let wv = w[o * ni + i] as f64
                        + dw.filter(|d| d.0 == o * ni + i).map_or(0.0, |d| d.1);
                    z += xv * wv;
                }
                if relu && z < 0.0 {
                    z = 0.0;
                }
                total += z * r[bi * no + o] as f64;
            }
        }
        total
    };
    let mut scratch = vec![0f32; Dense::SCRATCH_LEN];
    let mut y = vec![0f32; batch * no];
    c.dense
        .forward(
            c.params(),
            ForwardBuffers {
                batch,
                input: &c.x,
                output: &mut y,
                scratch: &mut scratch,
            },
        )
        .unwrap();
    let mut dy = r.clone();
    let (mut dw, mut db, mut dx) = (vec![0f32; ni * no], vec![0f32; no], vec![0f32; batch * ni]);
    c.dense
        .backward(
            c.params(),
            DenseGrads {
                weights: &mut dw,
                bias: &mut db,
            },
            BackwardBuffers {
                batch,
                input: &c.x,
                output: &y,
                grad_output: &mut dy,
                grad_input: Some(&mut dx),
                scratch: &mut scratch,
            },
        )
        .unwrap();
    // The f64 loss is linear in each parameter between ReLU kinks, so central
    // differences are exact up to f64 rounding unless a pre-activation lies
    // within h of a kink (h = 1e-6 makes that vanishingly rare). What remains is
    // the f32 gradient's own rounding: sums of up to max(dims) products of
    // values below 1 in magnitude, each rounding step about 6e-8.
    let h = 1e-6;
    let fd = |f: &dyn Fn(f64) -> f64| (f(h) - f(-h)) / (2.0 * h);
    let tol = |g: f64| 2e-7 * (1.0 + g.abs()) * (1 + ni.max(no).max(batch)) as f64 + 1e-8;
    for (j, &got) in dx.iter().enumerate() {
        let g = fd(&|d| loss(&c.x, &c.w, &c.b, Some((j, d)), None, None));
        assert!((g - got as f64).abs() <= tol(g), "dx[{j}]: fd {g} vs {got}");
    }
    for (j, &got) in dw.iter().enumerate() {
        let g = fd(&|d| loss(&c.x, &c.w, &c.b, None, Some((j, d)), None));
        assert!((g - got as f64).abs() <= tol(g), "dW[{j}]: fd {g} vs {got}");
    }
    for (j, &got) in db.iter().enumerate() {
        let g = fd(&|d| loss(&c.x, &c.w, &c.b, None, None, Some((j, d))));
        assert!((g - got as f64).abs() <= tol(g), "db[{j}]: fd {g} vs {got}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn dense_gradients_match_finite_differences(
        batch in 1usize..6, ni in 1usize..20, no in 1usize..20, relu in any::<bool>(), seed in any::<u64>()
    ) {
        finite_difference_check(batch, ni, no, relu, seed);
    }

    #[test]
    fn dense_matches_reference(
        batch in 0usize..20, ni in 0usize..70, no in 0usize..70, relu in any::<bool>(), seed in any::<u64>()
    ) {
        check_case(&Case::new(batch, ni, no, relu, seed), None, 1.0);
    }
}

#[test]
fn dense_rejects_bad_shapes_and_writes_nothing() {
    let c = Case::new(2, 3, 4, false, 1);
    let mut scratch = vec![0f32; Dense::SCRATCH_LEN];
    let mut y = vec![7.0f32; 8];
    assert_eq!(
        c.dense.forward(
            c.params(),
            ForwardBuffers {
                batch: 3,
                input: &c.x,
                output: &mut y,
                scratch: &mut scratch
            }
        ),
        Err(Error::LengthMismatch {
            expected: 9,
            got: 6
        })
    );
    let bad = DenseParams {
        weights: &c.w[..11],
        bias: &c.b,
    };
    assert_eq!(
        c.dense.forward(
            bad,
            ForwardBuffers {
                batch: 2,
                input: &c.x,
                output: &mut y,
                scratch: &mut scratch
            }
        ),
        Err(Error::LengthMismatch {
            expected: 12,
            got: 11
        })
    );
    let mut small = vec![0f32; Dense::SCRATCH_LEN - 1];
    assert_eq!(
        c.dense.forward(
            c.params(),
            ForwardBuffers {
                batch: 2,
                input: &c.x,
                output: &mut y,
                scratch: &mut small
            }
        ),
        Err(Error::BufferTooSmall {
            needed: Dense::SCRATCH_LEN,
            got: Dense::SCRATCH_LEN - 1
        })
    );
    let dc = DropConnect::inverted(0.5).unwrap();
    let mut rng = MaskRng::seed_from_u64(1);
    let before = rng.clone();
    let mut short_mask = [0u8; 1];
    assert_eq!(
        c.dense.forward_dropconnect(
            &dc,
            Mode::Train,
            &mut rng,
            &mut short_mask,
            c.params(),
            ForwardBuffers {
                batch: 2,
                input: &c.x,
                output: &mut y,
                scratch: &mut scratch
            }
        ),
        Err(Error::BufferTooSmall { needed: 2, got: 1 })
    );
    assert_eq!(rng, before);
    assert!(y.iter().all(|&v| v == 7.0));
    assert_eq!(
        Dense::new(usize::MAX, 2).forward(
            c.params(),
            ForwardBuffers {
                batch: 0,
                input: &[],
                output: &mut [],
                scratch: &mut scratch
            }
        ),
        Err(Error::ShapeOverflow)
    );
}
