//! `tinyreg predict`: a trained network's class for every image of the test
//! set or of `--data`, and its accuracy where the labels are known.

use std::path::{Path, PathBuf};

use tinyreg::layers::loss::argmax;

use crate::config::Run;
use crate::data::{self, Sets};
use crate::output::{load, write, Fail, SCALING};
use crate::train;

/// Predicts with `weights` (trained on `config`).
pub fn run(
    config: &Path,
    weights: &Path,
    params: Option<String>,
    (data_file, data_labels): (Option<PathBuf>, Option<PathBuf>),
    out: Option<PathBuf>,
) -> Result<(), Fail> {
    let (run, mut data) = load(config)?;
    let values = shape_values(&run, params, weights)?;
    let bytes =
        std::fs::read(weights).map_err(|e| Fail(3, format!("{}: {e}", weights.display())))?;
    let sets = data.sets()?;
    check_scaling(&sets, weights)?;
    let extra = data_file
        .as_ref()
        .map(|p| {
            let labels = data_labels.as_deref().map(|l| run.resolve(l));
            data::read_icls(&run.config.data, p, labels.as_deref()).map_err(Fail::from)
        })
        .transpose()?;
    let scaled_extra = match (&extra, &sets.scaling) {
        (Some(b), Some(scaling)) => {
            let d = tinyreg::Icls::parse(b).map_err(|e| Fail(2, format!("--data: {e}")))?;
            let scaled = scaling.apply(&d);
            Some(scaled.map_err(|m| Fail(2, format!("--data: {m}")))?)
        }
        _ => None,
    };
    let target = match scaled_extra.as_ref().or(extra.as_ref()) {
        Some(b) => tinyreg::Icls::parse(b).map_err(|e| Fail(2, format!("--data: {e}")))?,
        None => sets
            .test
            .ok_or_else(|| Fail(2, "the config has no test set; give --data".into()))?,
    };
    let (layers, config_t, _) = train::build(&run, &sets, values.as_ref(), 0, 1)?;
    let net = tinyreg::Network::new(&layers);
    let floats = net.memory_len_for(&config_t);
    let mut memory = train::buffer(0f32, floats, "the trainer's memory")?;
    let mut trainer =
        tinyreg::Trainer::new(net, config_t, &mut memory).map_err(|e| Fail(2, e.to_string()))?;
    trainer
        .load_weights(&bytes)
        .map_err(|e| Fail(2, format!("{}: {e}", weights.display())))?;
    check_fits(&net, &target, &sets.train)?;
    let (lines, correct) = classify(&mut trainer, &target)?;
    match out {
        Some(p) => write(&p, lines)?,
        None => print!("{lines}"),
    }
    eprintln!(
        "accuracy {:.4} on {} images ({} correct)",
        correct as f64 / target.count.max(1) as f64,
        target.count,
        correct
    );
    Ok(())
}

/// The parameters that shape the network: from `--params`, or the winner of
/// the search whose folder holds the weights.
fn shape_values(
    run: &Run,
    params: Option<String>,
    weights: &Path,
) -> Result<Option<crate::config::Values>, Fail> {
    let given = params
        .map(|p| match serde_json::from_str::<serde_json::Value>(&p) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            Ok(_) => Err(Fail(
                2,
                "--params must be a JSON object such as {\"layers.0.units\": 64}".into(),
            )),
            Err(e) => Err(Fail(2, format!("--params is not valid JSON: {e}"))),
        })
        .transpose()?;
    let winner = std::fs::read_to_string(weights.with_file_name("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| m["winner"]["params"].as_object().cloned());
    crate::search::shape_values(run, given.as_ref().or(winner.as_ref())).map_err(|m| Fail(2, m))
}

/// The scaling the weights were trained with, kept beside them, is the
/// config's training split's.
fn check_scaling(sets: &Sets, weights: &Path) -> Result<(), Fail> {
    let saved = weights.with_file_name(SCALING);
    if let (Some(now), Ok(text)) = (&sets.scaling, std::fs::read_to_string(&saved)) {
        let then: data::Scaling = serde_json::from_str(&text)
            .map_err(|e| Fail(2, format!("{}: {e}", saved.display())))?;
        if &then != now {
            return Err(Fail(
                2,
                format!(
                    "{} differs from the scaling of the config's training split: the data changed since these weights were trained",
                    saved.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The data's images have the training images' shape and no more classes
/// than the network gives.
fn check_fits(
    net: &tinyreg::Network,
    target: &tinyreg::Icls,
    train: &tinyreg::Icls,
) -> Result<(), Fail> {
    let shape = |d: &tinyreg::Icls| (d.channels, d.rows, d.cols);
    if shape(target) != shape(train) {
        let ((c, h, w), (tc, th, tw)) = (shape(target), shape(train));
        return Err(Fail(
            2,
            format!("the data's images are {c}x{h}x{w} (channels x height x width), the network was trained on {tc}x{th}x{tw}"),
        ));
    }
    let (features, classes) = (target.features(), net.outputs());
    if features != net.inputs() || target.classes > classes {
        return Err(Fail(
            2,
            format!(
                "the data has {features} features and {} classes, the network takes {} and gives {classes}",
                target.classes,
                net.inputs()
            ),
        ));
    }
    Ok(())
}

/// Every image's most probable class, one per line, and how many match
/// their labels.
fn classify(
    trainer: &mut tinyreg::Trainer,
    target: &tinyreg::Icls,
) -> Result<(String, usize), Fail> {
    let classes = trainer.network().outputs();
    let (features, batch) = (target.features(), trainer.config().batch);
    let mut input = vec![0f32; batch * features];
    let mut probs = vec![0f32; batch * classes];
    let mut labels = vec![0u32; batch];
    let mut lines = String::new();
    let mut correct = 0usize;
    for start in (0..target.count).step_by(batch) {
        let rows = batch.min(target.count - start);
        let indices: Vec<u32> = (start..start + rows).map(|i| i as u32).collect();
        target
            .gather(&indices, &mut input[..rows * features], &mut labels[..rows])
            .map_err(|e| Fail(3, e.to_string()))?;
        let (x, p) = (&input[..rows * features], &mut probs[..rows * classes]);
        trainer
            .predict_proba(x, rows, 0, p)
            .map_err(|e| Fail(4, e.to_string()))?;
        for r in 0..rows {
            let row = &probs[r * classes..(r + 1) * classes];
            let class = argmax(row);
            correct += usize::from(class == labels[r] as usize);
            lines += &format!("{class}\n");
        }
    }
    Ok((lines, correct))
}
