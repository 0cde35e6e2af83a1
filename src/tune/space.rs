//! Search spaces: a fixed number `N` of parameters (a const generic), each
//! with its distribution, and optionally active only under another's choice.
//!
//! A space maps a point of the unit cube `[0, 1)^N` (from a
//! [`Sampler`](super::sampler::Sampler)) to values, one parameter per
//! coordinate:
//!
//! | distribution | value of coordinate `u` | grid level `k` of `L` |
//! |---|---|---|
//! | `Uniform [a, b]` | `a + u (b - a)` | `a + k/(L-1) (b - a)` |
//! | `LogUniform [a, b]` | `exp(ln a + u (ln b - ln a))` | the same at `u = k/(L-1)` |
//! | `Int [a, b]` | `a + floor(u (b - a + 1))` | `a + round(k/(L-1) (b - a))` |
//! | `Int [a, b]`, log | `round(exp(U(ln(a - 1/2), ln(b + 1/2))))` (Optuna's) | the log-spaced level, rounded |
//! | `Choice` of `n` | `floor(u n)` | every option |
//!
//! With `L = 1` a grid takes the middle (`u = 1/2`). Values are clamped into
//! `[a, b]` against rounding. A parameter that is inactive (its condition's
//! choice is another option) reads [`Value::Inactive`].

use crate::error::Error;

/// How one parameter is distributed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform on `[low, high]`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Uniform in `ln` on `[low, high]`, `0 < low <= high` (learning rates,
    /// weight decays: CS231n and Bergstra & Bengio sample these in log space).
    LogUniform {
        /// Lower bound, positive.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// An integer in `[low, high]`, uniform, or uniform in `ln` if `log`
    /// (then `low >= 1`).
    Int {
        /// Lower bound.
        low: i64,
        /// Upper bound.
        high: i64,
        /// Sample in log space.
        log: bool,
    },
    /// One of a static list of options; the value is the option's index.
    Choice {
        /// The options' names (for reports); at least one.
        options: &'static [&'static str],
    },
}

/// A parameter is active only when parameter `param` (an earlier
/// [`Distribution::Choice`]) takes option `option` (momentum only with SGD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    /// Index of the choice parameter (before this one).
    pub param: usize,
    /// The option under which this parameter is active.
    pub option: u32,
}

/// One named parameter of a [`Space`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// Its name (for reports and records).
    pub name: &'static str,
    /// Its distribution.
    pub distribution: Distribution,
    /// Levels a grid takes (continuous and integer parameters; a choice takes
    /// all its options). Default 3.
    pub grid_levels: u32,
    /// Active only under this condition, if set.
    pub active_when: Option<Condition>,
}

impl Param {
    const fn with(name: &'static str, distribution: Distribution) -> Self {
        Param {
            name,
            distribution,
            grid_levels: 3,
            active_when: None,
        }
    }

    /// Uniform on `[low, high]`.
    pub const fn uniform(name: &'static str, low: f64, high: f64) -> Self {
        Self::with(name, Distribution::Uniform { low, high })
    }

    /// Log-uniform on `[low, high]`, `0 < low`.
    pub const fn log_uniform(name: &'static str, low: f64, high: f64) -> Self {
        Self::with(name, Distribution::LogUniform { low, high })
    }

    /// An integer, uniform on `[low, high]`.
    pub const fn int(name: &'static str, low: i64, high: i64) -> Self {
        Self::with(
            name,
            Distribution::Int {
                low,
                high,
                log: false,
            },
        )
    }

    /// An integer, log-uniform on `[low, high]`, `1 <= low`.
    pub const fn int_log(name: &'static str, low: i64, high: i64) -> Self {
        Self::with(
            name,
            Distribution::Int {
                low,
                high,
                log: true,
            },
        )
    }

    /// One of `options` (the value is the index).
    pub const fn choice(name: &'static str, options: &'static [&'static str]) -> Self {
        Self::with(name, Distribution::Choice { options })
    }

    /// Sets the levels a grid takes.
    pub const fn grid_levels(mut self, levels: u32) -> Self {
        self.grid_levels = levels;
        self
    }

    /// Makes the parameter active only when choice `param` takes `option`.
    pub const fn active_when(mut self, param: usize, option: u32) -> Self {
        self.active_when = Some(Condition { param, option });
        self
    }

    /// Whether the distribution samples in log space.
    pub const fn is_log(&self) -> bool {
        matches!(
            self.distribution,
            Distribution::LogUniform { .. } | Distribution::Int { log: true, .. }
        )
    }

    /// Levels on a grid: all options of a choice, at most the range of an
    /// integer, else `grid_levels`.
    pub fn levels(&self) -> u64 {
        match self.distribution {
            Distribution::Choice { options } => options.len() as u64,
            Distribution::Int { low, high, .. } => {
                let range = (high as i128 - low as i128 + 1) as u128;
                (self.grid_levels as u128).min(range) as u64
            }
            _ => self.grid_levels as u64,
        }
    }

    fn check(&self, index: usize, earlier: &[Param]) -> Result<(), Error> {
        let bad = |reason| {
            Err(Error::InvalidParam {
                param: index,
                reason,
            })
        };
        match self.distribution {
            Distribution::Uniform { low, high } => {
                if !low.is_finite() || !high.is_finite() {
                    return bad("bounds must be finite (not NaN or infinite)");
                }
                if low > high {
                    return bad("low must not exceed high");
                }
                // `low + u (high - low)` needs a finite width: [-1e308,
                // 1e308] would give NaN points.
                if !(high - low).is_finite() {
                    return bad("the width high - low must be finite (below f64::MAX)");
                }
            }
            Distribution::LogUniform { low, high } => {
                if !low.is_finite() || !high.is_finite() {
                    return bad("bounds must be finite (not NaN or infinite)");
                }
                if low <= 0.0 {
                    return bad("log-uniform bounds must be positive");
                }
                if low > high {
                    return bad("low must not exceed high");
                }
            }
            Distribution::Int { low, high, log } => {
                if low > high {
                    return bad("low must not exceed high");
                }
                if log && low < 1 {
                    return bad("log-scaled integers need low >= 1");
                }
            }
            Distribution::Choice { options } => {
                if options.is_empty() || options.len() > u32::MAX as usize {
                    return bad("a choice needs 1 to 2^32 - 1 options");
                }
            }
        }
        if self.grid_levels == 0 {
            return bad("grid_levels must be at least 1");
        }
        if let Some(Condition { param, option }) = self.active_when {
            let Some(parent) = earlier.get(param) else {
                return bad("a condition must name an earlier parameter");
            };
            match parent.distribution {
                Distribution::Choice { options } if (option as usize) < options.len() => {}
                Distribution::Choice { .. } => return bad("a condition's option is out of range"),
                _ => return bad("a condition must name a choice parameter"),
            }
        }
        Ok(())
    }

    /// The value at coordinate `u` in `[0, 1)` (random and quasi-random
    /// samplers).
    pub fn value_at(&self, u: f64) -> Value {
        let u = u.clamp(0.0, 1.0);
        match self.distribution {
            Distribution::Uniform { low, high } => {
                Value::Real((low + u * (high - low)).clamp(low, high))
            }
            // The ends exactly (exp(ln a) need not round back to a).
            Distribution::LogUniform { low, .. } if u == 0.0 => Value::Real(low),
            Distribution::LogUniform { high, .. } if u == 1.0 => Value::Real(high),
            Distribution::LogUniform { low, high } => {
                let (a, b) = (libm::log(low), libm::log(high));
                Value::Real(libm::exp(a + u * (b - a)).clamp(low, high))
            }
            Distribution::Int { low, high, log } => {
                let v = if log {
                    let a = libm::log(low as f64 - 0.5);
                    let b = libm::log(high as f64 + 0.5);
                    libm::round(libm::exp(a + u * (b - a)))
                } else {
                    let range = high as f64 - low as f64 + 1.0;
                    low as f64 + libm::floor(u * range)
                };
                Value::Int(clamp_int(v, low, high))
            }
            Distribution::Choice { options } => {
                let n = options.len() as f64;
                Value::Choice((libm::floor(u * n) as u32).min(options.len() as u32 - 1))
            }
        }
    }

    /// The value of grid level `k` (below [`Param::levels`]).
    pub fn value_at_level(&self, k: u64) -> Value {
        let levels = self.levels();
        if let Distribution::Choice { .. } = self.distribution {
            return Value::Choice(k.min(levels.saturating_sub(1)) as u32);
        }
        let u = if levels <= 1 {
            0.5
        } else {
            k as f64 / (levels - 1) as f64
        };
        match self.distribution {
            Distribution::Int { low, high, log } => {
                let v = if log {
                    let (a, b) = (libm::log(low as f64), libm::log(high as f64));
                    libm::exp(a + u * (b - a))
                } else {
                    low as f64 + u * (high as f64 - low as f64)
                };
                Value::Int(clamp_int(libm::round(v), low, high))
            }
            _ => self.value_at(u),
        }
    }
}

fn clamp_int(v: f64, low: i64, high: i64) -> i64 {
    if v.is_nan() || v <= low as f64 {
        low
    } else if v >= high as f64 {
        high
    } else {
        v as i64
    }
}

/// One parameter's value at a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A uniform or log-uniform value.
    Real(f64),
    /// An integer value.
    Int(i64),
    /// The index of a choice's option.
    Choice(u32),
    /// The parameter's condition does not hold.
    Inactive,
}

impl Value {
    /// The value as `f64` (integers and choices converted), `None` if inactive.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Real(v) => Some(v),
            Value::Int(v) => Some(v as f64),
            Value::Choice(v) => Some(v as f64),
            Value::Inactive => None,
        }
    }

    /// The value as `f32`, `None` if inactive.
    pub fn as_f32(self) -> Option<f32> {
        self.as_f64().map(|v| v as f32)
    }
}

/// A point of a [`Space`]: its index in the sampler's sequence, its unit-cube
/// coordinates and its values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point<const N: usize> {
    /// Trial index (the sampler's sequence position).
    pub index: u64,
    /// Coordinates in `[0, 1]` (a grid's level `k/(L-1)`).
    pub unit: [f64; N],
    /// Values, one per parameter.
    pub values: [Value; N],
}

impl<const N: usize> Point<N> {
    /// The value of parameter `i` as `f32`, or `default` if it is inactive or
    /// out of range.
    pub fn f32_or(&self, i: usize, default: f32) -> f32 {
        self.values
            .get(i)
            .and_then(|v| v.as_f32())
            .unwrap_or(default)
    }
}

/// `N` parameters, checked once by [`Space::new`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Space<const N: usize> {
    params: [Param; N],
}

impl<const N: usize> Space<N> {
    /// Checks every parameter: finite bounds, `low <= high`, positive log
    /// bounds, non-empty choices, conditions on earlier choices, `N >= 1`.
    ///
    /// ```
    /// use tinyreg::tune::{Param, Space};
    /// const OPTIMIZERS: &[&str] = &["sgd", "adam"];
    /// let space = Space::new([
    ///     Param::log_uniform("lr", 1e-4, 1e-1),
    ///     Param::choice("optimizer", OPTIMIZERS),
    ///     Param::uniform("momentum", 0.5, 0.99).active_when(1, 0), // SGD only
    /// ])?;
    /// assert_eq!(space.grid_len()?, 3 * 2 * 3);
    /// # Ok::<(), tinyreg::Error>(())
    /// ```
    pub fn new(params: [Param; N]) -> Result<Self, Error> {
        if N == 0 {
            return Err(Error::InvalidSetting {
                setting: "params",
                rule: "a search space needs at least one parameter",
            });
        }
        for (i, p) in params.iter().enumerate() {
            p.check(i, &params[..i])?;
        }
        Ok(Space { params })
    }

    /// The parameters.
    pub const fn params(&self) -> &[Param; N] {
        &self.params
    }

    /// Points of the full grid: the product of every parameter's
    /// [`Param::levels`] (conditional parameters included, see
    /// [`Space::is_canonical`]). [`Error::ShapeOverflow`] past `u64`.
    pub fn grid_len(&self) -> Result<u64, Error> {
        self.params.iter().try_fold(1u64, |n, p| {
            n.checked_mul(p.levels()).ok_or(Error::ShapeOverflow)
        })
    }

    /// Whether parameter `i` is active given the values of the earlier ones.
    fn active(&self, i: usize, values: &[Value]) -> bool {
        match self.params[i].active_when {
            None => true,
            Some(Condition { param, option }) => values[param] == Value::Choice(option),
        }
    }

    /// Values at unit coordinates `unit` (each clamped to `[0, 1]`).
    pub fn values_at(&self, unit: &[f64; N]) -> [Value; N] {
        let mut values = [Value::Inactive; N];
        for i in 0..N {
            if self.active(i, &values) {
                values[i] = self.params[i].value_at(unit[i]);
            }
        }
        values
    }

    /// Values of the grid point with mixed-radix digits `levels` (the last
    /// parameter varies fastest), and its unit coordinates.
    pub(crate) fn grid_point(&self, mut rank: u64) -> ([f64; N], [Value; N]) {
        let mut digits = [0u64; N];
        for i in (0..N).rev() {
            let l = self.params[i].levels().max(1);
            digits[i] = rank % l;
            rank /= l;
        }
        let mut unit = [0.5; N];
        let mut values = [Value::Inactive; N];
        for i in 0..N {
            let l = self.params[i].levels();
            if l > 1 {
                unit[i] = digits[i] as f64 / (l - 1) as f64;
            }
            if self.active(i, &values) {
                values[i] = self.params[i].value_at_level(digits[i]);
            }
        }
        (unit, values)
    }

    /// For grid points: whether every inactive parameter sits at its first
    /// level. The full grid repeats a configuration once per level of each
    /// inactive parameter; a driver that skips non-canonical grid points runs
    /// every distinct configuration exactly once.
    pub fn is_canonical(&self, point: &Point<N>) -> bool {
        point
            .values
            .iter()
            .zip(&point.unit)
            .zip(&self.params)
            .all(|((v, &u), p)| *v != Value::Inactive || p.levels() <= 1 || u == 0.0)
    }
}
