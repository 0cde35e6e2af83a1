//! The float arena seen as other words: masks and argmaxes are stored as
//! bytes, labels and region bounds as `u32`s, in `f32` regions of the
//! trainer's one buffer. The one place that reinterprets them.

use wide::bytemuck;

/// The bytes of `words`.
pub(crate) fn bytes(words: &[f32]) -> &[u8] {
    bytemuck::cast_slice(words)
}

/// [`bytes`], writable.
pub(crate) fn bytes_mut(words: &mut [f32]) -> &mut [u8] {
    bytemuck::cast_slice_mut(words)
}

/// `words` as `u32`s.
pub(crate) fn u32s(words: &[f32]) -> &[u32] {
    bytemuck::cast_slice(words)
}

/// [`u32s`], writable.
pub(crate) fn u32s_mut(words: &mut [f32]) -> &mut [u32] {
    bytemuck::cast_slice_mut(words)
}
