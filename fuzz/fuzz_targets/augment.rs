//! Fuzz the image augmentations, mixup and the losses with arbitrary shapes,
//! parameters (any float bits), buffer lengths and labels. Nothing may panic;
//! an error writes nothing and leaves the generator where it was; a cutout,
//! CutMix or resized-crop box lies inside the image, and a resized crop
//! writes values within the image's range (up to rounding); the mixed loss equals the soft loss
//! against the mixed one-hot targets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::augment::{cutmix, cutout, hflip, random_crop};
use tinyreg::layers::mixup::{blend, softmax_cross_entropy_mixed, Mixup};
use tinyreg::layers::resized_crop::{random_resized_crop, resized_crop, CropBox, ResizedCrop};
use tinyreg::{softmax_cross_entropy, softmax_cross_entropy_soft, ImageShape};

mod bytes;
use bytes::Bytes;

/// This target's sizes and parameters.
trait Draw {
    fn size(&mut self, small: u8) -> usize;
    fn len_near(&mut self, n: usize) -> usize;
    fn param(&mut self) -> f32;
}

impl Draw for Bytes<'_> {
    fn size(&mut self, small: u8) -> usize {
        self.pick_size((usize::MAX / 2 + 1, 1 << 33), |b| (b % small) as usize)
    }
    fn len_near(&mut self, n: usize) -> usize {
        self.near(n, n.min(1 << 16))
    }
    /// Ordinary most of the time, any bits sometimes.
    fn param(&mut self) -> f32 {
        self.mostly(|k| k as f32 * 0.3)
    }
}

fn same(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let shape = ImageShape {
        channels: b.size(4),
        height: b.size(12),
        width: b.size(12),
    };
    let len = shape
        .channels
        .checked_mul(shape.height)
        .and_then(|n| n.checked_mul(shape.width))
        .unwrap_or(usize::MAX);
    let n = b.len_near(len.min(1 << 12));
    let image: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let seed = b.u8() as u64;
    let fresh = || Xoshiro128PlusPlus::seed_from_u64(seed);

    // Each augmentation: an error writes nothing and draws nothing.
    let (side, pad, lambda) = (b.size(14), b.size(5), b.param());
    let mut rng = fresh();
    let mut img = image.clone();
    match cutout(&mut rng, shape, side, &mut img) {
        Ok(r) => assert!(r.top <= r.bottom && r.bottom <= shape.height && r.right <= shape.width),
        Err(_) => assert!(same(&img, &image) && rng == fresh()),
    }
    let mut rng = fresh();
    let mut out = vec![-1f32; b.len_near(n)];
    if random_crop(&mut rng, shape, pad, &image, &mut out).is_err() {
        assert!(out.iter().all(|&x| x == -1.0) && rng == fresh());
    }
    // Resized crops: any ranges (float bits included) and boxes; a drawn box
    // lies inside the image, resizing a box writes values from the image's
    // range (a convex combination of its pixels).
    let crop = ResizedCrop {
        scale: (b.param(), b.param()),
        ratio: (b.param(), b.param() + b.param()),
    };
    let mut rng = fresh();
    let mut out = vec![-1f32; b.len_near(n)];
    match random_resized_crop(&mut rng, shape, &crop, &image, &mut out) {
        Ok(r) => {
            assert!(r.height >= 1 && r.width >= 1, "{r:?}");
            assert!(r.top + r.height <= shape.height && r.left + r.width <= shape.width);
            // Up to the rounding of the weighted sums.
            let top = image.len().saturating_sub(1) as f32 * (1.0 + 4.0 * f32::EPSILON);
            assert!(out.iter().all(|&v| (0.0..=top).contains(&v)), "{r:?}");
        }
        Err(_) => assert!(out.iter().all(|&x| x == -1.0) && rng == fresh()),
    }
    let boxed = CropBox {
        top: b.size(12),
        left: b.size(12),
        height: b.size(12),
        width: b.size(12),
    };
    let mut out = vec![-1f32; b.len_near(n)];
    if resized_crop(shape, boxed, &image, &mut out).is_err() {
        assert!(out.iter().all(|&x| x == -1.0));
    }
    let mut rng = fresh();
    let mut img = image.clone();
    if hflip(&mut rng, shape, &mut img).is_err() {
        assert!(same(&img, &image) && rng == fresh());
    }
    let partner: Vec<f32> = (0..b.len_near(n)).map(|i| -(i as f32)).collect();
    let mut rng = fresh();
    let mut img = image.clone();
    match cutmix(&mut rng, shape, lambda, &partner, &mut img) {
        Ok((r, kept)) => {
            assert!(r.bottom <= shape.height && r.right <= shape.width);
            assert!((0.0..=1.0).contains(&kept), "kept fraction {kept}");
        }
        Err(_) => assert!(same(&img, &image) && rng == fresh()),
    }

    // Mixup: blend, sample, mix.
    let mut out = vec![-1f32; b.len_near(n)];
    if blend(lambda, &image, &partner, &mut out).is_err() {
        assert!(out.iter().all(|&x| x == -1.0));
    }
    if let Ok(mixup) = Mixup::new(b.param()) {
        let rows = (b.u8() % 9) as usize;
        let mut pairs = vec![u32::MAX; rows];
        let mut rng = fresh();
        match mixup.sample(&mut rng, &mut pairs) {
            Ok(l) => {
                assert!((0.0..=1.0).contains(&l), "lambda {l}");
                assert!(pairs.iter().all(|&p| (p as usize) < rows));
            }
            Err(_) => assert!(pairs.iter().all(|&p| p == u32::MAX) && rng == fresh()),
        }
        let features = (b.u8() % 5) as usize;
        let input: Vec<f32> = (0..b.len_near(rows * features)).map(|i| i as f32).collect();
        let bad_pairs: Vec<u32> = pairs
            .iter()
            .map(|&p| p + (b.u8() % 16 == 0) as u32 * 1000)
            .collect();
        let mut out = vec![-1f32; b.len_near(rows * features)];
        if mixup
            .mix(lambda, &bad_pairs, features, &input, &mut out)
            .is_err()
        {
            assert!(out.iter().all(|&x| x == -1.0));
        }
    }

    // Losses: hard, soft and mixed, against each other.
    let classes = (b.u8() % 6) as usize;
    let rows = (b.u8() % 6) as usize;
    let logits: Vec<f32> = (0..b.len_near(rows * classes))
        .map(|_| b.param() * 4.0)
        .collect();
    let labels: Vec<u32> = (0..rows).map(|_| (b.u8() % 7) as u32).collect();
    let partners: Vec<u32> = (0..b.len_near(rows)).map(|_| (b.u8() % 7) as u32).collect();
    let mut g1 = vec![9f32; b.len_near(rows * classes)];
    if softmax_cross_entropy(classes, &logits, &labels, &mut g1).is_err() {
        assert!(g1.iter().all(|&g| g == 9.0));
    }
    let mut g2 = vec![9f32; g1.len()];
    let mixed = softmax_cross_entropy_mixed(classes, &logits, &labels, &partners, lambda, &mut g2);
    match mixed {
        Ok(loss) => {
            assert!(loss.is_finite(), "Ok({loss})");
            // The same against the mixed one-hot targets.
            let mut targets = vec![0f32; rows * classes];
            for r in 0..rows {
                targets[r * classes + labels[r] as usize] += lambda;
                targets[r * classes + partners[r] as usize] += 1.0 - lambda;
            }
            let mut g3 = vec![0f32; g2.len()];
            let soft = softmax_cross_entropy_soft(classes, &logits, &targets, &mut g3).unwrap();
            assert!(
                (soft - loss).abs() <= 1e-4 * (1.0 + soft.abs()),
                "{soft} vs {loss}"
            );
        }
        Err(_) => assert!(g2.iter().all(|&g| g == 9.0)),
    }
});
