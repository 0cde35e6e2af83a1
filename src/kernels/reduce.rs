//! Sums over a plane: a convolution's bias gradient (`db += sum dy`, after
//! the ReLU's mask). Sixteen partial sums, one per lane, then added in lane
//! order: the same order on every target (the logical width is 16
//! everywhere), and vectorized where a single running sum cannot be.

use crate::simd::{load_f32s, store_f32s, F32s, LANES};

/// Zeroes `grad[i]` where `output[i] <= 0` if `relu` (the ReLU's backward),
/// then returns the sum of `grad`.
pub(crate) fn relu_mask_and_sum(relu: bool, output: &[f32], grad: &mut [f32]) -> f32 {
    debug_assert_eq!(output.len(), grad.len());
    let mut acc = F32s::ZERO;
    let full = grad.len() / LANES * LANES;
    let (body, tail) = grad.split_at_mut(full);
    let (out_body, out_tail) = output.split_at(full);
    for (g, y) in body
        .chunks_exact_mut(LANES)
        .zip(out_body.chunks_exact(LANES))
    {
        let mut v = load_f32s(g);
        if relu {
            // 0 where y <= 0, v elsewhere (a NaN output keeps v, as the
            // scalar rule does).
            v = load_f32s(y).simd_le(F32s::ZERO).select(F32s::ZERO, v);
            store_f32s(g, v);
        }
        acc += v;
    }
    let mut sum = 0.0f32;
    for lane in acc.to_array() {
        sum += lane;
    }
    for (g, &y) in tail.iter_mut().zip(out_tail) {
        if relu && y <= 0.0 {
            *g = 0.0;
        }
        sum += *g;
    }
    sum
}
