//! Proptest strategies (feature `proptest`, which turns on `std`: this is
//! the one module that allocates, test-side only, never the checks it feeds)
//! for property tests of "eval is
//! the expectation of train": valid stochastic layers with inputs small
//! enough to enumerate, and small networks with a batch of inputs. Each
//! strategy only generates what the crate accepts, so a property test states
//! the property and nothing else:
//!
//! ```
//! use proptest::prelude::*;
//! use tinyreg::expectation::strategies::{dropout_case, Buffers};
//! use tinyreg::expectation::{exact_gap, DropoutOutcomes, Verdict};
//!
//! proptest! {
//!     // #[test] in a test file; here the doctest calls it.
//!     fn dropout_eval_is_the_expectation((dropout, input) in dropout_case(1..=8)) {
//!         let mut outcomes = DropoutOutcomes::new(dropout, &input).unwrap();
//!         let mut buffers = Buffers::new(input.len());
//!         let report = exact_gap(&mut outcomes, buffers.borrow(), true).unwrap();
//!         prop_assert_eq!(report.verdict(), Verdict::Equal);
//!     }
//! }
//! # dropout_eval_is_the_expectation();
//! ```

use core::ops::RangeInclusive;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::GapBuffers;
use crate::layers::augment::ImageShape;
use crate::layers::dense::Dense;
use crate::layers::dropout::Dropout;
use crate::layers::layer::Layer;
use crate::layers::spatial_dropout::SpatialDropout;

/// Owned buffers for one check of `len` outputs.
pub struct Buffers {
    sample: Vec<f32>,
    eval: Vec<f32>,
    mean: Vec<f64>,
    spread: Vec<f64>,
}

impl Buffers {
    /// Buffers for outputs of `len` values.
    pub fn new(len: usize) -> Self {
        Buffers {
            sample: vec![0.0; len],
            eval: vec![0.0; len],
            mean: vec![0.0; len],
            spread: vec![0.0; len],
        }
    }

    /// Borrowed for [`super::exact_gap`] and the Monte Carlo checks.
    pub fn borrow(&mut self) -> GapBuffers<'_> {
        GapBuffers {
            sample: &mut self.sample,
            eval: &mut self.eval,
            mean: &mut self.mean,
            spread: &mut self.spread,
        }
    }

    /// The expectation (or mean) of the last check.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The eval output of the last check.
    pub fn eval(&self) -> &[f32] {
        &self.eval
    }
}

/// Keep probabilities from 0.05 to 1.
pub fn keep() -> impl Strategy<Value = f32> {
    0.05f32..=1.0
}

/// Vanilla or inverted dropout with a valid keep probability.
pub fn dropout() -> impl Strategy<Value = Dropout> {
    (any::<bool>(), keep()).prop_filter_map("a valid keep probability", |(inverted, keep)| {
        if inverted {
            Dropout::inverted(keep).ok()
        } else {
            Dropout::vanilla(keep).ok()
        }
    })
}

/// `len` values in `[-2, 2]`.
pub fn values(len: usize) -> impl Strategy<Value = Vec<f32>> {
    proptest::collection::vec(-2.0f32..=2.0, len)
}

/// A dropout and an input of `units` values (at most 20, so every mask can
/// be enumerated).
pub fn dropout_case(units: RangeInclusive<usize>) -> impl Strategy<Value = (Dropout, Vec<f32>)> {
    let units = *units.start().max(&1)..=*units.end().min(&super::MAX_MASK_BITS);
    (dropout(), units).prop_flat_map(|(d, n)| (Just(d), values(n)))
}

/// A DropConnect case: a dense layer of at most 12 weights, its weights,
/// biases, DropConnect settings, a batch and its input.
#[derive(Clone, Debug)]
pub struct DropConnectCase {
    /// The layer (no ReLU: its output is linear in the mask).
    pub dense: Dense,
    /// Kind and keep probability.
    pub dropconnect: Dropout,
    /// `outputs x inputs`.
    pub weights: Vec<f32>,
    /// `outputs`.
    pub bias: Vec<f32>,
    /// Rows.
    pub batch: usize,
    /// `batch x inputs`.
    pub input: Vec<f32>,
}

/// DropConnect cases with at most 12 weights and batches of 1 to 3.
pub fn dropconnect_case() -> impl Strategy<Value = DropConnectCase> {
    (1usize..=4, 1usize..=3, 1usize..=3, dropout()).prop_flat_map(|(i, o, batch, d)| {
        (values(i * o), values(o), values(batch * i)).prop_map(move |(w, b, x)| DropConnectCase {
            dense: Dense::new(i, o),
            dropconnect: d,
            weights: w,
            bias: b,
            batch,
            input: x,
        })
    })
}

/// Spatial dropout over a batch of images with at most 12 channels in all,
/// and its input.
pub fn spatial_dropout_case() -> impl Strategy<Value = (SpatialDropout, usize, Vec<f32>)> {
    (1usize..=3, 1usize..=4, 1usize..=3, 1usize..=3, dropout()).prop_flat_map(
        |(batch, channels, height, width, dropout)| {
            let shape = ImageShape {
                channels,
                height,
                width,
            };
            let layer = SpatialDropout { shape, dropout };
            (Just(layer), Just(batch), values(batch * shape.len()))
        },
    )
}

/// A small network and a batch: `inputs -> hidden` dense (with or without
/// ReLU), dropout, `hidden -> classes` dense, optionally a ReLU and another
/// dropout in between; and `rows x inputs` values.
#[derive(Clone, Debug)]
pub struct NetworkCase {
    /// The layers.
    pub layers: Vec<Layer>,
    /// Rows of the batch.
    pub rows: usize,
    /// `rows x inputs`.
    pub input: Vec<f32>,
    /// Seeds the trainer.
    pub seed: u64,
}

/// Small networks with one or two dropout layers, some with a ReLU after a
/// dropout (where eval is only approximately the expectation).
pub fn network_case() -> impl Strategy<Value = NetworkCase> {
    (
        1usize..=6,
        2usize..=8,
        2usize..=4,
        1usize..=4,
        any::<bool>(),
        proptest::option::of(dropout()),
        dropout(),
        any::<u64>(),
    )
        .prop_flat_map(
            |(inputs, hidden, classes, rows, relu, second, first, seed)| {
                let mut first_dense = Dense::new(inputs, hidden);
                if relu {
                    first_dense = first_dense.with_relu();
                }
                let mut layers = vec![
                    Layer::Dense(first_dense),
                    Layer::Dropout {
                        features: hidden,
                        dropout: first,
                    },
                ];
                if let Some(dropout) = second {
                    layers.push(Layer::Relu { features: hidden });
                    layers.push(Layer::Dropout {
                        features: hidden,
                        dropout,
                    });
                }
                layers.push(Layer::Dense(Dense::new(hidden, classes)));
                values(rows * inputs).prop_map(move |input| NetworkCase {
                    layers: layers.clone(),
                    rows,
                    input,
                    seed,
                })
            },
        )
}
