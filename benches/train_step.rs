//! Group `train_step`: one optimizer step (forward, loss, backward, update) of
//! the digits MLP (64-128-10, batch 32, inverted dropout 0.8 after the hidden
//! layer, Adam), of a 784-256-128-10 MLP (batch 64, same regularizer) and of
//! the Fashion-MNIST CNN of `examples/fashion_cnn.rs` (conv 3x3 16 + ReLU,
//! 2x2 max pooling, conv 3x3 32 + ReLU, 2x2 max pooling, dense 128 + ReLU,
//! dense 10; batch 64, Adam), on fixed batches already in memory.
//! `scripts/pytorch-peers.py` times the same steps in PyTorch for the ratio.
//!
//! Run: `RUSTFLAGS="-C target-cpu=native" cargo bench -p tinyreg-benches --bench train_step`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tinyreg::{
    Conv2d, Dense, Dropout, Icls, ImageShape, Layer, LearningRate, Network, Optimizer, TrainConfig,
    Trainer, Update, WeightDecay,
};

/// An ICLS file of `count` random images (values 0..=255) and labels, in memory.
fn synthetic(count: usize, side: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 + count * (side * side + 1));
    bytes.extend_from_slice(b"ICLS");
    for v in [1u32, count as u32, side as u32, side as u32, 1, 10, 255] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut s = 0x2545_f491u32;
    for _ in 0..count * side * side {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        bytes.push((s >> 24) as u8);
    }
    bytes.extend((0..count).map(|i| (i % 10) as u8));
    bytes
}

fn bench_net(c: &mut Criterion, name: &str, layers: &[Layer], batch: usize, data: &Icls) {
    let net = Network::new(layers);
    let cfg = TrainConfig::new(batch, LearningRate::constant(1e-3))
        .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap())
        .with_seed(1);
    let mut mem = vec![0f32; net.memory_len(batch, 2, false)];
    let mut trainer = Trainer::new(net, cfg, &mut mem).unwrap();
    // As `Trainer::fit` runs all but an epoch's last step (PyTorch's step,
    // the peer, measures nothing either).
    trainer.set_measure_updates(false);
    let idx: Vec<u32> = (0..batch as u32).collect();
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group.bench_function(BenchmarkId::new(name, format!("batch{batch}")), |b| {
        b.iter(|| trainer.train_step(black_box(data), &idx).unwrap())
    });
    group.finish();
}

fn train_step(c: &mut Criterion) {
    let keep = Dropout::inverted(0.8).unwrap();
    let digits = Icls::parse(include_bytes!("../data/digits-train.bin")).unwrap();
    let small = [
        Layer::Dense(Dense::new(64, 128).with_relu()),
        Layer::Dropout {
            features: 128,
            dropout: keep,
        },
        Layer::Dense(Dense::new(128, 10)),
    ];
    bench_net(c, "mlp_64_128_10", &small, 32, &digits);

    let bytes = synthetic(64, 28);
    let images = Icls::parse(&bytes).unwrap();
    let large = [
        Layer::Dense(Dense::new(784, 256).with_relu()),
        Layer::Dropout {
            features: 256,
            dropout: keep,
        },
        Layer::Dense(Dense::new(256, 128).with_relu()),
        Layer::Dropout {
            features: 128,
            dropout: keep,
        },
        Layer::Dense(Dense::new(128, 10)),
    ];
    bench_net(c, "mlp_784_256_128_10", &large, 64, &images);

    let conv = |c_in, c_out, side| Layer::Conv2d {
        conv: Conv2d {
            in_channels: c_in,
            out_channels: c_out,
            height: side,
            width: side,
            k: 3,
            stride: 1,
            padding: 1,
        },
        relu: true,
    };
    let pool = |channels, side| Layer::MaxPool {
        shape: ImageShape {
            channels,
            height: side,
            width: side,
        },
        k: 2,
        stride: 2,
    };
    let cnn = [
        conv(1, 16, 28),
        pool(16, 28),
        conv(16, 32, 14),
        pool(32, 14),
        Layer::Dense(Dense::new(32 * 7 * 7, 128).with_relu()),
        Layer::Dense(Dense::new(128, 10)),
    ];
    bench_net(c, "fashion_cnn", &cnn, 64, &images);
}

criterion_group!(benches, train_step);
criterion_main!(benches);
