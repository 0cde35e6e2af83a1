//! Any network from C: an array of [`TinyregLayer`] descriptors (kind, size,
//! window, flags, probability) that [`crate::layers::describe::build_layers`]
//! turns into the same layer list a Rust caller builds, checked the same way.
//! Ask `tinyreg_net_memory_bytes` first, hand in the buffer, then train,
//! evaluate, predict, and read or write the parameters.

use super::{
    evaluate_call, predict_call, resume_and_run, status, train_epoch_call, Model, SavedState,
    TinyregDataset, TINYREG_ADAM, TINYREG_ERR_ALIGNMENT, TINYREG_ERR_LENGTH, TINYREG_ERR_NULL,
    TINYREG_ERR_STATE, TINYREG_OK, TINYREG_SGD_MOMENTUM, TINYREG_STATE_BYTES,
};
use crate::error::Error;
use crate::layers::augment::ImageShape;
use crate::layers::describe::{build_layers, LayerDesc};
use crate::layers::dropout::{Dropout, DropoutKind};
use crate::layers::layer::{
    DepthScaling, FmpEval, FmpIncrements, FmpWindows, Layer, StochasticDepth,
};
use crate::trainer::network::Network;
use crate::trainer::optim::{LearningRate, Optimizer, Update, WeightDecay};
use crate::trainer::{TrainConfig, Trainer};

/// Most layers a network may describe (they are decoded on the stack).
pub const TINYREG_MAX_LAYERS: usize = 32;

/// Fully connected to `size` units (flags: `TINYREG_RELU`, `TINYREG_DROPCONNECT`
/// with keep probability `p`).
pub const TINYREG_LAYER_DENSE: u32 = 1;
/// `max(x, 0)`.
pub const TINYREG_LAYER_RELU: u32 = 2;
/// Dropout with keep probability `p` (inverted; `TINYREG_VANILLA` for vanilla).
pub const TINYREG_LAYER_DROPOUT: u32 = 3;
/// Batch norm over every value as a feature.
pub const TINYREG_LAYER_BATCH_NORM: u32 = 4;
/// Batch norm per channel of images (`BatchNorm2d`).
pub const TINYREG_LAYER_BATCH_NORM_2D: u32 = 5;
/// Convolution to `size` channels, `kernel`, `stride`, `padding` (flag `TINYREG_RELU`).
pub const TINYREG_LAYER_CONV: u32 = 6;
/// `kernel x kernel` max pooling with `stride`.
pub const TINYREG_LAYER_MAX_POOL: u32 = 7;
/// `kernel x kernel` average pooling with `stride`.
pub const TINYREG_LAYER_AVG_POOL: u32 = 8;
/// Dropout of whole channels, keep probability `p` (`TINYREG_VANILLA` for vanilla).
pub const TINYREG_LAYER_SPATIAL_DROPOUT: u32 = 9;
/// Each channel's mean.
pub const TINYREG_LAYER_GLOBAL_AVG_POOL: u32 = 10;
/// Opens a residual block; its branch survives with probability `p`
/// (stochastic depth; `TINYREG_PER_ROW` draws per sample).
pub const TINYREG_LAYER_BLOCK_START: u32 = 11;
/// Closes a residual block (a projection is added where the shape changed).
pub const TINYREG_LAYER_BLOCK_END: u32 = 12;
/// Fractional max pooling to `size x size`: Graham's regions
/// (`TINYREG_RANDOM_REGIONS`, `TINYREG_OVERLAPPING`), or PyTorch's
/// `kernel x kernel` windows when `kernel` is non-zero; `TINYREG_PER_PLANE`,
/// `TINYREG_EXACT_EVAL` and `samplings` as their comments say.
pub const TINYREG_LAYER_FRACTIONAL_MAX_POOL: u32 = 13;
/// A dense residual block `x + f(x)` through `size` hidden units, its branch
/// kept with probability `p` (stochastic depth, torchvision's scaling).
pub const TINYREG_LAYER_RESIDUAL: u32 = 14;

/// Flag: a ReLU on the output (dense, convolution).
pub const TINYREG_RELU: u32 = 1;
/// Flag: vanilla dropout (scaled in eval) instead of inverted.
pub const TINYREG_VANILLA: u32 = 2;
/// Flag: one stochastic-depth draw per sample.
pub const TINYREG_PER_ROW: u32 = 4;
/// Flag: DropConnect on a dense layer's weights with keep probability `p`.
pub const TINYREG_DROPCONNECT: u32 = 8;
/// Flag: fractional pooling draws a random arrangement of Graham's
/// increments (without it: pseudorandom boundaries).
pub const TINYREG_RANDOM_REGIONS: u32 = 16;
/// Flag: fractional pooling's Graham regions overlap by one.
pub const TINYREG_OVERLAPPING: u32 = 32;
/// Flag: fractional pooling draws for every image and channel, not once a batch.
pub const TINYREG_PER_PLANE: u32 = 64;
/// Flag: fractional pooling's eval is the exact expectation of train
/// (without it: the mean of `samplings` fixed samplings, at least one).
pub const TINYREG_EXACT_EVAL: u32 = 128;

/// One layer, its sizes left to the input (0 where a field does not apply).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TinyregLayer {
    /// `TINYREG_LAYER_*`.
    pub kind: u32,
    /// Units of a dense layer, channels of a convolution.
    pub size: u32,
    /// Window side of a convolution or pooling.
    pub kernel: u32,
    /// Step of a convolution or pooling.
    pub stride: u32,
    /// Zeros around a convolution's input.
    pub padding: u32,
    /// `TINYREG_RELU | TINYREG_VANILLA | TINYREG_PER_ROW | TINYREG_DROPCONNECT`.
    pub flags: u32,
    /// Keep probability (dropout, DropConnect), survival (a block), or
    /// batch norm's momentum (0 for PyTorch's 0.1).
    pub p: f32,
    /// Samplings fractional pooling averages in eval (0 counts as 1).
    pub samplings: u32,
}

/// A network and how to train it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TinyregNetConfig {
    /// `count` descriptors; must outlive the model (it is read at every call).
    pub layers: *const TinyregLayer,
    /// At most `TINYREG_MAX_LAYERS`.
    pub count: u32,
    /// Input image: channels (1 and 1 x features for plain features).
    pub channels: u32,
    /// Input image height.
    pub height: u32,
    /// Input image width.
    pub width: u32,
    /// Classes (the last layer's outputs).
    pub classes: u32,
    /// Mini-batch size.
    pub batch: u32,
    /// `TINYREG_SGD_MOMENTUM` or `TINYREG_ADAM`.
    pub optimizer: u32,
    /// Learning rate.
    pub learning_rate: f32,
    /// Seeds initialization, shuffling and masks.
    pub seed: u64,
}

/// A network's state between calls; allocate it anywhere and let
/// `tinyreg_net_init` fill it. Its fields are private to the library.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TinyregNet {
    config: TinyregNetConfig,
    memory: *mut f32,
    floats: usize,
    params: usize,
    masks: [u8; TINYREG_STATE_BYTES],
    shuffle: [u8; 16],
    step: u32,
    magic: u32,
    /// [`descriptor_hash`] at init: the descriptors are read again at every
    /// call, and an array edited since would reinterpret the memory.
    descriptors: u64,
}

const MAGIC: u32 = 0x7452_6e32;

/// A 64-bit FNV-1a hash of every field of `c`'s descriptors and of its
/// shape fields.
///
/// # Safety
/// `c.layers` points to `c.count` descriptors (init checked it).
unsafe fn descriptor_hash(c: &TinyregNetConfig) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |v: u32| {
        for b in v.to_le_bytes() {
            hash = (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for v in [c.count, c.channels, c.height, c.width, c.classes, c.batch] {
        eat(v);
    }
    // SAFETY: per the contract.
    let raw = unsafe { core::slice::from_raw_parts(c.layers, c.count as usize) };
    for l in raw {
        for v in [
            l.kind,
            l.size,
            l.kernel,
            l.stride,
            l.padding,
            l.flags,
            l.p.to_bits(),
            l.samplings,
        ] {
            eat(v);
        }
    }
    hash
}

fn invalid(reason: &'static str) -> Error {
    Error::InvalidConfig { reason }
}

/// The flags each kind reads; any other bit set is refused (a typo in C
/// would otherwise be ignored silently).
fn allowed_flags(kind: u32) -> u32 {
    match kind {
        TINYREG_LAYER_DENSE => TINYREG_RELU | TINYREG_DROPCONNECT,
        TINYREG_LAYER_CONV => TINYREG_RELU,
        TINYREG_LAYER_DROPOUT | TINYREG_LAYER_SPATIAL_DROPOUT => TINYREG_VANILLA,
        TINYREG_LAYER_BLOCK_START => TINYREG_PER_ROW,
        TINYREG_LAYER_FRACTIONAL_MAX_POOL => {
            TINYREG_RANDOM_REGIONS | TINYREG_OVERLAPPING | TINYREG_PER_PLANE | TINYREG_EXACT_EVAL
        }
        _ => 0,
    }
}

/// Batch norm's momentum from a descriptor: 0 (a zeroed descriptor) is
/// PyTorch's default.
fn momentum(p: f32) -> f32 {
    if p == 0.0 {
        crate::layers::batch_norm::BatchNorm::DEFAULT_MOMENTUM
    } else {
        p
    }
}

/// The descriptor as a [`LayerDesc`].
fn describe(l: &TinyregLayer) -> Result<LayerDesc, Error> {
    if l.flags & !allowed_flags(l.kind) != 0 {
        return Err(invalid("a flag bit this layer kind does not read is set"));
    }
    let kind = if l.flags & TINYREG_VANILLA != 0 {
        DropoutKind::Vanilla
    } else {
        DropoutKind::Inverted
    };
    let relu = l.flags & TINYREG_RELU != 0;
    let (size, kernel, stride, padding) = (
        l.size as usize,
        l.kernel as usize,
        l.stride as usize,
        l.padding as usize,
    );
    Ok(match l.kind {
        TINYREG_LAYER_DENSE => LayerDesc::Dense {
            units: size,
            relu,
            dropconnect: if l.flags & TINYREG_DROPCONNECT != 0 {
                Some(Dropout::inverted(l.p)?)
            } else {
                None
            },
        },
        TINYREG_LAYER_RELU => LayerDesc::Relu,
        TINYREG_LAYER_DROPOUT => LayerDesc::Dropout(Dropout::new(kind, l.p)?),
        TINYREG_LAYER_BATCH_NORM => LayerDesc::BatchNorm {
            momentum: momentum(l.p),
        },
        TINYREG_LAYER_BATCH_NORM_2D => LayerDesc::BatchNorm2d {
            momentum: momentum(l.p),
        },
        TINYREG_LAYER_RESIDUAL => LayerDesc::Residual {
            hidden: size,
            survival: l.p,
            scaling: DepthScaling::Inverted,
        },
        TINYREG_LAYER_CONV => LayerDesc::Conv {
            filters: size,
            kernel,
            stride,
            padding,
            relu,
        },
        TINYREG_LAYER_MAX_POOL => LayerDesc::MaxPool { kernel, stride },
        TINYREG_LAYER_AVG_POOL => LayerDesc::AvgPool { kernel, stride },
        TINYREG_LAYER_SPATIAL_DROPOUT => LayerDesc::SpatialDropout(Dropout::new(kind, l.p)?),
        TINYREG_LAYER_GLOBAL_AVG_POOL => LayerDesc::GlobalAvgPool,
        TINYREG_LAYER_BLOCK_START => LayerDesc::BlockStart(StochasticDepth {
            survival: l.p,
            scaling: DepthScaling::Inverted,
            per_row: l.flags & TINYREG_PER_ROW != 0,
        }),
        TINYREG_LAYER_BLOCK_END => LayerDesc::BlockEnd,
        TINYREG_LAYER_FRACTIONAL_MAX_POOL => {
            LayerDesc::FractionalMaxPool {
                out: size,
                windows: match u8::try_from(kernel) {
                    Ok(0) => FmpWindows::Graham {
                        increments: if l.flags & TINYREG_RANDOM_REGIONS != 0 {
                            FmpIncrements::Random
                        } else {
                            FmpIncrements::Pseudorandom
                        },
                        overlapping: l.flags & TINYREG_OVERLAPPING != 0,
                    },
                    Ok(kernel) => FmpWindows::PyTorch { kernel },
                    Err(_) => return Err(invalid("a pooling window is at most 16")),
                },
                per_plane: l.flags & TINYREG_PER_PLANE != 0,
                eval: if l.flags & TINYREG_EXACT_EVAL != 0 {
                    FmpEval::Exact
                } else {
                    FmpEval::Average(u8::try_from(l.samplings.max(1)).map_err(|_| {
                        invalid("fractional pooling averages at most 255 samplings")
                    })?)
                },
            }
        }
        _ => return Err(invalid("unknown layer kind")),
    })
}

/// Decodes `c`'s descriptors into `out`.
///
/// # Safety
/// `c.layers` is null or points to `c.count` descriptors.
unsafe fn layers<'o>(
    c: &TinyregNetConfig,
    out: &'o mut [Layer; TINYREG_MAX_LAYERS],
) -> Result<&'o [Layer], Error> {
    // SAFETY: per the contract.
    unsafe { decode(c, out) }.map_err(|(_, e)| e)
}

/// [`layers`], with the index of the descriptor at fault when one is
/// (a block left open: the last one).
///
/// # Safety
/// As for [`layers`].
unsafe fn decode<'o>(
    c: &TinyregNetConfig,
    out: &'o mut [Layer; TINYREG_MAX_LAYERS],
) -> Result<&'o [Layer], (Option<usize>, Error)> {
    let count = c.count as usize;
    if c.layers.is_null() || count == 0 || count > TINYREG_MAX_LAYERS {
        return Err((
            None,
            invalid("a network needs 1 to TINYREG_MAX_LAYERS layer descriptors"),
        ));
    }
    if c.batch == 0 || c.classes == 0 {
        return Err((None, invalid("batch and classes must be non-zero")));
    }
    // SAFETY: per the contract.
    let raw = unsafe { core::slice::from_raw_parts(c.layers, count) };
    let mut descs = [LayerDesc::Relu; TINYREG_MAX_LAYERS];
    for (i, (d, l)) in descs.iter_mut().zip(raw).enumerate() {
        *d = describe(l).map_err(|e| (Some(i), e))?;
    }
    let input = ImageShape {
        channels: c.channels as usize,
        height: c.height as usize,
        width: c.width as usize,
    };
    build_layers(input, c.classes as usize, &descs[..count], out)
        .map_err(|e| (Some(e.layer.min(count - 1)), e.error))
}

fn train_config(c: &TinyregNetConfig) -> Result<TrainConfig, Error> {
    let optimizer = match c.optimizer {
        TINYREG_SGD_MOMENTUM => Optimizer::Momentum { momentum: 0.9 },
        TINYREG_ADAM => Optimizer::ADAM,
        _ => return Err(invalid("unknown optimizer")),
    };
    if !(c.learning_rate > 0.0 && c.learning_rate.is_finite()) {
        return Err(invalid("learning rate must be positive"));
    }
    Ok(
        TrainConfig::new(c.batch as usize, LearningRate::constant(c.learning_rate))
            .with_update(Update::new(optimizer, WeightDecay::NONE)?)
            .with_seed(c.seed),
    )
}

/// Floats of memory and of parameters of the network `c` describes.
///
/// # Safety
/// As for [`layers`].
unsafe fn sizes(c: &TinyregNetConfig) -> Result<(usize, usize), Error> {
    let mut storage = [Layer::Relu { features: 0 }; TINYREG_MAX_LAYERS];
    // SAFETY: per the contract.
    let net = Network::new(unsafe { layers(c, &mut storage)? });
    let config = train_config(c)?;
    // What init would refuse gets no size either.
    net.validate()?;
    config.validate()?;
    let floats = net.memory_len(
        c.batch as usize,
        config.update.optimizer.state_per_param(),
        false,
    );
    let floats = crate::size::fits(floats)?;
    floats.checked_mul(4).ok_or(Error::ShapeOverflow)?;
    Ok((floats, net.params_len()))
}

/// Which descriptor of `config` the library refuses: its index (from 0),
/// or -1 when no single descriptor is at fault (the description is valid,
/// `config` or its `layers` is null, or the count, batch, classes or
/// optimizer is wrong). Call it when `tinyreg_net_memory_bytes` returns 0 or
/// `tinyreg_net_init` returns `TINYREG_ERR_CONFIG`.
///
/// # Safety
/// `config` is null or valid, its `layers` null or `count` descriptors.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_refused_layer(config: *const TinyregNetConfig) -> i32 {
    // SAFETY: the caller passes null or a valid pointer.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return -1;
    };
    let mut storage = [Layer::Relu { features: 0 }; TINYREG_MAX_LAYERS];
    // SAFETY: per the contract.
    match unsafe { decode(c, &mut storage) } {
        // At most TINYREG_MAX_LAYERS, far below i32::MAX.
        Err((Some(i), _)) => i as i32,
        _ => -1,
    }
}

/// Bytes of memory (4-byte aligned) the network `config` describes needs; 0
/// if the description is invalid or `config` is null.
///
/// # Safety
/// `config` is null or valid, its `layers` null or `count` descriptors.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_memory_bytes(config: *const TinyregNetConfig) -> usize {
    // SAFETY: the caller passes null or a valid pointer.
    let Some(c) = (unsafe { config.as_ref() }) else {
        return 0;
    };
    // SAFETY: per the contract.
    unsafe { sizes(c) }.map_or(0, |(floats, _)| floats.saturating_mul(4))
}

/// Initializes `net` over `memory` (`bytes` long, 4-byte aligned, at least
/// `tinyreg_net_memory_bytes(config)`): weights from the seed. A description
/// the Rust side would refuse (shapes that do not chain, a bad probability,
/// a block left open) returns `TINYREG_ERR_CONFIG` or `TINYREG_ERR_LENGTH`
/// and leaves `net` untouched.
///
/// # Safety
/// `net` and `config` are null or valid; `config->layers` points to
/// `config->count` descriptors that outlive `net`; `memory` is null or
/// points to `bytes` writable bytes, 4-byte aligned, for `net` alone.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_init(
    net: *mut TinyregNet,
    config: *const TinyregNetConfig,
    memory: *mut f32,
    bytes: usize,
) -> i32 {
    // SAFETY: the caller passes null or valid pointers.
    let (Some(out), Some(c)) = (unsafe { net.as_mut() }, unsafe { config.as_ref() }) else {
        return TINYREG_ERR_NULL;
    };
    if memory.is_null() {
        return TINYREG_ERR_NULL;
    }
    if !(memory as usize).is_multiple_of(4) {
        return TINYREG_ERR_ALIGNMENT;
    }
    let run = || -> Result<TinyregNet, Error> {
        // SAFETY: per the contract.
        let (floats, params) = unsafe { sizes(c)? };
        if bytes / 4 < floats {
            return Err(Error::BufferTooSmall {
                needed: floats.saturating_mul(4),
                got: bytes,
            });
        }
        // SAFETY: `memory` is aligned, non-null and `bytes >= floats * 4` long.
        let mem = unsafe { core::slice::from_raw_parts_mut(memory, floats) };
        let mut storage = [Layer::Relu { features: 0 }; TINYREG_MAX_LAYERS];
        // SAFETY: per the contract.
        let layers = unsafe { layers(c, &mut storage)? };
        let trainer = Trainer::new(Network::new(layers), train_config(c)?, mem)?;
        let state = trainer.state();
        Ok(TinyregNet {
            config: *c,
            memory,
            floats,
            params,
            masks: state.masks.to_bytes(),
            shuffle: state.shuffle,
            step: state.step,
            magic: MAGIC,
            // SAFETY: `layers` above read the same `count` descriptors.
            descriptors: unsafe { descriptor_hash(c) },
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

/// Runs `f` with the network's trainer and saves its state afterwards.
/// `TINYREG_ERR_STATE` when the descriptors changed since init.
fn with_trainer(
    net: &mut TinyregNet,
    f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<(), Error>,
) -> i32 {
    if net.magic != MAGIC || net.memory.is_null() || net.config.layers.is_null() {
        return TINYREG_ERR_STATE;
    }
    // SAFETY: init checked the descriptors, which the caller keeps alive.
    if unsafe { descriptor_hash(&net.config) } != net.descriptors {
        return TINYREG_ERR_STATE;
    }
    let mut storage = [Layer::Relu { features: 0 }; TINYREG_MAX_LAYERS];
    // SAFETY: init checked the descriptors, which the caller keeps alive.
    let layers = match unsafe { layers(&net.config, &mut storage) } {
        Ok(l) => l,
        Err(e) => return status(e),
    };
    let config = match train_config(&net.config) {
        Ok(c) => c,
        Err(e) => return status(e),
    };
    let saved = SavedState {
        memory: net.memory,
        floats: net.floats,
        masks: &mut net.masks,
        shuffle: &mut net.shuffle,
        step: &mut net.step,
    };
    resume_and_run(layers, config, saved, f)
}

impl Model for TinyregNet {
    fn classes(&self) -> u32 {
        self.config.classes
    }
    /// Channels x height x width.
    fn features(&self) -> usize {
        let c = &self.config;
        (c.channels as usize)
            .saturating_mul(c.height as usize)
            .saturating_mul(c.width as usize)
    }
    fn with_trainer(&mut self, f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<(), Error>) -> i32 {
        with_trainer(self, f)
    }
}

/// One epoch over `data` (`features` = channels x height x width bytes a
/// sample) in a fresh order (`order`: `order_len` entries of scratch, which
/// must be `data->count`); the epoch's mean train loss and accuracy into the
/// non-null `loss`, `accuracy`.
///
/// # Safety
/// `net` was initialized; `data` describes valid arrays; `order` points to
/// `order_len` writable entries; `loss`, `accuracy` null or writable.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_train_epoch(
    net: *mut TinyregNet,
    data: *const TinyregDataset,
    order: *mut u32,
    order_len: u32,
    loss: *mut f32,
    accuracy: *mut f32,
) -> i32 {
    // SAFETY: per the contract.
    unsafe { train_epoch_call(net, data, (order, Some(order_len)), loss, accuracy) }
}

/// Mean loss and accuracy on `data` in eval mode.
///
/// # Safety
/// As for `tinyreg_net_train_epoch`.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_evaluate(
    net: *mut TinyregNet,
    data: *const TinyregDataset,
    loss: *mut f32,
    accuracy: *mut f32,
) -> i32 {
    // SAFETY: per the contract.
    unsafe { evaluate_call(net, data, loss, accuracy) }
}

/// Class probabilities of `rows <= batch` samples (`input`: `rows` times
/// channels x height x width floats) into `probs` (`rows * classes`).
///
/// # Safety
/// `net` was initialized; `input` and `probs` point to that many floats.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_predict(
    net: *mut TinyregNet,
    input: *const f32,
    rows: u32,
    probs: *mut f32,
) -> i32 {
    // SAFETY: per the contract.
    unsafe { predict_call(net, input, rows, probs) }
}

/// Trainable floats of an initialized network (0 for null or uninitialized).
///
/// # Safety
/// `net` is null or valid.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_params_len(net: *const TinyregNet) -> usize {
    // SAFETY: the caller passes null or a valid pointer.
    match unsafe { net.as_ref() } {
        Some(n) if n.magic == MAGIC => n.params,
        _ => 0,
    }
}

/// Runs `f` on the trainer of an initialized `net` whose parameters are
/// `len` floats, after the null, state and length checks.
fn with_params(
    net: *mut TinyregNet,
    buffer_is_null: bool,
    len: usize,
    f: impl FnOnce(&mut Trainer<'_, '_>) -> Result<(), Error>,
) -> i32 {
    // SAFETY: the caller passes null or a valid pointer.
    let Some(net) = (unsafe { net.as_mut() }) else {
        return TINYREG_ERR_NULL;
    };
    if buffer_is_null {
        return TINYREG_ERR_NULL;
    }
    if net.magic != MAGIC {
        return TINYREG_ERR_STATE;
    }
    if len != net.params {
        return TINYREG_ERR_LENGTH;
    }
    with_trainer(net, f)
}

/// Copies the parameters (layer after layer, weights then biases) into
/// `out`, `len` floats (exactly `tinyreg_net_params_len`).
///
/// # Safety
/// `net` was initialized; `out` points to `len` writable floats.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_get_params(
    net: *mut TinyregNet,
    out: *mut f32,
    len: usize,
) -> i32 {
    with_params(net, out.is_null(), len, |trainer| {
        // SAFETY: `out` holds `len` floats, per the contract.
        let out = unsafe { core::slice::from_raw_parts_mut(out, len) };
        out.copy_from_slice(trainer.params());
        Ok(())
    })
}

/// Replaces the parameters with `len` floats from `from` (as
/// `tinyreg_net_get_params` wrote them), e.g. trained weights for a
/// device that only predicts. A NaN or infinite value is refused with
/// `TINYREG_ERR_DATA`. Nothing changes on error.
///
/// # Safety
/// `net` was initialized; `from` points to `len` floats.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_set_params(
    net: *mut TinyregNet,
    from: *const f32,
    len: usize,
) -> i32 {
    with_params(net, from.is_null(), len, |trainer| {
        // SAFETY: `from` holds `len` floats, per the contract.
        let from = unsafe { core::slice::from_raw_parts(from, len) };
        if !from.iter().all(|x| x.is_finite()) {
            return Err(Error::InvalidData {
                reason: "a parameter is NaN or infinite",
            });
        }
        trainer.params_mut().copy_from_slice(from);
        Ok(())
    })
}

/// Bytes of the network's checkpoint (the format of Rust's
/// `trainer::checkpoint`): its weights and buffers (batch norm's running
/// statistics), and with `with_state` the optimizer state, generators and
/// step as well. 0 for a null or uninitialized network.
///
/// # Safety
/// `net` is null or was initialized.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_checkpoint_bytes(
    net: *mut TinyregNet,
    with_state: bool,
) -> usize {
    // SAFETY: the caller passes null or a valid pointer.
    let Some(net) = (unsafe { net.as_mut() }) else {
        return 0;
    };
    let mut bytes = 0;
    let status = with_trainer(net, |trainer| {
        bytes = trainer.checkpoint_len(with_state)?;
        Ok(())
    });
    if status == TINYREG_OK {
        bytes
    } else {
        0
    }
}

/// Writes the network's checkpoint into `out`, `len` bytes (exactly
/// `tinyreg_net_checkpoint_bytes`): another device with the same
/// descriptors loads it with `tinyreg_net_load` and predicts exactly as this
/// one does (or, `with_state`, goes on training as if never stopped).
///
/// # Safety
/// `net` was initialized; `out` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_save(
    net: *mut TinyregNet,
    with_state: bool,
    out: *mut u8,
    len: usize,
) -> i32 {
    // SAFETY: the caller passes null or a valid pointer.
    let Some(net) = (unsafe { net.as_mut() }) else {
        return TINYREG_ERR_NULL;
    };
    if out.is_null() {
        return TINYREG_ERR_NULL;
    }
    with_trainer(net, |trainer| {
        let needed = trainer.checkpoint_len(with_state)?;
        if len != needed {
            return Err(Error::LengthMismatch {
                expected: needed,
                got: len,
            });
        }
        // SAFETY: `out` holds `len` bytes, per the contract.
        let out = unsafe { core::slice::from_raw_parts_mut(out, len) };
        trainer.write_checkpoint(with_state, out)
    })
}

/// Loads a checkpoint of `len` bytes written by `tinyreg_net_save` (or by
/// Rust's `Trainer::write_checkpoint`) for a network with the same
/// descriptors: the weights and running statistics, and the training state
/// when the checkpoint holds it. A checkpoint for another network, a damaged
/// one (its CRC-32C) or one holding a NaN is refused with `TINYREG_ERR_DATA`
/// and nothing changes.
///
/// # Safety
/// `net` was initialized; `bytes` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn tinyreg_net_load(
    net: *mut TinyregNet,
    bytes: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: the caller passes null or a valid pointer.
    let Some(net) = (unsafe { net.as_mut() }) else {
        return TINYREG_ERR_NULL;
    };
    if bytes.is_null() {
        return TINYREG_ERR_NULL;
    }
    // SAFETY: `bytes` holds `len` bytes, per the contract.
    let bytes = unsafe { core::slice::from_raw_parts(bytes, len) };
    with_trainer(net, |trainer| {
        // Flags, bit 0: the training state follows the weights. A file too
        // short to say is refused by either loader.
        if bytes.get(12).is_some_and(|flags| flags & 1 == 1) {
            trainer.load_checkpoint(bytes)
        } else {
            trainer.load_weights(bytes)
        }
    })
}
