//! Budgeted search: successive halving (Jamieson and Talwalkar 2016) and
//! Hyperband (Li et al. 2018), with epochs as the budget and synchronous
//! rungs, over a caller-provided array of [`TrialRecord`]s.
//!
//! Synchronous rungs make the search deterministic: a rung's promotions
//! depend only on its scores, never on which worker finished first. Scores
//! are "higher is better" (pass `-loss` to minimize a loss); a NaN score
//! ranks last; ties go to the lower trial index.
//!
//! # Continued or retrained survivors, and schedules
//! A survivor of rung `k` can continue from its weights (keep its trainer
//! buffer) or be retrained from its seed to the next rung's budget: with
//! the same seed and a schedule that does not depend on the rung's budget,
//! the two are bit-identical (`tests/tune_halving.rs` checks it), so a search
//! on a microcontroller needs one trainer buffer, not one per survivor.
//! A schedule whose shape depends on the total (cosine over `total` steps)
//! must then be set for the *largest* budget: a trial stopped at a low rung
//! is scored partway down its cosine, as it would be in the final run. Setting
//! `total` to each rung's budget instead anneals every rung fully (a fairer
//! score at small budgets) but then a survivor cannot continue: it must be
//! retrained, and the rung's cost is its whole budget, not the increment
//! ([`SuccessiveHalving::total_epochs`] counts both ways).
//!
//! ```
//! use tinyreg::tune::{SuccessiveHalving, TrialRecord};
//! // 9 configurations, eta 3: rungs of 9, 3, 1 trials at 1, 3, 9 epochs.
//! let halving = SuccessiveHalving::new(9, 3, 1, 9)?;
//! let mut records = [TrialRecord::EMPTY; 9];
//! let best = halving.run(&mut records, |record, epochs| {
//!     // train configuration `record.trial` for `epochs` epochs; return its
//!     // validation accuracy (here: a made-up objective)
//!     Ok(1.0 - 1.0 / (epochs as f32 * (1 + record.trial % 4) as f32))
//! })?;
//! assert_eq!(records[best].rung, 2);
//! # Ok::<(), tinyreg::Error>(())
//! ```

use crate::error::{check_setting, Error};

/// One configuration's progress through a budgeted search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrialRecord {
    /// The trial index (the sampler's index of its configuration).
    pub trial: u64,
    /// The highest rung it reached.
    pub rung: u32,
    /// Its score at that rung (NaN until reported).
    pub score: f32,
    /// Whether the score at `rung` was reported.
    pub scored: bool,
    /// Epochs it was trained for at `rung`.
    pub epochs: u32,
}

impl TrialRecord {
    /// An unused record.
    pub const EMPTY: TrialRecord = TrialRecord {
        trial: 0,
        rung: 0,
        score: f32::NAN,
        scored: false,
        epochs: 0,
    };

    /// Whether `self` ranks above `other`: higher score, NaN last, then the
    /// lower trial index.
    pub fn beats(&self, other: &TrialRecord) -> bool {
        match (self.score.is_nan(), other.score.is_nan()) {
            (false, true) => true,
            (true, false) => false,
            (true, true) => self.trial < other.trial,
            (false, false) => {
                self.score > other.score || (self.score == other.score && self.trial < other.trial)
            }
        }
    }
}

/// `trials` configurations at `min_budget` epochs, the best `1/eta` promoted
/// to `eta` times the budget, up to `max_budget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuccessiveHalving {
    trials: u32,
    eta: u32,
    min_budget: u32,
    rungs: u32,
    first_trial: u64,
}

impl SuccessiveHalving {
    /// Checks `trials >= 1`, `eta >= 2`, `1 <= min_budget <= max_budget`. The
    /// rungs are `k = 0, 1, ...` while `min_budget eta^k <= max_budget` and
    /// at least one trial remains (`floor(trials / eta^k) >= 1`).
    pub fn new(trials: u32, eta: u32, min_budget: u32, max_budget: u32) -> Result<Self, Error> {
        check_setting(trials > 0, "trials", "must be at least 1")?;
        check_setting(eta >= 2, "eta", "must be at least 2")?;
        let budget = (1..=max_budget).contains(&min_budget);
        check_setting(
            budget,
            "min_budget",
            "must be at least 1 and at most max_budget",
        )?;
        let mut rungs = 1;
        let (mut budget, mut alive) = (min_budget as u64, trials as u64);
        while budget * eta as u64 <= max_budget as u64 && alive / eta as u64 >= 1 {
            budget *= eta as u64;
            alive /= eta as u64;
            rungs += 1;
        }
        Ok(SuccessiveHalving {
            trials,
            eta,
            min_budget,
            rungs,
            first_trial: 0,
        })
    }

    /// The same search over trials `first, first + 1, ...` (Hyperband's
    /// brackets each sample their own configurations).
    pub const fn with_first_trial(mut self, first: u64) -> Self {
        self.first_trial = first;
        self
    }

    /// Configurations at rung 0 (the records needed).
    pub const fn trials(&self) -> u32 {
        self.trials
    }

    /// Number of rungs.
    pub const fn rungs(&self) -> u32 {
        self.rungs
    }

    /// Epochs a trial of `rung` trains for: `min_budget eta^rung`.
    pub fn budget(&self, rung: u32) -> u32 {
        let mut b = self.min_budget as u64;
        for _ in 0..rung.min(self.rungs) {
            b = b.saturating_mul(self.eta as u64);
        }
        b.min(u32::MAX as u64) as u32
    }

    /// Trials that run at `rung`: `floor(trials / eta^rung)`.
    pub fn trials_at(&self, rung: u32) -> u32 {
        let mut n = self.trials;
        for _ in 0..rung.min(self.rungs) {
            n /= self.eta;
        }
        n
    }

    /// Epochs the whole search trains: survivors continued (each rung adds
    /// its increment) or retrained (each rung its whole budget).
    pub fn total_epochs(&self, continued: bool) -> u64 {
        (0..self.rungs)
            .map(|k| {
                let prior = if continued && k > 0 {
                    self.budget(k - 1)
                } else {
                    0
                };
                self.trials_at(k) as u64 * (self.budget(k) - prior) as u64
            })
            .sum()
    }

    /// Fills the first [`SuccessiveHalving::trials`] records for rung 0.
    /// [`Error::BufferTooSmall`] (nothing written) if `records` is shorter;
    /// [`Error::InvalidConfig`] if the trial indices `first_trial ..
    /// first_trial + trials` pass `u64::MAX`.
    pub fn start(&self, records: &mut [TrialRecord]) -> Result<(), Error> {
        let n = self.trials as usize;
        if records.len() < n {
            return Err(Error::BufferTooSmall {
                needed: n,
                got: records.len(),
            });
        }
        if self
            .first_trial
            .checked_add(u64::from(self.trials) - 1)
            .is_none()
        {
            return Err(Error::InvalidConfig {
                reason:
                    "successive halving's trial indices (first trial + trials - 1) pass u64::MAX",
            });
        }
        for (i, r) in records[..n].iter_mut().enumerate() {
            *r = TrialRecord {
                trial: self.first_trial + i as u64,
                epochs: self.budget(0),
                ..TrialRecord::EMPTY
            };
        }
        Ok(())
    }

    /// Positions in `records` that still need a score at `rung`.
    pub fn pending<'r>(
        &self,
        rung: u32,
        records: &'r [TrialRecord],
    ) -> impl Iterator<Item = usize> + 'r {
        let n = (self.trials as usize).min(records.len());
        records[..n]
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.rung == rung && !r.scored)
            .map(|(i, _)| i)
    }

    /// Records the score of `records[position]` at its rung.
    pub fn report(
        &self,
        records: &mut [TrialRecord],
        position: usize,
        score: f32,
    ) -> Result<(), Error> {
        let len = records.len().min(self.trials as usize);
        let r =
            records
                .get_mut(position)
                .filter(|_| position < len)
                .ok_or(Error::IndexOutOfRange {
                    index: position,
                    len,
                })?;
        r.score = score;
        r.scored = true;
        Ok(())
    }

    /// Promotes the best [`SuccessiveHalving::trials_at`]`(rung + 1)` of
    /// `rung` to the next rung (their score is reset and `epochs` set to the
    /// next budget); returns how many. Every record of `rung` must be scored
    /// first ([`Error::InvalidState`] otherwise, nothing written). Ranks by
    /// pairwise comparison: `O(trials^2)`, no scratch memory.
    pub fn promote(&self, rung: u32, records: &mut [TrialRecord]) -> Result<u32, Error> {
        let n = self.trials as usize;
        if records.len() < n {
            return Err(Error::BufferTooSmall {
                needed: n,
                got: records.len(),
            });
        }
        if rung >= self.rungs.saturating_sub(1) {
            return Err(Error::InvalidState {
                reason: "the last rung has nothing to promote to",
            });
        }
        let records = &mut records[..n];
        if self.pending(rung, records).next().is_some() {
            return Err(Error::InvalidState {
                reason: "every trial of a rung must be scored before promotion",
            });
        }
        if records.iter().any(|r| r.rung > rung) {
            return Err(Error::InvalidState {
                reason: "this rung was promoted already",
            });
        }
        let keep = self.trials_at(rung + 1) as usize;
        // Mark the winners by moving them up a rung with their score kept, so
        // later comparisons (over both rungs) still see every original score.
        let in_rung = |r: &TrialRecord| r.rung == rung || r.rung == rung + 1;
        for i in 0..n {
            if records[i].rung == rung {
                let better = records
                    .iter()
                    .filter(|o| in_rung(o) && o.beats(&records[i]))
                    .count();
                if better < keep {
                    records[i].rung = rung + 1;
                }
            }
        }
        let mut marks = 0;
        for r in records.iter_mut().filter(|r| r.rung == rung + 1) {
            r.score = f32::NAN;
            r.scored = false;
            r.epochs = self.budget(rung + 1);
            marks += 1;
        }
        Ok(marks)
    }

    /// Runs the whole search: `objective(record, epochs)` trains the
    /// record's configuration for `epochs` and returns its score. Returns the
    /// position of the best record of the last rung.
    pub fn run(
        &self,
        records: &mut [TrialRecord],
        mut objective: impl FnMut(&TrialRecord, u32) -> Result<f32, Error>,
    ) -> Result<usize, Error> {
        self.start(records)?;
        for rung in 0..self.rungs {
            let budget = self.budget(rung);
            for i in 0..self.trials as usize {
                if records[i].rung == rung && !records[i].scored {
                    let score = objective(&records[i], budget)?;
                    self.report(records, i, score)?;
                }
            }
            if rung + 1 < self.rungs {
                self.promote(rung, records)?;
            }
        }
        self.best(records).ok_or(Error::InvalidState {
            reason: "no trial reached the last rung",
        })
    }

    /// Position of the best scored record of the highest rung.
    pub fn best(&self, records: &[TrialRecord]) -> Option<usize> {
        let n = (self.trials as usize).min(records.len());
        let top = records[..n].iter().map(|r| r.rung).max()?;
        (0..n)
            .filter(|&i| records[i].rung == top && records[i].scored)
            .reduce(|a, b| if records[b].beats(&records[a]) { b } else { a })
    }
}

/// Hyperband: brackets `s = s_max, ..., 0` of successive halving, bracket `s`
/// with `n = ceil((s_max + 1) / (s + 1) eta^s)` configurations starting at
/// `R eta^-s` epochs, `s_max = floor(log_eta(R / min_budget))`. Each bracket
/// samples its own trials (consecutive indices after the previous bracket's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hyperband {
    max_budget: u32,
    min_budget: u32,
    eta: u32,
    s_max: u32,
}

impl Hyperband {
    /// Checks `eta >= 2` and `1 <= min_budget <= max_budget`.
    pub fn new(min_budget: u32, max_budget: u32, eta: u32) -> Result<Self, Error> {
        check_setting(eta >= 2, "eta", "must be at least 2")?;
        let budget = (1..=max_budget).contains(&min_budget);
        check_setting(
            budget,
            "min_budget",
            "must be at least 1 and at most max_budget",
        )?;
        let mut s_max = 0;
        let mut b = min_budget as u64 * eta as u64;
        while b <= max_budget as u64 {
            s_max += 1;
            b *= eta as u64;
        }
        Ok(Hyperband {
            max_budget,
            min_budget,
            eta,
            s_max,
        })
    }

    /// Number of brackets, `s_max + 1`.
    pub const fn brackets(&self) -> u32 {
        self.s_max + 1
    }

    /// Bracket `b` (0 is the most aggressive, `s = s_max - b`).
    pub fn bracket(&self, b: u32) -> Result<SuccessiveHalving, Error> {
        if b > self.s_max {
            return Err(Error::IndexOutOfRange {
                index: b as usize,
                len: self.brackets() as usize,
            });
        }
        let first: u64 = (0..b).map(|k| self.bracket_trials(k) as u64).sum();
        let s = self.s_max - b;
        let budget = self.max_budget / self.eta.saturating_pow(s);
        SuccessiveHalving::new(
            self.bracket_trials(b),
            self.eta,
            budget.max(self.min_budget),
            self.max_budget,
        )
        .map(|h| h.with_first_trial(first))
    }

    fn bracket_trials(&self, b: u32) -> u32 {
        let s = self.s_max - b;
        let num = (self.s_max as u64 + 1) * (self.eta as u64).saturating_pow(s);
        num.div_ceil(s as u64 + 1).min(u32::MAX as u64) as u32
    }

    /// Records all brackets need (the sum of their trials).
    pub fn trials(&self) -> u64 {
        (0..self.brackets())
            .map(|b| self.bracket_trials(b) as u64)
            .sum()
    }
}
