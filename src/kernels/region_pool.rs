//! Max pooling over rectangular regions of one plane, on whole vectors: any
//! regions through column chunks (separable: each region row reduced across
//! its columns, then the rows folded in order), 2x2 stride-2 windows through
//! de-interleaving, and the same rule one element at a time on targets
//! without SIMD. `layers/pool/` checks the regions and the lengths first.

use crate::simd::{load_f32s, shuffle_pair, store_whole_or_lanes, F32s, U32s, HAS_SIMD, LANES};

/// A region of one axis: `len` elements from `start`.
pub type Region = (u16, u16);

/// Longest region side (an argmax offset fits a byte).
pub const MAX_REGION: usize = 16;

/// `planes` planes, `width` wide, of `plane_in` values in and `plane_out` out.
#[derive(Clone, Copy)]
pub(crate) struct PlaneShape {
    pub planes: usize,
    pub width: usize,
    pub plane_in: usize,
    pub plane_out: usize,
}

/// Whether `regions` are 2-wide windows with stride 2 from 0.
pub(crate) fn is_2x2(regions: &[Region]) -> bool {
    regions
        .iter()
        .enumerate()
        .all(|(i, &r)| r == ((2 * i) as u16, 2))
}

/// Max pooling of every plane over `rows x cols`: each output the first
/// maximum in row-major order (the first NaN beats everything), its offset
/// inside the region in `argmax` when `RECORD` (else `argmax` is empty and
/// nothing computes offsets: an eval forward has no backward to serve).
/// Lengths were checked by the caller.
pub(crate) fn max_pool_planes<const RECORD: bool>(
    shape: PlaneShape,
    rows: &[Region],
    cols: &[Region],
    input: &[f32],
    output: &mut [f32],
    argmax: &mut [u8],
) {
    let PlaneShape {
        planes,
        width,
        plane_in,
        plane_out,
    } = shape;
    if HAS_SIMD && is_2x2(rows) && is_2x2(cols) {
        for p in 0..planes {
            // The plane and all after it: a row's tail may load past the
            // plane's end and store spare lanes on the outputs after its
            // own, which later rows and planes overwrite.
            let x = &input[p * plane_in..];
            let y = &mut output[p * plane_out..];
            let arg = argmax_part::<RECORD, _>(argmax, p * plane_out..);
            max_pool_2x2_plane::<RECORD>(x, width, rows.len(), cols.len(), y, arg);
        }
        return;
    }
    if !HAS_SIMD {
        for p in 0..planes {
            let y = &mut output[p * plane_out..(p + 1) * plane_out];
            let arg = argmax_part::<RECORD, _>(argmax, p * plane_out..(p + 1) * plane_out);
            max_pool_plane_scalar::<RECORD>(&input[p * plane_in..], width, rows, cols, y, arg);
        }
        return;
    }
    // Up to CHUNKS column chunks are set up once, then run over every plane.
    const CHUNKS: usize = 4;
    let mut next = 0;
    while next < cols.len() {
        let mut chunks = [ColumnChunk::EMPTY; CHUNKS];
        let mut count = 0;
        while count < CHUNKS && next < cols.len() {
            chunks[count] = ColumnChunk::new(cols, next);
            next += chunks[count].n;
            count += 1;
        }
        for p in 0..planes {
            let y = &mut output[p * plane_out..(p + 1) * plane_out];
            let arg = argmax_part::<RECORD, _>(argmax, p * plane_out..(p + 1) * plane_out);
            for chunk in &chunks[..count] {
                chunk.max_pool::<RECORD>(input, p * plane_in, width, rows, cols.len(), y, arg);
            }
        }
    }
}

/// The argmaxes in `range`, or nothing when not recording.
#[inline(always)]
fn argmax_part<const RECORD: bool, R>(argmax: &mut [u8], range: R) -> &mut [u8]
where
    R: core::slice::SliceIndex<[u8], Output = [u8]>,
{
    if RECORD {
        &mut argmax[range]
    } else {
        &mut []
    }
}

/// Stores argmax offsets (exact small floats) into the first lanes' bytes:
/// one vector conversion to integers, then a truncating narrow per lane (a
/// saturating `f32 as u8` per lane cost about as much as the pooling itself).
#[inline(always)]
fn store_offsets(at: F32s, dst: &mut [u8]) {
    let ints = at.fast_trunc_int().to_array();
    for (d, &k) in dst.iter_mut().zip(&ints) {
        *d = k as u8;
    }
}

/// Whether the generic rule takes `v` over the current `best`: `best` is not
/// NaN and `v` is larger or NaN. Folding it left to right over a region gives
/// the first maximum in that order, with the first NaN beating everything.
#[inline(always)]
fn takes(best: F32s, v: F32s) -> F32s {
    !best.simd_ne(best) & (v.simd_gt(best) | v.simd_ne(v))
}

/// The generic rule one element at a time, for targets without SIMD.
fn max_pool_plane_scalar<const RECORD: bool>(
    x: &[f32],
    width: usize,
    rows: &[Region],
    cols: &[Region],
    y: &mut [f32],
    arg: &mut [u8],
) {
    for (i, &(r0, rl)) in rows.iter().enumerate() {
        for (j, &(c0, cl)) in cols.iter().enumerate() {
            let (mut best, mut at) = (f32::NEG_INFINITY, 0u8);
            let mut first = true;
            for dr in 0..rl as usize {
                let row = &x[(r0 as usize + dr) * width + c0 as usize..][..cl as usize];
                for (dc, &v) in row.iter().enumerate() {
                    if first || (!best.is_nan() && (v > best || v.is_nan())) {
                        best = v;
                        at = (dr * cl as usize + dc) as u8;
                        first = false;
                    }
                }
            }
            y[i * cols.len() + j] = best;
            if RECORD {
                arg[i * cols.len() + j] = at;
            }
        }
    }
}

/// Floats a [`ColumnChunk`] row spans: two vectors.
const SPAN: usize = 2 * LANES;

/// Up to 16 consecutive column regions pooled together, for any regions.
///
/// Max pooling is separable when both passes keep the first maximum: the first
/// maximum of a region in row-major order lies in the first of its rows whose
/// maximum is largest, at that row's first maximum. So each region row is
/// reduced across its columns first, then the rows are folded in order.
///
/// A chunk's regions all lie within [`SPAN`] floats of its first start, so a
/// chunk row is two vector loads, and candidate `k` of every region is one
/// two-vector shuffle (a region shorter than `k + 1` repeats its last element,
/// which the rule never takes: it ties). Argmax offsets ride along as exact
/// small floats.
#[derive(Clone, Copy)]
struct ColumnChunk {
    /// Index of the first region and number of regions (lanes used).
    first: usize,
    n: usize,
    /// Column of the first region's start: where the two loads begin.
    base: usize,
    /// Candidate `k` of lane `l` is element `picks[k][l]` of the loaded pair.
    picks: [U32s; MAX_REGION],
    /// Longest region: candidates to visit.
    most: usize,
    /// Region lengths, to turn (row, column) into an argmax offset.
    len: F32s,
}

impl ColumnChunk {
    const EMPTY: Self = Self {
        first: 0,
        n: 0,
        base: 0,
        picks: [U32s::ZERO; MAX_REGION],
        most: 0,
        len: F32s::ZERO,
    };

    /// The longest run of regions from `first` (at most 16) that fits the span.
    fn new(cols: &[Region], first: usize) -> Self {
        let base = cols[first].0 as usize;
        let n = cols[first..]
            .iter()
            .take(LANES)
            .take_while(|&&(c0, cl)| c0 as usize >= base && (c0 + cl) as usize <= base + SPAN)
            .count();
        let mut picks = [[0u32; LANES]; MAX_REGION];
        let mut len = [1.0f32; LANES];
        let mut most = 1;
        for (l, &(c0, cl)) in cols[first..first + n].iter().enumerate() {
            for (k, pick) in picks.iter_mut().enumerate() {
                pick[l] = (c0 as usize - base + k.min(cl as usize - 1)) as u32;
            }
            len[l] = cl as f32;
            most = most.max(cl as usize);
        }
        Self {
            first,
            n,
            base,
            picks: picks.map(U32s::new),
            most,
            len: F32s::new(len),
        }
    }

    /// Max of the row starting at `start` over each region's columns, and the
    /// column offset of that max.
    #[inline(always)]
    fn reduce_row(&self, input: &[f32], start: usize) -> (F32s, F32s) {
        let pair = if start + SPAN <= input.len() {
            [
                load_f32s(&input[start..]),
                load_f32s(&input[start + LANES..]),
            ]
        } else {
            // The last elements of the input: pad (the pad is never picked).
            let mut pad = [0.0f32; SPAN];
            pad[..input.len() - start].copy_from_slice(&input[start..]);
            [load_f32s(&pad), load_f32s(&pad[LANES..])]
        };
        let (mut best, mut at) = (shuffle_pair(pair, self.picks[0]), F32s::ZERO);
        for (k, &pick) in self.picks.iter().enumerate().take(self.most).skip(1) {
            let v = shuffle_pair(pair, pick);
            let take = takes(best, v);
            best = take.select(v, best);
            at = take.select(F32s::splat(k as f32), at);
        }
        (best, at)
    }

    /// Pools this chunk's columns of one plane over every row region.
    #[allow(clippy::too_many_arguments)]
    fn max_pool<const RECORD: bool>(
        &self,
        input: &[f32],
        plane_start: usize,
        width: usize,
        rows: &[Region],
        out_cols: usize,
        y: &mut [f32],
        arg: &mut [u8],
    ) {
        let row_start = |r: usize| plane_start + r * width + self.base;
        // Overlapping regions share a boundary row: keep the last reduction.
        let mut last: Option<(usize, (F32s, F32s))> = None;
        for (i, &(r0, rl)) in rows.iter().enumerate() {
            let (mut best, mut at) = (F32s::ZERO, F32s::ZERO);
            for dr in 0..rl as usize {
                let r = r0 as usize + dr;
                let (row_best, row_at) = match last {
                    Some((lr, reduced)) if lr == r => reduced,
                    _ => self.reduce_row(input, row_start(r)),
                };
                last = Some((r, (row_best, row_at)));
                let row_at = row_at + self.len * F32s::splat(dr as f32);
                if dr == 0 {
                    (best, at) = (row_best, row_at);
                } else {
                    let take = takes(best, row_best);
                    best = take.select(row_best, best);
                    at = take.select(row_at, at);
                }
            }
            let o = i * out_cols + self.first;
            y[o..o + self.n].copy_from_slice(&best.as_array()[..self.n]);
            if RECORD {
                store_offsets(at, &mut arg[o..o + self.n]);
            }
        }
    }
}

/// 2 x 2, stride 2 pooling of one plane: 16 outputs at a time from two pairs of
/// input vectors, de-interleaved into the four candidates of each window and
/// compared in row-major order with the same tie and NaN rules as the generic
/// loop (so the results are identical); the tail of a row the same way, from
/// a padded copy where the input ends (a scalar tail took 13% of the Fashion
/// CNN's step, whose rows have 14 and 7 outputs). `x`, `y` and `arg` start at
/// the plane and may run on past it (only the plane's part is meaningful).
fn max_pool_2x2_plane<const RECORD: bool>(
    x: &[f32],
    width: usize,
    out_rows: usize,
    out_cols: usize,
    y: &mut [f32],
    arg: &mut [u8],
) {
    const EVEN: [u32; LANES] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
    const ODD: [u32; LANES] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];
    let (even, odd) = (wide::u32x16::new(EVEN), wide::u32x16::new(ODD));
    let step = |best: F32s, at: F32s, v: F32s, k: f32| {
        let take = takes(best, v);
        (take.select(v, best), take.select(F32s::splat(k), at))
    };
    let full = out_cols / LANES * LANES;
    for i in 0..out_rows {
        let (r0, r1) = (&x[2 * i * width..], &x[(2 * i + 1) * width..]);
        for j in (0..full).step_by(LANES) {
            let top = [load_f32s(&r0[2 * j..]), load_f32s(&r0[2 * j + LANES..])];
            let bottom = [load_f32s(&r1[2 * j..]), load_f32s(&r1[2 * j + LANES..])];
            let (a, b) = (shuffle_pair(top, even), shuffle_pair(top, odd));
            let (c, d) = (shuffle_pair(bottom, even), shuffle_pair(bottom, odd));
            let (best, at) = step(a, F32s::ZERO, b, 1.0);
            let (best, at) = step(best, at, c, 2.0);
            let (best, at) = step(best, at, d, 3.0);
            y[i * out_cols + j..i * out_cols + j + LANES].copy_from_slice(best.as_array());
            if RECORD {
                store_offsets(at, &mut arg[i * out_cols + j..i * out_cols + j + LANES]);
            }
        }
        if full < out_cols {
            // The last outputs of the row (all of them when a row has fewer
            // than 16, as the CNN's 14 and 7 do): the same vectors, loaded
            // from a padded copy where the plane ends, the extra lanes
            // dropped.
            let (j, n) = (full, out_cols - full);
            let pair = |row: &[f32]| {
                let src = &row[2 * j..];
                if src.len() >= SPAN {
                    [load_f32s(src), load_f32s(&src[LANES..])]
                } else {
                    let mut pad = [0.0f32; SPAN];
                    pad[..src.len()].copy_from_slice(src);
                    [load_f32s(&pad), load_f32s(&pad[LANES..])]
                }
            };
            let (top, bottom) = (pair(r0), pair(r1));
            let (a, b) = (shuffle_pair(top, even), shuffle_pair(top, odd));
            let (c, d) = (shuffle_pair(bottom, even), shuffle_pair(bottom, odd));
            let (best, at) = step(a, F32s::ZERO, b, 1.0);
            let (best, at) = step(best, at, c, 2.0);
            let (best, at) = step(best, at, d, 3.0);
            let o = i * out_cols + j;
            // A whole vector where the outputs go on (storing `n` lanes
            // went through the stack and a `memcpy` call, 3% of the CNN step).
            store_whole_or_lanes(y, o, best, n);
            if RECORD {
                let len = if arg.len() >= o + LANES { LANES } else { n };
                store_offsets(at, &mut arg[o..o + len]);
            }
        }
    }
}

/// Backward of 2 x 2, stride 2 max pooling over every plane, for argmaxes
/// already checked to be below 4: one write-only pass that gives each input
/// element its window's gradient where the argmax points and zero elsewhere
/// (and zero where no window reaches), instead of zeroing the whole input
/// gradient and then adding into it (that took 12% of the Fashion CNN's
/// step). Each value is `g + 0.0`, as the add into zero gave: the same bits.
pub(crate) fn max_pool_2x2_backward(
    shape: PlaneShape,
    out_rows: usize,
    out_cols: usize,
    argmax: &[u8],
    grad_output: &[f32],
    grad_input: &mut [f32],
) {
    let PlaneShape {
        planes,
        width,
        plane_in,
        plane_out,
    } = shape;
    for p in 0..planes {
        let dx = &mut grad_input[p * plane_in..(p + 1) * plane_in];
        let (covered, rest) = dx.split_at_mut(2 * out_rows * width);
        rest.fill(0.0);
        let outs = p * plane_out..(p + 1) * plane_out;
        let (dy, arg) = (&grad_output[outs.clone()], &argmax[outs]);
        for ((pair, dy), arg) in covered
            .chunks_exact_mut(2 * width)
            .zip(dy.chunks_exact(out_cols))
            .zip(arg.chunks_exact(out_cols))
        {
            let (top, bottom) = pair.split_at_mut(width);
            top[2 * out_cols..].fill(0.0);
            bottom[2 * out_cols..].fill(0.0);
            let (top, bottom) = (&mut top[..2 * out_cols], &mut bottom[..2 * out_cols]);
            for (((t, b), &g), &a) in top
                .chunks_exact_mut(2)
                .zip(bottom.chunks_exact_mut(2))
                .zip(dy)
                .zip(arg)
            {
                let at = |k: u8| if a == k { g + 0.0 } else { 0.0 };
                t[0] = at(0);
                t[1] = at(1);
                b[0] = at(2);
                b[1] = at(3);
            }
        }
    }
}
