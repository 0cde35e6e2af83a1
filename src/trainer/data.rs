//! Image-classification data: the ICLS v1 format, shuffling, and mini-batches.
//!
//! ICLS (little-endian): a 32-byte header (`b"ICLS"`, version, count, rows,
//! cols, channels, classes, max_value), then `count` samples of `channels *
//! rows * cols` values (CHW planar), then `count` label bytes. Version 1
//! holds a byte per value, scaled to `[0, 1]` by `max_value` when gathered;
//! version 2 holds a little-endian `f32` per value (finite, taken as they
//! are; `max_value` is 1), for features that are not pixels (a CSV table, a
//! NumPy array of floats). The data stays borrowed (in flash on a
//! microcontroller; `f32` values are decoded from their bytes, so they need
//! no alignment); batches are gathered into caller-provided buffers.

use core::num::NonZeroU64;

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::uniform_below_u64;

use crate::error::Error;

/// How an ICLS file stores each value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// A byte, scaled by `1 / max_value` (version 1).
    U8,
    /// A little-endian `f32`, taken as it is (version 2).
    F32,
}

impl Dtype {
    /// Bytes of one value.
    pub const fn bytes(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }

    /// The ICLS version that stores this kind of value.
    pub const fn version(self) -> u32 {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 2,
        }
    }
}

/// A borrowed ICLS data set (version 1: bytes, version 2: `f32` values).
#[derive(Clone, Copy, Debug)]
pub struct Icls<'a> {
    /// Number of samples.
    pub count: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Channels (1 gray, 3 RGB).
    pub channels: usize,
    /// Number of classes; labels are below it.
    pub classes: usize,
    /// The largest possible pixel value (16 for digits, 255 otherwise; 1
    /// for `f32` values).
    pub max_value: u32,
    /// How each value is stored.
    pub dtype: Dtype,
    /// `count * features()` values of `dtype.bytes()` bytes, sample after
    /// sample.
    pub images: &'a [u8],
    /// `count` labels.
    pub labels: &'a [u8],
}

fn field(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
}

impl<'a> Icls<'a> {
    /// Parses and checks an ICLS file: magic, version (1 or 2), exact
    /// length, labels below `classes`, a non-zero `max_value` (1 for
    /// version 2), and finite values (version 2).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let bad = |reason| Err(Error::InvalidData { reason });
        if bytes.len() < 32 || &bytes[0..4] != b"ICLS" {
            return bad("not an ICLS file (magic)");
        }
        let dtype = match field(bytes, 4) {
            1 => Dtype::U8,
            2 => Dtype::F32,
            _ => return bad("unsupported ICLS version (this crate reads 1 and 2)"),
        };
        let (count, rows, cols, channels, classes) = (
            field(bytes, 8),
            field(bytes, 12),
            field(bytes, 16),
            field(bytes, 20),
            field(bytes, 24),
        );
        let max_value = field(bytes, 28) as u32;
        let features = rows
            .checked_mul(cols)
            .and_then(|p| p.checked_mul(channels))
            .ok_or(Error::ShapeOverflow)?;
        let expected = features
            .checked_mul(dtype.bytes())
            .and_then(|s| s.checked_add(1))
            .and_then(|s| s.checked_mul(count))
            .and_then(|s| s.checked_add(32))
            .ok_or(Error::ShapeOverflow)?;
        if bytes.len() != expected {
            return bad("file length does not match the header");
        }
        if max_value == 0 {
            return bad("max_value is zero");
        }
        if dtype == Dtype::F32 && max_value != 1 {
            return bad("an f32 ICLS file (version 2) has max_value 1");
        }
        let (images, labels) = bytes[32..].split_at(count * features * dtype.bytes());
        if labels.iter().any(|&l| l as usize >= classes) {
            return bad("a label is not below the class count");
        }
        if dtype == Dtype::F32 && !f32_values(images).all(f32::is_finite) {
            return bad("a value is NaN or infinite");
        }
        Ok(Icls {
            count,
            rows,
            cols,
            channels,
            classes,
            max_value,
            dtype,
            images,
            labels,
        })
    }

    /// Checks that the public fields agree with the slices (an `Icls` built
    /// by hand may not); returns the features per sample.
    fn check_consistent(&self) -> Result<usize, Error> {
        let f = self
            .rows
            .checked_mul(self.cols)
            .and_then(|p| p.checked_mul(self.channels))
            .ok_or(Error::ShapeOverflow)?;
        let images = self
            .count
            .checked_mul(f)
            .and_then(|v| v.checked_mul(self.dtype.bytes()))
            .ok_or(Error::ShapeOverflow)?;
        if self.images.len() != images || self.labels.len() != self.count || self.max_value == 0 {
            return Err(Error::InvalidData {
                reason: "an Icls whose fields disagree with its slices",
            });
        }
        Ok(f)
    }

    /// Samples `start..end` as a data set of their own (e.g. a validation split).
    pub fn slice(&self, start: usize, end: usize) -> Result<Self, Error> {
        self.check_consistent()?;
        if start > end || end > self.count {
            return Err(Error::IndexOutOfRange {
                index: end,
                len: self.count,
            });
        }
        let b = self.sample_bytes();
        Ok(Icls {
            count: end - start,
            images: &self.images[start * b..end * b],
            labels: &self.labels[start..end],
            ..*self
        })
    }

    /// Values per sample: `channels * rows * cols`.
    pub const fn features(&self) -> usize {
        crate::size::mul(crate::size::mul(self.channels, self.rows), self.cols)
    }

    /// Bytes per sample in `images`: the features times the value's size.
    pub const fn sample_bytes(&self) -> usize {
        crate::size::mul(self.features(), self.dtype.bytes())
    }

    /// The values of sample `i` (below `count`), as [`Icls::gather`] gives
    /// them: scaled bytes, or the `f32` values as they are.
    pub fn sample_values(&self, i: usize) -> impl Iterator<Item = f32> + '_ {
        let b = self.sample_bytes();
        let bytes = self.images.get(i * b..(i + 1) * b).unwrap_or(&[]);
        let scale = 1.0 / self.max_value as f32;
        let (u8s, f32s) = match self.dtype {
            Dtype::U8 => (bytes, &[][..]),
            Dtype::F32 => (&[][..], bytes),
        };
        u8s.iter()
            .map(move |&p| p as f32 * scale)
            .chain(f32_values(f32s))
    }

    /// Gathers the samples `indices` into `batch` (`indices.len() x features`,
    /// scaled to `[0, 1]` by `max_value`) and their labels into `labels`.
    pub fn gather(
        &self,
        indices: &[u32],
        batch: &mut [f32],
        labels: &mut [u32],
    ) -> Result<(), Error> {
        let f = self.check_consistent()?;
        let needed = indices.len().checked_mul(f).ok_or(Error::ShapeOverflow)?;
        if batch.len() != needed {
            return Err(Error::LengthMismatch {
                expected: needed,
                got: batch.len(),
            });
        }
        if labels.len() != indices.len() {
            return Err(Error::LengthMismatch {
                expected: indices.len(),
                got: labels.len(),
            });
        }
        if let Some(&i) = indices.iter().find(|&&i| i as usize >= self.count) {
            return Err(Error::IndexOutOfRange {
                index: i as usize,
                len: self.count,
            });
        }
        let (b, scale) = (self.sample_bytes(), 1.0 / self.max_value as f32);
        for ((&i, row), label) in indices
            .iter()
            .zip(batch.chunks_exact_mut(f.max(1)))
            .zip(labels.iter_mut())
        {
            let i = i as usize;
            let bytes = &self.images[i * b..(i + 1) * b];
            match self.dtype {
                Dtype::U8 => {
                    for (x, &p) in row.iter_mut().zip(bytes) {
                        *x = p as f32 * scale;
                    }
                }
                Dtype::F32 => {
                    for (x, v) in row.iter_mut().zip(f32_values(bytes)) {
                        *x = v;
                    }
                }
            }
            *label = self.labels[i] as u32;
        }
        Ok(())
    }
}

/// The little-endian `f32` values of `bytes` (a multiple of 4 long).
fn f32_values(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

pub use crate::distributions::uniform_below;

/// Fills `indices` with `0..len` in a uniformly random order (Fisher-Yates,
/// from the last position down), deterministic for a given generator state.
pub fn shuffled_indices(rng: &mut Xoshiro128PlusPlus, indices: &mut [u32]) {
    for (i, slot) in indices.iter_mut().enumerate() {
        *slot = i as u32;
    }
    shuffle(rng, indices);
}

/// Shuffles `items` in place (Fisher-Yates); any length (positions past
/// `2^32` draw 64-bit indices). Bounded but linear: one draw per item, zero-
/// sized items included (their swaps are free, their draws are not, so the
/// generator ends in the same state whatever `T` is); 2^32 items take about
/// a minute on a 2024 x86 core.
pub fn shuffle<T>(rng: &mut Xoshiro128PlusPlus, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        // i + 1 >= 2 and at most the length: never zero, never wraps.
        let bound = NonZeroU64::new(i as u64 + 1).unwrap_or(NonZeroU64::MIN);
        let j = uniform_below_u64(rng, bound) as usize;
        items.swap(i, j);
    }
}
