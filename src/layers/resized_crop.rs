//! Random resized crops (Szegedy et al.'s "Inception" crops; torchvision's
//! `RandomResizedCrop`): a box of a random fraction of the image's area
//! (`scale`) and a random aspect ratio (log-uniform in `ratio`), at a uniform
//! place, resized back to the image's size by bilinear interpolation (train
//! only: eval sees the original image).
//!
//! Drawing follows torchvision's `get_params`: up to ten tries of an area
//! `H W u`, `u` uniform in `scale`, and a ratio `r = exp(v)`, `v` uniform in
//! `[ln ratio.0, ln ratio.1]`, giving `w = round(sqrt(area r))`, `h =
//! round(sqrt(area / r))`; the first box that fits is placed uniformly; if
//! none fits, the centre crop of the nearest allowed ratio. Resizing is
//! PyTorch's bilinear with `align_corners = False` (source `(d + 1/2) in /
//! out - 1/2`, clamped at 0). torchvision resizes with antialiasing, which
//! only changes shrinking; a crop of the image resized to the image's size
//! never shrinks, so the two agree.

use core::num::NonZeroU32;

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::{uniform01, uniform_below};
use crate::error::{check_setting, Error};
use crate::layers::augment::ImageShape;

/// A box of an image: rows `top..top + height`, columns `left..left + width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

/// Ranges of [`random_resized_crop`]: the fraction of the area in `(0, 1]`
/// and the aspect ratio (width over height), each `(low, high)` with
/// `low <= high`. torchvision's defaults: `(0.08, 1)` and `(3/4, 4/3)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResizedCrop {
    /// Fraction of the image's area.
    pub scale: (f32, f32),
    /// Width over height.
    pub ratio: (f32, f32),
}

impl ResizedCrop {
    /// torchvision's defaults.
    pub const DEFAULT: ResizedCrop = ResizedCrop {
        scale: (0.08, 1.0),
        ratio: (3.0 / 4.0, 4.0 / 3.0),
    };

    /// Refuses scales outside `(0, 1]`, ratios that are not finite and
    /// positive, and ranges whose low end is above the high one (NaN
    /// included).
    pub fn validate(&self) -> Result<(), Error> {
        let (s0, s1) = self.scale;
        let (r0, r1) = self.ratio;
        let scale = s0 > 0.0 && s0 <= s1 && s1 <= 1.0;
        check_setting(scale, "scale", "needs 0 < scale.0 <= scale.1 <= 1")?;
        let ratio = r0 > 0.0 && r0 <= r1 && r1.is_finite();
        check_setting(ratio, "ratio", "needs 0 < ratio.0 <= ratio.1, finite")?;
        Ok(())
    }
}

fn check_shape(shape: ImageShape, len: usize) -> Result<(), Error> {
    if shape.height == 0
        || shape.width == 0
        || shape.height > u16::MAX as usize
        || shape.width > u16::MAX as usize
    {
        return Err(Error::InvalidConfig {
            reason: "resized crops take images of 1 to 65535 rows and columns",
        });
    }
    if len != shape.len() {
        return Err(Error::LengthMismatch {
            expected: shape.len(),
            got: len,
        });
    }
    Ok(())
}

/// Draws a box as torchvision's `RandomResizedCrop.get_params` does (with
/// the crate's generator).
pub fn draw_crop_box(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    crop: &ResizedCrop,
) -> Result<CropBox, Error> {
    crop.validate()?;
    check_shape(shape, shape.len())?;
    let (height, width) = (shape.height, shape.width);
    let area = (height * width) as f32;
    let (log_lo, log_hi) = (libm::logf(crop.ratio.0), libm::logf(crop.ratio.1));
    let below = |rng: &mut Xoshiro128PlusPlus, n: usize| {
        uniform_below(rng, NonZeroU32::new(n as u32).unwrap_or(NonZeroU32::MIN)) as usize
    };
    for _ in 0..10 {
        let target = area * (crop.scale.0 + (crop.scale.1 - crop.scale.0) * uniform01(rng));
        let aspect = libm::expf(log_lo + (log_hi - log_lo) * uniform01(rng));
        let w = libm::roundf(libm::sqrtf(target * aspect)) as usize;
        let h = libm::roundf(libm::sqrtf(target / aspect)) as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = below(rng, height - h + 1);
            let left = below(rng, width - w + 1);
            return Ok(CropBox {
                top,
                left,
                height: h,
                width: w,
            });
        }
    }
    // The centre crop of the nearest allowed ratio.
    let in_ratio = width as f32 / height as f32;
    let (h, w) = if in_ratio < crop.ratio.0 {
        let h = libm::roundf(width as f32 / crop.ratio.0) as usize;
        (h.clamp(1, height), width)
    } else if in_ratio > crop.ratio.1 {
        let w = libm::roundf(height as f32 * crop.ratio.1) as usize;
        (height, w.clamp(1, width))
    } else {
        (height, width)
    };
    Ok(CropBox {
        top: (height - h) / 2,
        left: (width - w) / 2,
        height: h,
        width: w,
    })
}

/// One output index's bilinear source: the two input indices and the
/// weight of the second (PyTorch's `align_corners = False`).
fn source(d: usize, input: usize, output: usize) -> (usize, usize, f32) {
    let scale = input as f32 / output as f32;
    let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
    let i0 = (s as usize).min(input - 1);
    let i1 = (i0 + 1).min(input - 1);
    (i0, i1, s - i0 as f32)
}

/// The box `b` of every channel of `image`, resized to the image's size by
/// bilinear interpolation, into `out`.
pub fn resized_crop(
    shape: ImageShape,
    b: CropBox,
    image: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    check_shape(shape, image.len())?;
    check_shape(shape, out.len())?;
    let fits = |start: usize, len: usize, size: usize| {
        len > 0 && start.checked_add(len).is_some_and(|e| e <= size)
    };
    if !fits(b.top, b.height, shape.height) || !fits(b.left, b.width, shape.width) {
        return Err(Error::InvalidConfig {
            reason: "a crop box must be non-empty and inside the image",
        });
    }
    let (h, w) = (shape.height, shape.width);
    for (src, dst) in image.chunks_exact(h * w).zip(out.chunks_exact_mut(h * w)) {
        for r in 0..h {
            let (y0, y1, ly) = source(r, b.height, h);
            let (row0, row1) = ((b.top + y0) * w + b.left, (b.top + y1) * w + b.left);
            for c in 0..w {
                let (x0, x1, lx) = source(c, b.width, w);
                let top = src[row0 + x0] * (1.0 - lx) + src[row0 + x1] * lx;
                let bottom = src[row1 + x0] * (1.0 - lx) + src[row1 + x1] * lx;
                dst[r * w + c] = top * (1.0 - ly) + bottom * ly;
            }
        }
    }
    Ok(())
}

/// Draws a box ([`draw_crop_box`]) and resizes it into `out`; returns the
/// box. Everything is checked before the generator moves.
pub fn random_resized_crop(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    crop: &ResizedCrop,
    image: &[f32],
    out: &mut [f32],
) -> Result<CropBox, Error> {
    crop.validate()?;
    check_shape(shape, image.len())?;
    check_shape(shape, out.len())?;
    let b = draw_crop_box(rng, shape, crop)?;
    resized_crop(shape, b, image, out)?;
    Ok(b)
}
