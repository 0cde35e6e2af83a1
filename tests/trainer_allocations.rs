//! The trainer never touches the heap: a counting global allocator sees zero
//! allocations during construction, training steps, fitting, evaluation and
//! prediction, nor does the hyperparameter recipe (`tune`: the checks, the
//! range test, samplers, successive halving, the curve diagnosis), nor do
//! the expectation checks (`expectation`) or the image augmentations
//! (affine, resized crops, color jitter). Only the
//! test's own thread is counted: the test harness's main thread records the
//! running test (a map insert, a queue push) while this one starts, and on a
//! busy machine those land inside the counted stretch.
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use tinyreg::layers::spatial_dropout::SpatialDropout;
use tinyreg::tune::{
    check_initial_loss, diagnose, lr_range_test, max_findings, validation_split, Finding, Param,
    RangePoint, RangeTestConfig, Sampler, Space, SuccessiveHalving, Thresholds, TrialRecord,
    INITIAL_LOSS_TOLERANCE,
};
use tinyreg::{
    BatchNorm, Conv2d, Dense, DepthScaling, Dropout, EarlyStoppingConfig, EpochMetrics, Icls,
    ImageShape, Layer, LearningRate, Metric, Monitor, Network, Optimizer, Projection,
    StochasticDepth, TrainConfig, Trainer, Update, WeightAverage, WeightDecay,
};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    // A const-initialized thread local: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count_this_thread(on: bool) {
    COUNTING.with(|c| c.set(on));
}

fn counted() {
    // `try_with`: a thread being torn down has no locals left to read.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        counted();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");
const TEST: &[u8] = include_bytes!("../data/digits-test.bin");

const LAYERS: [Layer; 7] = [
    Layer::Dense(Dense::new(64, 32)),
    Layer::BatchNorm(BatchNorm::new(32)),
    Layer::Relu { features: 32 },
    Layer::Residual {
        features: 32,
        hidden: 16,
        survival: 0.7,
        scaling: DepthScaling::Paper,
    },
    Layer::Dropout {
        features: 32,
        dropout: match Dropout::inverted(0.8) {
            Ok(d) => d,
            Err(_) => panic!(),
        },
    },
    Layer::DenseDropConnect(
        Dense::new(32, 16).with_relu(),
        match Dropout::vanilla(0.9) {
            Ok(d) => d,
            Err(_) => panic!(),
        },
    ),
    Layer::Dense(Dense::new(16, 10)),
];
/// A residual CNN: convolution, `BatchNorm2d`, spatial dropout, blocks with
/// per-batch and per-sample stochastic depth (one with a projection), global
/// average pooling.
const CONV: Conv2d = Conv2d {
    in_channels: 2,
    out_channels: 2,
    height: 8,
    width: 8,
    k: 3,
    stride: 1,
    padding: 1,
};
const IMAGES: ImageShape = ImageShape {
    channels: 2,
    height: 8,
    width: 8,
};
const CNN: [Layer; 12] = [
    Layer::Conv2d {
        conv: Conv2d {
            in_channels: 1,
            ..CONV
        },
        relu: true,
    },
    Layer::ResidualStart {
        features: 128,
        depth: StochasticDepth {
            survival: 0.5,
            scaling: DepthScaling::Inverted,
            per_row: false,
        },
    },
    Layer::Conv2d {
        conv: CONV,
        relu: false,
    },
    Layer::BatchNorm(BatchNorm::over_channels(2, 64)),
    Layer::Relu { features: 128 },
    Layer::ResidualEnd {
        features: 128,
        projection: None,
    },
    Layer::SpatialDropout(SpatialDropout {
        shape: IMAGES,
        dropout: match Dropout::inverted(0.8) {
            Ok(d) => d,
            Err(_) => panic!(),
        },
    }),
    Layer::ResidualStart {
        features: 128,
        depth: StochasticDepth {
            survival: 0.8,
            scaling: DepthScaling::Paper,
            per_row: true,
        },
    },
    Layer::Conv2d {
        conv: Conv2d {
            out_channels: 4,
            ..CONV
        },
        relu: true,
    },
    Layer::ResidualEnd {
        features: 256,
        projection: Some(Projection::Conv(Conv2d {
            out_channels: 4,
            k: 1,
            padding: 0,
            ..CONV
        })),
    },
    Layer::GlobalAvgPool {
        shape: ImageShape {
            channels: 4,
            ..IMAGES
        },
    },
    Layer::Dense(Dense::new(4, 10)),
];
const CNN_FLOATS: usize = Network::new(&CNN).memory_len(BATCH, 2, false);
const BATCH: usize = 16;
const FLOATS: usize = Network::new(&LAYERS).memory_len(BATCH, 2, true);

#[test]
fn trainer_never_allocates() {
    let train = Icls::parse(TRAIN).unwrap();
    let test = Icls::parse(TEST).unwrap().slice(0, 100).unwrap();
    let mut order = vec![0u32; train.count];
    let mut history = [EpochMetrics::default(); 2];
    let x = vec![0.25f32; 3 * 64];
    let mut probs = [0f32; 30];
    let mut snapshot = vec![0f32; 40_000];
    let mut points = [RangePoint::default(); 100];
    let mut records = [TrialRecord::EMPTY; 9];
    let mut findings = [Finding::NoisyLoss { noise: 0.0 }; max_findings(7)];
    let (mut images, mut labels) = (vec![0u8; 1437 * 64], vec![0u8; 1437]);
    let space_params = [
        Param::log_uniform("lr", 1e-4, 1e-1),
        Param::choice("optimizer", &["sgd", "adam"]),
        Param::uniform("momentum", 0.5, 0.99).active_when(1, 0),
    ];
    let config = TrainConfig {
        batch: BATCH,
        update: Update::new(
            Optimizer::ADAM,
            WeightDecay {
                l2: 1e-3,
                decoupled: true,
                l1: 1e-5,
            },
        )
        .unwrap(),
        lr: LearningRate::constant(1e-3),
        clip_norm: Some(5.0),
        seed: 3,
        plateau: None,
        early_stopping: Some((
            Metric::ValAccuracy,
            EarlyStoppingConfig {
                mode: Monitor::Max,
                min_delta: 0.0,
                patience: 5,
                start_from_epoch: 0,
                restore_best_weights: true,
            },
        )),
        average: Some(WeightAverage::exponential(0.99).with_start(2)),
    };

    let config_copy = config;
    let floats = Network::new(&LAYERS).memory_len_for(&config);
    assert!(floats > FLOATS, "the average takes memory");
    let (mut mem, mut mem2) = (vec![0f32; floats], vec![0f32; floats]);
    let mut cnn_mem = vec![0f32; CNN_FLOATS];
    let cnn_config = TrainConfig {
        early_stopping: None,
        average: None,
        ..config
    };
    let (mut view_scratch, mut view_tmp) = (vec![0f32; x.len()], vec![0f32; probs.len()]);
    let ten = tinyreg::layers::test_time::ten_crop(2);
    let views = tinyreg::trainer::predict::Views {
        shape: tinyreg::ImageShape {
            channels: 1,
            height: 8,
            width: 8,
        },
        pad: 2,
        list: &ten,
    };
    let (mut gap_sample, mut gap_eval) = (vec![0f32; 30], vec![0f32; 30]);
    let (mut gap_mean, mut gap_spread) = (vec![0f64; 30], vec![0f64; 30]);
    let gap_input = [0.5f32, -1.0, 2.0, 0.25];
    let aug_shape = tinyreg::ImageShape {
        channels: 3,
        height: 8,
        width: 8,
    };
    let aug_image: Vec<f32> = (0..192).map(|i| (i % 7) as f32 / 7.0).collect();
    let mut aug_out = vec![0f32; 192];
    let mut aug_rng =
        <rand_xoshiro::Xoshiro128PlusPlus as rand_core::SeedableRng>::seed_from_u64(5);
    let affine_ranges = tinyreg::layers::affine::RandomAffine {
        translate: (0.2, 0.2),
        interpolation: tinyreg::layers::affine::Interpolation::Bilinear,
        ..tinyreg::layers::affine::RandomAffine::rotation(20.0)
    };
    let jitter = tinyreg::layers::color::ColorJitter {
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        hue: 0.1,
    };
    let augmentation = tinyreg::Augmentation {
        crop_pad: 1,
        affine: Some(affine_ranges),
        hflip: true,
        cutout: 3,
        jitter: Some(jitter),
        jitter_max: 16.0,
        mix: Some(tinyreg::BatchMix::CutMix { alpha: 1.0 }),
        ..tinyreg::Augmentation::none(tinyreg::ImageShape {
            channels: 1,
            height: 8,
            width: 8,
        })
    };
    let (mut aug_floats, mut aug_labels) = (
        vec![0f32; augmentation.floats_len(BATCH)],
        vec![0u32; augmentation.labels_len(BATCH)],
    );
    count_this_thread(true);
    let mut trainer = Trainer::new(Network::new(&LAYERS), config, &mut mem).unwrap();
    let augmenter =
        tinyreg::Augmenter::new(augmentation, BATCH, &mut aug_floats, &mut aug_labels).unwrap();
    trainer.set_augmenter(Some(augmenter)).unwrap();
    trainer
        .fit(&train, &test, 1, &mut order, &mut history)
        .unwrap();
    trainer.set_augmenter(None).unwrap();
    trainer
        .train_step(&train, &[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    trainer
        .fit(&train, &test, 2, &mut order, &mut history)
        .unwrap();
    trainer.evaluate(&test).unwrap();
    trainer.swap_average().unwrap();
    trainer.evaluate(&test).unwrap();
    trainer.swap_average().unwrap();
    trainer.predict_proba(&x, 3, 0, &mut probs).unwrap();
    trainer.predict_proba(&x, 3, 4, &mut probs).unwrap();

    let report = tinyreg::expectation::network_gap(
        &mut trainer,
        &x,
        3,
        20,
        1e-6,
        tinyreg::expectation::GapBuffers {
            sample: &mut gap_sample,
            eval: &mut gap_eval,
            mean: &mut gap_mean,
            spread: &mut gap_spread,
        },
    )
    .unwrap();
    assert!(report.max_gap.is_finite());
    let mut outcomes =
        tinyreg::expectation::DropoutOutcomes::new(Dropout::inverted(0.5).unwrap(), &gap_input)
            .unwrap();
    tinyreg::expectation::exact_gap(
        &mut outcomes,
        tinyreg::expectation::GapBuffers {
            sample: &mut gap_sample[..4],
            eval: &mut gap_eval[..4],
            mean: &mut gap_mean[..4],
            spread: &mut gap_spread[..4],
        },
        true,
    )
    .unwrap();
    let snapshot = &mut snapshot[..trainer.snapshot_len()];
    let test_order = &mut order[..test.count];
    let config = RangeTestConfig::FASTAI;
    lr_range_test(
        &mut trainer,
        &test,
        &config,
        test_order,
        &mut points,
        snapshot,
    )
    .unwrap();
    let space = Space::new(space_params).unwrap();
    for sampler in [
        Sampler::Random,
        Sampler::Sobol,
        Sampler::Grid { shuffled: true },
        Sampler::LatinHypercube { trials: 9 },
    ] {
        for i in 0..9 {
            space.point(sampler, 1, i).unwrap();
        }
    }
    let halving = SuccessiveHalving::new(9, 3, 1, 9).unwrap();
    halving
        .run(&mut records, |r, epochs| Ok(r.trial as f32 / epochs as f32))
        .unwrap();
    let ratios = trainer.update_ratios();
    diagnose(&history, &[], ratios, &Thresholds::DEFAULT, &mut findings).unwrap();
    let full = Icls::parse(TRAIN).unwrap();
    validation_split(&full, 287, 0, &mut images, &mut labels).unwrap();
    let mut fresh = Trainer::new(Network::new(&LAYERS), config_copy, &mut mem2).unwrap();
    check_initial_loss(&mut fresh, &test, INITIAL_LOSS_TOLERANCE).unwrap();
    let mut cnn = Trainer::new(Network::new(&CNN), cnn_config, &mut cnn_mem).unwrap();
    let small = train.slice(0, 64).unwrap();
    cnn.fit(&small, &test, 1, &mut order[..64], &mut history[..1])
        .unwrap();
    cnn.predict_proba(&x, 3, 2, &mut probs).unwrap();
    cnn.predict_views(&x, 3, views, &mut view_scratch, &mut view_tmp, &mut probs)
        .unwrap();
    // The augmentations (images in, images out, nothing on the heap).
    tinyreg::layers::affine::random_affine(
        &mut aug_rng,
        aug_shape,
        &affine_ranges,
        &aug_image,
        &mut aug_out,
    )
    .unwrap();
    tinyreg::layers::resized_crop::random_resized_crop(
        &mut aug_rng,
        aug_shape,
        &tinyreg::layers::resized_crop::ResizedCrop::DEFAULT,
        &aug_image,
        &mut aug_out,
    )
    .unwrap();
    tinyreg::layers::color::color_jitter(&mut aug_rng, aug_shape, &jitter, 1.0, &mut aug_out)
        .unwrap();
    count_this_thread(false);

    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0);
    assert!(probs.iter().all(|p| p.is_finite()));
}
