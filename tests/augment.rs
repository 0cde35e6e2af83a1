//! Augmentations: boxes stay inside the image, only their cells change,
//! crops shift content exactly, flips mirror, CutMix's weight is the pasted
//! area's true fraction.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::augment::{cutmix, cutout, hflip, random_crop, ImageShape};

const SHAPE: ImageShape = ImageShape {
    channels: 3,
    height: 7,
    width: 9,
};

fn image(seed: usize) -> Vec<f32> {
    (0..SHAPE.len())
        .map(|i| (i * 7 + seed) as f32 + 1.0)
        .collect()
}

fn inside(r: usize, c: usize, rect: &tinyreg::layers::augment::Rect) -> bool {
    (rect.top..rect.bottom).contains(&r) && (rect.left..rect.right).contains(&c)
}

#[test]
fn cutout_zeroes_exactly_its_clipped_square() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    for side in [0usize, 1, 3, 4, 20] {
        for _ in 0..50 {
            let orig = image(side);
            let mut x = orig.clone();
            let rect = cutout(&mut rng, SHAPE, side, &mut x).unwrap();
            assert!(rect.bottom <= SHAPE.height && rect.right <= SHAPE.width);
            assert!(rect.bottom - rect.top <= side && rect.right - rect.left <= side);
            for ch in 0..3 {
                for r in 0..7 {
                    for c in 0..9 {
                        let i = ch * 63 + r * 9 + c;
                        assert_eq!(x[i], if inside(r, c, &rect) { 0.0 } else { orig[i] });
                    }
                }
            }
        }
    }
    assert!(cutout(&mut rng, SHAPE, 3, &mut [0.0; 10]).is_err());
}

#[test]
fn random_crop_shifts_content_and_pads_with_zeros() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    let x = image(0);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..400 {
        let mut out = vec![f32::NAN; SHAPE.len()];
        let (dy, dx) = random_crop(&mut rng, SHAPE, 2, &x, &mut out).unwrap();
        seen.insert((dy, dx));
        for ch in 0..3 {
            for r in 0..7isize {
                for c in 0..9isize {
                    let (y, xx) = (r + dy as isize - 2, c + dx as isize - 2);
                    let want = if (0..7).contains(&y) && (0..9).contains(&xx) {
                        x[ch * 63 + (y * 9 + xx) as usize]
                    } else {
                        0.0
                    };
                    assert_eq!(out[ch * 63 + (r * 9 + c) as usize], want);
                }
            }
        }
    }
    assert_eq!(seen.len(), 25, "every offset in [0, 4]^2 occurs");
}

#[test]
fn hflip_mirrors_about_half_the_time() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    let mut flips = 0;
    for _ in 0..2000 {
        let orig = image(1);
        let mut x = orig.clone();
        if hflip(&mut rng, SHAPE, &mut x).unwrap() {
            flips += 1;
            assert_eq!(x[0], orig[8]);
            assert_eq!(x[63 + 9 + 2], orig[63 + 9 + 6]);
        } else {
            assert_eq!(x, orig);
        }
    }
    assert!((900..1100).contains(&flips), "{flips}");
}

#[test]
fn cutmix_label_weight_is_the_pasted_fraction() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    for lambda in [0.0f32, 0.3, 0.7, 1.0] {
        for _ in 0..50 {
            let (orig, partner) = (image(0), image(1000));
            let mut x = orig.clone();
            let (rect, weight) = cutmix(&mut rng, SHAPE, lambda, &partner, &mut x).unwrap();
            let pasted = (0..x.len()).filter(|&i| x[i] == partner[i]).count();
            assert_eq!(pasted, 3 * rect.area());
            assert_eq!(weight, rect.area() as f32 / 63.0);
            assert!(
                weight <= 1.0 - lambda + 1e-6,
                "box side sqrt(1 - lambda), clipped"
            );
        }
    }
    assert!(cutmix(&mut rng, SHAPE, 1.5, &image(0), &mut image(1)).is_err());
}
