//! Is eval the expectation of train? The lecture's rule for every stochastic
//! regularizer is "add randomness in training, average it out at test time";
//! this module measures how well a layer's or a network's eval output does
//! that averaging, for people who property-test it.
//!
//! - **Exactly**, by enumerating every outcome of the randomness when there
//!   are at most [`MAX_OUTCOMES`]: a dropout mask over a few units
//!   ([`DropoutOutcomes`]), a DropConnect mask over a small weight matrix
//!   ([`DropConnectOutcomes`]), a spatial dropout mask
//!   ([`SpatialDropoutOutcomes`]), or anything given as closures
//!   ([`FnOutcomes`]: stochastic depth's two branches, fractional pooling's
//!   pieces, test-time views). [`exact_gap`] weighs each outcome's train
//!   output by its exact probability (the sampler's, `t / 2^32`).
//! - **By Monte Carlo** otherwise ([`monte_carlo_gap`], and
//!   [`network_gap`] for a whole network's logits): the mean of `samples`
//!   train passes, with each output's standard error, against eval; an
//!   output is consistent when its gap is within `z` standard errors, `z`
//!   chosen so that all outputs together are wrongly flagged with
//!   probability at most `alpha` (Bonferroni, normal approximation).
//!
//! Where the math says eval equals the expectation (each stochastic layer is
//! followed only by maps that are linear in its output, such as dense layers
//! without ReLU, convolutions without ReLU, average pooling, batch norm in
//! eval), a gap beyond the band is a bug: [`GapReport::verdict`] says
//! [`Verdict::Mismatch`]. Where eval is only an approximation (dropout
//! before a ReLU: the lecture's "approximately"), it reports how far
//! ([`Verdict::Approximate`]). [`network_eval_is_expectation`] decides
//! which, for a [`Network`].
//!
//! With the `proptest` feature, `expectation::strategies` generates valid
//! layers and inputs for property tests.
//!
//! ```
//! use tinyreg::expectation::{exact_gap, DropoutOutcomes, GapBuffers, Verdict};
//! use tinyreg::Dropout;
//!
//! // Vanilla dropout over 3 units: all 8 masks, each weighed by its probability.
//! let input = [1.0f32, -2.0, 0.5];
//! let mut outcomes = DropoutOutcomes::new(Dropout::vanilla(0.7)?, &input)?;
//! let (mut sample, mut eval, mut mean, mut spread) = ([0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3]);
//! let buffers = GapBuffers { sample: &mut sample, eval: &mut eval, mean: &mut mean, spread: &mut spread };
//! let report = exact_gap(&mut outcomes, buffers, true)?;
//! assert_eq!(report.verdict(), Verdict::Equal); // eval (x * q) is the mean of train (x * m)
//! assert!((mean[0] - 0.7).abs() < 1e-6);
//! # Ok::<(), tinyreg::Error>(())
//! ```

use core::num::NonZeroU64;

use crate::error::{check_setting, Error};
use crate::kernels::bernoulli::Keep;
use crate::layers::buffers::ForwardBuffers;
use crate::layers::dense::{Dense, DenseParams, DropConnect};
use crate::layers::dropout::Dropout;
use crate::layers::layer::Layer;
use crate::layers::mode::Mode;
use crate::layers::spatial_dropout::SpatialDropout;
use crate::rng::MaskRng;
use crate::trainer::network::Network;
use crate::trainer::Trainer;

#[cfg(feature = "proptest")]
pub mod strategies;

/// Most outcomes [`exact_gap`] enumerates (2^20: a mask over 20 units).
///
/// cbindgen:ignore
pub const MAX_OUTCOMES: u64 = 1 << 20;

/// Bits a mask may have for its outcomes to be enumerated.
///
/// cbindgen:ignore
pub const MAX_MASK_BITS: usize = 20;

/// The relative tolerance of an exact comparison: `f32` rounding of the
/// train and eval outputs, `1e-5 (1 + |E|)` per output.
///
/// cbindgen:ignore
pub const EXACT_TOLERANCE: f64 = 1e-5;

/// A stochastic map whose randomness has finitely many outcomes, each with a
/// known probability: what [`exact_gap`] enumerates.
pub trait Outcomes {
    /// The number of outcomes (at least 1, at most [`MAX_OUTCOMES`]).
    fn count(&self) -> u64;
    /// Values of one output.
    fn output_len(&self) -> usize;
    /// The probability of outcome `k`: finite, in `[0, 1]`, summing to 1
    /// over the outcomes ([`exact_gap`] checks them all before it writes).
    fn probability(&self, k: u64) -> f64;
    /// Writes the train output under outcome `k`.
    fn train(&mut self, k: u64, out: &mut [f32]) -> Result<(), Error>;
    /// Writes the eval output.
    fn eval(&mut self, out: &mut [f32]) -> Result<(), Error>;
}

/// How the expectation was computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Every outcome, weighed by its probability.
    Exact {
        /// Outcomes enumerated.
        outcomes: u64,
    },
    /// The mean of independent train passes.
    MonteCarlo {
        /// Passes.
        samples: u32,
        /// Standard errors an output's gap may reach.
        z: f64,
    },
}

/// What a check found: the gap between eval and the expectation of train.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GapReport {
    /// Exact or Monte Carlo.
    pub method: Method,
    /// The largest `|E[train] - eval|` over the outputs.
    pub max_gap: f64,
    /// The mean of `|E[train] - eval|`.
    pub mean_gap: f64,
    /// The output with the largest gap relative to its band.
    pub worst: usize,
    /// That output's gap over its band (`tolerance + z se`): at most 1 when
    /// every output is consistent.
    pub worst_ratio: f64,
    /// Whether the math says eval is the expectation (the caller's claim, or
    /// [`network_eval_is_expectation`]).
    pub claims_equal: bool,
}

/// What a [`GapReport`] means.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Eval is the expectation of train, within the band.
    Equal,
    /// Eval only approximates the expectation (as the math allows); the
    /// largest gap.
    Approximate {
        /// `max |E[train] - eval|`.
        max_gap: f64,
    },
    /// The math says equal, but an output is outside its band: eval is wrong.
    Mismatch {
        /// The output.
        output: usize,
        /// Its gap over its band (above 1).
        ratio: f64,
    },
}

impl GapReport {
    /// Whether every output's gap is within its band.
    pub fn consistent(&self) -> bool {
        self.worst_ratio <= 1.0
    }

    /// Equal, approximate, or a mismatch where equality was claimed.
    pub fn verdict(&self) -> Verdict {
        match (self.consistent(), self.claims_equal) {
            (true, _) => Verdict::Equal,
            (false, false) => Verdict::Approximate {
                max_gap: self.max_gap,
            },
            (false, true) => Verdict::Mismatch {
                output: self.worst,
                ratio: self.worst_ratio,
            },
        }
    }
}

/// The buffers a check works in, all of one output's length.
pub struct GapBuffers<'a> {
    /// One train output.
    pub sample: &'a mut [f32],
    /// The eval output.
    pub eval: &'a mut [f32],
    /// The expectation (exact) or running mean (Monte Carlo).
    pub mean: &'a mut [f64],
    /// Monte Carlo's running sum of squared deviations (unused when exact).
    pub spread: &'a mut [f64],
}

impl GapBuffers<'_> {
    fn check(&self, len: usize) -> Result<(), Error> {
        for got in [
            self.sample.len(),
            self.eval.len(),
            self.mean.len(),
            self.spread.len(),
        ] {
            if got != len {
                return Err(Error::LengthMismatch { expected: len, got });
            }
        }
        if len == 0 {
            return Err(Error::InvalidConfig {
                reason: "an expectation check needs at least one output",
            });
        }
        Ok(())
    }
}

/// The exact expectation of `outcomes`' train output against its eval
/// output. `claims_equal`: whether the math says they are equal. Refuses
/// more than [`MAX_OUTCOMES`] outcomes, and probabilities that are NaN, out
/// of `[0, 1]` or do not sum to 1 within 1e-9 (a broken [`Outcomes`]),
/// before it writes any buffer. An error from the outcomes' own `eval` or
/// `train` is returned as it comes: `eval`, `sample` and `spread` may then
/// hold partial work, `mean` is untouched (the sum builds up in `spread`).
///
/// ```
/// use tinyreg::expectation::{exact_gap, DropoutOutcomes, GapBuffers, Verdict};
/// use tinyreg::Dropout;
/// let input = [0.5, -1.0, 2.0, 0.25];
/// let mut outcomes = DropoutOutcomes::new(Dropout::inverted(0.7).unwrap(), &input).unwrap();
/// let (mut sample, mut eval, mut mean, mut spread) = ([0.0; 4], [0.0; 4], [0.0; 4], [0.0; 4]);
/// let buffers = GapBuffers { sample: &mut sample, eval: &mut eval, mean: &mut mean, spread: &mut spread };
/// let report = exact_gap(&mut outcomes, buffers, true).unwrap();
/// assert_eq!(report.verdict(), Verdict::Equal); // 16 masks, weighed exactly
/// ```
pub fn exact_gap<O: Outcomes + ?Sized>(
    outcomes: &mut O,
    buffers: GapBuffers<'_>,
    claims_equal: bool,
) -> Result<GapReport, Error> {
    let n = outcomes.output_len();
    buffers.check(n)?;
    let count = outcomes.count();
    if count == 0 || count > MAX_OUTCOMES {
        return Err(Error::InvalidConfig {
            reason: "exact expectations enumerate 1 to 2^20 outcomes; use Monte Carlo beyond",
        });
    }
    let mut total = 0.0;
    for k in 0..count {
        let p = outcomes.probability(k);
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidConfig {
                reason: "an outcome's probability is NaN or outside [0, 1]",
            });
        }
        total += p;
    }
    if (total - 1.0).abs() > 1e-9 {
        return Err(Error::InvalidConfig {
            reason: "the outcomes' probabilities do not sum to 1",
        });
    }
    outcomes.eval(buffers.eval)?;
    buffers.spread.fill(0.0);
    for k in 0..count {
        outcomes.train(k, buffers.sample)?;
        let p = outcomes.probability(k);
        for (m, &y) in buffers.spread.iter_mut().zip(buffers.sample.iter()) {
            *m += p * y as f64;
        }
    }
    buffers.mean.copy_from_slice(buffers.spread);
    buffers.spread.fill(0.0);
    Ok(report(
        Method::Exact { outcomes: count },
        buffers,
        0,
        claims_equal,
    ))
}

/// Compares eval (`eval` writes it) with the mean of `samples` train passes
/// (`draw` writes one each call). An output is consistent when its gap is
/// within `EXACT_TOLERANCE (1 + |mean|) + z se`, `z` the Bonferroni bound
/// for all outputs together at level `alpha` (in `(0, 1)`, e.g. `1e-6`).
/// Refuses fewer than 2 samples before calling anything.
pub fn monte_carlo_gap(
    draw: impl FnMut(&mut [f32]) -> Result<(), Error>,
    eval: impl FnOnce(&mut [f32]) -> Result<(), Error>,
    samples: u32,
    alpha: f64,
    buffers: GapBuffers<'_>,
    claims_equal: bool,
) -> Result<GapReport, Error> {
    check_monte_carlo(&buffers, samples, alpha)?;
    eval(buffers.eval)?;
    monte_carlo_after_eval(draw, samples, alpha, buffers, claims_equal)
}

/// A whole network's logits: eval against the mean of `samples` train
/// passes of its stochastic layers (batch norm in eval both times), `rows`
/// samples of `input`, with [`network_eval_is_expectation`] as the claim.
/// The buffers are `rows x classes` long. The trainer's mask generator
/// advances; its weights do not change.
pub fn network_gap(
    trainer: &mut Trainer<'_, '_>,
    input: &[f32],
    rows: usize,
    samples: u32,
    alpha: f64,
    buffers: GapBuffers<'_>,
) -> Result<GapReport, Error> {
    check_monte_carlo(&buffers, samples, alpha)?;
    let claims_equal = network_eval_is_expectation(&trainer.network());
    // The eval pass checks the shapes before any train pass draws a mask.
    trainer.logits(input, rows, Mode::Eval, buffers.eval)?;
    monte_carlo_after_eval(
        |out| trainer.logits(input, rows, Mode::Train, out),
        samples,
        alpha,
        buffers,
        claims_equal,
    )
}

fn check_monte_carlo(buffers: &GapBuffers<'_>, samples: u32, alpha: f64) -> Result<(), Error> {
    buffers.check(buffers.mean.len())?;
    check_setting(samples >= 2, "samples", "Monte Carlo needs at least 2")?;
    check_setting(alpha > 0.0 && alpha < 1.0, "alpha", "a level in (0, 1)")?;
    Ok(())
}

/// Monte Carlo once `buffers.eval` holds the eval output.
fn monte_carlo_after_eval(
    mut draw: impl FnMut(&mut [f32]) -> Result<(), Error>,
    samples: u32,
    alpha: f64,
    buffers: GapBuffers<'_>,
    claims_equal: bool,
) -> Result<GapReport, Error> {
    buffers.mean.fill(0.0);
    buffers.spread.fill(0.0);
    for s in 1..=samples {
        draw(buffers.sample)?;
        // Welford's update, in f64.
        for ((m, q), &y) in buffers
            .mean
            .iter_mut()
            .zip(buffers.spread.iter_mut())
            .zip(buffers.sample.iter())
        {
            let y = y as f64;
            let d = y - *m;
            *m += d / s as f64;
            *q += d * (y - *m);
        }
    }
    let z = bonferroni_z(alpha, buffers.mean.len() as u64);
    Ok(report(
        Method::MonteCarlo { samples, z },
        buffers,
        samples,
        claims_equal,
    ))
}

/// Whether the math makes a network's eval logits the expectation of its
/// train logits: after each stochastic layer, only maps linear in their input
/// (dense or convolution without ReLU, dropout of any kind, average pooling,
/// batch norm in eval, residual sums). Stochastic layers whose eval is exact
/// by themselves: dropout, spatial dropout, DropConnect, stochastic depth,
/// and fractional max pooling with exact eval.
pub fn network_eval_is_expectation(net: &Network<'_>) -> bool {
    let mut stochastic = false;
    for layer in net.layers() {
        if stochastic && !layer_is_linear(layer) {
            return false;
        }
        match *layer {
            Layer::Dropout { dropout, .. } | Layer::DenseDropConnect(_, dropout) => {
                stochastic |= dropout.keep() != Keep::ALL;
            }
            Layer::SpatialDropout(_) => stochastic = true,
            Layer::Residual { survival, .. } => stochastic |= survival < 1.0,
            Layer::ResidualStart { depth, .. } => stochastic |= depth.survival < 1.0,
            Layer::FractionalMaxPool { eval, .. } => {
                if !matches!(eval, crate::layers::layer::FmpEval::Exact) {
                    return false;
                }
                stochastic = true;
            }
            _ => {}
        }
    }
    true
}

/// Whether a layer's output is linear in its input (batch norm in eval).
fn layer_is_linear(layer: &Layer) -> bool {
    match *layer {
        Layer::Dense(d) | Layer::DenseDropConnect(d, _) => !d.has_relu(),
        Layer::Conv2d { relu, .. } => !relu,
        Layer::Dropout { .. }
        | Layer::SpatialDropout(_)
        | Layer::BatchNorm(_)
        | Layer::GlobalAvgPool { .. }
        | Layer::AvgPool { .. }
        | Layer::ResidualStart { .. }
        | Layer::ResidualEnd { .. } => true,
        Layer::Relu { .. }
        | Layer::Residual { .. }
        | Layer::MaxPool { .. }
        | Layer::FractionalMaxPool { .. } => false,
    }
}

fn report(method: Method, b: GapBuffers<'_>, samples: u32, claims_equal: bool) -> GapReport {
    let z = match method {
        Method::MonteCarlo { z, .. } => z,
        Method::Exact { .. } => 0.0,
    };
    let (mut max_gap, mut sum, mut worst, mut worst_ratio) = (0.0f64, 0.0, 0, 0.0f64);
    for (i, (&m, &e)) in b.mean.iter().zip(b.eval.iter()).enumerate() {
        let gap = (m - e as f64).abs();
        let se = if samples >= 2 {
            libm::sqrt(b.spread[i] / (samples - 1) as f64 / samples as f64)
        } else {
            0.0
        };
        let band = EXACT_TOLERANCE * (1.0 + m.abs()) + z * se;
        // A NaN gap (a NaN output) is as bad as it gets.
        let ratio = if gap.is_nan() {
            f64::INFINITY
        } else {
            gap / band
        };
        // f64::max drops NaN: a NaN output makes the gaps NaN instead.
        max_gap = if gap.is_nan() || max_gap.is_nan() {
            f64::NAN
        } else {
            max_gap.max(gap)
        };
        sum += gap;
        if ratio > worst_ratio || i == 0 {
            worst_ratio = ratio;
            worst = i;
        }
    }
    GapReport {
        method,
        max_gap,
        mean_gap: sum / b.mean.len() as f64,
        worst,
        worst_ratio,
        claims_equal,
    }
}

/// `z` with `P(|Z| > z) = alpha / m` for a standard normal `Z` (at most 40).
pub fn bonferroni_z(alpha: f64, m: u64) -> f64 {
    let target = alpha / m.max(1) as f64;
    // P(|Z| > z) = erfc(z / sqrt 2), decreasing in z: bisect (bounded).
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if libm::erfc(mid / core::f64::consts::SQRT_2) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The probability of mask `bits` over `units` units, each kept with
/// probability `q`.
fn mask_probability(bits: u64, units: usize, q: f64) -> f64 {
    let kept = bits.count_ones() as i32;
    libm::pow(q, kept as f64) * libm::pow(1.0 - q, (units as i32 - kept) as f64)
}

/// Mask bytes of outcome `k` (bit `i` of `k` keeps unit `i`).
fn mask_of(k: u64) -> [u8; 3] {
    let b = k.to_le_bytes();
    [b[0], b[1], b[2]]
}

fn check_units(units: usize) -> Result<u64, Error> {
    let rule = "exact expectations enumerate masks of 1 to 20 units";
    check_setting(units > 0 && units <= MAX_MASK_BITS, "units", rule)?;
    Ok(1 << units)
}

/// Every dropout mask over `input` (at most 20 units), through
/// [`Dropout::forward_with_mask`]; eval is [`Dropout::forward`] in eval mode.
pub struct DropoutOutcomes<'a> {
    dropout: Dropout,
    input: &'a [f32],
    count: u64,
}

impl<'a> DropoutOutcomes<'a> {
    /// The outcomes of `dropout` over `input`.
    pub fn new(dropout: Dropout, input: &'a [f32]) -> Result<Self, Error> {
        let count = check_units(input.len())?;
        Ok(DropoutOutcomes {
            dropout,
            input,
            count,
        })
    }
}

impl Outcomes for DropoutOutcomes<'_> {
    fn count(&self) -> u64 {
        self.count
    }
    fn output_len(&self) -> usize {
        self.input.len()
    }
    fn probability(&self, k: u64) -> f64 {
        mask_probability(k, self.input.len(), self.dropout.keep().probability())
    }
    fn train(&mut self, k: u64, out: &mut [f32]) -> Result<(), Error> {
        let mask = mask_of(k);
        let bytes = Dropout::mask_bytes(self.input.len());
        self.dropout
            .forward_with_mask(&mask[..bytes], self.input, out)
    }
    fn eval(&mut self, out: &mut [f32]) -> Result<(), Error> {
        let mut rng = unused_rng();
        self.dropout
            .forward(Mode::Eval, &mut rng, self.input, out, &mut [])
    }
}

/// Every DropConnect mask over a small dense layer's weights (at most 20),
/// through [`Dense::forward_with_mask`]; eval is
/// [`Dense::forward_dropconnect`] in eval mode. The output is `batch x
/// outputs`.
pub struct DropConnectOutcomes<'a> {
    dense: Dense,
    dropconnect: DropConnect,
    params: DenseParams<'a>,
    batch: usize,
    input: &'a [f32],
    scratch: &'a mut [f32],
    count: u64,
}

impl<'a> DropConnectOutcomes<'a> {
    /// The outcomes of `dropconnect` on `dense` with `params`, over `batch`
    /// rows of `input`; `scratch` is [`Dense::SCRATCH_LEN`] floats.
    pub fn new(
        dense: Dense,
        dropconnect: DropConnect,
        params: DenseParams<'a>,
        (batch, input): (usize, &'a [f32]),
        scratch: &'a mut [f32],
    ) -> Result<Self, Error> {
        let count = check_units(dense.weights_len())?;
        Ok(DropConnectOutcomes {
            dense,
            dropconnect,
            params,
            batch,
            input,
            scratch,
            count,
        })
    }
}

impl Outcomes for DropConnectOutcomes<'_> {
    fn count(&self) -> u64 {
        self.count
    }
    fn output_len(&self) -> usize {
        self.batch.saturating_mul(self.dense.outputs())
    }
    fn probability(&self, k: u64) -> f64 {
        mask_probability(
            k,
            self.dense.weights_len(),
            self.dropconnect.keep().probability(),
        )
    }
    fn train(&mut self, k: u64, out: &mut [f32]) -> Result<(), Error> {
        let mask = mask_of(k);
        let io = ForwardBuffers {
            batch: self.batch,
            input: self.input,
            output: out,
            scratch: self.scratch,
        };
        self.dense
            .forward_with_mask(&self.dropconnect, &mask, self.params, io)
    }
    fn eval(&mut self, out: &mut [f32]) -> Result<(), Error> {
        let mut rng = unused_rng();
        let io = ForwardBuffers {
            batch: self.batch,
            input: self.input,
            output: out,
            scratch: self.scratch,
        };
        let (dropconnect, params) = (&self.dropconnect, self.params);
        self.dense
            .forward_dropconnect(dropconnect, Mode::Eval, &mut rng, &mut [], params, io)
    }
}

/// Every spatial dropout mask over `batch` images (at most 20 channels in
/// all), through [`SpatialDropout::forward_with_mask`]; eval is
/// [`SpatialDropout::forward`] in eval mode.
pub struct SpatialDropoutOutcomes<'a> {
    layer: SpatialDropout,
    batch: usize,
    input: &'a [f32],
    count: u64,
}

impl<'a> SpatialDropoutOutcomes<'a> {
    /// The outcomes of `layer` over `batch` images of `input`.
    pub fn new(layer: SpatialDropout, batch: usize, input: &'a [f32]) -> Result<Self, Error> {
        let count = check_units(batch.saturating_mul(layer.shape.channels))?;
        Ok(SpatialDropoutOutcomes {
            layer,
            batch,
            input,
            count,
        })
    }
}

impl Outcomes for SpatialDropoutOutcomes<'_> {
    fn count(&self) -> u64 {
        self.count
    }
    fn output_len(&self) -> usize {
        self.input.len()
    }
    fn probability(&self, k: u64) -> f64 {
        let planes = self.batch * self.layer.shape.channels;
        mask_probability(k, planes, self.layer.dropout.keep().probability())
    }
    fn train(&mut self, k: u64, out: &mut [f32]) -> Result<(), Error> {
        let mask = mask_of(k);
        self.layer
            .forward_with_mask(self.batch, &mask, self.input, out)
    }
    fn eval(&mut self, out: &mut [f32]) -> Result<(), Error> {
        let mut rng = unused_rng();
        self.layer
            .forward(Mode::Eval, &mut rng, self.batch, self.input, out, &mut [])
    }
}

/// Outcomes given as closures: `probability(k)` is outcome `k`'s
/// probability, `train(k, out)` writes its output, `eval(out)` the eval
/// output (stochastic depth's two branches, fractional pooling's pieces,
/// test-time views, a layer of your own). The probabilities are a closure of
/// their own so that [`exact_gap`] checks them all before anything runs.
pub struct FnOutcomes<P, T, E> {
    /// Outcomes.
    pub count: NonZeroU64,
    /// Values of one output.
    pub output_len: usize,
    /// Outcome `k`'s probability.
    pub probability: P,
    /// Outcome `k`'s train output.
    pub train: T,
    /// The eval output.
    pub eval: E,
}

impl<P, T, E> Outcomes for FnOutcomes<P, T, E>
where
    P: Fn(u64) -> f64,
    T: FnMut(u64, &mut [f32]) -> Result<(), Error>,
    E: FnMut(&mut [f32]) -> Result<(), Error>,
{
    fn count(&self) -> u64 {
        self.count.get()
    }
    fn output_len(&self) -> usize {
        self.output_len
    }
    fn probability(&self, k: u64) -> f64 {
        (self.probability)(k)
    }
    fn train(&mut self, k: u64, out: &mut [f32]) -> Result<(), Error> {
        (self.train)(k, out)
    }
    fn eval(&mut self, out: &mut [f32]) -> Result<(), Error> {
        (self.eval)(out)
    }
}

/// Eval passes draw nothing; they still take a generator.
fn unused_rng() -> MaskRng {
    MaskRng::seed_from_u64(0)
}
