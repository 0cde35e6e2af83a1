//! Prediction: class probabilities from one model (deterministic or Monte
//! Carlo dropout) and from an ensemble of trainers.

use super::regions::carve;
use super::Trainer;
use crate::error::Error;
use crate::layers::loss::softmax_rows;
use crate::layers::mode::Mode;

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
