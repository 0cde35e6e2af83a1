//! Small rotations, translations, scalings and shears (torchvision's
//! `RandomAffine`, and `RandomRotation` as its rotation-only case): each
//! image is mapped by a random affine transform about its centre, sampled
//! back onto its own grid by nearest-neighbour or bilinear interpolation,
//! and the pixels that come from outside the image take a fill value (train
//! only: eval sees the original image).
//!
//! Drawing follows torchvision's `RandomAffine.get_params`: an angle uniform
//! in `degrees`; translations `round(u W tx)` and `round(u H ty)` (whole
//! pixels, ties to even like Python's `round`) with `u` uniform in `[-1,
//! 1)`; a scale uniform in `scale`; shears uniform in `shear_x` and
//! `shear_y` (degrees). Mapping follows `F.affine`: the inverse matrix of
//! `_get_inverse_affine_matrix` (rotation, scale and shears about the
//! centre, computed in `f64`; a positive angle turns the image clockwise as
//! displayed, rows going down, as `F.affine` does; `F.rotate` negates its
//! angle to turn counter-clockwise), applied to each
//! output pixel's centre, then `grid_sample` with `align_corners = False`:
//! nearest rounds half to even, bilinear weighs the four neighbours, and a
//! fill blends in as torchvision's `_apply_grid_transform` does (`out =
//! sampled * mask + (1 - mask) fill`, where `sampled` is the zero-padded
//! sample and `mask` the weight that fell inside the image). The source
//! coordinate is computed in pixels directly instead of through PyTorch's
//! normalized grid: the same map, up to `f32` rounding.
//!
//! The source coordinates, their rounding and bounds are computed 16 pixels
//! at a time (`kernels/resample.rs`); the loads are scalar (the map is not
//! separable, and `wide` has no gather), shared by the channels.

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::uniform01;
use crate::error::Error;
use crate::kernels::resample::{bilinear_taps, bilinear_values, nearest_sources, PixelMap};
use crate::layers::augment::ImageShape;
use crate::simd::LANES;

/// How an output pixel reads the input around its source point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// The nearest input pixel (torchvision's default for `RandomAffine`).
    Nearest,
    /// The four neighbours, weighted by distance.
    Bilinear,
}

/// Ranges [`draw_affine`] draws from, and how [`affine`] samples; each range
/// `(low, high)` with `low <= high`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomAffine {
    /// Rotation in degrees, clockwise as displayed (finite).
    pub degrees: (f32, f32),
    /// Largest translation as a fraction of the width and of the height, each
    /// in `[0, 1]`.
    pub translate: (f32, f32),
    /// Scale (positive, finite).
    pub scale: (f32, f32),
    /// Shear along x, in degrees, within `(-90, 90)`.
    pub shear_x: (f32, f32),
    /// Shear along y, in degrees, within `(-90, 90)`.
    pub shear_y: (f32, f32),
    /// Nearest or bilinear.
    pub interpolation: Interpolation,
    /// The value of pixels that come from outside the image (finite).
    pub fill: f32,
}

impl RandomAffine {
    /// No transform at all: every draw is the identity.
    pub const IDENTITY: RandomAffine = RandomAffine {
        degrees: (0.0, 0.0),
        translate: (0.0, 0.0),
        scale: (1.0, 1.0),
        shear_x: (0.0, 0.0),
        shear_y: (0.0, 0.0),
        interpolation: Interpolation::Nearest,
        fill: 0.0,
    };

    /// Rotations uniform in `[-degrees, degrees]` (`RandomRotation(degrees)`,
    /// whose direction does not matter for a symmetric range).
    pub const fn rotation(degrees: f32) -> Self {
        RandomAffine {
            degrees: (-degrees, degrees),
            ..Self::IDENTITY
        }
    }

    /// Refuses NaN or infinite values, ranges whose low end is above the
    /// high one, translations outside `[0, 1]`, scales that are not positive
    /// and shears at or beyond 90 degrees (where the shear is infinite).
    pub fn validate(&self) -> Result<(), Error> {
        let range = |(lo, hi): (f32, f32)| lo.is_finite() && hi.is_finite() && lo <= hi;
        let fraction = |t: f32| (0.0..=1.0).contains(&t);
        let shear = |s: (f32, f32)| range(s) && s.0 > -90.0 && s.1 < 90.0;
        let ok = range(self.degrees)
            && fraction(self.translate.0)
            && fraction(self.translate.1)
            && range(self.scale)
            && self.scale.0 > 0.0
            && shear(self.shear_x)
            && shear(self.shear_y)
            && self.fill.is_finite();
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidConfig {
                reason: "an affine transform needs finite ranges low <= high, translations in [0, 1], scales > 0, shears within (-90, 90) degrees and a finite fill",
            })
        }
    }
}

/// One draw of [`RandomAffine`]: what [`affine`] applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffineParams {
    /// Rotation in degrees, clockwise as displayed.
    pub angle: f32,
    /// Translation in whole pixels, right and down.
    pub translate: (i32, i32),
    /// Scale.
    pub scale: f32,
    /// Shears along x and y, in degrees.
    pub shear: (f32, f32),
}

impl AffineParams {
    /// The identity.
    pub const IDENTITY: AffineParams = AffineParams {
        angle: 0.0,
        translate: (0, 0),
        scale: 1.0,
        shear: (0.0, 0.0),
    };

    /// The inverse map from output to input, about the image's centre, as
    /// `[a, b, c, d, e, f]`: the source of the point `(x, y)` (relative to
    /// the centre) is `(a x + b y + c, d x + e y + f)`. torchvision's
    /// `_get_inverse_affine_matrix` with the centre at the image's centre.
    pub fn inverse_matrix(&self) -> [f64; 6] {
        let rot = (self.angle as f64).to_radians();
        let (sx, sy) = (
            (self.shear.0 as f64).to_radians(),
            (self.shear.1 as f64).to_radians(),
        );
        let (tx, ty) = (self.translate.0 as f64, self.translate.1 as f64);
        // Rotation times the shears, without the scale; its determinant is 1.
        let a = libm::cos(rot - sy) / libm::cos(sy);
        let b = -libm::cos(rot - sy) * libm::tan(sx) / libm::cos(sy) - libm::sin(rot);
        let c = libm::sin(rot - sy) / libm::cos(sy);
        let d = -libm::sin(rot - sy) * libm::tan(sx) / libm::cos(sy) + libm::cos(rot);
        let s = self.scale as f64;
        let mut m = [d / s, -b / s, 0.0, -c / s, a / s, 0.0];
        // Undo the translation before the rotation (the centre is 0 here).
        m[2] = m[0] * -tx + m[1] * -ty;
        m[5] = m[3] * -tx + m[4] * -ty;
        m
    }
}

fn check_shape(shape: ImageShape, len: usize) -> Result<(), Error> {
    let side = |n: usize| (1..=u16::MAX as usize).contains(&n);
    if shape.channels == 0 || !side(shape.height) || !side(shape.width) {
        return Err(Error::InvalidConfig {
            reason: "affine transforms take images of at least one channel and 1 to 65535 rows and columns",
        });
    }
    if shape.len() != len {
        return Err(Error::LengthMismatch {
            expected: shape.len(),
            got: len,
        });
    }
    Ok(())
}

/// Draws one transform from `ranges` for a `shape` image (five draws,
/// whatever the ranges). Bad ranges or shapes are refused before any draw.
pub fn draw_affine(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    ranges: &RandomAffine,
) -> Result<AffineParams, Error> {
    ranges.validate()?;
    check_shape(shape, shape.len())?;
    let mut uniform = |(lo, hi): (f32, f32)| {
        // In f64, so that a range as wide as f32 allows does not overflow.
        let (lo, hi) = (lo as f64, hi as f64);
        (lo + (hi - lo) * uniform01(rng) as f64).clamp(lo, hi) as f32
    };
    let angle = uniform(ranges.degrees);
    let max_dx = ranges.translate.0 * shape.width as f32;
    let max_dy = ranges.translate.1 * shape.height as f32;
    // Whole pixels, at most the image's size: the casts cannot overflow.
    let tx = libm::rintf(uniform((-max_dx, max_dx))) as i32;
    let ty = libm::rintf(uniform((-max_dy, max_dy))) as i32;
    let scale = uniform(ranges.scale);
    let shear = (uniform(ranges.shear_x), uniform(ranges.shear_y));
    Ok(AffineParams {
        angle,
        translate: (tx, ty),
        scale,
        shear,
    })
}

/// Maps `image` (`shape`) by `params` into `out`, reading with
/// `interpolation` and filling what comes from outside with `fill`. The
/// identity gives the image back bit for bit.
pub fn affine(
    shape: ImageShape,
    params: &AffineParams,
    interpolation: Interpolation,
    fill: f32,
    image: &[f32],
    out: &mut [f32],
) -> Result<(), Error> {
    check_shape(shape, image.len())?;
    check_shape(shape, out.len())?;
    let finite = params.angle.is_finite()
        && params.scale.is_finite()
        && params.scale > 0.0
        && params.shear.0.abs() < 90.0
        && params.shear.1.abs() < 90.0
        && fill.is_finite();
    if !finite {
        return Err(Error::InvalidConfig {
            reason: "an affine transform needs a finite angle, a positive finite scale, shears within (-90, 90) degrees and a finite fill",
        });
    }
    let map = PixelMap {
        m: params.inverse_matrix().map(|v| v as f32),
        width: shape.width,
        height: shape.height,
    };
    let (h, w) = (shape.height, shape.width);
    let plane = h * w;
    for i in 0..h {
        for col in (0..w).step_by(LANES) {
            let n = LANES.min(w - col);
            match interpolation {
                Interpolation::Nearest => {
                    let [cols, rows] = nearest_sources(&map, i, col);
                    for k in 0..n {
                        let at = i * w + col + k;
                        // Clamped so that the load is always in bounds; the
                        // fill replaces it outside (a select, not a branch).
                        let inside = cols[k] >= 0;
                        let src = if inside {
                            rows[k] as usize * w + cols[k] as usize
                        } else {
                            0
                        };
                        for c in 0..shape.channels {
                            let v = image[c * plane + src];
                            out[c * plane + at] = if inside { v } else { fill };
                        }
                    }
                }
                Interpolation::Bilinear => {
                    let taps = bilinear_taps(&map, i, col, n);
                    for c in 0..shape.channels {
                        let values =
                            bilinear_values(&taps, &image[c * plane..(c + 1) * plane], fill);
                        let at = c * plane + i * w + col;
                        out[at..at + n].copy_from_slice(&values[..n]);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Draws a transform from `ranges` and maps `image` by it into `out`; returns
/// the draw. Nothing is drawn or written on a refusal.
///
/// ```
/// use rand_core::SeedableRng;
/// use rand_xoshiro::Xoshiro128PlusPlus;
/// use tinyreg::layers::affine::{random_affine, RandomAffine};
/// use tinyreg::ImageShape;
/// let shape = ImageShape { channels: 1, height: 28, width: 28 };
/// let ranges = RandomAffine { translate: (0.1, 0.1), ..RandomAffine::rotation(10.0) };
/// let mut rng = Xoshiro128PlusPlus::seed_from_u64(0);
/// let (image, mut out) = (vec![0.5; 784], vec![0.0; 784]);
/// let drawn = random_affine(&mut rng, shape, &ranges, &image, &mut out).unwrap();
/// assert!(drawn.angle.abs() <= 10.0 && drawn.translate.0.abs() <= 3);
/// ```
pub fn random_affine(
    rng: &mut Xoshiro128PlusPlus,
    shape: ImageShape,
    ranges: &RandomAffine,
    image: &[f32],
    out: &mut [f32],
) -> Result<AffineParams, Error> {
    ranges.validate()?;
    check_shape(shape, image.len())?;
    check_shape(shape, out.len())?;
    let params = draw_affine(rng, shape, ranges)?;
    affine(
        shape,
        &params,
        ranges.interpolation,
        ranges.fill,
        image,
        out,
    )?;
    Ok(params)
}
