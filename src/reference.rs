//! Naive scalar references of every kernel: one element at a time, drawing from
//! 16 scalar [`rand_xoshiro::Xoshiro128PlusPlus`] streams. Never on a fast path;
//! tests and fuzz targets check the SIMD kernels against these bit for bit
//! (NaN payloads aside: any NaN equals any NaN).
//!
//! They validate their input exactly like the fast functions and return the same
//! errors, so a test can compare results and errors alike.

use rand_core::Rng;
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::error::Error;
use crate::layers::buffers::BackwardBuffers;
use crate::layers::dropout::DropoutKind;
use crate::layers::mode::Mode;
use crate::layers::pool::{PoolRegions, Region};
use crate::rng::{MaskRng, STREAMS};

/// The 16 scalar streams that mirror a [`MaskRng`].
pub type Streams = [Xoshiro128PlusPlus; STREAMS];

/// Stream `j` is `Xoshiro128PlusPlus::seed_from_u64(seed)` jumped `j` times.
pub fn streams_from_seed(seed: u64) -> Streams {
    use rand_core::SeedableRng;
    let mut base = Xoshiro128PlusPlus::seed_from_u64(seed);
    core::array::from_fn(|_| {
        let stream = base.clone();
        base.jump();
        stream
    })
}

/// The scalar streams at the position of `rng`.
pub fn streams_of(rng: &MaskRng) -> Streams {
    core::array::from_fn(|j| rng.stream(j).expect("j < STREAMS"))
}

/// Draws the keep decision of each of `units` units, in order: unit `i` from
/// stream `i % 16`. Every stream advances `ceil(units / 16)` times, like the
/// SIMD kernel, tail included.
fn for_each_draw(
    streams: &mut Streams,
    threshold: u64,
    units: usize,
    mut f: impl FnMut(usize, bool),
) {
    for block in 0..units.div_ceil(STREAMS) {
        for (j, stream) in streams.iter_mut().enumerate() {
            let draw = stream.next_u32();
            let i = block * STREAMS + j;
            if i < units {
                f(i, (draw as u64) < threshold);
            }
        }
    }
}

/// The oracle's own keep rule (SPEC): a unit is kept when its 32-bit draw is
/// below `t = round(keep * 2^32)`, half away from zero; `keep` in `[0, 1]`.
/// Exact: `keep` has 24 significant bits, so `keep * 2^32 + 0.5` is exact in
/// `f64`.
pub fn threshold(keep: f32) -> Result<u64, Error> {
    if !(0.0..=1.0).contains(&keep) {
        return Err(Error::InvalidKeep { keep });
    }
    Ok(libm::floor(keep as f64 * 4_294_967_296.0 + 0.5) as u64)
}

/// A dropout rule as the oracle reads it: the kind, and the keep
/// probability as given (the oracle derives its threshold and scales
/// itself, not through the code it checks).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// Vanilla (scale at eval) or inverted (scale at train).
    pub kind: DropoutKind,
    /// The keep probability.
    pub keep: f32,
}

impl Rule {
    /// `(threshold, train scale, eval scale)`: with `q = t / 2^32` exact,
    /// inverted scales by `1 / q` (rounded once to `f32`) at train and 1 at
    /// eval; vanilla by 1 at train and `q` rounded to `f32` at eval. An
    /// inverted rule with `t = 0` has no scale and is refused.
    fn scales(self) -> Result<(u64, f32, f32), Error> {
        let t = threshold(self.keep)?;
        let q = t as f64 / 4_294_967_296.0;
        match self.kind {
            DropoutKind::Inverted if t == 0 => Err(Error::InvalidKeep { keep: self.keep }),
            DropoutKind::Inverted => Ok((t, (1.0 / q) as f32, 1.0)),
            DropoutKind::Vanilla => Ok((t, 1.0, q as f32)),
        }
    }
}

/// Bit `i` of a bit-packed mask (bit `i % 8` of byte `i / 8`).
fn bit(mask: &[u8], i: usize) -> bool {
    mask.get(i / 8).is_some_and(|byte| byte >> (i % 8) & 1 == 1)
}

fn set_bit(mask: &mut [u8], i: usize, on: bool) {
    if on {
        mask[i / 8] |= 1 << (i % 8);
    } else {
        mask[i / 8] &= !(1 << (i % 8));
    }
}

/// Clears the padding bits of the last mask byte, as the SIMD kernels do.
fn clear_padding(mask: &mut [u8], units: usize) {
    if !units.is_multiple_of(8) {
        mask[units / 8] &= (1u8 << (units % 8)) - 1;
    }
}

fn check(units: usize, out_len: usize, mask_len: Option<usize>) -> Result<(), Error> {
    if units != out_len {
        return Err(Error::LengthMismatch {
            expected: units,
            got: out_len,
        });
    }
    if let Some(got) = mask_len {
        if got < units.div_ceil(8) {
            return Err(Error::BufferTooSmall {
                needed: units.div_ceil(8),
                got,
            });
        }
    }
    Ok(())
}

/// Reference of [`crate::bernoulli_mask`].
pub fn bernoulli_mask(
    keep: f32,
    streams: &mut Streams,
    units: usize,
    mask: &mut [u8],
) -> Result<(), Error> {
    let t = threshold(keep)?;
    check(units, units, Some(mask.len()))?;
    for_each_draw(streams, t, units, |i, kept| set_bit(mask, i, kept));
    clear_padding(mask, units);
    Ok(())
}

/// Reference of [`crate::Dropout::forward`].
pub fn dropout_forward(
    rule: Rule,
    mode: Mode,
    streams: &mut Streams,
    input: &[f32],
    output: &mut [f32],
    mask: &mut [u8],
) -> Result<(), Error> {
    let (t, scale, _) = rule.scales()?;
    match mode {
        Mode::Train => {
            check(input.len(), output.len(), Some(mask.len()))?;
            for_each_draw(streams, t, input.len(), |i, kept| {
                output[i] = input[i] * if kept { scale } else { 0.0 };
                set_bit(mask, i, kept);
            });
            clear_padding(mask, input.len());
        }
        Mode::Eval => {
            check(input.len(), output.len(), None)?;
            dropout_eval(rule, input, output)?;
        }
    }
    Ok(())
}

/// Reference of [`crate::Dropout::forward_with_mask`] (and of the train
/// backward, which is the same map applied to the gradient).
pub fn dropout_forward_with_mask(
    rule: Rule,
    mask: &[u8],
    input: &[f32],
    output: &mut [f32],
) -> Result<(), Error> {
    let (_, scale, _) = rule.scales()?;
    check(input.len(), output.len(), Some(mask.len()))?;
    for (i, (y, &x)) in output.iter_mut().zip(input).enumerate() {
        *y = x * if bit(mask, i) { scale } else { 0.0 };
    }
    Ok(())
}

/// Reference of [`crate::Dropout::backward`].
pub fn dropout_backward(
    rule: Rule,
    mode: Mode,
    mask: &[u8],
    grad_output: &[f32],
    grad_input: &mut [f32],
) -> Result<(), Error> {
    match mode {
        Mode::Train => dropout_forward_with_mask(rule, mask, grad_output, grad_input),
        Mode::Eval => {
            rule.scales()?;
            check(grad_output.len(), grad_input.len(), None)?;
            dropout_eval(rule, grad_output, grad_input)
        }
    }
}

fn dropout_eval(rule: Rule, input: &[f32], output: &mut [f32]) -> Result<(), Error> {
    let (_, _, scale) = rule.scales()?;
    match rule.kind {
        DropoutKind::Inverted => output.copy_from_slice(input),
        DropoutKind::Vanilla => {
            for (y, &x) in output.iter_mut().zip(input) {
                *y = x * scale;
            }
        }
    }
    Ok(())
}

/// Reference of the dense forward (`f64` accumulation): `output = relu?(scale *
/// input (W ⊙ M)^T + b)`, with mask bit `o * inputs + i` when `mask` is given.
pub fn dense_forward(
    dense: &crate::layers::dense::Dense,
    batch: usize,
    params: crate::layers::dense::DenseParams<'_>,
    mask: Option<&[u8]>,
    scale: f32,
    input: &[f32],
    output: &mut [f32],
) {
    let (ni, no) = (dense.inputs(), dense.outputs());
    for b in 0..batch {
        for o in 0..no {
            let mut sum = 0f64;
            for i in 0..ni {
                let m = mask.is_none_or(|mask| bit(mask, o * ni + i));
                let w = if m { params.weights[o * ni + i] } else { 0.0 };
                sum += input[b * ni + i] as f64 * w as f64;
            }
            let y = (scale as f64 * sum + params.bias[o] as f64) as f32;
            output[b * no + o] = if dense.has_relu() && y < 0.0 { 0.0 } else { y };
        }
    }
}

/// Reference of the dense backward (`f64` accumulation), same conventions as
/// [`crate::Dense::backward`]: ReLU-masks `grad_output` in place, accumulates
/// into `grads`, overwrites `grad_input` (`io.scratch` is not used).
pub fn dense_backward(
    dense: &crate::layers::dense::Dense,
    params: crate::layers::dense::DenseParams<'_>,
    mask: Option<&[u8]>,
    scale: f32,
    grads: crate::layers::dense::DenseGrads<'_>,
    io: BackwardBuffers<'_>,
) {
    let BackwardBuffers {
        batch,
        input,
        output,
        grad_output,
        grad_input,
        ..
    } = io;
    let (ni, no) = (dense.inputs(), dense.outputs());
    if dense.has_relu() {
        for (g, &y) in grad_output.iter_mut().zip(output) {
            if y <= 0.0 {
                *g = 0.0;
            }
        }
    }
    let keep = |o: usize, i: usize| mask.is_none_or(|mask| bit(mask, o * ni + i));
    for o in 0..no {
        grads.bias[o] = (grads.bias[o] as f64
            + (0..batch)
                .map(|b| grad_output[b * no + o] as f64)
                .sum::<f64>()) as f32;
        for i in 0..ni {
            let sum: f64 = (0..batch)
                .map(|b| grad_output[b * no + o] as f64 * input[b * ni + i] as f64)
                .sum();
            let g = if keep(o, i) { scale as f64 * sum } else { 0.0 };
            grads.weights[o * ni + i] = (grads.weights[o * ni + i] as f64 + g) as f32;
        }
    }
    if let Some(dx) = grad_input {
        for b in 0..batch {
            for i in 0..ni {
                let sum: f64 = (0..no)
                    .filter(|&o| keep(o, i))
                    .map(|o| grad_output[b * no + o] as f64 * params.weights[o * ni + i] as f64)
                    .sum();
                dx[b * ni + i] = (scale as f64 * sum) as f32;
            }
        }
    }
}

/// Reference of [`crate::softmax_cross_entropy`] in `f64`: the mean loss and
/// the gradient `(softmax - onehot) / batch`.
pub fn softmax_cross_entropy(
    classes: usize,
    logits: &[f32],
    labels: &[u32],
    grad: &mut [f64],
) -> f64 {
    let batch = labels.len();
    let mut total = 0.0;
    for (b, &label) in labels.iter().enumerate() {
        let z = &logits[b * classes..(b + 1) * classes];
        let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let sum: f64 = z.iter().map(|&v| libm::exp(v as f64 - max)).sum();
        total += libm::log(sum) + (max - z[label as usize] as f64);
        for k in 0..classes {
            let p = libm::exp(z[k] as f64 - max) / sum;
            grad[b * classes + k] = (p - (k == label as usize) as u32 as f64) / batch as f64;
        }
    }
    total / batch as f64
}

/// Reference of [`crate::layers::mixup::blend`]: `lambda * a + (1 - lambda) * b`
/// per element.
pub fn blend(lambda: f32, a: &[f32], b: &[f32], out: &mut [f32]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = lambda * x + (1.0 - lambda) * y;
    }
}

/// The pooling contract, written out again for the oracle (not the layer's
/// own check): every region non-empty, at most `MAX_REGION` long and inside
/// its axis; a non-empty plane and at least one region per axis; sizes that
/// do not overflow. Returns `(height * width, rows * cols)`.
fn pool_sizes(
    planes: usize,
    (height, width): (usize, usize),
    (rows, cols): (&[Region], &[Region]),
) -> Result<(usize, usize), Error> {
    let fits = |regions: &[Region], size: usize| {
        regions.iter().all(|&(start, len)| {
            len > 0
                && len as usize <= crate::layers::pool::MAX_REGION
                && start as usize + len as usize <= size
        })
    };
    if !fits(rows, height) || !fits(cols, width) {
        return Err(Error::InvalidConfig {
            reason: "a pooling region is empty, too large or outside the plane",
        });
    }
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
    planes.checked_mul(plane_in).ok_or(Error::ShapeOverflow)?;
    planes.checked_mul(plane_out).ok_or(Error::ShapeOverflow)?;
    Ok((plane_in, plane_out))
}

/// Reference of [`crate::layers::pool::region_max_pool_forward`]: per region,
/// the position of its first NaN in row-major order if it has one, else of the
/// first element equal to its maximum.
pub fn region_max_pool(
    regions: PoolRegions<'_>,
    input: &[f32],
    output: &mut [f32],
    argmax: &mut [u8],
) -> Result<(), Error> {
    let PoolRegions {
        planes,
        height,
        width,
        rows,
        cols,
    } = regions;
    let (plane_in, plane_out) = pool_sizes(planes, (height, width), (rows, cols))?;
    if input.len() != planes * plane_in {
        return Err(Error::LengthMismatch {
            expected: planes * plane_in,
            got: input.len(),
        });
    }
    for got in [output.len(), argmax.len()] {
        if got != planes * plane_out {
            return Err(Error::LengthMismatch {
                expected: planes * plane_out,
                got,
            });
        }
    }
    let mut o = 0;
    for p in 0..planes {
        for &(r0, rl) in rows {
            for &(c0, cl) in cols {
                let (r0, rl, c0, cl) = (r0 as usize, rl as usize, c0 as usize, cl as usize);
                let at = |t: usize| input[p * plane_in + (r0 + t / cl) * width + c0 + t % cl];
                let n = rl * cl;
                let pos = (0..n).position(|t| at(t).is_nan()).unwrap_or_else(|| {
                    let top = (0..n).map(at).fold(f32::NEG_INFINITY, f32::max);
                    (0..n).position(|t| at(t) == top).unwrap_or(0)
                });
                output[o] = at(pos);
                argmax[o] = pos as u8;
                o += 1;
            }
        }
    }
    debug_assert_eq!(o, planes * plane_out);
    Ok(())
}
