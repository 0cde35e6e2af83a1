//! # tinyreg
//!
//! Stochastic regularizers for neural-network training, exact and fast, from a
//! laptop with AVX-512 down to a Cortex-M4 with no heap. `#![no_std]`, no `alloc`:
//! the caller hands in every buffer, and every buffer size can be asked for up
//! front (by a `const fn` where possible).
//!
//! It covers the lecture "Training Neural Networks II" of Stanford's CS231n:
//! the stochastic regularizers with their train and eval behaviour, and the
//! recipe for choosing hyperparameters.
//!
//! ## Where to start
//!
//! | you want to | start at |
//! |---|---|
//! | drop units of your own activations | [`Dropout`] (and [`Mode`], [`MaskRng`], [`mask_bytes`]) |
//! | describe a network | [`Layer`] and [`Network`] (every size explicit, `const`-able), or [`layers::describe::build_layers`] (sizes inferred) |
//! | train it | [`TrainConfig`], then [`Trainer`] ([`Trainer::fit`], [`Trainer::predict_proba`]) |
//! | save and resume | [`trainer::checkpoint`] |
//! | choose hyperparameters | [`tune`]: the recipe's checks, the range test, samplers, halving, the curves read |
//! | test that eval is the expectation of train | [`expectation`] (feature `proptest` for strategies) |
//! | call it from C | `capi` (feature `capi`, header `include/tinyreg.h`) |
//!
//! ## Modules
//!
//! The crate is layered, each module using only those before it:
//!
//! | module | what it holds |
//! |---|---|
//! | [`kernels`] | stateless SIMD loops over whole vectors: mask sampling, dropout, GEMM, convolution, pooling, blending, reductions |
//! | `simd` (private) | the one module that names vector types and their widths |
//! | [`layers`] | each layer's shapes, validation and modes, forward and backward, on caller buffers |
//! | [`trainer`] | networks, their memory plan, optimizers and schedules, data, fitting, prediction, ensembles, checkpoints |
//! | [`tune`] | choosing hyperparameters: checks, range test, search spaces and samplers, halving, curve diagnosis |
//! | [`expectation`] | exact and Monte Carlo checks that eval is the expectation of train |
//! | [`distributions`] | seeded continuous draws for augmentation: mixup's Beta, crop offsets, box centres |
//! | [`reference`](mod@reference) | naive scalar oracles of the kernels, for tests |
//!
//! ```
//! use tinyreg::{Dropout, MaskRng, Mode, mask_bytes};
//!
//! const UNITS: usize = 128;
//! let dropout = Dropout::inverted(0.9)?;
//! let mut rng = MaskRng::seed_from_u64(2026);
//! let mut activations = [0.5f32; UNITS];
//! let mut mask = [0u8; mask_bytes(UNITS)]; // 16 bytes for 128 units
//! dropout.forward_in_place(Mode::Train, &mut rng, &mut activations, &mut mask)?;
//!
//! let mut grad = [1.0f32; UNITS];
//! dropout.backward_in_place(Mode::Train, &mask, &mut grad)?;
//! # Ok::<(), tinyreg::Error>(())
//! ```
//!
//! ## Conventions
//! - **`keep`** is the probability that a unit survives. PyTorch, burn and candle
//!   take the drop probability `p = 1 - keep` instead.
//! - **Exact Bernoulli.** A unit is kept when its 32-bit draw is below
//!   `t = round(keep * 2^32)`, so it survives with probability exactly
//!   `q = t / 2^32`; eval and inverted scaling use that `q` (see [`Keep`]).
//! - **[`Mode`]** is always an explicit argument.
//! - **Tensors** are row-major `f32` slices; a mask is bit-packed, bit `i % 8` of
//!   byte `i / 8` for unit `i` ([`mask_bytes`] gives its size).
//! - **Streams.** Unit `i` is decided by draw `i / 16` of stream `i % 16` of a
//!   [`MaskRng`], so a seed gives the same mask bit for bit on every target
//!   whatever its SIMD width. The streams equal `rand_xoshiro`'s scalar generator.
//! - **Errors** are returned, never panicked, and nothing is written on error.
//!
//! ## Platform-specific behavior
//! Dropout is lane-wise (one multiply per element), so results are bit-identical
//! on every target, except NaN payloads, which follow the hardware. Masks are
//! identical everywhere. Dense layers and everything built on them reduce in
//! `f32` in an order (and with FMA or not) that depends on the target, so
//! trained weights agree across targets only to rounding; on one target they
//! are identical run after run.
#![no_std]
#![cfg_attr(not(feature = "capi"), forbid(unsafe_code))]
#![cfg_attr(feature = "capi", deny(unsafe_code))]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std; // behind cfg(feature = "std"): conveniences only, no allocation

#[cfg(feature = "capi")]
#[allow(unsafe_code)]
pub mod capi;
pub mod distributions;
mod error;
pub mod expectation;
pub mod kernels;
pub mod layers;
pub mod reference;
mod rng;
mod simd;
mod size;
pub mod trainer;
pub mod tune;

pub use error::Error;
pub use kernels::bernoulli::{bernoulli_mask, mask_bytes, Keep};
pub use layers::augment::ImageShape;
pub use layers::batch_norm::{BatchNorm, BatchNormGrads, BatchNormState};
pub use layers::buffers::{BackwardBuffers, ForwardBuffers};
pub use layers::conv::Conv2d;
pub use layers::dense::{relu_backward, Dense, DenseGrads, DenseParams, DropConnect};
pub use layers::describe::{build_layers, shaped, BuildError, LayerDesc};
pub use layers::dropout::{Dropout, DropoutKind};
pub use layers::layer::{
    linear_survival, DepthScaling, FmpEval, FmpIncrements, FmpWindows, Layer, Projection,
    StochasticDepth, MAX_EXACT_FMP_SAMPLINGS,
};
pub use layers::loss::{softmax_cross_entropy, softmax_cross_entropy_soft};
pub use layers::mode::Mode;
pub use rng::{MaskRng, MaskRngState, STATE_BYTES, STREAMS};
pub use trainer::augmentation::{Augmentation, Augmenter, BatchMix};
pub use trainer::average::{AverageKind, WeightAverage};
pub use trainer::data::Icls;
pub use trainer::early_stopping::{EarlyStoppingConfig, Monitor};
pub use trainer::network::Network;
pub use trainer::optim::{LearningRate, Optimizer, Schedule, Update, WeightDecay};
pub use trainer::plateau::{PlateauConfig, ReduceOnPlateau};
pub use trainer::predict::ensemble_proba;
pub use trainer::snapshot_ensemble::snapshot_ensemble_proba;
pub use trainer::{EpochMetrics, FitEvent, FitSummary, Metric, Metrics, TrainConfig, Trainer};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
