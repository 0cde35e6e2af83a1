//! The operands and epilogue of a GEMM, shared by the SIMD kernel
//! (`gemm.rs`) and the scalar one it hands targets without SIMD to
//! (`gemm_scalar.rs`), so neither imports the other's types.

/// A read in place: element `(r, k)` of an `m x k` matrix.
#[derive(Clone, Copy)]
pub(crate) enum AMat<'a> {
    /// At `data[r * ld + k]`.
    RowMajor { data: &'a [f32], ld: usize },
    /// At `data[k * ld + r]`.
    ColMajor { data: &'a [f32], ld: usize },
}

/// B, packed by panels: element `(k, n)` of a `k x n` matrix, optionally
/// multiplied by mask bit `index(k, n)` (the element's index in `data`).
#[derive(Clone, Copy)]
pub(crate) struct BMat<'a> {
    pub data: &'a [f32],
    pub ld: usize,
    /// Element `(k, n)` at `data[n * ld + k]` instead of `data[k * ld + n]`.
    pub transposed: bool,
    pub mask: Option<&'a [u8]>,
}

/// What happens to C after the product.
#[derive(Clone, Copy)]
pub(crate) struct Epilogue<'a> {
    /// Multiplies the product.
    pub alpha: f32,
    /// `Some(bias)` sets C to `bias + alpha*A·B` (bias per column, or zeros for
    /// an empty slice); `None` accumulates into C.
    pub overwrite_with_bias: Option<&'a [f32]>,
    /// Multiplies the product elementwise by mask bit `r * ldc + col`.
    pub mask: Option<&'a [u8]>,
    /// `max(., 0)` once the sum is complete (NaN stays NaN).
    pub relu: bool,
}
