//! Group `dropout`: the fused inverted forward, mask sampling and backward,
//! against a `copy` baseline (`copy_from_slice`, the memory floor) and a `naive`
//! baseline (a scalar loop drawing one `rand_xoshiro` value per element, which
//! is what framework dropout costs), and `scale` (`y = a * x` out of place:
//! the same traffic without the mask). Read the results as ratios to those.
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench dropout`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::{bernoulli_mask, mask_bytes, Dropout, MaskRng, Mode};

const KEEP: f32 = 0.9;
const SIZES: [(usize, &str); 4] = [
    (4 << 10, "4K"),
    (256 << 10, "256K"),
    (1 << 20, "1M"),
    (16 << 20, "16M"),
];

/// The obvious scalar inverted dropout: one generator call per element.
fn naive_inverted(
    rng: &mut Xoshiro128PlusPlus,
    threshold: u64,
    scale: f32,
    x: &[f32],
    y: &mut [f32],
    mask: &mut [u8],
) {
    mask.fill(0);
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let kept = (rng.next_u32() as u64) < threshold;
        *y = if kept { x * scale } else { 0.0 };
        mask[i / 8] |= (kept as u8) << (i % 8);
    }
}

fn dropout(c: &mut Criterion) {
    let layer = Dropout::inverted(KEEP).unwrap();
    let threshold = layer.keep().threshold();
    let scale = layer.train_scale();
    let mut group = c.benchmark_group("dropout");
    for (n, label) in SIZES {
        if n >= 16 << 20 {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(4));
        } else {
            group
                .sample_size(30)
                .measurement_time(Duration::from_secs(2));
        }
        group.warm_up_time(Duration::from_millis(500));
        group.throughput(Throughput::Elements(n as u64));
        let x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.01).collect();
        let mut y = vec![0f32; n];
        let mut mask = vec![0u8; mask_bytes(n)];
        let mut rng = MaskRng::seed_from_u64(1);

        group.bench_function(BenchmarkId::new("copy", label), |b| {
            b.iter(|| y.copy_from_slice(black_box(&x)))
        });
        if n <= 1 << 20 {
            let mut scalar = Xoshiro128PlusPlus::seed_from_u64(1);
            group.bench_function(BenchmarkId::new("naive", label), |b| {
                b.iter(|| {
                    naive_inverted(
                        &mut scalar,
                        threshold,
                        scale,
                        black_box(&x),
                        &mut y,
                        &mut mask,
                    )
                })
            });
        }
        // `y = a * x` out of place, what the issue measures dropout against:
        // the same read and write as dropout's, stores included.
        group.bench_function(BenchmarkId::new("scale", label), |b| {
            b.iter(|| {
                for (y, &x) in y.iter_mut().zip(black_box(&x)) {
                    *y = x * scale;
                }
            })
        });
        // In place, as the trainer can run it: no separate output lines to
        // fetch before writing them.
        let mut data = x.clone();
        group.bench_function(BenchmarkId::new("inverted_forward_in_place", label), |b| {
            b.iter(|| {
                layer
                    .forward_in_place(Mode::Train, &mut rng, black_box(&mut data), &mut mask)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("mask_sampling", label), |b| {
            b.iter(|| bernoulli_mask(layer.keep(), &mut rng, n, black_box(&mut mask)).unwrap())
        });
        group.bench_function(BenchmarkId::new("inverted_forward", label), |b| {
            b.iter(|| {
                layer
                    .forward(Mode::Train, &mut rng, black_box(&x), &mut y, &mut mask)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("inverted_forward_mask_free", label), |b| {
            b.iter(|| {
                layer
                    .forward_mask_free(Mode::Train, &mut rng, black_box(&x), &mut y)
                    .unwrap()
            })
        });
        let dy = x.clone();
        group.bench_function(BenchmarkId::new("backward", label), |b| {
            b.iter(|| {
                layer
                    .backward(Mode::Train, black_box(&mask), &dy, &mut y)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dropout);
criterion_main!(benches);
