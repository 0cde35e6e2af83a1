//! Trials and searches: a trial's values from the sampler (or from JSON),
//! training it with a record per epoch, and running many on worker threads
//! with the same results on any number of them.

use serde::Serialize;
use serde_json::{Map, Value as Json};
use tinyreg::tune::{Distribution, Param, Point, Sampler, Value};

use crate::config::{short, space, Run, Target, Values, MAX_PARAMS, OPTIMIZERS};

/// One trial's identity: its index in the search and its training seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrialId {
    pub index: u64,
    pub seed: u64,
}

impl TrialId {
    /// Trial `index` of a search seeded `search_seed` trains from
    /// `search_seed * 1000 + index` (the digits example's rule).
    pub fn of(search_seed: u64, index: u64) -> TrialId {
        TrialId {
            index,
            seed: search_seed.wrapping_mul(1000).wrapping_add(index),
        }
    }
}

/// The values of point `index` of the config's search.
pub fn values_at(run: &Run, index: u64) -> Result<(Values, Map<String, Json>), String> {
    let search = run.search().ok_or("the config has no [search]")?;
    let space = space(&run.params).map_err(|e| e.to_string())?;
    let point: Point<MAX_PARAMS> = space
        .point(run.sampler(), search.seed, index)
        .map_err(|e| format!("point {index}: {e}"))?;
    Ok(values_of(run, &point.values))
}

fn values_of(run: &Run, values: &[Value]) -> (Values, Map<String, Json>) {
    let mut out = Values::default();
    let mut json = Map::new();
    for ((param, &target), &value) in run.params.iter().zip(&run.targets).zip(values) {
        match (param.distribution, value) {
            (Distribution::Choice { options }, Value::Choice(k)) => {
                let name = options[k as usize];
                let global = OPTIMIZERS.iter().position(|o| *o == name).unwrap_or(0);
                out.0.push((target, global as f64));
                json.insert(param.name.into(), Json::from(name));
            }
            (_, Value::Int(v)) => {
                out.0.push((target, v as f64));
                json.insert(param.name.into(), Json::from(v));
            }
            (_, v) => {
                if let Some(x) = v.as_f64() {
                    out.0.push((target, x));
                    json.insert(param.name.into(), Json::from(x));
                }
            }
        }
    }
    (out, json)
}

/// The values of a `--params` JSON object: every search parameter by name,
/// each inside its range. Errors name the parameter.
pub fn values_from_json(run: &Run, text: &str) -> Result<(Values, Map<String, Json>), String> {
    let value: Json = serde_json::from_str(text).map_err(|e| {
        format!("--params is not valid JSON: {e} (numbers must fit a double: 1e999 does not)")
    })?;
    let Json::Object(object) = value else {
        return Err(format!(
            "--params must be a JSON object such as {{\"lr\": 0.01}}, got {value}"
        ));
    };
    for key in object.keys() {
        if !run.params.iter().any(|p| p.name == key) {
            let names: Vec<&str> = run.params.iter().map(|p| p.name).collect();
            return Err(format!(
                "--params: unknown parameter {key:?} (the search space has {names:?})"
            ));
        }
    }
    let mut values = Vec::new();
    for param in &run.params {
        let v = object
            .get(param.name)
            .ok_or_else(|| format!("--params: missing {:?}", param.name))?;
        let bad = |what: &str| format!("--params: {:?} {what}, got {v}", param.name);
        let value = match param.distribution {
            Distribution::Choice { options } => {
                let s = v.as_str().ok_or_else(|| bad("must be a string"))?;
                let k = options
                    .iter()
                    .position(|o| *o == s)
                    .ok_or_else(|| bad(&format!("must be one of {options:?}")))?;
                Value::Choice(k as u32)
            }
            Distribution::Int { low, high, .. } => {
                let x = v.as_i64().ok_or_else(|| bad("must be an integer"))?;
                if !(low..=high).contains(&x) {
                    return Err(bad(&format!("must be in [{low}, {high}]")));
                }
                Value::Int(x)
            }
            Distribution::Uniform { low, high } | Distribution::LogUniform { low, high } => {
                let x = v.as_f64().ok_or_else(|| bad("must be a number"))?;
                if !(low..=high).contains(&x) {
                    return Err(bad(&format!(
                        "must be in [{}, {}]",
                        short(low),
                        short(high)
                    )));
                }
                Value::Real(x)
            }
        };
        values.push(value);
    }
    Ok(values_of(run, &values))
}

/// A float that JSON wrote as `null` (serde_json's NaN) read back as NaN,
/// so records of a diverged trial load again.
fn nan_or<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    use serde::Deserialize;
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NAN))
}

/// The values that shape the network (`layers.N.units`) from a JSON object
/// of a trial's parameters (other keys are allowed and left out: prediction
/// does not use them); `None` when the search shapes nothing.
pub fn shape_values(
    run: &Run,
    params: Option<&Map<String, Json>>,
) -> Result<Option<Values>, String> {
    let shaping: Vec<(&Param, Target)> = run
        .params
        .iter()
        .zip(&run.targets)
        .filter(|(_, t)| matches!(t, Target::Units(_)))
        .map(|(p, &t)| (p, t))
        .collect();
    if shaping.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = shaping.iter().map(|(p, _)| p.name).collect();
    let Some(params) = params else {
        return Err(format!(
            "the network's shape depends on the searched {names:?}: give --params with their values, e.g. '{{\"{}\": 64}}' (a search folder's run.json holds the winner's, used when the weights are there; trials.jsonl each trial's)",
            names[0]
        ));
    };
    let mut out = Values::default();
    for (p, target) in shaping {
        let v = params.get(p.name).and_then(Json::as_i64).ok_or_else(|| {
            format!(
                "--params: {:?} must be given as an integer (it shapes the network)",
                p.name
            )
        })?;
        if let Distribution::Int { low, high, .. } = p.distribution {
            if !(low..=high).contains(&v) {
                return Err(format!(
                    "--params: {:?} must be in [{low}, {high}], got {v}",
                    p.name
                ));
            }
        }
        out.0.push((target, v as f64));
    }
    Ok(Some(out))
}

/// One epoch of one trial, as `trial` prints it and the records keep it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct EpochRecord {
    pub trial: u64,
    pub epoch: u32,
    #[serde(deserialize_with = "nan_or")]
    pub train_loss: f32,
    #[serde(deserialize_with = "nan_or")]
    pub train_accuracy: f32,
    #[serde(deserialize_with = "nan_or")]
    pub val_loss: f32,
    #[serde(deserialize_with = "nan_or")]
    pub val_accuracy: f32,
    #[serde(deserialize_with = "nan_or")]
    pub lr: f32,
    #[serde(deserialize_with = "nan_or")]
    pub update_ratio: f32,
}

/// A finished trial of a search, as trials.jsonl keeps it.
#[derive(Serialize, serde::Deserialize, Clone, Debug)]
pub struct TrialSummary {
    pub trial: u64,
    pub seed: u64,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub epochs: u32,
    #[serde(deserialize_with = "nan_or")]
    pub val_loss: f32,
    #[serde(deserialize_with = "nan_or")]
    pub val_accuracy: f32,
    pub seconds: f64,
    /// Successive halving: the rung it reached.
    pub rung: Option<u32>,
}

/// The search journal's name in an output folder.
pub const JOURNAL: &str = "journal.jsonl";

/// One line of the journal after its head: a finished trial's summary and
/// its epochs.
#[derive(Serialize, serde::Deserialize, Clone)]
pub struct JournalEntry {
    pub summary: TrialSummary,
    pub records: Vec<EpochRecord>,
}

/// Whether `a` ranks above `b`: higher validation accuracy, ties broken by
/// the lower validation loss, then the lower trial index; NaN last.
pub fn better(a: &TrialSummary, b: &TrialSummary) -> bool {
    let key = |t: &TrialSummary| {
        (
            if t.val_accuracy.is_nan() {
                f32::NEG_INFINITY
            } else {
                t.val_accuracy
            },
            if t.val_loss.is_nan() {
                f32::NEG_INFINITY
            } else {
                -t.val_loss
            },
        )
    };
    let (ka, kb) = (key(a), key(b));
    ka.0 > kb.0 || (ka.0 == kb.0 && (ka.1 > kb.1 || (ka.1 == kb.1 && a.trial < b.trial)))
}

/// Most trials of one search (each keeps a record in memory).
pub const MAX_TRIALS: u64 = 1_000_000;

/// Points of the search, in order: grid without `trials` takes every point.
pub fn trial_count(run: &Run) -> Result<u64, String> {
    let search = run.search().ok_or("the config has no [search]")?;
    let space = space(&run.params).map_err(|e| e.to_string())?;
    let available = run.sampler().len(&space).map_err(|e| e.to_string())?;
    let n = match (search.trials, run.sampler()) {
        (Some(t), Sampler::Grid { .. }) => (t as u64).min(available),
        (Some(t), _) => t as u64,
        (None, _) => available,
    };
    if n == 0 || n > MAX_TRIALS {
        return Err(format!(
            "search: {n} trials; give search.trials from 1 to {MAX_TRIALS}"
        ));
    }
    Ok(n)
}

/// The `[low, high]` a real parameter of the search spans, if searched.
pub fn bounds(run: &Run, name: &str) -> Option<[f64; 2]> {
    run.params
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| match p.distribution {
            Distribution::Uniform { low, high } | Distribution::LogUniform { low, high } => {
                Some([low, high])
            }
            _ => None,
        })
}

/// Whether `target` is searched in log space (for the pictures' axes).
pub fn is_log(run: &Run, name: &str) -> bool {
    run.params.iter().any(|p| p.name == name && p.is_log())
}

/// The targets' names, in the order of the space.
pub fn names(run: &Run) -> Vec<&'static str> {
    run.params.iter().map(|p| p.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinyreg::tune::Space;

    /// Padding leaves the points of the real parameters as a space of
    /// exactly them gives them, for every sampler.
    #[test]
    fn padded_space_gives_the_points_of_the_real_parameters() {
        let params = [
            Param::log_uniform("lr", 1e-4, 1e-1).grid_levels(4),
            Param::log_uniform("weight_decay", 1e-5, 1e-1).grid_levels(2),
            Param::uniform("keep", 0.5, 1.0).grid_levels(2),
        ];
        let exact = Space::new(params).unwrap();
        let padded = space(&params).unwrap();
        for sampler in [
            Sampler::Random,
            Sampler::Grid { shuffled: false },
            Sampler::Grid { shuffled: true },
            Sampler::Sobol,
            Sampler::LatinHypercube { trials: 16 },
        ] {
            for i in 0..16 {
                let a = exact.point(sampler, 2026, i).unwrap();
                let b = padded.point(sampler, 2026, i).unwrap();
                assert_eq!(a.values[..], b.values[..3], "{sampler:?} point {i}");
            }
        }
    }
}
