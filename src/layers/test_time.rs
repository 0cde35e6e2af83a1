//! Test-time augmentation: the eval half of crop-and-flip training. A
//! [`View`] is one crop of the image padded by `pad` zeros (offset `(dy,
//! dx)` in `[0, 2 pad]`, as [`crate::layers::augment::random_crop`] draws
//! it) and optionally mirrored, in the order training applies them (crop,
//! then flip). [`ten_crop`] is ResNet's 10-crop testing (the corners and the
//! centre of the padded image, each plain and mirrored); [`all_views`] is
//! every crop and flip training can draw, so the mean prediction over them
//! is the expectation over the training augmentation; [`random_view`]
//! samples one as training does. The trainer's `Trainer::predict_views` averages
//! the class probabilities over a list of views.

use core::num::NonZeroU32;

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::uniform_below;
use crate::error::Error;
use crate::layers::augment::{crop_at, flip_rows, ImageShape};

/// One test-time view of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Rows skipped at the top of the padded image (`<= 2 pad`).
    pub dy: u16,
    /// Columns skipped at the left (`<= 2 pad`).
    pub dx: u16,
    /// Mirrored left-right after the crop.
    pub flip: bool,
}

/// A view at `(dy, dx)`, mirrored or not.
const fn at(dy: u16, dx: u16, flip: bool) -> View {
    View { dy, dx, flip }
}

impl View {
    /// The image itself: the centre crop, not mirrored.
    pub const fn identity(pad: u16) -> View {
        View {
            dy: pad,
            dx: pad,
            flip: false,
        }
    }

    /// Writes the view of `image` (padded by `pad`) into `out`.
    pub fn apply(
        &self,
        shape: ImageShape,
        pad: u16,
        image: &[f32],
        out: &mut [f32],
    ) -> Result<(), Error> {
        crop_at(
            shape,
            pad as usize,
            (self.dy as usize, self.dx as usize),
            image,
            out,
        )?;
        if self.flip {
            flip_rows(shape, out)?;
        }
        Ok(())
    }
}

/// ResNet's 10-crop views of an image padded by `pad`: the four corners and
/// the centre, each plain then mirrored (the centre plain first: the image).
pub const fn ten_crop(pad: u16) -> [View; 10] {
    let far = pad.saturating_mul(2);
    [
        at(pad, pad, false),
        at(0, 0, false),
        at(0, far, false),
        at(far, 0, false),
        at(far, far, false),
        at(pad, pad, true),
        at(0, 0, true),
        at(0, far, true),
        at(far, 0, true),
        at(far, far, true),
    ]
}

/// Views [`all_views`] writes for `pad`: `2 (2 pad + 1)^2`.
pub const fn all_views_count(pad: u16) -> usize {
    let side = 2 * pad as usize + 1;
    2 * side * side
}

/// Every crop offset and flip that crop-and-flip training draws with `pad`,
/// each equally likely there, into `out` ([`all_views_count`] of them);
/// returns the count.
pub fn all_views(pad: u16, out: &mut [View]) -> Result<usize, Error> {
    let n = all_views_count(pad);
    if out.len() < n {
        return Err(Error::BufferTooSmall {
            needed: n,
            got: out.len(),
        });
    }
    let side = 2 * pad + 1;
    let mut i = 0;
    for flip in [false, true] {
        for dy in 0..side {
            for dx in 0..side {
                out[i] = View { dy, dx, flip };
                i += 1;
            }
        }
    }
    Ok(n)
}

/// One view drawn as training draws its crop and flip: offsets uniform in
/// `[0, 2 pad]` (rows, then columns), then a mirror with probability 1/2.
pub fn random_view(rng: &mut Xoshiro128PlusPlus, pad: u16) -> View {
    let bound = NonZeroU32::new(2 * pad as u32 + 1).unwrap_or(NonZeroU32::MIN);
    let dy = uniform_below(rng, bound) as u16;
    let dx = uniform_below(rng, bound) as u16;
    let flip = uniform_below(rng, NonZeroU32::MIN.saturating_add(1)) == 1;
    View { dy, dx, flip }
}
