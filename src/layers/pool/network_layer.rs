//! Pooling layers in a network: max and average pooling over fixed windows,
//! and fractional max pooling with its boundaries drawn per batch in train and
//! fixed (one, several averaged, or every one) in eval. The region tables
//! live on the stack for the call; a train pass stores its regions and
//! argmaxes in the layer's saved region for backward.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::error::Error;
use crate::kernels::words::{bytes, bytes_mut};
use crate::kernels::words::{u32s, u32s_mut};
use crate::layers::augment::ImageShape;
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};
use crate::layers::pool::{self as pool, PoolRegions, Region};
use crate::layers::pool::{FmpEval, FmpIncrements, FmpWindows, MAX_POOL_SIDE};
use crate::size::mul;

/// The pooling kinds of a network layer, as [`crate::layers::layer::Layer`]'s pooling
/// variants hold them (`Layer::pooling` makes one), so that this module
/// needs nothing from the layer list above it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Pooling {
    /// `k x k` max pooling with `stride`.
    Max {
        shape: ImageShape,
        k: usize,
        stride: usize,
    },
    /// `k x k` average pooling with `stride`.
    Avg {
        shape: ImageShape,
        k: usize,
        stride: usize,
    },
    /// Fractional max pooling.
    Fractional {
        shape: ImageShape,
        out_height: usize,
        out_width: usize,
        windows: FmpWindows,
        per_plane: bool,
        eval: FmpEval,
    },
}

/// Output side of a `k`-window pooling with `stride` over `input`.
const fn side(input: usize, k: usize, stride: usize) -> usize {
    if stride == 0 || input < k {
        0
    } else {
        (input - k) / stride + 1
    }
}

impl Pooling {
    /// Output values of one sample.
    pub(crate) const fn outputs(&self) -> usize {
        match *self {
            Pooling::Max { shape, k, stride } | Pooling::Avg { shape, k, stride } => mul(
                mul(shape.channels, side(shape.height, k, stride)),
                side(shape.width, k, stride),
            ),
            Pooling::Fractional {
                shape,
                out_height,
                out_width,
                ..
            } => mul(mul(shape.channels, out_height), out_width),
        }
    }
}

/// Checks a pooling layer's windows against its image: fixed windows of
/// `1 <= k <= 16` that fit, a stride of at least 1; fractional regions that
/// Graham's (`out < in <= 2 out`) or PyTorch's (`out + kernel - 1 <= in`) rule
/// allows, and an eval it can run; every output side at most 256.
pub(crate) fn validate(layer: Pooling) -> Result<(), Error> {
    let bad = |reason| Err(Error::InvalidConfig { reason });
    match layer {
        Pooling::Max { shape, k, stride } | Pooling::Avg { shape, k, stride } => {
            if k == 0 || k > pool::MAX_REGION || stride == 0 || shape.height < k || shape.width < k
            {
                return bad("pooling needs 1 <= k <= 16, k <= the image, stride >= 1");
            }
            if (shape.height - k) / stride + 1 > MAX_POOL_SIDE
                || (shape.width - k) / stride + 1 > MAX_POOL_SIDE
            {
                return bad("pooling output sides are limited to 256");
            }
        }
        Pooling::Fractional {
            shape,
            out_height,
            out_width,
            windows,
            ..
        } => {
            let sides = [(shape.height, out_height), (shape.width, out_width)];
            let fits = |(i, o): (usize, usize)| match windows {
                FmpWindows::Graham { .. } => o > 0 && o < i && i <= 2 * o && o <= MAX_POOL_SIDE,
                FmpWindows::PyTorch { kernel } => {
                    let k = kernel as usize;
                    (1..=pool::MAX_REGION).contains(&k)
                        && o > 0
                        && o <= MAX_POOL_SIDE
                        && i <= u16::MAX as usize
                        && o + k <= i + 1
                }
            };
            if !sides.into_iter().all(fits) {
                return bad(match windows {
                    FmpWindows::Graham { .. } => {
                        "fractional pooling needs out < in <= 2 out, out <= 256"
                    }
                    FmpWindows::PyTorch { .. } => {
                        "PyTorch's fractional pooling needs 1 <= kernel <= 16, out + kernel - 1 <= in, out <= 256"
                    }
                });
            }
            if fmp_eval_samplings(layer).is_none() {
                return bad(
                    "fractional pooling's eval needs Average(n >= 1), or Exact with at most MAX_EXACT_FMP_SAMPLINGS samplings",
                );
            }
        }
    }
    Ok(())
}

/// Forward of a pooling layer (`layer` is one of the three pooling kinds).
pub(crate) fn forward_pass(
    layer: Pooling,
    io: ForwardIo<'_>,
    draws: &mut Draws<'_>,
) -> Result<(), Error> {
    let train = match (layer, draws.stochastic) {
        (Pooling::Fractional { .. }, Mode::Train) => {
            let block = draws.masks.next_block();
            Some([block[0], block[1]])
        }
        _ => None,
    };
    let record = draws.backward_follows;
    pool_forward(layer, train, record, io.input, io.output, io.saved, io.tmp)
}

/// Backward of a pooling layer.
pub(crate) fn backward_pass(layer: Pooling, io: BackwardIo<'_>) -> Result<(), Error> {
    pool_backward(layer, io.rows, io.saved, io.grad_out, io.grad_in)
}

/// Regions of k x k pooling with `stride` over both axes of `shape`.
type WindowRegions = (
    [Region; MAX_POOL_SIDE],
    usize,
    [Region; MAX_POOL_SIDE],
    usize,
);

fn window_regions(shape: ImageShape, k: usize, stride: usize) -> Result<WindowRegions, Error> {
    let mut rows = [(0u16, 0u16); MAX_POOL_SIDE];
    let mut cols = [(0u16, 0u16); MAX_POOL_SIDE];
    let nr = pool::max_pool_regions(shape.height, k, stride, &mut rows)?;
    let nc = pool::max_pool_regions(shape.width, k, stride, &mut cols)?;
    Ok((rows, nr, cols, nc))
}

/// The random draws behind one fractional pooling: a train pass's two words
/// (for a batch or a plane), sampling `s` of `of` averaged in eval, or
/// distinct sampling `s` of an exact eval.
#[derive(Clone, Copy)]
enum FmpDraw {
    Train([u32; 2]),
    Average { s: usize, of: usize },
    Exact { s: usize },
}

/// Distinct region sequences of one axis, if fractional pooling accepts it.
fn fmp_axis_count(windows: FmpWindows, input: usize, output: usize) -> Option<usize> {
    match windows {
        FmpWindows::Graham {
            increments: FmpIncrements::Pseudorandom,
            ..
        } => Some(pool::fmp_pseudorandom_pieces(input, output)),
        FmpWindows::Graham {
            increments: FmpIncrements::Random,
            ..
        } => pool::fmp_random_count(input, output)?.try_into().ok(),
        FmpWindows::PyTorch { kernel } => {
            Some(pool::pytorch_fmp_pieces(input, output, kernel as usize)).filter(|&n| n > 0)
        }
    }
}

/// How many samplings eval of a fractional pooling layer runs, if allowed.
pub(crate) fn fmp_eval_samplings(layer: Pooling) -> Option<usize> {
    let Pooling::Fractional {
        shape,
        out_height,
        out_width,
        windows,
        eval,
        ..
    } = layer
    else {
        return None;
    };
    match eval {
        FmpEval::Average(0) => None,
        FmpEval::Average(n) => Some(n as usize),
        FmpEval::Exact => {
            let rows = fmp_axis_count(windows, shape.height, out_height)?;
            let cols = fmp_axis_count(windows, shape.width, out_width)?;
            rows.checked_mul(cols)
                .filter(|&n| n <= pool::MAX_EXACT_FMP_SAMPLINGS)
        }
    }
}

/// Forward of a pooling layer over `output.len()` values: max or average pooling,
/// or fractional max pooling with the train draw (or, without one, the
/// average of the layer's eval samplings, through `tmp`); argmaxes go to
/// `saved` only when `record` (a backward follows). Out of line so its
/// region tables occupy the stack only while it runs.
#[inline(never)]
fn pool_forward(
    layer: Pooling,
    train: Option<[u32; 2]>,
    record: bool,
    input: &[f32],
    output: &mut [f32],
    saved: &mut [f32],
    tmp: &mut [f32],
) -> Result<(), Error> {
    let outputs = output.len();
    match layer {
        Pooling::Max { shape, k, stride } | Pooling::Avg { shape, k, stride } => {
            let (rows, nr, cols, nc) = window_regions(shape, k, stride)?;
            let regions = PoolRegions {
                planes: input.len() / shape.height / shape.width,
                height: shape.height,
                width: shape.width,
                rows: &rows[..nr],
                cols: &cols[..nc],
            };
            if let Pooling::Avg { .. } = layer {
                return pool::region_avg_pool_forward(regions, input, output);
            }
            let argmax = &mut bytes_mut(saved)[..outputs];
            max_pool(record, regions, input, output, argmax)
        }
        Pooling::Fractional {
            shape,
            out_height,
            out_width,
            per_plane,
            eval,
            ..
        } => {
            let (h, w) = (shape.height, shape.width);
            let planes = input.len() / h / w;
            let set = out_height + out_width;
            let sets = if per_plane { planes } else { 1 };
            let (argmax_words, regions) = saved.split_at_mut(saved.len() - sets * set);
            let argmax = &mut bytes_mut(argmax_words)[..outputs];
            let (mut rr, mut cr) = ([(0u16, 0u16); MAX_POOL_SIDE], [(0u16, 0u16); MAX_POOL_SIDE]);
            let (rr, cr) = (&mut rr[..out_height], &mut cr[..out_width]);
            if let (Some([a, b]), true) = (train, per_plane) {
                // Every plane's two words from one stream seeded by the batch's.
                let mut stream = Xoshiro128PlusPlus::seed_from_u64((a as u64) << 32 | b as u64);
                let (plane_in, plane_out) = (h * w, out_height * out_width);
                for (p, words) in regions.chunks_exact_mut(set).enumerate() {
                    let draw = FmpDraw::Train([stream.next_u32(), stream.next_u32()]);
                    fmp_regions_into(layer, draw, words)?;
                    unpack_regions(words, rr, cr);
                    let at = |len: usize| p * len..(p + 1) * len;
                    let regions = PoolRegions {
                        planes: 1,
                        height: h,
                        width: w,
                        rows: rr,
                        cols: cr,
                    };
                    max_pool(
                        record,
                        regions,
                        &input[at(plane_in)],
                        &mut output[at(plane_out)],
                        &mut argmax[at(plane_out)],
                    )?;
                }
                return Ok(());
            }
            let regions = &mut regions[..set];
            let samplings = match train {
                Some(_) => 1,
                None => fmp_eval_samplings(layer).ok_or(Error::InvalidConfig {
                    reason: "fractional pooling's eval samplings are out of range",
                })?,
            };
            for s in 0..samplings {
                let draw = match (train, eval) {
                    (Some(words), _) => FmpDraw::Train(words),
                    (None, FmpEval::Average(_)) => FmpDraw::Average { s, of: samplings },
                    (None, FmpEval::Exact) => FmpDraw::Exact { s },
                };
                fmp_regions_into(layer, draw, regions)?;
                unpack_regions(regions, rr, cr);
                let dst = if s == 0 { &mut *output } else { &mut *tmp };
                let regions = PoolRegions {
                    planes,
                    height: h,
                    width: w,
                    rows: rr,
                    cols: cr,
                };
                max_pool(record, regions, input, dst, argmax)?;
                if s > 0 {
                    for (y, &t) in output.iter_mut().zip(tmp.iter()) {
                        *y += t;
                    }
                }
            }
            if samplings > 1 {
                let inv = 1.0 / samplings as f32;
                output.iter_mut().for_each(|y| *y *= inv);
            }
            Ok(())
        }
    }
}

/// Max pooling, recording the argmaxes in `argmax` only when `record`.
fn max_pool(
    record: bool,
    regions: PoolRegions<'_>,
    input: &[f32],
    output: &mut [f32],
    argmax: &mut [u8],
) -> Result<(), Error> {
    if record {
        pool::region_max_pool_forward(regions, input, output, argmax)
    } else {
        pool::region_max_pool_eval(regions, input, output)
    }
}

/// Backward of a pooling layer: routes `grad_out` to the recorded argmaxes,
/// or spreads it over the windows of average pooling.
#[inline(never)]
fn pool_backward(
    layer: Pooling,
    rows: usize,
    saved: &[f32],
    grad_out: &mut [f32],
    grad_in: &mut [f32],
) -> Result<(), Error> {
    let o = layer.outputs();
    match layer {
        Pooling::Max { shape, k, stride } | Pooling::Avg { shape, k, stride } => {
            let (row_regions, nr, col_regions, nc) = window_regions(shape, k, stride)?;
            let regions = PoolRegions {
                planes: rows * shape.channels,
                height: shape.height,
                width: shape.width,
                rows: &row_regions[..nr],
                cols: &col_regions[..nc],
            };
            if let Pooling::Avg { .. } = layer {
                return pool::region_avg_pool_backward(regions, grad_out, grad_in);
            }
            let argmax = &bytes(saved)[..rows * o];
            pool::region_max_pool_backward(regions, argmax, grad_out, grad_in)
        }
        Pooling::Fractional {
            shape,
            out_height,
            out_width,
            per_plane,
            ..
        } => {
            let (h, w) = (shape.height, shape.width);
            let planes = rows * shape.channels;
            let set = out_height + out_width;
            let sets = if per_plane { planes } else { 1 };
            let (argmax_words, regions) = saved.split_at(saved.len() - sets * set);
            let argmax = &bytes(argmax_words)[..rows * o];
            let (mut rr, mut cr) = ([(0u16, 0u16); MAX_POOL_SIDE], [(0u16, 0u16); MAX_POOL_SIDE]);
            let (rr, cr) = (&mut rr[..out_height], &mut cr[..out_width]);
            if !per_plane {
                unpack_regions(regions, rr, cr);
                let regions = PoolRegions {
                    planes,
                    height: h,
                    width: w,
                    rows: rr,
                    cols: cr,
                };
                return pool::region_max_pool_backward(regions, argmax, grad_out, grad_in);
            }
            let (plane_in, plane_out) = (h * w, out_height * out_width);
            for (p, words) in regions.chunks_exact(set).enumerate() {
                unpack_regions(words, rr, cr);
                let at = |len: usize| p * len..(p + 1) * len;
                let regions = PoolRegions {
                    planes: 1,
                    height: h,
                    width: w,
                    rows: rr,
                    cols: cr,
                };
                pool::region_max_pool_backward(
                    regions,
                    &argmax[at(plane_out)],
                    &grad_out[at(plane_out)],
                    &mut grad_in[at(plane_in)],
                )?;
            }
            Ok(())
        }
    }
}

/// Draws a fractional pooling layer's row and column regions into `words`
/// (`out_height + out_width` of them, each `start | len << 16`).
fn fmp_regions_into(layer: Pooling, draw: FmpDraw, words: &mut [f32]) -> Result<(), Error> {
    let Pooling::Fractional {
        shape,
        out_height,
        out_width,
        windows,
        ..
    } = layer
    else {
        return Ok(());
    };
    let unit = |x: u32| (x >> 8) as f32 / (1u32 << 24) as f32;
    // Per axis: the pseudorandom u, and for random boundaries either a
    // generator seed or the rank of an exact eval's arrangement.
    let (us, seed, ranks) = match draw {
        FmpDraw::Train([a, b]) => ([unit(a), unit(b)], (a as u64) << 32 | b as u64, None),
        FmpDraw::Average { s, of } => ([(s as f32 + 0.5) / of as f32; 2], s as u64, None),
        FmpDraw::Exact { s } => {
            // Validation bounded both counts (fmp_eval_samplings).
            let row_count = fmp_axis_count(windows, shape.height, out_height).unwrap_or(1);
            let col_count = fmp_axis_count(windows, shape.width, out_width).unwrap_or(1);
            let (r, c) = (s % row_count, s / row_count);
            let mid = |j: usize, n: usize| (j as f32 + 0.5) / n as f32;
            let ranks = [r as u64, c as u64];
            ([mid(r, row_count), mid(c, col_count)], 0, Some(ranks))
        }
    };
    let mut rng = Xoshiro128PlusPlus::seed_from_u64(seed);
    let words = u32s_mut(words);
    let (row_words, col_words) = words.split_at_mut(out_height);
    for (axis, (size, out, u, dst)) in [
        (shape.height, out_height, us[0], row_words),
        (shape.width, out_width, us[1], col_words),
    ]
    .into_iter()
    .enumerate()
    {
        let mut bounds = [0u16; MAX_POOL_SIDE + 1];
        let mut regions = [(0u16, 0u16); MAX_POOL_SIDE];
        let (increments, overlapping) = match windows {
            FmpWindows::Graham {
                increments,
                overlapping,
            } => (increments, overlapping),
            FmpWindows::PyTorch { kernel } => {
                pool::pytorch_fmp_regions(u, size, out, kernel as usize, &mut regions)?;
                pack_regions(&regions[..out], dst);
                continue;
            }
        };
        match (increments, ranks) {
            (FmpIncrements::Pseudorandom, _) => {
                pool::fmp_pseudorandom_bounds(u, size, out, &mut bounds)?
            }
            (FmpIncrements::Random, Some(ranks)) => {
                pool::fmp_ranked_bounds(ranks[axis], size, out, &mut bounds)?
            }
            (FmpIncrements::Random, None) => {
                pool::fmp_random_bounds(&mut rng, size, out, &mut bounds)?
            }
        }
        pool::fmp_regions(&bounds[..=out], overlapping, size, &mut regions)?;
        pack_regions(&regions[..out], dst);
    }
    Ok(())
}

/// Regions as words `start | len << 16`.
fn pack_regions(regions: &[Region], words: &mut [u32]) {
    for (w, r) in words.iter_mut().zip(regions) {
        *w = r.0 as u32 | (r.1 as u32) << 16;
    }
}

/// The row and column regions [`fmp_regions_into`] stored, into `rows` and
/// `cols` (as long as the output's sides).
fn unpack_regions(words: &[f32], rows: &mut [Region], cols: &mut [Region]) {
    let words = u32s(words);
    let unpack = |w: u32| (w as u16, (w >> 16) as u16);
    let (row_words, col_words) = words.split_at(rows.len());
    for (r, &w) in rows.iter_mut().zip(row_words) {
        *r = unpack(w);
    }
    for (c, &w) in cols.iter_mut().zip(col_words) {
        *c = unpack(w);
    }
}
