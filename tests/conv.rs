#![allow(clippy::needless_range_loop)] // index loops mirror the convolution formulas
//! Conv2d against a direct f64 convolution, forward (both paths) and backward,
//! at odd sizes, strides and paddings.
use tinyreg::layers::conv::Conv2d;
use tinyreg::{BackwardBuffers, ForwardBuffers};

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// The input value feeding output (oy, ox) through kernel tap (ky, kx), or 0 in the padding.
fn tap(
    c: &Conv2d,
    x: &[f32],
    ch: usize,
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
) -> Option<usize> {
    let y = (oy * c.stride + ky) as isize - c.padding as isize;
    let xx = (ox * c.stride + kx) as isize - c.padding as isize;
    if (0..c.height as isize).contains(&y) && (0..c.width as isize).contains(&xx) {
        let _ = x;
        Some(ch * c.height * c.width + y as usize * c.width + xx as usize)
    } else {
        None
    }
}

#[test]
fn conv2d_matches_direct_convolution() {
    let shapes = [
        Conv2d {
            in_channels: 1,
            out_channels: 4,
            height: 8,
            width: 8,
            k: 3,
            stride: 1,
            padding: 1,
        },
        Conv2d {
            in_channels: 3,
            out_channels: 5,
            height: 9,
            width: 7,
            k: 3,
            stride: 2,
            padding: 0,
        },
        Conv2d {
            in_channels: 2,
            out_channels: 17,
            height: 5,
            width: 6,
            k: 5,
            stride: 1,
            padding: 2,
        },
        Conv2d {
            in_channels: 4,
            out_channels: 3,
            height: 6,
            width: 6,
            k: 1,
            stride: 1,
            padding: 0,
        },
        Conv2d {
            in_channels: 16,
            out_channels: 33,
            height: 14,
            width: 14,
            k: 3,
            stride: 1,
            padding: 1,
        },
        // Rows longer than one vector, with a tail; even kernel, no padding.
        Conv2d {
            in_channels: 3,
            out_channels: 9,
            height: 5,
            width: 37,
            k: 2,
            stride: 1,
            padding: 0,
        },
        Conv2d {
            in_channels: 2,
            out_channels: 8,
            height: 4,
            width: 33,
            k: 3,
            stride: 1,
            padding: 3,
        },
        // "Same" convolutions, whose direct kernels run over the flattened
        // plane: one smaller than a vector, one of whole vectors and a
        // moved-back last one; and rows of whole vectors, which keep rows.
        Conv2d {
            in_channels: 3,
            out_channels: 10,
            height: 3,
            width: 4,
            k: 3,
            stride: 1,
            padding: 1,
        },
        Conv2d {
            in_channels: 2,
            out_channels: 9,
            height: 9,
            width: 20,
            k: 5,
            stride: 1,
            padding: 2,
        },
        Conv2d {
            in_channels: 2,
            out_channels: 8,
            height: 5,
            width: 16,
            k: 3,
            stride: 1,
            padding: 1,
        },
        // Outputs at least 14 wide in whole vectors of channels, whose
        // direct kernel (with AVX-512) puts channels in the lanes: two
        // vectors then one, an odd number of rows; rows narrower than the
        // input; a 5x5 kernel over two tiles of a row (its input gradient
        // one vector two rows at a time); a 1x1 kernel.
        Conv2d {
            in_channels: 3,
            out_channels: 48,
            height: 7,
            width: 14,
            k: 3,
            stride: 1,
            padding: 1,
        },
        Conv2d {
            in_channels: 16,
            out_channels: 16,
            height: 5,
            width: 16,
            k: 3,
            stride: 1,
            padding: 0,
        },
        Conv2d {
            in_channels: 16,
            out_channels: 32,
            height: 6,
            width: 28,
            k: 5,
            stride: 1,
            padding: 2,
        },
        Conv2d {
            in_channels: 5,
            out_channels: 16,
            height: 3,
            width: 14,
            k: 1,
            stride: 1,
            padding: 0,
        },
    ];
    for (n, conv) in shapes.iter().enumerate() {
        let batch = 2;
        let (oh, ow) = (conv.out_height(), conv.out_width());
        let n_in = conv.in_channels * conv.height * conv.width;
        let n_out = conv.out_channels * oh * ow;
        let x = values(batch * n_in, n as u64);
        let w = values(conv.weights_len(), 10 + n as u64);
        let b = values(conv.out_channels, 20 + n as u64);
        let mut scratch = vec![0f32; conv.scratch_len()];
        for (relu, im2col) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut y = vec![0f32; batch * n_out];
            if im2col {
                conv.forward_im2col(
                    &w,
                    &b,
                    relu,
                    ForwardBuffers {
                        batch,
                        input: &x,
                        output: &mut y,
                        scratch: &mut scratch,
                    },
                )
            } else {
                conv.forward(
                    &w,
                    &b,
                    relu,
                    ForwardBuffers {
                        batch,
                        input: &x,
                        output: &mut y,
                        scratch: &mut scratch,
                    },
                )
            }
            .unwrap();
            let patch = conv.in_channels * conv.k * conv.k;
            for s in 0..batch {
                for k in 0..conv.out_channels {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let (mut sum, mut mag) = (b[k] as f64, b[k].abs() as f64);
                            for ch in 0..conv.in_channels {
                                for ky in 0..conv.k {
                                    for kx in 0..conv.k {
                                        if let Some(i) = tap(conv, &x, ch, oy, ox, ky, kx) {
                                            let wv = w[k * patch + (ch * conv.k + ky) * conv.k + kx]
                                                as f64;
                                            sum += wv * x[s * n_in + i] as f64;
                                            mag += (wv * x[s * n_in + i] as f64).abs();
                                        }
                                    }
                                }
                            }
                            let want = if relu && sum < 0.0 { 0.0 } else { sum };
                            let got = y[s * n_out + (k * oh + oy) * ow + ox] as f64;
                            let tol = (2 * patch + 4) as f64 * 2f64.powi(-24) * mag;
                            assert!(
                                (got - want).abs() <= tol + 1e-30,
                                "{conv:?} relu {relu} im2col {im2col}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
            // Backward against the direct formulas.
            let dy0 = values(batch * n_out, 30 + n as u64);
            let mut dy = dy0.clone();
            let (mut dw, mut db, mut dx) = (
                vec![0f32; w.len()],
                vec![0f32; b.len()],
                vec![0f32; x.len()],
            );
            let backward = if im2col {
                Conv2d::backward_im2col
            } else {
                Conv2d::backward
            };
            let io = BackwardBuffers {
                batch,
                input: &x,
                output: &y,
                grad_output: &mut dy,
                grad_input: Some(&mut dx),
                scratch: &mut scratch,
            };
            backward(conv, &w, relu, &mut dw, &mut db, io).unwrap();
            // Without the input gradient: the same parameter gradients, bit for bit.
            let (mut dy2, mut dw2, mut db2) =
                (dy0.clone(), vec![0f32; w.len()], vec![0f32; b.len()]);
            let io = BackwardBuffers {
                batch,
                input: &x,
                output: &y,
                grad_output: &mut dy2,
                grad_input: None,
                scratch: &mut scratch,
            };
            backward(conv, &w, relu, &mut dw2, &mut db2, io).unwrap();
            assert_eq!((&dw2, &db2), (&dw, &db), "{conv:?} without dx");
            let g = |s: usize, k: usize, oy: usize, ox: usize| {
                let o = s * n_out + (k * oh + oy) * ow + ox;
                if relu && y[o] <= 0.0 {
                    0.0
                } else {
                    dy0[o] as f64
                }
            };
            let (mut dw_ref, mut dx_ref, mut db_ref) = (
                vec![0f64; w.len()],
                vec![0f64; x.len()],
                vec![0f64; b.len()],
            );
            let (mut dw_mag, mut dx_mag) = (vec![0f64; w.len()], vec![0f64; x.len()]);
            for s in 0..batch {
                for k in 0..conv.out_channels {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let gv = g(s, k, oy, ox);
                            db_ref[k] += gv;
                            for ch in 0..conv.in_channels {
                                for ky in 0..conv.k {
                                    for kx in 0..conv.k {
                                        if let Some(i) = tap(conv, &x, ch, oy, ox, ky, kx) {
                                            let wi = k * patch + (ch * conv.k + ky) * conv.k + kx;
                                            dw_ref[wi] += gv * x[s * n_in + i] as f64;
                                            dw_mag[wi] += (gv * x[s * n_in + i] as f64).abs();
                                            dx_ref[s * n_in + i] += gv * w[wi] as f64;
                                            dx_mag[s * n_in + i] += (gv * w[wi] as f64).abs();
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let depth = batch * oh * ow + conv.out_channels * conv.k * conv.k;
            for i in 0..w.len() {
                let tol = (2 * depth + 4) as f64 * 2f64.powi(-24) * dw_mag[i];
                assert!(
                    (dw[i] as f64 - dw_ref[i]).abs() <= tol + 1e-30,
                    "dW[{i}]: {} vs {}",
                    dw[i],
                    dw_ref[i]
                );
            }
            for i in 0..x.len() {
                let tol = (2 * depth + 4) as f64 * 2f64.powi(-24) * dx_mag[i];
                assert!(
                    (dx[i] as f64 - dx_ref[i]).abs() <= tol + 1e-30,
                    "dx[{i}]: {} vs {}",
                    dx[i],
                    dx_ref[i]
                );
            }
            for k in 0..b.len() {
                assert!((db[k] as f64 - db_ref[k]).abs() <= 1e-4, "db[{k}]");
            }
        }
    }
}

#[test]
fn conv2d_rejects_bad_shapes_and_small_scratch() {
    let conv = Conv2d {
        in_channels: 1,
        out_channels: 2,
        height: 4,
        width: 4,
        k: 3,
        stride: 1,
        padding: 0,
    };
    let (x, w, b) = (vec![0f32; 16], vec![0f32; 18], vec![0f32; 2]);
    let mut y = vec![7f32; 8];
    let mut small = vec![0f32; conv.scratch_len() - 1];
    assert!(conv
        .forward(
            &w,
            &b,
            false,
            ForwardBuffers {
                batch: 1,
                input: &x,
                output: &mut y,
                scratch: &mut small
            }
        )
        .is_err());
    assert!(conv
        .forward(
            &w[1..],
            &b,
            false,
            ForwardBuffers {
                batch: 1,
                input: &x,
                output: &mut y,
                scratch: &mut vec![0f32; conv.scratch_len()]
            }
        )
        .is_err());
    assert!(y.iter().all(|&v| v == 7.0));
    let bad = Conv2d { k: 6, ..conv };
    assert!(bad
        .forward(
            &w,
            &b,
            false,
            ForwardBuffers {
                batch: 1,
                input: &x,
                output: &mut y,
                scratch: &mut vec![0f32; 4096]
            }
        )
        .is_err());
}

/// The direct forward's kernels sum every output in the same order (bias,
/// then input channel, kernel row, kernel column), whichever puts what in
/// the lanes: 32 output channels of a 14 x 14 plane run with channels in
/// the lanes (with AVX-512), 17 with positions in them, and the 17 they
/// share agree bit for bit, with and without the ReLU. At 28 x 28 both put
/// positions in the lanes (blocks of output channels against single ones).
#[test]
fn conv2d_direct_kernels_agree_bit_for_bit() {
    for (side, k, padding) in [(14, 3, 1), (14, 5, 2), (28, 3, 1)] {
        let (batch, in_channels) = (2, 5);
        let wide = Conv2d {
            in_channels,
            out_channels: 32,
            height: side,
            width: side,
            k,
            stride: 1,
            padding,
        };
        let narrow = Conv2d {
            out_channels: 17,
            ..wide
        };
        let patch = in_channels * k * k;
        let x = values(batch * in_channels * side * side, 1);
        let w = values(wide.weights_len(), 2);
        let b = values(32, 3);
        for relu in [false, true] {
            let mut outputs = Vec::new();
            for (conv, channels) in [(wide, 32), (narrow, 17)] {
                let mut y = vec![0f32; batch * channels * side * side];
                let mut scratch = vec![0f32; conv.scratch_len()];
                let (w, b) = (&w[..channels * patch], &b[..channels]);
                conv.forward(
                    w,
                    b,
                    relu,
                    ForwardBuffers {
                        batch,
                        input: &x,
                        output: &mut y,
                        scratch: &mut scratch,
                    },
                )
                .unwrap();
                outputs.push(y);
            }
            let plane = side * side;
            for s in 0..batch {
                let wide_sample = &outputs[0][s * 32 * plane..][..17 * plane];
                let narrow_sample = &outputs[1][s * 17 * plane..][..17 * plane];
                for (i, (a, n)) in wide_sample.iter().zip(narrow_sample).enumerate() {
                    assert_eq!(a.to_bits(), n.to_bits(), "side {side}, k {k}, float {i}");
                }
            }
        }
    }
}
