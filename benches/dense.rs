//! Group `dense`: the dense layer's forward (plain and with fused ReLU) and
//! backward, against `matrixmultiply::sgemm` and the `gemm` crate (feature
//! `x86-v4`) computing the same `y = x W^T`, and the naive f64 reference at the
//! small sizes. Throughput is in FLOP (2 * batch * in * out per multiply), so
//! criterion's "elem/s" reads as FLOP/s.
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench dense`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tinyreg::{reference, BackwardBuffers, Dense, DenseGrads, DenseParams, ForwardBuffers};

const SHAPES: [(usize, usize, usize); 6] = [
    (1, 64, 64),
    (16, 64, 64),
    (32, 256, 256),
    (64, 784, 256),
    (256, 256, 256),
    (1024, 1024, 1024),
];

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1 << 24) as f32
                - 0.5
        })
        .collect()
}

fn dense(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense");
    for (batch, ni, no) in SHAPES {
        let label = format!("{batch}x{ni}x{no}");
        let flops = 2 * batch * ni * no;
        let big = flops > 100_000_000;
        group
            .sample_size(if big { 10 } else { 30 })
            .measurement_time(Duration::from_secs(if big { 3 } else { 2 }))
            .warm_up_time(Duration::from_millis(500));
        let x = values(batch * ni, 1);
        let w = values(ni * no, 2);
        let b = values(no, 3);
        let mut y = vec![0f32; batch * no];
        let mut scratch = vec![0f32; Dense::SCRATCH_LEN];
        let params = DenseParams {
            weights: &w,
            bias: &b,
        };
        let layer = Dense::new(ni, no);
        let layer_relu = layer.with_relu();

        group.throughput(Throughput::Elements(flops as u64));
        group.bench_function(BenchmarkId::new("forward", &label), |bench| {
            bench.iter(|| {
                layer
                    .forward(
                        params,
                        ForwardBuffers {
                            batch,
                            input: black_box(&x),
                            output: &mut y,
                            scratch: &mut scratch,
                        },
                    )
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("forward_relu", &label), |bench| {
            bench.iter(|| {
                layer_relu
                    .forward(
                        params,
                        ForwardBuffers {
                            batch,
                            input: black_box(&x),
                            output: &mut y,
                            scratch: &mut scratch,
                        },
                    )
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("matrixmultiply", &label), |bench| {
            bench.iter(|| {
                // y (batch x out) = x (batch x in) * W^T (in x out); bias omitted.
                // SAFETY: the pointers and strides describe the live slices above.
                unsafe {
                    matrixmultiply::sgemm(
                        batch,
                        ni,
                        no,
                        1.0,
                        black_box(x.as_ptr()),
                        ni as isize,
                        1,
                        w.as_ptr(),
                        1,
                        ni as isize,
                        0.0,
                        y.as_mut_ptr(),
                        no as isize,
                        1,
                    )
                }
            })
        });
        group.bench_function(BenchmarkId::new("gemm", &label), |bench| {
            bench.iter(|| {
                // SAFETY: as above; gemm takes (dst, col stride, row stride, ...).
                unsafe {
                    gemm::gemm(
                        batch,
                        no,
                        ni,
                        y.as_mut_ptr(),
                        1,
                        no as isize,
                        false,
                        black_box(x.as_ptr()),
                        1,
                        ni as isize,
                        w.as_ptr(),
                        ni as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            })
        });
        if flops <= 2_000_000 {
            group.bench_function(BenchmarkId::new("naive", &label), |bench| {
                bench.iter(|| {
                    reference::dense_forward(
                        &layer,
                        batch,
                        params,
                        None,
                        1.0,
                        black_box(&x),
                        &mut y,
                    )
                })
            });
        }

        // Backward (dW, db, dx: two multiplies) and forward + backward (three).
        let mut dy = values(batch * no, 4);
        let mut dw = vec![0f32; ni * no];
        let mut db = vec![0f32; no];
        let mut dx = vec![0f32; batch * ni];
        group.throughput(Throughput::Elements(2 * flops as u64));
        group.bench_function(BenchmarkId::new("backward", &label), |bench| {
            bench.iter(|| {
                let grads = DenseGrads {
                    weights: &mut dw,
                    bias: &mut db,
                };
                layer
                    .backward(
                        params,
                        grads,
                        BackwardBuffers {
                            batch,
                            input: black_box(&x),
                            output: &y,
                            grad_output: &mut dy,
                            grad_input: Some(&mut dx),
                            scratch: &mut scratch,
                        },
                    )
                    .unwrap()
            })
        });
        group.throughput(Throughput::Elements(3 * flops as u64));
        group.bench_function(BenchmarkId::new("forward_backward_relu", &label), |bench| {
            bench.iter(|| {
                layer_relu
                    .forward(
                        params,
                        ForwardBuffers {
                            batch,
                            input: black_box(&x),
                            output: &mut y,
                            scratch: &mut scratch,
                        },
                    )
                    .unwrap();
                let grads = DenseGrads {
                    weights: &mut dw,
                    bias: &mut db,
                };
                layer_relu
                    .backward(
                        params,
                        grads,
                        BackwardBuffers {
                            batch,
                            input: &x,
                            output: &y,
                            grad_output: &mut dy,
                            grad_input: Some(&mut dx),
                            scratch: &mut scratch,
                        },
                    )
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dense);
criterion_main!(benches);
