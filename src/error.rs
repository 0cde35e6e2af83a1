//! The crate's one error type.

use core::fmt;

/// Why an operation refused its input. Nothing is written when one is returned.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Two slices that must have the same length do not.
    LengthMismatch {
        /// The length the first slice sets.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// A caller-provided buffer is too small.
    BufferTooSmall {
        /// Elements (or bytes, for masks) needed.
        needed: usize,
        /// Elements (or bytes) provided.
        got: usize,
    },
    /// A keep probability is NaN or out of range: vanilla dropout takes `[0, 1]`,
    /// inverted dropout `(0, 1]` with `round(keep * 2^32) >= 1`.
    InvalidKeep {
        /// The value given.
        keep: f32,
    },
    /// A shape whose element count overflows `usize`.
    ShapeOverflow,
    /// A class label is not below the number of classes.
    LabelOutOfRange {
        /// The row (sample) with the bad label.
        row: usize,
        /// The label given.
        label: u32,
        /// The number of classes.
        classes: usize,
    },
    /// The loss came out NaN or infinite (non-finite logits or targets).
    NonFiniteLoss {
        /// The first row whose loss is not finite.
        row: usize,
    },
    /// A data file is malformed.
    InvalidData {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An index is not below the length it indexes.
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// The length.
        len: usize,
    },
    /// One named setting is outside its valid range (a momentum, a decay
    /// factor, a pooling window). C: `TINYREG_ERR_CONFIG`.
    InvalidSetting {
        /// The setting, as its field or argument is named.
        setting: &'static str,
        /// The range it must be in.
        rule: &'static str,
    },
    /// Settings out of range together (sizes that do not fit each other, a
    /// shape a layer cannot take). C: `TINYREG_ERR_CONFIG`.
    InvalidConfig {
        /// Which settings, and how they must relate.
        reason: &'static str,
    },
    /// A call out of order: before what it needs happened, or after it
    /// already did (a rung promoted twice, an average asked of a trainer
    /// without one). C: `TINYREG_ERR_STATE`.
    InvalidState {
        /// What is missing or done already.
        reason: &'static str,
    },
    /// A parameter of a search space is malformed (`tune::Space::new`).
    InvalidParam {
        /// Its position in the space.
        param: usize,
        /// What is wrong, and the valid range.
        reason: &'static str,
    },
    /// A checkpoint is malformed or was written for another network
    /// (`trainer::checkpoint`).
    BadCheckpoint {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The averaged weights are swapped in (`Trainer::swap_average`):
    /// training, or saving the training state, waits until they are swapped
    /// back.
    AverageSwappedIn,
    /// A saved generator state has an all-zero stream, which xoshiro never leaves.
    InvalidRngState {
        /// The stream whose state is zero.
        stream: usize,
    },
    /// A checkpoint's bytes do not match the CRC-32C stored with them: a
    /// flipped bit or a torn write.
    ChecksumMismatch {
        /// The checksum the checkpoint carries.
        stored: u32,
        /// The checksum of its bytes.
        computed: u32,
    },
    /// A learning-rate range test found no finite loss: the first step's
    /// loss was already NaN or infinite, so no rate can be suggested.
    NoFiniteLoss,
}

/// `Ok` when `ok`, else [`Error::InvalidSetting`] naming `setting` and the
/// `rule` it breaks.
pub(crate) fn check_setting(
    ok: bool,
    setting: &'static str,
    rule: &'static str,
) -> Result<(), Error> {
    match ok {
        true => Ok(()),
        false => Err(Error::InvalidSetting { setting, rule }),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::LengthMismatch { expected, got } => {
                write!(
                    f,
                    "length mismatch: expected {expected} elements, got {got}"
                )
            }
            Error::BufferTooSmall { needed, got } => {
                write!(f, "buffer too small: needs {needed}, got {got}")
            }
            Error::InvalidKeep { keep } => write!(
                f,
                "invalid keep probability {keep}: vanilla dropout takes [0, 1], \
                 inverted dropout (0, 1]"
            ),
            Error::AverageSwappedIn => write!(
                f,
                "the averaged weights are swapped in: swap them back (Trainer::swap_average) \
                 before training or saving the training state"
            ),
            Error::ShapeOverflow => write!(f, "shape too large: its element count overflows usize"),
            Error::LabelOutOfRange {
                row,
                label,
                classes,
            } => {
                write!(
                    f,
                    "label {label} of row {row} is out of range for {classes} classes"
                )
            }
            Error::NonFiniteLoss { row } => {
                write!(
                    f,
                    "the loss of row {row} is not finite (check the logits and targets)"
                )
            }
            Error::InvalidData { reason } => write!(f, "invalid data: {reason}"),
            Error::IndexOutOfRange { index, len } => {
                write!(f, "index {index} out of range for length {len}")
            }
            Error::InvalidSetting { setting, rule } => write!(f, "invalid {setting}: {rule}"),
            Error::InvalidConfig { reason } => write!(f, "invalid configuration: {reason}"),
            Error::InvalidState { reason } => write!(f, "out of order: {reason}"),
            Error::InvalidParam { param, reason } => {
                write!(f, "invalid search parameter {param}: {reason}")
            }
            Error::BadCheckpoint { reason } => write!(f, "bad checkpoint: {reason}"),
            Error::InvalidRngState { stream } => {
                write!(f, "invalid generator state: stream {stream} is all zero")
            }
            Error::ChecksumMismatch { stored, computed } => write!(
                f,
                "checkpoint checksum mismatch: stored {stored:#010x}, computed {computed:#010x} \
                 (the file is corrupt or was torn while written)"
            ),
            Error::NoFiniteLoss => write!(
                f,
                "the range test's first loss is not finite: no rate to suggest \
                 (check the data's scale and the initial weights)"
            ),
        }
    }
}

impl core::error::Error for Error {}
