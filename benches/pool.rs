//! Groups `pool`, `fmp` and `conv`: 2x2 max pooling and fractional max pooling
//! of a (64, 16, 32, 32) batch, and 3x3 convolutions by im2col + GEMM and by a
//! direct kernel, each with a `copy` baseline (`copy_from_slice` of the input)
//! in its group. Throughput is in input elements per second (for `conv`, in
//! multiply-adds).
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench --bench pool`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::pool::{
    fmp_pseudorandom_bounds, fmp_random_bounds, fmp_regions, max_pool_regions,
    region_max_pool_forward,
};
use tinyreg::Conv2d;

const PLANES: usize = 64 * 16;
const SIDE: usize = 32;

fn pool_groups(c: &mut Criterion) {
    let n = PLANES * SIDE * SIDE;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32).collect();
    let mut copy = vec![0f32; n];

    let mut group = c.benchmark_group("pool");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("copy", |b| b.iter(|| copy.copy_from_slice(black_box(&x))));
    let mut regions = [(0u16, 0u16); 64];
    let k = max_pool_regions(SIDE, 2, 2, &mut regions).unwrap();
    let out = PLANES * k * k;
    let (mut y, mut arg) = (vec![0f32; out], vec![0u8; out]);
    group.bench_function("max_pool_2x2", |b| {
        b.iter(|| {
            region_max_pool_forward(
                PLANES,
                SIDE,
                SIDE,
                &regions[..k],
                &regions[..k],
                black_box(&x),
                &mut y,
                &mut arg,
            )
            .unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("fmp");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("copy", |b| b.iter(|| copy.copy_from_slice(black_box(&x))));
    let mut bounds = [0u16; 64];
    let side = 22;
    fmp_pseudorandom_bounds(0.37, SIDE, side, &mut bounds).unwrap();
    let mut fr = [(0u16, 0u16); 64];
    fmp_regions(&bounds[..=side], true, SIDE, &mut fr).unwrap();
    let out = PLANES * side * side;
    let (mut y, mut arg) = (vec![0f32; out], vec![0u8; out]);
    group.bench_function("fractional_32_to_22_overlapping", |b| {
        b.iter(|| {
            region_max_pool_forward(
                PLANES,
                SIDE,
                SIDE,
                &fr[..side],
                &fr[..side],
                black_box(&x),
                &mut y,
                &mut arg,
            )
            .unwrap()
        })
    });
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    fmp_random_bounds(&mut rng, SIDE, side, &mut bounds).unwrap();
    let mut rr = [(0u16, 0u16); 64];
    fmp_regions(&bounds[..=side], false, SIDE, &mut rr).unwrap();
    fmp_random_bounds(&mut rng, SIDE, side, &mut bounds).unwrap();
    fmp_regions(&bounds[..=side], false, SIDE, &mut fr).unwrap();
    group.bench_function("fractional_32_to_22_disjoint_random", |b| {
        b.iter(|| {
            region_max_pool_forward(
                PLANES,
                SIDE,
                SIDE,
                &rr[..side],
                &fr[..side],
                black_box(&x),
                &mut y,
                &mut arg,
            )
            .unwrap()
        })
    });
    group.finish();

    conv_group(c);
}

/// The alternative to im2col + GEMM that the images issue asks to compare: a
/// direct 3x3 / stride 1 / padding 1 convolution, each input channel zero-padded
/// once, then 8 output channels x 16 output columns of accumulators fed by one
/// load per tap (the 8 weights broadcast), then ReLU. Written for this
/// comparison only.
fn direct_conv3x3(
    conv: &Conv2d,
    w: &[f32],
    bias: &[f32],
    x: &[f32],
    y: &mut [f32],
    padded: &mut [f32],
) {
    use wide::f32x16;
    const OC: usize = 8;
    let (c_in, c_out, h, wd) = (conv.in_channels, conv.out_channels, conv.height, conv.width);
    let pw = wd + 2;
    let plane = (h + 2) * pw + 16; // slack for the last vector load
    assert!(c_out % OC == 0 && padded.len() >= c_in * plane);
    for (xs, ys) in x
        .chunks_exact(c_in * h * wd)
        .zip(y.chunks_exact_mut(c_out * h * wd))
    {
        for c in 0..c_in {
            let dst = &mut padded[c * plane..(c + 1) * plane];
            dst.fill(0.0);
            for r in 0..h {
                dst[(r + 1) * pw + 1..][..wd].copy_from_slice(&xs[(c * h + r) * wd..][..wd]);
            }
        }
        for oc in (0..c_out).step_by(OC) {
            for oy in 0..h {
                for ox in (0..wd).step_by(16) {
                    let mut acc: [f32x16; OC] =
                        core::array::from_fn(|o| f32x16::splat(bias[oc + o]));
                    for c in 0..c_in {
                        for ky in 0..3 {
                            let row = &padded[c * plane + (oy + ky) * pw + ox..];
                            for kx in 0..3 {
                                let v = f32x16::new(row[kx..kx + 16].try_into().unwrap());
                                for (o, a) in acc.iter_mut().enumerate() {
                                    let wv = w[((oc + o) * c_in + c) * 9 + ky * 3 + kx];
                                    *a = v.mul_add(f32x16::splat(wv), *a);
                                }
                            }
                        }
                    }
                    let n = (wd - ox).min(16);
                    for (o, a) in acc.iter().enumerate() {
                        let dst = &mut ys[((oc + o) * h + oy) * wd + ox..][..n];
                        dst.copy_from_slice(&a.max(f32x16::ZERO).as_array()[..n]);
                    }
                }
            }
        }
    }
}

/// Group `conv`: the trainer's convolution (im2col + GEMM) against the direct
/// kernel above at the example's two layer shapes, batch 64, with ReLU.
/// Throughput in multiply-adds.
fn conv_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let batch = 64;
    for (c_in, c_out, side) in [(1, 16, 28), (16, 32, 14), (16, 32, 20)] {
        let conv = Conv2d {
            in_channels: c_in,
            out_channels: c_out,
            height: side,
            width: side,
            k: 3,
            stride: 1,
            padding: 1,
        };
        let input: Vec<f32> = (0..batch * c_in * side * side)
            .map(|i| (i % 13) as f32 * 0.1 - 0.5)
            .collect();
        let w: Vec<f32> = (0..conv.weights_len())
            .map(|i| ((i * 7) % 11) as f32 * 0.02 - 0.1)
            .collect();
        let bias = vec![0.01f32; c_out];
        let mut out = vec![0f32; batch * c_out * side * side];
        let mut direct_out = out.clone();
        let mut scratch = vec![0f32; conv.scratch_len()];
        let mut padded = vec![0f32; c_in * ((side + 2) * (side + 2) + 16)];
        // Both compute the same thing (up to summation order).
        conv.forward(batch, &w, &bias, true, &input, &mut out, &mut scratch)
            .unwrap();
        direct_conv3x3(&conv, &w, &bias, &input, &mut direct_out, &mut padded);
        for (a, b) in out.iter().zip(&direct_out) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
        }
        let name = format!("{c_in}_to_{c_out}_{side}x{side}");
        let mut copy_in = vec![0f32; input.len()];
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(format!("copy_input_{name}"), |b| {
            b.iter(|| copy_in.copy_from_slice(black_box(&input)))
        });
        group.throughput(Throughput::Elements(
            (batch * c_out * side * side * c_in * 9) as u64,
        ));
        group.bench_function(format!("im2col_gemm_{name}_macs"), |b| {
            b.iter(|| {
                conv.forward(
                    batch,
                    &w,
                    &bias,
                    true,
                    black_box(&input),
                    &mut out,
                    &mut scratch,
                )
                .unwrap()
            })
        });
        group.bench_function(format!("direct_{name}_macs"), |b| {
            b.iter(|| {
                direct_conv3x3(
                    &conv,
                    &w,
                    &bias,
                    black_box(&input),
                    &mut direct_out,
                    &mut padded,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pool_groups);
criterion_main!(benches);
