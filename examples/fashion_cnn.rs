//! A small CNN on Fashion-MNIST (15,000 of the first 20,000 official training
//! images, the other 5,000 a seeded validation split; the official 10,000 for
//! test) with each image regularizer: baseline, cutout, random crop + flip,
//! mixup, CutMix, fractional max pooling instead of max pooling, and
//! combinations; then a small residual CNN with `BatchNorm2d`, with and
//! without stochastic depth and spatial dropout; then the rest of the
//! toolbox: jitter, resized crops, rotations and translations, plateau decay,
//! warm restarts, a moving average of the weights and a snapshot ensemble.
//! Prints train, validation and test accuracy and time (each row
//! single-threaded; rows run in parallel, one per core), and for some rows
//! the accuracy of ten-crop testing, the averaged weights or the snapshot
//! ensemble beside the single model's. Rows are compared on validation; test
//! is printed for reference, not to choose.
//!
//! Run: `scripts/fetch-fashion-mnist.sh && RUSTFLAGS="-C target-cpu=native" cargo run --release --example fashion_cnn`
//! (optional arguments: data folder, epochs, rows to run such as `1,7`).

#[path = "common/fashion_data.rs"]
mod fashion_data;

use std::process::ExitCode;
use std::time::Instant;

use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::distributions::beta;
use tinyreg::layers::affine::{random_affine, Interpolation, RandomAffine};
use tinyreg::layers::augment::{cutmix, cutout, hflip, random_crop};
use tinyreg::layers::color::{color_jitter, ColorJitter};
use tinyreg::layers::mixup::Mixup;
use tinyreg::layers::resized_crop::{random_resized_crop, ResizedCrop};
use tinyreg::layers::test_time::ten_crop;
use tinyreg::trainer::data::shuffled_indices;
use tinyreg::trainer::predict::Views;
use tinyreg::tune::validation_split;
use tinyreg::{
    build_layers, linear_survival, snapshot_ensemble_proba, Dropout, DropoutKind, Error, FmpEval,
    FmpIncrements, FmpWindows, Icls, ImageShape, Layer, LayerDesc, LearningRate, Monitor, Network,
    Optimizer, PlateauConfig, ReduceOnPlateau, Schedule, StochasticDepth, TrainConfig, Trainer,
    Update, WeightAverage, WeightDecay,
};

const TRAIN_COUNT: usize = 20_000;
const BATCH: usize = 64;
const IMAGE: ImageShape = ImageShape {
    channels: 1,
    height: 28,
    width: 28,
};
const PIXELS: usize = 784;

#[derive(Clone, Copy, PartialEq)]
enum Augment {
    None,
    Cutout,
    CropFlip,
    Mixup,
    CutMix,
    CropFlipCutout,
    /// Brightness and contrast jitter (0.4 each; saturation and hue are moot
    /// on gray images).
    Jitter,
    /// Random resized crops of half the area or more (ratio 3/4 to 4/3).
    ResizedCrops,
    /// Rotations within 10 degrees and translations within 10% (bilinear).
    Affine,
}

/// The learning-rate schedule of a row, and the weights it keeps besides
/// its own (evaluated in the table's last column).
#[derive(Clone, Copy, PartialEq)]
enum Rate {
    /// Cosine decay over the run (the table's default).
    Cosine,
    /// Cosine decay, and an exponential moving average of the weights
    /// (decay 0.998: a horizon of about 2 of the 8 epochs).
    CosineEma,
    /// A constant rate, and the same moving average.
    ConstantEma,
    /// Warm restarts every 2 epochs (`T_mult = 1`), a snapshot at each
    /// cycle's end: a snapshot ensemble.
    Snapshots,
    /// Constant, halved when the validation loss has not improved for an
    /// epoch (`ReduceOnPlateau`: factor 0.5, patience 1).
    Plateau,
    /// Warm restarts: cycles of 2 and 6 epochs (SGDR, `T_mult = 3`).
    Restarts,
}

/// Which pooling the two pooling layers use.
#[derive(Clone, Copy, PartialEq)]
enum Pooling {
    /// 2x2 max pooling: 28 -> 14 -> 7.
    Max,
    /// Fractional max pooling 28 -> 20 -> 14 with these regions, drawn per
    /// plane (`true`) or per batch.
    Fractional(FmpWindows, bool),
}

/// Which network a row trains.
#[derive(Clone, Copy, PartialEq)]
enum Model {
    /// The small CNN with this pooling, and dropout before the last layer or not.
    Small(Pooling, bool),
    /// The residual CNN, with stochastic depth (linear decay to 0.5 over its
    /// three blocks, per batch) or not, and spatial dropout (keep 0.9) after
    /// each of its first two stages or not.
    Residual { depth: bool, spatial: bool },
}

/// A `k x k` convolution to `filters` channels, same padding, no ReLU.
const fn conv(filters: usize, k: usize) -> LayerDesc {
    LayerDesc::Conv {
        filters,
        kernel: k,
        stride: 1,
        padding: k / 2,
        relu: false,
    }
}

/// The network of `descs` on the 28x28 images, shapes inferred.
fn build(descs: &[LayerDesc]) -> Result<Vec<Layer>, Error> {
    let mut layers = vec![Layer::Relu { features: 0 }; descs.len()];
    build_layers(IMAGE, 10, descs, &mut layers)?;
    Ok(layers)
}

/// A small ResNet (He et al. 2016, "basic" blocks): conv3x3(16)-BN-ReLU, then
/// three stages of one residual block each (16 channels at 28x28, 32 at 14x14
/// with a 1x1 projection, 32 at 7x7; each block conv-BN-ReLU-conv-BN added
/// to its input, then ReLU), 2x2 max pooling between stages, global average
/// pooling, dense(10).
fn residual_layers(depth: bool, spatial: bool) -> Result<Vec<Layer>, Error> {
    let survival = |block| {
        if depth {
            linear_survival(block, 3, 0.5)
        } else {
            1.0
        }
    };
    let block = |block, filters| {
        [
            LayerDesc::BlockStart(StochasticDepth {
                survival: survival(block),
                ..StochasticDepth::ALWAYS
            }),
            conv(filters, 3),
            LayerDesc::BATCH_NORM_2D,
            LayerDesc::Relu,
            conv(filters, 3),
            LayerDesc::BATCH_NORM_2D,
            LayerDesc::BlockEnd, // a 1x1 projection where the channels change
            LayerDesc::Relu,
        ]
    };
    let stage_end = |descs: &mut Vec<LayerDesc>| -> Result<(), Error> {
        if spatial {
            descs.push(LayerDesc::SpatialDropout(Dropout::new(
                DropoutKind::Inverted,
                0.9,
            )?));
        }
        descs.push(LayerDesc::MaxPool {
            kernel: 2,
            stride: 2,
        });
        Ok(())
    };
    let mut descs = vec![conv(16, 3), LayerDesc::BATCH_NORM_2D, LayerDesc::Relu];
    descs.extend(block(1, 16));
    stage_end(&mut descs)?;
    descs.extend(block(2, 32));
    stage_end(&mut descs)?;
    descs.extend(block(3, 32));
    descs.push(LayerDesc::GlobalAvgPool);
    descs.push(LayerDesc::Dense {
        units: 10,
        relu: false,
        dropconnect: None,
    });
    build(&descs)
}

/// conv-relu-pool-conv-relu-pool-dense(128)-[dropout]-dense(10).
fn layers(pooling: Pooling, dropout: bool) -> Result<Vec<Layer>, Error> {
    let pool = |out| match pooling {
        Pooling::Max => LayerDesc::MaxPool {
            kernel: 2,
            stride: 2,
        },
        Pooling::Fractional(windows, per_plane) => LayerDesc::FractionalMaxPool {
            out,
            windows,
            per_plane,
            eval: FmpEval::Average(4),
        },
    };
    // Without dropout, a ReLU after the ReLU of the dense layer: an identity
    // that keeps the layer count fixed and draws nothing.
    let regularizer = if dropout {
        LayerDesc::Dropout(Dropout::new(DropoutKind::Inverted, 0.5)?)
    } else {
        LayerDesc::Relu
    };
    let relu = |desc| match desc {
        LayerDesc::Conv {
            filters,
            kernel,
            stride,
            padding,
            ..
        } => LayerDesc::Conv {
            filters,
            kernel,
            stride,
            padding,
            relu: true,
        },
        other => other,
    };
    build(&[
        relu(conv(16, 3)),
        pool(20), // fractional: 28 -> 20 -> 14
        relu(conv(32, 3)),
        pool(14),
        LayerDesc::Dense {
            units: 128,
            relu: true,
            dropconnect: None,
        },
        regularizer,
        LayerDesc::Dense {
            units: 10,
            relu: false,
            dropconnect: None,
        },
    ])
}

fn run(
    name: &str,
    (model, augment, rate): (Model, Augment, Rate),
    epochs: u32,
    (train, val, test): (&Icls, &Icls, &Icls),
) -> Result<String, Error> {
    let layers = match model {
        Model::Small(pooling, dropout) => layers(pooling, dropout)?,
        Model::Residual { depth, spatial } => residual_layers(depth, spatial)?,
    };
    let net = Network::new(&layers);
    let steps_per_epoch = (train.count / BATCH) as u32;
    let steps = epochs * steps_per_epoch;
    let schedule = match rate {
        Rate::Cosine | Rate::CosineEma => Schedule::Cosine {
            total: steps,
            min: 1e-5,
        },
        Rate::Plateau | Rate::ConstantEma => Schedule::Constant,
        Rate::Snapshots => Schedule::CosineWarmRestarts {
            first: 2 * steps_per_epoch,
            mult: 1,
            min: 1e-5,
        },
        Rate::Restarts => Schedule::CosineWarmRestarts {
            first: 2 * steps_per_epoch,
            mult: 3,
            min: 1e-5,
        },
    };
    let config = TrainConfig::new(
        BATCH,
        LearningRate {
            base: 2e-3,
            schedule,
            warmup: 0,
        },
    )
    .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE)?);
    let config = match rate {
        Rate::CosineEma | Rate::ConstantEma => {
            config.with_average(WeightAverage::exponential(EMA_DECAY))
        }
        _ => config,
    };
    let mut plateau = ReduceOnPlateau::new(PlateauConfig {
        factor: 0.5,
        patience: 1,
        ..PlateauConfig::new(Monitor::Min)
    })?;
    let mut lr = 2e-3;
    let mut memory = vec![0f32; net.memory_len_for(&config)];
    let mut trainer = Trainer::new(net, config, &mut memory)?;
    let mut snapshots = Vec::new();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(7);
    let mut order = vec![0u32; train.count];
    let (mut x, mut x2) = (vec![0f32; BATCH * PIXELS], vec![0f32; BATCH * PIXELS]);
    let (mut labels, mut partner) = ([0u32; BATCH], [0u32; BATCH]);
    let mut pairs = [0u32; BATCH];
    let mixup = Mixup::new(0.2)?;
    let start = Instant::now();
    for _ in 0..epochs {
        shuffled_indices(&mut rng, &mut order);
        for chunk in order.chunks_exact(BATCH) {
            train.gather(chunk, &mut x, &mut labels)?;
            let mut mix = None;
            match augment {
                Augment::None => {}
                Augment::Cutout => {
                    for img in x.chunks_exact_mut(PIXELS) {
                        cutout(&mut rng, IMAGE, 10, img)?;
                    }
                }
                Augment::CropFlip | Augment::CropFlipCutout => {
                    x2.copy_from_slice(&x);
                    for (src, dst) in x2.chunks_exact(PIXELS).zip(x.chunks_exact_mut(PIXELS)) {
                        random_crop(&mut rng, IMAGE, 2, src, dst)?;
                        hflip(&mut rng, IMAGE, dst)?;
                        if augment == Augment::CropFlipCutout {
                            cutout(&mut rng, IMAGE, 10, dst)?;
                        }
                    }
                }
                Augment::Mixup => {
                    let lambda = mixup.sample(&mut rng, &mut pairs)?;
                    mixup.mix(lambda, &pairs, PIXELS, &x, &mut x2)?;
                    x.copy_from_slice(&x2);
                    for (p, &j) in partner.iter_mut().zip(&pairs) {
                        *p = labels[j as usize];
                    }
                    mix = Some(lambda);
                }
                Augment::CutMix => {
                    // One lambda per batch, boxes per image; the label weight is
                    // the batch's mean pasted fraction (each image's own box).
                    let lambda = beta(&mut rng, 1.0, 1.0)?;
                    x2.copy_from_slice(&x);
                    let mut pasted = 0.0;
                    for i in 0..BATCH {
                        let j = (i + BATCH - 1) % BATCH;
                        let (_, fraction) = cutmix(
                            &mut rng,
                            IMAGE,
                            lambda,
                            &x2[j * PIXELS..(j + 1) * PIXELS],
                            &mut x[i * PIXELS..(i + 1) * PIXELS],
                        )?;
                        pasted += fraction / BATCH as f32;
                        partner[i] = labels[j];
                    }
                    mix = Some(1.0 - pasted);
                }
                Augment::Jitter => color_jitter(&mut rng, IMAGE, &JITTER, 1.0, &mut x)?,
                Augment::Affine => {
                    x2.copy_from_slice(&x);
                    for (src, dst) in x2.chunks_exact(PIXELS).zip(x.chunks_exact_mut(PIXELS)) {
                        random_affine(&mut rng, IMAGE, &AFFINE, src, dst)?;
                    }
                }
                Augment::ResizedCrops => {
                    x2.copy_from_slice(&x);
                    let crop = ResizedCrop {
                        scale: (0.5, 1.0),
                        ..ResizedCrop::DEFAULT
                    };
                    for (src, dst) in x2.chunks_exact(PIXELS).zip(x.chunks_exact_mut(PIXELS)) {
                        random_resized_crop(&mut rng, IMAGE, &crop, src, dst)?;
                    }
                }
            }
            trainer.train_step_batch(&x, &labels, mix.map(|l| (&partner[..], l)))?;
        }
        if rate == Rate::Plateau {
            // The validation loss picks the rate, as Keras's callback does.
            lr = plateau.update(trainer.evaluate(val)?.loss, lr);
            trainer.set_learning_rate(LearningRate::constant(lr))?;
        }
        if rate == Rate::Snapshots && trainer.steps() % (2 * steps_per_epoch) == 0 {
            // A cycle ended: keep its weights.
            let at = snapshots.len();
            snapshots.resize(at + trainer.weights_len(), 0.0);
            trainer.copy_weights(&mut snapshots[at..])?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let train_acc = trainer.evaluate(train)?.accuracy;
    let val_acc = trainer.evaluate(val)?.accuracy;
    let test_acc = trainer.evaluate(test)?.accuracy;
    // Test-time augmentation for the rows trained with crops and flips, the
    // averaged weights or the snapshot ensemble for the rows that keep them.
    let extra = match (augment, rate) {
        (Augment::CropFlip | Augment::CropFlipCutout, _) => format!(
            "ten-crop {:.4} / {:.4}",
            ten_crop_accuracy(&mut trainer, val)?,
            ten_crop_accuracy(&mut trainer, test)?
        ),
        (_, Rate::CosineEma | Rate::ConstantEma) => {
            trainer.swap_average()?;
            let (v, t) = (
                trainer.evaluate(val)?.accuracy,
                trainer.evaluate(test)?.accuracy,
            );
            trainer.swap_average()?;
            format!("EMA {v:.4} / {t:.4}")
        }
        (_, Rate::Snapshots) => format!(
            "{} snapshots {:.4} / {:.4}",
            snapshots.len() / trainer.weights_len(),
            snapshot_accuracy(&mut trainer, &mut snapshots, val)?,
            snapshot_accuracy(&mut trainer, &mut snapshots, test)?
        ),
        _ => "–".into(),
    };
    Ok(format!(
        "| {name} | {train_acc:.4} | {val_acc:.4} | {test_acc:.4} | {extra} | {seconds:.0} s |"
    ))
}

/// Brightness and contrast jitter of the `Augment::Jitter` rows.
const JITTER: ColorJitter = ColorJitter {
    brightness: 0.4,
    contrast: 0.4,
    saturation: 0.0,
    hue: 0.0,
};

/// Rotations and translations of the `Augment::Affine` rows.
const AFFINE: RandomAffine = RandomAffine {
    translate: (0.1, 0.1),
    interpolation: Interpolation::Bilinear,
    ..RandomAffine::rotation(10.0)
};

/// Decay of the moving average of the `*Ema` rows.
const EMA_DECAY: f64 = 0.998;

/// Accuracy with probabilities averaged over ResNet's ten crops of the
/// image padded by 2 (the crops training drew from).
fn ten_crop_accuracy(trainer: &mut Trainer<'_, '_>, data: &Icls) -> Result<f32, Error> {
    let crops = ten_crop(2);
    let views = Views {
        shape: IMAGE,
        pad: 2,
        list: &crops,
    };
    let mut scratch = vec![0f32; BATCH * PIXELS];
    let mut tmp = [0f32; BATCH * 10];
    accuracy_by(data, |x, rows, probs| {
        let (scratch, tmp) = (&mut scratch[..rows * PIXELS], &mut tmp[..rows * 10]);
        trainer.predict_views(x, rows, views, scratch, tmp, probs)
    })
}

/// Accuracy of the mean probabilities of the snapshots.
fn snapshot_accuracy(
    trainer: &mut Trainer<'_, '_>,
    snapshots: &mut [f32],
    data: &Icls,
) -> Result<f32, Error> {
    let mut tmp = [0f32; BATCH * 10];
    accuracy_by(data, |x, rows, probs| {
        snapshot_ensemble_proba(trainer, snapshots, x, rows, probs, &mut tmp[..rows * 10])
    })
}

/// Accuracy of the class probabilities `predict(input, rows, probs)` gives,
/// batch by batch.
fn accuracy_by(
    data: &Icls,
    mut predict: impl FnMut(&[f32], usize, &mut [f32]) -> Result<(), Error>,
) -> Result<f32, Error> {
    let mut x = vec![0f32; BATCH * PIXELS];
    let (mut labels, mut probs) = ([0u32; BATCH], [0f32; BATCH * 10]);
    let mut correct = 0;
    let all: Vec<u32> = (0..data.count as u32).collect();
    for chunk in all.chunks(BATCH) {
        let rows = chunk.len();
        let (x, labels) = (&mut x[..rows * PIXELS], &mut labels[..rows]);
        data.gather(chunk, x, labels)?;
        let probs = &mut probs[..rows * 10];
        predict(x, rows, probs)?;
        for (row, &label) in probs.chunks_exact(10).zip(labels.iter()) {
            let best = (0..10).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            correct += (best as u32 == label) as usize;
        }
    }
    Ok(correct as f32 / data.count as f32)
}

const USAGE: &str = "usage: fashion_cnn [data dir] [epochs >= 1] [rows, e.g. 1,7 (1 to 26)]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .cloned()
        .unwrap_or_else(|| "data/fashion-mnist".into());
    let epochs = match args.get(1).map(|e| e.parse::<u32>()) {
        None => 8,
        Some(Ok(e)) if e >= 1 => e,
        _ => return usage(),
    };
    // Optional third argument: the rows to run, e.g. "1,6" (all by default).
    let only: Vec<usize> = match args.get(2) {
        None => Vec::new(),
        Some(rows) => match rows
            .split(',')
            .map(|r| r.parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(rows) if rows.iter().all(|&r| (1..=ROWS).contains(&r)) => rows,
            _ => return usage(),
        },
    };
    if args.len() > 3 {
        return usage();
    }
    match table(&dir, epochs, &only) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// Rows of the table.
const ROWS: usize = 26;
/// The validation split carved (seeded) from the 20,000 training images.
const VAL_COUNT: usize = 5_000;

fn table(dir: &str, epochs: u32, only: &[usize]) -> Result<(), Error> {
    let (train_bytes, test_bytes) = match fashion_data::load(dir, TRAIN_COUNT) {
        Ok(bytes) => bytes,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    let (full, test) = (Icls::parse(&train_bytes)?, Icls::parse(&test_bytes)?);
    let (mut images, mut labels) = (vec![0u8; full.images.len()], vec![0u8; full.count]);
    let (train, val) = validation_split(&full, VAL_COUNT, 0, &mut images, &mut labels)?;
    println!("Fashion-MNIST CNN: conv3x3(16)-pool-conv3x3(32)-pool-dense(128)-[dropout]-dense(10), Adam 2e-3 cosine, batch {BATCH}, {epochs} epochs, seed 0");
    println!(
        "{} train / {} validation (seeded split of the first 20,000) / {} test; compare rows on validation, test is for reference\n",
        train.count, val.count, test.count
    );
    println!("| model | train acc | val acc | test acc | ten-crop, EMA or snapshot ensemble: val / test | time |");
    println!("|---|---|---|---|---|---|");
    let graham = |increments, overlapping| FmpWindows::Graham {
        increments,
        overlapping,
    };
    let pseudo = Pooling::Fractional(graham(FmpIncrements::Pseudorandom, true), false);
    let random = Pooling::Fractional(graham(FmpIncrements::Random, false), false);
    let pseudo_per_plane = Pooling::Fractional(graham(FmpIncrements::Pseudorandom, true), true);
    let pytorch = Pooling::Fractional(FmpWindows::PyTorch { kernel: 2 }, true);
    let rows = [
        (
            "max pooling, no augmentation",
            (
                Model::Small(Pooling::Max, false),
                Augment::None,
                Rate::Cosine,
            ),
        ),
        (
            "+ cutout 10x10",
            (
                Model::Small(Pooling::Max, false),
                Augment::Cutout,
                Rate::Cosine,
            ),
        ),
        (
            "+ crop (pad 2) and flip",
            (
                Model::Small(Pooling::Max, false),
                Augment::CropFlip,
                Rate::Cosine,
            ),
        ),
        (
            "+ mixup (alpha 0.2)",
            (
                Model::Small(Pooling::Max, false),
                Augment::Mixup,
                Rate::Cosine,
            ),
        ),
        (
            "+ CutMix (alpha 1)",
            (
                Model::Small(Pooling::Max, false),
                Augment::CutMix,
                Rate::Cosine,
            ),
        ),
        (
            "+ dropout 0.5 before the last layer",
            (
                Model::Small(Pooling::Max, true),
                Augment::None,
                Rate::Cosine,
            ),
        ),
        (
            "FMP 28-20-14, pseudorandom, overlapping",
            (Model::Small(pseudo, false), Augment::None, Rate::Cosine),
        ),
        (
            "FMP 28-20-14, random, disjoint",
            (Model::Small(random, false), Augment::None, Rate::Cosine),
        ),
        (
            "crop, flip and cutout",
            (
                Model::Small(Pooling::Max, false),
                Augment::CropFlipCutout,
                Rate::Cosine,
            ),
        ),
        (
            "FMP (pseudorandom, overlapping) + dropout",
            (Model::Small(pseudo, true), Augment::None, Rate::Cosine),
        ),
        (
            "FMP (pseudorandom, overlapping) + crop and flip",
            (Model::Small(pseudo, false), Augment::CropFlip, Rate::Cosine),
        ),
        (
            "FMP (pseudorandom, overlapping) + mixup",
            (Model::Small(pseudo, false), Augment::Mixup, Rate::Cosine),
        ),
        (
            "residual CNN (BatchNorm2d, 3 blocks, global average pooling)",
            (
                Model::Residual {
                    depth: false,
                    spatial: false,
                },
                Augment::None,
                Rate::Cosine,
            ),
        ),
        (
            "residual CNN + stochastic depth (linear decay to 0.5)",
            (
                Model::Residual {
                    depth: true,
                    spatial: false,
                },
                Augment::None,
                Rate::Cosine,
            ),
        ),
        (
            "residual CNN + spatial dropout 0.9",
            (
                Model::Residual {
                    depth: false,
                    spatial: true,
                },
                Augment::None,
                Rate::Cosine,
            ),
        ),
        (
            "residual CNN + stochastic depth + spatial dropout",
            (
                Model::Residual {
                    depth: true,
                    spatial: true,
                },
                Augment::None,
                Rate::Cosine,
            ),
        ),
        (
            "FMP 28-20-14, pseudorandom, overlapping, drawn per plane",
            (
                Model::Small(pseudo_per_plane, false),
                Augment::None,
                Rate::Cosine,
            ),
        ),
        (
            "FMP 28-20-14, PyTorch's 2x2 windows, drawn per plane",
            (Model::Small(pytorch, false), Augment::None, Rate::Cosine),
        ),
        (
            "+ brightness and contrast jitter (0.4)",
            (
                Model::Small(Pooling::Max, false),
                Augment::Jitter,
                Rate::Cosine,
            ),
        ),
        (
            "max pooling, constant rate halved on plateau",
            (
                Model::Small(Pooling::Max, false),
                Augment::None,
                Rate::Plateau,
            ),
        ),
        (
            "max pooling, warm restarts (cycles of 2 and 6 epochs)",
            (
                Model::Small(Pooling::Max, false),
                Augment::None,
                Rate::Restarts,
            ),
        ),
        (
            "+ random resized crops (half the area or more)",
            (
                Model::Small(Pooling::Max, false),
                Augment::ResizedCrops,
                Rate::Cosine,
            ),
        ),
        (
            "+ rotations (10 degrees) and translations (10%)",
            (
                Model::Small(Pooling::Max, false),
                Augment::Affine,
                Rate::Cosine,
            ),
        ),
        (
            "max pooling, cosine, EMA of the weights (0.998)",
            (
                Model::Small(Pooling::Max, false),
                Augment::None,
                Rate::CosineEma,
            ),
        ),
        (
            "max pooling, constant rate, EMA of the weights (0.998)",
            (
                Model::Small(Pooling::Max, false),
                Augment::None,
                Rate::ConstantEma,
            ),
        ),
        (
            "max pooling, warm restarts every 2 epochs, last snapshot",
            (
                Model::Small(Pooling::Max, false),
                Augment::None,
                Rate::Snapshots,
            ),
        ),
    ];
    debug_assert_eq!(rows.len(), ROWS);
    let rows: Vec<_> = rows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| only.is_empty() || only.contains(&(i + 1)))
        .map(|(_, row)| row)
        .collect();
    // The rows are independent: one per core at a time, printed in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(rows.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(name, model)) = rows.get(i) else {
                            return done;
                        };
                        done.push((i, run(name, model, epochs, (&train, &val, &test))));
                    }
                })
            })
            .collect();
        let mut all: Vec<_> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("a training thread panicked"))
            .collect();
        all.sort_by_key(|&(i, _)| i);
        all
    });
    for (_, line) in results {
        println!("{}", line?);
    }
    Ok(())
}
