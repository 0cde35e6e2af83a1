//! Image augmentations (train only: eval sees the original input), on planes
//! of `(channels, height, width)` images, each drawing from a scalar
//! `Xoshiro128PlusPlus` so a seed gives the same boxes on every target. None
//! writes outside its image.
//!
//! - [`cutout`] (DeVries and Taylor 2017): zero a `side x side` square whose
//!   centre is uniform over the image, clipped at the borders.
//! - [`random_crop`]: pad by `pad` zeros, crop back to the input size at a
//!   uniform offset in `[0, 2 pad]^2`.
//! - [`hflip`]: mirror left-right with probability 1/2.
//! - [`cutmix`] (Yun et al. 2019): paste a box of side `sqrt(1 - lambda)` of the
//!   image from a partner, uniform centre, clipped; returns the pasted area's
//!   true fraction, the partner label's weight.

use core::num::NonZeroU32;

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::uniform_below;
use crate::error::{check_setting, Error};
use crate::size;

/// An image's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Channels.
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageShape {
    /// `n` plain features, as a `1 x 1 x n` image (the input of a network
    /// without images).
    pub const fn features(n: usize) -> Self {
        ImageShape {
            channels: 1,
            height: 1,
            width: n,
        }
    }

    /// Values per image.
    pub const fn len(&self) -> usize {
        size::mul(size::mul(self.channels, self.height), self.width)
    }

    /// Whether the image has no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check(&self, got: usize) -> Result<(), Error> {
        if self.height == 0
            || self.width == 0
            || self.height > u32::MAX as usize
            || self.width > u32::MAX as usize
        {
            return Err(Error::InvalidConfig {
                reason: "images need a non-zero height and width",
            });
        }
        if got != self.len() {
            return Err(Error::LengthMismatch {
                expected: self.len(),
                got,
            });
        }
        Ok(())
    }
}

/// A box `[top, bottom) x [left, right)`, clipped to the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// First row.
    pub top: usize,
    /// One past the last row.
    pub bottom: usize,
    /// First column.
    pub left: usize,
    /// One past the last column.
    pub right: usize,
}

impl Rect {
    /// Cells covered.
    pub const fn area(&self) -> usize {
        (self.bottom - self.top) * (self.right - self.left)
    }
}

/// A uniform index below `n`, which the caller checked to be in
/// `1..=u32::MAX` (an image side, a crop range).
fn below(rng: &mut Xoshiro128PlusPlus, n: usize) -> usize {
    let bound = u32::try_from(n)
        .ok()
        .and_then(NonZeroU32::new)
        .unwrap_or(NonZeroU32::MIN);
    uniform_below(rng, bound) as usize
}

/// A `side_h x side_w` box centred at a uniform cell, clipped.
fn centred_box(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    side_h: usize,
    side_w: usize,
) -> Rect {
    let cy = below(rng, shape.height);
    let cx = below(rng, shape.width);
    Rect {
        top: cy.saturating_sub(side_h / 2),
        bottom: cy.saturating_add(side_h - side_h / 2).min(shape.height),
        left: cx.saturating_sub(side_w / 2),
        right: cx.saturating_add(side_w - side_w / 2).min(shape.width),
    }
}

/// Zeroes a `side x side` square (clipped) in every channel; returns it.
pub fn cutout(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    side: usize,
    image: &mut [f32],
) -> Result<Rect, Error> {
    shape.check(image.len())?;
    let rect = centred_box(rng, shape, side, side);
    for plane in image.chunks_exact_mut(shape.height * shape.width) {
        for r in rect.top..rect.bottom {
            plane[r * shape.width + rect.left..r * shape.width + rect.right].fill(0.0);
        }
    }
    Ok(rect)
}

/// Pads by `pad` zeros and crops back at a uniform offset, into `out`; returns
/// the offset `(dy, dx)` in `[0, 2 pad]`.
pub fn random_crop(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    pad: usize,
    image: &[f32],
    out: &mut [f32],
) -> Result<(usize, usize), Error> {
    shape.check(image.len())?;
    shape.check(out.len())?;
    check_setting(pad <= u16::MAX as usize, "pad", "must be at most 65535")?;
    let dy = below(rng, 2 * pad + 1);
    let dx = below(rng, 2 * pad + 1);
    crop_at(shape, pad, (dy, dx), image, out)?;
    Ok((dy, dx))
}

/// The crop [`random_crop`] makes at offset `(dy, dx)` in `[0, 2 pad]` of
/// the image padded by `pad` zeros, into `out` (test-time views use it).
pub fn crop_at(
    shape: ImageShape,
    pad: usize,
    (dy, dx): (usize, usize),
    image: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    shape.check(image.len())?;
    shape.check(out.len())?;
    if pad > u16::MAX as usize || dy > 2 * pad || dx > 2 * pad {
        return Err(Error::InvalidConfig {
            reason: "a crop needs a padding up to 65535 and an offset in [0, 2 pad]",
        });
    }
    let (h, w) = (shape.height, shape.width);
    for (src, dst) in image.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
        for r in 0..h {
            for c in 0..w {
                // Output (r, c) reads padded (r + dy, c + dx) = input (r + dy - pad, c + dx - pad).
                let (y, x) = (
                    (r + dy) as isize - pad as isize,
                    (c + dx) as isize - pad as isize,
                );
                dst[r * w + c] = if (0..h as isize).contains(&y) && (0..w as isize).contains(&x) {
                    src[y as usize * w + x as usize]
                } else {
                    0.0
                };
            }
        }
    }
    Ok(())
}

/// Mirrors every row of the image left-right.
pub fn flip_rows(shape: ImageShape, image: &mut [f32]) -> Result<(), Error> {
    shape.check(image.len())?;
    for row in image.chunks_exact_mut(shape.width) {
        row.reverse();
    }
    Ok(())
}

/// Mirrors the image left-right with probability 1/2; returns whether it did.
pub fn hflip(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    image: &mut [f32],
) -> Result<bool, Error> {
    shape.check(image.len())?;
    let flip = below(rng, 2) == 1;
    if flip {
        for row in image.chunks_exact_mut(shape.width) {
            row.reverse();
        }
    }
    Ok(flip)
}

/// Pastes a box of side `sqrt(1 - lambda)` of the image (uniform centre,
/// clipped) from `partner` into `image`; returns the box and the pasted area's
/// fraction of the image, the weight of the partner's label.
pub fn cutmix(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    lambda: f32,
    partner: &[f32],
    image: &mut [f32],
) -> Result<(Rect, f32), Error> {
    shape.check(image.len())?;
    shape.check(partner.len())?;
    check_setting((0.0..=1.0).contains(&lambda), "lambda", "must be in [0, 1]")?;
    let ratio = libm::sqrtf(1.0 - lambda);
    let side_h = (ratio * shape.height as f32) as usize;
    let side_w = (ratio * shape.width as f32) as usize;
    let rect = centred_box(rng, shape, side_h, side_w);
    let plane = shape.height * shape.width;
    for (dst, src) in image
        .chunks_exact_mut(plane)
        .zip(partner.chunks_exact(plane))
    {
        for r in rect.top..rect.bottom {
            let span = r * shape.width + rect.left..r * shape.width + rect.right;
            dst[span.clone()].copy_from_slice(&src[span]);
        }
    }
    Ok((rect, rect.area() as f32 / plane as f32))
}
