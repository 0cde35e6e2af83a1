//! The main job: choose an MLP's hyperparameters for the digits set the way
//! CS231n's recipe says, then compare the regularizers by hand.
//!
//! Step 1 checks the initial loss, step 2 overfits a small sample, step 3
//! finds a learning rate (range test), steps 4 and 5 search (random and grid
//! at the same budget, and successive halving); the winner, chosen on a
//! validation split carved from the training data, is retrained from its seed
//! and scored once on test, and step 6 reads its curves. Then the hand-tuned
//! regularizer table on the same split (validation and test columns). Trials
//! run on one thread per core and give the same results on any number.
//!
//! Run: `cargo run --release --example digits`

#[path = "common/search.rs"]
mod search;

use std::time::Instant;

use search::{
    best_index, mean_sd, run_search, threads, train_trial, Hyper, Outcome, Search, Trial, DIGITS,
};
use tinyreg::tune::{
    check_initial_loss, diagnose, lr_range_test, max_findings, overfit_small_sample, run_parallel,
    unregularized_config, unregularized_layers, validation_split, Finding, Param, RangePoint,
    RangeTestConfig, Sampler, Space, SuccessiveHalving, Thresholds, TrialRecord,
    INITIAL_LOSS_TOLERANCE,
};
use tinyreg::{
    ensemble_proba, BatchNorm, Dense, DepthScaling, Dropout, EarlyStoppingConfig, EpochMetrics,
    Error, Icls, Layer, LearningRate, Metric, Monitor, Network, Optimizer, Schedule, TrainConfig,
    Trainer, Update, WeightDecay,
};

const TRAIN: &[u8] = include_bytes!("../data/digits-train.bin");
const TEST: &[u8] = include_bytes!("../data/digits-test.bin");
/// The validation split carved from the 1437 training images.
const VAL_COUNT: usize = 287;
const SPLIT_SEED: u64 = 0;
/// The search's seed: every trial's point and training seed follow from it.
const SEARCH_SEED: u64 = 2026;
const EPOCHS: u32 = 60;
const TRIALS: usize = 16;
const BATCH: usize = DIGITS.batch;
const HIDDEN: usize = DIGITS.hidden;

fn main() -> Result<(), Error> {
    let started = Instant::now();
    let full = Icls::parse(TRAIN)?;
    let test = Icls::parse(TEST)?;
    let (mut images, mut labels) = (vec![0u8; full.images.len()], vec![0u8; full.count]);
    let (train, val) = validation_split(&full, VAL_COUNT, SPLIT_SEED, &mut images, &mut labels)?;
    println!(
        "digits: {} train / {} validation (seeded split of the 1437 training images) / {} test, \
         64-{HIDDEN}-10 MLP, Adam, batch {BATCH}, {} threads\n",
        train.count,
        val.count,
        test.count,
        threads()
    );

    let lr = recipe(&train)?;
    let winner = search(&train, &val, lr)?;
    let again = Trial {
        hyper: winner.hyper,
        seed: winner.seed,
        epochs: winner.epochs,
        cosine_epochs: winner.epochs,
    };
    let (outcome, test_metrics) = train_trial(&DIGITS, again, &train, &val, Some(&test))?;
    println!(
        "\nwinner ({}, seed {}, {} epochs) retrained from its seed: validation accuracy {:.4} \
         ({} the search's {:.4}); test accuracy, scored once: {:.4}",
        outcome.hyper,
        outcome.seed,
        outcome.epochs,
        outcome.val.accuracy,
        if outcome.val == winner.val {
            "bit-identical to"
        } else {
            "DIFFERS from"
        },
        winner.val.accuracy,
        test_metrics.map_or(f32::NAN, |m| m.accuracy)
    );
    read_curves(&outcome)?;
    hand_tuned_table(&train, &val, &test)?;
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Steps 1 to 3 on the MLP with dropout 0.8; returns the range test's valley.
fn recipe(train: &Icls) -> Result<f32, Error> {
    let layers = DIGITS.mlp(0.8)?;
    let net = Network::new(&layers);
    let base = search::config(
        &DIGITS,
        Hyper {
            lr: 1e-3,
            weight_decay: 1e-4,
            keep: 0.8,
        },
        0,
        36,
        EPOCHS,
    )?;
    let mut memory = vec![0f32; net.memory_len(BATCH, 2, false)];

    let mut trainer = Trainer::new(net, base, &mut memory)?;
    let r = check_initial_loss(&mut trainer, train, INITIAL_LOSS_TOLERANCE)?;
    println!(
        "step 1, initial loss: {:.3} against ln 10 = {:.3} (tolerance {:.0}%): {:?}",
        r.loss,
        r.expected,
        r.tolerance * 100.0,
        r.verdict
    );

    let mut plain = layers;
    unregularized_layers(&layers, &mut plain)?;
    let plain_net = Network::new(&plain);
    let mut trainer = Trainer::new(plain_net, unregularized_config(base), &mut memory)?;
    let mut order = vec![0u32; train.count];
    let r = overfit_small_sample(&mut trainer, train, 5 * BATCH, 2000, &mut order)?;
    println!(
        "step 2, overfit 5 batches (dropout off, no decay): {:?} (loss {:.3} -> {:.4}, accuracy {:.3})",
        r.verdict, r.first_loss, r.last_loss, r.accuracy
    );

    let mut trainer = Trainer::new(net, base, &mut memory)?;
    let mut snapshot = vec![0f32; trainer.snapshot_len()];
    let mut points = [RangePoint::default(); 100];
    let config = RangeTestConfig::FASTAI;
    let r = lr_range_test(
        &mut trainer,
        train,
        &config,
        &mut order,
        &mut points,
        &mut snapshot,
    )?;
    let s = r.suggestions;
    println!(
        "step 3, range test 1e-7 to 10 over 100 steps: {} points{}, minimum {:.3} at {:.2e}; \
         suggestions: valley {:.2e}, steep {:.2e}, minimum/10 {:.2e}",
        r.points,
        if r.stopped_early {
            " (stopped at 4x the minimum)"
        } else {
            ""
        },
        r.min_loss,
        r.min_lr,
        s.valley,
        s.steep,
        s.min_tenth
    );
    Ok(s.valley)
}

/// Random and grid search at the same budget, then successive halving;
/// returns the outcome with the best validation accuracy.
fn search(train: &Icls, val: &Icls, valley: f32) -> Result<Outcome, Error> {
    // Step 4: a decade either side of the range test's valley.
    let (lo, hi) = (valley as f64 / 10.0, (valley as f64 * 10.0).min(0.3));
    let mut params = search::SPACE;
    params[0] = Param::log_uniform("lr", lo, hi).grid_levels(4);
    let space = Space::new(params)?;
    println!(
        "\nstep 4, search: lr log-uniform [{lo:.1e}, {hi:.1e}], AdamW decay log-uniform [1e-5, 1e-1], \
         keep uniform [0.5, 1]; {TRIALS} trials of {EPOCHS} epochs each, selected on validation accuracy \
         (ties: validation loss)"
    );
    let split = (train, val);
    let plan = |sampler| Search {
        sampler,
        seed: SEARCH_SEED,
        trials: TRIALS,
        epochs: EPOCHS,
    };
    let random = run_search(&DIGITS, &space, plan(Sampler::Random), split, "random")?;
    let grid_sampler = Sampler::Grid { shuffled: false };
    let grid = run_search(&DIGITS, &space, plan(grid_sampler), split, "grid  ")?;
    for (name, trials) in [("random", &random), ("grid", &grid)] {
        let best = &trials[best_index(trials)];
        let distinct_lr = {
            let mut lrs: Vec<u32> = trials.iter().map(|o| o.hyper.lr.to_bits()).collect();
            lrs.sort();
            lrs.dedup();
            lrs.len()
        };
        println!(
            "{name}: best validation {:.4} (loss {:.4}; {}); {distinct_lr} distinct learning rates tried",
            best.val.accuracy, best.val.loss, best.hyper
        );
    }

    // Step 5: successive halving over a Latin hypercube, 27 configurations,
    // eta 3, 7 -> 21 -> 63 epochs; the cosine spans the largest budget, so a
    // survivor retrained from its seed equals one continued. Ranked by
    // validation loss: after 7 epochs many trials tie on accuracy.
    let halving = SuccessiveHalving::new(27, 3, 7, 63)?;
    let sampler = Sampler::LatinHypercube { trials: 27 };
    let mut records = [TrialRecord::EMPTY; 27];
    halving.start(&mut records)?;
    let mut outcomes: Vec<Option<Outcome>> = (0..27).map(|_| None).collect();
    println!(
        "\nstep 5, successive halving: 27 configurations (Latin hypercube), eta 3, rungs of {}/{}/{} epochs ({} epochs in all, retrained)",
        halving.budget(0),
        halving.budget(1),
        halving.budget(2),
        halving.total_epochs(false)
    );
    for rung in 0..halving.rungs() {
        let pending: Vec<usize> = halving.pending(rung, &records).collect();
        let budget = halving.budget(rung);
        let mut slots: Vec<Option<_>> = (0..pending.len()).map(|_| None).collect();
        run_parallel(
            &mut slots,
            threads(),
            |k| {
                let record = records[pending[k]];
                let point = space.point(sampler, SEARCH_SEED, record.trial)?;
                let trial = Trial {
                    hyper: Hyper::of(&point),
                    seed: SEARCH_SEED * 1000 + 100 + record.trial,
                    epochs: budget,
                    cosine_epochs: 63,
                };
                train_trial(&DIGITS, trial, train, val, None).map(|r| r.0)
            },
            |_, _| {},
        );
        let results: Vec<_> = slots.into_iter().flatten().collect();
        let mut best = 0.0f32;
        for (k, result) in results.into_iter().enumerate() {
            let outcome = result?;
            best = best.max(outcome.val.accuracy);
            halving.report(&mut records, pending[k], -outcome.val.loss)?;
            outcomes[pending[k]] = Some(outcome);
        }
        println!(
            "  rung {rung}: {} trials at {budget} epochs, best validation {best:.4}",
            pending.len()
        );
        if rung + 1 < halving.rungs() {
            halving.promote(rung, &mut records)?;
        }
    }
    let top = halving.best(&records).expect("the last rung is scored");
    let halving_best = outcomes[top].take().expect("trained");
    println!(
        "successive halving: best validation {:.4} (loss {:.4}; {})",
        halving_best.val.accuracy, halving_best.val.loss, halving_best.hyper
    );

    let mut all: Vec<Outcome> = random.into_iter().chain(grid).collect();
    all.push(halving_best);
    let best = best_index(&all);
    Ok(all.swap_remove(best))
}

/// Step 6: the winner's curves, every 10 epochs, and what they say.
fn read_curves(outcome: &Outcome) -> Result<(), Error> {
    println!("\nstep 6, the winner's curves:");
    println!("| epoch | train loss | train acc | val loss | val acc | lr | update/weight |");
    println!("|---|---|---|---|---|---|---|");
    for (e, m) in outcome.history.iter().enumerate() {
        if e % 10 == 9 || e == 0 {
            println!(
                "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2e} | {:.1e} |",
                e + 1,
                m.train.loss,
                m.train.accuracy,
                m.val.loss,
                m.val.accuracy,
                m.lr,
                m.update_ratio
            );
        }
    }
    let mut findings = vec![Finding::NoisyLoss { noise: 0.0 }; max_findings(outcome.ratios.len())];
    let n = diagnose(
        &outcome.history,
        &outcome.steps,
        &outcome.ratios,
        &Thresholds::DEFAULT,
        &mut findings,
    )?;
    if n == 0 {
        println!("diagnosis: nothing to report");
    }
    for f in &findings[..n] {
        println!("diagnosis: {f}");
    }
    Ok(())
}

struct Row {
    name: &'static str,
    layers: Vec<Layer>,
    decay: WeightDecay,
    early_stopping: bool,
}

fn mlp(middle: &[Layer]) -> Vec<Layer> {
    let mut layers = vec![Layer::Dense(Dense::new(64, HIDDEN).with_relu())];
    layers.extend_from_slice(middle);
    layers.push(Layer::Dense(Dense::new(HIDDEN, 10)));
    layers
}

fn row_config(
    seed: u64,
    decay: WeightDecay,
    early_stopping: bool,
    steps: u32,
) -> Result<TrainConfig, Error> {
    Ok(TrainConfig {
        batch: BATCH,
        update: Update::new(Optimizer::ADAM, decay)?,
        lr: LearningRate {
            base: 2e-3,
            schedule: Schedule::Cosine {
                total: EPOCHS * steps,
                min: 1e-4,
            },
            warmup: 0,
        },
        clip_norm: None,
        seed,
        plateau: None,
        early_stopping: early_stopping.then_some((
            Metric::ValLoss,
            EarlyStoppingConfig {
                mode: Monitor::Min,
                min_delta: 0.0,
                patience: 10,
                start_from_epoch: 5,
                restore_best_weights: true,
            },
        )),
        average: None,
    })
}

/// The regularizers by hand (Adam 2e-3, cosine, 60 epochs), seeds 0 to 4, on
/// the same split: train, validation and test accuracy.
fn hand_tuned_table(train: &Icls, val: &Icls, test: &Icls) -> Result<(), Error> {
    let inverted = Dropout::inverted(0.8)?;
    let residual = |survival| Layer::Residual {
        features: HIDDEN,
        hidden: HIDDEN,
        survival,
        scaling: DepthScaling::Inverted,
    };
    let none = WeightDecay::NONE;
    let row = |name, layers, decay, early_stopping| Row {
        name,
        layers,
        decay,
        early_stopping,
    };
    let rows = vec![
        row("none (64-128-10)", mlp(&[]), none, false),
        row(
            "vanilla dropout 0.8",
            mlp(&[Layer::Dropout {
                features: HIDDEN,
                dropout: Dropout::vanilla(0.8)?,
            }]),
            none,
            false,
        ),
        row(
            "inverted dropout 0.8",
            mlp(&[Layer::Dropout {
                features: HIDDEN,
                dropout: inverted,
            }]),
            none,
            false,
        ),
        row(
            "DropConnect 0.8 (out layer)",
            vec![
                Layer::Dense(Dense::new(64, HIDDEN).with_relu()),
                Layer::DenseDropConnect(Dense::new(HIDDEN, 10), inverted),
            ],
            none,
            false,
        ),
        row(
            "batch norm",
            vec![
                Layer::Dense(Dense::new(64, HIDDEN)),
                Layer::BatchNorm(BatchNorm::new(HIDDEN)),
                Layer::Relu { features: HIDDEN },
                Layer::Dense(Dense::new(HIDDEN, 10)),
            ],
            none,
            false,
        ),
        row(
            "residual block, no drop",
            mlp(&[residual(1.0)]),
            none,
            false,
        ),
        row("stochastic depth 0.5", mlp(&[residual(0.5)]), none, false),
        row(
            "L2 1e-2 decoupled (AdamW)",
            mlp(&[]),
            WeightDecay {
                l2: 1e-2,
                decoupled: true,
                l1: 0.0,
            },
            false,
        ),
        row(
            "L1 1e-4",
            mlp(&[]),
            WeightDecay {
                l2: 0.0,
                decoupled: false,
                l1: 1e-4,
            },
            false,
        ),
        row("early stopping (val loss)", mlp(&[]), none, true),
    ];
    let steps = train.count.div_ceil(BATCH) as u32;
    println!(
        "\nby hand: Adam lr 2e-3 cosine, {EPOCHS} epochs, seeds 0-4, mean ± sd (test scored once per run, not used to choose)"
    );
    println!("| regularizer | train acc | val acc | test acc | time/run |");
    println!("|---|---|---|---|---|");
    let jobs: Vec<(usize, u64)> = (0..rows.len())
        .flat_map(|r| (0..5u64).map(move |s| (r, s)))
        .collect();
    let mut slots: Vec<Option<_>> = (0..jobs.len()).map(|_| None).collect();
    run_parallel(
        &mut slots,
        threads(),
        |j| -> Result<[f32; 4], Error> {
            let (r, seed) = jobs[j];
            let row = &rows[r];
            let cfg = row_config(seed, row.decay, row.early_stopping, steps)?;
            let net = Network::new(&row.layers);
            let keep_best = row.early_stopping;
            let mut mem = vec![0f32; net.memory_len(BATCH, 2, keep_best)];
            let mut order = vec![0u32; train.count];
            let mut history = vec![EpochMetrics::default(); EPOCHS as usize];
            let start = Instant::now();
            let mut trainer = Trainer::new(net, cfg, &mut mem)?;
            trainer.fit(train, val, EPOCHS, &mut order, &mut history)?;
            let seconds = start.elapsed().as_secs_f64() as f32;
            Ok([
                trainer.evaluate(train)?.accuracy,
                trainer.evaluate(val)?.accuracy,
                trainer.evaluate(test)?.accuracy,
                seconds,
            ])
        },
        |_, _| {},
    );
    let results: Vec<_> = slots.into_iter().flatten().collect();
    for (r, row) in rows.iter().enumerate() {
        let runs: Vec<[f32; 4]> = results[r * 5..r * 5 + 5]
            .iter()
            .map(|x| x.as_ref().copied().map_err(|e| *e))
            .collect::<Result<_, _>>()?;
        let col = |k: usize| mean_sd(&runs.iter().map(|x| x[k]).collect::<Vec<_>>());
        let ((tr, trs), (va, vas), (te, tes), (secs, _)) = (col(0), col(1), col(2), col(3));
        println!(
            "| {} | {tr:.3} ± {trs:.3} | {va:.3} ± {vas:.3} | {te:.3} ± {tes:.3} | {secs:.2} s |",
            row.name
        );
    }
    ensemble_row(train, val, test, steps)
}

/// A 5-member ensemble of the plain MLP (members from seeds 10 to 14), once.
fn ensemble_row(train: &Icls, val: &Icls, test: &Icls, steps: u32) -> Result<(), Error> {
    let layers = mlp(&[]);
    let net = Network::new(&layers);
    let floats = net.memory_len(BATCH, 2, false);
    let mut arenas: Vec<Vec<f32>> = (0..5).map(|_| vec![0f32; floats]).collect();
    let start = Instant::now();
    let mut members = Vec::new();
    let mut order = vec![0u32; train.count];
    let mut history = vec![EpochMetrics::default(); EPOCHS as usize];
    for (k, arena) in arenas.iter_mut().enumerate() {
        let cfg = row_config(10 + k as u64, WeightDecay::NONE, false, steps)?;
        let mut t = Trainer::new(net, cfg, arena)?;
        t.fit(train, val, EPOCHS, &mut order, &mut history)?;
        members.push(t);
    }
    let seconds = start.elapsed().as_secs_f64();
    let accuracy = |data: &Icls, members: &mut Vec<Trainer>| -> Result<f32, Error> {
        let mut correct = 0;
        let mut x = vec![0f32; BATCH * 64];
        let mut labels = [0u32; BATCH];
        let (mut probs, mut tmp) = (vec![0f32; BATCH * 10], vec![0f32; BATCH * 10]);
        for start in (0..data.count).step_by(BATCH) {
            let rows = BATCH.min(data.count - start);
            let idx: Vec<u32> = (start as u32..(start + rows) as u32).collect();
            data.gather(&idx, &mut x[..rows * 64], &mut labels[..rows])?;
            ensemble_proba(
                members,
                &x[..rows * 64],
                rows,
                &mut probs[..rows * 10],
                &mut tmp[..rows * 10],
            )?;
            for r in 0..rows {
                let p = &probs[r * 10..(r + 1) * 10];
                let best = (0..10).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0);
                correct += (best == labels[r] as usize) as usize;
            }
        }
        Ok(correct as f32 / data.count as f32)
    };
    let (tr, va, te) = (
        accuracy(train, &mut members)?,
        accuracy(val, &mut members)?,
        accuracy(test, &mut members)?,
    );
    println!("| 5-member ensemble (one run) | {tr:.3} | {va:.3} | {te:.3} | {seconds:.2} s |");
    Ok(())
}
