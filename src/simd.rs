//! The one module that names SIMD types.
//!
//! Every kernel works on [`F32s`] and [`U32s`] vectors of [`LANES`] elements.
//! `wide` picks the machine registers at compile time: one `zmm` register with
//! AVX-512F, two `ymm` with AVX2, four `xmm` with SSE2 or NEON, and plain arrays on
//! targets without SIMD (Cortex-M, RISC-V). The logical width stays 16 everywhere,
//! which is what makes a mask depend on the seed alone and not on the target: the
//! 16 lanes of [`U32s`] are the 16 random streams of [`crate::MaskRng`].

/// Vector of [`LANES`] `f32`.
pub type F32s = wide::f32x16;
/// Vector of [`LANES`] `u32`.
pub type U32s = wide::u32x16;

/// Elements per vector; also the number of random streams (see [`crate::STREAMS`]).
pub const LANES: usize = 16;

/// Loads [`LANES`] floats from the start of `src` (which must hold at least that many).
#[inline(always)]
pub(crate) fn load_f32s(src: &[f32]) -> F32s {
    let mut lanes = [0.0f32; LANES];
    lanes.copy_from_slice(&src[..LANES]);
    F32s::new(lanes)
}

/// Stores a vector into the first [`LANES`] floats of `dst`.
#[inline(always)]
pub(crate) fn store_f32s(dst: &mut [f32], v: F32s) {
    dst[..LANES].copy_from_slice(v.as_array());
}

/// Reinterprets the bits of an integer vector as floats.
#[inline(always)]
pub(crate) fn f32s_from_bits(v: U32s) -> F32s {
    wide::bytemuck::cast(v)
}
