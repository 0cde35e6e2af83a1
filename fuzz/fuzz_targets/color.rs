//! Fuzz color jitter: any shape (channel counts other than 1 and 3
//! included), any jitter ranges and `max` bits, any pixel bits. Nothing may
//! panic; a refusal writes nothing and leaves the generator where it was;
//! accepted jitter keeps images that were in `[0, max]` there (for `max` up
//! to 1e30: near `f32::MAX` the products overflow), and zero ranges give the
//! images back bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::augment::ImageShape;
use tinyreg::layers::color::{color_jitter, ColorJitter};

fuzz_target!(|data: &[u8]| {
    if data.len() < 24 {
        return;
    }
    let (head, rest) = data.split_at(24);
    let f = |i: usize| f32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let range = |i: usize| match head[i] % 4 {
        0 => 0.0,
        1 => (head[i + 1] % 200) as f32 / 100.0,
        2 => f(i),
        _ => 0.25,
    };
    let jitter = ColorJitter {
        brightness: range(0),
        contrast: range(4),
        saturation: range(8),
        hue: if head[12] % 3 == 0 {
            f(12)
        } else {
            (head[13] % 60) as f32 / 100.0
        },
    };
    let shape = ImageShape {
        channels: (head[16] % 5) as usize,
        height: (head[17] % 9) as usize,
        width: (head[18] % 9) as usize,
    };
    let max = match head[19] % 3 {
        0 => 1.0,
        1 => 255.0,
        _ => f(20),
    };
    let images = (head[19] / 3 % 3) as usize;
    let len = (shape.len() * images + (head[23] % 2) as usize * (head[23] as usize % 3)).min(4096);
    // Pixels in [0, max] when `max` is usable, else any bits.
    let pixels: Vec<f32> = (0..len)
        .map(|i| {
            let b = rest.get(i % rest.len().max(1)).copied().unwrap_or(0);
            if max.is_finite() && max > 0.0 {
                b as f32 / 255.0 * max
            } else {
                f32::from_bits(u32::from(b) * 0x0101_0101)
            }
        })
        .collect();
    let mut x = pixels.clone();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(u64::from(head[22]));
    let before = rng.clone();
    match color_jitter(&mut rng, shape, &jitter, max, &mut x) {
        Err(_) => {
            assert_eq!(rng, before, "the generator moved on a refusal");
            assert!(
                x.iter()
                    .zip(&pixels)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "written on a refusal"
            );
        }
        Ok(()) => {
            // (Near f32::MAX, factor times pixel overflows, as in torchvision.)
            if max <= 1e30 {
                assert!(
                    x.iter().all(|v| (0.0..=max).contains(v)),
                    "out of [0, {max}]: {jitter:?} {shape:?}"
                );
            }
            let none = ColorJitter {
                brightness: 0.0,
                contrast: 0.0,
                saturation: 0.0,
                hue: 0.0,
            };
            let mut y = pixels.clone();
            color_jitter(&mut rng, shape, &none, max, &mut y).unwrap();
            assert!(y
                .iter()
                .zip(&pixels)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
});
