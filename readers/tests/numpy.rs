//! The readers against files NumPy itself wrote (`fixtures/make.py`): the
//! first 20 digits as float32 / 16 and int64 labels, in `.npy` versions 1
//! and 2, uint8 images, `savez` and `savez_compressed` archives; Fortran
//! order and big-endian refused by name.

use std::path::{Path, PathBuf};

use tinyreg::Icls;
use tinyreg_readers::npy::{dataset, parse_npy, Layout};
use tinyreg_readers::{read_file, zip, Values};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The first 20 digits as the crate gathers them.
fn digits() -> (Vec<f32>, Vec<u8>) {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits-train.bin"))
            .unwrap();
    let d = Icls::parse(&bytes).unwrap();
    let values = (0..20)
        .flat_map(|i| d.sample_values(i).collect::<Vec<_>>())
        .collect();
    (values, d.labels[..20].to_vec())
}

fn read(features: &str, labels: &str) -> tinyreg_readers::Dataset {
    let (fx, fy) = (fixture(features), fixture(labels));
    let (bx, by) = (read_file(&fx).unwrap(), read_file(&fy).unwrap());
    let (x, y) = (parse_npy(&fx, &bx).unwrap(), parse_npy(&fy, &by).unwrap());
    dataset((&fx, &x), (&fy, &y), Layout::Nchw, 255).unwrap()
}

#[test]
fn npy_files_numpy_wrote_read_as_the_digits() {
    let (values, labels) = digits();
    for features in ["x.npy", "x_v2.npy"] {
        let d = read(features, "y.npy");
        assert_eq!(d.values, Values::F32(values.clone()), "{features}");
        assert_eq!(d.labels, labels);
        assert_eq!((d.channels, d.height, d.width), (1, 1, 64));
    }
    let d = read("images_u8.npy", "y.npy");
    assert_eq!((d.channels, d.height, d.width), (1, 8, 8));
    let Values::U8 { data, .. } = &d.values else {
        panic!("bytes")
    };
    let scaled: Vec<f32> = data.iter().map(|&p| p as f32 * (1.0 / 16.0)).collect();
    assert_eq!(scaled, values);
}

#[test]
fn npy_refuses_fortran_order_and_big_endian_files_numpy_wrote() {
    for (name, expected) in [
        ("x_fortran.npy", "Fortran-order"),
        ("x_big_endian.npy", "big-endian"),
    ] {
        let path = fixture(name);
        let e = parse_npy(&path, &read_file(&path).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains(expected), "{e}");
    }
}

#[test]
fn npz_archives_numpy_wrote_stored_and_deflated() {
    let (values, labels) = digits();
    for (name, xs, ys) in [
        ("digits.npz", "x", "y"),
        ("digits_compressed.npz", "features", "labels"),
    ] {
        let path = fixture(name);
        let bytes = read_file(&path).unwrap();
        let (bx, by) = (
            zip::read_named(&path, &bytes, xs).unwrap(),
            zip::read_named(&path, &bytes, ys).unwrap(),
        );
        let (x, y) = (
            parse_npy(&path, &bx).unwrap(),
            parse_npy(&path, &by).unwrap(),
        );
        let d = dataset((&path, &x), (&path, &y), Layout::Nchw, 255).unwrap();
        assert_eq!(d.values, Values::F32(values.clone()), "{name}");
        assert_eq!(d.labels, labels, "{name}");
    }
}
