//! Optimizers, weight decay, gradient clipping and learning-rate schedules, in
//! PyTorch's conventions (`torch.optim`): every update is a pass over caller
//! slices of parameters, gradients and optimizer state.

use crate::error::{check_setting, Error};
use crate::kernels::update::{
    floored, measured, update_vectors, AdamFloors, VectorDecay, VectorRule, VECTORS_AVAILABLE,
};

/// The update rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Plain stochastic gradient descent: `p -= lr * g`.
    Sgd,
    /// Heavy-ball momentum: `v = mu v + g; p -= lr v` (PyTorch, dampening 0).
    Momentum {
        /// `mu`, in `[0, 1)`.
        momentum: f32,
    },
    /// Nesterov momentum: `v = mu v + g; p -= lr (g + mu v)` (PyTorch's form).
    Nesterov {
        /// `mu`, in `[0, 1)`.
        momentum: f32,
    },
    /// Adam (Kingma and Ba 2015) with bias correction.
    Adam {
        /// First-moment decay, in `[0, 1)` (0.9).
        beta1: f32,
        /// Second-moment decay, in `[0, 1)` (0.999).
        beta2: f32,
        /// Added to the root of the second moment (1e-8).
        eps: f32,
    },
}

impl Optimizer {
    /// Adam with PyTorch's defaults (0.9, 0.999, 1e-8).
    pub const ADAM: Optimizer = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// Floats of optimizer state per parameter: 0 (SGD), 1 (momentum), 2 (Adam).
    pub const fn state_per_param(&self) -> usize {
        match self {
            Optimizer::Sgd => 0,
            Optimizer::Momentum { .. } | Optimizer::Nesterov { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let unit = |v: f32| (0.0..1.0).contains(&v);
        let in_unit = "must be in [0, 1)";
        match *self {
            Optimizer::Sgd => Ok(()),
            Optimizer::Momentum { momentum } | Optimizer::Nesterov { momentum } => {
                check_setting(unit(momentum), "momentum", in_unit)
            }
            Optimizer::Adam { beta1, beta2, eps } => {
                check_setting(unit(beta1), "beta1", in_unit)?;
                check_setting(unit(beta2), "beta2", in_unit)?;
                check_setting(
                    eps > 0.0 && eps.is_finite(),
                    "eps",
                    "must be positive and finite",
                )
            }
        }
    }
}

/// Weight decay. `l2` is coupled (added to the gradient: SGD's and Adam's
/// `weight_decay`) unless `decoupled`, which shrinks the weights directly:
/// `p *= 1 - lr * l2` (AdamW, Loshchilov and Hutter 2019). `l1` adds
/// `l1 * sign(p)` to the gradient.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct WeightDecay {
    /// L2 coefficient, `>= 0`.
    pub l2: f32,
    /// Apply L2 as AdamW does instead of through the gradient.
    pub decoupled: bool,
    /// L1 coefficient, `>= 0`.
    pub l1: f32,
}

impl WeightDecay {
    /// No decay.
    pub const NONE: WeightDecay = WeightDecay {
        l2: 0.0,
        decoupled: false,
        l1: 0.0,
    };
}

/// An optimizer with its decay, applied to one parameter tensor at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Update {
    /// The rule.
    pub optimizer: Optimizer,
    /// Decay of the weights (biases and norm parameters usually get none).
    pub decay: WeightDecay,
}

/// Adam's bias corrections at one step, the same for every tensor: the
/// trainer computes them once a step (two `powf` a tensor had been 1.5% of
/// a 64-128-10 training step). Ones for the other rules, which have none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StepCorrections {
    /// `1 - beta1^t`.
    c1: f32,
    /// `sqrt(1 - beta2^t)`.
    c2_root: f32,
}

impl StepCorrections {
    /// At `step`, counted from 1 (0 counts as 1).
    pub(crate) fn new(optimizer: Optimizer, step: u32) -> Self {
        match optimizer {
            Optimizer::Adam { beta1, beta2, .. } => {
                let t = step.max(1) as f32;
                StepCorrections {
                    c1: 1.0 - libm::powf(beta1, t),
                    c2_root: libm::sqrtf(1.0 - libm::powf(beta2, t)),
                }
            }
            _ => StepCorrections {
                c1: 1.0,
                c2_root: 1.0,
            },
        }
    }
}

impl Update {
    /// Checks the settings once, so [`Update::apply`] cannot fail.
    pub fn new(optimizer: Optimizer, decay: WeightDecay) -> Result<Self, Error> {
        optimizer.validate()?;
        let ok = |v: f32| v >= 0.0 && v.is_finite();
        let rule = "must be finite and >= 0";
        check_setting(ok(decay.l2), "l2", rule)?;
        check_setting(ok(decay.l1), "l1", rule)?;
        Ok(Update { optimizer, decay })
    }

    /// One step at learning rate `lr`; `step` counts from 1 (Adam's bias
    /// correction). `state` holds `state_per_param()` floats per parameter,
    /// interleaved by tensor: first moments, then second moments.
    pub fn apply(
        &self,
        lr: f32,
        step: u32,
        params: &mut [f32],
        grads: &[f32],
        state: &mut [f32],
    ) -> Result<(), Error> {
        let corrections = StepCorrections::new(self.optimizer, step);
        self.apply_inner(false, lr, corrections, params, grads, state)
            .map(|_| ())
    }

    /// [`Update::apply`], also measuring the step: the squared norms of the
    /// change `p_new - p_old` and of the weights before it, in the same pass
    /// (the update-to-weight ratio of CS231n's lecture 7 is the square root of
    /// their quotient). The update itself is bit-identical to `apply`'s.
    pub fn apply_measured(
        &self,
        lr: f32,
        step: u32,
        params: &mut [f32],
        grads: &[f32],
        state: &mut [f32],
    ) -> Result<UpdateNorms, Error> {
        let corrections = StepCorrections::new(self.optimizer, step);
        self.apply_inner(true, lr, corrections, params, grads, state)
    }

    /// [`Update::apply_measured`] (or `apply`, `measure` false) with the
    /// step's corrections computed by the caller: the trainer computes them
    /// once a step for all its tensors.
    // Out of line: inlined, its constants sat in the training step's frame,
    // under every forward and backward pass (Cortex-M4F peak stack).
    #[inline(never)]
    pub(crate) fn apply_inner(
        &self,
        measure: bool,
        lr: f32,
        corrections: StepCorrections,
        params: &mut [f32],
        grads: &[f32],
        state: &mut [f32],
    ) -> Result<UpdateNorms, Error> {
        let n = params.len();
        if grads.len() != n {
            return Err(Error::LengthMismatch {
                expected: n,
                got: grads.len(),
            });
        }
        let needed = n * self.optimizer.state_per_param();
        if state.len() != needed {
            return Err(Error::LengthMismatch {
                expected: needed,
                got: state.len(),
            });
        }
        if !VECTORS_AVAILABLE {
            return Ok(self.apply_scalar(measure, lr, corrections, params, grads, state));
        }
        let WeightDecay { l2, decoupled, l1 } = self.decay;
        let decay = VectorDecay {
            coupled_l2: if decoupled { 0.0 } else { l2 },
            l1,
            // Decoupled decay shrinks each weight before its update (AdamW).
            shrink: (decoupled && l2 != 0.0).then_some(1.0 - lr * l2),
        };
        let rule = match self.optimizer {
            Optimizer::Sgd => VectorRule::Sgd,
            Optimizer::Momentum { momentum } => VectorRule::Momentum {
                mu: momentum,
                nesterov: false,
            },
            Optimizer::Nesterov { momentum } => VectorRule::Momentum {
                mu: momentum,
                nesterov: true,
            },
            Optimizer::Adam { beta1, beta2, eps } => {
                let step_size = lr / corrections.c1;
                VectorRule::Adam {
                    beta1,
                    beta2,
                    eps,
                    step_size,
                    c2_root: corrections.c2_root,
                    floors: AdamFloors::new(beta1, beta2, step_size),
                }
            }
        };
        let (delta_sq, weight_sq) = update_vectors(rule, decay, lr, measure, params, grads, state);
        Ok(UpdateNorms {
            delta_sq,
            weight_sq,
        })
    }
}

impl Update {
    /// The update one element at a time, for targets without SIMD, where the
    /// sixteen-lane vectors are arrays in memory (1.7 KB of stack on the
    /// Cortex-M4F). The same operations in the same order as the vector path,
    /// so the same results bit for bit; only the measured norms sum in
    /// another order.
    fn apply_scalar(
        &self,
        measure: bool,
        lr: f32,
        corrections: StepCorrections,
        params: &mut [f32],
        grads: &[f32],
        state: &mut [f32],
    ) -> UpdateNorms {
        let n = params.len();
        let WeightDecay { l2, decoupled, l1 } = self.decay;
        let coupled_l2 = if decoupled { 0.0 } else { l2 };
        let shrink = (decoupled && l2 != 0.0).then_some(1.0 - lr * l2);
        let grad = |p: f32, g: f32| {
            let sign = if p > 0.0 { 1.0 } else { 0.0 } - if p < 0.0 { 1.0 } else { 0.0 };
            g + coupled_l2 * p + l1 * sign
        };
        let mut acc = (0.0f32, 0.0f32);
        match self.optimizer {
            Optimizer::Sgd => {
                for (i, p) in params.iter_mut().enumerate() {
                    measured(measure, p, shrink, &mut acc, |p| {
                        *p -= lr * grad(*p, grads[i])
                    });
                }
            }
            Optimizer::Momentum { momentum } | Optimizer::Nesterov { momentum } => {
                let nesterov = matches!(self.optimizer, Optimizer::Nesterov { .. });
                for (i, p) in params.iter_mut().enumerate() {
                    measured(measure, p, shrink, &mut acc, |p| {
                        let g = grad(*p, grads[i]);
                        let v = &mut state[i];
                        *v = momentum * *v + g;
                        *p -= lr * if nesterov { g + momentum * *v } else { *v };
                    });
                }
            }
            Optimizer::Adam { beta1, beta2, eps } => {
                let (m, v) = state.split_at_mut(n);
                let step_size = lr / corrections.c1;
                let c2_root = corrections.c2_root;
                let (one_b1, one_b2) = (1.0 - beta1, 1.0 - beta2);
                let floors = AdamFloors::new(beta1, beta2, step_size);
                for (i, p) in params.iter_mut().enumerate() {
                    measured(measure, p, shrink, &mut acc, |p| {
                        let g = grad(*p, grads[i]);
                        let g_for_m = floored(g, floors.g_m);
                        let m_new = beta1 * floored(m[i], floors.m_in) + one_b1 * g_for_m;
                        m[i] = floored(m_new, f32::MIN_POSITIVE);
                        let g_for_v = floored(g, floors.g_v);
                        v[i] = beta2 * floored(v[i], floors.v_in) + one_b2 * g_for_v * g_for_v;
                        let m_used = floored(m[i], floors.m_update);
                        *p -= step_size * m_used / (libm::sqrtf(v[i]) / c2_root + eps);
                    });
                }
            }
        }
        UpdateNorms {
            delta_sq: acc.0 as f64,
            weight_sq: acc.1 as f64,
        }
    }
}

/// Squared norms of one update, from [`Update::apply_measured`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateNorms {
    /// `sum (p_new - p_old)^2`.
    pub delta_sq: f64,
    /// `sum p_old^2`.
    pub weight_sq: f64,
}

impl UpdateNorms {
    /// `||p_new - p_old|| / ||p_old||`, 0 when the weights are all zero.
    pub fn ratio(&self) -> f32 {
        if self.weight_sq > 0.0 {
            libm::sqrt(self.delta_sq / self.weight_sq) as f32
        } else {
            0.0
        }
    }
}

/// Scales `grads` (all tensors, concatenated) so their global L2 norm is at
/// most `max_norm`, like `torch.nn.utils.clip_grad_norm_` (factor
/// `max_norm / (norm + 1e-6)` when the norm exceeds it). Returns the norm.
/// A `max_norm` that is NaN or negative leaves `grads` as they are (it would
/// flip their sign); the trainer refuses such a setting up front.
pub fn clip_grad_norm(grads: &mut [f32], max_norm: f32) -> f32 {
    let norm = libm::sqrt(grads.iter().map(|&g| g as f64 * g as f64).sum::<f64>()) as f32;
    if max_norm >= 0.0 && norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        grads.iter_mut().for_each(|g| *g *= factor);
    }
    norm
}

/// A learning-rate schedule over steps (or epochs: the unit is the caller's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `lr` throughout.
    Constant,
    /// `lr * gamma^(t / every)` (`StepLR`).
    Step {
        /// Period of the decay.
        every: u32,
        /// Factor per period.
        gamma: f32,
    },
    /// `lr * gamma^t` (`ExponentialLR`).
    Exponential {
        /// Factor per step.
        gamma: f32,
    },
    /// `min + (lr - min)(1 + cos(pi t / total)) / 2` up to `total`, then `min`
    /// (`CosineAnnealingLR` without restarts).
    Cosine {
        /// Length of the half period.
        total: u32,
        /// Final rate.
        min: f32,
    },
    /// Cosine annealing with warm restarts (Loshchilov and Hutter's SGDR;
    /// PyTorch's `CosineAnnealingWarmRestarts` with `T_0 = first`, `T_mult =
    /// mult`, `eta_min = min`, stepped once per optimizer step): cycle `i`
    /// lasts `first * mult^i` steps, and within it the rate is
    /// `min + (lr - min)(1 + cos(pi t_cur / T_i)) / 2`, back to `lr` at each
    /// restart.
    CosineWarmRestarts {
        /// Steps of the first cycle (`T_0 >= 1`).
        first: u32,
        /// Growth of each cycle over the last (`T_mult >= 1`).
        mult: u32,
        /// Lowest rate.
        min: f32,
    },
}

/// A base rate, a schedule, and an optional linear warm-up from `lr / warmup`
/// to `lr` over the first `warmup` steps (the schedule then starts at 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LearningRate {
    /// The base rate.
    pub base: f32,
    /// Its schedule.
    pub schedule: Schedule,
    /// Warm-up steps (0 for none).
    pub warmup: u32,
}

impl LearningRate {
    /// A constant rate.
    pub const fn constant(base: f32) -> Self {
        LearningRate {
            base,
            schedule: Schedule::Constant,
            warmup: 0,
        }
    }

    /// Checks the rate and its schedule: `base` finite and `>= 0` (a NaN rate
    /// left every weight NaN, a negative one trained uphill), decay factors
    /// in `[0, 1]` (a factor above 1 grew the rate to infinity, and a zero
    /// base times infinity to NaN), a cosine's `min` finite, `>= 0` and at
    /// most `base`, a step schedule's period at least 1. A valid rate is
    /// finite and `>= 0` at every step.
    pub fn validate(&self) -> Result<(), Error> {
        let rate = |v: f32| v.is_finite() && v >= 0.0;
        let factor = |v: f32| (0.0..=1.0).contains(&v);
        check_setting(rate(self.base), "base", "must be finite and >= 0")?;
        let min_rule = "must be finite, >= 0 and at most the base rate";
        let gamma_rule = "must be in [0, 1]";
        let at_least_one = "must be at least 1";
        match self.schedule {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                check_setting(every >= 1, "every", at_least_one)?;
                check_setting(factor(gamma), "gamma", gamma_rule)
            }
            Schedule::Exponential { gamma } => check_setting(factor(gamma), "gamma", gamma_rule),
            Schedule::Cosine { min, .. } => {
                check_setting(rate(min) && min <= self.base, "min", min_rule)
            }
            Schedule::CosineWarmRestarts { first, mult, min } => {
                check_setting(first >= 1, "first", at_least_one)?;
                check_setting(mult >= 1, "mult", at_least_one)?;
                check_setting(rate(min) && min <= self.base, "min", min_rule)
            }
        }
    }

    /// The rate at step `t` (from 0).
    pub fn at(&self, t: u32) -> f32 {
        if t < self.warmup {
            // The fraction first: `base * (t + 1)` overflowed for a huge base.
            return self.base * ((t + 1) as f32 / self.warmup as f32);
        }
        let t = t - self.warmup;
        match self.schedule {
            Schedule::Constant => self.base,
            Schedule::Step { every, gamma } => {
                self.base * libm::powf(gamma, (t / every.max(1)) as f32)
            }
            Schedule::Exponential { gamma } => self.base * libm::powf(gamma, t as f32),
            Schedule::Cosine { total, min } => {
                if t >= total {
                    min
                } else {
                    let phase = core::f32::consts::PI * t as f32 / total as f32;
                    // Halved before the product (exact either way): `(base
                    // - min) * 2` overflowed for a base near f32::MAX.
                    min + (self.base - min) * ((1.0 + libm::cosf(phase)) / 2.0)
                }
            }
            Schedule::CosineWarmRestarts { first, mult, min } => {
                // The step within its cycle, and the cycle's length: at most
                // 32 doublings reach u32::MAX, so the loop is bounded.
                let (mut t_cur, mut len) = (t, first.max(1));
                if mult <= 1 {
                    t_cur %= len;
                } else {
                    while t_cur >= len {
                        t_cur -= len;
                        len = len.saturating_mul(mult);
                    }
                }
                let phase = core::f32::consts::PI * t_cur as f32 / len as f32;
                min + (self.base - min) * ((1.0 + libm::cosf(phase)) / 2.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnormal(x: f32) -> bool {
        x != 0.0 && x.abs() < f32::MIN_POSITIVE
    }

    /// A weight whose gradient stops (a dead ReLU unit): without the floors
    /// its first moment would decay until it stuck at the smallest subnormal
    /// (`0.9 x` rounds back to it); with them it reaches zero and the weight
    /// stops where it was, and no moment is ever subnormal, on either path.
    #[test]
    fn adam_moments_never_go_subnormal() {
        let update = Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap();
        let corrections = |step| StepCorrections::new(Optimizer::ADAM, step);
        for vectors in [true, false] {
            let mut p = [0.5f32; 17];
            // A subnormal gradient and moments from elsewhere are read as zero.
            let mut state = [0f32; 34];
            state[16] = 1e-40;
            state[33] = -3e-39;
            let mut g = [1e-3f32; 17];
            g[5] = 1e-41;
            let mut stopped_at = None;
            for step in 1..=3000u32 {
                if step == 2 {
                    g = [0.0; 17];
                }
                if vectors {
                    update
                        .apply_inner(false, 1e-3, corrections(step), &mut p, &g, &mut state)
                        .unwrap();
                } else {
                    update.apply_scalar(false, 1e-3, corrections(step), &mut p, &g, &mut state);
                }
                assert!(
                    !state.iter().any(|&x| subnormal(x)),
                    "step {step}: {state:?}"
                );
                if stopped_at.is_none() && state[..17].iter().all(|&m| m == 0.0) {
                    stopped_at = Some((step, p));
                }
            }
            let (step, p_then) = stopped_at.expect("the first moments reach zero");
            assert!(step < 1000, "first moments zero only at step {step}");
            assert_eq!(p, p_then, "weights move after their moments are zero");
        }
    }

    #[test]
    fn adam_floors_sit_where_the_products_leave_the_normal_range() {
        let f = AdamFloors::new(0.9, 0.999, 1e-3);
        let tiny = f32::MIN_POSITIVE;
        assert!(0.9 * f.m_in >= tiny && 0.9 * (f.m_in * 0.99) < tiny);
        assert!(0.1 * f.g_m >= tiny * 0.999_999);
        assert!(0.001 * f.g_v * f.g_v >= tiny * 0.999_999);
        assert!(1e-3 * f.m_update >= tiny * 0.999_999);
        // No floor where a factor is zero (the product is zero anyway), and
        // never one above the normal range's edge for factors of one.
        let zero = AdamFloors::new(0.0, 0.0, 0.0);
        assert_eq!((zero.m_in, zero.v_in, zero.m_update), (tiny, tiny, tiny));
        assert_eq!(AdamFloors::new(0.5, 0.5, 10.0).m_update, tiny);
    }

    /// The scalar update (targets without SIMD) equals the vector one bit for
    /// bit, for every optimizer and decay, on values that include zeros,
    /// negatives, huge, NaN, subnormal and just above Adam's floors.
    #[test]
    fn scalar_update_equals_vector_update() {
        // Up to 100 values (50 parameters with two state floats each).
        let values = |seed: u32| -> [f32; 100] {
            let mut s = seed.wrapping_mul(2_654_435_761) | 1;
            core::array::from_fn(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                match i % 23 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::NAN,
                    3 => 1e30,
                    4 => -1e-40,
                    5 => 2e-38,
                    6 => 1e-36,
                    7 => -4e-18,
                    _ => (s >> 8) as f32 / (1 << 23) as f32 - 1.0,
                }
            })
        };
        let optimizers = [
            Optimizer::Sgd,
            Optimizer::Momentum { momentum: 0.9 },
            Optimizer::Nesterov { momentum: 0.8 },
            Optimizer::ADAM,
        ];
        let decays = [
            WeightDecay::NONE,
            WeightDecay {
                l2: 1e-2,
                decoupled: true,
                l1: 0.0,
            },
            WeightDecay {
                l2: 1e-3,
                decoupled: false,
                l1: 1e-4,
            },
        ];
        for optimizer in optimizers {
            for decay in decays {
                let update = Update::new(optimizer, decay).unwrap();
                let at = |step| StepCorrections::new(optimizer, step);
                for n in [0, 1, 15, 16, 17, 50] {
                    let s = optimizer.state_per_param();
                    let (p0, g, st0) = (values(1), values(2), values(3));
                    let (mut pv, mut sv) = (p0, st0);
                    let (mut ps, mut ss) = (p0, st0);
                    let (g, m) = (&g[..n], n * s);
                    for step in 1..4 {
                        update
                            .apply_inner(true, 1e-2, at(step), &mut pv[..n], g, &mut sv[..m])
                            .unwrap();
                        update.apply_scalar(true, 1e-2, at(step), &mut ps[..n], g, &mut ss[..m]);
                    }
                    let same = |a: &[f32], b: &[f32]| {
                        a.iter()
                            .zip(b)
                            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
                    };
                    assert!(same(&pv, &ps), "{optimizer:?} {decay:?} n={n}");
                    assert!(same(&sv, &ss), "{optimizer:?} {decay:?} n={n} state");
                }
            }
        }
    }
}
