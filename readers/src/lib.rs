//! Readers of the data people have into tinyreg's ICLS data: CSV tables,
//! NumPy `.npy` and `.npz` arrays, and folders of images sorted by class
//! (torchvision's `ImageFolder` layout). Each reader works on bytes (the
//! fuzz targets call them so) with a thin file-reading layer on top; every
//! refusal names the file and the line, record or entry, and what is wrong.
//! Sizes a header claims are checked against the bytes there are before
//! anything is allocated.

pub mod csv_table;
pub mod image_folder;
pub mod npy;
pub mod zip;

use std::fmt;
use std::path::{Path, PathBuf};

use tinyreg::trainer::data::Dtype;
use tinyreg::Icls;

/// Why data was refused: the file, where in it, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The file (or folder) read.
    pub file: PathBuf,
    /// Where: `line 12`, `record 3, column "age"`, `entry y.npy`, ...
    pub at: Option<String>,
    /// What is wrong.
    pub what: String,
}

impl ReadError {
    pub fn new(file: &Path, what: impl Into<String>) -> ReadError {
        ReadError {
            file: file.to_path_buf(),
            at: None,
            what: what.into(),
        }
    }

    pub fn at(mut self, at: impl Into<String>) -> ReadError {
        self.at = Some(at.into());
        self
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(at) => write!(f, "{}: {at}: {}", self.file.display(), self.what),
            None => write!(f, "{}: {}", self.file.display(), self.what),
        }
    }
}

impl std::error::Error for ReadError {}

/// The values of a data set: bytes with the largest value they stand for
/// (pixels), or floats.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Bytes, scaled by `1 / max_value` when training.
    U8 { data: Vec<u8>, max_value: u32 },
    /// Floats, taken as they are.
    F32(Vec<f32>),
}

/// A data set as read: `count` samples of `channels x height x width`
/// values and a label each.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Classes: labels are below it.
    pub classes: usize,
    pub values: Values,
    pub labels: Vec<u8>,
    /// Class names where the source has them (image folders).
    pub class_names: Vec<String>,
}

impl Dataset {
    /// Values per sample.
    pub fn features(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Samples.
    pub fn count(&self) -> usize {
        self.labels.len()
    }

    /// The first NaN or infinite value as (sample, feature), if any.
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        match &self.values {
            Values::U8 { .. } => None,
            Values::F32(v) => v
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| (i / self.features().max(1), i % self.features().max(1))),
        }
    }

    /// The data as ICLS bytes: version 1 for bytes, version 2 for floats.
    /// Refuses more than 256 classes (labels are bytes) and non-finite floats.
    pub fn to_icls(&self, file: &Path) -> Result<Vec<u8>, ReadError> {
        if self.classes == 0 || self.classes > 256 {
            return Err(ReadError::new(
                file,
                format!(
                    "{} classes: ICLS holds 1 to 256 (labels are bytes)",
                    self.classes
                ),
            ));
        }
        if let Some((s, f)) = self.first_non_finite() {
            return Err(ReadError::new(file, "a value is NaN or infinite")
                .at(format!("sample {s}, feature {f}")));
        }
        let (dtype, max_value) = match &self.values {
            Values::U8 { max_value, .. } => (Dtype::U8, *max_value),
            Values::F32(_) => (Dtype::F32, 1),
        };
        let header = [
            dtype.version(),
            self.count() as u32,
            self.height as u32,
            self.width as u32,
            self.channels as u32,
            self.classes as u32,
            max_value,
        ];
        let mut out = Vec::with_capacity(32 + self.count() * (self.features() * dtype.bytes() + 1));
        out.extend_from_slice(b"ICLS");
        for v in header {
            out.extend_from_slice(&v.to_le_bytes());
        }
        match &self.values {
            Values::U8 { data, .. } => out.extend_from_slice(data),
            Values::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
        out.extend_from_slice(&self.labels);
        Ok(out)
    }
}

/// The ICLS bytes of a parsed data set (e.g. one side of a split).
pub fn icls_bytes(d: &Icls<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + d.images.len() + d.labels.len());
    out.extend_from_slice(b"ICLS");
    for v in [
        d.dtype.version(),
        d.count as u32,
        d.rows as u32,
        d.cols as u32,
        d.channels as u32,
        d.classes as u32,
        d.max_value,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(d.images);
    out.extend_from_slice(d.labels);
    out
}

/// Labels as bytes, each an integer in `0..256`; `classes` is one more than
/// the largest. `name(i)` says where label `i` came from.
pub fn byte_labels(
    file: &Path,
    labels: impl Iterator<Item = Result<i128, String>>,
    name: impl Fn(usize) -> String,
) -> Result<(Vec<u8>, usize), ReadError> {
    let mut out = Vec::new();
    let mut classes = 0;
    for (i, l) in labels.enumerate() {
        let l = l.map_err(|m| ReadError::new(file, m).at(name(i)))?;
        let b = u8::try_from(l).map_err(|_| {
            ReadError::new(file, format!("label {l} is not a class index in 0..=255")).at(name(i))
        })?;
        classes = classes.max(b as usize + 1);
        out.push(b);
    }
    Ok((out, classes))
}

/// Reads a whole file, naming it on error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|e| ReadError::new(path, e.to_string()))
}
