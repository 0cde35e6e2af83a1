//! Fuzz the trainer: arbitrary layer lists (consistent or not, residual
//! blocks well formed or not), settings
//! (any float bits for the rates, clipping and batch norm's constants) and
//! batches. Nothing may panic or hang; `Trainer::new` either refuses or
//! accepts a buffer of exactly `memory_len` floats; a refused step leaves the
//! parameters as they were; prediction writes probabilities that sum to 1
//! for finite inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::layers::spatial_dropout::SpatialDropout;
use tinyreg::trainer::optim::Schedule;
use tinyreg::{
    BatchNorm, Conv2d, Dense, DepthScaling, Dropout, ImageShape, Layer, LearningRate, Network,
    Optimizer, Projection, StochasticDepth, TrainConfig, Trainer, Update, WeightDecay,
};

mod bytes;
use bytes::Bytes;

/// This target's sizes.
trait Draw {
    fn size(&mut self) -> usize;
}

impl Draw for Bytes<'_> {
    /// Mostly small, sometimes huge.
    fn size(&mut self) -> usize {
        self.pick_size((usize::MAX / 3, 1 << 40), |b| (b % 12) as usize + 1)
    }
}

fn layer(b: &mut Bytes, features: usize) -> Option<Layer> {
    let keep = b.f32();
    let image = |b: &mut Bytes| ImageShape {
        channels: b.size(),
        height: b.size(),
        width: b.size(),
    };
    Some(match b.u8() % 12 {
        0 => Layer::Dense(Dense::new(features, b.size())),
        1 => Layer::Dense(Dense::new(features, b.size()).with_relu()),
        2 => Layer::Relu { features },
        3 => Layer::Dropout {
            features,
            dropout: Dropout::inverted(keep).ok()?,
        },
        4 => Layer::BatchNorm(BatchNorm::with(features, b.f32(), b.f32())),
        5 => Layer::BatchNorm(
            BatchNorm::over_channels(b.size(), b.size()).with_constants(b.f32(), b.f32()),
        ),
        6 => Layer::SpatialDropout(SpatialDropout {
            shape: image(b),
            dropout: Dropout::inverted(keep).ok()?,
        }),
        7 => Layer::GlobalAvgPool { shape: image(b) },
        8 | 9 => Layer::ResidualStart {
            features,
            depth: StochasticDepth {
                survival: keep,
                scaling: DepthScaling::Paper,
                per_row: b.u8() & 1 == 1,
            },
        },
        10 => Layer::ResidualEnd {
            features,
            projection: match b.u8() % 3 {
                0 => None,
                1 => Some(Projection::Dense(Dense::new(b.size(), features))),
                _ => Some(Projection::Conv(Conv2d {
                    in_channels: b.size(),
                    out_channels: b.size(),
                    height: b.size(),
                    width: b.size(),
                    k: 1,
                    stride: b.size(),
                    padding: 0,
                })),
            },
        },
        _ => Layer::Residual {
            features,
            hidden: b.size(),
            survival: keep,
            scaling: DepthScaling::Inverted,
        },
    })
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let mut layers = Vec::new();
    let mut features = b.size();
    for _ in 0..(b.u8() % 6) + 1 {
        let Some(l) = layer(&mut b, features) else {
            return;
        };
        // Now and then a layer that does not fit the previous one.
        features = if b.u8() == 7 {
            l.outputs().saturating_add(1)
        } else {
            l.outputs()
        };
        layers.push(l);
    }
    let batch = (b.u8() % 8) as usize;
    let optimizer = match b.u8() % 3 {
        0 => Optimizer::Sgd,
        1 => Optimizer::Momentum { momentum: b.f32() },
        _ => Optimizer::ADAM,
    };
    let Ok(update) = Update::new(
        optimizer,
        WeightDecay {
            l2: b.f32().abs() % 1.0,
            decoupled: b.u8() & 1 == 1,
            l1: 0.0,
        },
    ) else {
        return;
    };
    let lr = LearningRate {
        base: b.f32(),
        schedule: match b.u8() % 3 {
            0 => Schedule::Constant,
            1 => Schedule::Exponential { gamma: b.f32() },
            _ => Schedule::Cosine {
                total: b.u8() as u32,
                min: b.f32(),
            },
        },
        warmup: b.u8() as u32,
    };
    let clip_norm = (b.u8() & 1 == 1).then(|| b.f32());
    let config = TrainConfig {
        batch,
        update,
        lr,
        clip_norm,
        seed: b.u8() as u64,
        plateau: None,
        early_stopping: None,
        average: None,
    };
    let net = Network::new(&layers);
    let floats = net.memory_len(batch.max(1), optimizer.state_per_param(), false);
    if floats > 1 << 22 {
        // Too big to allocate here; the trainer must still refuse a small buffer.
        let mut small = vec![0f32; 64];
        assert!(Trainer::new(net, config, &mut small).is_err());
        return;
    }
    let mut mem = vec![0f32; floats];
    let Ok(mut trainer) = Trainer::new(net, config, &mut mem) else {
        return;
    };
    let classes = net.outputs();
    let rows = batch;
    // The network's own input width: an image layer first sets its own shape.
    let input: Vec<f32> = (0..rows * net.inputs()).map(|_| b.f32()).collect();
    let labels: Vec<u32> = (0..rows)
        .map(|_| (b.u8() as u32) % (classes as u32 + 1))
        .collect();
    let before = trainer.params().to_vec();
    if trainer.train_step_batch(&input, &labels, None).is_err() {
        let same = before
            .iter()
            .zip(trainer.params())
            .all(|(a, c)| a.to_bits() == c.to_bits());
        assert!(same, "a refused step changed the parameters");
    }
    let mut probs = vec![0f32; rows * classes];
    if trainer.predict_proba(&input, rows, 0, &mut probs).is_ok()
        && input.iter().all(|x| x.is_finite())
        && trainer.params().iter().all(|p| p.is_finite())
    {
        for row in probs.chunks_exact(classes.max(1)) {
            let sum: f32 = row.iter().sum();
            assert!(!sum.is_finite() || (sum - 1.0).abs() < 1e-3, "{sum}");
        }
    }
});
