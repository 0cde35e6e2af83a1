//! One optimizer step: load a batch (or a mixed one), forward in train mode,
//! loss and its gradient, backward, clip, update; nothing moves (weights,
//! batch-norm statistics, generators) unless the loss is finite.

use super::augmentation::Augmenter;
use super::data::Icls;
use super::optim::{self, clip_grad_norm, Update, WeightDecay};
use super::regions::{branch_dropped, carve};
use super::{Metrics, Trainer};
use crate::error::Error;
use crate::kernels::words::{u32s, u32s_mut};
use crate::layers::layer::Layer;
use crate::layers::loss::{argmax, softmax_cross_entropy};
use crate::layers::mode::Mode;

impl<'n, 'm> Trainer<'n, 'm> {
    /// One optimizer step on the samples `indices` of `data` (at most `batch`
    /// of them; at least 2 if the network has batch norm). Returns the batch's
    /// loss and accuracy, measured in train mode before the update.
    pub fn train_step(&mut self, data: &Icls<'_>, indices: &[u32]) -> Result<Metrics, Error> {
        self.check_live_weights()?;
        let rows = indices.len();
        self.check_rows(rows, data)?;
        self.load_batch(data, indices)?;
        if self.augmenter.is_none() {
            return self.step_loaded(rows, None);
        }
        self.augmented_step(rows)
    }

    /// [`Trainer::train_step`]'s step with the augmenter: apart, so that
    /// the augmenter is moved in this frame only, not on every step's stack.
    #[inline(never)]
    fn augmented_step(&mut self, rows: usize) -> Result<Metrics, Error> {
        let Some(mut augmenter) = self.augmenter.take() else {
            return self.step_loaded(rows, None);
        };
        let plan = self.plan;
        let [input, labels] = carve(
            self.mem,
            [(plan.input, rows * self.net.inputs()), (plan.labels, rows)],
        );
        let result = match augmenter.apply(self.config.seed, self.step, input, u32s(labels)) {
            Ok(mix) => self.step_loaded(rows, mix),
            Err(e) => Err(e),
        };
        self.augmenter = Some(augmenter);
        result
    }

    /// Whether an augmenter is set ([`Trainer::set_augmenter`]).
    pub fn augmenting(&self) -> bool {
        self.augmenter.is_some()
    }

    /// Augments every batch [`Trainer::train_step`] (and so [`Trainer::fit`])
    /// loads from now on, as `augmenter` says ([`crate::trainer::augmentation`]);
    /// `None` turns augmentation off. Refused, leaving the trainer as it was,
    /// when its images are not the network's input or its buffers hold
    /// smaller batches than the trainer's.
    pub fn set_augmenter(&mut self, augmenter: Option<Augmenter<'m>>) -> Result<(), Error> {
        if let Some(a) = &augmenter {
            let len = a.augmentation().shape.len();
            if len != self.net.inputs() {
                return Err(Error::LengthMismatch {
                    expected: self.net.inputs(),
                    got: len,
                });
            }
            if a.batch() < self.config.batch {
                return Err(Error::BufferTooSmall {
                    needed: self.config.batch,
                    got: a.batch(),
                });
            }
        }
        self.augmenter = augmenter;
        Ok(())
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
        self.check_live_weights()?;
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
        u32s_mut(&mut self.mem[at..at + rows]).copy_from_slice(labels);
        self.step_loaded(rows, mix)
    }

    /// The train forward and the loss. On an error (a non-finite loss) the
    /// mask generator goes back to where it was and batch norm's running
    /// statistics stay as they were: only the activations were written.
    pub(super) fn forward_train_and_loss(
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
        let net = self.net;
        // Batch norm inside a dropped branch saw no batch: its statistics stay.
        let mut skip_to = None;
        for (l, (layer, at)) in net.layers().iter().zip(self.offsets()).enumerate() {
            if skip_to.is_some_and(|end| l < end) {
                continue;
            }
            match *layer {
                Layer::ResidualStart { .. } if branch_dropped(layer, &self.mem[at.saved..]) => {
                    skip_to = net.block_end(l);
                }
                Layer::BatchNorm(bn) => {
                    let f = bn.features();
                    let [saved, buffers] = carve(
                        self.mem,
                        [(at.saved, layer.saved_len(rows)), (at.buffers, 2 * f)],
                    );
                    let (running_mean, running_var) = buffers.split_at_mut(f);
                    bn.commit_running(rows, saved, running_mean, running_var)?;
                }
                _ => {}
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

    pub(super) fn check_rows(&self, rows: usize, data: &Icls<'_>) -> Result<(), Error> {
        if rows == 0 || rows > self.config.batch {
            return Err(Error::LengthMismatch {
                expected: self.config.batch,
                got: rows,
            });
        }
        self.check_data(data)
    }

    /// `data`'s samples fit the network: as many features as its inputs, no
    /// more classes than its outputs.
    pub(super) fn check_data(&self, data: &Icls<'_>) -> Result<(), Error> {
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

    pub(super) fn load_batch(&mut self, data: &Icls<'_>, indices: &[u32]) -> Result<(), Error> {
        let rows = indices.len();
        let plan = self.plan;
        let [input, labels] = carve(
            self.mem,
            [(plan.input, rows * self.net.inputs()), (plan.labels, rows)],
        );
        data.gather(indices, input, u32s_mut(labels))
    }

    /// Mean loss of the batch and its gradient into `grad_a`; the count correct.
    /// With `mix = Some((partner_labels, lambda))`, mixup's mixed loss.
    pub(super) fn loss_and_gradient(
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
        let labels = u32s(labels);
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
        let corrections = optim::StepCorrections::new(self.config.update.optimizer, self.step);
        let mut p = 0;
        let mut total = optim::UpdateNorms::default();
        for (l, layer) in self.net.layers().iter().enumerate() {
            let mut norms = optim::UpdateNorms::default();
            // (length, decayed) of each tensor of the layer, in storage order.
            let tensors = layer.param_tensors();
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
                let measure = decayed && self.measure_update;
                let n = update.apply_inner(measure, lr, corrections, params, grads, state)?;
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
        self.update_average();
        Ok(())
    }
}
