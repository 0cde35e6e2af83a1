//! The direct stride-1 convolution's inner loops: [`DIRECT_OC`] output
//! channels x one vector of output positions accumulate in registers, tap by
//! tap, from a copy of the sample laid out for them ([`InputLayout`]) and
//! weights packed block by block (`layers/conv.rs` prepares both).

use crate::simd::{
    load_f32s, store_f32s, store_whole_or_lanes, transpose16, F32s, HAS_SIMD, LANES,
};

/// Output channels the direct forward accumulates at once: 8 x 16 floats fill
/// 8 of AVX-512's 32 registers (two or four times that on narrower SIMD).
pub(crate) const DIRECT_OC: usize = if cfg!(target_feature = "avx512f") {
    8
} else {
    4
};

/// Whether the direct kernel runs here (it needs SIMD).
pub(crate) const DIRECT_AVAILABLE: bool = HAS_SIMD;

/// Floats the input copy needs past its end: loads run up to a vector past
/// a row (those lanes are never stored).
pub(crate) const LOAD_SLACK: usize = LANES;

/// How one sample's input is laid out for the direct kernels.
#[derive(Clone, Copy)]
pub(crate) enum InputLayout {
    /// Each channel inside a zero border: `plane` floats of rows `width`
    /// wide. Vectors run along output rows, so a row of 14 fills 14 of 16
    /// lanes.
    Padded { width: usize, plane: usize },
    /// For a convolution whose output is as wide as its input, each channel
    /// as `k` copies (`plane` floats each, rows as wide as the output): copy
    /// `kx` holds the padded input shifted left by `kx` columns, so tap `(ky,
    /// kx)` of output position `q` (rows flattened) is float `q + ky * width`
    /// of copy `kx`. Vectors run over the flattened plane: a 14 x 14 plane
    /// takes 13 vectors instead of 14 rows of one.
    Shifted { plane: usize },
}

/// Whether [`InputLayout::Shifted`] pays for a "same" convolution of rows
/// `width` wide: when the rows do not fill whole vectors (it copies each
/// channel `k` times instead of once).
pub(crate) const fn shifted_layout_pays(width: usize) -> bool {
    !width.is_multiple_of(LANES)
}

/// The shape of one sample's direct convolution.
pub(crate) struct DirectShape {
    pub in_channels: usize,
    pub out_channels: usize,
    pub k: usize,
    pub out_height: usize,
    pub out_width: usize,
    pub input: InputLayout,
}

/// What one sample's direct convolution reads.
#[derive(Clone, Copy)]
pub(crate) struct DirectOperands<'a> {
    /// The sample in the shape's [`InputLayout`] (plus [`LOAD_SLACK`]).
    pub input: &'a [f32],
    /// Weights of each block of [`DIRECT_OC`] channels tap by tap, its
    /// channels side by side; the channels after the last block as they are.
    pub packed: &'a [f32],
    /// Added to each output channel (none: zero).
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
}

/// Every output channel of one sample into `y` (`out_channels x out_height
/// x out_width`). Common kernel sides are constants, so the tap loops unroll.
pub(crate) fn direct_conv_sample(shape: &DirectShape, operands: DirectOperands<'_>, y: &mut [f32]) {
    match shape.k {
        1 => direct_blocks(1, shape, operands, y),
        3 => direct_blocks(3, shape, operands, y),
        5 => direct_blocks(5, shape, operands, y),
        k => direct_blocks(k, shape, operands, y),
    }
}

/// Every output channel, [`DIRECT_OC`] at a time.
#[inline(always)]
fn direct_blocks(k: usize, shape: &DirectShape, operands: DirectOperands<'_>, y: &mut [f32]) {
    let patch = shape.in_channels * k * k;
    let full = shape.out_channels / DIRECT_OC * DIRECT_OC;
    for oc in (0..full).step_by(DIRECT_OC) {
        let block = &operands.packed[oc * patch..][..DIRECT_OC * patch];
        direct_block::<DIRECT_OC>(k, oc, shape, block, operands, y);
    }
    for oc in full..shape.out_channels {
        let block = &operands.packed[oc * patch..][..patch];
        direct_block::<1>(k, oc, shape, block, operands, y);
    }
}

/// Vectors of output positions [`direct_tile`] computes together: where the
/// first starts in the output plane and in the input, how far apart they
/// are in each, and how many lanes of each are real.
#[derive(Clone, Copy)]
struct Tile {
    out_at: usize,
    in_at: usize,
    out_step: usize,
    in_step: usize,
    valid: usize,
}

/// Floats between an input's taps in an [`InputLayout`]: from one input
/// channel, kernel row and kernel column to the next.
#[derive(Clone, Copy)]
struct TapStrides {
    channel: usize,
    ky: usize,
    kx: usize,
}

/// Output channels `oc..oc + N`, from their packed weights `packed`: three
/// vectors of positions at a time, then two (`3N` or `2N` accumulators
/// sharing each weight broadcast), then one. Padded: the vectors are one
/// column tile of consecutive output rows. Shifted: consecutive vectors of
/// the flattened plane, the last moved back to end where the plane ends.
#[inline(always)]
fn direct_block<const N: usize>(
    k: usize,
    oc: usize,
    shape: &DirectShape,
    packed: &[f32],
    operands: DirectOperands<'_>,
    y: &mut [f32],
) {
    let (oh, ow) = (shape.out_height, shape.out_width);
    match shape.input {
        InputLayout::Padded { width, plane } => {
            let strides = TapStrides {
                channel: plane,
                ky: width,
                kx: 1,
            };
            let tile = |oy: usize, ox: usize| Tile {
                out_at: oy * ow + ox,
                in_at: oy * width + ox,
                out_step: ow,
                in_step: width,
                valid: ow - ox,
            };
            let mut oy = 0;
            // Rows together pay at one input channel too, since the stores
            // are whole vectors (measured on the Intel Xeon, (64, 1->16,
            // 28x28): 505 -> 398 us; when a partial store stalled them, they
            // lost 17% there).
            if SEVERAL_ROWS {
                while oy + 3 <= oh {
                    for ox in column_tiles(ow) {
                        direct_tile::<N, 3>(
                            k,
                            oc,
                            tile(oy, ox),
                            strides,
                            shape,
                            packed,
                            operands,
                            y,
                        );
                    }
                    oy += 3;
                }
                while oy + 2 <= oh {
                    for ox in column_tiles(ow) {
                        direct_tile::<N, 2>(
                            k,
                            oc,
                            tile(oy, ox),
                            strides,
                            shape,
                            packed,
                            operands,
                            y,
                        );
                    }
                    oy += 2;
                }
            }
            for oy in oy..oh {
                for ox in column_tiles(ow) {
                    direct_tile::<N, 1>(k, oc, tile(oy, ox), strides, shape, packed, operands, y);
                }
            }
        }
        InputLayout::Shifted { plane } => {
            let strides = TapStrides {
                channel: k * plane,
                ky: ow,
                kx: plane,
            };
            let positions = oh * ow;
            let tile = |at: usize| Tile {
                out_at: at,
                in_at: at,
                out_step: LANES,
                in_step: LANES,
                valid: positions - at,
            };
            let whole = positions / LANES;
            let mut t = 0;
            if SEVERAL_ROWS {
                while t + 3 <= whole {
                    direct_tile::<N, 3>(
                        k,
                        oc,
                        tile(t * LANES),
                        strides,
                        shape,
                        packed,
                        operands,
                        y,
                    );
                    t += 3;
                }
                while t + 2 <= whole {
                    direct_tile::<N, 2>(
                        k,
                        oc,
                        tile(t * LANES),
                        strides,
                        shape,
                        packed,
                        operands,
                        y,
                    );
                    t += 2;
                }
            }
            for t in t..whole {
                direct_tile::<N, 1>(k, oc, tile(t * LANES), strides, shape, packed, operands, y);
            }
            if !positions.is_multiple_of(LANES) {
                // Its first lanes computed twice, to the same bits, so that
                // it stores a whole vector (a partial one only when the plane
                // is narrower than a vector).
                let at = positions.saturating_sub(LANES);
                direct_tile::<N, 1>(k, oc, tile(at), strides, shape, packed, operands, y);
            }
        }
    }
}

/// Where the vectors of an output row start: every [`LANES`] columns, the
/// last moved back to end where the row ends (its first columns computed
/// twice, to the same bits), so rows at least a vector wide store only whole
/// vectors; a narrower row has one vector, at 0.
#[inline(always)]
fn column_tiles(ow: usize) -> impl Iterator<Item = usize> {
    let last = ow.saturating_sub(LANES);
    (0..ow).step_by(LANES).map(move |ox| ox.min(last))
}

/// Stores an output vector at `at` in channel `o`'s plane of `plane` floats
/// (`valid` real lanes, the rest beyond the row). Whole where it fits in the
/// plane: the lanes past a row narrower than a vector land on the rows below,
/// which the kernel stores after this one (rows go top to bottom, and the
/// later rows of a group after the first). The partial store it replaces
/// took 15% of the forward's samples at 14 x 14 on the Intel Xeon.
#[inline(always)]
fn store_output(y: &mut [f32], o: usize, plane: usize, at: usize, v: F32s, valid: usize) {
    store_whole_or_lanes(&mut y[o * plane..][..plane], at, v, valid);
}

/// Whether [`direct_block`] computes several vectors of positions at a
/// time: with AVX-512 only (24 of its 32 registers; AVX2's 16 would spill).
const SEVERAL_ROWS: bool = cfg!(target_feature = "avx512f");

/// The `R` vectors of `tile` for channels `oc..oc + N`: accumulated from the
/// bias (or zero), then the ReLU, then stored.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn direct_tile<const N: usize, const R: usize>(
    k: usize,
    oc: usize,
    tile: Tile,
    strides: TapStrides,
    shape: &DirectShape,
    packed: &[f32],
    operands: DirectOperands<'_>,
    y: &mut [f32],
) {
    let plane = shape.out_height * shape.out_width;
    let (bias, relu) = (operands.bias, operands.relu);
    let init: [F32s; N] =
        core::array::from_fn(|o| bias.map_or(F32s::ZERO, |b| F32s::splat(b[oc + o])));
    let acc = accumulate_tile(
        [init; R],
        k,
        tile,
        strides,
        shape.in_channels,
        packed,
        operands.input,
    );
    for (r, vectors) in acc.iter().enumerate() {
        for (o, a) in vectors.iter().enumerate() {
            let a = if relu { a.max(F32s::ZERO) } else { *a };
            let at = tile.out_at + r * tile.out_step;
            store_output(y, oc + o, plane, at, a, tile.valid);
        }
    }
}

/// Every tap's terms for the `R` vectors of `tile`, input channel by
/// channel, kernel row by row, column by column (every layout sums in this
/// order, so both give the same bits); the accumulators in and out by value
/// (so they stay in registers).
#[inline(always)]
fn accumulate_tile<const N: usize, const R: usize>(
    mut acc: [[F32s; N]; R],
    k: usize,
    tile: Tile,
    strides: TapStrides,
    in_channels: usize,
    packed: &[f32],
    input: &[f32],
) -> [[F32s; N]; R] {
    for c in 0..in_channels {
        for ky in 0..k {
            let taps = &packed[(c * k * k + ky * k) * N..][..k * N];
            let at = c * strides.channel + ky * strides.ky + tile.in_at;
            // Each vector's span of the k taps' loads, sliced once, so the
            // loads need no bounds checks (one per load took as many
            // instructions as the multiply-adds).
            let spans: [&[f32]; R] = core::array::from_fn(|r| {
                &input[at + r * tile.in_step..][..(k - 1) * strides.kx + LANES]
            });
            for (kx, w) in taps.chunks_exact(N).enumerate() {
                let v: [F32s; R] =
                    core::array::from_fn(|r| load_f32s(&spans[r][kx * strides.kx..]));
                #[allow(clippy::needless_range_loop)]
                for o in 0..N {
                    let wv = F32s::splat(w[o]);
                    for r in 0..R {
                        acc[r][o] = v[r].mul_add(wv, acc[r][o]);
                    }
                }
            }
        }
    }
    acc
}

/// Whether the channel-lane kernel ([`direct_conv_channels`]) runs here:
/// with AVX-512 only (it transposes 16 x 16 blocks in registers).
pub(crate) const CHANNEL_LANES_AVAILABLE: bool = cfg!(target_feature = "avx512f");

/// Positions [`direct_conv_channels`] accumulates at once, along an output
/// row: 14, so that rows of 14 or 28 (MNIST's after one pooling or none)
/// fill their lanes where vectors of 16 positions cannot.
const CHANNEL_TILE: usize = 14;

/// Whether output channels in the lanes ([`direct_conv_channels`]) waste
/// fewer lanes than output positions in them ([`direct_conv_sample`]: over
/// the flattened plane for a "same" convolution, else along rows) for
/// `out_channels` channels of `out_height x out_width`, where the rows are
/// whole tiles. Both sum each output in the same order, so the choice
/// changes no bits.
pub(crate) const fn channel_lanes_pay(
    out_channels: usize,
    out_height: usize,
    out_width: usize,
    same_size: bool,
) -> bool {
    if !CHANNEL_LANES_AVAILABLE || out_width == 0 || !out_width.is_multiple_of(CHANNEL_TILE) {
        return false;
    }
    use crate::size::mul;
    let positions = mul(out_height, out_width);
    // Lanes used over lanes computed, each way, compared crosswise.
    let channel_lanes = mul(transposed_channel_stride(out_channels), positions);
    let position_lanes = if same_size {
        mul(positions.div_ceil(LANES), LANES)
    } else {
        mul(out_height, mul(out_width.div_ceil(LANES), LANES))
    };
    mul(out_channels, position_lanes) > channel_lanes
}

/// Whether [`direct_conv_channels`] has a kernel for side `k`.
pub(crate) const fn channel_lanes_have_kernel(k: usize) -> bool {
    matches!(k, 1 | 3 | 5)
}

/// One sample's convolution with output channels in the lanes: per vector
/// of [`LANES`] channels, tiles of [`CHANNEL_TILE`] positions of an output
/// row (rows of whole tiles) accumulate one register each (each input
/// float broadcast once per tap), then go through a 16 x 16 transpose in
/// registers and are stored channel by channel into `y`. Reads the sample
/// zero-padded ([`InputLayout::Padded`]) and the weights tap by tap
/// (`packed[tap * stride + o]`, zeros past the last channel); sums in the
/// same order as [`direct_conv_sample`], so the same bits.
pub(crate) fn direct_conv_channels(
    shape: &DirectShape,
    operands: DirectOperands<'_>,
    stride: usize,
    y: &mut [f32],
) {
    let InputLayout::Padded { width, plane } = shape.input else {
        return;
    };
    let geometry = ChannelGeometry {
        in_channels: shape.in_channels,
        out_channels: shape.out_channels,
        out_height: shape.out_height,
        out_width: shape.out_width,
        width,
        plane,
        stride,
    };
    match shape.k {
        1 => channel_blocks::<1>(&geometry, operands, y),
        3 => channel_blocks::<3>(&geometry, operands, y),
        5 => channel_blocks::<5>(&geometry, operands, y),
        _ => {}
    }
}

/// The sizes [`channel_tile_sums`] indexes with.
struct ChannelGeometry {
    in_channels: usize,
    out_channels: usize,
    out_height: usize,
    out_width: usize,
    /// Width and floats of one zero-padded input channel.
    width: usize,
    plane: usize,
    /// Floats between taps of the packed weights.
    stride: usize,
}

/// Every pair of vectors of channels (a last single one alone), every tile
/// of positions.
#[inline(always)]
fn channel_blocks<const K: usize>(
    geometry: &ChannelGeometry,
    operands: DirectOperands<'_>,
    y: &mut [f32],
) {
    let vectors = geometry.out_channels.div_ceil(LANES);
    let mut v0 = 0;
    while v0 + 2 <= vectors {
        channel_block::<K, 2>(geometry, v0 * LANES, operands, y);
        v0 += 2;
    }
    if v0 < vectors {
        channel_block::<K, 1>(geometry, v0 * LANES, operands, y);
    }
}

/// Channels `o0..o0 + V * LANES`, tile after tile.
#[inline(always)]
fn channel_block<const K: usize, const V: usize>(
    geometry: &ChannelGeometry,
    o0: usize,
    operands: DirectOperands<'_>,
    y: &mut [f32],
) {
    const P: usize = CHANNEL_TILE;
    let (oh, ow) = (geometry.out_height, geometry.out_width);
    let positions = oh * ow;
    // The bias of each lane's channel (zero past the last one).
    let bias: [F32s; V] = core::array::from_fn(|v| {
        let lanes: [f32; LANES] = core::array::from_fn(|l| {
            let o = o0 + v * LANES + l;
            operands.bias.and_then(|b| b.get(o)).copied().unwrap_or(0.0)
        });
        load_f32s(&lanes)
    });
    let tiles = (0..oh).flat_map(|oy| (0..ow).step_by(P).map(move |ox| (oy, ox)));
    for (oy, ox) in tiles {
        let q0 = oy * ow + ox;
        let acc = channel_tile_sums::<K, P, V>(geometry, bias, o0, (oy, ox), operands);
        for v in 0..V {
            // Row p of the block is position q0 + p; column j, channel
            // o0 + v * LANES + j.
            let mut rows = [F32s::ZERO; LANES];
            for (row, a) in rows.iter_mut().zip(&acc) {
                *row = if operands.relu {
                    a[v].max(F32s::ZERO)
                } else {
                    a[v]
                };
            }
            let columns = transpose16(rows);
            let first = o0 + v * LANES;
            let channels = geometry.out_channels.saturating_sub(first).min(LANES);
            for (j, column) in columns.iter().take(channels).enumerate() {
                // Whole where it fits the plane: the lanes past the tile land
                // on positions the next tile stores after it.
                let dst = &mut y[(first + j) * positions..][..positions];
                store_whole_or_lanes(dst, q0, *column, P);
            }
        }
    }
}

/// Row `oy`, positions `ox..ox + P`, channels `o0..o0 + V * LANES`: from
/// the bias, tap by tap (input channel, kernel row, kernel column).
#[inline(always)]
fn channel_tile_sums<const K: usize, const P: usize, const V: usize>(
    geometry: &ChannelGeometry,
    bias: [F32s; V],
    o0: usize,
    (oy, ox): (usize, usize),
    operands: DirectOperands<'_>,
) -> [[F32s; V]; P] {
    let (plane, stride) = (geometry.plane, geometry.stride);
    let mut acc = [bias; P];
    for c in 0..geometry.in_channels {
        for ky in 0..K {
            // One span of the padded row for the K taps (one check).
            let at = c * plane + (oy + ky) * geometry.width + ox;
            let row = &operands.input[at..][..P + K - 1];
            let taps =
                &operands.packed[(c * K + ky) * K * stride + o0..][..(K - 1) * stride + V * LANES];
            // Plain loops, not `array::from_fn`: its closures were left as
            // calls in the kernel, with the accumulators spilled around them.
            for kx in 0..K {
                let span = &row[kx..kx + P];
                let mut w = [F32s::ZERO; V];
                for (v, wv) in w.iter_mut().enumerate() {
                    *wv = load_f32s(&taps[kx * stride + v * LANES..]);
                }
                for (a, &x) in acc.iter_mut().zip(span.iter()) {
                    let x = F32s::splat(x);
                    for v in 0..V {
                        a[v] = x.mul_add(w[v], a[v]);
                    }
                }
            }
        }
    }
    acc
}

/// The shape of one sample's direct weight gradient: the convolution's
/// sizes, the padded input's layout and that of the transposed output
/// gradient.
pub(crate) struct WeightGradShape {
    pub in_channels: usize,
    pub out_channels: usize,
    pub k: usize,
    pub out_height: usize,
    pub out_width: usize,
    /// Width of a row of the zero-padded input.
    pub padded_width: usize,
    /// Floats of one zero-padded input channel.
    pub padded_plane: usize,
    /// Floats between positions of the transposed output gradient (the
    /// output channels rounded up to [`LANES`]).
    pub channel_stride: usize,
}
/// [`WeightGradShape::channel_stride`] for `out_channels`.
pub(crate) const fn transposed_channel_stride(out_channels: usize) -> usize {
    crate::size::mul(out_channels.div_ceil(LANES), LANES)
}

/// Whether [`direct_weight_grad`] has a kernel for side `k`.
pub(crate) const fn weight_grad_has_kernel(k: usize) -> bool {
    matches!(k, 1 | 3 | 5)
}

/// Rows `(input channel, ky)` of taps one pass accumulates for side `k`:
/// `rows x k` accumulators of [`LANES`] output channels fill most of
/// AVX-512's 32 registers (AVX2 splits a vector in two of its 16, so fewer).
const fn tap_rows(k: usize) -> usize {
    let registers = if cfg!(target_feature = "avx512f") {
        27
    } else {
        6
    };
    let rows = registers / k;
    if rows == 0 {
        1
    } else {
        rows
    }
}

/// The smaller block for what [`tap_rows`] blocks leave (`rows` is a
/// multiple of `k`, so `k` rows fit exactly where registers allow).
const fn tail_rows(k: usize) -> usize {
    let full = tap_rows(k);
    if k < full {
        k
    } else {
        full
    }
}

/// Adds one sample's `dW[o][c][ky][kx] = sum over positions of dy[o][pos]
/// x[c][pos + (ky, kx)]` into `dw_t`, the weight gradient transposed to
/// tap-major (`dw_t[tap * stride + o]`, see [`transpose_weight_grad`]), from
/// the padded sample and the output gradient transposed to position-major
/// (`dy_t[pos * stride + o]`, zeros past the last channel). Vectors run over
/// output channels, so every lane sums only real terms (no lane of a row's
/// tail is reduced in), and each block's sums are added with one vector add
/// per tap instead of one scalar add per weight.
pub(crate) fn direct_weight_grad(
    shape: &WeightGradShape,
    padded: &[f32],
    dy_t: &[f32],
    dw_t: &mut [f32],
) {
    match shape.k {
        1 => weight_grad::<1, { tap_rows(1) }, { tail_rows(1) }>(shape, padded, dy_t, dw_t),
        3 => weight_grad::<3, { tap_rows(3) }, { tail_rows(3) }>(shape, padded, dy_t, dw_t),
        5 => weight_grad::<5, { tap_rows(5) }, { tail_rows(5) }>(shape, padded, dy_t, dw_t),
        _ => {}
    }
}

/// Moves a weight gradient between its layout (`dw[o * patch + tap]`) and
/// the tap-major one [`direct_weight_grad`] adds into (`dw_t[tap * stride +
/// o]`, lanes past the last channel left as they are); `to_taps` says which way.
pub(crate) fn transpose_weight_grad(
    dw: &mut [f32],
    dw_t: &mut [f32],
    patch: usize,
    stride: usize,
    to_taps: bool,
) {
    for (o, row) in dw.chunks_exact_mut(patch).enumerate() {
        for (tap, w) in row.iter_mut().enumerate() {
            let t = &mut dw_t[tap * stride + o];
            if to_taps {
                *t = *w;
            } else {
                *w = *t;
            }
        }
    }
}

/// Every block of output channels, `R` rows of taps at a time, then `T`,
/// then one (each a fixed count, so the accumulators stay in registers).
#[inline(always)]
fn weight_grad<const K: usize, const R: usize, const T: usize>(
    shape: &WeightGradShape,
    padded: &[f32],
    dy_t: &[f32],
    dw_t: &mut [f32],
) {
    let rows = shape.in_channels * K;
    for ob in (0..shape.out_channels).step_by(LANES) {
        let mut r0 = 0;
        while r0 + R <= rows {
            tap_block::<K, R>(shape, ob, r0, padded, dy_t, dw_t);
            r0 += R;
        }
        while r0 + T <= rows {
            tap_block::<K, T>(shape, ob, r0, padded, dy_t, dw_t);
            r0 += T;
        }
        while r0 < rows {
            tap_block::<K, 1>(shape, ob, r0, padded, dy_t, dw_t);
            r0 += 1;
        }
    }
}

/// One output row's terms added to the accumulators, which go in and out
/// by value: kept in a local array the accumulators stay in registers (in
/// the caller's, LLVM stored them all at every position).
#[inline(always)]
fn tap_row<const K: usize, const N: usize>(
    mut acc: [[F32s; K]; N],
    ob: usize,
    stride: usize,
    drow: &[f32],
    taps: &[[&[f32]; K]; N],
) -> [[F32s; K]; N] {
    for (ox, d) in drow.chunks_exact(stride).enumerate() {
        let d = load_f32s(&d[ob..]);
        #[allow(clippy::needless_range_loop)]
        for r in 0..N {
            for kx in 0..K {
                acc[r][kx] = d.mul_add(F32s::splat(taps[r][kx][ox]), acc[r][kx]);
            }
        }
    }
    acc
}

/// Rows `r0..r0 + N` of taps for output channels `ob..ob + LANES`.
#[inline(always)]
fn tap_block<const K: usize, const N: usize>(
    shape: &WeightGradShape,
    ob: usize,
    r0: usize,
    padded: &[f32],
    dy_t: &[f32],
    dw_t: &mut [f32],
) {
    let (oh, ow) = (shape.out_height, shape.out_width);
    let (pw, plane, stride) = (shape.padded_width, shape.padded_plane, shape.channel_stride);
    // Where each row of taps starts in the padded sample.
    let starts: [usize; N] = core::array::from_fn(|r| (r0 + r) / K * plane + (r0 + r) % K * pw);
    let mut acc = [[F32s::ZERO; K]; N];
    for oy in 0..oh {
        // One row of each: the slices' lengths bound every index below, so
        // the position loop has no checks (with them, LLVM kept storing the
        // accumulators to the stack at every step).
        let drow = &dy_t[oy * ow * stride..][..ow * stride];
        // Each tap's inputs for the row as a slice of exactly `ow`: indexed
        // by `ox < ow`, no check is left in the loop. Cut from one span per
        // row of taps, whose length bounds all `K` cuts (one check, not `K`).
        let taps: [[&[f32]; K]; N] = core::array::from_fn(|r| {
            let span = &padded[starts[r] + oy * pw..][..ow + K - 1];
            core::array::from_fn(|kx| &span[kx..kx + ow])
        });
        acc = tap_row(acc, ob, stride, drow, &taps);
    }
    // Without it LLVM stored every accumulator to the stack at the end of
    // each output row (27 stores to 378 multiply-adds; 12% of this
    // function's time at (64, 16->32, 14x14) on Zen 4); through `black_box`
    // they are stored once, here.
    let acc = core::hint::black_box(acc);
    for (r, row) in acc.iter().enumerate() {
        let (c, ky) = ((r0 + r) / K, (r0 + r) % K);
        for (kx, &a) in row.iter().enumerate() {
            let tap = c * K * K + ky * K + kx;
            let dst = &mut dw_t[tap * stride + ob..][..LANES];
            store_f32s(dst, load_f32s(dst) + a);
        }
    }
}

/// Transposes one sample's output gradient from channel-major (`dy[o *
/// positions + pos]`) to the position-major layout of
/// [`direct_weight_grad`] (`dy_t[pos * stride + o]`), 16 x 16 blocks at a
/// time through registers; the entries past the last channel are left as
/// they are (zeros, set once by the caller).
pub(crate) fn transpose_output_grad(
    dy: &[f32],
    positions: usize,
    channels: usize,
    stride: usize,
    dy_t: &mut [f32],
) {
    let full_channels = channels / LANES * LANES;
    let full_positions = positions / LANES * LANES;
    for cb in (0..full_channels).step_by(LANES) {
        for pb in (0..full_positions).step_by(LANES) {
            let rows: [F32s; LANES] =
                core::array::from_fn(|i| load_f32s(&dy[(cb + i) * positions + pb..]));
            // Indexed, not `into_iter()`: moving the array through an
            // iterator put it on the stack and read it back in halves over
            // the stores (80% of this function's samples sat on those
            // reads; indexed, its share of the CNN step's samples fell from
            // 11% to 3.4%, though the step's time did not move beyond its
            // noise: 14.1, 12.2, 11.5 ms before, 11.6, 12.1, 11.8 after).
            let columns = transpose16(rows);
            for (j, v) in columns.iter().enumerate() {
                store_f32s(&mut dy_t[(pb + j) * stride + cb..], *v);
            }
        }
        for pos in full_positions..positions {
            for i in 0..LANES {
                dy_t[pos * stride + cb + i] = dy[(cb + i) * positions + pos];
            }
        }
    }
    for c in full_channels..channels {
        for (pos, &v) in dy[c * positions..(c + 1) * positions].iter().enumerate() {
            dy_t[pos * stride + c] = v;
        }
    }
}

/// Writes one input channel (`src`, rows `width` wide) as the `k` copies of
/// [`InputLayout::Shifted`] into `copies` (their planes one after another,
/// `padding` zero rows above and below each): copy `kx` is the channel moved
/// by `kx - padding` floats, with the columns that came from a neighbouring
/// row zeroed. One pass stores each loaded vector into every copy (a
/// `memcpy` a copy took 5% of the forward's samples at (64, 16->32,
/// 14x14)); the floats a move pushes past the data land on the columns
/// zeroed in the padding rows next to it.
pub(crate) fn shift_channel(
    src: &[f32],
    copies: &mut [f32],
    width: usize,
    padding: usize,
    k: usize,
) {
    match k {
        1 => shift_copies::<1>(src, copies, width, padding),
        3 => shift_copies::<3>(src, copies, width, padding),
        5 => shift_copies::<5>(src, copies, width, padding),
        _ => shift_copies_of(k, src, copies, width, padding),
    }
}

/// [`shift_channel`] for a constant side (the copies' stores unrolled).
fn shift_copies<const K: usize>(src: &[f32], copies: &mut [f32], width: usize, padding: usize) {
    shift_copies_of(K, src, copies, width, padding);
}

/// [`shift_channel`]'s body.
#[inline(always)]
fn shift_copies_of(k: usize, src: &[f32], copies: &mut [f32], width: usize, padding: usize) {
    let (hw, p) = (src.len(), padding);
    let plane = copies.len() / k.max(1);
    // Copy kx's float `i + p - kx` (from the start of its data) is `src[i]`;
    // counted from `(p - 1) * width`, which exists whenever a move does.
    let first = p.saturating_sub(1) * width;
    let lead = (p * width + p) - first;
    let whole = hw / LANES * LANES;
    for i in (0..whole).step_by(LANES) {
        let v = load_f32s(&src[i..]);
        for kx in 0..k {
            store_f32s(&mut copies[kx * plane + first + lead + i - kx..], v);
        }
    }
    for (i, &v) in src.iter().enumerate().skip(whole) {
        for kx in 0..k {
            copies[kx * plane + first + lead + i - kx] = v;
        }
    }
    if p == 0 {
        return;
    }
    // The wrapped columns, over the data's rows and one padding row each side.
    for kx in 0..k {
        let wrapped = if kx >= p {
            width - (kx - p)..width
        } else {
            0..p - kx
        };
        let rows = &mut copies[kx * plane + first..][..(hw / width + 2) * width];
        for column in wrapped {
            for v in rows[column..].iter_mut().step_by(width) {
                *v = 0.0;
            }
        }
    }
}

/// Copies a short row into a padded buffer without a `memcpy` call (one a
/// row of 14 or 28 floats cost more than the copy): whole vectors, then
/// pieces of 8, 4, 2 and 1 floats, each a fixed-size move.
pub(crate) fn copy_row(dst: &mut [f32], src: &[f32]) {
    let n = src.len().min(dst.len());
    let (mut dst, mut src) = (&mut dst[..n], &src[..n]);
    while src.len() >= LANES {
        store_f32s(dst, load_f32s(src));
        (dst, src) = (&mut dst[LANES..], &src[LANES..]);
    }
    macro_rules! piece {
        ($k:literal) => {
            if src.len() >= $k {
                dst[..$k].copy_from_slice(&src[..$k]);
                (dst, src) = (&mut dst[$k..], &src[$k..]);
            }
        };
    }
    piece!(8);
    piece!(4);
    piece!(2);
    piece!(1);
    let _ = (dst, src);
}
