//! Fuzz the affine augmentation (rotation, translation, scale, shear) with
//! arbitrary shapes, ranges and parameters (any float bits) and buffer
//! lengths. Nothing may panic; a refusal writes nothing and leaves the
//! generator where it was; nearest sampling writes input pixels or the fill,
//! bilinear sampling stays within their range (a convex mix, up to
//! rounding); the identity gives the image back bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::affine::{affine, random_affine, AffineParams, Interpolation, RandomAffine};
use tinyreg::ImageShape;

mod bytes;
use bytes::Bytes;

/// This target's sizes and parameters.
trait Draw {
    fn size(&mut self, small: u8) -> usize;
    fn param(&mut self, scale: f32) -> f32;
    fn range(&mut self, scale: f32) -> (f32, f32);
}

impl Draw for Bytes<'_> {
    fn size(&mut self, small: u8) -> usize {
        self.pick_size((usize::MAX / 2 + 1, 70_000), |b| (b % small) as usize)
    }
    /// Ordinary most of the time, any bits sometimes.
    fn param(&mut self, scale: f32) -> f32 {
        self.mostly(|k| (k as f32 - 2.0) * scale)
    }
    fn range(&mut self, scale: f32) -> (f32, f32) {
        let lo = self.param(scale);
        (lo, lo + self.param(scale).abs())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let shape = ImageShape {
        channels: b.size(4),
        height: b.size(16),
        width: b.size(16),
    };
    let len = shape
        .channels
        .checked_mul(shape.height)
        .and_then(|n| n.checked_mul(shape.width))
        .unwrap_or(usize::MAX);
    let n = match b.u8() % 8 {
        0 => len.saturating_sub(1),
        1 => len.saturating_add(1),
        _ => len,
    }
    .min(1 << 12);
    let image: Vec<f32> = (0..n).map(|i| (i % 97) as f32 - 40.0).collect();
    let interpolation = if b.u8() % 2 == 0 {
        Interpolation::Nearest
    } else {
        Interpolation::Bilinear
    };
    let ranges = RandomAffine {
        degrees: b.range(30.0),
        translate: (b.param(0.2), b.param(0.2)),
        scale: (b.param(0.4) + 1.0, b.param(0.4) + 1.5),
        shear_x: b.range(20.0),
        shear_y: b.range(20.0),
        interpolation,
        fill: b.param(50.0),
    };
    let seed = b.u8() as u64;
    let fresh = || Xoshiro128PlusPlus::seed_from_u64(seed);
    let mut rng = fresh();
    let out_len = if b.u8() % 8 == 0 { n + 1 } else { n };
    let mut out = vec![-1e9f32; out_len];
    let within = |out: &[f32], fill: f32, nearest: bool| {
        // Bilinear follows torchvision: `sampled * mask + (1 - mask) fill`
        // with `sampled` itself weighed by the mask, so a border pixel is
        // `mask^2 avg + (1 - mask) fill`: in the hull of the image's values,
        // the fill and 0.
        let start = if nearest {
            (fill, fill)
        } else {
            (fill.min(0.0), fill.max(0.0))
        };
        let (lo, hi) = image
            .iter()
            .fold(start, |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let slack = 4.0 * f32::EPSILON * lo.abs().max(hi.abs());
        out.iter().all(|&v| {
            if nearest {
                v == fill || image.contains(&v)
            } else {
                v >= lo - slack && v <= hi + slack
            }
        })
    };
    match random_affine(&mut rng, shape, &ranges, &image, &mut out) {
        Ok(p) => {
            let nearest = interpolation == Interpolation::Nearest;
            assert!(within(&out, ranges.fill, nearest), "{p:?}");
            if p == AffineParams::IDENTITY {
                assert!(out
                    .iter()
                    .zip(&image)
                    .all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
        Err(_) => assert!(out.iter().all(|&x| x == -1e9) && rng == fresh()),
    }
    // Any parameters, drawn or not.
    let params = AffineParams {
        angle: b.param(90.0),
        translate: (b.u8() as i32 - 128, b.u8() as i32 - 128),
        scale: b.param(0.5) + 1.0,
        shear: (b.param(40.0), b.param(40.0)),
    };
    let fill = b.param(10.0);
    let mut out = vec![-1e9f32; out_len];
    match affine(shape, &params, interpolation, fill, &image, &mut out) {
        Ok(()) => assert!(within(&out, fill, interpolation == Interpolation::Nearest)),
        Err(_) => assert!(out.iter().all(|&x| x == -1e9)),
    }
});
