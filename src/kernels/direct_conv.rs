//! The direct stride-1 convolution's inner loops: [`DIRECT_OC`] output
//! channels x one vector of output columns accumulate in registers, tap by
//! tap, from a zero-padded copy of the sample and weights packed block by
//! block (`layers/conv.rs` prepares both).

use crate::simd::{load_f32s, store_lanes, F32s, HAS_SIMD, LANES};

/// Output channels the direct forward accumulates at once: 8 x 16 floats fill
/// 8 of AVX-512's 32 registers (two or four times that on narrower SIMD).
pub(crate) const DIRECT_OC: usize = if cfg!(target_feature = "avx512f") {
    8
} else {
    4
};

/// Whether the direct kernel runs here (it needs SIMD).
pub(crate) const DIRECT_AVAILABLE: bool = HAS_SIMD;

/// Floats the padded copy needs past its end: loads run up to a vector past
/// a row (those lanes are never stored).
pub(crate) const LOAD_SLACK: usize = LANES;

/// The shape of one sample's direct convolution.
pub(crate) struct DirectShape {
    pub in_channels: usize,
    pub out_channels: usize,
    pub k: usize,
    pub out_height: usize,
    pub out_width: usize,
    /// Width of a padded input row.
    pub padded_width: usize,
    /// Floats of one padded input channel.
    pub padded_plane: usize,
}

/// What one sample's direct convolution reads.
#[derive(Clone, Copy)]
pub(crate) struct DirectOperands<'a> {
    /// The padded sample, channel after channel (plus [`LOAD_SLACK`]).
    pub padded: &'a [f32],
    /// Weights of each block of [`DIRECT_OC`] channels tap by tap, its
    /// channels side by side; the channels after the last block as they are.
    pub packed: &'a [f32],
    pub bias: &'a [f32],
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

/// Output channels `oc..oc + N`, from their packed weights `packed`.
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
    let (pw, plane) = (shape.padded_width, shape.padded_plane);
    let (padded, bias, relu) = (operands.padded, operands.bias, operands.relu);
    for oy in 0..oh {
        for ox in (0..ow).step_by(LANES) {
            let mut acc: [F32s; N] = core::array::from_fn(|o| F32s::splat(bias[oc + o]));
            for c in 0..shape.in_channels {
                for ky in 0..k {
                    let row = &padded[c * plane + (oy + ky) * pw + ox..];
                    let taps = &packed[(c * k * k + ky * k) * N..][..k * N];
                    for (kx, w) in taps.chunks_exact(N).enumerate() {
                        let v = load_f32s(&row[kx..]);
                        for (a, &wv) in acc.iter_mut().zip(w) {
                            *a = v.mul_add(F32s::splat(wv), *a);
                        }
                    }
                }
            }
            let n = (ow - ox).min(LANES);
            for (o, a) in acc.iter().enumerate() {
                let a = if relu { a.max(F32s::ZERO) } else { *a };
                store_lanes(&mut y[((oc + o) * oh + oy) * ow + ox..], a, n);
            }
        }
    }
}
