//! Fuzz the ZIP reader behind `.npz`: arbitrary bytes as an archive, every
//! entry read. Nothing may panic, and no entry inflates past the size its
//! directory states.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tinyreg_readers::zip::{entries, read_entry, read_named};

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.npz");
    if let Ok(all) = entries(p, data) {
        for e in all.iter().take(16) {
            let _ = read_entry(p, data, e);
        }
    }
    let _ = read_named(p, data, "x");
});
