//! Choosing hyperparameters: the recipe of CS231n's "Training Neural
//! Networks II", in the crate, allocation-free and reproducible.
//!
//! 1. [`check_initial_loss`]: the loss before any step against `ln C`.
//! 2. [`overfit_small_sample`]: a few batches, regularizers off
//!    ([`unregularized_layers`]), to 100% train accuracy.
//! 3. [`lr_range_test`]: the learning-rate range test with fastai's three
//!    suggestions; the trainer is restored bit for bit afterwards.
//! 4. and 5. Searches over a [`Space`]: any sampler ([`Sampler`]: random, grid,
//!    scrambled Sobol, Latin hypercube) gives trial `i` as a pure function of
//!    `(seed, i)`, so a search is the same on one worker or many, in any order;
//!    [`SuccessiveHalving`] and [`Hyperband`] spend epochs on the promising
//!    trials, over caller-provided [`TrialRecord`]s, one rung at a time.
//! 6. [`diagnose`]: the loss and accuracy curves read into [`Finding`]s.
//!
//! With `std`, `run_parallel` runs a search's trials on several threads,
//! each result in its trial's slot, so the outcome does not depend on the
//! thread count.
//!
//! Protocol: select on a validation split carved from the training data
//! ([`validation_split`]); score the test set once, for the winner.
//!
//! Every function validates its input before it writes anything or advances
//! a generator. Nothing allocates.
//!
//! Steps 1 and 2 on the shipped digits (the range test, the samplers and
//! halving have examples of their own):
//!
//! ```
//! use tinyreg::tune::{check_initial_loss, overfit_small_sample, unregularized_config,
//!                     unregularized_layers, validation_split, InitialLossVerdict, OverfitVerdict,
//!                     INITIAL_LOSS_TOLERANCE};
//! use tinyreg::{Dense, Dropout, Icls, Layer, LearningRate, Network, Optimizer, TrainConfig,
//!               Trainer, Update, WeightDecay};
//!
//! let layers = [
//!     Layer::Dense(Dense::new(64, 64).with_relu()),
//!     Layer::Dropout { features: 64, dropout: Dropout::inverted(0.5)? },
//!     Layer::Dense(Dense::new(64, 10)),
//! ];
//! let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits-train.bin"));
//! let data = Icls::parse(bytes)?;
//! // The protocol: a seeded validation split of the training data (the test
//! // set is scored once, for what the search chose).
//! let (mut images, mut labels) = (vec![0u8; data.images.len()], vec![0u8; data.count]);
//! let (train, _val) = validation_split(&data, 287, 0, &mut images, &mut labels)?;
//!
//! let config = TrainConfig::new(16, LearningRate::constant(1e-2))
//!     .with_update(Update::new(Optimizer::ADAM, WeightDecay { l2: 1e-3, decoupled: true, l1: 0.0 })?);
//! // 1. The loss before any step is near ln 10.
//! let net = Network::new(&layers);
//! let mut memory = vec![0.0f32; net.memory_len_for(&config)];
//! let mut trainer = Trainer::new(net, config, &mut memory)?;
//! let initial = check_initial_loss(&mut trainer, &train, INITIAL_LOSS_TOLERANCE)?;
//! assert_eq!(initial.verdict, InitialLossVerdict::Expected);
//!
//! // 2. With dropout and decay off, 64 images are learned by heart.
//! let mut plain = layers;
//! unregularized_layers(&layers, &mut plain)?;
//! let config = unregularized_config(config);
//! let mut trainer = Trainer::new(Network::new(&plain), config, &mut memory)?;
//! let mut order = vec![0u32; 64];
//! let report = overfit_small_sample(&mut trainer, &train, 64, 500, &mut order)?;
//! assert!(matches!(report.verdict, OverfitVerdict::Overfit { .. }));
//! # Ok::<(), tinyreg::Error>(())
//! ```

mod checks;
mod curves;
mod halving;
#[cfg(feature = "std")]
mod parallel;
mod range_test;
mod sampler;
mod space;

pub use checks::{
    check_initial_loss, is_unregularized, overfit_small_sample, unregularized_config,
    unregularized_layers, InitialLossReport, InitialLossVerdict, OverfitReport, OverfitVerdict,
    INITIAL_LOSS_TOLERANCE,
};
pub use curves::{contradiction, diagnose, max_findings, Direction, Finding, Knob, Thresholds};
pub use halving::{Hyperband, SuccessiveHalving, TrialRecord};
#[cfg(feature = "std")]
pub use parallel::run_parallel;
pub use range_test::{
    lr_range_sweep, lr_range_test, RangePoint, RangeTestConfig, RangeTestReport, Suggestions,
};
pub use sampler::{Sampler, SOBOL_MAX_DIMS};
pub use space::{Condition, Distribution, Param, Point, Space, Value};

use crate::error::Error;
use crate::trainer::data::Icls;

/// A seeded split of `data` into training and validation sets: the samples
/// in a permuted order (a pure function of `seed`, see [`Sampler`]) copied
/// into `images` and `labels` (the sizes of `data.images` and
/// `data.labels`), the last `val_count` of them the validation set.
///
/// ```
/// use tinyreg::{tune::validation_split, Icls};
/// let data = Icls::parse(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits-train.bin")))?;
/// let (mut images, mut labels) = (vec![0u8; data.images.len()], vec![0u8; data.count]);
/// let (train, val) = validation_split(&data, 287, 0, &mut images, &mut labels)?;
/// assert_eq!((train.count, val.count), (1150, 287));
/// # Ok::<(), tinyreg::Error>(())
/// ```
pub fn validation_split<'b>(
    data: &Icls<'_>,
    val_count: usize,
    seed: u64,
    images: &'b mut [u8],
    labels: &'b mut [u8],
) -> Result<(Icls<'b>, Icls<'b>), Error> {
    let f = data.sample_bytes();
    let n = data.count;
    if val_count > n {
        return Err(Error::IndexOutOfRange {
            index: val_count,
            len: n,
        });
    }
    let image_bytes = n.checked_mul(f).ok_or(Error::ShapeOverflow)?;
    if data.images.len() != image_bytes || data.labels.len() != n {
        return Err(Error::InvalidData {
            reason: "an Icls whose fields disagree with its slices",
        });
    }
    for (expected, got) in [(image_bytes, images.len()), (n, labels.len())] {
        if expected != got {
            return Err(Error::LengthMismatch { expected, got });
        }
    }
    let key = sampler::hash3(seed, 0x0073_706c_6974, n as u64); // "split"
    for i in 0..n {
        let src = sampler::permute(i as u64, n as u64, key) as usize;
        images[i * f..(i + 1) * f].copy_from_slice(&data.images[src * f..(src + 1) * f]);
        labels[i] = data.labels[src];
    }
    let whole = Icls {
        images,
        labels,
        ..*data
    };
    Ok((
        whole.slice(0, n - val_count)?,
        whole.slice(n - val_count, n)?,
    ))
}
