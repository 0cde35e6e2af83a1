//! Fuzz `tune`: spaces of arbitrary parameters (any bounds, NaN and
//! infinities included, any levels and conditions), every sampler at any seed
//! and index, and successive halving over arbitrary scores. Nothing may panic
//! or hang; a space is accepted exactly when its parameters are valid; every
//! point of an accepted space is the same when computed twice, lies in its
//! bounds, and honours its conditions; a promotion keeps exactly the rung's
//! quota.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyreg::tune::{Distribution, Param, Sampler, Space, SuccessiveHalving, TrialRecord, Value};

const OPTIONS: [&str; 4] = ["a", "b", "c", "d"];

fn f64_at(b: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn param(b: &[u8]) -> Param {
    let kind = b[0] % 5;
    let (x, y) = (f64_at(b, 1), f64_at(b, 9));
    let (lo, hi) = (
        i64::from_le_bytes(b[1..9].try_into().unwrap()) >> (b[17] % 64),
        i64::from_le_bytes(b[9..17].try_into().unwrap()) >> (b[18] % 64),
    );
    let p = match kind {
        0 => Param::uniform("u", x, y),
        1 => Param::log_uniform("l", x, y),
        2 => Param::int("i", lo, hi),
        3 => Param::int_log("j", lo, hi),
        _ => Param::choice("c", &OPTIONS[..(b[1] % 5) as usize]),
    };
    let p = p.grid_levels((b[19] % 6) as u32);
    if b[20] & 1 == 1 {
        p.active_when((b[20] >> 1 & 3) as usize, (b[21] % 5) as u32)
    } else {
        p
    }
}

fn in_bounds(p: &Param, v: Value) -> bool {
    match (p.distribution, v) {
        (_, Value::Inactive) => true,
        (Distribution::Uniform { low, high }, Value::Real(x))
        | (Distribution::LogUniform { low, high }, Value::Real(x)) => x >= low && x <= high,
        (Distribution::Int { low, high, .. }, Value::Int(x)) => x >= low && x <= high,
        (Distribution::Choice { options }, Value::Choice(c)) => (c as usize) < options.len(),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 * 22 + 24 {
        return;
    }
    let params = [
        param(&data[0..22]),
        param(&data[22..44]),
        param(&data[44..66]),
    ];
    let tail = &data[66..];
    let seed = u64::from_le_bytes(tail[0..8].try_into().unwrap());
    let index = u64::from_le_bytes(tail[8..16].try_into().unwrap());
    let Ok(space) = Space::new(params) else {
        return;
    };
    let sampler = match tail[16] % 5 {
        0 => Sampler::Random,
        1 => Sampler::Grid { shuffled: false },
        2 => Sampler::Grid { shuffled: true },
        3 => Sampler::Sobol,
        _ => Sampler::LatinHypercube {
            trials: u64::from(tail[17]),
        },
    };
    // A small index most of the time, any index sometimes.
    let index = if tail[18] & 1 == 0 { index % 64 } else { index };
    if let Ok(point) = space.point(sampler, seed, index) {
        assert_eq!(Ok(point), space.point(sampler, seed, index));
        for (i, p) in params.iter().enumerate() {
            assert!(in_bounds(p, point.values[i]), "{p:?} {:?}", point.values[i]);
            if let Some(c) = p.active_when {
                let active = point.values[c.param] == Value::Choice(c.option);
                assert_eq!(active, point.values[i] != Value::Inactive);
            }
        }
    }

    // Successive halving over scores from the data (NaN included).
    let trials = u32::from(tail[19] % 40) + 1;
    let eta = u32::from(tail[20] % 4) + 2;
    let Ok(halving) = SuccessiveHalving::new(trials, eta, 1, 1 + u32::from(tail[21] % 30)) else {
        return;
    };
    let mut records = [TrialRecord::EMPTY; 40];
    let best = halving.run(&mut records, |r, epochs| {
        let k = (r.trial as usize + epochs as usize) % (data.len() - 3);
        Ok(f32::from_le_bytes(data[k..k + 4].try_into().unwrap()))
    });
    assert!(best.is_ok());
    for rung in 1..halving.rungs() {
        let reached = records[..trials as usize]
            .iter()
            .filter(|r| r.rung >= rung)
            .count();
        assert_eq!(reached, halving.trials_at(rung) as usize);
    }
});
