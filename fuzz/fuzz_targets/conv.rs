//! Fuzz `Conv2d`: arbitrary shapes (huge ones included), strides, padding
//! and buffer sizes, forward and backward (direct and im2col each, with or
//! without the input gradient). Nothing may panic; an error writes nothing;
//! the direct paths agree with im2col + GEMM within the dense layers'
//! tolerance, `(2k + 4) 2^-24 sum |x w|` with `k` the depth of the sums.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::{BackwardBuffers, Conv2d, ForwardBuffers};

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let side = |b: u8| match b {
        0 => 1usize << 32,
        255 => usize::MAX / 2,
        b => (b % 9) as usize,
    };
    let conv = Conv2d {
        in_channels: side(data[0]).min(1 << 40) % 5,
        out_channels: side(data[1]) % 6,
        height: side(data[2]),
        width: side(data[3]),
        k: (data[4] % 4) as usize,
        stride: (data[5] % 3) as usize,
        padding: (data[6] % 3) as usize,
    };
    let batch = (data[7] % 3) as usize;
    let relu = data[8] & 1 == 1;
    let wiggle = |n: usize, b: u8| if b & 2 == 2 { n.saturating_sub(1) } else { n };
    // Buffers sized for the shape when it is small, or small and wrong.
    let (n_in, n_out) = if conv.height < 64 && conv.width < 64 {
        (
            conv.in_channels * conv.height * conv.width,
            conv.out_channels * conv.out_height() * conv.out_width(),
        )
    } else {
        (16, 16)
    };
    let values = |n: usize, seed: usize| -> Vec<f32> {
        (0..n)
            .map(|i| data[(i * 7 + seed) % data.len()] as f32 / 64.0 - 2.0)
            .collect()
    };
    let input = values(wiggle(batch * n_in, data[9]), 1);
    let weights = values(conv.weights_len().min(1 << 12), 2);
    let bias = values(conv.out_channels, 3);
    let mut out = vec![9.0f32; batch * n_out];
    let mut out2 = vec![9.0f32; batch * n_out];
    let mut scratch = vec![0.0f32; conv.scratch_len().min(1 << 16)];
    let a = conv.forward(
        &weights,
        &bias,
        relu,
        ForwardBuffers {
            batch,
            input: &input,
            output: &mut out,
            scratch: &mut scratch,
        },
    );
    let b = conv.forward_im2col(
        &weights,
        &bias,
        relu,
        ForwardBuffers {
            batch,
            input: &input,
            output: &mut out2,
            scratch: &mut scratch,
        },
    );
    assert_eq!(a.is_ok(), b.is_ok());
    if a.is_err() {
        assert!(
            out.iter().chain(&out2).all(|&v| v == 9.0),
            "written on error"
        );
        return;
    }
    let k = conv.in_channels * conv.k * conv.k;
    let tolerance = (2 * k + 4) as f32 * f32::EPSILON / 2.0;
    let bound: f32 = input.iter().map(|x| x.abs()).sum::<f32>().max(1.0)
        * weights.iter().map(|w| w.abs()).fold(0.0, f32::max).max(1.0)
        + 1.0;
    for (x, y) in out.iter().zip(&out2) {
        assert!((x - y).abs() <= tolerance * bound, "{x} vs {y}");
    }
    let dy = values(out.len(), 4);
    let dx_len = wiggle(input.len(), data[10]);
    let skip_dx = data[11] & 4 == 4;
    let mut results = Vec::new();
    for direct in [true, false] {
        let (mut g, mut dw, mut db) = (
            dy.clone(),
            vec![0.0f32; weights.len()],
            vec![0.0f32; bias.len()],
        );
        let mut dx = vec![9.0f32; dx_len];
        let backward = if direct {
            Conv2d::backward
        } else {
            Conv2d::backward_im2col
        };
        let io = BackwardBuffers {
            batch,
            input: &input,
            output: &out,
            grad_output: &mut g,
            grad_input: (!skip_dx).then_some(&mut dx[..]),
            scratch: &mut scratch,
        };
        let r = backward(&conv, &weights, relu, &mut dw, &mut db, io);
        if r.is_err() || skip_dx {
            assert!(
                dx.iter().all(|&v| v == 9.0),
                "dx written on error or when skipped"
            );
        }
        results.push((r.is_ok(), dw, db, dx));
    }
    // The direct backward agrees with im2col + GEMM: each dW and dx entry is
    // a sum of at most batch * positions (dW) or patch (dx) products.
    let (a, b) = (&results[0], &results[1]);
    assert_eq!(a.0, b.0, "both paths accept or refuse");
    if !a.0 {
        return;
    }
    let depth =
        (batch * conv.out_height() * conv.out_width()).max(conv.out_channels * conv.k * conv.k);
    let tolerance = (2 * depth + 4) as f32 * f32::EPSILON / 2.0;
    let dy_sum: f32 = dy.iter().map(|v| v.abs()).sum::<f32>().max(1.0);
    let x_max = input.iter().map(|x| x.abs()).fold(0.0, f32::max).max(1.0);
    let w_max = weights.iter().map(|w| w.abs()).fold(0.0, f32::max).max(1.0);
    let bound = dy_sum * (x_max + w_max) + 1.0;
    for (x, y) in
        a.1.iter()
            .zip(&b.1)
            .chain(a.2.iter().zip(&b.2))
            .chain(a.3.iter().zip(&b.3))
    {
        assert!((x - y).abs() <= tolerance * bound, "{x} vs {y}");
    }
});
