//! The allocation-free trainer: a [`Network`] trained from one caller-provided
//! `f32` buffer ([`Network::memory_len`] floats), with an optimizer, weight
//! decay, gradient clipping, a learning-rate schedule, early stopping, Monte
//! Carlo dropout prediction and ensembles.
//!
//! Determinism: the same seed, data and settings give the same weights bit for
//! bit, run after run (one thread, fixed reduction orders).

pub mod checkpoint;
pub mod data;
pub mod early_stopping;
pub mod network;
pub mod optim;

use core::ops::ControlFlow;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;
use wide::bytemuck;

use crate::error::Error;
use crate::kernels::bernoulli::Keep;
use crate::layers::layer::{Layer, MAX_POOL_SIDE};
use crate::layers::loss::{argmax, softmax_cross_entropy, softmax_rows};
use crate::layers::mode::Mode;
use crate::layers::pass::{BackwardIo, Draws, ForwardIo};
use crate::layers::pool::{self, network_layer::fmp_eval_samplings};
use crate::rng::MaskRng;
use data::{shuffled_indices, Icls};
use early_stopping::{EarlyStopping, EarlyStoppingConfig, Verdict};
use network::{Network, Plan};
use optim::{clip_grad_norm, LearningRate, Update, WeightDecay};

/// Mixed into the seed of the shuffling generator.
const SHUFFLE_SEED: u64 = 0x5eed_5eed_5eed_5eed;

/// The metric early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Validation loss (mode min).
    ValLoss,
    /// Validation accuracy (mode max).
    ValAccuracy,
}

/// Training settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainConfig {
    /// Mini-batch size (the memory is sized for it).
    pub batch: usize,
    /// Optimizer and weight decay; decay applies to weight matrices only, not
    /// to biases or batch-norm parameters (like Keras's kernel regularizers).
    pub update: Update,
    /// Learning rate per optimizer step.
    pub lr: LearningRate,
    /// Clip the global gradient norm to this, if set.
    pub clip_norm: Option<f32>,
    /// Seeds initialization, shuffling and every mask.
    pub seed: u64,
    /// Early stopping on a validation metric, if set.
    pub early_stopping: Option<(Metric, EarlyStoppingConfig)>,
}

/// Loss and accuracy over some samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction classified correctly.
    pub accuracy: f32,
}

/// One epoch's curve point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochMetrics {
    /// Mean over the epoch's steps (train mode, as Keras reports it).
    pub train: Metrics,
    /// On the validation set, eval mode, after the epoch.
    pub val: Metrics,
    /// Learning rate of the epoch's last step.
    pub lr: f32,
    /// `||update|| / ||weights||` over all weight matrices at the epoch's
    /// last step (healthy near 1e-3; per layer: [`Trainer::update_ratios`]).
    pub update_ratio: f32,
}

/// How [`Trainer::fit`] ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitSummary {
    /// Epochs run (entries written to the history).
    pub epochs: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// The best epoch and value of the monitored metric, if monitored.
    pub best: Option<(u32, f32)>,
    /// Whether the best weights were restored.
    pub restored: bool,
    /// Whether the observer of [`Trainer::fit_observed`] ended training.
    pub interrupted: bool,
}

/// What [`Trainer::fit_observed`] reports as training goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FitEvent {
    /// An optimizer step ended.
    Step {
        /// The epoch it belongs to (from 0).
        epoch: u32,
        /// Steps taken so far, this one included.
        step: u32,
        /// The batch's loss and accuracy (train mode, before the update).
        metrics: Metrics,
    },
    /// An epoch ended; its entry of the history.
    Epoch {
        /// The epoch (from 0).
        epoch: u32,
        /// What [`Trainer::fit`] writes into the history.
        metrics: EpochMetrics,
    },
}

/// What a [`Trainer`] keeps outside its memory buffer: the generator positions
/// and the step count. Save it with [`Trainer::state`] and continue later with
/// [`Trainer::resume`] over the same buffer (how the C ABI keeps a trainer
/// between calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainerState {
    /// The mask generator (dropout, DropConnect, stochastic depth).
    pub masks: crate::MaskRngState,
    /// The shuffling generator's state (`Xoshiro128PlusPlus::state`).
    pub shuffle: [u8; 16],
    /// Optimizer steps taken.
    pub step: u32,
}

/// Trains a [`Network`] in a borrowed buffer.
pub struct Trainer<'n, 'm> {
    net: Network<'n>,
    mem: &'m mut [f32],
    plan: Plan,
    config: TrainConfig,
    masks: MaskRng,
    shuffle_rng: Xoshiro128PlusPlus,
    step: u32,
    /// Whole-network update-to-weight ratio of the last measured step.
    update_ratio: f32,
    /// Whether the next update measures its ratio ([`Trainer::fit`] measures
    /// the last step of each epoch; single steps always measure).
    measure_update: bool,
}

/// Offsets of one layer's regions.
#[derive(Clone, Copy)]
struct At {
    params: usize,
    buffers: usize,
    act: usize,
    saved: usize,
}

/// Disjoint mutable slices of `mem` at `(start, len)` ranges, which the plan
/// guarantees do not overlap (empty ranges may sit anywhere).
fn carve<'a, const N: usize>(
    mem: &'a mut [f32],
    ranges: [(usize, usize); N],
) -> [&'a mut [f32]; N] {
    let mut order: [usize; N] = core::array::from_fn(|i| i);
    order.sort_unstable_by_key(|&i| ranges[i].0);
    let mut out: [Option<&'a mut [f32]>; N] = core::array::from_fn(|_| None);
    let mut rest = mem;
    let mut offset = 0;
    for &i in &order {
        let (start, len) = ranges[i];
        if len == 0 {
            continue; // stays None: an empty slice, wherever it would start
        }
        let (_, tail) = core::mem::take(&mut rest).split_at_mut(start - offset);
        let (mine, tail) = tail.split_at_mut(len);
        out[i] = Some(mine);
        rest = tail;
        offset = start + len;
    }
    out.map(|s| s.unwrap_or_default())
}

/// Where each layer's regions start, in layer order.
fn offsets(net: Network<'_>, plan: Plan, batch: usize) -> impl Iterator<Item = At> + '_ {
    let mut at = At {
        params: plan.params,
        buffers: plan.buffers,
        act: plan.acts,
        saved: plan.saved,
    };
    net.layers().iter().map(move |layer| {
        let here = at;
        at.params += layer.params_len();
        at.buffers += layer.buffers_len();
        at.act += batch * layer.outputs();
        at.saved += layer.saved_len(batch);
        here
    })
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
        check_network(&net)?;
        check_config(&config)?;
        let keep_best = config
            .early_stopping
            .is_some_and(|(_, es)| es.restore_best_weights);
        let plan = net.plan(
            config.batch,
            config.update.optimizer.state_per_param(),
            keep_best,
        );
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
            masks: MaskRng::seed_from_u64(config.seed),
            shuffle_rng: Xoshiro128PlusPlus::seed_from_u64(config.seed ^ SHUFFLE_SEED),
            step: 0,
            update_ratio: 0.0,
            measure_update: true,
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
        self.initialize();
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
            match *layer {
                Layer::Dense(d) | Layer::DenseDropConnect(d, _) => {
                    let (i, o) = (d.inputs(), d.outputs());
                    let bound = if l == last {
                        libm::sqrtf(6.0 / (i + o) as f32)
                    } else {
                        libm::sqrtf(6.0 / i.max(1) as f32)
                    };
                    self.mem[p..p + i * o]
                        .iter_mut()
                        .for_each(|w| *w = uniform(bound));
                }
                Layer::Residual {
                    features: f,
                    hidden: h,
                    ..
                } => {
                    let he = libm::sqrtf(6.0 / f.max(1) as f32);
                    self.mem[p..p + h * f]
                        .iter_mut()
                        .for_each(|w| *w = uniform(he));
                    let xavier = libm::sqrtf(6.0 / (f + h) as f32);
                    let w2 = p + h * f + h;
                    self.mem[w2..w2 + f * h]
                        .iter_mut()
                        .for_each(|w| *w = uniform(xavier));
                }
                Layer::BatchNorm(bn) => {
                    let f = bn.features();
                    self.mem[p..p + f].fill(1.0);
                    self.mem[buf + f..buf + 2 * f].fill(1.0);
                }
                Layer::Conv2d { conv, .. } => {
                    let fan_in = conv.in_channels * conv.k * conv.k;
                    let he = libm::sqrtf(6.0 / fan_in.max(1) as f32);
                    self.mem[p..p + conv.weights_len()]
                        .iter_mut()
                        .for_each(|w| *w = uniform(he));
                }
                Layer::Relu { .. }
                | Layer::Dropout { .. }
                | Layer::MaxPool { .. }
                | Layer::AvgPool { .. }
                | Layer::FractionalMaxPool { .. } => {}
            }
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

    /// Raw logits of `rows` samples into `logits` (`rows x classes`), with the
    /// stochastic layers in `mode` and batch norm in eval mode.
    pub fn logits(
        &mut self,
        input: &[f32],
        rows: usize,
        mode: Mode,
        logits: &mut [f32],
    ) -> Result<(), Error> {
        let classes = self.load_input(input, rows, logits.len())?;
        self.forward(rows, mode, Mode::Eval)?;
        let at = self.logits_at();
        logits.copy_from_slice(&self.mem[at..at + rows * classes]);
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
        Ok(())
    }

    /// (start, len) in `mem` of the parameters, optimizer state and buffers.
    fn snapshot_ranges(&self) -> [(usize, usize); 3] {
        let p = self.net.params_len();
        let s = self.config.update.optimizer.state_per_param() * p;
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
            masks: &mut self.masks,
        };
        let net = self.net;
        for (layer, at) in net
            .layers()
            .iter()
            .zip(offsets(net, plan, self.config.batch))
        {
            let (i, o) = (layer.inputs(), layer.outputs());
            let is_fmp = matches!(layer, Layer::FractionalMaxPool { .. });
            let [input, output, params, saved, scratch, buffers, tmp] = carve(
                self.mem,
                [
                    (input_at, rows * i),
                    (at.act, rows * o),
                    (at.params, layer.params_len()),
                    (at.saved, layer.saved_len(rows)),
                    (plan.scratch, plan.end - plan.scratch),
                    (at.buffers, layer.buffers_len()),
                    // Eval-mode fractional pooling averages samplings through here.
                    (plan.grad_b, if is_fmp { rows * o } else { 0 }),
                ],
            );
            let io = ForwardIo {
                rows,
                input,
                output,
                params,
                buffers,
                saved,
                scratch,
                tmp,
            };
            layer.forward_pass(io, &mut draws)?;
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
        let layers = self.net.layers();
        let mut grad_out_at = plan.grad_a;
        let mut grad_in_at = plan.grad_b;
        // Layers backwards; offsets are recomputed per layer (a handful of
        // additions) rather than stored, so depth is not bounded by a buffer.
        for l in (0..layers.len()).rev() {
            let layer = layers[l];
            let Some(at) = self.offsets().nth(l) else {
                break;
            };
            let input_at = if l == 0 {
                plan.input
            } else {
                self.offsets().nth(l - 1).map_or(plan.input, |a| a.act)
            };
            let grads_at = plan.grads + (at.params - plan.params);
            let (i, o) = (layer.inputs(), layer.outputs());
            let is_dense = matches!(layer, Layer::Dense(_) | Layer::DenseDropConnect(..));
            // The third gradient buffer exists (and is used) only for residual blocks.
            let widest = if matches!(layer, Layer::Residual { .. }) {
                rows * layer.widest()
            } else {
                0
            };
            let [input, output, params, saved, scratch, grads, grad_out, grad_in, grad_c] = carve(
                self.mem,
                [
                    (input_at, rows * i),
                    (at.act, rows * o),
                    (at.params, layer.params_len()),
                    (at.saved, layer.saved_len(rows)),
                    (plan.scratch, plan.end - plan.scratch),
                    (grads_at, layer.params_len()),
                    (grad_out_at, rows * o),
                    // A first dense layer computes no input gradient, and the
                    // plan has no room for one (`Layer::widest_as_first`).
                    (grad_in_at, if l == 0 && is_dense { 0 } else { rows * i }),
                    (plan.grad_c, widest),
                ],
            );
            let io = BackwardIo {
                rows,
                input,
                output,
                params,
                saved,
                scratch,
                grads,
                grad_out,
                grad_in,
                need_input_grad: l > 0,
                spare: grad_c,
            };
            layer.backward_pass(io)?;
            core::mem::swap(&mut grad_out_at, &mut grad_in_at);
        }
        Ok(())
    }

    /// One optimizer step on the samples `indices` of `data` (at most `batch`
    /// of them; at least 2 if the network has batch norm). Returns the batch's
    /// loss and accuracy, measured in train mode before the update.
    pub fn train_step(&mut self, data: &Icls<'_>, indices: &[u32]) -> Result<Metrics, Error> {
        let rows = indices.len();
        self.check_rows(rows, data)?;
        self.load_batch(data, indices)?;
        self.step_loaded(rows, None)
    }

    /// One optimizer step on a batch the caller prepared (e.g. augmented):
    /// `input` is `rows x inputs`, `labels` the classes. With `mix = Some((partner_labels,
    /// lambda))` the loss is mixup's `lambda CE(labels) + (1 - lambda) CE(partner)`
    /// (use it for CutMix with the pasted fraction as `1 - lambda`).
    pub fn train_step_batch(
        &mut self,
        input: &[f32],
        labels: &[u32],
        mix: Option<(&[u32], f32)>,
    ) -> Result<Metrics, Error> {
        let rows = labels.len();
        let classes = self.net.outputs();
        // Everything checked before the forward pass draws masks or moves
        // batch norm's running statistics.
        let partner = mix.map_or(&[][..], |(p, _)| p);
        if let Some((partner, lambda)) = mix {
            crate::layers::mixup::check_lambda(lambda)?;
            if partner.len() != rows {
                return Err(Error::LengthMismatch {
                    expected: rows,
                    got: partner.len(),
                });
            }
        }
        for labels in [labels, partner] {
            if let Some(row) = labels.iter().position(|&l| l as usize >= classes) {
                return Err(Error::LabelOutOfRange {
                    row,
                    label: labels[row],
                    classes,
                });
            }
        }
        self.load_input(input, rows, rows * classes)?;
        let at = self.plan.labels;
        bytemuck::cast_slice_mut::<f32, u32>(&mut self.mem[at..at + rows]).copy_from_slice(labels);
        self.step_loaded(rows, mix)
    }

    /// The train forward and the loss. On an error (a non-finite loss) the
    /// mask generator goes back to where it was and batch norm's running
    /// statistics stay as they were: only the activations were written.
    fn forward_train_and_loss(
        &mut self,
        rows: usize,
        mix: Option<(&[u32], f32)>,
    ) -> Result<(f32, usize), Error> {
        let masks = self.masks.clone();
        let result = self
            .forward(rows, Mode::Train, Mode::Train)
            .and_then(|()| self.loss_and_gradient(rows, mix));
        match result {
            Ok(loss) => {
                self.commit_batch_norm(rows)?;
                Ok(loss)
            }
            Err(e) => {
                self.masks = masks;
                Err(e)
            }
        }
    }

    /// Moves each batch-norm layer's running statistics by the batch's, as
    /// the train forward left them in its saved region.
    fn commit_batch_norm(&mut self, rows: usize) -> Result<(), Error> {
        for (layer, at) in self.net.layers().iter().zip(self.offsets()) {
            if let Layer::BatchNorm(bn) = *layer {
                let f = bn.features();
                let [saved, buffers] = carve(
                    self.mem,
                    [(at.saved, layer.saved_len(rows)), (at.buffers, 2 * f)],
                );
                let (running_mean, running_var) = buffers.split_at_mut(f);
                bn.commit_running(rows, saved, running_mean, running_var)?;
            }
        }
        Ok(())
    }

    fn step_loaded(&mut self, rows: usize, mix: Option<(&[u32], f32)>) -> Result<Metrics, Error> {
        let (loss, correct) = self.forward_train_and_loss(rows, mix)?;
        let plan = self.plan;
        let p = self.net.params_len();
        self.mem[plan.grads..plan.grads + p].fill(0.0);
        self.backward(rows)?;
        if let Some(max_norm) = self.config.clip_norm {
            clip_grad_norm(&mut self.mem[plan.grads..plan.grads + p], max_norm);
        }
        self.apply_update()?;
        Ok(Metrics {
            loss,
            accuracy: correct as f32 / rows as f32,
        })
    }

    fn check_rows(&self, rows: usize, data: &Icls<'_>) -> Result<(), Error> {
        if rows == 0 || rows > self.config.batch {
            return Err(Error::LengthMismatch {
                expected: self.config.batch,
                got: rows,
            });
        }
        if data.features() != self.net.inputs() {
            return Err(Error::LengthMismatch {
                expected: self.net.inputs(),
                got: data.features(),
            });
        }
        if data.classes > self.net.outputs() {
            return Err(Error::LengthMismatch {
                expected: self.net.outputs(),
                got: data.classes,
            });
        }
        Ok(())
    }

    fn load_batch(&mut self, data: &Icls<'_>, indices: &[u32]) -> Result<(), Error> {
        let rows = indices.len();
        let plan = self.plan;
        let [input, labels] = carve(
            self.mem,
            [(plan.input, rows * self.net.inputs()), (plan.labels, rows)],
        );
        data.gather(indices, input, bytemuck::cast_slice_mut::<f32, u32>(labels))
    }

    /// Mean loss of the batch and its gradient into `grad_a`; the count correct.
    /// With `mix = Some((partner_labels, lambda))`, mixup's mixed loss.
    fn loss_and_gradient(
        &mut self,
        rows: usize,
        mix: Option<(&[u32], f32)>,
    ) -> Result<(f32, usize), Error> {
        let classes = self.net.outputs();
        let plan = self.plan;
        let logits_at = self.logits_at();
        let [logits, labels, grad] = carve(
            self.mem,
            [
                (logits_at, rows * classes),
                (plan.labels, rows),
                (plan.grad_a, rows * classes),
            ],
        );
        let labels = bytemuck::cast_slice::<f32, u32>(labels);
        let loss = match mix {
            None => softmax_cross_entropy(classes, logits, labels, grad)?,
            Some((partner, lambda)) => crate::layers::mixup::softmax_cross_entropy_mixed(
                classes, logits, labels, partner, lambda, grad,
            )?,
        };
        let correct = logits
            .chunks_exact(classes)
            .zip(labels)
            .filter(|(z, &y)| argmax(z) == y as usize)
            .count();
        Ok((loss, correct))
    }

    fn apply_update(&mut self) -> Result<(), Error> {
        // Adam's bias correction needs the count; it saturates rather than
        // wrapping to 0 (a resumed trainer at u32::MAX steps).
        self.step = self.step.saturating_add(1);
        let lr = self.config.lr.at(self.step - 1);
        let plan = self.plan;
        let s = self.config.update.optimizer.state_per_param();
        let no_decay = Update {
            decay: WeightDecay::NONE,
            ..self.config.update
        };
        let mut p = 0;
        let mut total = optim::UpdateNorms::default();
        for (l, layer) in self.net.layers().iter().enumerate() {
            let mut norms = optim::UpdateNorms::default();
            // (length, decayed) of each tensor of the layer, in storage order.
            let tensors: [(usize, bool); 4] = match *layer {
                Layer::Dense(d) | Layer::DenseDropConnect(d, _) => [
                    (d.weights_len(), true),
                    (d.outputs(), false),
                    (0, false),
                    (0, false),
                ],
                Layer::BatchNorm(bn) => [
                    (bn.features(), false),
                    (bn.features(), false),
                    (0, false),
                    (0, false),
                ],
                Layer::Conv2d { conv, .. } => [
                    (conv.weights_len(), true),
                    (conv.out_channels, false),
                    (0, false),
                    (0, false),
                ],
                Layer::Residual {
                    features: f,
                    hidden: h,
                    ..
                } => [(h * f, true), (h, false), (f * h, true), (f, false)],
                Layer::Relu { .. }
                | Layer::Dropout { .. }
                | Layer::MaxPool { .. }
                | Layer::AvgPool { .. }
                | Layer::FractionalMaxPool { .. } => [(0, false); 4],
            };
            for (len, decayed) in tensors {
                if len == 0 {
                    continue;
                }
                let [params, grads, state] = carve(
                    self.mem,
                    [
                        (plan.params + p, len),
                        (plan.grads + p, len),
                        (plan.opt_state + s * p, s * len),
                    ],
                );
                let update = if decayed {
                    &self.config.update
                } else {
                    &no_decay
                };
                // Only weight matrices are measured (and only when asked).
                let n = if decayed && self.measure_update {
                    update.apply_measured(lr, self.step, params, grads, state)?
                } else {
                    update.apply(lr, self.step, params, grads, state)?;
                    optim::UpdateNorms::default()
                };
                if decayed {
                    norms.delta_sq += n.delta_sq;
                    norms.weight_sq += n.weight_sq;
                }
                p += len;
            }
            if self.measure_update {
                self.mem[plan.ratios + l] = norms.ratio();
            }
            total.delta_sq += norms.delta_sq;
            total.weight_sq += norms.weight_sq;
        }
        if self.measure_update {
            self.update_ratio = total.ratio();
        }
        Ok(())
    }

    /// Loss and accuracy on all of `data` in eval mode, `batch` samples at a time.
    pub fn evaluate(&mut self, data: &Icls<'_>) -> Result<Metrics, Error> {
        let batch = self.config.batch;
        let (mut loss, mut correct) = (0.0f64, 0usize);
        let mut start = 0;
        while start < data.count {
            let rows = batch.min(data.count - start);
            self.check_rows(rows, data)?;
            let mut idx = [0u32; 64];
            // Gather in runs of at most 64 indices (no heap for an index list).
            let plan = self.plan;
            for chunk_start in (0..rows).step_by(64) {
                let n = 64.min(rows - chunk_start);
                for (k, slot) in idx[..n].iter_mut().enumerate() {
                    *slot = (start + chunk_start + k) as u32;
                }
                let f = self.net.inputs();
                let [input, labels] = carve(
                    self.mem,
                    [
                        (plan.input + chunk_start * f, n * f),
                        (plan.labels + chunk_start, n),
                    ],
                );
                data.gather(
                    &idx[..n],
                    input,
                    bytemuck::cast_slice_mut::<f32, u32>(labels),
                )?;
            }
            self.forward(rows, Mode::Eval, Mode::Eval)?;
            let (l, c) = self.loss_and_gradient(rows, None)?;
            loss += l as f64 * rows as f64;
            correct += c;
            start += rows;
        }
        let n = data.count.max(1) as f64;
        Ok(Metrics {
            loss: (loss / n) as f32,
            accuracy: (correct as f64 / n) as f32,
        })
    }

    /// Trains for up to `epochs` epochs over `train` in an order reshuffled
    /// each epoch (Fisher-Yates into `order`, `train.count` entries), evaluating
    /// on `val` after each epoch into `history` (at least `epochs` entries).
    /// The last batch of an epoch is dropped if it has a single sample.
    pub fn fit(
        &mut self,
        train: &Icls<'_>,
        val: &Icls<'_>,
        epochs: u32,
        order: &mut [u32],
        history: &mut [EpochMetrics],
    ) -> Result<FitSummary, Error> {
        self.fit_observed(train, val, epochs, order, history, &mut |_| {
            ControlFlow::Continue(())
        })
    }

    /// [`Trainer::fit`], telling `observe` of every step and every epoch as
    /// it ends (a progress bar, a step-loss curve, a pruner reading each
    /// epoch); `ControlFlow::Break` ends training after that step or epoch
    /// ([`FitSummary::interrupted`]). Observing changes nothing: the weights
    /// are those of [`Trainer::fit`] bit for bit. The observer is a trait
    /// object so that the loop is compiled once, in this crate, whoever
    /// calls it (instantiated in a caller's crate it ran 15% slower).
    pub fn fit_observed(
        &mut self,
        train: &Icls<'_>,
        val: &Icls<'_>,
        epochs: u32,
        order: &mut [u32],
        history: &mut [EpochMetrics],
        observe: &mut dyn FnMut(FitEvent) -> ControlFlow<()>,
    ) -> Result<FitSummary, Error> {
        if order.len() != train.count {
            return Err(Error::LengthMismatch {
                expected: train.count,
                got: order.len(),
            });
        }
        if history.len() < epochs as usize {
            return Err(Error::BufferTooSmall {
                needed: epochs as usize,
                got: history.len(),
            });
        }
        let mut stopper = self
            .config
            .early_stopping
            .map(|(metric, es)| (metric, EarlyStopping::new(es)));
        let mut summary = FitSummary {
            epochs: 0,
            stopped_early: false,
            best: None,
            restored: false,
            interrupted: false,
        };
        'epochs: for epoch in 0..epochs {
            shuffled_indices(&mut self.shuffle_rng, order);
            let (mut loss, mut acc, mut steps) = (0.0f64, 0.0f64, 0usize);
            let last = order.chunks(self.config.batch).rposition(|c| c.len() >= 2);
            for (k, chunk) in order.chunks(self.config.batch).enumerate() {
                if chunk.len() < 2 {
                    continue;
                }
                // The update ratio is reported for the epoch's last step only,
                // so only that step pays for measuring it.
                let own = self.measure_update;
                self.measure_update = Some(k) == last;
                let m = self.train_step(train, chunk);
                self.measure_update = own;
                let m = m?;
                loss += m.loss as f64;
                acc += m.accuracy as f64;
                steps += 1;
                let step = FitEvent::Step {
                    epoch,
                    step: self.step,
                    metrics: m,
                };
                if observe(step).is_break() {
                    summary.interrupted = true;
                    break 'epochs;
                }
            }
            let steps_f = steps.max(1) as f64;
            let train_metrics = Metrics {
                loss: (loss / steps_f) as f32,
                accuracy: (acc / steps_f) as f32,
            };
            let val_metrics = self.evaluate(val)?;
            history[epoch as usize] = EpochMetrics {
                train: train_metrics,
                val: val_metrics,
                lr: self.config.lr.at(self.step.saturating_sub(1)),
                update_ratio: self.update_ratio,
            };
            summary.epochs = epoch as usize + 1;
            let ended = FitEvent::Epoch {
                epoch,
                metrics: history[epoch as usize],
            };
            if observe(ended).is_break() {
                summary.interrupted = true;
                break;
            }
            if let Some((metric, es)) = stopper.as_mut() {
                let value = match metric {
                    Metric::ValLoss => val_metrics.loss,
                    Metric::ValAccuracy => val_metrics.accuracy,
                };
                match es.update(epoch, value) {
                    Verdict::Improved => {
                        if es.config().restore_best_weights {
                            self.snapshot_best();
                        }
                    }
                    Verdict::Continue => {}
                    Verdict::Stop => {
                        summary.stopped_early = true;
                        break;
                    }
                }
            }
        }
        if let Some((_, es)) = stopper {
            summary.best = es.best();
            // Restore whether or not patience ran out (Keras issue 12511).
            if es.config().restore_best_weights && es.best().is_some() {
                self.restore_best();
                summary.restored = true;
            }
        }
        Ok(summary)
    }

    fn snapshot_best(&mut self) {
        let (p, b, plan) = (self.net.params_len(), self.net.buffers_len(), self.plan);
        self.mem
            .copy_within(plan.params..plan.params + p, plan.best);
        self.mem
            .copy_within(plan.buffers..plan.buffers + b, plan.best_buffers);
    }

    fn restore_best(&mut self) {
        let (p, b, plan) = (self.net.params_len(), self.net.buffers_len(), self.plan);
        self.mem.copy_within(plan.best..plan.best + p, plan.params);
        self.mem
            .copy_within(plan.best_buffers..plan.best_buffers + b, plan.buffers);
    }

    /// Class probabilities of `rows` samples (`input`: `rows x inputs`, at most
    /// `batch` rows) into `probs` (`rows x classes`). `passes = 0` is the
    /// deterministic eval pass; `passes = T > 0` averages `T` Monte Carlo
    /// passes with dropout, DropConnect and stochastic depth in train mode and
    /// batch norm in eval mode (Gal and Ghahramani 2016).
    pub fn predict_proba(
        &mut self,
        input: &[f32],
        rows: usize,
        passes: u32,
        probs: &mut [f32],
    ) -> Result<(), Error> {
        let classes = self.load_input(input, rows, probs.len())?;
        let plan = self.plan;
        let logits_at = self.logits_at();
        if passes == 0 {
            self.forward(rows, Mode::Eval, Mode::Eval)?;
            softmax_rows(
                classes,
                &self.mem[logits_at..logits_at + rows * classes],
                probs,
            );
            return Ok(());
        }
        probs.fill(0.0);
        for _ in 0..passes {
            self.forward(rows, Mode::Train, Mode::Eval)?;
            let [logits, tmp] = carve(
                self.mem,
                [(logits_at, rows * classes), (plan.grad_a, rows * classes)],
            );
            softmax_rows(classes, logits, tmp);
            for (p, &t) in probs.iter_mut().zip(tmp.iter()) {
                *p += t / passes as f32;
            }
        }
        Ok(())
    }
}

/// Mean of the members' class probabilities (an ensemble's prediction):
/// `probs = (1/K) sum_k softmax(member_k(input))`, with `tmp` as scratch
/// (`rows x classes`).
pub fn ensemble_proba(
    members: &mut [Trainer<'_, '_>],
    input: &[f32],
    rows: usize,
    probs: &mut [f32],
    tmp: &mut [f32],
) -> Result<(), Error> {
    if members.is_empty() {
        return Err(Error::InvalidConfig {
            reason: "an ensemble needs at least one member",
        });
    }
    if tmp.len() != probs.len() {
        return Err(Error::LengthMismatch {
            expected: probs.len(),
            got: tmp.len(),
        });
    }
    // Every member checked before `probs` is touched.
    for member in members.iter() {
        member.check_input(input.len(), rows, probs.len())?;
    }
    probs.fill(0.0);
    let k = members.len() as f32;
    for member in members.iter_mut() {
        member.predict_proba(input, rows, 0, tmp)?;
        for (p, &t) in probs.iter_mut().zip(tmp.iter()) {
            *p += t / k;
        }
    }
    Ok(())
}

/// The settings a trainer refuses: a zero batch, a learning rate or
/// schedule that is not finite and non-negative, a clipping norm that is not
/// positive and finite (a negative one flipped the gradient), an early
/// stopping `min_delta` that is not finite and non-negative (NaN stopped
/// after `patience` and restored epoch 0).
fn check_config(config: &TrainConfig) -> Result<(), Error> {
    let bad = |reason| Err(Error::InvalidConfig { reason });
    if config.batch == 0 {
        return bad("batch must be at least 1");
    }
    config.lr.validate()?;
    if let Some(norm) = config.clip_norm {
        if !(norm > 0.0 && norm.is_finite()) {
            return bad("clip_norm must be positive and finite");
        }
    }
    if let Some((_, es)) = config.early_stopping {
        if !(es.min_delta >= 0.0 && es.min_delta.is_finite()) {
            return bad("early stopping's min_delta must be finite and >= 0");
        }
    }
    Ok(())
}

fn check_network(net: &Network<'_>) -> Result<(), Error> {
    let layers = net.layers();
    if layers.is_empty() {
        return Err(Error::InvalidConfig {
            reason: "a network needs at least one layer",
        });
    }
    for pair in layers.windows(2) {
        if pair[0].outputs() != pair[1].inputs() {
            return Err(Error::LengthMismatch {
                expected: pair[0].outputs(),
                got: pair[1].inputs(),
            });
        }
    }
    for layer in layers {
        let bad_pool = |reason| Err(Error::InvalidConfig { reason });
        match *layer {
            Layer::Conv2d { conv, .. } => conv.validate()?,
            Layer::BatchNorm(bn) => bn.validate()?,
            Layer::MaxPool { shape, k, stride } | Layer::AvgPool { shape, k, stride } => {
                if k == 0
                    || k > pool::MAX_REGION
                    || stride == 0
                    || shape.height < k
                    || shape.width < k
                {
                    return bad_pool("pooling needs 1 <= k <= 16, k <= the image, stride >= 1");
                }
                if (shape.height - k) / stride + 1 > MAX_POOL_SIDE
                    || (shape.width - k) / stride + 1 > MAX_POOL_SIDE
                {
                    return bad_pool("pooling output sides are limited to 256");
                }
            }
            Layer::FractionalMaxPool {
                shape,
                out_height,
                out_width,
                ..
            } => {
                let fits = |i: usize, o: usize| o > 0 && o < i && i <= 2 * o && o <= MAX_POOL_SIDE;
                if !fits(shape.height, out_height) || !fits(shape.width, out_width) {
                    return bad_pool("fractional pooling needs out < in <= 2 out, out <= 256");
                }
                if fmp_eval_samplings(*layer).is_none() {
                    return bad_pool(
                        "fractional pooling's eval needs Average(n >= 1), or Exact with at most MAX_EXACT_FMP_SAMPLINGS samplings",
                    );
                }
            }
            _ => {}
        }
        if let Layer::Residual { survival, .. } = layer {
            if !(*survival > 0.0 && *survival <= 1.0) || Keep::new(*survival)?.threshold() == 0 {
                return Err(Error::InvalidKeep { keep: *survival });
            }
        }
    }
    if net.outputs() == 0 {
        return Err(Error::InvalidConfig {
            reason: "the last layer must have outputs",
        });
    }
    Ok(())
}
