//! Color jitter against torchvision's adjust functions, worked by hand, on
//! gray and RGB pixels and on the 20 CIFAR-10 test images.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::augment::ImageShape;
use tinyreg::layers::color::*;
use tinyreg::Icls;

const CIFAR: &[u8] = include_bytes!("data/cifar10-test20.bin");

fn gray(pixels: usize) -> ImageShape {
    ImageShape {
        channels: 1,
        height: 1,
        width: pixels,
    }
}

fn rgb(pixels: usize) -> ImageShape {
    ImageShape {
        channels: 3,
        height: 1,
        width: pixels,
    }
}

fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-6, "{got:?} vs {want:?}");
    }
}

/// `adjust_brightness(1.5)` scales and clamps at the top; `adjust_contrast(0.5)`
/// pulls towards the gray mean (0.5 here); factor 1 gives the image back bit
/// for bit.
#[test]
fn color_brightness_and_contrast_follow_torchvision() {
    let mut x = vec![0.2, 0.8, 0.0, 0.5];
    adjust_brightness(gray(4), 1.5, 1.0, &mut x).unwrap();
    close(&x, &[0.3, 1.0, 0.0, 0.75]);
    let mut x = vec![0.0, 1.0, 0.5, 0.5];
    adjust_contrast(gray(4), 0.5, 1.0, &mut x).unwrap();
    close(&x, &[0.25, 0.75, 0.5, 0.5]);
    // RGB: the mean of the pixels' gray, 0.2989 for red and 0.114 for blue.
    let mut x = vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    adjust_contrast(rgb(2), 0.0, 1.0, &mut x).unwrap();
    close(&x, &[0.20645; 6]);
    // In [0, 255] the same maps, scaled.
    let mut x = vec![51.0, 204.0];
    adjust_brightness(gray(2), 1.5, 255.0, &mut x).unwrap();
    close(&x, &[76.5, 255.0]);
    let original: Vec<f32> = (0..37 * 3).map(|i| (i % 11) as f32 / 10.0).collect();
    let mut x = original.clone();
    adjust_brightness(rgb(37), 1.0, 1.0, &mut x).unwrap();
    adjust_contrast(rgb(37), 1.0, 1.0, &mut x).unwrap();
    adjust_saturation(rgb(37), 1.0, 1.0, &mut x).unwrap();
    assert_eq!(x, original);
}

/// Saturation 0 is the gray image, 2 pushes away from it (worked: (0.5,
/// 0.25, 0.25) has gray 0.3247); a gray image is left alone; 37 pixels (two
/// vectors and a tail) follow the per-pixel formula bit for bit.
#[test]
fn color_saturation_follows_torchvision() {
    let mut x = vec![0.5, 0.25, 0.25];
    adjust_saturation(rgb(1), 2.0, 1.0, &mut x).unwrap();
    close(&x, &[0.6753, 0.1753, 0.1753]);
    let mut x = vec![1.0, 0.0, 0.0];
    adjust_saturation(rgb(1), 0.0, 1.0, &mut x).unwrap();
    close(&x, &[0.2989; 3]);
    let mut g = vec![0.3, 0.6];
    adjust_saturation(gray(2), 0.0, 1.0, &mut g).unwrap();
    assert_eq!(g, [0.3, 0.6]);
    let x0: Vec<f32> = (0..37 * 3).map(|i| ((i * 7) % 13) as f32 / 12.0).collect();
    let mut x = x0.clone();
    adjust_saturation(rgb(37), 1.7, 1.0, &mut x).unwrap();
    for p in 0..37 {
        let (r, g, b) = (x0[p], x0[37 + p], x0[74 + p]);
        let gray = 0.2989f32 * r + 0.587 * g + 0.114 * b;
        for (c, v) in [r, g, b].into_iter().enumerate() {
            let want = (1.7f32 * v + (1.0 - 1.7) * gray).clamp(0.0, 1.0);
            assert_eq!(x[c * 37 + p], want, "pixel {p} channel {c}");
        }
    }
}

/// Hue: red moved by 1/3 is green, by 1/2 cyan, by -1/3 blue; gray pixels
/// stay; values in [0, 255] are scaled; a shift outside [-0.5, 0.5] is
/// refused with nothing written.
#[test]
fn color_hue_follows_torchvision() {
    for (shift, want) in [
        (1.0 / 3.0, [0.0, 1.0, 0.0]),
        (0.5, [0.0, 1.0, 1.0]),
        (-1.0 / 3.0, [0.0, 0.0, 1.0]),
    ] {
        let mut x = vec![1.0, 0.0, 0.0];
        adjust_hue(rgb(1), shift, 1.0, &mut x).unwrap();
        close(&x, &want);
    }
    let mut x = vec![0.5, 0.5, 0.5];
    adjust_hue(rgb(1), 0.25, 1.0, &mut x).unwrap();
    close(&x, &[0.5; 3]);
    let mut x = vec![255.0, 0.0, 0.0];
    adjust_hue(rgb(1), 0.5, 255.0, &mut x).unwrap();
    close(&x, &[0.0, 255.0, 255.0]);
    let mut x = vec![1.0, 0.0, 0.0];
    assert!(adjust_hue(rgb(1), 0.6, 1.0, &mut x).is_err());
    assert_eq!(x, [1.0, 0.0, 0.0]);
}

/// Zero ranges give the images back bit for bit; draws stay in their
/// ranges and the order is a permutation; bad settings and shapes are
/// refused before the generator moves or anything is written.
#[test]
fn color_jitter_draws_and_refusals() {
    let data = Icls::parse(CIFAR).unwrap();
    let shape = ImageShape {
        channels: 3,
        height: 32,
        width: 32,
    };
    let mut x = vec![0f32; 20 * shape.len()];
    let mut labels = vec![0u32; 20];
    let all: Vec<u32> = (0..20).collect();
    data.gather(&all, &mut x, &mut labels).unwrap();
    let original = x.clone();
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let none = ColorJitter {
        brightness: 0.0,
        contrast: 0.0,
        saturation: 0.0,
        hue: 0.0,
    };
    color_jitter(&mut rng, shape, &none, 1.0, &mut x).unwrap();
    assert_eq!(x, original);
    let jitter = ColorJitter {
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        hue: 0.1,
    };
    for _ in 0..200 {
        let d = draw_jitter(&mut rng, &jitter).unwrap();
        let mut order = d.order;
        order.sort();
        assert_eq!(order, [0, 1, 2, 3]);
        for f in [d.brightness, d.contrast, d.saturation] {
            assert!((0.6..=1.4).contains(&f), "{d:?}");
        }
        assert!((-0.1..=0.1).contains(&d.hue), "{d:?}");
    }
    color_jitter(&mut rng, shape, &jitter, 1.0, &mut x).unwrap();
    assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_ne!(x, original);
    // Saturation 0 makes the three planes of every image equal.
    let mut y = original.clone();
    for image in y.chunks_exact_mut(shape.len()) {
        adjust_saturation(shape, 0.0, 1.0, image).unwrap();
        let (r, rest) = image.split_at(1024);
        let (g, b) = rest.split_at(1024);
        assert!(r == g && g == b);
    }
    let before = rng.clone();
    let mut z = original.clone();
    for (bad_jitter, bad_shape, max) in [
        (
            ColorJitter {
                brightness: -0.1,
                ..none
            },
            shape,
            1.0,
        ),
        (ColorJitter { hue: 0.6, ..none }, shape, 1.0),
        (
            ColorJitter {
                contrast: f32::NAN,
                ..none
            },
            shape,
            1.0,
        ),
        (
            jitter,
            ImageShape {
                channels: 2,
                ..shape
            },
            1.0,
        ),
        (jitter, shape, 0.0),
        (jitter, ImageShape { width: 31, ..shape }, 1.0),
    ] {
        assert!(color_jitter(&mut rng, bad_shape, &bad_jitter, max, &mut z).is_err());
    }
    assert_eq!(rng, before, "the generator moved on a refusal");
    assert_eq!(z, original, "written on a refusal");
}

#[test]
fn color_refuses_non_finite_and_negative_factors_before_any_pixel_changes() {
    let shape = rgb(4);
    let image: Vec<f32> = (0..12).map(|i| i as f32 / 12.0).collect();
    for factor in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.5] {
        type Adjust = fn(ImageShape, f32, f32, &mut [f32]) -> Result<(), tinyreg::Error>;
        let adjust: [Adjust; 3] = [adjust_brightness, adjust_contrast, adjust_saturation];
        for f in adjust {
            let mut out = image.clone();
            assert!(f(shape, factor, 1.0, &mut out).is_err(), "factor {factor}");
            assert_eq!(out, image, "nothing written (factor {factor})");
        }
    }
    // A draw whose hue is out of range is refused before its brightness,
    // first in its order, is applied.
    let draw = JitterDraw {
        order: [0, 1, 2, 3],
        brightness: 0.5,
        contrast: 1.0,
        saturation: 1.0,
        hue: 7.0,
    };
    let mut out = image.clone();
    assert!(apply_jitter(shape, &draw, 1.0, &mut out).is_err());
    assert_eq!(out, image);
    for order in [[0, 0, 1, 2], [0, 1, 2, 4]] {
        let draw = JitterDraw {
            order,
            hue: 0.0,
            ..draw
        };
        assert!(apply_jitter(shape, &draw, 1.0, &mut out).is_err());
        assert_eq!(out, image);
    }
}
