//! The lecture's claim measured: random search against grid search at the same
//! budget (Bergstra and Bengio 2012). For each search seed, a 16-point random
//! search and the 4 x 2 x 2 grid over learning rate, AdamW decay and dropout
//! keep, each trial trained from its own seed and scored on a validation
//! split carved from the training data; each search's winner (best
//! validation accuracy, ties to the lower validation loss) is retrained from
//! its seed and scored once on test. Mean ± sd over the search seeds.
//!
//! Run: `cargo run --release --example random_vs_grid -- [digits|fashion] [search seeds] [epochs]`
//! (digits: 10 seeds of 60 epochs by default; fashion: 3 seeds of 5 epochs,
//! after `scripts/fetch-fashion-mnist.sh`).

#[path = "common/fashion_data.rs"]
mod fashion_data;
#[path = "common/search.rs"]
mod search;

use std::process::ExitCode;
use std::time::Instant;

use search::{
    best_index, mean_sd, run_search, train_trial, Outcome, Search, Task, Trial, DIGITS, FASHION,
    SPACE,
};
use tinyreg::tune::{validation_split, Sampler, Space};
use tinyreg::{Error, Icls};

const USAGE: &str = "usage: random_vs_grid [digits|fashion] [search seeds >= 2] [epochs >= 1]";
const TRIALS: usize = 16;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dataset = args.first().map_or("digits", |s| s.as_str());
    let (default_seeds, default_epochs) = match dataset {
        "digits" => (10, 60),
        "fashion" => (3, 5),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let number = |i: usize, default: u64, min: u64| match args.get(i) {
        None => Some(default),
        Some(s) => s.parse::<u64>().ok().filter(|&n| n >= min),
    };
    let (Some(seeds), Some(epochs)) = (number(1, default_seeds, 2), number(2, default_epochs, 1))
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(dataset, seeds, epochs as u32) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dataset: &str, seeds: u64, epochs: u32) -> Result<(), Error> {
    let started = Instant::now();
    let (train_bytes, test_bytes, task, val_count): (Vec<u8>, Vec<u8>, Task, usize) = if dataset
        == "fashion"
    {
        let Ok((train, test)) = fashion_data::load("data/fashion-mnist", 20_000) else {
            return Err(Error::InvalidData {
                    reason: "Fashion-MNIST not found in data/fashion-mnist: run scripts/fetch-fashion-mnist.sh",
                });
        };
        (train, test, FASHION, 5_000)
    } else {
        (
            include_bytes!("../data/digits-train.bin").to_vec(),
            include_bytes!("../data/digits-test.bin").to_vec(),
            DIGITS,
            287,
        )
    };
    let (full, test) = (Icls::parse(&train_bytes)?, Icls::parse(&test_bytes)?);
    let (mut images, mut labels) = (vec![0u8; full.images.len()], vec![0u8; full.count]);
    let (train, val) = validation_split(&full, val_count, 0, &mut images, &mut labels)?;
    let space = Space::new(SPACE)?;
    println!(
        "{dataset}: {} train / {} validation / {} test; {}-{}-10 MLP; {TRIALS} trials of {epochs} epochs per search; \
         search seeds 0 to {}",
        train.count,
        val.count,
        test.count,
        task.inputs,
        task.hidden,
        seeds - 1
    );
    println!("| search seed | random: best val | its test | grid: best val | its test |");
    println!("|---|---|---|---|---|");
    let mut columns: [Vec<f32>; 4] = Default::default();
    for seed in 0..seeds {
        let mut row = [0f32; 4];
        for (k, sampler) in [Sampler::Random, Sampler::Grid { shuffled: false }]
            .into_iter()
            .enumerate()
        {
            let search = Search {
                sampler,
                seed,
                trials: TRIALS,
                epochs,
            };
            let trials = run_search(&task, &space, search, (&train, &val), "")?;
            eprintln!(
                "search seed {seed}: {sampler:?} done ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            let winner = &trials[best_index(&trials)];
            let test_acc = score_once(&task, winner, &train, &val, &test)?;
            row[2 * k] = winner.val.accuracy;
            row[2 * k + 1] = test_acc;
        }
        println!(
            "| {seed} | {:.4} | {:.4} | {:.4} | {:.4} |",
            row[0], row[1], row[2], row[3]
        );
        for (c, v) in columns.iter_mut().zip(row) {
            c.push(v);
        }
    }
    let stats: Vec<(f32, f32)> = columns.iter().map(|c| mean_sd(c)).collect();
    println!(
        "| mean ± sd | {:.4} ± {:.4} | {:.4} ± {:.4} | {:.4} ± {:.4} | {:.4} ± {:.4} |",
        stats[0].0,
        stats[0].1,
        stats[1].0,
        stats[1].1,
        stats[2].0,
        stats[2].1,
        stats[3].0,
        stats[3].1
    );
    println!("({:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// The winner retrained from its seed (bit-identical to its trial) and scored
/// on test: the only time a search looks at the test set.
fn score_once(
    task: &Task,
    winner: &Outcome,
    train: &Icls,
    val: &Icls,
    test: &Icls,
) -> Result<f32, Error> {
    let trial = Trial {
        hyper: winner.hyper,
        seed: winner.seed,
        epochs: winner.epochs,
        cosine_epochs: winner.epochs,
    };
    let (again, test_metrics) = train_trial(task, trial, train, val, Some(test))?;
    assert_eq!(again.val, winner.val, "a retrained trial must reproduce");
    Ok(test_metrics.map_or(f32::NAN, |m| m.accuracy))
}
