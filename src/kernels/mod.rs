//! Stateless SIMD kernels: slices in, slices out, no validation beyond
//! `debug_assert!` (the layers validate once at the boundary).
//!
//! Every kernel sees whole vectors of 16 elements (`simd::LANES`); the
//! driver in `blocks` routes a slice's tail through a zero-padded stack vector,
//! so the tail takes the same code path and gives bit-identical results.

pub mod bernoulli;
pub(crate) mod blend;
pub(crate) mod blocks;
pub(crate) mod direct_conv;
pub(crate) mod dropout;
pub(crate) mod exp;
pub(crate) mod gemm;
pub(crate) mod gemm_scalar;
pub(crate) mod jitter;
pub(crate) mod matrix;
pub(crate) mod reduce;
pub(crate) mod region_pool;
pub(crate) mod resample;
pub(crate) mod update;
pub(crate) mod words;
