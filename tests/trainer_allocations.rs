//! The trainer never touches the heap: a counting global allocator sees zero
//! allocations during construction, training steps, fitting, evaluation and
//! prediction. (One test in its own binary, so nothing else allocates meanwhile.)
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tinyreg::{
    BatchNorm, Dense, DepthScaling, Dropout, EarlyStoppingConfig, EpochMetrics, Icls, Layer,
    LearningRate, Metric, Monitor, Network, Optimizer, TrainConfig, Trainer, Update, WeightDecay,
};

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
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
const BATCH: usize = 16;
const FLOATS: usize = Network::new(&LAYERS).memory_len(BATCH, 2, true);

#[test]
fn trainer_never_allocates() {
    let train = Icls::parse(TRAIN).unwrap();
    let test = Icls::parse(TEST).unwrap().slice(0, 100).unwrap();
    let mut mem = vec![0f32; FLOATS];
    let mut order = vec![0u32; train.count];
    let mut history = [EpochMetrics::default(); 2];
    let x = vec![0.25f32; 3 * 64];
    let mut probs = [0f32; 30];
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
    };

    COUNTING.store(true, Ordering::SeqCst);
    let mut trainer = Trainer::new(Network::new(&LAYERS), config, &mut mem).unwrap();
    trainer
        .train_step(&train, &[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    trainer
        .fit(&train, &test, 2, &mut order, &mut history)
        .unwrap();
    trainer.evaluate(&test).unwrap();
    trainer.predict_proba(&x, 3, 0, &mut probs).unwrap();
    trainer.predict_proba(&x, 3, 4, &mut probs).unwrap();
    COUNTING.store(false, Ordering::SeqCst);

    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0);
    assert!(probs.iter().all(|p| p.is_finite()));
}
