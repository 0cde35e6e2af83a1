//! Fuzz the CSV reader: arbitrary bytes with options from the first byte
//! (header or not, delimiter, label column). Nothing may panic; a table that
//! reads has as many labels as rows of values, each below `classes`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tinyreg_readers::csv_table::{parse_csv, CsvOptions, LabelColumn};
use tinyreg_readers::Values;

fuzz_target!(|data: &[u8]| {
    let (&op, rest) = data.split_first().unwrap_or((&0, &[]));
    let options = CsvOptions {
        label: match op % 3 {
            0 => LabelColumn::Last,
            1 => LabelColumn::Index((op >> 2) as usize % 4),
            _ => LabelColumn::Name("y".into()),
        },
        header: op & 0x40 != 0,
        delimiter: if op & 0x80 != 0 { b';' } else { b',' },
    };
    if let Ok(d) = parse_csv(Path::new("fuzz.csv"), rest, &options) {
        let Values::F32(v) = &d.values else {
            panic!("a table reads as floats")
        };
        assert_eq!(v.len(), d.count() * d.features());
        assert!(d.labels.iter().all(|&l| (l as usize) < d.classes));
        let _ = d.to_icls(Path::new("fuzz.csv"));
    }
});
