//! The dense kernels for targets without SIMD (Cortex-M, RISC-V), where 16-lane
//! vectors are arrays and packing only moves data: plain loops over the
//! operands in place, with four accumulators (or four columns) per pass so a
//! multiply-add costs a few instructions (two loads and a `vfma` on a
//! Cortex-M4F). Same contract as [`super::gemm::gemm`]; compiled on every
//! target so the host tests check it against the reference.

use super::bernoulli::mask_bit;
use super::matrix::{AMat, BMat, Epilogue};

/// Applies the epilogue to one output element: `c = prev + alpha * sum (* mask)`,
/// then ReLU.
#[inline(always)]
fn finish(sum: f32, c: &mut f32, col: usize, index: usize, epi: &Epilogue<'_>) {
    let mut product = sum * epi.alpha;
    if let Some(mask) = epi.mask {
        product *= mask_bit(mask, index) as u32 as f32;
    }
    let prev = match epi.overwrite_with_bias {
        Some([]) => 0.0,
        Some(bias) => bias[col],
        None => *c,
    };
    let out = prev + product;
    *c = if epi.relu && out < 0.0 { 0.0 } else { out };
}

/// [`finish`] for four neighbouring outputs of one row, starting at column
/// `col`, without an output mask (the forward's case): one bounds check and
/// one look at the epilogue for the four.
#[inline(always)]
fn finish4(sums: &[f32; 4], c: &mut [f32], col: usize, epi: &Epilogue<'_>) {
    let prev: [f32; 4] = match epi.overwrite_with_bias {
        Some([]) => [0.0; 4],
        Some(bias) => core::array::from_fn(|t| bias[col + t]),
        None => core::array::from_fn(|t| c[t]),
    };
    for ((c, &sum), prev) in c.iter_mut().zip(sums).zip(prev) {
        let out = prev + sum * epi.alpha;
        *c = if epi.relu && out < 0.0 { 0.0 } else { out };
    }
}

/// `c[m x n] (ldc) = epilogue(alpha * A[m x k] · B[k x n])`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: AMat<'_>,
    b: BMat<'_>,
    c: &mut [f32],
    ldc: usize,
    epi: Epilogue<'_>,
) {
    match (a, b.transposed) {
        // Dot products: row r of A against storage row j of B, both
        // contiguous; without a mask, two rows of A against four of B at a
        // time (then one), so that each load feeds two or four multiply-adds
        // (four rows of A spilled registers on the Cortex-M4F: 3.02
        // instructions per multiply-add against 2.70).
        (AMat::RowMajor { data, ld }, true) if b.mask.is_none() && epi.mask.is_none() => {
            let mut r = 0;
            while r + 2 <= m {
                dot_rows::<2>(r, n, k, (data, ld), b, (c, ldc), &epi);
                r += 2;
            }
            if r < m {
                dot_rows::<1>(r, n, k, (data, ld), b, (c, ldc), &epi);
            }
        }
        (AMat::RowMajor { data, ld }, true) => {
            for r in 0..m {
                let x = &data[r * ld..r * ld + k];
                for j in 0..n {
                    let w = &b.data[j * b.ld..j * b.ld + k];
                    let sum = match b.mask {
                        None => dot(x, w),
                        Some(mask) => {
                            x.iter().zip(w).enumerate().fold(0.0, |s, (i, (&xi, &wi))| {
                                s + xi * (wi * mask_bit(mask, j * b.ld + i) as u32 as f32)
                            })
                        }
                    };
                    finish(sum, &mut c[r * ldc + j], j, r * ldc + j, &epi);
                }
            }
        }
        // Row updates: c_row += A(r, k) * B_row(k), in blocks of columns
        // accumulated on the stack.
        (a, _) => {
            const BLOCK: usize = 64;
            for r in 0..m {
                for n0 in (0..n).step_by(BLOCK) {
                    let width = BLOCK.min(n - n0);
                    let mut acc = [0.0f32; BLOCK];
                    for kk in 0..k {
                        let coef = match a {
                            AMat::RowMajor { data, ld } => data[r * ld + kk],
                            AMat::ColMajor { data, ld } => data[kk * ld + r],
                        };
                        let acc = &mut acc[..width];
                        if b.transposed {
                            for (j, s) in acc.iter_mut().enumerate() {
                                let at = (n0 + j) * b.ld + kk;
                                let w = b.data[at]
                                    * b.mask.map_or(1.0, |m| mask_bit(m, at) as u32 as f32);
                                *s += coef * w;
                            }
                        } else {
                            let start = kk * b.ld + n0;
                            let row = &b.data[start..start + width];
                            match b.mask {
                                None => axpy(coef, row, acc),
                                Some(mask) => {
                                    for (j, (s, &w)) in acc.iter_mut().zip(row).enumerate() {
                                        *s += coef * (w * mask_bit(mask, start + j) as u32 as f32);
                                    }
                                }
                            }
                        }
                    }
                    for (j, &sum) in acc[..width].iter().enumerate() {
                        let col = n0 + j;
                        finish(sum, &mut c[r * ldc + col], col, r * ldc + col, &epi);
                    }
                }
            }
        }
    }
}

/// `sum_i x_i w_i` with four independent accumulators.
#[inline(always)]
fn dot(x: &[f32], w: &[f32]) -> f32 {
    let mut s = [0.0f32; 4];
    let mut xs = x.chunks_exact(4);
    let mut ws = w.chunks_exact(4);
    for (xc, wc) in (&mut xs).zip(&mut ws) {
        s[0] += xc[0] * wc[0];
        s[1] += xc[1] * wc[1];
        s[2] += xc[2] * wc[2];
        s[3] += xc[3] * wc[3];
    }
    let tail: f32 = xs
        .remainder()
        .iter()
        .zip(ws.remainder())
        .map(|(a, b)| a * b)
        .sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// Rows `r..r + R` of `C = A B^T` (A row-major, B transposed, no mask):
/// four columns at a time through [`dot_rx4`], then one at a time.
#[inline(always)]
fn dot_rows<const R: usize>(
    r: usize,
    n: usize,
    k: usize,
    (data, ld): (&[f32], usize),
    b: BMat<'_>,
    (c, ldc): (&mut [f32], usize),
    epi: &Epilogue<'_>,
) {
    let x: [&[f32]; R] = core::array::from_fn(|dr| &data[(r + dr) * ld..(r + dr) * ld + k]);
    let quads = n / 4 * 4;
    for j in (0..quads).step_by(4) {
        let w = core::array::from_fn(|t| &b.data[(j + t) * b.ld..(j + t) * b.ld + k]);
        for (dr, row) in dot_rx4(x, w).iter().enumerate() {
            let at = (r + dr) * ldc + j;
            finish4(row, &mut c[at..at + 4], j, epi);
        }
    }
    for j in quads..n {
        let w = &b.data[j * b.ld..j * b.ld + k];
        for (dr, x) in x.iter().enumerate() {
            let at = (r + dr) * ldc + j;
            finish(dot(x, w), &mut c[at], j, at, epi);
        }
    }
}

/// The `R x 4` dot products of `R` rows `x` with four rows `w` (all of one
/// length): each `x` value loaded once for four multiply-adds, each `w`
/// value once for `R`: with `R = 2`, 0.75 loads per multiply-add beside its
/// `vmla` on a Cortex-M4F.
#[inline(always)]
fn dot_rx4<const R: usize>(x: [&[f32]; R], w: [&[f32]; 4]) -> [[f32; 4]; R] {
    let k = w[0].len();
    // Four steps of k at a time, as whole arrays: the loads take immediate
    // offsets from six pointers (left to itself, the compiler kept the loop
    // rolled and spent 3.75 instructions per multiply-add on the M4F).
    // (`as_chunks`, Rust 1.88, is why that is the minimum version: chunk
    // iterators cost 2.98 instructions per multiply-add.)
    let quads = k / 4;
    let xq = x.map(|row| &row[..k].as_chunks::<4>().0[..quads]);
    let wq = w.map(|row| &row[..k].as_chunks::<4>().0[..quads]);
    let mut acc = [[0.0f32; 4]; R];
    for q in 0..quads {
        let b = [wq[0][q], wq[1][q], wq[2][q], wq[3][q]];
        for (acc, x) in acc.iter_mut().zip(&xq) {
            let a = x[q];
            for u in 0..4 {
                for t in 0..4 {
                    acc[t] += a[u] * b[t][u];
                }
            }
        }
    }
    for i in quads * 4..k {
        let b = [w[0][i], w[1][i], w[2][i], w[3][i]];
        for (acc, x) in acc.iter_mut().zip(&x) {
            let a = x[i];
            for t in 0..4 {
                acc[t] += a * b[t];
            }
        }
    }
    acc
}

/// `acc += coef * row`.
#[inline(always)]
fn axpy(coef: f32, row: &[f32], acc: &mut [f32]) {
    for (s, &w) in acc.iter_mut().zip(row) {
        *s += coef * w;
    }
}

#[cfg(test)]
mod tests {
    use super::super::gemm::{gemm as gemm_simd, GEMM_SCRATCH_LEN};
    use super::*;

    fn values(len: usize, seed: u32) -> [f32; 4096] {
        let mut out = [0.0f32; 4096];
        let mut s = seed | 1;
        for v in out.iter_mut().take(len) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            *v = (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        }
        out
    }

    /// Both sides are within (k + 2) roundings of the exact value, relative to
    /// the sum of |terms|: at most k * 0.25 * |alpha| (values in [-0.5, 0.5),
    /// alpha <= 2) plus the bias or previous value (< 1).
    fn close(a: &[f32], b: &[f32], k: usize) {
        let magnitude = k as f32 * 0.5 + 1.0;
        for (x, y) in a.iter().zip(b) {
            assert!(
                (x - y).abs() <= (2 * k + 4) as f32 * 6e-8 * magnitude,
                "{x} vs {y}"
            );
        }
    }

    /// The scalar kernels agree with the SIMD ones (themselves checked against
    /// the f64 reference) for the three shapes the dense layer uses: forward
    /// (B transposed, bias, ReLU, DropConnect mask), dW (A column-major,
    /// accumulate, output mask) and dx (B row-major, masked).
    #[test]
    fn gemm_scalar_matches_the_simd_kernels() {
        let mask = [0b1011_0110u8; 512];
        for (m, n, k) in [
            (1usize, 1usize, 1usize),
            (3, 17, 5),
            (8, 33, 64),
            (5, 70, 19),
            (2, 3, 0),
        ] {
            let a = values(m * k, 1);
            let b = values(n * k, 2);
            let bias = values(n, 3);
            let mut scratch = [0.0f32; GEMM_SCRATCH_LEN];
            for (masked, relu) in [(false, false), (true, true)] {
                let bm = BMat {
                    data: &b[..n * k],
                    ld: k,
                    transposed: true,
                    mask: masked.then_some(&mask[..]),
                };
                let epi = Epilogue {
                    alpha: 1.25,
                    overwrite_with_bias: Some(&bias[..n]),
                    mask: None,
                    relu,
                };
                let (mut c1, mut c2) = ([0.0f32; 4096], [0.0f32; 4096]);
                gemm(
                    m,
                    n,
                    k,
                    AMat::RowMajor {
                        data: &a[..m * k],
                        ld: k,
                    },
                    bm,
                    &mut c1[..m * n],
                    n,
                    epi,
                );
                gemm_simd(
                    m,
                    n,
                    k,
                    AMat::RowMajor {
                        data: &a[..m * k],
                        ld: k,
                    },
                    bm,
                    &mut c2[..m * n],
                    n,
                    &mut scratch,
                    epi,
                );
                close(&c1[..m * n], &c2[..m * n], k);
            }
            // dW-like: A = (k x m) read column-major, B row-major (k x n), accumulate, output mask.
            let at = values(k * m, 4);
            let bm = BMat {
                data: &b[..k * n],
                ld: n,
                transposed: false,
                mask: None,
            };
            let epi = Epilogue {
                alpha: 0.5,
                overwrite_with_bias: None,
                mask: Some(&mask),
                relu: false,
            };
            let (mut c1, mut c2) = (values(m * n, 5), values(m * n, 5));
            gemm(
                m,
                n,
                k,
                AMat::ColMajor {
                    data: &at[..k * m],
                    ld: m,
                },
                bm,
                &mut c1[..m * n],
                n,
                epi,
            );
            gemm_simd(
                m,
                n,
                k,
                AMat::ColMajor {
                    data: &at[..k * m],
                    ld: m,
                },
                bm,
                &mut c2[..m * n],
                n,
                &mut scratch,
                epi,
            );
            close(&c1[..m * n], &c2[..m * n], k);
            // dx-like: B row-major with a weight mask, overwrite.
            let bm = BMat {
                data: &b[..k * n],
                ld: n,
                transposed: false,
                mask: Some(&mask),
            };
            let epi = Epilogue {
                alpha: 2.0,
                overwrite_with_bias: Some(&[]),
                mask: None,
                relu: false,
            };
            let (mut c1, mut c2) = ([0.0f32; 4096], [0.0f32; 4096]);
            gemm(
                m,
                n,
                k,
                AMat::RowMajor {
                    data: &a[..m * k],
                    ld: k,
                },
                bm,
                &mut c1[..m * n],
                n,
                epi,
            );
            gemm_simd(
                m,
                n,
                k,
                AMat::RowMajor {
                    data: &a[..m * k],
                    ld: k,
                },
                bm,
                &mut c2[..m * n],
                n,
                &mut scratch,
                epi,
            );
            close(&c1[..m * n], &c2[..m * n], k);
        }
    }
}
