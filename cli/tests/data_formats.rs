//! Bringing one's own data from the command line: the digits as a CSV
//! table, a NumPy `.npy` pair and ICLS train to the same bits; an `.npz`
//! and a class-per-folder image tree train and search; feature scaling is
//! fitted on the training split, kept beside the weights and applied by
//! `predict`; bad data is refused with the file, the line or record and
//! what is wrong, exit 2 and nothing written; `data` and `convert` print and
//! write what was read.

use std::path::{Path, PathBuf};

mod common;
use common::{scratch, stderr, stdout, tinyreg};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

/// The first `n` digits of an ICLS file: 64 pixel bytes and a label each.
fn digits(file: &str, n: usize) -> (Vec<[u8; 64]>, Vec<u8>) {
    let b = std::fs::read(repo(file)).unwrap();
    let count = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
    let n = n.min(count);
    let images = (0..n)
        .map(|i| b[32 + 64 * i..32 + 64 * (i + 1)].try_into().unwrap())
        .collect();
    (images, b[32 + 64 * count..32 + 64 * count + n].to_vec())
}

/// The digits as CSV rows of pixel / 16 (exact decimals) with the label
/// in a `digit` column placed first.
fn write_csv(path: &Path, (images, labels): &(Vec<[u8; 64]>, Vec<u8>)) {
    let mut text = String::from("digit");
    for j in 0..64 {
        text += &format!(",p{j}");
    }
    text += "\n";
    for (img, l) in images.iter().zip(labels) {
        text += &l.to_string();
        for &p in img {
            text += &format!(",{}", p as f32 / 16.0);
        }
        text += "\n";
    }
    std::fs::write(path, text).unwrap();
}

/// An .npy file by NumPy's format rules (version 1.0, header padded with
/// spaces and a newline to a multiple of 64 bytes).
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn write_npy(
    dir: &Path,
    name: &str,
    (images, labels): &(Vec<[u8; 64]>, Vec<u8>),
) -> (PathBuf, PathBuf) {
    let x: Vec<u8> = images
        .iter()
        .flatten()
        .flat_map(|&p| (p as f32 / 16.0).to_le_bytes())
        .collect();
    let y: Vec<u8> = labels
        .iter()
        .flat_map(|&l| (l as i64).to_le_bytes())
        .collect();
    let (px, py) = (
        dir.join(format!("{name}_x.npy")),
        dir.join(format!("{name}_y.npy")),
    );
    std::fs::write(&px, npy("<f4", &[images.len(), 64], &x)).unwrap();
    std::fs::write(&py, npy("<i8", &[labels.len()], &y)).unwrap();
    (px, py)
}

/// A config with `data` as its `[data]` lines and `validation` samples
/// held out: the small digits MLP of the command-line tests (3 epochs).
fn config_with(dir: &Path, name: &str, data: &str, validation: usize, classes: usize) -> PathBuf {
    let text = format!(
        r#"seed = 1
[data]
{data}
validation = {validation}
[network]
layers = [
  {{ type = "dense", units = 32, relu = true }},
  {{ type = "dropout", keep = 0.8 }},
  {{ type = "dense", units = {classes} }},
]
[train]
epochs = 3
batch = 32
optimizer = "adam"
lr = 3e-3
[search]
sampler = "random"
trials = 2
epochs = 2
seed = 3
params = [{{ name = "lr", low = 1e-3, high = 1e-2, log = true }}]
"#
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// [`config_with`] for the digits: 100 held out, 10 classes.
fn config(dir: &Path, data: &str) -> PathBuf {
    config_with(dir, "config.toml", data, 100, 10)
}

fn train_weights(config: &Path, out: &Path) -> Vec<u8> {
    let o = tinyreg(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::read(out.join("weights.tinyreg")).unwrap()
}

#[test]
fn csv_npy_and_icls_of_the_same_digits_train_to_the_same_bits() {
    let dir = scratch("same_bits");
    let (train, test) = (
        digits("data/digits-train.bin", 400),
        digits("data/digits-test.bin", 360),
    );
    write_csv(&dir.join("train.csv"), &train);
    write_csv(&dir.join("test.csv"), &test);
    let (tx, ty) = write_npy(&dir, "train", &train);
    let (sx, sy) = write_npy(&dir, "test", &test);
    let icls = config(
        &dir,
        &format!(
            "format = \"icls\"\ntrain = \"{}\"\ntest = \"{}\"\nlimit = 400",
            repo("data/digits-train.bin").display(),
            repo("data/digits-test.bin").display()
        ),
    );
    let want = train_weights(&icls, &dir.join("icls"));
    let csv = config(
        &dir,
        "format = \"csv\"\ntrain = \"train.csv\"\ntest = \"test.csv\"\nlabel = \"digit\"",
    );
    assert_eq!(train_weights(&csv, &dir.join("csv")), want, "CSV");
    let npy = config(
        &dir,
        &format!(
            "format = \"npy\"\ntrain = \"{}\"\ntrain_labels = \"{}\"\ntest = \"{}\"\ntest_labels = \"{}\"",
            tx.display(),
            ty.display(),
            sx.display(),
            sy.display()
        ),
    );
    assert_eq!(train_weights(&npy, &dir.join("npy")), want, ".npy");
    // The test accuracy, scored once, is the same too.
    let acc = |d: &str| std::fs::read_to_string(dir.join(d).join("run.json")).unwrap();
    let test_of =
        |d: &str| serde_json::from_str::<serde_json::Value>(&acc(d)).unwrap()["test"].clone();
    assert_eq!(test_of("csv"), test_of("icls"));
    // A search from the CSV table runs end to end.
    let o = tinyreg(&[
        "search",
        csv.to_str().unwrap(),
        "--out",
        dir.join("csv-search").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn npz_and_image_folders_train_and_search() {
    let dir = scratch("npz_images");
    let npz_config = config_with(
        &dir,
        "npz.toml",
        &format!(
            "format = \"npz\"\ntrain = \"{}\"",
            repo("readers/tests/fixtures/digits.npz").display()
        ),
        5,
        10,
    );
    train_weights(&npz_config, &dir.join("npz"));
    let o = tinyreg(&[
        "search",
        npz_config.to_str().unwrap(),
        "--out",
        dir.join("npz-search").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Two classes of 8x8 gray images, 12 each: dark and bright.
    let root = dir.join("images");
    for (class, base) in [("bright", 200u8), ("dark", 20u8)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..12u8 {
            image::GrayImage::from_fn(8, 8, |x, y| image::Luma([base + ((x + y) as u8 + i) % 30]))
                .save(root.join(class).join(format!("{i:02}.png")))
                .unwrap();
        }
    }
    let images = config_with(
        &dir,
        "images.toml",
        "format = \"images\"\ntrain = \"images\"\ntest_split = 4",
        4,
        2,
    );
    let o = tinyreg(&["data", images.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("24 samples of 1x8x8") && text.contains("0 (bright): 12, 1 (dark): 12"),
        "{text}"
    );
    assert!(
        text.contains("splits: 16 training, 4 validation (seed 0), 4 test"),
        "{text}"
    );
    train_weights(&images, &dir.join("images-train"));
    let o = tinyreg(&[
        "search",
        images.to_str().unwrap(),
        "--out",
        dir.join("images-search").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // convert writes ICLS that reads back the same.
    let o = tinyreg(&[
        "convert",
        images.to_str().unwrap(),
        "--out",
        dir.join("icls").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tinyreg(&["data", dir.join("icls/train.bin").to_str().unwrap()]);
    assert!(stdout(&o).contains("24 samples of 1x8x8"), "{}", stdout(&o));
}

#[test]
fn scaling_is_fitted_on_the_training_split_and_applied_by_predict() {
    let dir = scratch("scaling");
    let train_set = digits("data/digits-train.bin", 400);
    write_csv(&dir.join("train.csv"), &train_set);
    write_csv(&dir.join("test.csv"), &digits("data/digits-test.bin", 50));
    let path = config(&dir, "format = \"csv\"\ntrain = \"train.csv\"\ntest = \"test.csv\"\nlabel = 0\nscale = \"standardize\"");
    let out = dir.join("out");
    train_weights(&path, &out);
    let scaling: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scaling.json")).unwrap()).unwrap();
    assert_eq!(scaling["scale"], "standardize");
    assert_eq!(scaling["offset"].as_array().unwrap().len(), 64);
    let o = tinyreg(&["data", path.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("features scaled (standardize) from the training split"),
        "{}",
        stdout(&o)
    );
    // predict scores the config's test set and --data (the same file) alike.
    let weights = out.join("weights.tinyreg");
    let a = tinyreg(&[
        "predict",
        path.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
    ]);
    let b = tinyreg(&[
        "predict",
        path.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        dir.join("test.csv").to_str().unwrap(),
    ]);
    assert!(
        a.status.success() && b.status.success(),
        "{} {}",
        stderr(&a),
        stderr(&b)
    );
    assert_eq!(a.stdout, b.stdout);
    assert!(stderr(&a).contains("on 50 images"), "{}", stderr(&a));
    // Weights trained on other data: the kept scaling differs, and is named.
    write_csv(
        &dir.join("train.csv"),
        &digits("data/digits-train.bin", 300),
    );
    let o = tinyreg(&[
        "predict",
        path.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("scaling.json differs"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_data_is_refused_with_its_place_exit_2_and_nothing_written() {
    let dir = scratch("bad_data");
    let good = "a,b,y\n0.5,1,0\n0.25,2,1\n1,0,1\n0,0,0\n0.5,0.5,1\n0.1,0.2,0\n";
    let mut bad_npy = npy("<f4", &[3, 2], &[0u8; 24]);
    bad_npy.truncate(bad_npy.len() - 4);
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "ragged.csv",
            format!("{good}1,2,3,4\n"),
            "format = \"csv\"\ntrain = \"ragged.csv\"",
            "ragged.csv: line 8: a row of 4 fields where the first has 3",
        ),
        (
            "text.csv",
            good.replace("0.25", "abc"),
            "format = \"csv\"\ntrain = \"text.csv\"",
            "text.csv: line 3, column 0 (\"a\"): \"abc\" is not a number",
        ),
        (
            "nan.csv",
            good.replace("0.25", "NaN"),
            "format = \"csv\"\ntrain = \"nan.csv\"",
            "NaN or infinite",
        ),
        (
            "inf.csv",
            good.replace("0.25", "inf"),
            "format = \"csv\"\ntrain = \"inf.csv\"",
            "NaN or infinite",
        ),
        (
            "half.csv",
            good.replace(",0\n0.25", ",0.5\n0.25"),
            "format = \"csv\"\ntrain = \"half.csv\"",
            "label \"0.5\" is not an integer",
        ),
        (
            "neg.csv",
            good.replace(",2,1", ",2,-1"),
            "format = \"csv\"\ntrain = \"neg.csv\"",
            "label -1 is not a class index",
        ),
        (
            "short.npy",
            String::from_utf8_lossy(&bad_npy).into_owned(),
            "format = \"npy\"\ntrain = \"short.npy\"\ntrain_labels = \"short.npy\"",
            "truncated",
        ),
    ];
    for (file, content, data, expected) in cases {
        if file.ends_with(".npy") {
            std::fs::write(dir.join(file), &bad_npy).unwrap();
        } else {
            std::fs::write(dir.join(file), content).unwrap();
        }
        let path = config_with(&dir, "config.toml", data, 2, 10);
        let out = dir.join("out");
        for command in ["train", "search", "check"] {
            let o = tinyreg(&[
                command,
                path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ]);
            assert_eq!(o.status.code(), Some(2), "{file} {command}: {}", stderr(&o));
            assert!(
                stderr(&o).contains(expected),
                "{file} {command}: {}",
                stderr(&o)
            );
            assert!(!out.exists(), "{file} {command}: wrote its folder");
        }
    }
}

/// An empty class folder, a truncated image, a key the format does not read
/// (exit 2) and a missing file (exit 3) are each named.
#[test]
fn bad_folders_keys_and_files_are_refused_by_name() {
    let dir = scratch("bad_folders");
    let root = dir.join("tree");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    image::GrayImage::new(4, 4)
        .save(root.join("a/0.png"))
        .unwrap();
    let path = config(&dir, "format = \"images\"\ntrain = \"tree\"");
    let o = tinyreg(&[
        "train",
        path.to_str().unwrap(),
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("tree/b: an empty class folder"),
        "{}",
        stderr(&o)
    );
    let png = std::fs::read(root.join("a/0.png")).unwrap();
    std::fs::write(root.join("b/0.png"), &png[..png.len() / 2]).unwrap();
    let o = tinyreg(&["train", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("b/0.png: not a readable PNG or JPEG image"),
        "{}",
        stderr(&o)
    );
    let path = config(
        &dir,
        "format = \"csv\"\ntrain = \"ragged.csv\"\nlayout = \"nhwc\"",
    );
    let o = tinyreg(&["train", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("data.layout does not apply to format \"csv\""),
        "{}",
        stderr(&o)
    );
    let path = config(&dir, "format = \"csv\"\ntrain = \"nowhere.csv\"");
    let o = tinyreg(&["train", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("nowhere.csv"), "{}", stderr(&o));
}

/// docs/config.md documents every key of `[data]`: the keys are those the
/// config's own error lists for an unknown key, so neither can drift.
#[test]
fn config_reference_lists_every_data_key() {
    let dir = scratch("reference");
    let path = config(&dir, "format = \"csv\"\ntrain = \"t.csv\"\nno_such_key = 1");
    let o = tinyreg(&["train", path.to_str().unwrap()]);
    let e = stderr(&o);
    let listed = e
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("{e}"));
    let keys: Vec<&str> = listed.split('`').skip(1).step_by(2).collect();
    assert!(keys.len() >= 20, "{keys:?}");
    let reference = std::fs::read_to_string(repo("docs/config.md")).unwrap();
    let data = reference
        .split("## `[data]`")
        .nth(1)
        .expect("a [data] section");
    let data = data.split("\n## ").next().unwrap();
    for key in &keys {
        assert!(
            data.contains(&format!("| `{key}` |")),
            "docs/config.md's [data] table lacks `{key}`"
        );
    }
    let documented = data.matches("\n| `").count();
    assert_eq!(
        documented,
        keys.len(),
        "docs/config.md's [data] table has keys the config does not read"
    );
}
