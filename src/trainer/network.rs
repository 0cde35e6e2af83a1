//! A network: a sequence of [`Layer`]s over `(batch, features)` activations,
//! and the layout of all of its memory in one caller-provided `f32` buffer.
//!
//! # Memory
//! [`Network::memory_len`] (a `const fn`) gives the floats the whole training
//! state takes, so firmware can declare `static mut ARENA: [f32; N]`. Per
//! layer, with `B` the batch, `i`/`o` its input/output features:
//!
//! | layer | parameters | activations and saved state |
//! |---|---|---|
//! | `Dense` | `o i + o` | `B o` |
//! | `DenseDropConnect` | `o i + o` | `B o` + `ceil(o i / 32)` (bit mask) |
//! | `Relu`, `Dropout` | 0 | `B o` (+ `ceil(B o / 32)` mask for dropout) |
//! | `BatchNorm` (`c` features or channels) | `2 c` (+ `2 c` running stats) | `B o` + `B o + 3 c` saved (`x_hat`, `inv_std`, the batch mean and variance until the loss is known finite) |
//! | `SpatialDropout` (`c` channels) | 0 | `B o` + `ceil(B c / 32)` (one mask bit per channel) |
//! | `GlobalAvgPool` | 0 | `B c` |
//! | `Residual` (hidden `h`) | `2 h o + h + o` | `B o` + `B h` + 1 |
//!
//! Every parameter float costs `2 + s` floats (itself, its gradient, `s` floats
//! of optimizer state: 0 SGD, 1 momentum, 2 Adam), plus 1 for the best-weights
//! snapshot when early stopping restores weights. Then come 5 floats of
//! early stopping's counters, one float per
//! layer (its last update-to-weight ratio), the input batch
//! (`B i_0`), its labels (`B`), two gradient buffers of `B * max features` (three
//! with residual blocks; a first dense layer's inputs do not count, since its
//! input gradient is never computed), and the GEMM packing panel
//! ([`crate::Dense::SCRATCH_LEN`]: 8192 floats with AVX-512, 4096 on other x86,
//! 2048 with other SIMD, none on targets without SIMD).

use crate::layers::dense::Dense;
use crate::layers::layer::Layer;
use crate::size::{add, mul};

/// Floats of `fit`'s counters in the memory: the epochs it has run; early
/// stopping's (whether a best was seen, its epoch and value, the epochs
/// since); plateau decay's (whether a best was seen, the best, the bad
/// epochs, the cooldown left) and the rate it set.
pub(crate) const FIT_STATE_LEN: usize = 10;

/// A sequence of layers; the last one's outputs are the class logits.
#[derive(Clone, Copy, Debug)]
pub struct Network<'a> {
    layers: &'a [Layer],
}

/// Where each region of the memory buffer starts (offsets in floats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub params: usize,
    pub grads: usize,
    pub opt_state: usize,
    pub average: usize,
    pub best: usize,
    pub best_buffers: usize,
    /// `fit`'s counters ([`FIT_STATE_LEN`] floats).
    pub fit_state: usize,
    pub buffers: usize,
    pub ratios: usize,
    pub input: usize,
    pub labels: usize,
    pub acts: usize,
    pub saved: usize,
    pub grad_a: usize,
    pub grad_b: usize,
    pub grad_c: usize,
    pub scratch: usize,
    pub end: usize,
}

impl<'a> Network<'a> {
    /// A network over `layers` (checked when a [`crate::Trainer`] is made).
    pub const fn new(layers: &'a [Layer]) -> Self {
        Network { layers }
    }

    /// What [`crate::Trainer::new`] checks of the network alone (shapes
    /// that chain, layer constants in range, residual blocks well formed),
    /// to ask before allocating anything.
    pub fn validate(&self) -> Result<(), crate::error::Error> {
        super::checks::check_network(self.layers)
    }

    /// The layers.
    pub const fn layers(&self) -> &'a [Layer] {
        self.layers
    }

    /// Input features.
    pub const fn inputs(&self) -> usize {
        if self.layers.is_empty() {
            0
        } else {
            self.layers[0].inputs()
        }
    }

    /// Output features (classes).
    pub const fn outputs(&self) -> usize {
        if self.layers.is_empty() {
            0
        } else {
            self.layers[self.layers.len() - 1].outputs()
        }
    }

    /// Trainable floats of the whole network.
    pub const fn params_len(&self) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, self.layers[l].params_len());
            l += 1;
        }
        total
    }

    /// Floats of the buffers training updates but does not train (batch
    /// norm's running statistics), all layers together.
    pub const fn buffers_len(&self) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, self.layers[l].buffers_len());
            l += 1;
        }
        total
    }

    pub(crate) const fn acts_len(&self, batch: usize) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, mul(batch, self.layers[l].outputs()));
            l += 1;
        }
        total
    }

    pub(crate) const fn saved_len(&self, batch: usize) -> usize {
        let mut total = 0;
        let mut l = 0;
        while l < self.layers.len() {
            total = add(total, self.layers[l].saved_len(batch));
            l += 1;
        }
        total
    }

    /// Index of the `ResidualEnd` that closes the block opened at `start`.
    pub(crate) fn block_end(&self, start: usize) -> Option<usize> {
        let rest = self.layers.get(start + 1..)?;
        let at = rest
            .iter()
            .position(|l| matches!(l, Layer::ResidualEnd { .. }))?;
        Some(start + 1 + at)
    }

    /// Index of the `ResidualStart` that opened the block closed at `end`.
    pub(crate) fn block_start(&self, end: usize) -> Option<usize> {
        self.layers
            .get(..end)?
            .iter()
            .rposition(|l| matches!(l, Layer::ResidualStart { .. }))
    }

    const fn has_residual(&self) -> bool {
        let mut l = 0;
        while l < self.layers.len() {
            if matches!(
                self.layers[l],
                Layer::Residual { .. } | Layer::ResidualStart { .. } | Layer::ResidualEnd { .. }
            ) {
                return true;
            }
            l += 1;
        }
        false
    }

    const fn extra_scratch(&self) -> usize {
        let mut w = 0;
        let mut l = 0;
        while l < self.layers.len() {
            let x = self.layers[l].scratch_len();
            if x > w {
                w = x;
            }
            l += 1;
        }
        w
    }

    const fn widest(&self) -> usize {
        let mut w = 0;
        let mut l = 0;
        while l < self.layers.len() {
            let x = if l == 0 {
                self.layers[l].widest_as_first()
            } else {
                self.layers[l].widest()
            };
            if x > w {
                w = x;
            }
            l += 1;
        }
        w
    }

    pub(crate) const fn plan(
        &self,
        batch: usize,
        state_per_param: usize,
        keep_best: bool,
        average: bool,
    ) -> Plan {
        // Saturating throughout: a plan that overflows ends at usize::MAX,
        // which `Trainer::new` refuses (it wrapped to a few floats once).
        let p = self.params_len();
        let bufs = self.buffers_len();
        let params = 0;
        let grads = add(params, p);
        let opt_state = add(grads, p);
        // The average follows the optimizer state, so that the training
        // state (checkpoints, snapshots) is one contiguous range.
        let average_at = add(opt_state, mul(state_per_param, p));
        // Then early stopping's snapshot and its counters, so that they too
        // are part of that range when early stopping is on.
        let best = add(average_at, if average { add(p, bufs) } else { 0 });
        let best_buffers = add(best, if keep_best { p } else { 0 });
        let fit_state = add(best_buffers, if keep_best { bufs } else { 0 });
        let buffers = add(fit_state, FIT_STATE_LEN);
        let ratios = add(buffers, bufs);
        let input = add(ratios, self.layers.len());
        let labels = add(input, mul(batch, self.inputs()));
        let acts = add(labels, batch);
        let saved = add(acts, self.acts_len(batch));
        let grad_a = add(saved, self.saved_len(batch));
        let grad_b = add(grad_a, mul(batch, self.widest()));
        let grad_c = add(grad_b, mul(batch, self.widest()));
        // The third gradient buffer only serves residual branches.
        let scratch = add(
            grad_c,
            if self.has_residual() {
                mul(batch, self.widest())
            } else {
                0
            },
        );
        let end = add(add(scratch, self.extra_scratch()), Dense::SCRATCH_LEN);
        Plan {
            params,
            grads,
            opt_state,
            average: average_at,
            best,
            best_buffers,
            fit_state,
            buffers,
            ratios,
            input,
            labels,
            acts,
            saved,
            grad_a,
            grad_b,
            grad_c,
            scratch,
            end,
        }
    }

    /// Floats of memory training takes at batch size `batch`, with
    /// `state_per_param` optimizer floats per parameter
    /// ([`crate::Optimizer::state_per_param`]) and, if `keep_best`, a snapshot of
    /// the best weights for early stopping.
    ///
    /// ```
    /// use tinyreg::{Dense, Layer, Network, Optimizer};
    /// const LAYERS: [Layer; 2] = [Layer::Dense(Dense::new(64, 32).with_relu()), Layer::Dense(Dense::new(32, 10))];
    /// const FLOATS: usize = Network::new(&LAYERS).memory_len(16, Optimizer::ADAM.state_per_param(), false);
    /// static mut ARENA: [f32; FLOATS] = [0.0; FLOATS]; // sized at compile time
    /// assert!(FLOATS > 4 * (64 * 32 + 32 + 32 * 10 + 10));
    /// ```
    pub const fn memory_len(&self, batch: usize, state_per_param: usize, keep_best: bool) -> usize {
        self.plan(batch, state_per_param, keep_best, false).end
    }

    /// Floats of memory a [`crate::Trainer`] with `config` takes: everything
    /// [`Network::memory_len`] counts, with the batch, optimizer state and
    /// best-weights snapshot the settings ask for, plus the weight average
    /// if there is one.
    ///
    /// ```
    /// use tinyreg::{Dense, Layer, LearningRate, Network, TrainConfig, WeightAverage};
    /// const LAYERS: [Layer; 1] = [Layer::Dense(Dense::new(64, 10))];
    /// const CONFIG: TrainConfig = TrainConfig::new(16, LearningRate::constant(0.01))
    ///     .with_average(WeightAverage::exponential(0.999));
    /// const FLOATS: usize = Network::new(&LAYERS).memory_len_for(&CONFIG);
    /// assert_eq!(FLOATS, Network::new(&LAYERS).memory_len(16, 0, false) + 64 * 10 + 10);
    /// ```
    pub const fn memory_len_for(&self, config: &crate::trainer::TrainConfig) -> usize {
        self.plan_for(config).end
    }

    pub(crate) const fn plan_for(&self, config: &crate::trainer::TrainConfig) -> Plan {
        let keep_best = match config.early_stopping {
            Some((_, es)) => es.restore_best_weights,
            None => false,
        };
        self.plan(
            config.batch,
            config.update.optimizer.state_per_param(),
            keep_best,
            config.average.is_some(),
        )
    }
}
