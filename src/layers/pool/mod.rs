//! Max pooling over rectangular regions of each `(height, width)` plane, the
//! common kernel of k x k max pooling and of fractional max pooling (Graham
//! 2014), and the region sequences of fractional max pooling.
//!
//! A pooling is given by its row regions and column regions, each a
//! `(start, len)`; output `(i, j)` is the maximum over rows `rows[i]` x columns
//! `cols[j]`. Ties go to the first element in row-major order, and NaN
//! propagates (the first NaN of a region is its maximum). The forward pass
//! records, per output, the offset of the maximum inside its region (one byte:
//! regions are at most 16 x 16), and the backward pass routes each output
//! gradient to that element. Average pooling uses the same regions.

pub mod global_avg;
pub(crate) mod network_layer;

use core::num::NonZeroU32;

use rand_xoshiro::Xoshiro128PlusPlus;

use crate::distributions::uniform_below;
use crate::error::{check_setting, Error};
use crate::kernels::region_pool::{is_2x2, max_pool_2x2_backward, max_pool_planes, PlaneShape};

/// The regions of [`crate::layers::layer::Layer::FractionalMaxPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmpWindows {
    /// Graham's regions between boundaries `a_{i-1}, a_i` that grow by 1 or 2
    /// (`out < in <= 2 out`): disjoint `[a_{i-1}, a_i)` or overlapping
    /// `[a_{i-1}, a_i]`.
    Graham {
        /// How the boundaries are drawn.
        increments: FmpIncrements,
        /// Regions `[a_{i-1}, a_i]` instead of `[a_{i-1}, a_i)`.
        overlapping: bool,
    },
    /// PyTorch's `FractionalMaxPool2d`: `kernel x kernel` windows starting at
    /// `floor((i + u) a) - floor(u a)`, `a = (in - kernel) / (out - 1)`, the
    /// last at `in - kernel` ([`crate::layers::pool::pytorch_fmp_regions`];
    /// `out + kernel - 1 <= in`, `kernel <= 16`).
    PyTorch {
        /// Window side.
        kernel: u8,
    },
}

/// How [`FmpWindows::Graham`] draws its region boundaries (Graham 2014).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmpIncrements {
    /// `a_i = ceil(alpha (i + u)) - ceil(alpha u)` for one uniform `u` per axis.
    Pseudorandom,
    /// A uniformly random arrangement of the increments 1 and 2.
    Random,
}

/// What [`crate::layers::layer::Layer::FractionalMaxPool`] computes in eval mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmpEval {
    /// The mean output of `n >= 1` fixed samplings, the paper's test-time
    /// averaging (`n = 1`: one fixed sampling). Sampling `s` of `n` takes
    /// `u = (s + 1/2) / n` on both axes for pseudorandom boundaries and
    /// PyTorch's windows, and the arrangements drawn from seed `s` (rows, then
    /// columns) for random ones.
    Average(u8),
    /// The mean over every distinct pair of row and column boundaries, each
    /// weighted as train draws it: the expectation of the train output
    /// (exact up to train's `u` having 24 bits). Pseudorandom boundaries take
    /// `in / gcd(in, out)` equally likely pieces per axis
    /// ([`crate::layers::pool::fmp_pseudorandom_pieces`]), random ones
    /// `C(out, in - out)` arrangements
    /// ([`crate::layers::pool::fmp_random_count`]), PyTorch's windows
    /// `(in - kernel) / gcd(in - kernel, out - 1)` pieces
    /// ([`crate::layers::pool::pytorch_fmp_pieces`]; exact up to PyTorch's
    /// `f32` arithmetic moving a piece's ends by a rounding); the product of
    /// the two axes' counts must not exceed [`MAX_EXACT_FMP_SAMPLINGS`].
    Exact,
}

/// Most samplings [`FmpEval::Exact`] runs (each is one pooling pass in eval).
pub const MAX_EXACT_FMP_SAMPLINGS: usize = 4096;

/// Largest output side of a pooling layer (its regions sit on the stack).
pub const MAX_POOL_SIDE: usize = 256;

pub use crate::kernels::region_pool::Region;

/// Where region pooling reads and writes: `planes` planes of `height x
/// width`, pooled over the `rows x cols` grid of regions (each `(start,
/// len)`), so an output plane is `rows.len() x cols.len()`.
#[derive(Clone, Copy, Debug)]
pub struct PoolRegions<'a> {
    /// Planes (channels times samples), each pooled on its own.
    pub planes: usize,
    /// Rows of an input plane.
    pub height: usize,
    /// Columns of an input plane.
    pub width: usize,
    /// The regions along the rows, one per output row.
    pub rows: &'a [Region],
    /// The regions along the columns, one per output column.
    pub cols: &'a [Region],
}

/// Largest region side (argmax offsets fit a byte).
pub const MAX_REGION: usize = crate::kernels::region_pool::MAX_REGION;

/// Regions of k x k max pooling with stride `stride` over `size` elements:
/// `out = (size - k) / stride + 1` regions.
pub fn max_pool_regions(
    size: usize,
    k: usize,
    stride: usize,
    out: &mut [Region],
) -> Result<usize, Error> {
    if k == 0 || stride == 0 || k > MAX_REGION || size < k || size > u16::MAX as usize {
        return Err(Error::InvalidConfig {
            reason: "pooling needs 1 <= k <= 16, k <= size, stride >= 1",
        });
    }
    let n = (size - k) / stride + 1;
    if out.len() < n {
        return Err(Error::BufferTooSmall {
            needed: n,
            got: out.len(),
        });
    }
    for (i, r) in out[..n].iter_mut().enumerate() {
        *r = ((i * stride) as u16, k as u16);
    }
    Ok(n)
}

fn check_fractional(input: usize, output: usize, bounds: usize) -> Result<(), Error> {
    if output == 0
        || input < output
        || input > output.saturating_mul(2)
        || input > u16::MAX as usize
    {
        return Err(Error::InvalidConfig {
            reason: "fractional pooling needs output <= input <= 2 output",
        });
    }
    // `input` fits u16 and `output <= input`: `output + 1` cannot wrap.
    if bounds <= output {
        return Err(Error::BufferTooSmall {
            needed: output + 1,
            got: bounds,
        });
    }
    Ok(())
}

/// Graham's *random* boundaries: `a_0 = 0 < a_1 < ... < a_out = in`, increments a
/// uniformly random arrangement of `in - out` twos and `2 out - in` ones
/// (Fisher-Yates). Writes `out + 1` boundaries.
pub fn fmp_random_bounds(
    rng: &mut Xoshiro128PlusPlus,
    input: usize,
    output: usize,
    bounds: &mut [u16],
) -> Result<(), Error> {
    check_fractional(input, output, bounds.len())?;
    let twos = input - output;
    // Increments first (in bounds[1..]), shuffled, then prefix-summed.
    for (i, b) in bounds[1..=output].iter_mut().enumerate() {
        *b = if i < twos { 2 } else { 1 };
    }
    for i in (1..output).rev() {
        // i + 1 is at least 2 and below the output size (a u16).
        let bound = NonZeroU32::new(i as u32 + 1).unwrap_or(NonZeroU32::MIN);
        let j = uniform_below(rng, bound) as usize;
        bounds.swap(1 + i, 1 + j);
    }
    bounds[0] = 0;
    for i in 1..=output {
        bounds[i] += bounds[i - 1];
    }
    Ok(())
}

/// How many distinct boundary sequences [`fmp_random_bounds`] draws for
/// `input -> output`, all equally likely: the arrangements of `input - output`
/// twos among `output` increments, `C(output, input - output)`. `None` when
/// too large to count in a `u64`, or for sizes fractional pooling rejects.
pub fn fmp_random_count(input: usize, output: usize) -> Option<u64> {
    check_fractional(input, output, output.saturating_add(1)).ok()?;
    binomial(output as u64, (input - output) as u64)
}

/// `C(n, k)`, or `None` when a step overflows `u64` (only far beyond any
/// count worth enumerating; `u64` keeps 128-bit division routines out of
/// firmware).
fn binomial(n: u64, k: u64) -> Option<u64> {
    let k = k.min(n - k);
    let mut c: u64 = 1;
    for i in 0..k {
        // Exact at every step: C(n, i + 1) = C(n, i) (n - i) / (i + 1).
        c = c.checked_mul(n - i)? / (i + 1);
    }
    Some(c)
}

/// Arrangement number `rank` (lexicographic, a 1 before a 2) of the
/// [`fmp_random_count`] that [`fmp_random_bounds`] draws from, as `output + 1`
/// boundaries: enumerating every rank gives every sampling once.
pub fn fmp_ranked_bounds(
    rank: u64,
    input: usize,
    output: usize,
    bounds: &mut [u16],
) -> Result<(), Error> {
    check_fractional(input, output, bounds.len())?;
    let count = fmp_random_count(input, output).ok_or(Error::ShapeOverflow)?;
    if rank >= count {
        return Err(Error::IndexOutOfRange {
            index: rank as usize,
            len: count as usize,
        });
    }
    let (mut rank, mut twos) = (rank, (input - output) as u64);
    bounds[0] = 0;
    for i in 0..output {
        let left = (output - i - 1) as u64;
        // Arrangements of the rest that start with a 1 here.
        let with_one = if twos <= left {
            binomial(left, twos).unwrap_or(u64::MAX)
        } else {
            0
        };
        let step = if rank < with_one {
            1
        } else {
            rank -= with_one;
            twos -= 1;
            2
        };
        bounds[i + 1] = bounds[i] + step;
    }
    Ok(())
}

/// Into how many equal intervals of `u` in `[0, 1)` the boundaries of
/// [`fmp_pseudorandom_bounds`] for `input -> output` are constant:
/// `input / gcd(input, output)` (they can change only where `alpha u` or
/// `alpha (i + u)` is an integer, i.e. at the multiples of `gcd / input`).
/// Pieces may repeat a sequence; averaging over `u = (j + 1/2) / pieces` for
/// every `j` is the expectation over a uniform `u`.
pub fn fmp_pseudorandom_pieces(input: usize, output: usize) -> usize {
    let (mut a, mut b) = (input, output);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    input.checked_div(a).unwrap_or(0)
}

/// Graham's *pseudorandom* boundaries `a_i = ceil(alpha (i + u)) - ceil(alpha u)`,
/// `alpha = in / out`, for a sample `u` in `[0, 1)` (computed in `f64`).
pub fn fmp_pseudorandom_bounds(
    u: f32,
    input: usize,
    output: usize,
    bounds: &mut [u16],
) -> Result<(), Error> {
    check_fractional(input, output, bounds.len())?;
    check_setting((0.0..1.0).contains(&u), "u", "the sample must be in [0, 1)")?;
    let alpha = input as f64 / output as f64;
    let base = libm::ceil(alpha * u as f64);
    for (i, b) in bounds[..=output].iter_mut().enumerate() {
        *b = (libm::ceil(alpha * (i as f64 + u as f64)) - base) as u16;
    }
    bounds[output] = input as u16; // exact in theory; pinned against rounding
    Ok(())
}

/// Regions from boundaries: disjoint `[a_{i-1}, a_i)` or overlapping
/// `[a_{i-1}, a_i]` (the last one clipped to the input).
pub fn fmp_regions(
    bounds: &[u16],
    overlapping: bool,
    input: usize,
    regions: &mut [Region],
) -> Result<(), Error> {
    let n = bounds.len().saturating_sub(1);
    if regions.len() < n {
        return Err(Error::BufferTooSmall {
            needed: n,
            got: regions.len(),
        });
    }
    // Increasing and inside the input, checked before anything is written
    // (unordered bounds once made a region of 65,534).
    if input > u16::MAX as usize
        || bounds
            .windows(2)
            .any(|w| w[1] <= w[0] || w[1] as usize > input)
    {
        return Err(Error::InvalidConfig {
            reason:
                "fractional pooling bounds must increase and stay within the input (at most 65535)",
        });
    }
    for (i, r) in regions[..n].iter_mut().enumerate() {
        let (start, end) = (bounds[i] as usize, bounds[i + 1] as usize);
        let end = if overlapping {
            (end + 1).min(input)
        } else {
            end
        };
        *r = (start as u16, (end - start) as u16);
    }
    Ok(())
}

/// PyTorch's `fractional_max_pool2d` windows: fixed `k`, starts
/// `floor((i + u) a) - floor(u a)` with `a = (in - k) / (out - 1)` in `f32`
/// (PyTorch's arithmetic for float tensors), the last start `in - k`. With
/// the same `u`, the same windows as PyTorch.
pub fn pytorch_fmp_regions(
    u: f32,
    input: usize,
    output: usize,
    k: usize,
    regions: &mut [Region],
) -> Result<(), Error> {
    if k == 0 || k > MAX_REGION || input < k || output == 0 || output > input - k + 1 {
        return Err(Error::InvalidConfig {
            reason: "need 1 <= k <= 16, k <= input, output <= input - k + 1",
        });
    }
    // PyTorch draws u in [0, 1); sizes are stored as u16 (they were truncated).
    if !(0.0..1.0).contains(&u) || input > u16::MAX as usize {
        return Err(Error::InvalidConfig {
            reason: "PyTorch's fractional pooling takes u in [0, 1) and sizes up to 65535",
        });
    }
    if regions.len() < output {
        return Err(Error::BufferTooSmall {
            needed: output,
            got: regions.len(),
        });
    }
    if output > 1 {
        let a = (input - k) as f32 / (output - 1) as f32;
        for (i, r) in regions[..output - 1].iter_mut().enumerate() {
            let start = ((i as f32 + u) * a) as i64 - (u * a) as i64;
            *r = (start as u16, k as u16);
        }
    }
    regions[output - 1] = ((input - k) as u16, k as u16);
    Ok(())
}

/// Into how many equal intervals of `u` in `[0, 1)` the windows of
/// [`pytorch_fmp_regions`] for `input -> output` with side `k` are constant
/// (in exact arithmetic): with `a = (input - k) / (output - 1) = p / q` in
/// lowest terms, `(i + u) a` and `u a` meet integers only at multiples of
/// `1 / p`, so `p` pieces; one when the windows do not depend on `u`. Zero for
/// sizes PyTorch rejects.
pub fn pytorch_fmp_pieces(input: usize, output: usize, k: usize) -> usize {
    if k == 0 || input < k || output == 0 || output > input - k + 1 {
        return 0;
    }
    if output == 1 || input == k {
        return 1;
    }
    fmp_pseudorandom_pieces(input - k, output - 1)
}

fn check_regions(regions: &[Region], size: usize) -> Result<(), Error> {
    for &(start, len) in regions {
        if len == 0 || len as usize > MAX_REGION || start as usize + len as usize > size {
            return Err(Error::InvalidConfig {
                reason: "a pooling region is empty, too large or outside the plane",
            });
        }
    }
    Ok(())
}

/// Checks the regions against a `height x width` plane and the lengths of the
/// input-sized array and of the output-sized ones; returns the plane sizes
/// `(height * width, rows * cols)`.
pub(crate) fn check_pool(
    regions: PoolRegions<'_>,
    input_len: usize,
    output_lens: &[usize],
) -> Result<(usize, usize), Error> {
    let PoolRegions {
        planes,
        height,
        width,
        rows,
        cols,
        ..
    } = regions;
    check_regions(rows, height)?;
    check_regions(cols, width)?;
    // Empty planes or no regions: nothing to pool, and a plane loop of up to
    // usize::MAX empty iterations (it hung), so refused.
    if rows.is_empty() || cols.is_empty() || height == 0 || width == 0 {
        return Err(Error::InvalidConfig {
            reason: "pooling needs a non-empty plane and at least one region per axis",
        });
    }
    let plane_in = height.checked_mul(width).ok_or(Error::ShapeOverflow)?;
    let plane_out = rows
        .len()
        .checked_mul(cols.len())
        .ok_or(Error::ShapeOverflow)?;
    let n_in = planes.checked_mul(plane_in).ok_or(Error::ShapeOverflow)?;
    let n_out = planes.checked_mul(plane_out).ok_or(Error::ShapeOverflow)?;
    if input_len != n_in {
        return Err(Error::LengthMismatch {
            expected: n_in,
            got: input_len,
        });
    }
    if let Some(&got) = output_lens.iter().find(|&&got| got != n_out) {
        return Err(Error::LengthMismatch {
            expected: n_out,
            got,
        });
    }
    Ok((plane_in, plane_out))
}

/// Max pooling of `planes` planes of `height x width` over `rows x cols`
/// regions into `output` (`planes x rows.len() x cols.len()`), recording the
/// argmax offsets (row * len + col within the region) in `argmax`.
pub fn region_max_pool_forward(
    regions: PoolRegions<'_>,
    input: &[f32],
    output: &mut [f32],
    argmax: &mut [u8],
) -> Result<(), Error> {
    max_pool_checked::<true>(regions, input, output, argmax)
}

/// [`region_max_pool_forward`] for inference: the same outputs, bit for bit,
/// without recording argmaxes (an eval forward has no backward to route).
pub fn region_max_pool_eval(
    regions: PoolRegions<'_>,
    input: &[f32],
    output: &mut [f32],
) -> Result<(), Error> {
    max_pool_checked::<false>(regions, input, output, &mut [])
}

/// Checks the shapes (and `argmax`'s length when `RECORD`), then pools.
fn max_pool_checked<const RECORD: bool>(
    regions: PoolRegions<'_>,
    input: &[f32],
    output: &mut [f32],
    argmax: &mut [u8],
) -> Result<(), Error> {
    let PoolRegions {
        planes,
        width,
        rows,
        cols,
        ..
    } = regions;
    let lens = [output.len(), argmax.len()];
    let (plane_in, plane_out) = check_pool(
        regions,
        input.len(),
        if RECORD { &lens } else { &lens[..1] },
    )?;
    let planes_of = PlaneShape {
        planes,
        width,
        plane_in,
        plane_out,
    };
    max_pool_planes::<RECORD>(planes_of, rows, cols, input, output, argmax);
    Ok(())
}

/// Backward of [`region_max_pool_forward`]: zeroes `grad_input` and adds each
/// output gradient to its region's argmax (overlapping regions accumulate).
pub fn region_max_pool_backward(
    regions: PoolRegions<'_>,
    argmax: &[u8],
    grad_output: &[f32],
    grad_input: &mut [f32],
) -> Result<(), Error> {
    let PoolRegions {
        planes,
        width,
        rows,
        cols,
        ..
    } = regions;
    let (plane_in, plane_out) = check_pool(
        regions,
        grad_input.len(),
        &[grad_output.len(), argmax.len()],
    )?;
    // `check_pool` refused empty region lists, so these are real 2x2 windows.
    if is_2x2(rows) && is_2x2(cols) {
        // Every window has 4 elements: the first offset past them is the
        // error. The maximum first, a loop the compiler vectorizes; `find`
        // alone goes byte by byte (this function then held 3% of the CNN
        // step's samples). The search runs only on error.
        if argmax.iter().fold(0u8, |m, &a| m.max(a)) >= 4 {
            if let Some(&at) = argmax.iter().find(|&&a| a >= 4) {
                return Err(Error::IndexOutOfRange {
                    index: at as usize,
                    len: 4,
                });
            }
        }
        let shape = PlaneShape {
            planes,
            width,
            plane_in,
            plane_out,
        };
        max_pool_2x2_backward(
            shape,
            rows.len(),
            cols.len(),
            argmax,
            grad_output,
            grad_input,
        );
        return Ok(());
    }
    // Validate every recorded offset before writing anything.
    for p in 0..planes {
        for (i, &(_, rl)) in rows.iter().enumerate() {
            for (j, &(_, cl)) in cols.iter().enumerate() {
                let at = argmax[p * plane_out + i * cols.len() + j] as usize;
                if at >= rl as usize * cl as usize {
                    return Err(Error::IndexOutOfRange {
                        index: at,
                        len: rl as usize * cl as usize,
                    });
                }
            }
        }
    }
    grad_input.fill(0.0);
    // The argmax offset `row * len + col` split without a division per
    // output (with it, this function took 11.5% of the Fashion CNN's
    // training step under perf; without, 9.4%): `at / len` is
    // `at * ceil(2^16 / len) >> 16` exactly for every `at < 256` and `len <
    // 2^16` (checked exhaustively in `tests/pool.rs`).
    let mut reciprocal = [0u32; MAX_POOL_SIDE];
    for (m, &(_, cl)) in reciprocal.iter_mut().zip(cols) {
        *m = div_multiplier(cl);
    }
    // A network layer has at most MAX_POOL_SIDE columns; longer lists (the
    // public function takes any) fall back to dividing.
    let fast = cols.len() <= MAX_POOL_SIDE;
    for p in 0..planes {
        for (i, &(r0, _)) in rows.iter().enumerate() {
            let row_out = p * plane_out + i * cols.len();
            let row_in = p * plane_in + r0 as usize * width;
            for (j, &(c0, cl)) in cols.iter().enumerate() {
                let o = row_out + j;
                let at = argmax[o] as u32;
                let dr = if fast {
                    (at * reciprocal[j]) >> 16
                } else {
                    at / cl as u32
                };
                let dc = at - dr * cl as u32;
                grad_input[row_in + dr as usize * width + c0 as usize + dc as usize] +=
                    grad_output[o];
            }
        }
    }
    Ok(())
}

/// `ceil(2^16 / len)`: multiplying an offset below 256 by it and shifting
/// right by 16 divides it by `len` exactly (for `1 <= len < 2^16`; 0 for 0).
pub fn div_multiplier(len: u16) -> u32 {
    match len {
        0 => 0,
        len => 65_536u32.div_ceil(len as u32),
    }
}

/// Average pooling over the same regions: each output is the mean of its
/// region (a reduction: summed in row-major order in `f32`).
pub fn region_avg_pool_forward(
    regions: PoolRegions<'_>,
    input: &[f32],
    output: &mut [f32],
) -> Result<(), Error> {
    let PoolRegions {
        planes,
        width,
        rows,
        cols,
        ..
    } = regions;
    let (plane_in, plane_out) = check_pool(regions, input.len(), &[output.len()])?;
    for p in 0..planes {
        let x = &input[p * plane_in..(p + 1) * plane_in];
        for (i, &(r0, rl)) in rows.iter().enumerate() {
            for (j, &(c0, cl)) in cols.iter().enumerate() {
                let mut sum = 0.0f32;
                for dr in 0..rl as usize {
                    let start = (r0 as usize + dr) * width + c0 as usize;
                    sum += x[start..start + cl as usize].iter().sum::<f32>();
                }
                output[p * plane_out + i * cols.len() + j] = sum / (rl as f32 * cl as f32);
            }
        }
    }
    Ok(())
}

/// Backward of [`region_avg_pool_forward`]: zeroes `grad_input` and spreads
/// each output gradient evenly over its region.
pub fn region_avg_pool_backward(
    regions: PoolRegions<'_>,
    grad_output: &[f32],
    grad_input: &mut [f32],
) -> Result<(), Error> {
    let PoolRegions {
        planes,
        width,
        rows,
        cols,
        ..
    } = regions;
    let (plane_in, plane_out) = check_pool(regions, grad_input.len(), &[grad_output.len()])?;
    grad_input.fill(0.0);
    for p in 0..planes {
        let dx = &mut grad_input[p * plane_in..(p + 1) * plane_in];
        for (i, &(r0, rl)) in rows.iter().enumerate() {
            for (j, &(c0, cl)) in cols.iter().enumerate() {
                let share =
                    grad_output[p * plane_out + i * cols.len() + j] / (rl as f32 * cl as f32);
                for dr in 0..rl as usize {
                    let start = (r0 as usize + dr) * width + c0 as usize;
                    dx[start..start + cl as usize]
                        .iter_mut()
                        .for_each(|g| *g += share);
                }
            }
        }
    }
    Ok(())
}
