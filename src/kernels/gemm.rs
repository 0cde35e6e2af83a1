//! Register-blocked matrix multiply: `C = epilogue(alpha * A·B)`.
//!
//! B is packed, `GEMM_KC` rows by `NR = GEMM_NV * LANES` columns at a time, into
//! a caller-provided panel (zero-padded past the last column, so the microkernel
//! never sees a partial vector); a DropConnect mask is applied while packing. A
//! is read in place, row-major or column-major. The microkernel keeps an
//! `MR x NV` tile of accumulators in registers and does `MR * NV` fused
//! multiply-adds per depth step. The epilogue adds the bias or the previous
//! value of C, scales, masks and applies ReLU, and stores only valid columns.
//!
//! Loop order: depth blocks (outermost, so A's block stays in L2 while every B
//! panel of that block is used), then column panels (one packed panel in L1),
//! then row tiles.

use crate::simd::{
    bit_reverse4, f32s_from_bits, reduce16, transpose16, transpose8_halves, F32s, U32s, GEMM_KC,
    GEMM_MR, GEMM_NV, HAS_SIMD, LANES,
};

use super::bernoulli::{bits_to_lanes, mask_bit};
pub(crate) use super::matrix::{AMat, BMat, Epilogue};

pub(crate) const MR: usize = GEMM_MR;
pub(crate) const NV: usize = GEMM_NV;
pub(crate) const NR: usize = GEMM_NV * LANES;
pub(crate) const KC: usize = GEMM_KC;

/// Floats of packing scratch every GEMM here needs, whatever the shapes (none
/// on targets without SIMD, whose scalar kernels read the operands in place).
pub const GEMM_SCRATCH_LEN: usize = if HAS_SIMD { KC * NR } else { 0 };

/// 16 bits of a bit-packed mask starting at any bit offset (past the end: 0).
#[inline(always)]
pub(crate) fn bits_at(mask: &[u8], offset: usize) -> u16 {
    let byte = offset / 8;
    let mut word = [0u8; 4];
    let end = (byte + 3).min(mask.len());
    if byte < end {
        word[..end - byte].copy_from_slice(&mask[byte..end]);
    }
    (u32::from_le_bytes(word) >> (offset % 8)) as u16
}

/// 1.0 where mask bit `offset + lane` is set, 0.0 elsewhere.
#[inline(always)]
fn mask_factor(mask: &[u8], offset: usize) -> F32s {
    f32s_from_bits(bits_to_lanes(bits_at(mask, offset)) & U32s::splat(1.0f32.to_bits()))
}

/// `c[m x n] (ldc) = epilogue(alpha * A[m x k] · B[k x n])`. Shapes were checked by
/// the caller; `scratch` holds at least [`GEMM_SCRATCH_LEN`] floats.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: AMat<'_>,
    b: BMat<'_>,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
    epi: Epilogue<'_>,
) {
    debug_assert!(scratch.len() >= GEMM_SCRATCH_LEN);
    if m == 0 || n == 0 {
        return;
    }
    if !HAS_SIMD {
        return super::gemm_scalar::gemm(m, n, k, a, b, c, ldc, epi);
    }
    match swapped(m, n, a, b, epi) {
        Some((bt, at)) => blocked::<true>(n, m, k, bt, at, c, ldc, scratch, epi),
        None => blocked::<false>(m, n, k, a, b, c, ldc, scratch, epi),
    }
}

/// `B^T` and `A^T` as operands, when `C = (B^T · A^T)^T` is the cheaper way to
/// compute `A · B`: B stored transposed (the dense forward's `W^T`) is then
/// read in place and only A, the smaller, is packed. Packing transposes
/// 16 x 16 blocks, which a panel of `W^T` amortizes over only `m / MR` row
/// tiles; the price is transposing the tiles on the way out. Each element is
/// summed in the same order either way, so both give the same bits.
fn swapped<'a>(
    m: usize,
    n: usize,
    a: AMat<'a>,
    b: BMat<'a>,
    epi: Epilogue<'_>,
) -> Option<(AMat<'a>, BMat<'a>)> {
    match a {
        AMat::RowMajor { data, ld }
            if b.transposed && b.mask.is_none() && epi.mask.is_none() && NR <= m && m < n =>
        {
            let bt = AMat::RowMajor {
                data: b.data,
                ld: b.ld,
            };
            let at = BMat {
                data,
                ld,
                transposed: true,
                mask: None,
            };
            Some((bt, at))
        }
        _ => None,
    }
}

/// The blocked product `A · B` into C, or into C transposed (`TRANSPOSED_C`:
/// element `(r, j)` of the product goes to `c[j * ldc + r]`, and the
/// epilogue's bias is per row of the product).
#[allow(clippy::too_many_arguments)]
fn blocked<const TRANSPOSED_C: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: AMat<'_>,
    b: BMat<'_>,
    c: &mut [f32],
    ldc: usize,
    scratch: &mut [f32],
    epi: Epilogue<'_>,
) {
    let depth_blocks = k.div_ceil(KC).max(1);
    for kb in 0..depth_blocks {
        let k0 = kb * KC;
        let kc = KC.min(k - k0.min(k));
        let first = kb == 0;
        let last = kb + 1 == depth_blocks;
        for n0 in (0..n).step_by(NR) {
            let panel = &mut scratch[..kc * NR];
            pack_b(b, k0, kc, n0, n, panel);
            let panel = &*panel;
            let mut r0 = 0;
            while r0 < m {
                let rows = MR.min(m - r0);
                let ctx = TileCtx {
                    r0,
                    k0,
                    kc,
                    n0,
                    n,
                    ldc,
                    first,
                    last,
                };
                match rows {
                    MR => run_tile::<MR, TRANSPOSED_C>(a, panel, c, ctx, epi),
                    _ => run_partial_tile::<TRANSPOSED_C>(rows, a, panel, c, ctx, epi),
                }
                r0 += rows;
            }
        }
    }
}

/// Matrix-vector form of the forward for small batches: `c[r] =
/// epilogue(alpha * W·a[r])` with `W: (n, k)` row-major (masked by bit
/// `o * k + i`). No packing: every weight is loaded once per batch row and
/// multiplied into one of 16 accumulators (one per output), which
/// [`reduce16`] sums into one vector of 16 outputs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemv(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    w: &[f32],
    w_mask: Option<&[u8]>,
    c: &mut [f32],
    epi: Epilogue<'_>,
) {
    if !HAS_SIMD {
        let b = BMat {
            data: w,
            ld: k,
            transposed: true,
            mask: w_mask,
        };
        return super::gemm_scalar::gemm(m, n, k, AMat::RowMajor { data: a, ld: k }, b, c, n, epi);
    }
    let full = k / LANES * LANES;
    for r in 0..m {
        let x = &a[r * k..(r + 1) * k];
        let x_tail = load_partial(&x[full..]);
        for o0 in (0..n).step_by(LANES) {
            // Output o0 + bit_reverse4(s) in slot s; rows past n repeat row n - 1.
            // Built only where used: its slicing could panic, so the compiler
            // keeps it even when unused (a quarter of the batch-1 time).
            let rows = || -> [&[f32]; LANES] {
                core::array::from_fn(|s| {
                    let o = (o0 + bit_reverse4(s)).min(n - 1);
                    &w[o * k..(o + 1) * k]
                })
            };
            let acc = match w_mask {
                None if o0 + LANES <= n && k > 0 => {
                    dot16_rows(&w[o0 * k..(o0 + LANES) * k], k, x, x_tail)
                }
                None => dot16(&rows(), x, x_tail, |_, _, v| v),
                Some(mask) => dot16(&rows(), x, x_tail, |s, kk, v| {
                    let o = (o0 + bit_reverse4(s)).min(n - 1);
                    v * mask_factor(mask, o * k + kk)
                }),
            };
            let ctx = TileCtx {
                r0: r,
                k0: 0,
                kc: k,
                n0: o0,
                n,
                ldc: n,
                first: true,
                last: true,
            };
            store_vector(reduce16(acc), r, o0, c, ctx, epi);
        }
    }
}

/// [`dot16`] for 16 consecutive unmasked rows of `block` (`16 x k`), eight rows
/// at a time: eight independent accumulator chains hide the FMA latency, and
/// the rows are sliced once per group so the loads need few bounds checks. Row
/// `j` goes to slot `bit_reverse4(j)`.
#[inline(always)]
fn dot16_rows(block: &[f32], k: usize, x: &[f32], x_tail: F32s) -> [F32s; LANES] {
    let (first, second) = block.split_at(GROUP * k);
    // Both groups by name, not in a loop over an index: the sixteen sums then
    // stay in registers for the reduction instead of going through the stack.
    let low = dot8_rows(first, k, x, x_tail);
    let high = dot8_rows(second, k, x, x_tail);
    core::array::from_fn(|slot| {
        let row = bit_reverse4(slot);
        if row < GROUP {
            low[row]
        } else {
            high[row - GROUP]
        }
    })
}

/// Rows of a [`dot8_rows`] group: eight accumulator chains hide the FMA latency.
const GROUP: usize = 8;

/// Eight dot products of consecutive rows of `rows8` (`8 x k`) with `x`.
#[inline(always)]
fn dot8_rows(rows8: &[f32], k: usize, x: &[f32], x_tail: F32s) -> [F32s; GROUP] {
    let full = k / LANES * LANES;
    let rows: [&[f32]; GROUP] = core::array::from_fn(|j| &rows8[j * k..j * k + full]);
    let mut sums = [F32s::ZERO; GROUP];
    for (c, xc) in x[..full].chunks_exact(LANES).enumerate() {
        let xv = crate::simd::load_f32s(xc);
        let at = c * LANES;
        for (sum, row) in sums.iter_mut().zip(rows.iter()) {
            *sum = crate::simd::load_f32s(&row[at..at + LANES]).mul_add(xv, *sum);
        }
    }
    if full < k {
        for (j, sum) in sums.iter_mut().enumerate() {
            let row = &rows8[j * k..(j + 1) * k];
            *sum = load_partial(&row[full..]).mul_add(x_tail, *sum);
        }
    }
    sums
}

/// 16 dot products at once: `acc[s] = sum_i rows[s][i] * x[i]` as vectors of
/// partial sums; `weight(s, i, v)` may mask the weights.
#[inline(always)]
fn dot16(
    rows: &[&[f32]; LANES],
    x: &[f32],
    x_tail: F32s,
    weight: impl Fn(usize, usize, F32s) -> F32s,
) -> [F32s; LANES] {
    let k = x.len();
    let full = k / LANES * LANES;
    let mut acc = [F32s::ZERO; LANES];
    for (kk, xc) in x[..full]
        .chunks_exact(LANES)
        .enumerate()
        .map(|(i, c)| (i * LANES, c))
    {
        let xv = crate::simd::load_f32s(xc);
        for (s, (a, row)) in acc.iter_mut().zip(rows).enumerate() {
            let wv = crate::simd::load_f32s(&row[kk..kk + LANES]);
            *a = weight(s, kk, wv).mul_add(xv, *a);
        }
    }
    if full < k {
        for (s, (a, row)) in acc.iter_mut().zip(rows).enumerate() {
            *a = weight(s, full, load_partial(&row[full..])).mul_add(x_tail, *a);
        }
    }
    acc
}

#[derive(Clone, Copy)]
struct TileCtx {
    r0: usize,
    k0: usize,
    kc: usize,
    n0: usize,
    n: usize,
    ldc: usize,
    first: bool,
    last: bool,
}

/// Partial row tiles (fewer than MR rows): one instantiation per count.
fn run_partial_tile<const TRANSPOSED_C: bool>(
    rows: usize,
    a: AMat<'_>,
    panel: &[f32],
    c: &mut [f32],
    ctx: TileCtx,
    epi: Epilogue<'_>,
) {
    macro_rules! dispatch {
        ($($r:literal),*) => {
            match rows {
                $($r if $r < MR => run_tile::<$r, TRANSPOSED_C>(a, panel, c, ctx, epi),)*
                _ => unreachable_tile(),
            }
        };
    }
    dispatch!(1, 2, 3, 4, 5, 6, 7)
}

#[cold]
fn unreachable_tile() {
    debug_assert!(false, "row tile larger than MR");
}

#[inline(always)]
fn run_tile<const R: usize, const TRANSPOSED_C: bool>(
    a: AMat<'_>,
    panel: &[f32],
    c: &mut [f32],
    ctx: TileCtx,
    epi: Epilogue<'_>,
) {
    // A transposed C is the small one (the swap needs m < n) and stays in cache.
    if !TRANSPOSED_C && (!ctx.first || epi.overwrite_with_bias.is_none()) {
        touch_tile::<R>(c, ctx);
    }
    let acc = match a {
        AMat::RowMajor { data, ld } => {
            let rows: [&[f32]; R] = core::array::from_fn(|r| {
                let start = (ctx.r0 + r) * ld + ctx.k0;
                &data[start..start + ctx.kc]
            });
            microkernel::<R>(ctx.kc, panel, |k| core::array::from_fn(|r| rows[r][k]))
        }
        AMat::ColMajor { data, ld } => microkernel::<R>(ctx.kc, panel, |k| {
            let start = (ctx.k0 + k) * ld + ctx.r0;
            let col = &data[start..start + R];
            core::array::from_fn(|r| col[r])
        }),
    };
    if TRANSPOSED_C {
        store_tile_transposed::<R>(&acc, c, ctx, epi);
    } else {
        store_tile::<R>(&acc, c, ctx, epi);
    }
}

/// Loads one float of every cache line of the tile's C before the tile's
/// depth loop, so a miss (C of a large product, left by the last depth
/// block, is out of L2) resolves while the loop runs instead of at the
/// epilogue's loads: the safe stand-in for a prefetch (`_mm_prefetch` is
/// `unsafe`). `black_box` keeps the loads; they cost 4 x R scalar loads a
/// tile of 32 x R x kc multiply-adds.
#[inline(always)]
fn touch_tile<const R: usize>(c: &[f32], ctx: TileCtx) {
    let mut lines = [[[0.0f32; 2]; NV]; R];
    for (r, line) in lines.iter_mut().enumerate() {
        let row = (ctx.r0 + r) * ctx.ldc;
        for (v, ends) in line.iter_mut().enumerate() {
            let col = ctx.n0 + v * LANES;
            if col < ctx.n {
                // Both ends: a vector not aligned to 64 bytes spans two lines.
                let last = (col + LANES).min(ctx.n) - 1;
                *ends = [c[row + col], c[row + last]];
            }
        }
    }
    core::hint::black_box(lines);
}

/// The register tile: `acc[r][v] = sum_k A(r, k) * panel[k][v]`.
#[inline(always)]
fn microkernel<const R: usize>(
    kc: usize,
    panel: &[f32],
    a_column: impl Fn(usize) -> [f32; R],
) -> [[F32s; NV]; R] {
    let mut acc = [[F32s::ZERO; NV]; R];
    for (k, row) in panel[..kc * NR].chunks_exact(NR).enumerate() {
        let b: [F32s; NV] = core::array::from_fn(|v| crate::simd::load_f32s(&row[v * LANES..]));
        let a = a_column(k);
        for r in 0..R {
            let ar = F32s::splat(a[r]);
            for v in 0..NV {
                acc[r][v] = ar.mul_add(b[v], acc[r][v]);
            }
        }
    }
    acc
}

#[inline(always)]
fn store_tile<const R: usize>(
    acc: &[[F32s; NV]; R],
    c: &mut [f32],
    ctx: TileCtx,
    epi: Epilogue<'_>,
) {
    for (r, acc_row) in acc.iter().enumerate() {
        for (v, &sum) in acc_row.iter().enumerate() {
            let col = ctx.n0 + v * LANES;
            if col >= ctx.n {
                break;
            }
            store_vector(sum, ctx.r0 + r, col, c, ctx, epi);
        }
    }
}

/// [`store_tile`] into C transposed: product rows `r0..r0 + R` are C's
/// columns, product columns C's rows. Each vector of 16 product columns is
/// turned into 8 vectors of two C row pieces (R floats at `r0`) by
/// [`transpose8_halves`], then each piece gets the same epilogue as
/// [`store_vector`] gives an element.
#[inline(always)]
fn store_tile_transposed<const R: usize>(
    acc: &[[F32s; NV]; R],
    c: &mut [f32],
    ctx: TileCtx,
    epi: Epilogue<'_>,
) {
    const HALF: usize = LANES / 2;
    const { assert!(R <= HALF) };
    let bias = match (ctx.first, epi.overwrite_with_bias) {
        (true, Some(bias)) if !bias.is_empty() => {
            let piece = &bias[ctx.r0..ctx.r0 + R];
            Some(F32s::new(core::array::from_fn(|l| {
                piece.get(l % HALF).copied().unwrap_or(0.0)
            })))
        }
        (true, Some(_)) => Some(F32s::ZERO),
        _ => None,
    };
    let alpha = F32s::splat(epi.alpha);
    for (v, first_row) in (ctx.n0..ctx.n).step_by(LANES).take(NV).enumerate() {
        let rows_here = LANES.min(ctx.n - first_row);
        let rows: [F32s; HALF] =
            core::array::from_fn(|r| if r < R { acc[r][v] } else { F32s::ZERO });
        for (s, sum) in transpose8_halves(rows).into_iter().enumerate() {
            // Lanes 0..8: C row first_row + s; lanes 8..16: row first_row + s + 8.
            let at = [s, s + HALF].map(|row| (first_row + row) * ctx.ldc + ctx.r0);
            let present = [s < rows_here, s + HALF < rows_here];
            if !present[0] {
                break;
            }
            let product = sum * alpha;
            let prev = bias.unwrap_or_else(|| {
                let mut lanes = [0.0f32; LANES];
                for (half, (&at, &here)) in at.iter().zip(&present).enumerate() {
                    if here {
                        lanes[half * HALF..half * HALF + R].copy_from_slice(&c[at..at + R]);
                    }
                }
                F32s::new(lanes)
            });
            let mut out = prev + product;
            if epi.relu && ctx.last {
                out = out.simd_lt(F32s::ZERO).select(F32s::ZERO, out);
            }
            let lanes = out.as_array();
            for (half, (&at, &here)) in at.iter().zip(&present).enumerate() {
                if here {
                    c[at..at + R].copy_from_slice(&lanes[half * HALF..half * HALF + R]);
                }
            }
        }
    }
}

/// Writes `epilogue(sum)` to `c[row][col..]`, at most up to column `ctx.n`.
#[inline(always)]
fn store_vector(sum: F32s, row: usize, col: usize, c: &mut [f32], ctx: TileCtx, epi: Epilogue<'_>) {
    let valid = LANES.min(ctx.n - col);
    let mut product = sum * F32s::splat(epi.alpha);
    if let Some(mask) = epi.mask {
        let lanes = bits_to_lanes(bits_at(mask, row * ctx.ldc + col));
        product *= f32s_from_bits(lanes & U32s::splat(1.0f32.to_bits()));
    }
    let at = row * ctx.ldc + col;
    let dst = &mut c[at..at + valid];
    let prev = match (ctx.first, epi.overwrite_with_bias) {
        (true, Some([])) => F32s::ZERO,
        (true, Some(bias)) => load_partial(&bias[col..col + valid]),
        _ => load_partial(dst),
    };
    let mut out = prev + product;
    if epi.relu && ctx.last {
        out = out.simd_lt(F32s::ZERO).select(F32s::ZERO, out);
    }
    crate::simd::store_lanes(dst, out, valid);
}

/// The first `src.len() <= LANES` floats of a vector, zero past them; the
/// whole and the empty case need no copy through the stack.
#[inline(always)]
fn load_partial(src: &[f32]) -> F32s {
    if src.len() == LANES {
        crate::simd::load_f32s(src)
    } else if src.is_empty() {
        F32s::ZERO
    } else {
        let mut lanes = [0.0f32; LANES];
        lanes[..src.len()].copy_from_slice(src);
        F32s::new(lanes)
    }
}

/// Packs `B[k0..k0+kc][n0..n0+NR]` row by row into `panel`, zero past column `n`.
fn pack_b(b: BMat<'_>, k0: usize, kc: usize, n0: usize, n: usize, panel: &mut [f32]) {
    let width = NR.min(n - n0);
    if b.transposed {
        // 16 x 16 blocks: 16 storage rows of B (16 panel columns) by 16 depths,
        // loaded as vectors, masked, transposed in registers, stored as panel rows.
        for v in 0..NV {
            let first = n0 + v * LANES;
            if b.mask.is_none() && first + LANES <= n {
                pack_transposed_whole(b, k0, kc, first, v, panel);
                continue;
            }
            for kb in (0..kc).step_by(LANES) {
                let depth = LANES.min(kc - kb);
                let rows: [F32s; LANES] = core::array::from_fn(|j| {
                    let col = n0 + v * LANES + j;
                    if col >= n {
                        return F32s::ZERO;
                    }
                    let start = col * b.ld + k0 + kb;
                    let x = load_partial(&b.data[start..start + depth]);
                    match b.mask {
                        None => x,
                        Some(mask) => x * mask_factor(mask, start),
                    }
                });
                let cols = transpose16(rows);
                for (kk, col) in cols.iter().take(depth).enumerate() {
                    let at = (kb + kk) * NR + v * LANES;
                    crate::simd::store_f32s(&mut panel[at..at + LANES], *col);
                }
            }
        }
    } else {
        for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
            let start = (k0 + kk) * b.ld + n0;
            let src = &b.data[start..start + width];
            match b.mask {
                // A whole panel row is a fixed-size copy (vector moves), not a
                // `memcpy` call of a run-time length (9% of a dense backward).
                None if width == NR => dst.copy_from_slice(&src[..NR]),
                None => dst[..width].copy_from_slice(src),
                Some(mask) => {
                    for (j, (d, &x)) in dst[..width].iter_mut().zip(src).enumerate() {
                        *d = x * mask_bit(mask, start + j) as u32 as f32;
                    }
                }
            }
            dst[width..].fill(0.0);
        }
    }
}

/// [`pack_b`]'s transposed case for 16 columns that all exist, unmasked:
/// each storage row is sliced once, so the loads of whole blocks and their
/// stores into the panel need no per-row checks. Packing, checks included,
/// held a sixth of the GEMM's samples at (32, 256, 256), where a panel
/// serves only four row tiles.
#[inline(always)]
fn pack_transposed_whole(
    b: BMat<'_>,
    k0: usize,
    kc: usize,
    first: usize,
    v: usize,
    panel: &mut [f32],
) {
    let src: [&[f32]; LANES] = core::array::from_fn(|j| &b.data[(first + j) * b.ld + k0..][..kc]);
    let full = kc / LANES * LANES;
    for (kb, dst) in panel[..full * NR].chunks_exact_mut(LANES * NR).enumerate() {
        let at = kb * LANES;
        let rows: [F32s; LANES] =
            core::array::from_fn(|j| crate::simd::load_f32s(&src[j][at..at + LANES]));
        for (kk, col) in transpose16(rows).iter().enumerate() {
            crate::simd::store_f32s(&mut dst[kk * NR + v * LANES..][..LANES], *col);
        }
    }
    if full < kc {
        let rows: [F32s; LANES] = core::array::from_fn(|j| load_partial(&src[j][full..]));
        for (kk, col) in transpose16(rows).iter().take(kc - full).enumerate() {
            let at = (full + kk) * NR + v * LANES;
            crate::simd::store_f32s(&mut panel[at..at + LANES], *col);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_at_reads_across_bytes_and_past_the_end() {
        let mask = [0b1010_1010u8, 0b1111_0000, 0b0000_1111];
        assert_eq!(bits_at(&mask, 0), 0b1111_0000_1010_1010);
        assert_eq!(bits_at(&mask, 4), 0b1111_1111_0000_1010);
        assert_eq!(bits_at(&mask, 20), 0);
        assert_eq!(bits_at(&[], 0), 0);
    }
}
