//! Fuzz image decoding as the image-folder reader does it (PNG and JPEG
//! through the `image` crate): arbitrary bytes never panic, and a decoded
//! image converts to the gray and RGB bytes the reader keeps.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tinyreg_readers::image_folder::decode;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = decode(Path::new("fuzz.png"), data) {
        if (img.width() as u64) * (img.height() as u64) <= 1 << 20 {
            assert_eq!(img.to_luma8().len(), (img.width() * img.height()) as usize);
            let _ = img.to_rgb8();
        }
    }
});
