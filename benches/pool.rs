//! Groups `pool`, `fmp` and `conv`: 2x2 max pooling and fractional max pooling
//! of a (64, 16, 32, 32) batch, 2x2 max pooling forward and backward at the
//! Fashion CNN's first pooling (`pool_cnn`: (64, 16, 28, 28), rows of 14
//! outputs), and 3x3 convolutions by im2col + GEMM and by a
//! direct kernel, each with a `copy` baseline (`copy_from_slice` of the input)
//! in its group. Throughput is in input elements per second (for `conv`, in
//! multiply-adds).
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench pool`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::pool::{
    fmp_pseudorandom_bounds, fmp_random_bounds, fmp_regions, max_pool_regions,
    region_max_pool_backward, region_max_pool_eval, region_max_pool_forward, PoolRegions, Region,
};
use tinyreg::{BackwardBuffers, Conv2d, ForwardBuffers};

const PLANES: usize = 64 * 16;
const SIDE: usize = 32;

/// A group with the shared settings and its `copy` baseline over `x`.
fn group_with_copy<'c>(
    c: &'c mut Criterion,
    name: &str,
    x: &[f32],
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(x.len() as u64));
    let mut copy = vec![0f32; x.len()];
    group.bench_function("copy", |b| b.iter(|| copy.copy_from_slice(black_box(x))));
    group
}

/// Benches max pooling of the whole batch over `rows x cols` regions.
fn bench_regions(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    x: &[f32],
    rows: &[Region],
    cols: &[Region],
) {
    let out = PLANES * rows.len() * cols.len();
    let (mut y, mut arg) = (vec![0f32; out], vec![0u8; out]);
    group.bench_function(name, |b| {
        b.iter(|| {
            region_max_pool_forward(
                PoolRegions {
                    planes: PLANES,
                    height: SIDE,
                    width: SIDE,
                    rows,
                    cols,
                },
                black_box(x),
                &mut y,
                &mut arg,
            )
            .unwrap()
        })
    });
}

fn pool_groups(c: &mut Criterion) {
    let x: Vec<f32> = (0..PLANES * SIDE * SIDE)
        .map(|i| ((i * 7919) % 1000) as f32)
        .collect();

    let mut group = group_with_copy(c, "pool", &x);
    let mut regions = [(0u16, 0u16); 64];
    let k = max_pool_regions(SIDE, 2, 2, &mut regions).unwrap();
    bench_regions(&mut group, "max_pool_2x2", &x, &regions[..k], &regions[..k]);
    group.finish();

    let mut group = group_with_copy(c, "fmp", &x);
    let side = 22;
    let mut bounds = [0u16; 64];
    let (mut rr, mut cr) = ([(0u16, 0u16); 64], [(0u16, 0u16); 64]);
    fmp_pseudorandom_bounds(0.37, SIDE, side, &mut bounds).unwrap();
    fmp_regions(&bounds[..=side], true, SIDE, &mut rr).unwrap();
    let name = "fractional_32_to_22_overlapping";
    bench_regions(&mut group, name, &x, &rr[..side], &rr[..side]);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(5);
    fmp_random_bounds(&mut rng, SIDE, side, &mut bounds).unwrap();
    fmp_regions(&bounds[..=side], false, SIDE, &mut rr).unwrap();
    fmp_random_bounds(&mut rng, SIDE, side, &mut bounds).unwrap();
    fmp_regions(&bounds[..=side], false, SIDE, &mut cr).unwrap();
    let name = "fractional_32_to_22_disjoint_random";
    bench_regions(&mut group, name, &x, &rr[..side], &cr[..side]);
    group.finish();

    pool_cnn_group(c);
    conv_group(c);
    conv_backward_group(c);
}

/// Group `pool_cnn`: 2x2 max pooling of (64, 16, 28, 28), forward (argmax
/// kept), the eval forward (no argmax) and backward, against copying the input.
fn pool_cnn_group(c: &mut Criterion) {
    let (planes, side) = (64 * 16, 28);
    let x: Vec<f32> = (0..planes * side * side)
        .map(|i| ((i * 7919) % 1000) as f32)
        .collect();
    let mut group = group_with_copy(c, "pool_cnn", &x);
    let mut windows = [(0u16, 0u16); 64];
    let k = max_pool_regions(side, 2, 2, &mut windows).unwrap();
    let r = &windows[..k];
    let regions = PoolRegions {
        planes,
        height: side,
        width: side,
        rows: r,
        cols: r,
    };
    let out = planes * k * k;
    let (mut y, mut arg) = (vec![0f32; out], vec![0u8; out]);
    group.bench_function("max_pool_2x2_forward", |b| {
        b.iter(|| region_max_pool_forward(regions, black_box(&x), &mut y, &mut arg).unwrap())
    });
    let mut y_eval = vec![0f32; out];
    group.bench_function("max_pool_2x2_eval", |b| {
        b.iter(|| region_max_pool_eval(regions, black_box(&x), &mut y_eval).unwrap())
    });
    let mut dx = vec![0f32; x.len()];
    group.bench_function("max_pool_2x2_backward", |b| {
        b.iter(|| region_max_pool_backward(regions, &arg, black_box(&y), &mut dx).unwrap())
    });
    group.finish();
}

/// Group `conv_backward`: the two backward paths, im2col + GEMM and the
/// direct kernels (what `Conv2d::backward` runs at stride 1), at the CNN
/// example's layer shapes, batch 64, with ReLU; the direct path without the
/// input gradient (a network's first layer); and, as the ceiling, the
/// machine's multiply-add peak (12 independent 16-lane FMA chains) and a
/// copy of the input. Throughput in multiply-adds (dW and dx count one each
/// per tap and position).
fn conv_backward_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv_backward");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    // Independent chains to cover the FMA latency on every port, without
    // spilling: an f32x16 is one zmm with AVX-512, two ymm with AVX2 and four
    // xmm with SSE2, of 32, 16 and 16 registers. (12 chains on AVX2 spilled
    // 24 ymm to the stack and measured half the peak on a Zen 3.)
    const CHAINS: usize = if cfg!(target_feature = "avx512f") {
        12
    } else if cfg!(target_feature = "avx") {
        6
    } else {
        3
    };
    const ROUNDS: usize = 1 << 14;
    group.throughput(Throughput::Elements((CHAINS * 16 * ROUNDS) as u64));
    group.bench_function("fma_peak_macs", |b| {
        b.iter(|| {
            let (m, a) = (wide::f32x16::splat(0.999_9), wide::f32x16::splat(1e-3));
            let mut acc = [black_box(wide::f32x16::splat(1.0)); CHAINS];
            for _ in 0..ROUNDS {
                for v in acc.iter_mut() {
                    *v = v.mul_add(m, a);
                }
            }
            black_box(acc)
        })
    });
    let batch = 64;
    for (c_in, c_out, side) in [(1, 16, 28), (16, 32, 14)] {
        let ConvCase {
            conv,
            input,
            w,
            bias,
        } = conv_case(batch, c_in, c_out, side);
        let mut out = vec![0f32; batch * c_out * side * side];
        let mut scratch = vec![0f32; conv.scratch_len()];
        conv.forward(
            &w,
            &bias,
            true,
            ForwardBuffers {
                batch,
                input: &input,
                output: &mut out,
                scratch: &mut scratch,
            },
        )
        .unwrap();
        let dy: Vec<f32> = (0..out.len()).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let (mut g, mut dw, mut db, mut dx) = (
            dy.clone(),
            vec![0f32; w.len()],
            vec![0f32; c_out],
            vec![0f32; input.len()],
        );
        // Both compute the same thing (up to summation order).
        let (mut dw_ref, mut db_ref, mut dx_ref) = (dw.clone(), db.clone(), dx.clone());
        conv.backward(
            &w,
            true,
            &mut dw,
            &mut db,
            BackwardBuffers {
                batch,
                input: &input,
                output: &out,
                grad_output: &mut g,
                grad_input: Some(&mut dx),
                scratch: &mut scratch,
            },
        )
        .unwrap();
        g.copy_from_slice(&dy);
        conv.backward_im2col(
            &w,
            true,
            &mut dw_ref,
            &mut db_ref,
            BackwardBuffers {
                batch,
                input: &input,
                output: &out,
                grad_output: &mut g,
                grad_input: Some(&mut dx_ref),
                scratch: &mut scratch,
            },
        )
        .unwrap();
        for (a, b) in dw.iter().chain(&dx).zip(dw_ref.iter().chain(&dx_ref)) {
            assert!((a - b).abs() <= 1e-3 * (1.0 + a.abs()), "{a} vs {b}");
        }
        let name = format!("{c_in}_to_{c_out}_{side}x{side}");
        let mut copy_in = vec![0f32; input.len()];
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(format!("copy_input_{name}"), |b| {
            b.iter(|| copy_in.copy_from_slice(black_box(&input)))
        });
        let macs = (batch * c_out * side * side * c_in * 9) as u64;
        type Backward = fn(
            &Conv2d,
            &[f32],
            bool,
            &mut [f32],
            &mut [f32],
            BackwardBuffers<'_>,
        ) -> Result<(), tinyreg::Error>;
        let paths: [(&str, Backward, bool); 3] = [
            ("im2col_gemm", Conv2d::backward_im2col, true),
            ("direct", Conv2d::backward, true),
            ("direct_no_input_grad", Conv2d::backward, false),
        ];
        for (path, backward, with_dx) in paths {
            group.throughput(Throughput::Elements(if with_dx { 2 * macs } else { macs }));
            group.bench_function(format!("{path}_{name}_macs"), |b| {
                b.iter(|| {
                    g.copy_from_slice(&dy);
                    let dx = if with_dx { Some(&mut dx[..]) } else { None };
                    let io = BackwardBuffers {
                        batch,
                        input: black_box(&input),
                        output: &out,
                        grad_output: &mut g,
                        grad_input: dx,
                        scratch: &mut scratch,
                    };
                    backward(&conv, &w, true, &mut dw, &mut db, io).unwrap()
                })
            });
        }
    }
    group.finish();
}

/// A 3x3, stride 1, padding 1 convolution of the CNN example's shapes, with
/// a batch of inputs, weights and bias.
struct ConvCase {
    conv: Conv2d,
    input: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
}

fn conv_case(batch: usize, c_in: usize, c_out: usize, side: usize) -> ConvCase {
    let conv = Conv2d {
        in_channels: c_in,
        out_channels: c_out,
        height: side,
        width: side,
        k: 3,
        stride: 1,
        padding: 1,
    };
    ConvCase {
        conv,
        input: (0..batch * c_in * side * side)
            .map(|i| (i % 13) as f32 * 0.1 - 0.5)
            .collect(),
        w: (0..conv.weights_len())
            .map(|i| ((i * 7) % 11) as f32 * 0.02 - 0.1)
            .collect(),
        bias: vec![0.01f32; c_out],
    }
}

/// Group `conv`: the two forward paths, im2col + GEMM and the direct kernel
/// (what `Conv2d::forward` runs at stride 1), at the CNN example's three
/// layer shapes, batch 64, with ReLU. Throughput in multiply-adds.
fn conv_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let batch = 64;
    for (c_in, c_out, side) in [(1, 16, 28), (16, 32, 14), (16, 32, 20)] {
        let ConvCase {
            conv,
            input,
            w,
            bias,
        } = conv_case(batch, c_in, c_out, side);
        let mut out = vec![0f32; batch * c_out * side * side];
        let mut im2col_out = out.clone();
        let mut scratch = vec![0f32; conv.scratch_len()];
        // Both compute the same thing (up to summation order).
        conv.forward(
            &w,
            &bias,
            true,
            ForwardBuffers {
                batch,
                input: &input,
                output: &mut out,
                scratch: &mut scratch,
            },
        )
        .unwrap();
        conv.forward_im2col(
            &w,
            &bias,
            true,
            ForwardBuffers {
                batch,
                input: &input,
                output: &mut im2col_out,
                scratch: &mut scratch,
            },
        )
        .unwrap();
        for (a, b) in out.iter().zip(&im2col_out) {
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
        type Forward =
            fn(&Conv2d, &[f32], &[f32], bool, ForwardBuffers<'_>) -> Result<(), tinyreg::Error>;
        let paths: [(&str, Forward); 2] = [
            ("im2col_gemm", Conv2d::forward_im2col),
            ("direct", Conv2d::forward),
        ];
        for (path, forward) in paths {
            group.bench_function(format!("{path}_{name}_macs"), |b| {
                b.iter(|| {
                    let io = ForwardBuffers {
                        batch,
                        input: black_box(&input),
                        output: &mut out,
                        scratch: &mut scratch,
                    };
                    forward(&conv, &w, &bias, true, io).unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pool_groups);
criterion_main!(benches);
