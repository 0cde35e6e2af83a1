//! Fuzz the `.npy` reader: arbitrary bytes as the features and as the
//! labels of a data set. Nothing may panic or allocate what a header merely
//! claims; an array that parses holds exactly its shape's bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tinyreg_readers::npy::{dataset, parse_npy, Layout};

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.npy");
    let (&op, rest) = data.split_first().unwrap_or((&0, &[]));
    let cut = (op as usize * 7).min(rest.len());
    let (a, b) = rest.split_at(cut);
    for bytes in [rest, a, b] {
        if let Ok(x) = parse_npy(p, bytes) {
            assert!(x.data.len() <= bytes.len());
        }
    }
    if let (Ok(x), Ok(y)) = (parse_npy(p, a), parse_npy(p, b)) {
        let layout = if op & 1 == 1 {
            Layout::Nhwc
        } else {
            Layout::Nchw
        };
        if let Ok(d) = dataset((p, &x), (p, &y), layout, 1 + (op >> 1) as u32) {
            assert_eq!(d.count(), y.shape[0]);
            assert!(d.labels.iter().all(|&l| (l as usize) < d.classes));
        }
    }
});
