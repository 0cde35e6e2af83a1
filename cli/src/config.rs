//! The run's TOML config: data, network, training and search space, checked
//! as it is read so that a bad value is reported with its field and line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use toml::Spanned;

use crate::data_spec::DataSpec;
use tinyreg::layers::affine::RandomAffine;
use tinyreg::layers::resized_crop::ResizedCrop;
use tinyreg::layers::test_time::{all_views, all_views_count, ten_crop, View};
use tinyreg::tune::{Param, Sampler, Space};
use tinyreg::{
    build_layers, Augmentation, BatchMix, DepthScaling, Dropout, DropoutKind, EarlyStoppingConfig,
    FmpEval, FmpIncrements, FmpWindows, ImageShape, Layer, LayerDesc, LearningRate, Metric,
    Monitor, Optimizer, PlateauConfig, Schedule, StochasticDepth, TrainConfig, Update,
    WeightAverage, WeightDecay,
};

/// A config error: the message, and the line it is about when known.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    /// The text of that line.
    pub source_line: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, &self.source_line) {
            (Some(line), Some(text)) => write!(
                f,
                "{}:{line}: {}\n{line:>5} | {}",
                self.file.display(),
                self.message,
                text.trim_end()
            ),
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The whole config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seeds initialization, shuffling and masks of `train` and `check`.
    #[serde(default)]
    pub seed: u64,
    pub data: DataSpec,
    pub network: NetworkSpec,
    pub train: TrainSpec,
    /// What is done to each training image (nothing when left out).
    pub augment: Option<AugmentSpec>,
    /// Mixup or CutMix over each training batch (none when left out).
    pub mix: Option<MixSpec>,
    /// Stop when the validation metric stops improving (never when left out).
    pub early_stopping: Option<EarlyStoppingSpec>,
    /// Decay the rate when the validation metric plateaus (never when left out).
    pub plateau: Option<PlateauSpec>,
    /// A running average of the weights (none when left out).
    pub average: Option<AverageSpec>,
    /// Predictions averaged over views of each image (none when left out).
    pub test_time: Option<TestTimeSpec>,
    /// The weights at the ends of the last cycles of a warm-restart
    /// schedule, their predictions averaged (none when left out).
    pub snapshot_ensemble: Option<SnapshotEnsembleSpec>,
    pub search: Option<SearchSpec>,
}

/// `[snapshot_ensemble]`: Huang et al.'s snapshot ensembles, with
/// `train.schedule = "cosine_restarts"`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SnapshotEnsembleSpec {
    /// How many of the last cycles' ends are kept (at least 1).
    #[serde(deserialize_with = "positive_u32")]
    pub snapshots: u32,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ViewsName {
    TenCrop,
    All,
}

/// `[test_time]`: test-time augmentation over crops and flips.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestTimeSpec {
    pub views: ViewsName,
    #[serde(default = "two_u16")]
    pub pad: u16,
}

fn two_u16() -> u16 {
    2
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    ValLoss,
    ValAccuracy,
}

/// `[early_stopping]`: Keras's `EarlyStopping` callback.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStoppingSpec {
    #[serde(default = "val_loss")]
    pub metric: MetricName,
    #[serde(deserialize_with = "positive_u32")]
    pub patience: u32,
    #[serde(default, deserialize_with = "non_negative_f32")]
    pub min_delta: f32,
    #[serde(default)]
    pub start_from_epoch: u32,
    #[serde(default = "yes")]
    pub restore_best: bool,
}

/// `[plateau]`: PyTorch's `ReduceLROnPlateau` after each epoch.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlateauSpec {
    #[serde(default = "val_loss")]
    pub metric: MetricName,
    #[serde(default = "tenth")]
    pub factor: f64,
    #[serde(default = "ten_u32")]
    pub patience: u32,
    #[serde(default = "plateau_threshold")]
    pub threshold: f64,
    #[serde(default = "yes")]
    pub relative: bool,
    #[serde(default)]
    pub cooldown: u32,
    #[serde(default)]
    pub min_lr: f64,
}

impl PlateauSpec {
    /// The crate's settings (PyTorch's defaults where the config is
    /// silent), checked.
    fn config(self) -> Result<(Metric, PlateauConfig), tinyreg::Error> {
        let (metric, mode) = match self.metric {
            MetricName::ValLoss => (Metric::ValLoss, Monitor::Min),
            MetricName::ValAccuracy => (Metric::ValAccuracy, Monitor::Max),
        };
        let config = PlateauConfig {
            factor: self.factor,
            patience: self.patience,
            threshold: self.threshold,
            relative: self.relative,
            cooldown: self.cooldown,
            min_lr: self.min_lr,
            ..PlateauConfig::new(mode)
        };
        config.validate()?;
        Ok((metric, config))
    }
}

fn tenth() -> f64 {
    0.1
}

fn ten_u32() -> u32 {
    10
}

fn plateau_threshold() -> f64 {
    1e-4
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AverageName {
    Exponential,
    Uniform,
}

/// `[average]`: Polyak averaging (an exponential moving average or the
/// uniform mean of the steps' weights).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AverageSpec {
    pub kind: AverageName,
    #[serde(default = "ema_decay")]
    pub decay: f64,
    #[serde(default)]
    pub start_epoch: u32,
}

fn val_loss() -> MetricName {
    MetricName::ValLoss
}

fn yes() -> bool {
    true
}

fn ema_decay() -> f64 {
    0.999
}

/// `[augment]`: each training image's random transforms, in this order.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AugmentSpec {
    /// A random resized crop of this area range (`[0.08, 1.0]` is Inception's).
    #[serde(default)]
    pub resized_crop: Option<[f32; 2]>,
    /// Pad by this many zeros and crop back at a random offset.
    #[serde(default)]
    pub crop_pad: usize,
    /// A random rotation within +- this many degrees.
    #[serde(default, deserialize_with = "non_negative_f32")]
    pub rotation: f32,
    /// Mirror left-right with probability 1/2.
    #[serde(default)]
    pub hflip: bool,
    /// Zero a square of this side at a random centre.
    #[serde(default)]
    pub cutout: usize,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MixKind {
    Mixup,
    Cutmix,
}

/// `[mix]`: pairs of images of a batch mixed, their losses alike.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MixSpec {
    pub kind: MixKind,
    /// `lambda ~ Beta(alpha, alpha)`.
    #[serde(deserialize_with = "positive_f32")]
    pub alpha: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub layers: Vec<Spanned<LayerSpec>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum LayerSpec {
    Dense {
        units: usize,
        #[serde(default)]
        relu: bool,
        /// DropConnect's keep probability on the weights, if any.
        #[serde(default)]
        dropconnect: Option<f32>,
    },
    Dropout {
        keep: f32,
        #[serde(default)]
        vanilla: bool,
    },
    /// Empty braces, not a unit variant: serde lets unknown keys through on
    /// an internally tagged unit variant, so `{ type = "relu", typo = 1 }`
    /// would pass unnoticed.
    Relu {},
    BatchNorm {
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
    Residual {
        hidden: usize,
        #[serde(default = "one")]
        survival: f32,
    },
    Conv {
        filters: usize,
        #[serde(default = "three")]
        kernel: usize,
        #[serde(default = "one_usize")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default)]
        relu: bool,
    },
    MaxPool {
        #[serde(default = "two")]
        kernel: usize,
        #[serde(default = "two")]
        stride: usize,
    },
    AvgPool {
        #[serde(default = "two")]
        kernel: usize,
        #[serde(default = "two")]
        stride: usize,
    },
    /// `BatchNorm2d`: per channel over the batch and each image's plane.
    #[serde(rename = "batch_norm_2d")]
    BatchNorm2d {
        #[serde(default = "bn_momentum")]
        momentum: f32,
    },
    /// `Dropout2d`: whole channels.
    SpatialDropout {
        keep: f32,
        #[serde(default)]
        vanilla: bool,
    },
    /// Each channel's mean: `(c, h, w)` to `c`.
    GlobalAvgPool {},
    /// Opens a residual block around the layers up to the next `block_end`.
    BlockStart {
        #[serde(default = "one")]
        survival: f32,
        /// One draw per sample (torchvision's row mode) instead of per batch.
        #[serde(default)]
        per_row: bool,
    },
    /// Closes a residual block: adds its input, through a 1x1 convolution
    /// (images) or a dense layer (features) where the shape changed.
    BlockEnd {},
    FractionalMaxPool {
        /// Output side (`out < in <= 2 out`; with `kernel`, `out + kernel - 1 <= in`).
        out: usize,
        #[serde(default)]
        overlapping: bool,
        #[serde(default)]
        random: bool,
        /// PyTorch's windows of this side instead of Graham's regions (0: Graham's).
        #[serde(default)]
        kernel: u8,
        /// A draw for every image and channel instead of one a batch.
        #[serde(default)]
        per_plane: bool,
        /// Samplings averaged in eval (0: the exact expectation).
        #[serde(default = "one_u8")]
        eval_samplings: u8,
    },
}

impl LayerSpec {
    /// The crate's description of this layer, or the field that cannot be
    /// one (a keep probability out of range, PyTorch's fractional windows
    /// with Graham's options).
    pub fn desc(&self) -> Result<LayerDesc, (&'static str, tinyreg::Error)> {
        let dropout = |field, keep: f32, vanilla: bool| {
            let kind = if vanilla {
                DropoutKind::Vanilla
            } else {
                DropoutKind::Inverted
            };
            Dropout::new(kind, keep).map_err(|e| (field, e))
        };
        Ok(match *self {
            LayerSpec::Dense {
                units,
                relu,
                dropconnect,
            } => LayerDesc::Dense {
                units,
                relu,
                dropconnect: match dropconnect {
                    Some(keep) => Some(dropout("dropconnect", keep, false)?),
                    None => None,
                },
            },
            LayerSpec::Dropout { keep, vanilla } => {
                LayerDesc::Dropout(dropout("keep", keep, vanilla)?)
            }
            LayerSpec::Relu {} => LayerDesc::Relu,
            LayerSpec::BatchNorm { momentum } => LayerDesc::BatchNorm { momentum },
            LayerSpec::BatchNorm2d { momentum } => LayerDesc::BatchNorm2d { momentum },
            LayerSpec::Residual { hidden, survival } => LayerDesc::Residual {
                hidden,
                survival,
                scaling: DepthScaling::Inverted,
            },
            LayerSpec::Conv {
                filters,
                kernel,
                stride,
                padding,
                relu,
            } => LayerDesc::Conv {
                filters,
                kernel,
                stride,
                padding,
                relu,
            },
            LayerSpec::MaxPool { kernel, stride } => LayerDesc::MaxPool { kernel, stride },
            LayerSpec::AvgPool { kernel, stride } => LayerDesc::AvgPool { kernel, stride },
            LayerSpec::SpatialDropout { keep, vanilla } => {
                LayerDesc::SpatialDropout(dropout("keep", keep, vanilla)?)
            }
            LayerSpec::GlobalAvgPool {} => LayerDesc::GlobalAvgPool,
            LayerSpec::BlockStart { survival, per_row } => LayerDesc::BlockStart(StochasticDepth {
                survival,
                scaling: DepthScaling::Inverted,
                per_row,
            }),
            LayerSpec::BlockEnd {} => LayerDesc::BlockEnd,
            LayerSpec::FractionalMaxPool {
                out,
                overlapping,
                random,
                kernel,
                per_plane,
                eval_samplings,
            } => LayerDesc::FractionalMaxPool {
                out,
                windows: fractional_windows(kernel, overlapping, random)?,
                per_plane,
                eval: match eval_samplings {
                    0 => FmpEval::Exact,
                    n => FmpEval::Average(n),
                },
            },
        })
    }
}

/// The learning-rate schedule of `t` in steps, over `epochs` of
/// `steps_per_epoch`.
fn schedule(t: &TrainSpec, steps_per_epoch: u32, epochs: u32) -> Schedule {
    let total = epochs.saturating_mul(steps_per_epoch);
    match t.schedule {
        ScheduleName::Constant => Schedule::Constant,
        ScheduleName::Cosine => Schedule::Cosine {
            total: total.max(1),
            min: t.lr * t.min_lr_fraction,
        },
        ScheduleName::Step => Schedule::Step {
            every: t.step_epochs.saturating_mul(steps_per_epoch).max(1),
            gamma: t.gamma,
        },
        ScheduleName::Exponential => Schedule::Exponential {
            gamma: t.gamma.powf(1.0 / steps_per_epoch.max(1) as f32),
        },
        ScheduleName::CosineRestarts => Schedule::CosineWarmRestarts {
            first: t.cycle_epochs.saturating_mul(steps_per_epoch).max(1),
            mult: t.cycle_mult,
            min: t.lr * t.min_lr_fraction,
        },
    }
}

/// Fractional pooling's windows: Graham's (`kernel = 0`, random or
/// pseudorandom increments, disjoint or overlapping) or PyTorch's.
fn fractional_windows(
    kernel: u8,
    overlapping: bool,
    random: bool,
) -> Result<FmpWindows, (&'static str, tinyreg::Error)> {
    Ok(match kernel {
        0 => FmpWindows::Graham {
            increments: if random {
                FmpIncrements::Random
            } else {
                FmpIncrements::Pseudorandom
            },
            overlapping,
        },
        _ if overlapping || random => {
            return Err((
                "kernel",
                tinyreg::Error::InvalidConfig {
                    reason: "PyTorch's windows (kernel) have a fixed side and pseudorandom starts: drop overlapping and random",
                },
            ))
        }
        kernel => FmpWindows::PyTorch { kernel },
    })
}

/// A crate error for people: an invalid setting's reason alone.
fn says(e: &tinyreg::Error) -> String {
    match e {
        tinyreg::Error::InvalidConfig { reason } => (*reason).to_string(),
        tinyreg::Error::InvalidSetting { setting, rule } => format!("{setting}: {rule}"),
        other => other.to_string(),
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerName {
    Sgd,
    Momentum,
    Nesterov,
    Adam,
    Adamw,
}

pub const OPTIMIZERS: &[&str] = &["sgd", "momentum", "nesterov", "adam", "adamw"];

impl OptimizerName {
    fn from_index(i: u32) -> OptimizerName {
        [
            OptimizerName::Sgd,
            OptimizerName::Momentum,
            OptimizerName::Nesterov,
            OptimizerName::Adam,
            OptimizerName::Adamw,
        ][i as usize % 5]
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleName {
    Constant,
    Cosine,
    Step,
    Exponential,
    /// Cosine annealing with warm restarts (SGDR).
    #[serde(rename = "cosine_restarts")]
    CosineRestarts,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    #[serde(deserialize_with = "positive_u32")]
    pub epochs: u32,
    #[serde(deserialize_with = "batch")]
    pub batch: usize,
    pub optimizer: OptimizerName,
    #[serde(deserialize_with = "positive_f32")]
    pub lr: f32,
    #[serde(default = "momentum", deserialize_with = "unit_interval")]
    pub momentum: f32,
    /// L2 decay (decoupled for AdamW, in the gradient otherwise).
    #[serde(default, deserialize_with = "non_negative_f32")]
    pub weight_decay: f32,
    #[serde(default, deserialize_with = "non_negative_f32")]
    pub l1: f32,
    #[serde(default = "cosine")]
    pub schedule: ScheduleName,
    /// Cosine's final rate as a fraction of `lr`.
    #[serde(default = "min_lr_fraction", deserialize_with = "unit_interval")]
    pub min_lr_fraction: f32,
    /// Step schedule: decay every this many epochs.
    #[serde(default = "one_u32", deserialize_with = "positive_u32")]
    pub step_epochs: u32,
    /// Step and exponential schedules: the factor per period (per epoch for
    /// exponential).
    #[serde(default = "gamma", deserialize_with = "unit_interval")]
    pub gamma: f32,
    /// Warm restarts: the first cycle in epochs, and each cycle's growth.
    #[serde(default = "one_u32", deserialize_with = "positive_u32")]
    pub cycle_epochs: u32,
    #[serde(default = "one_u32", deserialize_with = "positive_u32")]
    pub cycle_mult: u32,
    #[serde(default)]
    pub warmup_steps: u32,
    #[serde(default, deserialize_with = "positive_f32_opt")]
    pub clip_norm: Option<f32>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerName {
    Random,
    Grid,
    Sobol,
    LatinHypercube,
    /// Successive halving over Latin-hypercube points.
    Halving,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    pub sampler: SamplerName,
    /// Trials (grid: every point when absent).
    pub trials: Option<u32>,
    #[serde(default)]
    pub seed: u64,
    /// Epochs of each trial (halving: of the last rung); `train.epochs` if absent.
    pub epochs: Option<u32>,
    /// Grid: visit the points in a seeded order.
    #[serde(default)]
    pub shuffled: bool,
    /// Halving: keep the best `1/eta` at each rung.
    #[serde(default = "three_u32")]
    pub eta: u32,
    /// Halving: epochs of the first rung.
    #[serde(default = "one_u32")]
    pub min_epochs: u32,
    pub params: Vec<Spanned<ParamSpec>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// What it sets: `lr`, `weight_decay`, `l1`, `momentum`, `optimizer`, or
    /// `layers.N.keep` / `.survival` / `.units` / `.dropconnect`.
    pub name: String,
    pub low: Option<f64>,
    pub high: Option<f64>,
    #[serde(default)]
    pub log: bool,
    #[serde(default)]
    pub int: bool,
    pub choices: Option<Vec<String>>,
    /// Grid levels of a continuous parameter.
    #[serde(default = "three_u32")]
    pub levels: u32,
}

fn bn_momentum() -> f32 {
    0.1
}
fn one() -> f32 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn one_u8() -> u8 {
    1
}
fn one_u32() -> u32 {
    1
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn three_u32() -> u32 {
    3
}
fn momentum() -> f32 {
    0.9
}
fn cosine() -> ScheduleName {
    ScheduleName::Cosine
}
fn min_lr_fraction() -> f32 {
    0.05
}
fn gamma() -> f32 {
    0.5
}

fn positive_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = u64::deserialize(d)?;
    match usize::try_from(v) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(D::Error::custom("must be a positive integer")),
    }
}

fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        v => Ok(v),
    }
}

fn batch<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match positive_usize(d)? {
        1 => Err(D::Error::custom(
            "must be at least 2 (a batch of one has no batch statistics, and fit skips it)",
        )),
        v => Ok(v),
    }
}

fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() || v.abs() > f32::MAX as f64 {
        return Err(D::Error::custom("must be a finite number"));
    }
    Ok(v as f32)
}

fn positive_f32<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = float(d)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(D::Error::custom("must be positive"))
    }
}

fn positive_f32_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f32>, D::Error> {
    positive_f32(d).map(Some)
}

fn non_negative_f32<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = float(d)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(D::Error::custom("must be zero or positive"))
    }
}

fn unit_interval<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    let v = float(d)?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(D::Error::custom("must be in [0, 1)"))
    }
}

/// 1-based line of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// A search parameter resolved to what it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Lr,
    WeightDecay,
    L1,
    Momentum,
    Optimizer,
    Keep(usize),
    Survival(usize),
    Units(usize),
    DropConnect(usize),
    CropPad,
    Rotation,
    Cutout,
    MixAlpha,
    PlateauFactor,
    AverageDecay,
}

/// The config, read and checked, with everything resolved: the source text,
/// the search space as the crate's parameters (at most [`MAX_PARAMS`]).
pub struct Run {
    pub config: Config,
    pub path: PathBuf,
    pub text: String,
    pub params: Vec<Param>,
    pub targets: Vec<Target>,
}

/// Most search parameters.
pub const MAX_PARAMS: usize = 8;

/// Pads `params` to [`MAX_PARAMS`] with one-option choices after them: a
/// padded parameter takes one grid level and is never read, and each
/// sampler's coordinate `d` depends on `d` only, so the points of the real
/// parameters are those of a space of exactly them.
pub fn space(params: &[Param]) -> Result<Space<MAX_PARAMS>, tinyreg::Error> {
    const PAD: &[&str] = &["-"];
    const NAMES: [&str; MAX_PARAMS] = ["_0", "_1", "_2", "_3", "_4", "_5", "_6", "_7"];
    let mut all = [Param::choice("_", PAD); MAX_PARAMS];
    for (i, slot) in all.iter_mut().enumerate() {
        *slot = params
            .get(i)
            .copied()
            .unwrap_or(Param::choice(NAMES[i], PAD));
    }
    Space::new(all)
}

impl Run {
    /// Reads and checks the config at `path`; nothing else is touched.
    pub fn load(path: &Path) -> Result<Run, ConfigError> {
        let err = |line, message: String| ConfigError {
            file: path.to_path_buf(),
            line,
            message,
            source_line: None,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(None, e.to_string()))?;
        let err = |line: Option<usize>, message: String| ConfigError {
            source_line: line.and_then(|l| text.lines().nth(l - 1)).map(String::from),
            ..err(line, message)
        };
        let config: Config = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| line_of(&text, s.start));
            err(line, e.message().to_string())
        })?;
        let mut run = Run {
            config,
            path: path.to_path_buf(),
            text: text.clone(),
            params: Vec::new(),
            targets: Vec::new(),
        };
        run.check_data().map_err(|m| err(None, m))?;
        run.check_layers().map_err(|(l, m)| err(l, m))?;
        run.check_snapshots().map_err(|m| err(None, m))?;
        run.resolve_search()?;
        Ok(run)
    }

    /// A snapshot ensemble needs warm restarts, and is the final model on its
    /// own (not with `[average]` or `[test_time]`).
    fn check_snapshots(&self) -> Result<(), String> {
        let c = &self.config;
        if c.snapshot_ensemble.is_none() {
            return Ok(());
        }
        if c.train.schedule != ScheduleName::CosineRestarts {
            return Err("snapshot_ensemble: needs train.schedule = \"cosine_restarts\" (a snapshot at the end of each cycle)".into());
        }
        if c.average.is_some() || c.test_time.is_some() || c.early_stopping.is_some() {
            return Err("snapshot_ensemble: the ensemble is the final model; leave out [average], [test_time] and [early_stopping]".into());
        }
        if c.train.warmup_steps > 0 {
            return Err("snapshot_ensemble: the cycles must end at epochs' ends; leave out train.warmup_steps".into());
        }
        Ok(())
    }

    /// The epochs (1-based) at whose ends a snapshot is taken: the cycles'
    /// ends within `epochs`, the last `snapshots` of them; empty without
    /// `[snapshot_ensemble]`.
    pub fn snapshot_epochs(&self, epochs: u32) -> Vec<u32> {
        let Some(spec) = self.config.snapshot_ensemble else {
            return Vec::new();
        };
        let t = &self.config.train;
        let (mut ends, mut at, mut cycle) = (Vec::new(), 0u32, t.cycle_epochs.max(1));
        while let Some(end) = at.checked_add(cycle).filter(|&e| e <= epochs) {
            ends.push(end);
            at = end;
            cycle = cycle.saturating_mul(t.cycle_mult.max(1));
        }
        let skip = ends.len().saturating_sub(spec.snapshots as usize);
        ends.split_off(skip)
    }

    /// Each layer's values in range (the crate's rules, [`LayerDesc::check`]),
    /// reported with the layer's line before any data is read.
    fn check_layers(&self) -> Result<(), (Option<usize>, String)> {
        for (i, spanned) in self.config.network.layers.iter().enumerate() {
            let line = Some(line_of(&self.text, spanned.span().start));
            spanned
                .get_ref()
                .desc()
                .and_then(|d| d.check())
                .map_err(|(field, e)| {
                    (line, format!("network.layers[{i}].{field}: {}", says(&e)))
                })?;
        }
        Ok(())
    }

    fn check_data(&self) -> Result<(), String> {
        self.config.data.check()
    }

    /// A path of the config, relative to the config's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// The network for `shape` inputs and `classes` outputs, with the
    /// search's `values` applied if given: the layers' descriptions, built
    /// by the crate's [`build_layers`]. Errors name the layer and its line.
    pub fn layers(
        &self,
        shape: ImageShape,
        classes: usize,
        values: Option<&Values>,
    ) -> Result<Vec<Layer>, (Option<usize>, String)> {
        let specs = &self.config.network.layers;
        let line = |i: usize| specs.get(i).map(|s| line_of(&self.text, s.span().start));
        if specs.is_empty() {
            return Err((None, "network.layers: the network has no layers".into()));
        }
        let mut descs = Vec::with_capacity(specs.len());
        for (i, spanned) in specs.iter().enumerate() {
            let mut spec = *spanned.get_ref();
            if let Some(v) = values {
                v.apply_layer(i, &mut spec);
            }
            descs.push(spec.desc().map_err(|(field, e)| {
                (
                    line(i),
                    format!("network.layers[{i}].{field}: {}", says(&e)),
                )
            })?);
        }
        let mut layers = vec![Layer::Relu { features: 0 }; descs.len()];
        build_layers(shape, classes, &descs, &mut layers).map_err(|e| {
            let at = match (e.layer < descs.len(), e.field) {
                (true, Some(field)) => format!("network.layers[{}].{field}", e.layer),
                (true, None) => format!("network.layers[{}] ({})", e.layer, e.kind),
                (false, _) => "network.layers".into(),
            };
            let message = match e.error {
                tinyreg::Error::LengthMismatch { expected, got } if e.layer == descs.len() => {
                    format!("the last layer gives {got} outputs, the data has {expected} classes")
                }
                _ => says(&e.error),
            };
            (
                line(e.layer.min(descs.len() - 1)),
                format!("{at}: {message}"),
            )
        })?;
        Ok(layers)
    }

    /// The views `[test_time]` asks for, of `shape` images, with their
    /// padding; `None` without the section.
    pub fn test_time_views(&self, shape: ImageShape) -> Result<Option<(u16, Vec<View>)>, String> {
        let Some(t) = self.config.test_time else {
            return Ok(None);
        };
        if shape.height == 1 {
            return Err("test_time: the data are features, not images".into());
        }
        let views = match t.views {
            ViewsName::TenCrop => ten_crop(t.pad).to_vec(),
            ViewsName::All => {
                let mut all = vec![View::identity(t.pad); all_views_count(t.pad)];
                all_views(t.pad, &mut all).map_err(|e| format!("test_time: {e}"))?;
                all
            }
        };
        Ok(Some((t.pad, views)))
    }

    /// What is done to each training batch of `shape` images, with the
    /// search's `values` applied: `[augment]` and `[mix]`, or `None`.
    pub fn augmentation(
        &self,
        shape: ImageShape,
        values: Option<&Values>,
    ) -> Result<Option<Augmentation>, String> {
        let (mut augment, mut mix) = (self.config.augment, self.config.mix);
        if let Some(v) = values {
            augment.iter_mut().for_each(|a| v.apply_augment(a));
            mix.iter_mut().for_each(|m| v.apply_mix(m));
        }
        if augment.is_none() && mix.is_none() {
            return Ok(None);
        }
        let mut a = Augmentation::none(shape);
        if let Some(spec) = augment {
            if shape.height == 1 && (spec != AugmentSpec::default()) {
                return Err(
                    "augment: the data are features, not images: only [mix] applies to them".into(),
                );
            }
            a.resized_crop = spec.resized_crop.map(|[lo, hi]| ResizedCrop {
                scale: (lo, hi),
                ..ResizedCrop::DEFAULT
            });
            a.crop_pad = spec.crop_pad;
            a.affine = (spec.rotation > 0.0).then(|| RandomAffine::rotation(spec.rotation));
            a.hflip = spec.hflip;
            a.cutout = spec.cutout;
        }
        a.mix = mix.map(|m| match m.kind {
            MixKind::Mixup => BatchMix::Mixup { alpha: m.alpha },
            MixKind::Cutmix => BatchMix::CutMix { alpha: m.alpha },
        });
        a.validate().map_err(|e| {
            let section = if augment.is_some() { "augment" } else { "mix" };
            format!("{section}: {}", says(&e))
        })?;
        Ok(Some(a))
    }

    /// The training settings with the search's `values` applied, for
    /// `steps_per_epoch` steps an epoch and `epochs` epochs.
    pub fn train_config(
        &self,
        values: Option<&Values>,
        seed: u64,
        steps_per_epoch: u32,
        epochs: u32,
    ) -> Result<TrainConfig, String> {
        let (mut t, mut plateau, mut average) =
            (self.config.train, self.config.plateau, self.config.average);
        if let Some(v) = values {
            v.apply_train(&mut t);
            plateau.iter_mut().for_each(|p| v.apply_plateau(p));
            average.iter_mut().for_each(|a| v.apply_average(a));
        }
        let optimizer = match t.optimizer {
            OptimizerName::Sgd => Optimizer::Sgd,
            OptimizerName::Momentum => Optimizer::Momentum {
                momentum: t.momentum,
            },
            OptimizerName::Nesterov => Optimizer::Nesterov {
                momentum: t.momentum,
            },
            OptimizerName::Adam | OptimizerName::Adamw => Optimizer::ADAM,
        };
        let decay = WeightDecay {
            l2: t.weight_decay,
            decoupled: t.optimizer == OptimizerName::Adamw,
            l1: t.l1,
        };
        let schedule = schedule(&t, steps_per_epoch, epochs);
        Ok(TrainConfig {
            batch: t.batch,
            update: Update::new(optimizer, decay).map_err(|e| format!("train: {e}"))?,
            lr: LearningRate {
                base: t.lr,
                schedule,
                warmup: t.warmup_steps,
            },
            clip_norm: t.clip_norm,
            seed,
            plateau: match plateau {
                Some(p) => Some(p.config().map_err(|e| format!("plateau: {}", says(&e)))?),
                None => None,
            },
            early_stopping: self.config.early_stopping.map(|e| {
                let (metric, mode) = match e.metric {
                    MetricName::ValLoss => (Metric::ValLoss, Monitor::Min),
                    MetricName::ValAccuracy => (Metric::ValAccuracy, Monitor::Max),
                };
                let stop = EarlyStoppingConfig {
                    mode,
                    min_delta: e.min_delta,
                    patience: e.patience,
                    start_from_epoch: e.start_from_epoch,
                    restore_best_weights: e.restore_best,
                };
                (metric, stop)
            }),
            average: match average {
                Some(a) => {
                    let average = match a.kind {
                        AverageName::Exponential => WeightAverage::exponential(a.decay),
                        AverageName::Uniform => WeightAverage::uniform(),
                    }
                    .with_start(a.start_epoch.saturating_mul(steps_per_epoch));
                    average
                        .validate()
                        .map_err(|e| format!("average: {}", says(&e)))?;
                    Some(average)
                }
                None => None,
            },
        })
    }

    fn resolve_search(&mut self) -> Result<(), ConfigError> {
        let Some(search) = &self.config.search else {
            return Ok(());
        };
        let err = |line: Option<usize>, message: String| ConfigError {
            file: self.path.clone(),
            line,
            message,
            source_line: line
                .and_then(|l| self.text.lines().nth(l - 1))
                .map(String::from),
        };
        if search.params.is_empty() || search.params.len() > MAX_PARAMS {
            return Err(err(
                None,
                format!("search.params: give 1 to {MAX_PARAMS} parameters"),
            ));
        }
        let (mut params, mut targets) = (Vec::new(), Vec::new());
        for (i, spanned) in search.params.iter().enumerate() {
            let line = Some(line_of(&self.text, spanned.span().start));
            let p = spanned.get_ref();
            let fail = |m: String| err(line, format!("search.params[{i}] ({}): {m}", p.name));
            let target = self.target(&p.name).map_err(fail)?;
            if targets.contains(&target) {
                return Err(fail("set twice".into()));
            }
            let param = search_param(p, target).map_err(fail)?;
            params.push(param);
            targets.push(target);
        }
        // The crate checks bounds, log ranges and levels.
        space(&params).map_err(|e| {
            let at = match e {
                tinyreg::Error::InvalidParam { param, .. } => {
                    Some(line_of(&self.text, search.params[param].span().start))
                }
                _ => None,
            };
            err(at, format!("search.params: {e}"))
        })?;
        let grid = search.sampler == SamplerName::Grid;
        if search.trials.is_none() && !grid {
            return Err(err(None, "search.trials: how many trials?".into()));
        }
        if search.sampler == SamplerName::Halving {
            let epochs = search.epochs.unwrap_or(self.config.train.epochs);
            tinyreg::tune::SuccessiveHalving::new(
                search.trials.unwrap_or(1),
                search.eta,
                search.min_epochs,
                epochs,
            )
            .map_err(|e| err(None, format!("search (halving): {e}")))?;
        }
        self.params = params;
        self.targets = targets;
        Ok(())
    }

    fn target(&self, name: &str) -> Result<Target, String> {
        let simple = match name {
            "lr" => Some(Target::Lr),
            "weight_decay" => Some(Target::WeightDecay),
            "l1" => Some(Target::L1),
            "momentum" => Some(Target::Momentum),
            "optimizer" => Some(Target::Optimizer),
            "augment.crop_pad" => Some(Target::CropPad),
            "augment.rotation" => Some(Target::Rotation),
            "augment.cutout" => Some(Target::Cutout),
            "mix.alpha" => Some(Target::MixAlpha),
            "plateau.factor" => Some(Target::PlateauFactor),
            "average.decay" => Some(Target::AverageDecay),
            _ => None,
        };
        let section = match simple {
            Some(Target::CropPad | Target::Rotation | Target::Cutout) => {
                self.config.augment.is_some().then_some(()).ok_or("augment")
            }
            Some(Target::MixAlpha) => self.config.mix.is_some().then_some(()).ok_or("mix"),
            Some(Target::PlateauFactor) => {
                self.config.plateau.is_some().then_some(()).ok_or("plateau")
            }
            Some(Target::AverageDecay) => {
                self.config.average.is_some().then_some(()).ok_or("average")
            }
            _ => Ok(()),
        };
        if let Err(section) = section {
            return Err(format!(
                "{name} needs the [{section}] section to search (its other keys stay as given)"
            ));
        }
        if let Some(t) = simple {
            return Ok(t);
        }
        let unknown = || {
            String::from(
                "unknown parameter; one of lr, weight_decay, l1, momentum, optimizer, \
                 augment.crop_pad, augment.rotation, augment.cutout, mix.alpha, \
                 plateau.factor, average.decay, layers.N.keep, layers.N.survival, layers.N.units, layers.N.dropconnect",
            )
        };
        let rest = name.strip_prefix("layers.").ok_or_else(unknown)?;
        let (index, field) = rest.split_once('.').ok_or_else(unknown)?;
        let index: usize = index.parse().map_err(|_| unknown())?;
        let layers = &self.config.network.layers;
        let layer = layers
            .get(index)
            .ok_or_else(|| format!("the network has {} layers", layers.len()))?
            .get_ref();
        match (field, layer) {
            ("keep", LayerSpec::Dropout { .. } | LayerSpec::SpatialDropout { .. }) => {
                Ok(Target::Keep(index))
            }
            ("survival", LayerSpec::Residual { .. } | LayerSpec::BlockStart { .. }) => {
                Ok(Target::Survival(index))
            }
            ("units", LayerSpec::Dense { .. }) if index + 1 < layers.len() => {
                Ok(Target::Units(index))
            }
            ("dropconnect", LayerSpec::Dense { .. }) => Ok(Target::DropConnect(index)),
            _ => Err(format!("layer {index} has no searchable `{field}`")),
        }
    }

    pub fn search(&self) -> Option<&SearchSpec> {
        self.config.search.as_ref()
    }

    /// The sampler of the search.
    pub fn sampler(&self) -> Sampler {
        match self.search().map(|s| (s.sampler, s.shuffled, s.trials)) {
            Some((SamplerName::Random, ..)) | None => Sampler::Random,
            Some((SamplerName::Grid, shuffled, _)) => Sampler::Grid { shuffled },
            Some((SamplerName::Sobol, ..)) => Sampler::Sobol,
            Some((SamplerName::LatinHypercube | SamplerName::Halving, _, trials)) => {
                Sampler::LatinHypercube {
                    trials: trials.unwrap_or(1) as u64,
                }
            }
        }
    }
}

/// Values of the search parameters for one trial, by [`Target`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values(pub Vec<(Target, f64)>);

impl Values {
    fn apply_layer(&self, i: usize, spec: &mut LayerSpec) {
        for &(target, v) in &self.0 {
            match (target, &mut *spec) {
                (
                    Target::Keep(l),
                    LayerSpec::Dropout { keep, .. } | LayerSpec::SpatialDropout { keep, .. },
                ) if l == i => *keep = v as f32,
                (
                    Target::Survival(l),
                    LayerSpec::Residual { survival, .. } | LayerSpec::BlockStart { survival, .. },
                ) if l == i => *survival = v as f32,
                (Target::Units(l), LayerSpec::Dense { units, .. }) if l == i => *units = v as usize,
                (Target::DropConnect(l), LayerSpec::Dense { dropconnect, .. }) if l == i => {
                    *dropconnect = Some(v as f32)
                }
                _ => {}
            }
        }
    }

    fn apply_augment(&self, a: &mut AugmentSpec) {
        for &(target, v) in &self.0 {
            match target {
                Target::CropPad => a.crop_pad = v as usize,
                Target::Rotation => a.rotation = v as f32,
                Target::Cutout => a.cutout = v as usize,
                _ => {}
            }
        }
    }

    fn apply_plateau(&self, p: &mut PlateauSpec) {
        for &(target, v) in &self.0 {
            if target == Target::PlateauFactor {
                p.factor = v;
            }
        }
    }

    fn apply_average(&self, a: &mut AverageSpec) {
        for &(target, v) in &self.0 {
            if target == Target::AverageDecay {
                a.decay = v;
            }
        }
    }

    fn apply_mix(&self, m: &mut MixSpec) {
        for &(target, v) in &self.0 {
            if target == Target::MixAlpha {
                m.alpha = v as f32;
            }
        }
    }

    fn apply_train(&self, t: &mut TrainSpec) {
        for &(target, v) in &self.0 {
            match target {
                Target::Lr => t.lr = v as f32,
                Target::WeightDecay => t.weight_decay = v as f32,
                Target::L1 => t.l1 = v as f32,
                Target::Momentum => t.momentum = v as f32,
                Target::Optimizer => t.optimizer = OptimizerName::from_index(v as u32),
                _ => {}
            }
        }
    }
}

/// `x` for people: plain below a million and above 1e-4, otherwise in
/// scientific notation (`1e-300`, not three hundred digits).
pub fn short(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || (1e-4..1e6).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// A search point's values for people: each to 3 significant digits
/// (`lr 0.0182, weight_decay 0.000852, optimizer adam`).
pub fn short_params(params: &serde_json::Map<String, serde_json::Value>) -> String {
    params
        .iter()
        .map(|(k, v)| match v.as_f64() {
            Some(x) if !v.is_i64() && !v.is_u64() => format!("{k} {}", significant(x, 3)),
            _ => format!("{k} {}", v.as_str().map_or(v.to_string(), String::from)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `x` to `digits` significant digits, in plain or scientific notation as
/// [`short`] chooses.
pub fn significant(x: f64, digits: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let rounded: f64 = format!("{x:.*e}", digits.saturating_sub(1))
        .parse()
        .unwrap_or(x);
    short(rounded)
}

/// A searched parameter of `target` from its spec: a choice of optimizers,
/// or a range (integer for widths, paddings and sides) inside what the
/// target takes.
fn search_param(p: &ParamSpec, target: Target) -> Result<Param, String> {
    let name: &'static str = Box::leak(p.name.clone().into_boxed_str());
    match (&p.choices, p.low, p.high) {
        (Some(choices), None, None) => {
            if target != Target::Optimizer {
                return Err("only `optimizer` takes choices".into());
            }
            for c in choices {
                if !OPTIMIZERS.contains(&c.as_str()) {
                    return Err(format!("unknown optimizer {c:?} (one of {OPTIMIZERS:?})"));
                }
            }
            let leaked: Vec<&'static str> = choices
                .iter()
                .map(|c| &*Box::leak(c.clone().into_boxed_str()))
                .collect();
            Ok(Param::choice(name, Box::leak(leaked.into_boxed_slice())))
        }
        (None, Some(low), Some(high)) => range_param(name, p, target, (low, high)),
        _ => Err("give `low` and `high`, or `choices`".into()),
    }
}

/// A searched range `[low, high]` of `target`.
fn range_param(
    name: &'static str,
    p: &ParamSpec,
    target: Target,
    (low, high): (f64, f64),
) -> Result<Param, String> {
    let integer = matches!(target, Target::Units(_) | Target::CropPad | Target::Cutout);
    if integer != p.int {
        return Err(if integer {
            "a width, padding or side takes `int = true`".into()
        } else {
            "only widths, paddings and sides are integers".into()
        });
    }
    if target == Target::Optimizer {
        return Err("the optimizer takes `choices`".into());
    }
    let param = match (p.int, p.log) {
        (true, false) => Param::int(name, low as i64, high as i64),
        (true, true) => Param::int_log(name, low as i64, high as i64),
        (false, false) => Param::uniform(name, low, high),
        (false, true) => Param::log_uniform(name, low, high),
    };
    let (lo, hi) = (low as f32, high as f32);
    let in_range = match target {
        Target::Keep(_) | Target::Survival(_) | Target::DropConnect(_) => lo > 0.0 && hi <= 1.0,
        Target::Momentum | Target::PlateauFactor | Target::AverageDecay => lo >= 0.0 && hi < 1.0,
        Target::Lr | Target::MixAlpha => lo > 0.0,
        Target::Units(_) => lo >= 1.0,
        _ => lo >= 0.0,
    };
    if !in_range {
        return Err(format!(
            "[{}, {}] is outside what it sets",
            short(low),
            short(high)
        ));
    }
    Ok(param.grid_levels(p.levels))
}
