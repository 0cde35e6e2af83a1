//! The config's `[data]` section: which files, in which format, read with
//! which options, scaled how, split how. Each key says which formats read
//! it; a key given to a format that does not read it is refused, so a typo
//! never passes silently. `docs/config.md` documents every key (a test
//! checks it against this schema).

use std::path::PathBuf;

use serde::de::{Deserializer, Error as _};
use serde::Deserialize;

/// Where the data comes from.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// tinyreg's ICLS files (`train`, `test`).
    Icls,
    /// The four gzip IDX files of (Fashion-)MNIST in `dir`.
    Idx,
    /// A CSV table a file (`train`, `test`).
    Csv,
    /// NumPy arrays: features `train`/`test`, labels `train_labels`/`test_labels`.
    Npy,
    /// NumPy archives (`train`, `test`) holding the `features` and `labels` arrays.
    Npz,
    /// Folders of images sorted by class (`train`, `test`).
    Images,
}

/// How features are scaled before training, from the training split alone.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// As read (bytes divided by their `max_value`).
    #[default]
    None,
    /// Each feature to mean 0, standard deviation 1 (scikit-learn's
    /// `StandardScaler`; a constant feature is only centred).
    Standardize,
    /// Each feature to `[0, 1]` by its minimum and maximum (`MinMaxScaler`).
    Unit,
}

/// The label column of a CSV table: its header or its index.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum LabelKey {
    Index(usize),
    Name(String),
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LayoutName {
    Nchw,
    Nhwc,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ColorName {
    Auto,
    Gray,
    Rgb,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub format: DataFormat,
    /// The training file (a folder for images).
    pub train: Option<PathBuf>,
    /// The test file or folder (scored once, for what was chosen).
    pub test: Option<PathBuf>,
    /// IDX: the folder of the four gzip files.
    pub dir: Option<PathBuf>,
    /// npy: the labels of `train` and of `test`.
    pub train_labels: Option<PathBuf>,
    pub test_labels: Option<PathBuf>,
    /// npz: the arrays' names (default `x` and `y`).
    pub features: Option<String>,
    pub labels: Option<String>,
    /// csv: the label column, by header or index (default: the last).
    pub label: Option<LabelKey>,
    /// csv: whether the first line names the columns (default true).
    pub header: Option<bool>,
    /// csv: the one-character field separator (default `,`).
    pub delimiter: Option<String>,
    /// npy, npz: how 4-D arrays lay out images (default `nchw`).
    pub layout: Option<LayoutName>,
    /// npy, npz: the value a uint8 array's 1.0 stands for (default 255).
    pub max_value: Option<u32>,
    /// images: resize every image to `[height, width]`.
    pub size: Option<[u32; 2]>,
    /// images: `gray`, `rgb`, or `auto` (gray when every image is).
    pub color: Option<ColorName>,
    /// Feature scaling from the training split (default `none`).
    #[serde(default)]
    pub scale: Scale,
    /// Without a test file: hold out this many samples as the test set
    /// (a seeded split, before the validation split).
    pub test_split: Option<usize>,
    /// Use only the first `limit` training samples.
    pub limit: Option<usize>,
    /// Training samples held out for validation (a seeded split).
    #[serde(deserialize_with = "positive_usize")]
    pub validation: usize,
    #[serde(default)]
    pub split_seed: u64,
}

fn positive_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = u64::deserialize(d)?;
    match usize::try_from(v) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(D::Error::custom("must be a positive integer")),
    }
}

impl DataSpec {
    /// The keys given and the formats that read each; required keys; the
    /// values' ranges.
    pub fn check(&self) -> Result<(), String> {
        self.check_keys()?;
        self.check_values()
    }

    /// Every key given is read by the format, and the format's required
    /// keys are there.
    fn check_keys(&self) -> Result<(), String> {
        use DataFormat::*;
        let f = self.format;
        let given: [(&str, bool, &[DataFormat]); 13] = [
            (
                "train",
                self.train.is_some(),
                &[Icls, Csv, Npy, Npz, Images],
            ),
            ("test", self.test.is_some(), &[Icls, Csv, Npy, Npz, Images]),
            ("dir", self.dir.is_some(), &[Idx]),
            ("train_labels", self.train_labels.is_some(), &[Npy]),
            ("test_labels", self.test_labels.is_some(), &[Npy]),
            ("features", self.features.is_some(), &[Npz]),
            ("labels", self.labels.is_some(), &[Npz]),
            ("label", self.label.is_some(), &[Csv]),
            ("header", self.header.is_some(), &[Csv]),
            ("delimiter", self.delimiter.is_some(), &[Csv]),
            ("layout", self.layout.is_some(), &[Npy, Npz]),
            ("max_value", self.max_value.is_some(), &[Npy, Npz]),
            (
                "size",
                self.size.is_some() || self.color.is_some(),
                &[Images],
            ),
        ];
        for (key, present, formats) in given {
            if present && !formats.contains(&f) {
                let readers: Vec<&str> = formats.iter().map(|&f| name(f)).collect();
                return Err(format!(
                    "data.{key} does not apply to format {:?} (it is read by {})",
                    name(f),
                    readers.join(", ")
                ));
            }
        }
        let need = |present: bool, key: &str, what: &str| {
            if present {
                Ok(())
            } else {
                Err(format!("data.{key}: the {:?} format needs {what}", name(f)))
            }
        };
        match f {
            Idx => need(self.dir.is_some(), "dir", "the folder of the gzip files")?,
            Npy => {
                need(self.train.is_some(), "train", "the features' .npy file")?;
                need(
                    self.train_labels.is_some(),
                    "train_labels",
                    "the labels' .npy file",
                )?;
                if self.test.is_some() != self.test_labels.is_some() {
                    return Err("data.test and data.test_labels come together".into());
                }
            }
            Images => need(self.train.is_some(), "train", "the folder of class folders")?,
            Icls | Csv | Npz => need(self.train.is_some(), "train", "the training file")?,
        }
        Ok(())
    }

    /// The values of the keys given are in range.
    fn check_values(&self) -> Result<(), String> {
        if let Some(d) = &self.delimiter {
            if d.len() != 1 {
                return Err(format!("data.delimiter: one ASCII character, got {d:?}"));
            }
        }
        if self.max_value == Some(0) {
            return Err("data.max_value: must be at least 1".into());
        }
        if let Some([h, w]) = self.size {
            if h == 0 || w == 0 || u64::from(h) * u64::from(w) > 1 << 24 {
                return Err(
                    "data.size: [height, width], each at least 1, at most 2^24 pixels".into(),
                );
            }
        }
        if self.test.is_some() && self.test_split.is_some() {
            return Err("data.test_split: give a test file or a test split, not both".into());
        }
        if self.test_split == Some(0) {
            return Err("data.test_split: must be at least 1 (or leave it out)".into());
        }
        Ok(())
    }
}

/// The format as the config spells it.
pub fn name(f: DataFormat) -> &'static str {
    match f {
        DataFormat::Icls => "icls",
        DataFormat::Idx => "idx",
        DataFormat::Csv => "csv",
        DataFormat::Npy => "npy",
        DataFormat::Npz => "npz",
        DataFormat::Images => "images",
    }
}
