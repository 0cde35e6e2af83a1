//! Residual blocks around any layers (`Layer::ResidualStart` ...
//! `ResidualEnd`): the fixed block reproduced bit for bit, gradients against
//! central differences around convolution + batch norm + ReLU with and
//! without a projection, per-sample stochastic depth's eval the exact
//! expectation of train by enumeration, a dropped branch leaving its
//! parameters' gradients at zero, and malformed blocks refused.
use tinyreg::{
    BatchNorm, Conv2d, Dense, DepthScaling, Error, Icls, Layer, LearningRate, Mode, Network,
    Optimizer, Projection, StochasticDepth, TrainConfig, Trainer, Update, WeightDecay,
};

mod common;
use common::check_gradients;

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

fn config(batch: usize, seed: u64) -> TrainConfig {
    TrainConfig::new(batch, LearningRate::constant(1e-2))
        .with_update(Update::new(Optimizer::Sgd, WeightDecay::NONE).unwrap())
        .with_seed(seed)
}

fn depth(survival: f32, scaling: DepthScaling, per_row: bool) -> StochasticDepth {
    StochasticDepth {
        survival,
        scaling,
        per_row,
    }
}

/// The general block around Dense + ReLU -> Dense is the fixed
/// `Layer::Residual`: with the same parameters and seed, the same losses and
/// gradients bit for bit over steps that keep and drop the branch.
#[test]
fn residual_block_around_dense_layers_is_the_fixed_block_bit_for_bit() {
    for scaling in [DepthScaling::Paper, DepthScaling::Inverted] {
        let fixed = [
            Layer::Dense(Dense::new(64, 16).with_relu()),
            Layer::Residual {
                features: 16,
                hidden: 8,
                survival: 0.5,
                scaling,
            },
            Layer::Dense(Dense::new(16, 10)),
        ];
        let general = [
            Layer::Dense(Dense::new(64, 16).with_relu()),
            Layer::ResidualStart {
                features: 16,
                depth: depth(0.5, scaling, false),
            },
            Layer::Dense(Dense::new(16, 8).with_relu()),
            Layer::Dense(Dense::new(8, 16)),
            Layer::ResidualEnd {
                features: 16,
                projection: None,
            },
            Layer::Dense(Dense::new(16, 10)),
        ];
        let data = Icls::parse(TRAIN).unwrap();
        let (a, b) = (Network::new(&fixed), Network::new(&general));
        assert_eq!(a.params_len(), b.params_len());
        let mut mem_a = vec![0f32; a.memory_len(8, 0, false)];
        let mut mem_b = vec![0f32; b.memory_len(8, 0, false)];
        let mut ta = Trainer::new(a, config(8, 4), &mut mem_a).unwrap();
        let mut tb = Trainer::new(b, config(8, 4), &mut mem_b).unwrap();
        let params = ta.params().to_vec();
        tb.params_mut().copy_from_slice(&params);
        let mut dropped = 0;
        for step in 0..16u32 {
            let idx: Vec<u32> = (step * 8..step * 8 + 8).collect();
            let la = ta.compute_gradients(&data, &idx).unwrap();
            let lb = tb.compute_gradients(&data, &idx).unwrap();
            assert_eq!(la.to_bits(), lb.to_bits(), "{scaling:?} step {step}");
            assert_eq!(ta.gradients(), tb.gradients(), "{scaling:?} step {step}");
            // The branch's first weights get no gradient when it is dropped.
            let w1 = 64 * 16 + 16;
            dropped += ta.gradients()[w1..w1 + 128].iter().all(|&g| g == 0.0) as u32;
        }
        assert!(
            dropped > 0 && dropped < 16,
            "both outcomes occur ({dropped})"
        );
    }
}

fn conv(in_channels: usize, out_channels: usize, side: usize, k: usize, stride: usize) -> Conv2d {
    Conv2d {
        in_channels,
        out_channels,
        height: side,
        width: side,
        k,
        stride,
        padding: k / 2,
    }
}

/// A residual block around conv + batch norm + ReLU + conv + batch norm,
/// identity skip, then one that halves the image and widens the channels
/// with a 1x1 strided projection; survival 1 in both modes, so the loss is a
/// function of the parameters alone.
#[test]
fn residual_block_around_conv_batch_norm_relu_gradients_match_finite_differences() {
    for per_row in [false, true] {
        let d = depth(1.0, DepthScaling::Inverted, per_row);
        let layers = [
            Layer::Conv2d {
                conv: conv(1, 2, 8, 3, 1),
                relu: true,
            },
            Layer::ResidualStart {
                features: 128,
                depth: d,
            },
            Layer::Conv2d {
                conv: conv(2, 2, 8, 3, 1),
                relu: false,
            },
            Layer::BatchNorm(BatchNorm::over_channels(2, 64)),
            Layer::Relu { features: 128 },
            Layer::Conv2d {
                conv: conv(2, 2, 8, 3, 1),
                relu: false,
            },
            Layer::BatchNorm(BatchNorm::over_channels(2, 64)),
            Layer::ResidualEnd {
                features: 128,
                projection: None,
            },
            Layer::ResidualStart {
                features: 128,
                depth: d,
            },
            Layer::Conv2d {
                conv: conv(2, 3, 8, 3, 2),
                relu: false,
            },
            Layer::BatchNorm(BatchNorm::over_channels(3, 16)),
            Layer::ResidualEnd {
                features: 48,
                projection: Some(Projection::Conv(Conv2d {
                    padding: 0,
                    ..conv(2, 3, 8, 1, 2)
                })),
            },
            Layer::Dense(Dense::new(48, 10)),
        ];
        let data = Icls::parse(TRAIN).unwrap();
        let idx: Vec<u32> = (0..4).collect();
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(4, 0, false)];
        let mut trainer = Trainer::new(net, config(4, 12), &mut mem).unwrap();
        // Keep the first convolution's pre-activations off ReLU's kink,
        // where a difference sees half a slope (with a bias of 0.05, six
        // parameters of one channel were off by 0.017 to 0.039, as one
        // pre-activation within h of 0 would make them; 0.3 clears it).
        let bias = layers[0].params_len() - 2;
        trainer.params_mut()[bias..bias + 2].fill(0.3);
        assert!(check_gradients(&mut trainer, &data, &idx, 13, "residual block") >= 50);
    }
}

/// Per-sample stochastic depth followed by a linear layer: each row's train
/// output is one of two values (branch kept or dropped); weighted by `q` and
/// `1 - q` they give the eval output, for both scalings.
#[test]
fn per_row_stochastic_depth_eval_is_the_expectation_of_train_by_enumeration() {
    for scaling in [DepthScaling::Paper, DepthScaling::Inverted] {
        let layers = [
            Layer::ResidualStart {
                features: 4,
                depth: depth(0.6, scaling, true),
            },
            Layer::Dense(Dense::new(4, 5).with_relu()),
            Layer::Dense(Dense::new(5, 4)),
            Layer::ResidualEnd {
                features: 4,
                projection: None,
            },
            Layer::Dense(Dense::new(4, 3)),
        ];
        let net = Network::new(&layers);
        let mut mem = vec![0f32; net.memory_len(2, 0, false)];
        let mut trainer = Trainer::new(net, config(2, 9), &mut mem).unwrap();
        let x = [0.5f32, -1.0, 2.0, 0.25, 1.5, 0.0, -0.5, 1.0];
        let mut rows: [Vec<Vec<f32>>; 2] = Default::default();
        let mut joint = Vec::new();
        for _ in 0..200 {
            let mut z = vec![0f32; 6];
            trainer.logits(&x, 2, Mode::Train, &mut z).unwrap();
            for (r, seen) in rows.iter_mut().enumerate() {
                let row = z[r * 3..r * 3 + 3].to_vec();
                if !seen.contains(&row) {
                    seen.push(row);
                }
            }
            if !joint.contains(&z) {
                joint.push(z);
            }
        }
        assert!(rows.iter().all(|r| r.len() == 2), "each row keeps or drops");
        assert_eq!(joint.len(), 4, "rows draw independently");
        let mut eval = vec![0f32; 6];
        trainer.logits(&x, 2, Mode::Eval, &mut eval).unwrap();
        let q = tinyreg::Keep::new(0.6).unwrap().probability();
        for (r, seen) in rows.iter().enumerate() {
            let e = &eval[r * 3..r * 3 + 3];
            let ok = |kept: &[f32], dropped: &[f32]| {
                kept.iter().zip(dropped).zip(e).all(|((&k, &d), &e)| {
                    let mean = q * k as f64 + (1.0 - q) * d as f64;
                    (mean - e as f64).abs() <= 1e-5 * (1.0 + mean.abs())
                })
            };
            assert!(
                ok(&seen[0], &seen[1]) || ok(&seen[1], &seen[0]),
                "{scaling:?} row {r}"
            );
        }
    }
}

/// Malformed blocks are typed errors at `Trainer::new`.
#[test]
fn residual_blocks_that_do_not_fit_are_refused() {
    let start = Layer::ResidualStart {
        features: 8,
        depth: StochasticDepth::ALWAYS,
    };
    let end = |features, projection| Layer::ResidualEnd {
        features,
        projection,
    };
    let dense = |i, o| Layer::Dense(Dense::new(i, o));
    let cases: [&[Layer]; 6] = [
        &[start, dense(8, 8)],
        &[dense(8, 8), end(8, None)],
        &[start, end(8, None), dense(8, 10)],
        &[start, start, dense(8, 8), end(8, None), end(8, None)],
        &[start, dense(8, 4), end(4, None), dense(4, 10)],
        &[
            start,
            dense(8, 4),
            end(4, Some(Projection::Dense(Dense::new(6, 4)))),
            dense(4, 10),
        ],
    ];
    for layers in cases {
        let net = Network::new(layers);
        let mut mem = vec![0f32; net.memory_len(4, 0, false).min(1 << 20)];
        let err = Trainer::new(net, config(4, 1), &mut mem).err();
        assert!(
            matches!(err, Some(Error::InvalidConfig { .. })),
            "{layers:?}: {err:?}"
        );
    }
    // Survival outside (0, 1].
    let bad = [
        Layer::ResidualStart {
            features: 8,
            depth: depth(0.0, DepthScaling::Inverted, false),
        },
        dense(8, 8),
        end(8, None),
    ];
    let net = Network::new(&bad);
    let mut mem = vec![0f32; net.memory_len(4, 0, false)];
    let err = Trainer::new(net, config(4, 1), &mut mem).err();
    assert!(matches!(err, Some(Error::InvalidKeep { .. })), "{err:?}");
}
