//! Group `blend`: the mixup blend `lambda a + (1 - lambda) b` against a `copy`
//! baseline (`copy_from_slice` of one input) and a naive scalar loop, in
//! elements per second. Group `jitter`: color jitter's per-pixel maps on 1M
//! gray pixels (brightness, contrast: one pass for the mean, one to map) and
//! 1M RGB pixels (saturation), in pixels per second, against copying as
//! many floats. Group `geometric`: the resampling augmentations over a batch
//! of 64 Fashion-size images (28 x 28), random rotations and translations
//! (nearest and bilinear) and random resized crops, each drawing its
//! transform per image, against copying the batch, in pixels per second.
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench blend`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::affine::{random_affine, Interpolation, RandomAffine};
use tinyreg::layers::augment::ImageShape;
use tinyreg::layers::color::{adjust_brightness, adjust_contrast, adjust_saturation};
use tinyreg::layers::mixup::blend;
use tinyreg::layers::resized_crop::{random_resized_crop, ResizedCrop};
use tinyreg::reference;

fn blend_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("blend");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for (n, label) in [(4usize << 10, "4K"), (1 << 20, "1M")] {
        group.throughput(Throughput::Elements(n as u64));
        let a: Vec<f32> = (0..n).map(|i| (i % 251) as f32).collect();
        let b: Vec<f32> = (0..n).map(|i| (i % 241) as f32).collect();
        let mut out = vec![0f32; n];
        group.bench_function(BenchmarkId::new("copy", label), |bench| {
            bench.iter(|| out.copy_from_slice(black_box(&a)))
        });
        group.bench_function(BenchmarkId::new("naive", label), |bench| {
            bench.iter(|| reference::blend(0.3, black_box(&a), &b, &mut out))
        });
        group.bench_function(BenchmarkId::new("blend", label), |bench| {
            bench.iter(|| blend(0.3, black_box(&a), &b, &mut out).unwrap())
        });
    }
    group.finish();
}

fn jitter_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    let n = 1usize << 20;
    group.throughput(Throughput::Elements(n as u64));
    let gray = ImageShape {
        channels: 1,
        height: 1024,
        width: 1024,
    };
    let rgb = ImageShape {
        channels: 3,
        ..gray
    };
    let x: Vec<f32> = (0..3 * n).map(|i| (i % 251) as f32 / 251.0).collect();
    let mut out = vec![0f32; 3 * n];
    group.bench_function("copy_1M_gray", |bench| {
        bench.iter(|| out[..n].copy_from_slice(black_box(&x[..n])))
    });
    group.bench_function("brightness_1M_gray", |bench| {
        bench.iter(|| adjust_brightness(gray, black_box(1.0), 1.0, &mut out[..n]).unwrap())
    });
    group.bench_function("contrast_1M_gray", |bench| {
        bench.iter(|| adjust_contrast(gray, black_box(1.0), 1.0, &mut out[..n]).unwrap())
    });
    group.bench_function("copy_1M_rgb", |bench| {
        bench.iter(|| out.copy_from_slice(black_box(&x)))
    });
    group.bench_function("saturation_1M_rgb", |bench| {
        bench.iter(|| adjust_saturation(rgb, black_box(1.0), 1.0, &mut out).unwrap())
    });
    group.finish();
}

fn geometric_group(c: &mut Criterion) {
    let mut group = c.benchmark_group("geometric");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    let shape = ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let (batch, pixels) = (64, shape.len());
    group.throughput(Throughput::Elements((batch * pixels) as u64));
    let x: Vec<f32> = (0..batch * pixels)
        .map(|i| (i % 251) as f32 / 251.0)
        .collect();
    let mut out = vec![0f32; batch * pixels];
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    group.bench_function("copy_64x28x28", |bench| {
        bench.iter(|| out.copy_from_slice(black_box(&x)))
    });
    for (name, interpolation) in [
        ("affine_nearest_64x28x28", Interpolation::Nearest),
        ("affine_bilinear_64x28x28", Interpolation::Bilinear),
    ] {
        let ranges = RandomAffine {
            translate: (0.1, 0.1),
            interpolation,
            ..RandomAffine::rotation(10.0)
        };
        group.bench_function(name, |bench| {
            bench.iter(|| {
                for (src, dst) in x.chunks_exact(pixels).zip(out.chunks_exact_mut(pixels)) {
                    random_affine(&mut rng, shape, &ranges, black_box(src), dst).unwrap();
                }
            })
        });
    }
    let crop = ResizedCrop {
        scale: (0.5, 1.0),
        ..ResizedCrop::DEFAULT
    };
    group.bench_function("resized_crop_64x28x28", |bench| {
        bench.iter(|| {
            for (src, dst) in x.chunks_exact(pixels).zip(out.chunks_exact_mut(pixels)) {
                random_resized_crop(&mut rng, shape, &crop, black_box(src), dst).unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, blend_group, jitter_group, geometric_group);
criterion_main!(benches);
