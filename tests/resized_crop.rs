//! Random resized crops: bilinear resizing against PyTorch's
//! `align_corners = False` worked by hand and an f64 reference, the draws
//! against torchvision's rules, and refusals.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::augment::ImageShape;
use tinyreg::layers::resized_crop::*;

const SIDE: ImageShape = ImageShape {
    channels: 1,
    height: 4,
    width: 4,
};

/// The 2 x 2 box of `x + 2 y` resized to 4 x 4: bilinear interpolation is
/// exact on a linear function, at PyTorch's source coordinates
/// `(d + 1/2) / 2 - 1/2` clamped to [0, 1]: 0, 0.25, 0.75, 1 per axis.
#[test]
fn resized_crop_matches_torch_bilinear() {
    let mut x = vec![9f32; 16];
    for y in 0..2 {
        for c in 0..2 {
            x[y * 4 + c] = c as f32 + 2.0 * y as f32;
        }
    }
    let mut out = vec![0f32; 16];
    let b = CropBox {
        top: 0,
        left: 0,
        height: 2,
        width: 2,
    };
    resized_crop(SIDE, b, &x, &mut out).unwrap();
    let s = [0.0, 0.25, 0.75, 1.0];
    for r in 0..4 {
        for c in 0..4 {
            assert_eq!(out[r * 4 + c], s[c] + 2.0 * s[r], "({r}, {c})");
        }
    }
    // The whole image is the image, bit for bit.
    let x: Vec<f32> = (0..3 * 7 * 5).map(|i| (i as f32 * 0.37).sin()).collect();
    let shape = ImageShape {
        channels: 3,
        height: 7,
        width: 5,
    };
    let mut out = vec![0f32; x.len()];
    let whole = CropBox {
        top: 0,
        left: 0,
        height: 7,
        width: 5,
    };
    resized_crop(shape, whole, &x, &mut out).unwrap();
    assert_eq!(out, x);
}

/// Every drawn box fits, covers about a fraction in `scale` of the area with
/// a ratio in `ratio` (up to the rounding of the sides), and its resizing
/// agrees with an f64 bilinear reference.
#[test]
fn resized_crop_draws_follow_torchvision_and_resize_like_f64() {
    let shape = ImageShape {
        channels: 2,
        height: 28,
        width: 28,
    };
    let img: Vec<f32> = (0..shape.len())
        .map(|i| ((i * 31) % 97) as f32 / 97.0)
        .collect();
    let mut out = vec![0f32; img.len()];
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    for _ in 0..300 {
        let b =
            random_resized_crop(&mut rng, shape, &ResizedCrop::DEFAULT, &img, &mut out).unwrap();
        assert!(b.height >= 1 && b.width >= 1);
        assert!(b.top + b.height <= 28 && b.left + b.width <= 28);
        let (h, w) = (b.height as f64, b.width as f64);
        assert!(h * w <= 784.0 * 1.0 + 2.0 * 28.0, "{b:?}");
        let ratio = w / h;
        assert!((0.75 * 0.8..=4.0 / 3.0 * 1.25).contains(&ratio), "{b:?}");
        let src =
            |d: usize, n: usize, m: usize| ((d as f64 + 0.5) * n as f64 / m as f64 - 0.5).max(0.0);
        for ch in 0..2 {
            for r in 0..28 {
                for c in 0..28 {
                    let (sy, sx) = (src(r, b.height, 28), src(c, b.width, 28));
                    let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
                    let (y1, x1) = ((y0 + 1).min(b.height - 1), (x0 + 1).min(b.width - 1));
                    let (ly, lx) = (sy - y0 as f64, sx - x0 as f64);
                    let at =
                        |y: usize, x: usize| img[ch * 784 + (b.top + y) * 28 + b.left + x] as f64;
                    let want = (at(y0, x0) * (1.0 - lx) + at(y0, x1) * lx) * (1.0 - ly)
                        + (at(y1, x0) * (1.0 - lx) + at(y1, x1) * lx) * ly;
                    let got = out[ch * 784 + r * 28 + c] as f64;
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{b:?} ({ch}, {r}, {c}): {got} vs {want}"
                    );
                }
            }
        }
    }
    // A ratio no box can have falls back to the centre crop of that ratio:
    // 28 / 10 rounds to 3 rows.
    let thin = ResizedCrop {
        scale: (0.5, 1.0),
        ratio: (10.0, 20.0),
    };
    let b = draw_crop_box(&mut rng, shape, &thin).unwrap();
    assert_eq!(
        b,
        CropBox {
            top: 12,
            left: 0,
            height: 3,
            width: 28
        }
    );
}

/// Scales outside (0, 1], reversed or NaN ranges, non-positive ratios and
/// boxes outside the image are refused before the generator moves or
/// anything is written.
#[test]
fn resized_crop_refusals() {
    let x = vec![1f32; 16];
    let mut out = vec![5f32; 16];
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
    let before = rng.clone();
    for bad in [
        ResizedCrop {
            scale: (0.0, 1.0),
            ..ResizedCrop::DEFAULT
        },
        ResizedCrop {
            scale: (0.5, 0.4),
            ..ResizedCrop::DEFAULT
        },
        ResizedCrop {
            scale: (0.5, 1.1),
            ..ResizedCrop::DEFAULT
        },
        ResizedCrop {
            scale: (f32::NAN, 1.0),
            ..ResizedCrop::DEFAULT
        },
        ResizedCrop {
            ratio: (0.0, 1.0),
            ..ResizedCrop::DEFAULT
        },
        ResizedCrop {
            ratio: (1.0, f32::INFINITY),
            ..ResizedCrop::DEFAULT
        },
    ] {
        assert!(
            random_resized_crop(&mut rng, SIDE, &bad, &x, &mut out).is_err(),
            "{bad:?}"
        );
    }
    assert!(random_resized_crop(&mut rng, SIDE, &ResizedCrop::DEFAULT, &x[1..], &mut out).is_err());
    for b in [
        CropBox {
            top: 3,
            left: 0,
            height: 2,
            width: 2,
        },
        CropBox {
            top: 0,
            left: 0,
            height: 0,
            width: 2,
        },
        CropBox {
            top: usize::MAX,
            left: 0,
            height: 2,
            width: 2,
        },
    ] {
        assert!(resized_crop(SIDE, b, &x, &mut out).is_err(), "{b:?}");
    }
    assert_eq!(rng, before, "the generator moved on a refusal");
    assert!(out.iter().all(|&v| v == 5.0), "written on a refusal");
}
