//! Reading the config's data: ICLS files, or the gzip IDX files of
//! (Fashion-)MNIST converted to ICLS bytes in memory, and the seeded
//! validation split.

use std::io::Read;
use std::path::Path;

use tinyreg::tune::validation_split;
use tinyreg::{Icls, ImageShape};

use crate::config::{DataFormat, Run};

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
}

/// The parsed sets, borrowing from [`Data`].
pub struct Sets<'a> {
    pub train: Icls<'a>,
    pub val: Icls<'a>,
    pub test: Option<Icls<'a>>,
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

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn gunzip(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: not a gzip file ({e})", path.display()))?;
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

impl Data {
    /// Reads the files the config names; an error names the file.
    pub fn load(run: &Run) -> Result<Data, String> {
        let d = &run.config.data;
        let limit = d.limit.unwrap_or(usize::MAX);
        let (train_full, test) = match d.format {
            DataFormat::Icls => {
                let train = read(&run.resolve(d.train.as_deref().unwrap_or(Path::new(""))))?;
                let test = d.test.as_ref().map(|t| read(&run.resolve(t))).transpose()?;
                (train, test)
            }
            DataFormat::Idx => {
                let dir = run.resolve(d.dir.as_deref().unwrap_or(Path::new(".")));
                let pair = |img: &str, lab: &str, limit| -> Result<Vec<u8>, String> {
                    icls_from_idx(
                        &gunzip(&dir.join(img))?,
                        &gunzip(&dir.join(lab))?,
                        limit,
                        &dir.display().to_string(),
                    )
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
        };
        Ok(Data {
            images: Vec::new(),
            labels: Vec::new(),
            train_full,
            test,
            validation: d.validation,
            split_seed: d.split_seed,
            limit,
        })
    }

    /// Parses the sets and carves the validation split.
    pub fn sets(&mut self) -> Result<Sets<'_>, String> {
        let full = Icls::parse(&self.train_full).map_err(|e| format!("training data: {e}"))?;
        let full = full
            .slice(0, full.count.min(self.limit))
            .map_err(|e| format!("training data: {e}"))?;
        if full.count == 0 {
            return Err("training data: no images".into());
        }
        if self.validation >= full.count {
            return Err(format!(
                "data.validation: {} of {} training images leaves none to train on",
                self.validation, full.count
            ));
        }
        self.images = vec![0u8; full.images.len()];
        self.labels = vec![0u8; full.count];
        let full = Icls::parse(&self.train_full).map_err(|e| e.to_string())?;
        let full = full
            .slice(0, full.count.min(self.limit))
            .map_err(|e| e.to_string())?;
        let (train, val) = validation_split(
            &full,
            self.validation,
            self.split_seed,
            &mut self.images,
            &mut self.labels,
        )
        .map_err(|e| format!("validation split: {e}"))?;
        let test = self
            .test
            .as_deref()
            .map(Icls::parse)
            .transpose()
            .map_err(|e| format!("test data: {e}"))?;
        if let Some(t) = &test {
            let shape = |d: &Icls| (d.channels, d.rows, d.cols);
            if shape(t) != shape(&train) {
                let (c, h, w) = shape(t);
                let (tc, th, tw) = shape(&train);
                return Err(format!(
                    "test data: images of {c}x{h}x{w} (channels x height x width), the training images are {tc}x{th}x{tw}"
                ));
            }
            if t.classes != train.classes {
                return Err(format!(
                    "test data: {} classes, the training data has {}",
                    t.classes, train.classes
                ));
            }
        }
        Ok(Sets { train, val, test })
    }
}
