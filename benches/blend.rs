//! Group `blend`: the mixup blend `lambda a + (1 - lambda) b` against a `copy`
//! baseline (`copy_from_slice` of one input) and a naive scalar loop, in
//! elements per second.
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench blend`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tinyreg::layers::mixup::blend;
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

criterion_group!(benches, blend_group);
criterion_main!(benches);
