//! Successive halving and Hyperband: rung sizes, promotions on a synthetic
//! objective, determinism, bad input, and the equality that lets a search
//! retrain survivors instead of keeping them: training e1 epochs, then
//! e2 - e1 more, equals training e2 epochs from the seed, bit for bit.

use tinyreg::trainer::optim::Schedule;
use tinyreg::tune::{Hyperband, SuccessiveHalving, TrialRecord};
use tinyreg::{
    Dense, Dropout, EpochMetrics, Error, Icls, Layer, LearningRate, Network, Optimizer,
    TrainConfig, Trainer, Update, WeightDecay,
};

/// A made-up objective: trial t has quality q(t), and more epochs help.
fn objective(trial: u64, epochs: u32) -> f32 {
    let quality = ((trial * 7919) % 97) as f32 / 97.0;
    quality * (1.0 - 0.5 / epochs as f32)
}

#[test]
fn rungs_follow_the_paper() {
    // 81 configurations, eta 3, 1 to 81 epochs: 81/27/9/3/1 at 1/3/9/27/81.
    let h = SuccessiveHalving::new(81, 3, 1, 81).unwrap();
    assert_eq!(h.rungs(), 5);
    let shape: Vec<(u32, u32)> = (0..5).map(|k| (h.trials_at(k), h.budget(k))).collect();
    assert_eq!(shape, [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]);
    assert_eq!(h.total_epochs(false), 405); // SPEC: 405 instead of 81 x 81 = 6561
    assert_eq!(h.total_epochs(true), 81 + 27 * 2 + 9 * 6 + 3 * 18 + 54);
    // Too few trials stop the rungs early.
    assert_eq!(SuccessiveHalving::new(5, 3, 1, 81).unwrap().rungs(), 2);
}

#[test]
fn promotes_the_best_of_each_rung() {
    let h = SuccessiveHalving::new(27, 3, 1, 27).unwrap();
    let mut records = [TrialRecord::EMPTY; 27];
    let mut calls = Vec::new();
    let best = h
        .run(&mut records, |r, epochs| {
            calls.push((r.trial, epochs));
            Ok(objective(r.trial, epochs))
        })
        .unwrap();
    assert_eq!(calls.len(), 27 + 9 + 3 + 1);
    // The winner is the trial of the highest quality, and each rung promoted
    // exactly the top of the one before.
    let top = (0..27u64)
        .max_by(|&a, &b| objective(a, 1).total_cmp(&objective(b, 1)))
        .unwrap();
    assert_eq!(records[best].trial, top);
    assert_eq!(records[best].rung, 3);
    let mut by_quality: Vec<u64> = (0..27).collect();
    by_quality.sort_by(|&a, &b| objective(b, 1).total_cmp(&objective(a, 1)));
    for (rung, keep) in [(1u32, 9usize), (2, 3), (3, 1)] {
        let mut at: Vec<u64> = records
            .iter()
            .filter(|r| r.rung >= rung)
            .map(|r| r.trial)
            .collect();
        at.sort();
        let mut want = by_quality[..keep].to_vec();
        want.sort();
        assert_eq!(at, want, "rung {rung}");
    }
}

#[test]
fn nan_scores_rank_last_and_ties_go_to_the_lower_trial() {
    let h = SuccessiveHalving::new(4, 2, 1, 2).unwrap();
    let mut records = [TrialRecord::EMPTY; 4];
    h.start(&mut records).unwrap();
    for (i, s) in [f32::NAN, 0.5, 0.5, 0.1].into_iter().enumerate() {
        h.report(&mut records, i, s).unwrap();
    }
    assert_eq!(h.promote(0, &mut records).unwrap(), 2);
    let promoted: Vec<u64> = records
        .iter()
        .filter(|r| r.rung == 1)
        .map(|r| r.trial)
        .collect();
    assert_eq!(promoted, [1, 2]);
    // Promoting again, or before every score is in, is refused and writes nothing.
    let before = records;
    assert!(h.promote(0, &mut records).is_err());
    assert_eq!(format!("{before:?}"), format!("{records:?}"));
    let mut fresh = [TrialRecord::EMPTY; 4];
    h.start(&mut fresh).unwrap();
    h.report(&mut fresh, 0, 1.0).unwrap();
    let snapshot = fresh;
    assert!(matches!(
        h.promote(0, &mut fresh),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(format!("{snapshot:?}"), format!("{fresh:?}"));
}

#[test]
fn hyperband_brackets_follow_li_et_al() {
    // R = 81, eta = 3: s_max = 4, brackets of 81, 34, 15, 8, 5 configurations
    // starting at 1, 3, 9, 27, 81 epochs (Li et al. 2018, table 1).
    let hb = Hyperband::new(1, 81, 3).unwrap();
    assert_eq!(hb.brackets(), 5);
    let shape: Vec<(u32, u32, u32)> = (0..5)
        .map(|b| {
            let h = hb.bracket(b).unwrap();
            (h.trials(), h.budget(0), h.rungs())
        })
        .collect();
    assert_eq!(
        shape,
        [(81, 1, 5), (34, 3, 4), (15, 9, 3), (8, 27, 2), (5, 81, 1)]
    );
    assert_eq!(hb.trials(), 81 + 34 + 15 + 8 + 5);
    // Brackets sample disjoint trials.
    let mut records = [TrialRecord::EMPTY; 34];
    hb.bracket(1).unwrap().start(&mut records).unwrap();
    assert_eq!(records[0].trial, 81);
    assert!(hb.bracket(5).is_err());
}

#[test]
fn bad_budgets_are_refused() {
    for (n, eta, lo, hi, setting) in [
        (0, 3, 1, 9, "trials"),
        (9, 1, 1, 9, "eta"),
        (9, 3, 0, 9, "min_budget"),
        (9, 3, 10, 9, "min_budget"),
    ] {
        let e = SuccessiveHalving::new(n, eta, lo, hi);
        assert!(
            matches!(e, Err(Error::InvalidSetting { setting: s, .. }) if s == setting),
            "{e:?}"
        );
    }
    assert!(Hyperband::new(0, 9, 3).is_err());
    assert!(Hyperband::new(1, 9, 1).is_err());
    let h = SuccessiveHalving::new(9, 3, 1, 9).unwrap();
    let mut short = [TrialRecord::EMPTY; 8];
    assert_eq!(
        h.start(&mut short),
        Err(Error::BufferTooSmall { needed: 9, got: 8 })
    );
    assert!(short.iter().all(|r| r.score.is_nan() && r.trial == 0));
    let mut records = [TrialRecord::EMPTY; 9];
    assert!(h.report(&mut records, 9, 1.0).is_err());
}

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");

fn layers() -> [Layer; 3] {
    [
        Layer::Dense(Dense::new(64, 32).with_relu()),
        Layer::Dropout {
            features: 32,
            dropout: Dropout::inverted(0.8).unwrap(),
        },
        Layer::Dense(Dense::new(32, 10)),
    ]
}

/// Survivors retrained from their seed equal survivors continued, bit for
/// bit, with a cosine schedule over the largest budget.
#[test]
fn retraining_a_survivor_equals_continuing_it() {
    let data = Icls::parse(TRAIN).unwrap();
    let (train, val) = (data.slice(0, 600).unwrap(), data.slice(600, 800).unwrap());
    let steps_per_epoch = 600u32.div_ceil(32);
    let config = TrainConfig {
        batch: 32,
        update: Update::new(Optimizer::ADAM, WeightDecay::NONE).unwrap(),
        lr: LearningRate {
            base: 3e-3,
            schedule: Schedule::Cosine {
                total: 9 * steps_per_epoch, // the largest rung's budget
                min: 1e-4,
            },
            warmup: 0,
        },
        clip_norm: None,
        seed: 42,
        plateau: None,
        early_stopping: None,
        average: None,
    };
    let layers = layers();
    let net = Network::new(&layers);
    let floats = net.memory_len(32, 2, false);
    let mut order = vec![0u32; train.count];
    let mut history = [EpochMetrics::default(); 9];

    // Continued: 1 epoch (rung 0), then 2 more (rung 1 at 3 epochs).
    let mut mem = vec![0f32; floats];
    let mut kept = Trainer::new(net, config, &mut mem).unwrap();
    kept.fit(&train, &val, 1, &mut order, &mut history).unwrap();
    kept.fit(&train, &val, 2, &mut order, &mut history[1..])
        .unwrap();
    let continued_val = history[2].val; // the third epoch
    let continued = kept.params().to_vec();

    // Retrained: 3 epochs from the seed.
    let mut mem2 = vec![0f32; floats];
    let mut fresh = Trainer::new(net, config, &mut mem2).unwrap();
    fresh
        .fit(&train, &val, 3, &mut order, &mut history)
        .unwrap();
    assert!(continued
        .iter()
        .zip(fresh.params())
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(history[2].val, continued_val);
}
