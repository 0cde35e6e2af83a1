//! Size arithmetic, one rule for the whole crate. The `const fn` sizes
//! (`memory_len`, `weights_len`, ...) saturate: a size that overflows reads
//! `usize::MAX`, which no buffer can reach, so it is refused as too small,
//! or as [`Error::ShapeOverflow`] where [`fits`] checks it. Everything else
//! uses checked arithmetic.

use crate::error::Error;

/// `a * b`, saturating.
pub(crate) const fn mul(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

/// `a + b`, saturating.
pub(crate) const fn add(a: usize, b: usize) -> usize {
    a.saturating_add(b)
}

/// A saturated size is an overflow.
pub(crate) fn fits(n: usize) -> Result<usize, Error> {
    if n == usize::MAX {
        Err(Error::ShapeOverflow)
    } else {
        Ok(n)
    }
}

/// `a * b`, or [`Error::ShapeOverflow`].
pub(crate) fn checked_mul(a: usize, b: usize) -> Result<usize, Error> {
    a.checked_mul(b).ok_or(Error::ShapeOverflow)
}
