//! Prediction: class probabilities from one model (deterministic or Monte
//! Carlo dropout) and from an ensemble of trainers.

use super::regions::carve;
use super::Trainer;
use crate::error::{check_setting, Error};
use crate::layers::augment::ImageShape;
use crate::layers::loss::softmax_rows;
use crate::layers::mode::Mode;
use crate::layers::test_time::View;

impl<'n, 'm> Trainer<'n, 'm> {
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
}

/// The views [`Trainer::predict_views`] averages over, of `shape` images
/// padded by `pad`.
#[derive(Clone, Copy, Debug)]
pub struct Views<'a> {
    /// The shape of one input (the network's inputs).
    pub shape: ImageShape,
    /// The padding the crops see (training's crop padding).
    pub pad: u16,
    /// The views: [`crate::layers::test_time::ten_crop`],
    /// [`crate::layers::test_time::all_views`] (the exact expectation over
    /// crop-and-flip training) or drawn ones.
    pub list: &'a [View],
}

impl<'n, 'm> Trainer<'n, 'm> {
    /// Test-time augmentation: class probabilities of `rows` samples
    /// averaged over `views` (eval mode; each view a deterministic pass), in
    /// the views' order, into `probs`. `scratch` holds the viewed batch
    /// (`input.len()` floats) and `tmp` one view's probabilities
    /// (`probs.len()`). Everything is checked before anything is written.
    pub fn predict_views(
        &mut self,
        input: &[f32],
        rows: usize,
        views: Views<'_>,
        scratch: &mut [f32],
        tmp: &mut [f32],
        probs: &mut [f32],
    ) -> Result<(), Error> {
        self.check_input(input.len(), rows, probs.len())?;
        let per_image = views.shape.len();
        if per_image != self.net.inputs() {
            return Err(Error::LengthMismatch {
                expected: self.net.inputs(),
                got: per_image,
            });
        }
        for (expected, got) in [(input.len(), scratch.len()), (probs.len(), tmp.len())] {
            if expected != got {
                return Err(Error::LengthMismatch { expected, got });
            }
        }
        let far = 2 * views.pad as usize;
        if views.list.is_empty()
            || views
                .list
                .iter()
                .any(|v| v.dy as usize > far || v.dx as usize > far)
        {
            return Err(Error::InvalidConfig {
                reason: "test-time augmentation needs at least one view, each offset in [0, 2 pad]",
            });
        }
        probs.fill(0.0);
        let n = views.list.len() as f32;
        for view in views.list {
            for (x, out) in input
                .chunks_exact(per_image)
                .zip(scratch.chunks_exact_mut(per_image))
            {
                view.apply(views.shape, views.pad, x, out)?;
            }
            self.predict_proba(scratch, rows, 0, tmp)?;
            for (p, &t) in probs.iter_mut().zip(tmp.iter()) {
                *p += t / n;
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
    check_setting(
        !members.is_empty(),
        "members",
        "an ensemble needs at least one",
    )?;
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
        add_member(probs, tmp, k);
    }
    Ok(())
}

/// Adds one of `k` members' probabilities `member` to the running mean `probs`.
pub(super) fn add_member(probs: &mut [f32], member: &[f32], k: f32) {
    for (p, &t) in probs.iter_mut().zip(member) {
        *p += t / k;
    }
}
