//! Color jitter (train only: eval sees the original image), torchvision's
//! `ColorJitter` on float images in `[0, max]` (`max` is 1 for torchvision's
//! float tensors): brightness `b x`, contrast `c x + (1 - c) mean(gray)`,
//! saturation `s x + (1 - s) gray` per pixel, each clamped to `[0, max]`,
//! and hue, a rotation of the HSV hue by `h` (torchvision's `_rgb2hsv` and
//! `_hsv2rgb`, pixel by pixel). As torchvision does, a jitter draws the order
//! of the four adjustments (a random permutation), then the factors
//! (brightness, contrast, saturation, hue, each uniform in its range and
//! drawn only if enabled), and applies them in that order; saturation and
//! hue leave a gray image as it is. Products overflow only for `max` near
//! `f32::MAX` (as in torchvision). Differences from torchvision: the
//! generator (the crate's), and the mean of the contrast adjustment summed
//! in another order (equal within float rounding).

use core::num::NonZeroU32;

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::{uniform01, uniform_below};
use crate::error::{check_setting, Error};
use crate::kernels::jitter::{blend_with_gray, scale_shift_clamp, sum};
use crate::layers::augment::ImageShape;

/// How far [`color_jitter`] moves each property (torchvision's arguments):
/// factors uniform in `[max(0, 1 - x), 1 + x]` for brightness, contrast and
/// saturation, and a hue shift uniform in `[-hue, hue]`; 0 disables one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorJitter {
    /// `>= 0`.
    pub brightness: f32,
    /// `>= 0`.
    pub contrast: f32,
    /// `>= 0` (RGB only; a gray image is left as it is).
    pub saturation: f32,
    /// In `[0, 0.5]` (RGB only).
    pub hue: f32,
}

impl ColorJitter {
    /// Refuses negative, infinite or NaN ranges and a hue above 0.5.
    pub fn validate(&self) -> Result<(), Error> {
        let range = |v: f32| v.is_finite() && v >= 0.0;
        let rule = "must be finite and >= 0";
        check_setting(range(self.brightness), "brightness", rule)?;
        check_setting(range(self.contrast), "contrast", rule)?;
        check_setting(range(self.saturation), "saturation", rule)?;
        check_setting(
            (0.0..=0.5).contains(&self.hue),
            "hue",
            "must be in [0, 0.5]",
        )?;
        Ok(())
    }
}

/// The adjustments one image gets: factors (1 or 0 hue: none) in the order
/// drawn. What [`color_jitter`] applies, for callers that log or replay it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JitterDraw {
    /// The order: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    pub order: [u8; 4],
    /// Brightness factor.
    pub brightness: f32,
    /// Contrast factor.
    pub contrast: f32,
    /// Saturation factor.
    pub saturation: f32,
    /// Hue shift.
    pub hue: f32,
}

/// Checks one image: 1 (gray) or 3 (RGB) channels, the length, and `max`.
fn check(shape: ImageShape, image: &[f32], max: f32) -> Result<usize, Error> {
    if shape.channels != 1 && shape.channels != 3 {
        return Err(Error::InvalidConfig {
            reason: "color adjustments take gray (1 channel) or RGB (3 channel) images",
        });
    }
    let rule = "the images' largest value must be finite and > 0";
    check_setting(max.is_finite() && max > 0.0, "max", rule)?;
    let plane = crate::size::checked_mul(shape.height, shape.width)?;
    if image.len() != shape.len() || plane == 0 {
        return Err(Error::LengthMismatch {
            expected: shape.len(),
            got: image.len(),
        });
    }
    Ok(plane)
}

/// Refuses a brightness, contrast or saturation factor that is negative or
/// not finite (torchvision raises for a negative one; NaN or infinity would
/// turn every pixel to 0 or NaN).
fn check_factor(factor: f32) -> Result<(), Error> {
    let rule = "a brightness, contrast or saturation factor must be finite and >= 0";
    check_setting(factor.is_finite() && factor >= 0.0, "factor", rule)
}

/// Refuses a hue shift outside `[-0.5, 0.5]` (NaN included).
fn check_hue(shift: f32) -> Result<(), Error> {
    check_setting(
        (-0.5..=0.5).contains(&shift),
        "hue",
        "a hue shift must be in [-0.5, 0.5]",
    )
}

impl JitterDraw {
    /// Checks every factor and the order (a permutation of 0..4) at once, so
    /// that [`apply_jitter`] refuses a draw before it changes a pixel.
    pub fn validate(&self) -> Result<(), Error> {
        check_factor(self.brightness)?;
        check_factor(self.contrast)?;
        check_factor(self.saturation)?;
        check_hue(self.hue)?;
        let mut seen = [false; 4];
        for &step in &self.order {
            match seen.get_mut(step as usize) {
                Some(s) if !*s => *s = true,
                _ => {
                    return Err(Error::InvalidSetting {
                        setting: "order",
                        rule: "a jitter order must be a permutation of 0, 1, 2, 3",
                    })
                }
            }
        }
        Ok(())
    }
}

/// The planes of one image (all of them, or R, G, B).
fn planes(image: &mut [f32], plane: usize) -> (&mut [f32], &mut [f32], &mut [f32]) {
    let (r, rest) = image.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane.min(rest.len()));
    (r, g, b)
}

/// torchvision's `adjust_brightness`: `clamp(factor x, 0, max)`.
pub fn adjust_brightness(
    shape: ImageShape,
    factor: f32,
    max: f32,
    image: &mut [f32],
) -> Result<(), Error> {
    check(shape, image, max)?;
    check_factor(factor)?;
    scale_shift_clamp(image, factor, 0.0, max);
    Ok(())
}

/// torchvision's `adjust_contrast`: `clamp(factor x + (1 - factor) m, 0,
/// max)` with `m` the mean of the image's gray.
pub fn adjust_contrast(
    shape: ImageShape,
    factor: f32,
    max: f32,
    image: &mut [f32],
) -> Result<(), Error> {
    let plane = check(shape, image, max)?;
    check_factor(factor)?;
    let total = if shape.channels == 3 {
        let (r, g, b) = planes(image, plane);
        sum(&[r, g, b])
    } else {
        sum(&[image])
    };
    let mean = total / plane as f32;
    scale_shift_clamp(image, factor, (1.0 - factor) * mean, max);
    Ok(())
}

/// torchvision's `adjust_saturation`: each RGB channel `clamp(factor c +
/// (1 - factor) gray, 0, max)`; a gray image is left as it is.
pub fn adjust_saturation(
    shape: ImageShape,
    factor: f32,
    max: f32,
    image: &mut [f32],
) -> Result<(), Error> {
    let plane = check(shape, image, max)?;
    check_factor(factor)?;
    if shape.channels == 3 {
        let (r, g, b) = planes(image, plane);
        blend_with_gray(r, g, b, factor, max);
    }
    Ok(())
}

/// torchvision's `adjust_hue`: the HSV hue of each RGB pixel moved by
/// `shift` in `[-0.5, 0.5]` (modulo 1), through torchvision's `_rgb2hsv`
/// and `_hsv2rgb` (values scaled by `1 / max` and back); a gray image is
/// left as it is.
pub fn adjust_hue(shape: ImageShape, shift: f32, max: f32, image: &mut [f32]) -> Result<(), Error> {
    let plane = check(shape, image, max)?;
    check_hue(shift)?;
    if shape.channels == 3 {
        let (r, g, b) = planes(image, plane);
        for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
            let (h, s, v) = rgb_to_hsv(*r / max, *g / max, *b / max);
            // torch's `%`: `a - floor(a)` for a divisor of 1.
            let h = h + shift;
            let h = h - libm::floorf(h);
            let (nr, ng, nb) = hsv_to_rgb(h, s, v);
            (*r, *g, *b) = (nr * max, ng * max, nb * max);
        }
    }
    Ok(())
}

/// torchvision's `_rgb2hsv` for one pixel.
fn rgb_to_hsv(r: f32, g: f32, b: f32) -> (f32, f32, f32) {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    let eqc = maxc == minc;
    let cr = maxc - minc;
    let s = cr / if eqc { 1.0 } else { maxc };
    let divisor = if eqc { 1.0 } else { cr };
    let (rc, gc, bc) = (
        (maxc - r) / divisor,
        (maxc - g) / divisor,
        (maxc - b) / divisor,
    );
    let h = if maxc == r {
        bc - gc
    } else if maxc == g {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = libm::fmodf(h / 6.0 + 1.0, 1.0);
    (h, s, maxc)
}

/// torchvision's `_hsv2rgb` for one pixel.
fn hsv_to_rgb(h: f32, s: f32, v: f32) -> (f32, f32, f32) {
    let i = libm::floorf(h * 6.0);
    let f = h * 6.0 - i;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (i as i32).rem_euclid(6) {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    }
}

/// Draws one image's adjustments as torchvision's `ColorJitter.get_params`
/// does (with the crate's generator).
pub fn draw_jitter(
    rng: &mut Xoshiro128PlusPlus,
    jitter: &ColorJitter,
) -> Result<JitterDraw, Error> {
    jitter.validate()?;
    let mut order = [0u8, 1, 2, 3];
    for i in (1..4).rev() {
        let j = uniform_below(
            rng,
            NonZeroU32::new(i as u32 + 1).unwrap_or(NonZeroU32::MIN),
        ) as usize;
        order.swap(i, j);
    }
    let mut factor = |x: f32| {
        if x == 0.0 {
            1.0
        } else {
            let lo = (1.0 - x).max(0.0);
            lo + (1.0 + x - lo) * uniform01(rng)
        }
    };
    let (brightness, contrast, saturation) = (
        factor(jitter.brightness),
        factor(jitter.contrast),
        factor(jitter.saturation),
    );
    let hue = if jitter.hue == 0.0 {
        0.0
    } else {
        (2.0 * uniform01(rng) - 1.0) * jitter.hue
    };
    Ok(JitterDraw {
        order,
        brightness,
        contrast,
        saturation,
        hue,
    })
}

/// Applies a drawn jitter to one image, in its order (disabled adjustments
/// skipped). The whole draw is checked ([`JitterDraw::validate`]) before the
/// first adjustment: nothing changes on error.
pub fn apply_jitter(
    shape: ImageShape,
    draw: &JitterDraw,
    max: f32,
    image: &mut [f32],
) -> Result<(), Error> {
    check(shape, image, max)?;
    draw.validate()?;
    for step in draw.order {
        match step {
            0 if draw.brightness != 1.0 => adjust_brightness(shape, draw.brightness, max, image)?,
            1 if draw.contrast != 1.0 => adjust_contrast(shape, draw.contrast, max, image)?,
            2 if draw.saturation != 1.0 => adjust_saturation(shape, draw.saturation, max, image)?,
            3 if draw.hue != 0.0 => adjust_hue(shape, draw.hue, max, image)?,
            _ => {}
        }
    }
    Ok(())
}

/// Color jitter over a batch of `shape` images in `[0, max]`: each image
/// draws its own adjustments ([`draw_jitter`]) and gets them
/// ([`apply_jitter`]). Everything is checked before any draw.
pub fn color_jitter(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    jitter: &ColorJitter,
    max: f32,
    images: &mut [f32],
) -> Result<(), Error> {
    jitter.validate()?;
    let len = shape.len();
    if len == 0 || !images.len().is_multiple_of(len) {
        return Err(Error::LengthMismatch {
            expected: len,
            got: images.len(),
        });
    }
    if let Some(first) = images.chunks_exact(len).next() {
        check(shape, first, max)?;
    }
    for image in images.chunks_exact_mut(len) {
        let draw = draw_jitter(rng, jitter)?;
        apply_jitter(shape, &draw, max, image)?;
    }
    Ok(())
}
