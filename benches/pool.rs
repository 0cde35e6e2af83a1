//! Groups `pool`, `fmp` and `conv`: 2x2 max pooling and fractional max pooling
//! of a (64, 16, 32, 32) batch, and a 3x3 convolution, each with a `copy`
//! baseline (`copy_from_slice` of the input) in its group. Throughput is in
//! input elements per second (for `conv`, in multiply-adds).
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

    let mut group = c.benchmark_group("conv");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    let conv = Conv2d {
        in_channels: 16,
        out_channels: 32,
        height: 14,
        width: 14,
        k: 3,
        stride: 1,
        padding: 1,
    };
    let batch = 64;
    let input: Vec<f32> = (0..batch * 16 * 14 * 14)
        .map(|i| (i % 13) as f32 * 0.1)
        .collect();
    let w = vec![0.01f32; conv.weights_len()];
    let bias = vec![0f32; 32];
    let mut out = vec![0f32; batch * 32 * 14 * 14];
    let mut scratch = vec![0f32; conv.scratch_len()];
    let mut copy_in = vec![0f32; input.len()];
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("copy", |b| {
        b.iter(|| copy_in.copy_from_slice(black_box(&input)))
    });
    group.throughput(Throughput::Elements((batch * 32 * 14 * 14 * 16 * 9) as u64));
    group.bench_function("conv3x3_16_to_32_14x14_batch64_macs", |b| {
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
    group.finish();
}

criterion_group!(benches, pool_groups);
criterion_main!(benches);
