//! The allocation-free trainer: a [`Network`] trained from one caller-provided
//! `f32` buffer ([`Network::memory_len`] floats), with an optimizer, weight
//! decay, gradient clipping, a learning-rate schedule, early stopping, Monte
//! Carlo dropout prediction and ensembles.
//!
//! Determinism: the same seed, data and settings give the same weights bit for
//! bit, run after run (one thread, fixed reduction orders).

pub mod augmentation;
pub mod average;
pub mod checkpoint;
mod checks;
mod config;
pub mod data;
pub mod early_stopping;
mod fit;
mod metrics;
pub mod network;
pub mod optim;
pub mod plateau;
pub mod predict;
mod regions;
pub mod snapshot_ensemble;
mod step;

use augmentation::Augmenter;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::error::Error;
use crate::layers::layer::Layer;
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws};
use crate::rng::MaskRng;
use checks::{check_config, check_network};
use data::Icls;
use network::{Network, Plan};
use regions::{backward_io, branch_dropped, carve, forward_io, offsets, At, Site};

pub use config::{Metric, TrainConfig};
pub use metrics::{EpochMetrics, FitEvent, FitSummary, Metrics};
use optim::LearningRate;

/// Mixed into the seed of the shuffling generator.
const SHUFFLE_SEED: u64 = 0x5eed_5eed_5eed_5eed;

/// What a [`Trainer`] keeps outside its memory buffer: the generator positions
/// and the step count. Save it with [`Trainer::state`] and continue later with
/// [`Trainer::resume`] over the same buffer (how the C ABI keeps a trainer
/// between calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainerState {
    /// The mask generator (dropout, DropConnect, stochastic depth).
    pub masks: crate::rng::MaskRngState,
    /// The shuffling generator's state (`Xoshiro128PlusPlus::state`).
    pub shuffle: [u8; 16],
    /// Optimizer steps taken.
    pub step: u32,
}

/// Trains a [`Network`] in a borrowed buffer.
///
/// ```
/// use tinyreg::{Dense, Dropout, EarlyStoppingConfig, EpochMetrics, Icls, Layer, LearningRate,
///               Metric, Monitor, Network, Optimizer, TrainConfig, Trainer, Update, WeightDecay};
///
/// let layers = [
///     Layer::Dense(Dense::new(64, 64).with_relu()),
///     Layer::Dropout { features: 64, dropout: Dropout::inverted(0.8)? },
///     Layer::Dense(Dense::new(64, 10)),
/// ];
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/digits-train.bin"));
/// let data = Icls::parse(bytes)?;
/// let (train, val) = (data.slice(0, 1150)?, data.slice(1150, data.count)?);
/// // Stop when validation loss has not improved for 3 epochs; keep the best weights.
/// let stop = EarlyStoppingConfig { mode: Monitor::Min, min_delta: 0.0, patience: 3,
///                                  start_from_epoch: 0, restore_best_weights: true };
/// let config = TrainConfig::new(32, LearningRate::constant(3e-3))
///     .with_update(Update::new(Optimizer::ADAM, WeightDecay::NONE)?)
///     .with_early_stopping(Metric::ValLoss, stop)
///     .with_seed(1);
/// let net = Network::new(&layers);
/// let mut memory = vec![0.0f32; net.memory_len_for(&config)]; // the only buffer
/// let mut trainer = Trainer::new(net, config, &mut memory)?;
/// let (mut order, mut history) = (vec![0u32; train.count], [EpochMetrics::default(); 30]);
/// let summary = trainer.fit(&train, &val, 30, &mut order, &mut history)?;
/// assert!(summary.epochs <= 30 && (!summary.stopped_early || summary.restored));
///
/// // Class probabilities of one image: the eval pass, then 16 Monte Carlo
/// // dropout passes averaged.
/// let image: Vec<f32> = val.sample_values(0).collect();
/// let (mut eval, mut mc) = ([0.0f32; 10], [0.0f32; 10]);
/// trainer.predict_proba(&image, 1, 0, &mut eval)?;
/// trainer.predict_proba(&image, 1, 16, &mut mc)?;
/// assert!((eval.iter().sum::<f32>() - 1.0).abs() < 1e-4);
/// # Ok::<(), tinyreg::Error>(())
/// ```
pub struct Trainer<'n, 'm> {
    net: Network<'n>,
    mem: &'m mut [f32],
    plan: Plan,
    config: TrainConfig,
    /// The base rate of `new` or `set_learning_rate`, before any plateau
    /// decay (which changes `config.lr.base`).
    chosen_base_lr: f32,
    masks: MaskRng,
    shuffle_rng: Xoshiro128PlusPlus,
    step: u32,
    /// Whole-network update-to-weight ratio of the last measured step.
    update_ratio: f32,
    /// Whether [`Trainer::swap_average`] has the averaged weights in.
    average_in: bool,
    /// Whether the next update measures its ratio ([`Trainer::fit`] measures
    /// the last step of each epoch; single steps always measure).
    measure_update: bool,
    /// What is done to each batch [`Trainer::train_step`] loads.
    augmenter: Option<Augmenter<'m>>,
}

impl<'n, 'm> Trainer<'n, 'm> {
    /// Checks the network and settings, lays out `mem` and initializes the
    /// weights from the seed: He-uniform for every dense layer but the last,
    /// Xavier-uniform for the last; zero biases; batch norm `gamma = 1`,
    /// `beta = 0`, running mean 0 and variance 1.
    pub fn new(net: Network<'n>, config: TrainConfig, mem: &'m mut [f32]) -> Result<Self, Error> {
        let mut trainer = Self::new_uninitialized(net, config, mem)?;
        trainer.initialize();
        Ok(trainer)
    }

    fn new_uninitialized(
        net: Network<'n>,
        config: TrainConfig,
        mem: &'m mut [f32],
    ) -> Result<Self, Error> {
        check_network(net.layers())?;
        check_config(&config)?;
        let plan = net.plan_for(&config);
        // A plan whose sizes overflow ends at usize::MAX (they saturate).
        crate::size::fits(plan.end)?;
        if mem.len() < plan.end {
            return Err(Error::BufferTooSmall {
                needed: plan.end,
                got: mem.len(),
            });
        }
        Ok(Trainer {
            net,
            mem,
            plan,
            config,
            chosen_base_lr: config.lr.base,
            masks: MaskRng::seed_from_u64(config.seed),
            shuffle_rng: Xoshiro128PlusPlus::seed_from_u64(config.seed ^ SHUFFLE_SEED),
            step: 0,
            update_ratio: 0.0,
            average_in: false,
            measure_update: true,
            augmenter: None,
        })
    }

    /// Continues training in `mem`, which an earlier trainer of the same
    /// network and settings filled, from `state`. Nothing is re-initialized.
    pub fn resume(
        net: Network<'n>,
        config: TrainConfig,
        mem: &'m mut [f32],
        state: &TrainerState,
    ) -> Result<Self, Error> {
        let mut trainer = Self::new_uninitialized(net, config, mem)?;
        trainer.masks = MaskRng::from_state(&state.masks)?;
        trainer.shuffle_rng = Xoshiro128PlusPlus::from_seed(state.shuffle);
        trainer.step = state.step;
        Ok(trainer)
    }

    /// Puts the trainer back where [`Trainer::new`] left it: weights
    /// re-initialized from the seed, optimizer state, statistics and step
    /// count cleared, generators reseeded. Bit-identical to a new trainer, so
    /// a sweep on an untrained trainer can be undone without a snapshot.
    pub fn reset(&mut self) {
        self.masks = MaskRng::seed_from_u64(self.config.seed);
        self.shuffle_rng = Xoshiro128PlusPlus::seed_from_u64(self.config.seed ^ SHUFFLE_SEED);
        self.step = 0;
        self.update_ratio = 0.0;
        self.average_in = false;
        self.initialize();
        self.sync_plateau_rate();
    }

    /// The state to [`Trainer::resume`] from.
    pub fn state(&self) -> TrainerState {
        TrainerState {
            masks: self.masks.state(),
            shuffle: self.shuffle_rng.state(),
            step: self.step,
        }
    }

    fn initialize(&mut self) {
        let mut rng = Xoshiro128PlusPlus::seed_from_u64(self.config.seed.wrapping_add(0x1417));
        let mut uniform = |bound: f32| {
            ((rng.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32) * 2.0 - 1.0) * bound
        };
        self.mem[..self.plan.end].fill(0.0);
        let last = self.net.layers().len() - 1;
        let mut p = self.plan.params;
        let mut buf = self.plan.buffers;
        for (l, layer) in self.net.layers().iter().enumerate() {
            let [params, buffers] = carve(
                self.mem,
                [(p, layer.params_len()), (buf, layer.buffers_len())],
            );
            layer.initialize(params, buffers, l == last, &mut uniform);
            p += layer.params_len();
            buf += layer.buffers_len();
        }
    }

    /// The network.
    pub fn network(&self) -> Network<'n> {
        self.net
    }

    /// All trainable parameters, layer after layer (weights then biases).
    pub fn params(&self) -> &[f32] {
        &self.mem[self.plan.params..self.plan.params + self.net.params_len()]
    }

    /// The buffers training updates but does not train, layer after layer:
    /// batch norm's running means and variances.
    pub fn buffers(&self) -> &[f32] {
        &self.mem[self.plan.buffers..self.plan.buffers + self.net.buffers_len()]
    }

    /// The trainable parameters, to set or perturb them (e.g. for a gradient
    /// check, or to load trained weights).
    pub fn params_mut(&mut self) -> &mut [f32] {
        let p = self.net.params_len();
        &mut self.mem[self.plan.params..self.plan.params + p]
    }

    /// The gradients of the last [`Trainer::compute_gradients`] or
    /// [`Trainer::train_step`] (before clipping in the latter), in the layout of
    /// [`Trainer::params`].
    pub fn gradients(&self) -> &[f32] {
        &self.mem[self.plan.grads..self.plan.grads + self.net.params_len()]
    }

    /// Forward (train mode) and backward on the samples `indices` of `data`
    /// without updating anything but batch norm's running statistics; returns
    /// the mean loss. The gradients are then in [`Trainer::gradients`].
    pub fn compute_gradients(&mut self, data: &Icls<'_>, indices: &[u32]) -> Result<f32, Error> {
        let rows = indices.len();
        self.check_rows(rows, data)?;
        self.load_batch(data, indices)?;
        let (loss, _) = self.forward_train_and_loss(rows, None)?;
        let (plan, p) = (self.plan, self.net.params_len());
        self.mem[plan.grads..plan.grads + p].fill(0.0);
        self.backward(rows)?;
        Ok(loss)
    }

    /// Checks `rows` samples of `input` and an output of `out_len` floats
    /// against the model, and copies the input into the input region. Returns
    /// the number of classes.
    fn load_input(&mut self, input: &[f32], rows: usize, out_len: usize) -> Result<usize, Error> {
        self.check_input(input.len(), rows, out_len)?;
        let (f, classes) = (self.net.inputs(), self.net.outputs());
        let at = self.plan.input;
        self.mem[at..at + rows * f].copy_from_slice(input);
        Ok(classes)
    }

    /// Checks `rows` samples (at most `batch`) of `input_len` floats in and
    /// `out_len` out against the model.
    fn check_input(&self, input_len: usize, rows: usize, out_len: usize) -> Result<(), Error> {
        let (f, classes) = (self.net.inputs(), self.net.outputs());
        if rows == 0 || rows > self.config.batch {
            return Err(Error::LengthMismatch {
                expected: self.config.batch,
                got: rows,
            });
        }
        // rows <= batch, and batch x widest fits the plan: no overflow.
        for (expected, got) in [(rows * f, input_len), (rows * classes, out_len)] {
            if expected != got {
                return Err(Error::LengthMismatch { expected, got });
            }
        }
        Ok(())
    }

    /// Optimizer steps taken.
    pub fn steps(&self) -> u32 {
        self.step
    }

    /// The settings the trainer runs with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Replaces the learning rate and its schedule from the next step on
    /// (the schedule keeps counting from [`Trainer::steps`]). The range test
    /// and search drivers use it; nothing else changes. Refused (and nothing
    /// changed) as [`LearningRate::validate`] says.
    pub fn set_learning_rate(&mut self, lr: LearningRate) -> Result<(), Error> {
        lr.validate()?;
        self.config.lr = lr;
        self.chosen_base_lr = lr.base;
        Ok(())
    }

    /// Per layer, `||update|| / ||weights||` of its weight matrices at the
    /// last measured step: every [`Trainer::train_step`], and the last step of
    /// each epoch of [`Trainer::fit`] (0 for layers without weights, see
    /// [`Layer::has_weights`], and before the first step). CS231n's rule of thumb: near 1e-3; much
    /// larger, the rate is too high; much smaller, too low.
    pub fn update_ratios(&self) -> &[f32] {
        let at = self.plan.ratios;
        &self.mem[at..at + self.net.layers().len()]
    }

    /// Whether [`Trainer::train_step`] and [`Trainer::train_step_batch`]
    /// measure the update ratio (on by default; it costs two multiply-adds
    /// per weight). [`Trainer::fit`] measures each epoch's last step whatever
    /// this says.
    pub fn set_measure_updates(&mut self, on: bool) {
        self.measure_update = on;
    }

    /// Whole-network `||update|| / ||weights||` of the last measured step.
    pub fn update_ratio(&self) -> f32 {
        self.update_ratio
    }

    /// Floats [`Trainer::save_snapshot`] writes: the parameters, the optimizer
    /// state and the non-trainable buffers (batch norm's running statistics).
    pub fn snapshot_len(&self) -> usize {
        self.snapshot_ranges().iter().map(|&(_, len)| len).sum()
    }

    /// Copies everything training changes into `out` ([`Trainer::snapshot_len`]
    /// floats) and returns the generator and step state, so that
    /// [`Trainer::restore_snapshot`] puts the trainer back bit for bit (the
    /// range test uses it to undo its sweep).
    pub fn save_snapshot(&self, out: &mut [f32]) -> Result<TrainerState, Error> {
        self.check_live_weights()?;
        let needed = self.snapshot_len();
        if out.len() != needed {
            return Err(Error::LengthMismatch {
                expected: needed,
                got: out.len(),
            });
        }
        let mut at = 0;
        for (src, len) in self.snapshot_ranges() {
            out[at..at + len].copy_from_slice(&self.mem[src..src + len]);
            at += len;
        }
        Ok(self.state())
    }

    /// Puts back what [`Trainer::save_snapshot`] saved.
    pub fn restore_snapshot(&mut self, from: &[f32], state: &TrainerState) -> Result<(), Error> {
        let needed = self.snapshot_len();
        if from.len() != needed {
            return Err(Error::LengthMismatch {
                expected: needed,
                got: from.len(),
            });
        }
        let masks = MaskRng::from_state(&state.masks)?;
        let mut at = 0;
        for (dst, len) in self.snapshot_ranges() {
            self.mem[dst..dst + len].copy_from_slice(&from[at..at + len]);
            at += len;
        }
        self.masks = masks;
        self.shuffle_rng = Xoshiro128PlusPlus::from_seed(state.shuffle);
        self.step = state.step;
        self.sync_plateau_rate();
        Ok(())
    }

    /// (start, len) in `mem` of the parameters, optimizer state and buffers.
    fn snapshot_ranges(&self) -> [(usize, usize); 3] {
        let p = self.net.params_len();
        // The optimizer state, the weight average and early stopping's
        // snapshot and counters are one range.
        let s = self.config.update.optimizer.state_per_param() * p
            + self.average_len()
            + self.fit_state_len();
        [
            (self.plan.params, p),
            (self.plan.opt_state, s),
            (self.plan.buffers, self.net.buffers_len()),
        ]
    }

    fn offsets(&self) -> impl Iterator<Item = At> + 'n {
        offsets(self.net, self.plan, self.config.batch)
    }

    /// Forward of `rows` samples already in the input region. `stochastic`
    /// is the mode of dropout, DropConnect and stochastic depth; `norm` that of
    /// batch norm (Monte Carlo dropout runs them Train and Eval).
    fn forward(&mut self, rows: usize, stochastic: Mode, norm: Mode) -> Result<(), Error> {
        let plan = self.plan;
        let mut input_at = plan.input;
        let mut draws = Draws {
            stochastic,
            norm,
            // Only a training step runs batch norm in train mode, and only
            // a training step runs backward after its forward.
            backward_follows: matches!(norm, Mode::Train),
            masks: &mut self.masks,
        };
        let net = self.net;
        // The open residual block's start (its offsets and layer), and the
        // index of its end while its branch is dropped for this batch.
        let mut open: Option<(At, Layer)> = None;
        let mut skip_to = None;
        for (l, (layer, at)) in net
            .layers()
            .iter()
            .zip(offsets(net, plan, self.config.batch))
            .enumerate()
        {
            if skip_to.is_some_and(|end| l < end) {
                continue;
            }
            let site = Site {
                layer: *layer,
                at,
                input_at,
                // A dropped branch left nothing to read.
                input_len: if skip_to == Some(l) {
                    0
                } else {
                    rows * layer.inputs()
                },
                rows,
            };
            let io = forward_io(self.mem, plan, site, open);
            layer.forward_pass(io, &mut draws)?;
            match layer {
                Layer::ResidualStart { .. } => {
                    open = Some((at, *layer));
                    if branch_dropped(layer, &self.mem[at.saved..]) {
                        skip_to = net.block_end(l);
                    }
                }
                Layer::ResidualEnd { .. } => (open, skip_to) = (None, None),
                _ => {}
            }
            input_at = at.act;
        }
        Ok(())
    }

    fn logits_at(&self) -> usize {
        self.offsets().last().map_or(self.plan.acts, |at| at.act)
    }

    /// Backward from the loss gradient in `grad_a` down to the first layer,
    /// accumulating into the (zeroed) gradient region.
    fn backward(&mut self, rows: usize) -> Result<(), Error> {
        let plan = self.plan;
        let net = self.net;
        let layers = net.layers();
        let mut grad_out_at = plan.grad_a;
        let mut grad_in_at = plan.grad_b;
        // Layers backwards; offsets are recomputed per layer (a handful of
        // additions) rather than stored, so depth is not bounded by a buffer.
        let mut l = layers.len();
        while l > 0 {
            l -= 1;
            let layer = layers[l];
            let Some(at) = self.offsets().nth(l) else {
                break;
            };
            let input_at = if l == 0 {
                plan.input
            } else {
                self.offsets().nth(l - 1).map_or(plan.input, |a| a.act)
            };
            let start = match layer {
                Layer::ResidualEnd { .. } => net.block_start(l),
                _ => None,
            };
            let open = start.and_then(|s| Some((self.offsets().nth(s)?, layers[s])));
            // A first dense layer computes no input gradient, and the plan
            // has no room for one (`Layer::widest_as_first`).
            let first_dense =
                l == 0 && matches!(layer, Layer::Dense(_) | Layer::DenseDropConnect(..));
            let site = Site {
                layer,
                at,
                input_at,
                input_len: rows * layer.inputs(),
                rows,
            };
            let grad_in_len = if first_dense {
                0
            } else {
                rows * layer.inputs()
            };
            let gradients = (grad_out_at, (grad_in_at, grad_in_len));
            let io = BackwardIo {
                need_input_grad: l > 0,
                ..backward_io(self.mem, plan, site, gradients, open)
            };
            layer.backward_pass(io)?;
            core::mem::swap(&mut grad_out_at, &mut grad_in_at);
            // A dropped branch did not run: straight on to its start.
            if let Some((s, (start_at, start_layer))) = start.zip(open) {
                if branch_dropped(&start_layer, &self.mem[start_at.saved..]) {
                    l = s + 1;
                }
            }
        }
        Ok(())
    }
}
