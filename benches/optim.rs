//! Group `optim`: one Adam update (`Update::apply`) over the parameters of the
//! two MLPs of `--bench train_step` (9,610 and 235,146 floats), beside a pass
//! with the same memory traffic and trivial arithmetic (read weights,
//! gradients and both moments, write weights and moments: `x += g` each), the
//! floor of any one-pass update. Adam's square root and two divisions per
//! element are what separate the two where the data sits in cache; past the
//! core's L2 (the large MLP's 3.8 MB of weights, gradients and moments), the
//! traffic is.
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench optim`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tinyreg::{Optimizer, Update, WeightDecay};

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1 << 24) as f32
                - 0.5
        })
        .collect()
}

fn optim(c: &mut Criterion) {
    let mut group = c.benchmark_group("optim");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    let adam = Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap();
    for (name, n) in [
        ("mlp_64_128_10", 9_610usize),
        ("mlp_784_256_128_10", 235_146),
    ] {
        let mut params = values(n, 1);
        let grads = values(n, 2);
        let mut state = vec![0f32; 2 * n];
        group.throughput(Throughput::Elements(n as u64));
        let mut step = 0u32;
        group.bench_function(BenchmarkId::new("adam", name), |b| {
            b.iter(|| {
                step = step % 1000 + 1;
                adam.apply(1e-3, step, &mut params, black_box(&grads), &mut state)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("same_traffic", name), |b| {
            b.iter(|| {
                let (m, v) = state.split_at_mut(n);
                for (((p, &g), m), v) in params
                    .iter_mut()
                    .zip(black_box(&grads))
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                {
                    *m += g;
                    *v += g;
                    *p += g;
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, optim);
criterion_main!(benches);
