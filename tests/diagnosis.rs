//! Reading the curves (`tune::diagnose`): real runs of the shipped digits
//! config (`scripts/diagnosis-runs.sh` regenerates them) get no finding when
//! healthy; no run, real or synthetic, gets advice that turns one knob both
//! ways; the rules read the ratio and the scatter against the schedule.

use tinyreg::tune::{contradiction, diagnose, max_findings, Direction, Finding, Knob, Thresholds};
use tinyreg::{EpochMetrics, Metrics};

/// A number field of a JSON line (`null` is NaN).
fn field(line: &str, key: &str) -> f32 {
    let at = line
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {line}"));
    let rest = &line[at + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim().parse().unwrap_or(f32::NAN)
}

/// A run's per-epoch records and step losses.
fn run(name: &str) -> (Vec<EpochMetrics>, Vec<f32>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/runs/");
    let curves = std::fs::read_to_string(format!("{dir}{name}.curves.jsonl")).unwrap();
    let history = curves
        .lines()
        .map(|l| EpochMetrics {
            train: Metrics {
                loss: field(l, "train_loss"),
                accuracy: field(l, "train_accuracy"),
            },
            val: Metrics {
                loss: field(l, "val_loss"),
                accuracy: field(l, "val_accuracy"),
            },
            lr: field(l, "lr"),
            update_ratio: field(l, "update_ratio"),
        })
        .collect();
    let steps = std::fs::read_to_string(format!("{dir}{name}.steps.csv")).unwrap();
    let steps = steps
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    (history, steps)
}

fn findings(history: &[EpochMetrics], steps: &[f32], ratios: &[f32]) -> Vec<Finding> {
    let mut out = vec![Finding::NoisyLoss { noise: 0.0 }; max_findings(ratios.len())];
    let n = diagnose(history, steps, ratios, &Thresholds::DEFAULT, &mut out).unwrap();
    out.truncate(n);
    out
}

/// The digits config trained as shipped (cosine to 5% of the rate), and the
/// winner of its search: healthy runs, nothing to report. (Before the
/// rules read the schedule, the first got "noisy loss: lower the rate"
/// beside "update ratio low: the rate is too low".)
#[test]
fn diagnosis_of_healthy_real_runs_is_empty() {
    for name in ["digits-train", "digits-search"] {
        let (history, steps) = run(name);
        assert!(history.len() >= 60, "{name}");
        let last = history[history.len() - 1];
        assert!(
            last.lr < 0.06 * history[0].lr.max(history[1].lr),
            "{name}: a decayed schedule"
        );
        let f = findings(&history, &steps, &[]);
        assert!(f.is_empty(), "{name}: {f:?}");
        // The last epoch's ratio alone is below the band; at the peak rate
        // it is inside.
        assert!(
            last.update_ratio < Thresholds::DEFAULT.ratio_low * 2.0,
            "{name}: {last:?}"
        );
        // The last step's layer ratios, judged at the peak rate, too.
        let f = findings(
            &history,
            &steps,
            &[last.update_ratio, 0.0, last.update_ratio],
        );
        assert!(
            !f.iter().any(|f| matches!(
                f,
                Finding::UpdateRatio {
                    too_high: false,
                    ..
                }
            )),
            "{name}: {f:?}"
        );
    }
}

/// The digits config at 75 times its rate (0.15, 20 epochs): whatever the
/// rules find, they do not ask for a higher rate, nor contradict each other.
#[test]
fn diagnosis_of_a_rate_too_high_never_asks_for_more() {
    let (history, steps) = run("digits-high-lr");
    let f = findings(&history, &steps, &[]);
    assert_eq!(contradiction(&f), None, "{f:?}");
    assert!(
        !f.iter()
            .any(|f| f.advice().contains(&(Knob::LearningRate, Direction::Raise))),
        "{f:?}"
    );
}

/// A loss that scatters at the peak rate and layers whose ratio is tiny:
/// the rules alone would say "lower the rate" and "raise the rate"; the
/// diagnosis keeps the first.
#[test]
fn diagnosis_drops_a_low_ratio_when_another_finding_lowers_the_rate() {
    let history: Vec<EpochMetrics> = (0..10)
        .map(|e| EpochMetrics {
            train: Metrics {
                loss: 1.0,
                accuracy: 0.95,
            },
            val: Metrics {
                loss: 1.0 + 0.01 * e as f32,
                accuracy: 0.94,
            },
            lr: 0.1,
            update_ratio: 1e-3,
        })
        .collect();
    // Starting high: a first step at 0.2 and a second at 1.8 would be a spike
    // (9x the first step), a divergence rather than noise.
    let steps: Vec<f32> = (0..400)
        .map(|i| if i % 2 == 0 { 1.8 } else { 0.2 })
        .collect();
    let f = findings(&history, &steps, &[1e-7]);
    assert!(
        f.iter().any(|f| matches!(f, Finding::NoisyLoss { .. })),
        "{f:?}"
    );
    assert!(
        !f.iter().any(|f| matches!(f, Finding::UpdateRatio { .. })),
        "{f:?}"
    );
    assert_eq!(contradiction(&f), None);
    // The pair itself is a contradiction.
    let pair = [
        Finding::NoisyLoss { noise: 1.0 },
        Finding::UpdateRatio {
            layer: Some(0),
            ratio: 1e-7,
            too_high: false,
        },
    ];
    assert!(contradiction(&pair).is_some());
}

/// A small seeded generator (xorshift64*), so the histories are the same on
/// every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32
    }
    fn pick(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.next()
    }
}

/// Thousands of synthetic runs (rising, falling, flat, noisy, diverging
/// losses; gaps both ways; constant, decaying and warm-up schedules; ratios
/// across eight decades): every kind of finding appears, and no run's
/// findings contradict each other.
#[test]
fn diagnosis_never_contradicts_itself_on_synthetic_runs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = [false; 8];
    for _ in 0..4000 {
        let epochs = 2 + (rng.next() * 40.0) as usize;
        let start = rng.pick(0.05, 3.0);
        let end_loss = start * rng.pick(0.001, 2.5);
        let gap = rng.pick(-0.1, 0.3);
        let train_acc = rng.pick(0.1, 1.0);
        let val_turn = rng.pick(-0.5, 0.5);
        let base_lr = 10f32.powf(rng.pick(-5.0, 0.0));
        let schedule = (rng.next() * 3.0) as u32;
        let ratio = 10f32.powf(rng.pick(-7.0, 0.0));
        let diverge_at = if rng.next() < 0.1 {
            Some((rng.next() * epochs as f32) as usize)
        } else {
            None
        };
        let history: Vec<EpochMetrics> = (0..epochs)
            .map(|e| {
                let t = e as f32 / (epochs - 1) as f32;
                let lr = base_lr
                    * match schedule {
                        0 => 1.0,
                        1 => 0.05 + 0.95 * 0.5 * (1.0 + (core::f32::consts::PI * t).cos()),
                        _ => (t * 4.0).min(1.0),
                    };
                let mut loss = start + (end_loss - start) * t;
                if diverge_at.is_some_and(|d| e >= d) {
                    loss = if rng.next() < 0.5 {
                        f32::NAN
                    } else {
                        start * 10.0
                    };
                }
                EpochMetrics {
                    train: Metrics {
                        loss,
                        accuracy: (train_acc * (0.5 + 0.5 * t)).min(1.0),
                    },
                    val: Metrics {
                        loss: loss * (1.0 + val_turn * t * t),
                        accuracy: (train_acc * (0.5 + 0.5 * t) - gap).clamp(0.0, 1.0),
                    },
                    lr,
                    update_ratio: ratio * lr / base_lr,
                }
            })
            .collect();
        let noise = rng.pick(0.0, 1.5);
        let steps: Vec<f32> = (0..epochs * 20)
            .map(|i| {
                let e = (i / 20).min(epochs - 1);
                history[e].train.loss * (1.0 + noise * (rng.next() - 0.5))
            })
            .collect();
        let layers: Vec<f32> = (0..3).map(|_| 10f32.powf(rng.pick(-8.0, 0.0))).collect();
        let f = findings(&history, &steps, &layers);
        assert_eq!(contradiction(&f), None, "{f:?}");
        for finding in &f {
            let kind = match finding {
                Finding::Diverged { .. } => 0,
                Finding::FlatStart { .. } => 1,
                Finding::Plateau { .. } => 2,
                Finding::NoisyLoss { .. } => 3,
                Finding::Overfitting { .. } => 4,
                Finding::Underfitting { .. } => 5,
                Finding::UpdateRatio { too_high: true, .. } => 6,
                Finding::UpdateRatio {
                    too_high: false, ..
                } => 7,
            };
            seen[kind] = true;
        }
    }
    assert_eq!(seen, [true; 8], "every kind of finding occurs");
}
