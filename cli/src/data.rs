//! Reading the config's data: ICLS files, the gzip IDX files of
//! (Fashion-)MNIST, CSV tables, NumPy arrays and class-per-folder images
//! (`tinyreg-readers`), all as ICLS bytes in memory; the seeded test and
//! validation splits; and feature scaling fitted on the training split
//! alone, kept so that prediction applies the same.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tinyreg::tune::validation_split;
use tinyreg::{Icls, ImageShape};
use tinyreg_readers::csv_table::{self, CsvOptions, LabelColumn};
use tinyreg_readers::image_folder::{self, Color, ImageOptions};
use tinyreg_readers::npy::{self, Layout};
use tinyreg_readers::{icls_bytes, zip, Dataset, ReadError};

use crate::config::Run;
use crate::data_spec::{ColorName, DataFormat, DataSpec, LabelKey, LayoutName, Scale};

/// Why data could not be had: a file missing or unreadable (exit 3), or
/// data that is there but wrong (exit 2: nothing is written).
#[derive(Debug)]
pub enum DataError {
    Missing(String),
    Bad(String),
}

impl DataError {
    pub fn message(&self) -> &str {
        match self {
            DataError::Missing(m) | DataError::Bad(m) => m,
        }
    }

    /// The exit status the command line gives it.
    pub fn status(&self) -> u8 {
        match self {
            DataError::Missing(_) => 3,
            DataError::Bad(_) => 2,
        }
    }
}

impl From<ReadError> for DataError {
    fn from(e: ReadError) -> DataError {
        if e.file.exists() {
            DataError::Bad(e.to_string())
        } else {
            DataError::Missing(format!(
                "{e} (fetch or point data.train at the data; see docs/config.md)"
            ))
        }
    }
}

/// The raw bytes of the training and test sets, and the split's buffers.
pub struct Data {
    train_full: Vec<u8>,
    test: Option<Vec<u8>>,
    images: Vec<u8>,
    labels: Vec<u8>,
    validation: usize,
    split_seed: u64,
    /// Training images used (the first ones).
    limit: usize,
    scale: Scale,
    scaling: Option<Scaling>,
    /// The training, validation and test samples scaled (ICLS version 2).
    scaled: Vec<u8>,
    scaled_val: Vec<u8>,
    scaled_test: Option<Vec<u8>>,
}

/// The parsed sets, borrowing from [`Data`].
pub struct Sets<'a> {
    pub train: Icls<'a>,
    pub val: Icls<'a>,
    pub test: Option<Icls<'a>>,
    /// The scaling fitted on `train` and applied to all three, if any.
    pub scaling: Option<Scaling>,
}

impl Sets<'_> {
    pub fn shape(&self) -> ImageShape {
        ImageShape {
            channels: self.train.channels,
            height: self.train.rows,
            width: self.train.cols,
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| {
        DataError::Missing(format!(
            "{}: {e} (data missing: scripts/fetch-fashion-mnist.sh fetches Fashion-MNIST; data.train names the file)",
            path.display()
        ))
    })
}

fn gunzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let file = std::fs::File::open(path).map_err(|e| {
        DataError::Missing(format!(
            "{}: {e} (scripts/fetch-fashion-mnist.sh fetches Fashion-MNIST into data/fashion-mnist)",
            path.display()
        ))
    })?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::Bad(format!("{}: not a gzip file ({e})", path.display())))?;
    Ok(bytes)
}

/// IDX images and labels (big-endian headers) as in-memory ICLS bytes.
fn icls_from_idx(
    images: &[u8],
    labels: &[u8],
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, String> {
    let be = |b: &[u8], at: usize| -> Option<usize> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let bad = || format!("{what}: not IDX image and label files");
    if (be(images, 0), be(labels, 0)) != (Some(0x803), Some(0x801)) {
        return Err(bad());
    }
    let (n, rows, cols) = (
        be(images, 4).ok_or_else(bad)?.min(limit),
        be(images, 8).ok_or_else(bad)?,
        be(images, 12).ok_or_else(bad)?,
    );
    let pixels = n.checked_mul(rows * cols).ok_or_else(bad)?;
    let (Some(img), Some(lab)) = (images.get(16..16 + pixels), labels.get(8..8 + n)) else {
        return Err(format!("{what}: truncated IDX files"));
    };
    let mut out = Vec::with_capacity(32 + pixels + n);
    out.extend_from_slice(b"ICLS");
    for v in [1, n, rows, cols, 1, 10, 255] {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
    out.extend_from_slice(img);
    out.extend_from_slice(lab);
    Ok(out)
}

/// The options of the reader of `spec`'s format.
fn csv_options(spec: &DataSpec) -> CsvOptions {
    CsvOptions {
        label: match &spec.label {
            None => LabelColumn::Last,
            Some(LabelKey::Index(i)) => LabelColumn::Index(*i),
            Some(LabelKey::Name(n)) => LabelColumn::Name(n.clone()),
        },
        header: spec.header.unwrap_or(true),
        delimiter: spec.delimiter.as_deref().map_or(b',', |d| d.as_bytes()[0]),
    }
}

fn layout(spec: &DataSpec) -> Layout {
    match spec.layout {
        Some(LayoutName::Nhwc) => Layout::Nhwc,
        _ => Layout::Nchw,
    }
}

/// Reads one set (training or test) of a CSV, NumPy or image-folder config:
/// `path` the file or folder, `labels` the labels' `.npy` for `npy`.
pub fn read_dataset(
    spec: &DataSpec,
    path: &Path,
    labels: Option<&Path>,
) -> Result<Dataset, DataError> {
    let max_value = spec.max_value.unwrap_or(255);
    Ok(match spec.format {
        DataFormat::Csv => csv_table::read_csv(path, &csv_options(spec))?,
        DataFormat::Npy => {
            let labels = labels.ok_or_else(|| {
                DataError::Bad(
                    "data.train_labels: the npy format needs the labels' .npy file".into(),
                )
            })?;
            let (bx, by) = (
                tinyreg_readers::read_file(path)?,
                tinyreg_readers::read_file(labels)?,
            );
            let (x, y) = (npy::parse_npy(path, &bx)?, npy::parse_npy(labels, &by)?);
            npy::dataset((path, &x), (labels, &y), layout(spec), max_value)?
        }
        DataFormat::Npz => {
            let bytes = tinyreg_readers::read_file(path)?;
            let (xs, ys) = (
                spec.features.as_deref().unwrap_or("x"),
                spec.labels.as_deref().unwrap_or("y"),
            );
            let (bx, by) = (
                zip::read_named(path, &bytes, xs)?,
                zip::read_named(path, &bytes, ys)?,
            );
            let (x, y) = (npy::parse_npy(path, &bx)?, npy::parse_npy(path, &by)?);
            npy::dataset((path, &x), (path, &y), layout(spec), max_value)?
        }
        DataFormat::Images => image_folder::read_image_folder(
            path,
            &ImageOptions {
                size: spec.size.map(|[h, w]| (h, w)),
                color: match spec.color {
                    Some(ColorName::Gray) => Color::Gray,
                    Some(ColorName::Rgb) => Color::Rgb,
                    _ => Color::Auto,
                },
            },
        )?,
        DataFormat::Icls | DataFormat::Idx => {
            return Err(DataError::Bad(
                "ICLS and IDX data are read as ICLS bytes".into(),
            ))
        }
    })
}

/// One set of any format as ICLS bytes (`labels`: the npy labels' file).
pub fn read_icls(
    spec: &DataSpec,
    path: &Path,
    labels: Option<&Path>,
) -> Result<Vec<u8>, DataError> {
    match spec.format {
        DataFormat::Icls => read(path),
        _ => {
            let d = read_dataset(spec, path, labels)?;
            Ok(d.to_icls(path)?)
        }
    }
}

/// Sets the class count of ICLS `bytes` (the header's field at 24).
fn set_classes(bytes: &mut [u8], classes: usize) {
    if bytes.len() >= 28 {
        bytes[24..28].copy_from_slice(&(classes as u32).to_le_bytes());
    }
}

fn classes_of(bytes: &[u8]) -> usize {
    bytes
        .get(24..28)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Per-feature scaling fitted on the training split: `(x - offset) *
/// factor`, in `f32`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub scale: String,
    pub offset: Vec<f32>,
    pub factor: Vec<f32>,
}

impl Scaling {
    /// Fits `scale` on `train`'s values (in `f64`): the mean and the
    /// population standard deviation, or the minimum and the range; a
    /// constant feature gets a factor of 1.
    pub fn fit(scale: Scale, train: &Icls) -> Option<Scaling> {
        let f = train.features();
        let n = train.count.max(1) as f64;
        let (offset, spread): (Vec<f64>, Vec<f64>) = match scale {
            Scale::None => return None,
            Scale::Standardize => {
                let mut sum = vec![0f64; f];
                let mut sq = vec![0f64; f];
                for i in 0..train.count {
                    for (j, v) in train.sample_values(i).enumerate() {
                        sum[j] += v as f64;
                    }
                }
                let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
                for i in 0..train.count {
                    for (j, v) in train.sample_values(i).enumerate() {
                        sq[j] += (v as f64 - mean[j]).powi(2);
                    }
                }
                (mean, sq.iter().map(|s| (s / n).sqrt()).collect())
            }
            Scale::Unit => {
                let mut lo = vec![f64::INFINITY; f];
                let mut hi = vec![f64::NEG_INFINITY; f];
                for i in 0..train.count {
                    for (j, v) in train.sample_values(i).enumerate() {
                        lo[j] = lo[j].min(v as f64);
                        hi[j] = hi[j].max(v as f64);
                    }
                }
                let range = hi.iter().zip(&lo).map(|(h, l)| h - l).collect();
                (lo, range)
            }
        };
        Some(Scaling {
            scale: format!("{scale:?}").to_lowercase(),
            offset: offset.iter().map(|&o| o as f32).collect(),
            factor: spread
                .iter()
                .map(|&s| if s > 0.0 { (1.0 / s) as f32 } else { 1.0 })
                .collect(),
        })
    }

    /// `d` scaled, as ICLS version 2 bytes.
    pub fn apply(&self, d: &Icls) -> Result<Vec<u8>, String> {
        if d.features() != self.offset.len() {
            return Err(format!(
                "the scaling has {} features, the data {}",
                self.offset.len(),
                d.features()
            ));
        }
        let mut out = Vec::with_capacity(32 + d.count * (4 * d.features() + 1));
        out.extend_from_slice(b"ICLS");
        for v in [
            2,
            d.count as u32,
            d.rows as u32,
            d.cols as u32,
            d.channels as u32,
            d.classes as u32,
            1,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for i in 0..d.count {
            for ((v, o), k) in d.sample_values(i).zip(&self.offset).zip(&self.factor) {
                out.extend_from_slice(&((v - o) * k).to_le_bytes());
            }
        }
        out.extend_from_slice(d.labels);
        Ok(out)
    }
}

/// Holds `k` samples of the training data out as the test set, on its own
/// stream (so the validation split is not its twin): (rest, held) as ICLS.
fn split_test(
    train_full: &[u8],
    k: usize,
    split_seed: u64,
) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let full =
        Icls::parse(train_full).map_err(|e| DataError::Bad(format!("training data: {e}")))?;
    if k >= full.count {
        return Err(DataError::Bad(format!(
            "data.test_split: {k} of {} samples leaves none to train on",
            full.count
        )));
    }
    let (mut images, mut labels) = (vec![0u8; full.images.len()], vec![0u8; full.count]);
    let (rest, held) =
        validation_split(&full, k, split_seed ^ 0x7465_7374, &mut images, &mut labels)
            .map_err(|e| DataError::Bad(format!("test split: {e}")))?;
    Ok((icls_bytes(&rest), icls_bytes(&held)))
}

impl Data {
    /// Reads the files the config names; an error names the file.
    pub fn load(run: &Run) -> Result<Data, DataError> {
        Self::load_spec(&run.config.data, &|p| run.resolve(p))
    }

    /// Reads the files of `d`, its paths resolved by `resolve`.
    pub fn load_spec(d: &DataSpec, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<Data, DataError> {
        let limit = d.limit.unwrap_or(usize::MAX);
        let path = |p: &Option<PathBuf>| p.as_deref().map(resolve);
        let (mut train_full, mut test) = match d.format {
            DataFormat::Idx => {
                let dir = resolve(d.dir.as_deref().unwrap_or(Path::new(".")));
                let pair = |img: &str, lab: &str, limit| -> Result<Vec<u8>, DataError> {
                    icls_from_idx(
                        &gunzip(&dir.join(img))?,
                        &gunzip(&dir.join(lab))?,
                        limit,
                        &dir.display().to_string(),
                    )
                    .map_err(DataError::Bad)
                };
                (
                    pair(
                        "train-images-idx3-ubyte.gz",
                        "train-labels-idx1-ubyte.gz",
                        limit,
                    )?,
                    Some(pair(
                        "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz",
                        usize::MAX,
                    )?),
                )
            }
            _ => {
                let train =
                    path(&d.train).ok_or_else(|| DataError::Bad("data.train: missing".into()))?;
                let train = read_icls(d, &train, path(&d.train_labels).as_deref())?;
                let test = path(&d.test)
                    .map(|t| read_icls(d, &t, path(&d.test_labels).as_deref()))
                    .transpose()?;
                (train, test)
            }
        };
        // Labels read from a table or arrays give as many classes as the
        // largest label: the two files agree on the larger.
        if let Some(t) = &mut test {
            if !matches!(d.format, DataFormat::Icls | DataFormat::Idx) {
                let classes = classes_of(&train_full).max(classes_of(t));
                set_classes(&mut train_full, classes);
                set_classes(t, classes);
            }
        }
        if let Some(k) = d.test_split {
            let (rest, held) = split_test(&train_full, k, d.split_seed)?;
            test = Some(held);
            train_full = rest;
        }
        Ok(Data {
            images: Vec::new(),
            labels: Vec::new(),
            train_full,
            test,
            validation: d.validation,
            split_seed: d.split_seed,
            limit,
            scale: d.scale,
            scaling: None,
            scaled: Vec::new(),
            scaled_val: Vec::new(),
            scaled_test: None,
        })
    }

    /// The training and test sets as read (ICLS bytes), before any split.
    pub fn raw(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut out = vec![("training", self.train_full.clone())];
        if let Some(t) = &self.test {
            out.push(("test", t.clone()));
        }
        out
    }

    /// Parses the sets, carves the validation split and scales them.
    pub fn sets(&mut self) -> Result<Sets<'_>, DataError> {
        let bad = DataError::Bad;
        let full = Icls::parse(&self.train_full).map_err(|e| bad(format!("training data: {e}")))?;
        let full = full
            .slice(0, full.count.min(self.limit))
            .map_err(|e| bad(format!("training data: {e}")))?;
        if full.count == 0 {
            return Err(bad("training data: no samples".into()));
        }
        if self.validation >= full.count {
            return Err(bad(format!(
                "data.validation: {} of {} training samples leaves none to train on",
                self.validation, full.count
            )));
        }
        self.images = vec![0u8; full.images.len()];
        self.labels = vec![0u8; full.count];
        let full = Icls::parse(&self.train_full).map_err(|e| bad(e.to_string()))?;
        let full = full
            .slice(0, full.count.min(self.limit))
            .map_err(|e| bad(e.to_string()))?;
        let (train, val) = validation_split(
            &full,
            self.validation,
            self.split_seed,
            &mut self.images,
            &mut self.labels,
        )
        .map_err(|e| bad(format!("validation split: {e}")))?;
        let test = self
            .test
            .as_deref()
            .map(Icls::parse)
            .transpose()
            .map_err(|e| bad(format!("test data: {e}")))?;
        if let Some(t) = &test {
            let shape = |d: &Icls| (d.channels, d.rows, d.cols);
            if shape(t) != shape(&train) {
                let (c, h, w) = shape(t);
                let (tc, th, tw) = shape(&train);
                return Err(bad(format!(
                    "test data: images of {c}x{h}x{w} (channels x height x width), the training images are {tc}x{th}x{tw}"
                )));
            }
            if t.classes > train.classes {
                return Err(bad(format!(
                    "test data: {} classes, the training data has {}",
                    t.classes, train.classes
                )));
            }
        }
        self.scaling = Scaling::fit(self.scale, &train);
        let Some(scaling) = &self.scaling else {
            return Ok(Sets {
                train,
                val,
                test,
                scaling: None,
            });
        };
        self.scaled = scaling.apply(&train).map_err(bad)?;
        self.scaled_val = scaling.apply(&val).map_err(bad)?;
        self.scaled_test = test
            .as_ref()
            .map(|t| scaling.apply(t))
            .transpose()
            .map_err(bad)?;
        Ok(Sets {
            train: parse_scaled(&self.scaled, "training")?,
            val: parse_scaled(&self.scaled_val, "validation")?,
            test: self
                .scaled_test
                .as_deref()
                .map(|t| parse_scaled(t, "test"))
                .transpose()?,
            scaling: self.scaling.clone(),
        })
    }
}

fn parse_scaled<'a>(bytes: &'a [u8], what: &str) -> Result<Icls<'a>, DataError> {
    Icls::parse(bytes).map_err(|e| {
        DataError::Bad(format!(
            "{what} data, scaled: {e} (a feature's scale overflows)"
        ))
    })
}
