//! The optimizer updates over whole vectors: the effective gradient
//! `g + l2 p + l1 sign(p)`, then SGD, momentum or Nesterov, or Adam, with
//! decoupled decay's shrink first, and the update's squared norms measured
//! on request. `trainer/optim.rs` holds the rules' parameters and the scalar
//! path for targets without SIMD (the same operations in the same order).

use crate::simd::{
    bits_of, f32s_from_bits, load_f32s, sqrt, store_f32s, F32s, U32s, HAS_SIMD, LANES,
};

/// Whether the vector path runs here.
pub(crate) const VECTORS_AVAILABLE: bool = HAS_SIMD;

/// The rule, with Adam's bias corrections for this step folded in.
#[derive(Clone, Copy)]
pub(crate) enum VectorRule {
    Sgd,
    Momentum {
        mu: f32,
        nesterov: bool,
    },
    Adam {
        beta1: f32,
        beta2: f32,
        eps: f32,
        /// `lr / (1 - beta1^t)`.
        step_size: f32,
        /// `sqrt(1 - beta2^t)`.
        c2_root: f32,
        floors: AdamFloors,
    },
}

/// Whether [`AdamFloors`] and [`Square`]'s floor apply: wherever the vector
/// path runs (x86, NEON, WASM), and on the scalar path there too, which the
/// tests compare with it bit for bit. Targets without SIMD (Cortex-M,
/// RISC-V) have no such assist (the Cortex-M4F's FPU computes on subnormals
/// in hardware outside flush-to-zero mode, TI SLAU723A "Underflow"; soft
/// float in software) and would pay for the floors alone:
/// 12% more instructions a training step on the Cortex-M4F (777,869 ->
/// 872,575 with Adam, `scripts/firmware-footprint.sh`).
const SUBNORMAL_FLOORS: bool = VECTORS_AVAILABLE;

/// Magnitudes below which Adam's operands count as zero, so that no step of
/// the update reads or writes a subnormal float (below `f32::MIN_POSITIVE`,
/// 1.2e-38). x86 runs every vector instruction that meets one through a
/// microcode assist: measured on an Intel Xeon, the moment updates took 4 to
/// 9 times as long, and a trainer memorising its batch spent half its step
/// there. Training reaches that range for real: a weight whose gradient
/// stops (a dead ReLU unit) has its first moment decay by `beta1` a step
/// until it sticks at the smallest subnormal, which `0.9 x` rounds back to.
/// Each floor is where the product it guards would leave the normal range;
/// a weight moves by about `f32::MIN_POSITIVE / eps` a step (1.2e-30 with
/// the default `eps`) or less away from where it would without them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AdamFloors {
    /// `m` before `beta1 m`.
    pub m_in: f32,
    /// `g` before `(1 - beta1) g`.
    pub g_m: f32,
    /// `v` before `beta2 v`.
    pub v_in: f32,
    /// `g` before `(1 - beta2) g g`.
    pub g_v: f32,
    /// `m` where the update reads it, before `step_size m`.
    pub m_update: f32,
}

impl AdamFloors {
    pub(crate) fn new(beta1: f32, beta2: f32, step_size: f32) -> Self {
        let tiny = f32::MIN_POSITIVE;
        // `tiny / x`, for a factor x in (0, 1]; 0 (no floor) where x is 0 and
        // the product is 0 whatever it multiplies.
        let over = |x: f32| if x > 0.0 { tiny / x.min(1.0) } else { 0.0 };
        let one_b2 = 1.0 - beta2;
        AdamFloors {
            m_in: over(beta1).max(tiny),
            g_m: over(1.0 - beta1),
            v_in: over(beta2).max(tiny),
            g_v: over(one_b2).max(libm::sqrtf(over(one_b2))),
            m_update: over(step_size).max(tiny),
        }
    }
}

/// `x`, or +0 where `|x| < floor` (compared as bits, so a subnormal `x` is
/// never an operand of a floating-point instruction).
#[inline(always)]
fn flush_below(x: f32, floor: f32) -> f32 {
    if x.to_bits() & 0x7fff_ffff < floor.to_bits() {
        0.0
    } else {
        x
    }
}

/// [`flush_below`] where [`SUBNORMAL_FLOORS`] apply, `x` unchanged elsewhere:
/// the scalar path's one formula for both kinds of target.
#[inline(always)]
pub(crate) fn floored(x: f32, floor: f32) -> f32 {
    if SUBNORMAL_FLOORS {
        flush_below(x, floor)
    } else {
        x
    }
}

/// [`flush_below`] lane by lane.
#[inline(always)]
fn flush_lanes_below(x: F32s, floor: U32s) -> F32s {
    let bits: U32s = bits_of(x);
    let below = (bits & U32s::splat(0x7fff_ffff)).simd_lt(floor);
    f32s_from_bits(bits & !below)
}

/// Weight decay as the update applies it.
#[derive(Clone, Copy)]
pub(crate) struct VectorDecay {
    /// L2 added to the gradient (0 when decoupled).
    pub coupled_l2: f32,
    pub l1: f32,
    /// `1 - lr l2` for decoupled decay (AdamW).
    pub shrink: Option<f32>,
}

/// One update of `params` from `grads` and the rule's `state` (momentum's
/// velocity, or Adam's `m` then `v`); returns `(sum delta^2, sum p_old^2)`
/// when `measure`, else zeros.
pub(crate) fn update_vectors(
    rule: VectorRule,
    decay: VectorDecay,
    lr: f32,
    measure: bool,
    params: &mut [f32],
    grads: &[f32],
    state: &mut [f32],
) -> (f64, f64) {
    let n = params.len();
    let shrink = decay.shrink.map(F32s::splat);
    let (l2v, l1v) = (F32s::splat(decay.coupled_l2), F32s::splat(decay.l1));
    let grad = move |p: F32s, g: F32s| {
        let sign = p.simd_gt(F32s::ZERO).select(F32s::ONE, F32s::ZERO)
            - p.simd_lt(F32s::ZERO).select(F32s::ONE, F32s::ZERO);
        g + l2v * p + l1v * sign
    };
    let mut acc = (F32s::ZERO, F32s::ZERO);
    let lr_v = F32s::splat(lr);
    match rule {
        VectorRule::Sgd => for_each_lanes(params, grads, &mut [], &mut [], |p, g, _, _| {
            measured(measure, p, shrink, &mut acc, |p| *p -= lr_v * grad(*p, g));
        }),
        VectorRule::Momentum { mu, nesterov } => {
            let mu = F32s::splat(mu);
            for_each_lanes(params, grads, state, &mut [], |p, g, v, _| {
                measured(measure, p, shrink, &mut acc, |p| {
                    let g = grad(*p, g);
                    *v = mu * *v + g;
                    *p -= lr_v * if nesterov { g + mu * *v } else { *v };
                });
            });
        }
        VectorRule::Adam {
            beta1,
            beta2,
            eps,
            step_size,
            c2_root,
            floors,
        } => {
            let (m, v) = state.split_at_mut(n);
            let step_size = F32s::splat(step_size);
            let c2_root = F32s::splat(c2_root);
            let (b1, b2, eps) = (F32s::splat(beta1), F32s::splat(beta2), F32s::splat(eps));
            let (one_b1, one_b2) = (F32s::splat(1.0 - beta1), F32s::splat(1.0 - beta2));
            let floor = |f: f32| U32s::splat(f.to_bits());
            let (m_in, g_m, v_in) = (floor(floors.m_in), floor(floors.g_m), floor(floors.v_in));
            let (g_v, m_update) = (floor(floors.g_v), floor(floors.m_update));
            let normal = floor(f32::MIN_POSITIVE);
            for_each_lanes(params, grads, m, v, |p, g, m, v| {
                measured(measure, p, shrink, &mut acc, |p| {
                    let g = grad(*p, g);
                    let g_for_m = flush_lanes_below(g, g_m);
                    let m_new = b1 * flush_lanes_below(*m, m_in) + one_b1 * g_for_m;
                    // The sum of two normal floats can still cancel below the range.
                    *m = flush_lanes_below(m_new, normal);
                    let g_for_v = flush_lanes_below(g, g_v);
                    *v = b2 * flush_lanes_below(*v, v_in) + one_b2 * g_for_v * g_for_v;
                    let m_used = flush_lanes_below(*m, m_update);
                    *p -= step_size * m_used / (sqrt(*v) / c2_root + eps);
                });
            });
        }
    }
    let sum = |v: F32s| v.as_array().iter().map(|&x| x as f64).sum::<f64>();
    (sum(acc.0), sum(acc.1))
}

/// Shrinks `p` (decoupled decay), runs `step` on it and, if `measure`, adds
/// the squared change and the squared old weights to `acc`.
/// One function for vectors and (targets without SIMD) single floats.
#[inline(always)]
pub(crate) fn measured<T>(
    measure: bool,
    p: &mut T,
    shrink: Option<T>,
    acc: &mut (T, T),
    step: impl FnOnce(&mut T),
) where
    T: Copy + core::ops::MulAssign + core::ops::AddAssign + core::ops::Sub<Output = T>,
    T: Square,
{
    let old = *p;
    if let Some(s) = shrink {
        *p *= s;
    }
    step(p);
    if measure {
        let d = *p - old;
        acc.0 += d.square();
        acc.1 += old.square();
    }
}

/// `x * x`, or 0 where that would be subnormal (`|x| < 2^-63`): the norms
/// it sums lose at most 1.2e-38 an element, and x86 takes no assist (see
/// [`AdamFloors`]).
pub(crate) trait Square {
    fn square(self) -> Self;
}

/// `2^-63`: the square of anything smaller is below `f32::MIN_POSITIVE`.
const SQUARE_FLOOR: f32 = 1.0 / (1u64 << 63) as f32;

impl Square for f32 {
    #[inline(always)]
    fn square(self) -> f32 {
        let x = floored(self, SQUARE_FLOOR);
        x * x
    }
}

impl Square for F32s {
    #[inline(always)]
    fn square(self) -> F32s {
        let x = flush_lanes_below(self, U32s::splat(SQUARE_FLOOR.to_bits()));
        x * x
    }
}

/// Runs `f(p, g, a, b)` over vectors of `params`, `grads` and up to two state
/// slices (empty ones read as zeros and are not written). The tail goes through
/// zero-padded vectors, so every element takes the same arithmetic.
fn for_each_lanes(
    params: &mut [f32],
    grads: &[f32],
    a: &mut [f32],
    b: &mut [f32],
    mut f: impl FnMut(&mut F32s, F32s, &mut F32s, &mut F32s),
) {
    let n = params.len();
    let full = n / LANES * LANES;
    let (has_a, has_b) = (a.len() == n, b.len() == n);
    // Whole vectors: fixed-size loads and stores.
    for i in (0..full).step_by(LANES) {
        let load = |s: &[f32], present: bool| {
            if present {
                load_f32s(&s[i..])
            } else {
                F32s::ZERO
            }
        };
        let (mut p, g) = (load_f32s(&params[i..]), load_f32s(&grads[i..]));
        let (mut va, mut vb) = (load(a, has_a), load(b, has_b));
        f(&mut p, g, &mut va, &mut vb);
        store_f32s(&mut params[i..], p);
        if has_a {
            store_f32s(&mut a[i..], va);
        }
        if has_b {
            store_f32s(&mut b[i..], vb);
        }
    }
    if full == n {
        return;
    }
    // The tail through zero-padded vectors.
    let len = n - full;
    let load = |s: &[f32]| {
        let mut lanes = [0.0f32; LANES];
        if let Some(src) = s.get(full..n) {
            lanes[..len].copy_from_slice(src);
        }
        F32s::new(lanes)
    };
    let (mut p, g, mut va, mut vb) = (load(params), load(grads), load(a), load(b));
    f(&mut p, g, &mut va, &mut vb);
    params[full..].copy_from_slice(&p.as_array()[..len]);
    if has_a {
        a[full..].copy_from_slice(&va.as_array()[..len]);
    }
    if has_b {
        b[full..].copy_from_slice(&vb.as_array()[..len]);
    }
}
