//! Fashion-MNIST loading shared by the examples: gzip IDX files (as
//! scripts/fetch-fashion-mnist.sh unpacks them) into in-memory ICLS bytes.

use std::io::Read;

pub fn gunzip(path: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("{path}: {e}; run scripts/fetch-fashion-mnist.sh"))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{path}: not a gzip file ({e})"))?;
    Ok(bytes)
}

/// IDX images and labels (big-endian headers) as an in-memory ICLS file.
pub fn icls_from_idx(images: &[u8], labels: &[u8], limit: usize) -> Vec<u8> {
    let be =
        |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
    assert_eq!(
        (be(images, 0), be(labels, 0)),
        (0x803, 0x801),
        "IDX magic numbers"
    );
    let (n, rows, cols) = (be(images, 4).min(limit), be(images, 8), be(images, 12));
    let mut out = Vec::with_capacity(32 + n * (rows * cols + 1));
    out.extend_from_slice(b"ICLS");
    for v in [1, n, rows, cols, 1, 10, 255] {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
    out.extend_from_slice(&images[16..16 + n * rows * cols]);
    out.extend_from_slice(&labels[8..8 + n]);
    out
}

/// The first `train_count` training images and the whole test set, as ICLS bytes.
/// A missing or broken file is an error message naming it.
pub fn load(dir: &str, train_count: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
    let load = |img: &str, lab: &str, limit| -> Result<Vec<u8>, String> {
        Ok(icls_from_idx(
            &gunzip(&format!("{dir}/{img}"))?,
            &gunzip(&format!("{dir}/{lab}"))?,
            limit,
        ))
    };
    Ok((
        load(
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            train_count,
        )?,
        load(
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            usize::MAX,
        )?,
    ))
}
