//! C ABI (feature `capi`): train and run networks from C, in the style of
//! CMSIS-NN and AIfES: ask for the memory size, hand in the buffer, train,
//! predict. Two kinds of model: any network the Rust side can build, from an
//! array of layer descriptors (`net.rs`, `tinyreg_net_*`), and the original
//! one-hidden-layer MLP with inverted dropout (`tinyreg_mlp_*`). Every function returns a status code
//! ([`TINYREG_OK`] or a negative error) and never panics across the boundary;
//! nothing is allocated. The header is `include/tinyreg.h` (cbindgen).
//!
//! This is the crate's only `unsafe` code: C hands in raw pointers. Each
//! function checks them for null and turns them into slices of the lengths the
//! caller states; the rest is the safe Rust API.

pub mod net;

use crate::trainer::data::Icls;
use crate::trainer::{Trainer, TrainerState};
use crate::{
    Dense, Dropout, Error, Layer, LearningRate, MaskRngState, Network, Optimizer, TrainConfig,
    Update, WeightDecay,
};

/// Success.
pub const TINYREG_OK: i32 = 0;
/// A pointer argument was null.
pub const TINYREG_ERR_NULL: i32 = -1;
/// A setting is out of range (keep, learning rate, sizes, optimizer).
pub const TINYREG_ERR_CONFIG: i32 = -2;
/// The memory buffer is smaller than `tinyreg_mlp_memory_bytes` says.
pub const TINYREG_ERR_BUFFER_TOO_SMALL: i32 = -3;
/// A length or shape does not match the model.
pub const TINYREG_ERR_LENGTH: i32 = -4;
/// The data set or parameters are malformed (a label out of range, a zero
/// `max_value`, fewer than 2 training samples, a NaN parameter).
pub const TINYREG_ERR_DATA: i32 = -5;
/// The loss became NaN or infinite.
pub const TINYREG_ERR_NOT_FINITE: i32 = -6;
/// The model was not initialized by its `init`, or its layer descriptors
/// changed since.
pub const TINYREG_ERR_STATE: i32 = -7;

/// What a status code means, as a static NUL-terminated string (never
/// null; "unknown status" for a code the library does not return).
#[no_mangle]
pub extern "C" fn tinyreg_error_message(code: i32) -> *const core::ffi::c_char {
    // Byte strings with their NUL: the header generator cannot read C string literals.
    let message: &'static [u8] = match code {
        TINYREG_OK => b"success\0",
        TINYREG_ERR_NULL => b"a pointer argument was null\0",
        TINYREG_ERR_CONFIG => b"a setting is out of range (keep, learning rate, sizes, optimizer, a layer descriptor)\0",
        TINYREG_ERR_BUFFER_TOO_SMALL => b"the memory buffer is smaller than the model needs\0",
        TINYREG_ERR_LENGTH => b"a length or shape does not match the model\0",
        TINYREG_ERR_DATA => b"the data, parameters or checkpoint are malformed, damaged or for another network\0",
        TINYREG_ERR_NOT_FINITE => b"the loss became NaN or infinite\0",
        TINYREG_ERR_STATE => b"a call out of order: the model was not initialized, its layer descriptors changed since, or what the call needs has not happened\0",
        TINYREG_ERR_ALIGNMENT => b"the memory buffer is not 4-byte aligned\0",
        _ => b"unknown status\0",
    };
    message.as_ptr().cast()
}

/// The memory buffer is not 4-byte aligned (floats live there).
pub const TINYREG_ERR_ALIGNMENT: i32 = -8;

/// Momentum SGD (momentum 0.9).
pub const TINYREG_SGD_MOMENTUM: u32 = 0;
/// Adam (0.9, 0.999, 1e-8).
pub const TINYREG_ADAM: u32 = 1;

/// Bytes of generator state kept in a `TinyregMlp` (its mask streams).
pub const TINYREG_STATE_BYTES: usize = 256;
const _: () = assert!(TINYREG_STATE_BYTES == crate::STATE_BYTES);

const MAGIC: u32 = 0x7452_6731;

/// The model: `inputs -> hidden (ReLU, inverted dropout) -> classes`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TinyregMlpConfig {
    /// Input features.
    pub inputs: u32,
    /// Hidden units.
    pub hidden: u32,
    /// Classes.
    pub classes: u32,
    /// Mini-batch size.
    pub batch: u32,
    /// Keep probability of the dropout after the hidden layer, in (0, 1].
    pub keep: f32,
    /// `TINYREG_SGD_MOMENTUM` or `TINYREG_ADAM`.
    pub optimizer: u32,
    /// Learning rate.
    pub learning_rate: f32,
    /// Seeds initialization, shuffling and masks.
    pub seed: u64,
}

/// A model's state between calls; allocate it anywhere (a `static` is fine)
/// and let `tinyreg_mlp_init` fill it. Its fields are private to the library.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TinyregMlp {
    config: TinyregMlpConfig,
    memory: *mut f32,
    floats: usize,
    masks: [u8; TINYREG_STATE_BYTES],
    shuffle: [u8; 16],
    step: u32,
    magic: u32,
}

/// A borrowed data set: `count` samples of `features` bytes, one label byte
/// each; values are divided by `max_value`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TinyregDataset {
    /// `count * features` bytes.
    pub images: *const u8,
    /// `count` labels, each below the model's `classes`.
    pub labels: *const u8,
    /// Samples.
    pub count: u32,
    /// Bytes per sample (the model's `inputs`).
    pub features: u32,
    /// The largest pixel value (e.g. 255).
    pub max_value: u32,
}

fn status(e: Error) -> i32 {
    match e {
        Error::BufferTooSmall { .. } => TINYREG_ERR_BUFFER_TOO_SMALL,
        Error::LengthMismatch { .. } | Error::ShapeOverflow | Error::IndexOutOfRange { .. } => {
            TINYREG_ERR_LENGTH
        }
        Error::InvalidData { .. }
        | Error::LabelOutOfRange { .. }
        | Error::BadCheckpoint { .. }
        | Error::ChecksumMismatch { .. } => TINYREG_ERR_DATA,
        Error::NonFiniteLoss { .. } | Error::NoFiniteLoss => TINYREG_ERR_NOT_FINITE,
        Error::InvalidKeep { .. }
        | Error::InvalidSetting { .. }
        | Error::InvalidConfig { .. }
        | Error::InvalidParam { .. } => TINYREG_ERR_CONFIG,
        Error::InvalidRngState { .. } | Error::AverageSwappedIn | Error::InvalidState { .. } => {
            TINYREG_ERR_STATE
        }
    }
}

fn layers(c: &TinyregMlpConfig) -> Result<[Layer; 3], Error> {
    let (i, h, o) = (c.inputs as usize, c.hidden as usize, c.classes as usize);
    if i == 0 || h == 0 || o == 0 || c.batch == 0 {
        return Err(Error::InvalidConfig {
            reason: "sizes must be non-zero",
        });
    }
    Ok([
        Layer::Dense(Dense::new(i, h).with_relu()),
        Layer::Dropout {
            features: h,
            dropout: Dropout::inverted(c.keep)?,
        },
        Layer::Dense(Dense::new(h, o)),
    ])
}

fn train_config(c: &TinyregMlpConfig) -> Result<TrainConfig, Error> {
    let optimizer = match c.optimizer {
        TINYREG_SGD_MOMENTUM => Optimizer::Momentum { momentum: 0.9 },
        TINYREG_ADAM => Optimizer::ADAM,
        _ => {
            return Err(Error::InvalidConfig {
                reason: "unknown optimizer",
            })
        }
    };
    if !(c.learning_rate > 0.0 && c.learning_rate.is_finite()) {
        return Err(Error::InvalidConfig {
            reason: "learning rate must be positive",
        });
    }
    Ok(TrainConfig {
        batch: c.batch as usize,
        update: Update::new(optimizer, WeightDecay::NONE)?,
        lr: LearningRate::constant(c.learning_rate),
        clip_norm: None,
        seed: c.seed,
        plateau: None,
        early_stopping: None,
        average: None,
    })
}

fn memory_floats(c: &TinyregMlpConfig) -> Result<usize, Error> {
    let layers = layers(c)?;
    let config = train_config(c)?;
    Network::new(&layers).validate()?;
    config.validate()?;
    let floats = Network::new(&layers).memory_len(
        c.batch as usize,
        config.update.optimizer.state_per_param(),
        false,
    );
    // Saturated sizes mean overflow; the byte count must fit too.
    let floats = crate::size::fits(floats)?;
    floats.checked_mul(4).ok_or(Error::ShapeOverflow)?;
    Ok(floats)
}

/// Bytes of memory (4-byte aligned) a model with `config` needs; 0 if the
/// configuration is invalid or `config` is null.
///
/// # Safety
/// `config` is null or points to a valid `TinyregMlpConfig`.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_mlp_memory_bytes(config: *const TinyregMlpConfig) -> usize {
    // SAFETY: the caller passes null or a valid pointer.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return 0;
    };
    // 0 for a configuration whose size overflows (it wrapped to 12,000 once).
    memory_floats(c).map_or(0, |floats| floats.saturating_mul(4))
}

/// Initializes `mlp` over `memory` (`bytes` long, 4-byte aligned; at least
/// `tinyreg_mlp_memory_bytes(config)`): weights from the seed, optimizer state
/// zero.
///
/// # Safety
/// `mlp` and `config` are null or valid; `memory` is null or points to `bytes`
/// writable bytes, 4-byte aligned, that nothing else uses while `mlp` lives.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_mlp_init(
    mlp: *mut TinyregMlp,
    config: *const TinyregMlpConfig,
    memory: *mut f32,
    bytes: usize,
) -> i32 {
    // SAFETY: the caller passes null or valid pointers.
    let (Some(out), Some(c)) = (unsafe { mlp.as_mut() }, unsafe { config.as_ref() }) else {
        return TINYREG_ERR_NULL;
    };
    if memory.is_null() {
        return TINYREG_ERR_NULL;
    }
    if !(memory as usize).is_multiple_of(4) {
        return TINYREG_ERR_ALIGNMENT;
    }
    let run = || -> Result<TinyregMlp, Error> {
        let floats = memory_floats(c)?;
        if bytes / 4 < floats {
            return Err(Error::BufferTooSmall {
                needed: floats.saturating_mul(4),
                got: bytes,
            });
        }
        // SAFETY: `memory` is aligned, non-null and `bytes >= floats * 4` long.
        let mem = unsafe { core::slice::from_raw_parts_mut(memory, floats) };
        let layers = layers(c)?;
        let trainer = Trainer::new(Network::new(&layers), train_config(c)?, mem)?;
        let state = trainer.state();
        Ok(TinyregMlp {
            config: *c,
            memory,
            floats,
            masks: state.masks.to_bytes(),
            shuffle: state.shuffle,
            step: state.step,
            magic: MAGIC,
        })
    };
    match run() {
        Ok(model) => {
            *out = model;
            TINYREG_OK
        }
        Err(e) => status(e),
    }
}

/// Runs `f` with the model's trainer and saves its state afterwards.
fn with_trainer(
    mlp: &mut TinyregMlp,
    f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<(), Error>,
) -> i32 {
    if mlp.magic != MAGIC || mlp.memory.is_null() {
        return TINYREG_ERR_STATE;
    }
    let (layers, config) = match (layers(&mlp.config), train_config(&mlp.config)) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(e), _) | (_, Err(e)) => return status(e),
    };
    let saved = SavedState {
        memory: mlp.memory,
        floats: mlp.floats,
        masks: &mut mlp.masks,
        shuffle: &mut mlp.shuffle,
        step: &mut mlp.step,
    };
    resume_and_run(&layers, config, saved, f)
}

/// Where a C model keeps its trainer between calls: the buffer it checked at
/// init and the generator positions and step count.
struct SavedState<'s> {
    memory: *mut f32,
    floats: usize,
    masks: &'s mut [u8; TINYREG_STATE_BYTES],
    shuffle: &'s mut [u8; 16],
    step: &'s mut u32,
}

/// Resumes the trainer of `layers` over the saved buffer and state, runs
/// `f`, and saves the state back when it succeeds.
fn resume_and_run(
    layers: &[Layer],
    config: TrainConfig,
    saved: SavedState<'_>,
    f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<(), Error>,
) -> i32 {
    let run = || -> Result<TrainerState, Error> {
        let state = TrainerState {
            masks: MaskRngState::from_bytes(saved.masks)?,
            shuffle: *saved.shuffle,
            step: *saved.step,
        };
        // SAFETY: the model's init checked this pointer and length, and the
        // caller keeps the memory for the model alone.
        let mem = unsafe { core::slice::from_raw_parts_mut(saved.memory, saved.floats) };
        let mut trainer = Trainer::resume(Network::new(layers), config, mem, &state)?;
        f(&mut trainer)?;
        Ok(trainer.state())
    };
    match run() {
        Ok(state) => {
            *saved.masks = state.masks.to_bytes();
            *saved.shuffle = state.shuffle;
            *saved.step = state.step;
            TINYREG_OK
        }
        Err(e) => status(e),
    }
}

/// The data set as an [`Icls`], checked against the model.
///
/// # Safety
/// The pointers of `d` cover `count * features` and `count` bytes.
unsafe fn dataset<'a>(d: &TinyregDataset, classes: u32) -> Result<Icls<'a>, Error> {
    if d.images.is_null() || d.labels.is_null() {
        return Err(Error::InvalidData {
            reason: "null images or labels",
        });
    }
    if d.max_value == 0 {
        return Err(Error::InvalidData {
            reason: "max_value is zero",
        });
    }
    let count = d.count as usize;
    let bytes = count
        .checked_mul(d.features as usize)
        .ok_or(Error::ShapeOverflow)?;
    // SAFETY: the caller guarantees the lengths.
    let (images, labels) = unsafe {
        (
            core::slice::from_raw_parts(d.images, bytes),
            core::slice::from_raw_parts(d.labels, count),
        )
    };
    if let Some(row) = labels.iter().position(|&l| l as u32 >= classes) {
        return Err(Error::LabelOutOfRange {
            row,
            label: labels[row] as u32,
            classes: classes as usize,
        });
    }
    Ok(Icls {
        count,
        rows: 1,
        cols: d.features as usize,
        channels: 1,
        classes: classes as usize,
        max_value: d.max_value,
        dtype: crate::trainer::data::Dtype::U8,
        images,
        labels,
    })
}

/// What the C calls of both kinds of model share: the shape of a sample and
/// the trainer behind the model.
trait Model {
    /// Classes of the last layer.
    fn classes(&self) -> u32;
    /// Features of one input sample.
    fn features(&self) -> usize;
    /// Runs `f` with the model's trainer and saves its state afterwards
    /// (`TINYREG_ERR_STATE` for a model never initialized).
    fn with_trainer(&mut self, f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<(), Error>) -> i32;
}

impl Model for TinyregMlp {
    fn classes(&self) -> u32 {
        self.config.classes
    }
    fn features(&self) -> usize {
        self.config.inputs as usize
    }
    fn with_trainer(&mut self, f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<(), Error>) -> i32 {
        with_trainer(self, f)
    }
}

/// Runs `f` on the model's trainer and writes the metrics it returns to the
/// non-null `loss` and `accuracy` when it succeeds.
///
/// # Safety
/// `loss` and `accuracy` are null or writable.
unsafe fn with_metrics<M: Model>(
    model: &mut M,
    loss: *mut f32,
    accuracy: *mut f32,
    f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<crate::Metrics, Error>,
) -> i32 {
    let mut result = crate::Metrics::default();
    let code = model.with_trainer(|trainer| {
        result = f(trainer)?;
        Ok(())
    });
    if code == TINYREG_OK {
        // SAFETY: null or writable, per the contract.
        unsafe {
            if let Some(l) = loss.as_mut() {
                *l = result.loss;
            }
            if let Some(a) = accuracy.as_mut() {
                *a = result.accuracy;
            }
        }
    }
    code
}

/// One epoch over `data` in a fresh order; `order_len`, when the caller
/// states it, must be `data->count`. Checked after the model's state.
///
/// # Safety
/// `model` and `data` are null or valid; `order` is null or points to
/// `data->count` writable entries; `loss`, `accuracy` null or writable.
unsafe fn train_epoch_call<M: Model>(
    model: *mut M,
    data: *const TinyregDataset,
    (order, order_len): (*mut u32, Option<u32>),
    loss: *mut f32,
    accuracy: *mut f32,
) -> i32 {
    // SAFETY: the caller passes null or valid pointers.
    let (Some(model), Some(d)) = (unsafe { model.as_mut() }, unsafe { data.as_ref() }) else {
        return TINYREG_ERR_NULL;
    };
    if order.is_null() {
        return TINYREG_ERR_NULL;
    }
    let (classes, features) = (model.classes(), model.features());
    // SAFETY: per the contract.
    unsafe {
        with_metrics(model, loss, accuracy, |trainer| {
            check_lengths(d, features, order_len)?;
            let set = dataset(d, classes)?;
            // `order` holds `count` entries (stated, or by the contract).
            let order = core::slice::from_raw_parts_mut(order, set.count);
            let mut history = [crate::EpochMetrics::default()];
            // The epoch's "validation" is its own first sample: cheap, unused here.
            let probe = set.slice(0, set.count.min(1))?;
            trainer.fit(&set, &probe, 1, order, &mut history)?;
            Ok(history[0].train)
        })
    }
}

/// The data set's width against the model's, and the order buffer's
/// stated length against the data's count.
fn check_lengths(d: &TinyregDataset, features: usize, order_len: Option<u32>) -> Result<(), Error> {
    if d.features as usize != features {
        return Err(Error::LengthMismatch {
            expected: features,
            got: d.features as usize,
        });
    }
    match order_len {
        Some(got) if got != d.count => Err(Error::LengthMismatch {
            expected: d.count as usize,
            got: got as usize,
        }),
        _ => Ok(()),
    }
}

/// Eval-mode loss and accuracy on `data`.
///
/// # Safety
/// `model` and `data` are null or valid; `loss`, `accuracy` null or writable.
unsafe fn evaluate_call<M: Model>(
    model: *mut M,
    data: *const TinyregDataset,
    loss: *mut f32,
    accuracy: *mut f32,
) -> i32 {
    // SAFETY: the caller passes null or valid pointers.
    let (Some(model), Some(d)) = (unsafe { model.as_mut() }, unsafe { data.as_ref() }) else {
        return TINYREG_ERR_NULL;
    };
    let (classes, features) = (model.classes(), model.features());
    // SAFETY: per the contract.
    unsafe {
        with_metrics(model, loss, accuracy, |trainer| {
            check_lengths(d, features, None)?;
            trainer.evaluate(&dataset(d, classes)?)
        })
    }
}

/// Eval-mode probabilities of `rows` samples into `rows * classes` floats.
///
/// # Safety
/// `model` is null or valid; `input` and `probs` are null or point to that
/// many floats.
unsafe fn predict_call<M: Model>(
    model: *mut M,
    input: *const f32,
    rows: u32,
    probs: *mut f32,
) -> i32 {
    // SAFETY: the caller passes null or valid pointers.
    let Some(model) = (unsafe { model.as_mut() }) else {
        return TINYREG_ERR_NULL;
    };
    if input.is_null() || probs.is_null() {
        return TINYREG_ERR_NULL;
    }
    let (features, classes) = (model.features(), model.classes() as usize);
    model.with_trainer(|trainer| {
        let rows = rows as usize;
        let n_in = crate::size::checked_mul(rows, features)?;
        let n_out = crate::size::checked_mul(rows, classes)?;
        // SAFETY: the caller guarantees the lengths.
        let (x, p) = unsafe {
            (
                core::slice::from_raw_parts(input, n_in),
                core::slice::from_raw_parts_mut(probs, n_out),
            )
        };
        trainer.predict_proba(x, rows, 0, p)
    })
}

/// One epoch over `data` in a fresh random order (`order`: `data.count`
/// entries of scratch). Writes the epoch's mean train loss and accuracy to
/// `loss` and `accuracy` when they are not null.
///
/// # Safety
/// `mlp` was initialized by `tinyreg_mlp_init`; `data` describes valid arrays;
/// `order` points to `data->count` writable `uint32_t`; `loss` and `accuracy`
/// are null or writable.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_mlp_train_epoch(
    mlp: *mut TinyregMlp,
    data: *const TinyregDataset,
    order: *mut u32,
    loss: *mut f32,
    accuracy: *mut f32,
) -> i32 {
    // SAFETY: per the contract.
    unsafe { train_epoch_call(mlp, data, (order, None), loss, accuracy) }
}

/// Mean loss and accuracy on `data` in eval mode (dropout off).
///
/// # Safety
/// As for `tinyreg_mlp_train_epoch`.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_mlp_evaluate(
    mlp: *mut TinyregMlp,
    data: *const TinyregDataset,
    loss: *mut f32,
    accuracy: *mut f32,
) -> i32 {
    // SAFETY: per the contract.
    unsafe { evaluate_call(mlp, data, loss, accuracy) }
}

/// Class probabilities of `rows` samples (`input`: `rows * inputs` floats,
/// `rows <= batch`) into `probs` (`rows * classes` floats), in eval mode.
///
/// # Safety
/// `mlp` was initialized; `input` and `probs` point to that many floats.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_mlp_predict(
    mlp: *mut TinyregMlp,
    input: *const f32,
    rows: u32,
    probs: *mut f32,
) -> i32 {
    // SAFETY: per the contract.
    unsafe { predict_call(mlp, input, rows, probs) }
}
