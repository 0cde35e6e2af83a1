//! `tinyreg data` (what a data file or a config's `[data]` holds: samples,
//! shape, classes and their counts, value range, NaN and infinite values,
//! the splits) and `tinyreg convert` (the same data as ICLS files, for the
//! crate's examples and firmware).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tinyreg::Icls;
use tinyreg_readers::{Dataset, Values};

use crate::data::{self, Data};
use crate::data_spec::{name, DataFormat, DataSpec};
use crate::output::{write, Fail};

/// The `[data]` section of a config (`.toml`), or one for a data file by its
/// kind (`.csv`, `.npz`, `.bin` or `.icls`, a folder of images), with the
/// folder its paths are relative to.
pub fn spec_of(path: &Path, labels: Option<&Path>) -> Result<(DataSpec, PathBuf), Fail> {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "toml" {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Fail(3, format!("{}: {e}", path.display())))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| Fail(2, format!("{}: {e}", path.display())))?;
        let section = table
            .get("data")
            .cloned()
            .ok_or_else(|| Fail(2, format!("{}: no [data] section", path.display())))?;
        let spec = DataSpec::deserialize(section)
            .map_err(|e| Fail(2, format!("{}: data: {e}", path.display())))?;
        spec.check()
            .map_err(|m| Fail(2, format!("{}: {m}", path.display())))?;
        return Ok((spec, base));
    }
    let format = if path.is_dir() {
        "images"
    } else {
        match ext.as_str() {
            "csv" | "tsv" | "txt" => "csv",
            "npz" => "npz",
            "npy" => "npy",
            "bin" | "icls" => "icls",
            _ => {
                return Err(Fail(
                    2,
                    format!(
                        "{}: which format? Give a .csv, .npy (with --labels), .npz, .bin (ICLS) or a folder of class folders, or a config",
                        path.display()
                    ),
                ))
            }
        }
    };
    let mut table = toml::Table::new();
    table.insert("format".into(), format.into());
    table.insert("train".into(), path.display().to_string().into());
    table.insert("validation".into(), 1.into());
    if ext == "tsv" {
        table.insert("delimiter".into(), "\t".into());
    }
    if let Some(l) = labels {
        table.insert("train_labels".into(), l.display().to_string().into());
    }
    let spec =
        DataSpec::deserialize(toml::Value::Table(table)).map_err(|e| Fail(2, e.to_string()))?;
    spec.check()
        .map_err(|m| Fail(2, format!("{}: {m}", path.display())))?;
    Ok((spec, PathBuf::new()))
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The files of `spec`: (what, data, labels) for the training and test sets.
fn files(spec: &DataSpec, base: &Path) -> Vec<(&'static str, PathBuf, Option<PathBuf>)> {
    let r = |p: &Option<PathBuf>| p.as_deref().map(|p| resolve(base, p));
    let mut out = Vec::new();
    if let Some(t) = r(&spec.train) {
        out.push(("training", t, r(&spec.train_labels)));
    }
    if let Some(t) = r(&spec.test) {
        out.push(("test", t, r(&spec.test_labels)));
    }
    out
}

/// What one set holds, in words.
struct Summary {
    samples: usize,
    shape: (usize, usize, usize),
    classes: usize,
    counts: Vec<usize>,
    names: Vec<String>,
    min: f32,
    max: f32,
    nan: usize,
    infinite: usize,
    kind: &'static str,
}

impl Summary {
    fn of(
        values: impl Iterator<Item = f32>,
        labels: &[u8],
        shape: (usize, usize, usize),
        classes: usize,
        kind: &'static str,
    ) -> Summary {
        let (mut min, mut max, mut nan, mut infinite) = (f32::INFINITY, f32::NEG_INFINITY, 0, 0);
        for v in values {
            if v.is_nan() {
                nan += 1;
            } else if v.is_infinite() {
                infinite += 1;
            } else {
                min = min.min(v);
                max = max.max(v);
            }
        }
        let mut counts = vec![0; classes];
        for &l in labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        Summary {
            samples: labels.len(),
            shape,
            classes,
            counts,
            names: Vec::new(),
            min,
            max,
            nan,
            infinite,
            kind,
        }
    }

    fn of_dataset(d: &Dataset) -> Summary {
        let shape = (d.channels, d.height, d.width);
        let mut s = match &d.values {
            Values::U8 { data, max_value } => {
                let scale = 1.0 / *max_value as f32;
                Summary::of(
                    data.iter().map(|&p| p as f32 * scale),
                    &d.labels,
                    shape,
                    d.classes,
                    "bytes",
                )
            }
            Values::F32(v) => {
                Summary::of(v.iter().copied(), &d.labels, shape, d.classes, "float32")
            }
        };
        s.names = d.class_names.clone();
        s
    }

    fn of_icls(d: &Icls) -> Summary {
        let values = (0..d.count).flat_map(|i| d.sample_values(i));
        let kind = match d.dtype {
            tinyreg::trainer::data::Dtype::U8 => "bytes",
            tinyreg::trainer::data::Dtype::F32 => "float32",
        };
        Summary::of(
            values,
            d.labels,
            (d.channels, d.rows, d.cols),
            d.classes,
            kind,
        )
    }

    fn print(&self, what: &str, file: &Path) {
        let (c, h, w) = self.shape;
        println!(
            "{what} data, {}: {} sample{} of {c}x{h}x{w} (channels x height x width, {} values, {}), {} class{}",
            file.display(),
            self.samples,
            if self.samples == 1 { "" } else { "s" },
            c * h * w,
            self.kind,
            self.classes,
            if self.classes == 1 { "" } else { "es" }
        );
        let counts: Vec<String> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, n)| match self.names.get(i) {
                Some(name) => format!("{i} ({name}): {n}"),
                None => format!("{i}: {n}"),
            })
            .collect();
        println!("  samples per class: {}", counts.join(", "));
        let range = if self.min <= self.max {
            format!("{} to {}", self.min, self.max)
        } else {
            "none finite".into()
        };
        println!(
            "  values (as training sees them, before scaling): {range}; NaN: {}; infinite: {}",
            self.nan, self.infinite
        );
        if self.nan + self.infinite > 0 {
            println!(
                "  training refuses NaN and infinite values: clean or drop those samples first"
            );
        }
    }
}

/// `tinyreg data PATH`: prints what each file holds and, for a config, the
/// splits it makes.
pub fn data_command(path: &Path, labels: Option<&Path>) -> Result<(), Fail> {
    let (spec, base) = spec_of(path, labels)?;
    println!("format: {}", name(spec.format));
    if spec.format == DataFormat::Idx {
        let mut d = Data::load_spec(&spec, &|p| resolve(&base, p))?;
        let sets = d.sets()?;
        Summary::of_icls(&sets.train).print(
            "training (after the validation split)",
            &resolve(&base, spec.dir.as_deref().unwrap_or(Path::new("."))),
        );
        return Ok(());
    }
    for (what, file, labels) in files(&spec, &base) {
        let summary = match spec.format {
            DataFormat::Icls => {
                let bytes = std::fs::read(&file)
                    .map_err(|e| Fail(3, format!("{}: {e}", file.display())))?;
                Summary::of_icls(
                    &Icls::parse(&bytes)
                        .map_err(|e| Fail(2, format!("{}: {e}", file.display())))?,
                )
            }
            _ => Summary::of_dataset(&data::read_dataset(&spec, &file, labels.as_deref())?),
        };
        summary.print(what, &file);
    }
    if path.extension().is_some_and(|e| e == "toml") {
        let mut d = Data::load_spec(&spec, &|p| resolve(&base, p))?;
        let sets = d.sets()?;
        println!(
            "splits: {} training, {} validation (seed {}){}{}",
            sets.train.count,
            sets.val.count,
            spec.split_seed,
            sets.test
                .map_or(String::new(), |t| format!(", {} test", t.count)),
            sets.scaling.as_ref().map_or(String::new(), |s| format!(
                "; features scaled ({}) from the training split",
                s.scale
            ))
        );
    }
    Ok(())
}

/// `tinyreg convert PATH --out DIR`: each file as ICLS (`train.bin`,
/// `test.bin`), as read (no split, no scaling), and the `[data]` lines that
/// read them.
pub fn convert_command(path: &Path, labels: Option<&Path>, out: &Path) -> Result<(), Fail> {
    let (spec, base) = spec_of(path, labels)?;
    if matches!(spec.format, DataFormat::Icls) {
        return Err(Fail(
            2,
            format!("{}: the data is ICLS already", path.display()),
        ));
    }
    let mut converted = Vec::new();
    let sets: Vec<(&str, Vec<u8>)> = if spec.format == DataFormat::Idx {
        let d = Data::load_spec(&spec, &|p| resolve(&base, p))?;
        d.raw().into_iter().collect()
    } else {
        files(&spec, &base)
            .into_iter()
            .map(|(what, file, labels)| {
                Ok((what, data::read_icls(&spec, &file, labels.as_deref())?))
            })
            .collect::<Result<_, Fail>>()?
    };
    crate::output::prepare(out)?;
    for (what, bytes) in sets {
        let name = if what == "training" {
            "train.bin"
        } else {
            "test.bin"
        };
        write(&out.join(name), &bytes)?;
        converted.push(name);
        let d = Icls::parse(&bytes).map_err(|e| Fail(2, e.to_string()))?;
        println!(
            "{}: {} samples of {}x{}x{}, {} classes (ICLS version {})",
            out.join(name).display(),
            d.count,
            d.channels,
            d.rows,
            d.cols,
            d.classes,
            d.dtype.version()
        );
    }
    println!("read them with:\n[data]\nformat = \"icls\"");
    for name in converted {
        let key = if name == "train.bin" { "train" } else { "test" };
        println!("{key} = \"{}\"", out.join(name).display());
    }
    Ok(())
}
