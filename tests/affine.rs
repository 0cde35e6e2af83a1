//! Affine augmentation (`layers::affine`): the identity gives the image back
//! bit for bit, whole-pixel translations shift exactly, a quarter turn
//! permutes the pixels as worked out by hand from torchvision's inverse
//! matrix, bilinear sampling with a fill agrees with an f64 reference of
//! `F.affine` + `grid_sample(align_corners = False)`, RGB channels move
//! together on the 20 CIFAR-10 images, draws stay in their ranges, and bad
//! ranges, parameters and shapes are refused with nothing drawn or written.
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro128PlusPlus;
use tinyreg::layers::affine::*;
use tinyreg::layers::augment::ImageShape;
use tinyreg::Icls;

const CIFAR: &[u8] = include_bytes!("data/cifar10-test20.bin");

fn shape(channels: usize, height: usize, width: usize) -> ImageShape {
    ImageShape {
        channels,
        height,
        width,
    }
}

/// A varied image: no two values alike, negatives included.
fn image(s: ImageShape) -> Vec<f32> {
    (0..s.len())
        .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.173)
        .collect()
}

/// `F.affine` with bilinear `grid_sample` and torchvision's fill, in f64.
fn reference(s: ImageShape, p: &AffineParams, fill: f64, img: &[f32]) -> Vec<f64> {
    let m = p.inverse_matrix();
    let (h, w) = (s.height, s.width);
    let mut out = vec![0f64; s.len()];
    for c in 0..s.channels {
        for i in 0..h {
            for j in 0..w {
                let (x, y) = (
                    j as f64 + 0.5 - w as f64 / 2.0,
                    i as f64 + 0.5 - h as f64 / 2.0,
                );
                let sx = m[0] * x + m[1] * y + m[2] + w as f64 / 2.0 - 0.5;
                let sy = m[3] * x + m[4] * y + m[5] + h as f64 / 2.0 - 0.5;
                let (x0, y0) = (sx.floor(), sy.floor());
                let (mut v, mut mask) = (0.0, 0.0);
                for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                    let (xx, yy) = (x0 + dx, y0 + dy);
                    let wt = (1.0 - (sx - xx).abs()) * (1.0 - (sy - yy).abs());
                    if xx >= 0.0 && yy >= 0.0 && xx < w as f64 && yy < h as f64 {
                        v += wt * img[c * h * w + yy as usize * w + xx as usize] as f64;
                        mask += wt;
                    }
                }
                // torchvision: `img * mask + (1 - mask) * fill`, `img` zero-padded.
                out[c * h * w + i * w + j] = v * mask + (1.0 - mask) * fill;
            }
        }
    }
    out
}

#[test]
fn affine_identity_gives_the_image_back_bit_for_bit() {
    for s in [
        shape(1, 28, 28),
        shape(3, 5, 8),
        shape(2, 1, 1),
        shape(1, 7, 3),
    ] {
        let img = image(s);
        for interpolation in [Interpolation::Nearest, Interpolation::Bilinear] {
            let mut out = vec![f32::NAN; s.len()];
            affine(
                s,
                &AffineParams::IDENTITY,
                interpolation,
                3.0,
                &img,
                &mut out,
            )
            .unwrap();
            assert_eq!(out, img, "{s:?} {interpolation:?}");
            // And so does every draw of the identity ranges.
            let mut rng = Xoshiro128PlusPlus::seed_from_u64(1);
            let ranges = RandomAffine {
                interpolation,
                ..RandomAffine::IDENTITY
            };
            let drawn = random_affine(&mut rng, s, &ranges, &img, &mut out).unwrap();
            assert_eq!(drawn, AffineParams::IDENTITY);
            assert_eq!(out, img);
        }
    }
}

#[test]
fn affine_translation_shifts_whole_pixels() {
    let s = shape(2, 6, 5);
    let img = image(s);
    let params = AffineParams {
        translate: (2, -1),
        ..AffineParams::IDENTITY
    };
    for interpolation in [Interpolation::Nearest, Interpolation::Bilinear] {
        let mut out = vec![0f32; s.len()];
        affine(s, &params, interpolation, -9.0, &img, &mut out).unwrap();
        for c in 0..2 {
            for i in 0..6 {
                for j in 0..5 {
                    // Content moves right by 2 and up by 1.
                    let (si, sj) = (i as i64 + 1, j as i64 - 2);
                    let expect = if (0..6).contains(&si) && (0..5).contains(&sj) {
                        img[c * 30 + si as usize * 5 + sj as usize]
                    } else {
                        -9.0
                    };
                    assert_eq!(
                        out[c * 30 + i * 5 + j],
                        expect,
                        "{interpolation:?} {c} {i} {j}"
                    );
                }
            }
        }
    }
}

#[test]
fn affine_quarter_turn_worked_by_hand() {
    // angle 90: torchvision's inverse matrix is [0, 1, 0, -1, 0, 0], so
    // output (i, j) reads input row 2 - j, column i: clockwise as displayed.
    let s = shape(1, 3, 3);
    let img: Vec<f32> = (0..9).map(|v| v as f32).collect();
    let params = AffineParams {
        angle: 90.0,
        ..AffineParams::IDENTITY
    };
    let m = params.inverse_matrix();
    for (got, want) in m.iter().zip([0.0, 1.0, 0.0, -1.0, 0.0, 0.0]) {
        assert!((got - want).abs() < 1e-15);
    }
    let mut out = vec![0f32; 9];
    affine(s, &params, Interpolation::Nearest, 0.0, &img, &mut out).unwrap();
    assert_eq!(out, [6.0, 3.0, 0.0, 7.0, 4.0, 1.0, 8.0, 5.0, 2.0]);
    // Four quarter turns of an even square are the identity.
    let s = shape(1, 4, 4);
    let mut x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let start = x.clone();
    for _ in 0..4 {
        let mut y = vec![0f32; 16];
        affine(s, &params, Interpolation::Nearest, -1.0, &x, &mut y).unwrap();
        assert!(y.iter().all(|&v| v >= 0.0), "a quarter turn loses nothing");
        x = y;
    }
    assert_eq!(x, start);
}

#[test]
fn affine_bilinear_matches_an_f64_reference() {
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(9);
    let ranges = RandomAffine {
        degrees: (-30.0, 30.0),
        translate: (0.2, 0.3),
        scale: (0.6, 1.4),
        shear_x: (-20.0, 20.0),
        shear_y: (-10.0, 10.0),
        interpolation: Interpolation::Bilinear,
        fill: 0.75,
    };
    for s in [shape(1, 28, 28), shape(3, 9, 14), shape(1, 2, 31)] {
        let img = image(s);
        let mut filled = 0;
        for _ in 0..40 {
            let mut out = vec![0f32; s.len()];
            let p = random_affine(&mut rng, s, &ranges, &img, &mut out).unwrap();
            let want = reference(s, &p, 0.75, &img);
            for (k, (&g, &e)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (g as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "{s:?} {p:?} [{k}] {g} vs {e}"
                );
            }
            filled += out.iter().filter(|&&v| v == 0.75).count();
        }
        assert!(filled > 0, "some draws reach outside the image");
    }
}

#[test]
fn affine_nearest_reads_input_pixels_or_the_fill() {
    let s = shape(1, 28, 28);
    let img = image(s);
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(2);
    let ranges = RandomAffine {
        translate: (0.1, 0.1),
        scale: (0.9, 1.1),
        shear_x: (-10.0, 10.0),
        fill: 1000.0,
        ..RandomAffine::rotation(15.0)
    };
    for _ in 0..50 {
        let mut out = vec![0f32; s.len()];
        random_affine(&mut rng, s, &ranges, &img, &mut out).unwrap();
        assert!(out.iter().all(|v| *v == 1000.0 || img.contains(v)));
    }
}

#[test]
fn affine_moves_rgb_channels_together_on_cifar() {
    let data = Icls::parse(CIFAR).unwrap();
    let rgb = shape(3, 32, 32);
    let plane = shape(1, 32, 32);
    let mut x = vec![0f32; 20 * rgb.len()];
    let mut labels = vec![0u32; 20];
    let all: Vec<u32> = (0..20).collect();
    data.gather(&all, &mut x, &mut labels).unwrap();
    let ranges = RandomAffine {
        translate: (0.1, 0.1),
        interpolation: Interpolation::Bilinear,
        ..RandomAffine::rotation(20.0)
    };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(4);
    let mut moved = 0;
    for img in x.chunks_exact(rgb.len()) {
        let mut out = vec![0f32; rgb.len()];
        let p = random_affine(&mut rng, rgb, &ranges, img, &mut out).unwrap();
        for c in 0..3 {
            let mut one = vec![0f32; 1024];
            let src = &img[c * 1024..(c + 1) * 1024];
            affine(plane, &p, Interpolation::Bilinear, 0.0, src, &mut one).unwrap();
            assert_eq!(&out[c * 1024..(c + 1) * 1024], &one[..]);
        }
        moved += (out != img) as usize;
        assert!(
            out.iter().all(|v| (0.0..=1.0).contains(v)),
            "a convex mix of pixels in [0, 1] and a fill of 0"
        );
    }
    assert_eq!(moved, 20);
}

#[test]
fn affine_draws_stay_in_their_ranges() {
    let s = shape(1, 20, 30);
    let ranges = RandomAffine {
        degrees: (5.0, 15.0),
        translate: (0.1, 0.25),
        scale: (0.8, 0.9),
        shear_x: (-3.0, 4.0),
        shear_y: (1.0, 2.0),
        interpolation: Interpolation::Nearest,
        fill: 0.0,
    };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(3);
    let (mut seen_tx, mut seen_ty, mut angles) = ([false; 7], [false; 11], 0.0);
    let n = 4000;
    for _ in 0..n {
        let p = draw_affine(&mut rng, s, &ranges).unwrap();
        assert!((5.0..=15.0).contains(&p.angle));
        assert!((0.8..=0.9).contains(&p.scale));
        assert!((-3.0..=4.0).contains(&p.shear.0) && (1.0..=2.0).contains(&p.shear.1));
        // max_dx = 0.1 * 30 = 3, max_dy = 0.25 * 20 = 5: whole pixels.
        seen_tx[(p.translate.0 + 3) as usize] = true;
        seen_ty[(p.translate.1 + 5) as usize] = true;
        angles += p.angle as f64;
    }
    assert!(seen_tx.iter().all(|&b| b) && seen_ty.iter().all(|&b| b));
    // The mean angle within 6 standard errors of 10 (sd 10 / sqrt 12).
    let se = 10.0 / 12f64.sqrt() / (n as f64).sqrt();
    assert!((angles / n as f64 - 10.0).abs() < 6.0 * se);
}

#[test]
fn affine_refuses_bad_input_with_nothing_drawn_or_written() {
    let s = shape(1, 4, 4);
    let img = image(s);
    let ok = RandomAffine::rotation(10.0);
    let bad = [
        RandomAffine {
            degrees: (f32::NAN, 1.0),
            ..ok
        },
        RandomAffine {
            degrees: (5.0, -5.0),
            ..ok
        },
        RandomAffine {
            degrees: (0.0, f32::INFINITY),
            ..ok
        },
        RandomAffine {
            translate: (1.5, 0.0),
            ..ok
        },
        RandomAffine {
            translate: (0.0, -0.1),
            ..ok
        },
        RandomAffine {
            translate: (f32::NAN, 0.0),
            ..ok
        },
        RandomAffine {
            scale: (0.0, 1.0),
            ..ok
        },
        RandomAffine {
            scale: (-1.0, 1.0),
            ..ok
        },
        RandomAffine {
            scale: (2.0, 1.0),
            ..ok
        },
        RandomAffine {
            shear_x: (-90.0, 0.0),
            ..ok
        },
        RandomAffine {
            shear_y: (0.0, 90.0),
            ..ok
        },
        RandomAffine {
            shear_y: (0.0, f32::NAN),
            ..ok
        },
        RandomAffine {
            fill: f32::INFINITY,
            ..ok
        },
    ];
    for ranges in bad {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(8);
        let mut out = vec![5.0f32; 16];
        assert!(
            random_affine(&mut rng, s, &ranges, &img, &mut out).is_err(),
            "{ranges:?}"
        );
        assert!(draw_affine(&mut rng, s, &ranges).is_err());
        assert_eq!(rng, Xoshiro128PlusPlus::seed_from_u64(8));
        assert!(out.iter().all(|&v| v == 5.0));
    }
    for (s, img_len, out_len) in [
        (shape(1, 4, 4), 15, 16),
        (shape(1, 4, 4), 16, 17),
        (shape(0, 4, 4), 0, 0),
        (shape(1, 0, 4), 0, 0),
        (shape(1, 70_000, 1), 70_000, 70_000),
    ] {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(8);
        let src = vec![1.0f32; img_len];
        let mut out = vec![5.0f32; out_len];
        assert!(
            random_affine(&mut rng, s, &ok, &src, &mut out).is_err(),
            "{s:?}"
        );
        assert_eq!(rng, Xoshiro128PlusPlus::seed_from_u64(8));
        assert!(out.iter().all(|&v| v == 5.0));
    }
    for p in [
        AffineParams {
            angle: f32::NAN,
            ..AffineParams::IDENTITY
        },
        AffineParams {
            scale: 0.0,
            ..AffineParams::IDENTITY
        },
        AffineParams {
            scale: f32::INFINITY,
            ..AffineParams::IDENTITY
        },
        AffineParams {
            shear: (90.0, 0.0),
            ..AffineParams::IDENTITY
        },
    ] {
        let mut out = vec![5.0f32; 16];
        assert!(affine(s, &p, Interpolation::Bilinear, 0.0, &img, &mut out).is_err());
        assert!(out.iter().all(|&v| v == 5.0));
    }
    let mut out = vec![5.0f32; 16];
    assert!(affine(
        s,
        &AffineParams::IDENTITY,
        Interpolation::Nearest,
        f32::NAN,
        &img,
        &mut out
    )
    .is_err());
}
