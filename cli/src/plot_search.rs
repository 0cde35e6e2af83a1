//! The search's pictures beyond the per-parameter ones: the best-so-far
//! history, every trial's validation curve, and how much of the validation
//! accuracy's spread each parameter explains. Points carry their values as
//! SVG `<title>`s, shown when the pointer rests on them.

use std::path::Path;

use plotters::prelude::*;

use crate::chart::{self, add_hover, draw_legend, epochs_text, err, legend_line, Frame, RUNG};
use crate::search::{EpochRecord, TrialSummary};

type Res = Result<(), String>;

const SIZE: (u32, u32) = (720, 420);
/// A tick label for a count axis (trials, epochs): whole numbers only.
fn whole(v: f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

fn save(path: &Path, svg: &str) -> Res {
    crate::files::write_atomic(path, svg.as_bytes())
}

/// The budgets (epochs) the trials ran, shortest first, and the colour of a
/// budget.
pub fn budgets(trials: &[TrialSummary]) -> Vec<u32> {
    let mut b: Vec<u32> = trials.iter().map(|t| t.epochs).collect();
    b.sort_unstable();
    b.dedup();
    b
}

fn rung_color(budgets: &[u32], epochs: u32) -> RGBColor {
    let i = budgets.iter().position(|&b| b == epochs).unwrap_or(0);
    if budgets.len() == 1 {
        RUNG[2]
    } else {
        RUNG[i.min(RUNG.len() - 1)]
    }
}

/// Validation accuracy of each trial in the order the search ran them, and
/// the best so far (at the longest budget), as a step line.
pub fn best_so_far(path: &Path, trials: &[TrialSummary]) -> Res {
    let budgets = budgets(trials);
    let top = budgets.last().copied().unwrap_or(0);
    let mut order: Vec<&TrialSummary> = trials.iter().collect();
    order.sort_by_key(|t| (t.epochs, t.trial));
    let lo = trials
        .iter()
        .map(|t| t.val_accuracy)
        .filter(|v| v.is_finite())
        .fold(1.0f32, f32::min) as f64;
    let n = trials.iter().map(|t| t.trial).max().unwrap_or(0) as f64 + 1.0;
    let mut hover = Vec::new();
    let mut svg = chart::svg(SIZE, |root| {
        let frame = Frame {
            caption: Some(("best validation accuracy so far".into(), 20)),
            margin: 12,
            x: -0.5..n - 0.5,
            y: (lo - 0.02).max(0.0)..1.0,
            x_desc: "trial (in the order the search drew them)".into(),
            y_desc: "validation accuracy".into(),
            x_label: Some(&|v| whole(*v)),
            x_area: 40,
            y_area: 56,
            ..Frame::default()
        };
        let mut chart = chart::frame(root, &frame)?;
        for &b in &budgets {
            let color = rung_color(&budgets, b);
            let points: Vec<(f64, f64)> = trials
                .iter()
                .filter(|t| t.epochs == b && t.val_accuracy.is_finite())
                .map(|t| (t.trial as f64, t.val_accuracy as f64))
                .collect();
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(err)?
                .label(format!("a trial, {}", epochs_text(b)))
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
        }
        chart
            .draw_series(LineSeries::new(
                best_line(trials, top),
                BLACK.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("best so far ({})", epochs_text(top)))
            .legend(legend_line(BLACK));
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        for t in order.iter().filter(|t| t.val_accuracy.is_finite()) {
            let at = chart.backend_coord(&(t.trial as f64, t.val_accuracy as f64));
            let text = format!(
                "trial {}, {}: validation {:.4} ({})",
                t.trial,
                epochs_text(t.epochs),
                t.val_accuracy,
                crate::config::short_params(&t.params)
            );
            hover.push((at, text));
        }
        Ok(())
    })?;
    add_hover(&mut svg, &hover);
    save(path, &svg)
}

/// The best validation accuracy so far among the trials at budget `top`, in
/// trial order, as the points of a step line.
fn best_line(trials: &[TrialSummary], top: u32) -> Vec<(f64, f64)> {
    let mut finals: Vec<&TrialSummary> = trials.iter().filter(|t| t.epochs == top).collect();
    finals.sort_by_key(|t| t.trial);
    let mut best = f32::NEG_INFINITY;
    let mut line = Vec::new();
    for t in finals {
        if t.val_accuracy.is_finite() && t.val_accuracy > best {
            if let Some(&(_, y)) = line.last() {
                line.push((t.trial as f64, y));
            }
            best = t.val_accuracy;
        }
        line.push((t.trial as f64, best as f64));
    }
    line
}

/// A trial's runs: consecutive records of one trial whose epochs rise.
fn runs_of(epochs: &[EpochRecord]) -> Vec<Vec<&EpochRecord>> {
    let mut runs: Vec<Vec<&EpochRecord>> = Vec::new();
    for e in epochs {
        match runs.last_mut() {
            Some(run)
                if run
                    .last()
                    .is_some_and(|l| l.trial == e.trial && e.epoch > l.epoch) =>
            {
                run.push(e)
            }
            _ => runs.push(vec![e]),
        }
    }
    runs
}

/// Every trial's validation accuracy per epoch, overlaid; a trial that
/// stopped before the longest budget (halving did not promote it) ends
/// with a cross.
pub fn trial_curves(path: &Path, epochs: &[EpochRecord], trials: &[TrialSummary]) -> Res {
    let budgets = budgets(trials);
    let top = budgets.last().copied().unwrap_or(1);
    let lo = epochs
        .iter()
        .map(|e| e.val_accuracy)
        .filter(|v| v.is_finite())
        .fold(1.0f32, f32::min) as f64;
    let runs = runs_of(epochs);
    let mut hover = Vec::new();
    let mut svg = chart::svg(SIZE, |root| {
        let frame = Frame {
            caption: Some(("every trial's validation curve".into(), 20)),
            margin: 12,
            x: 0.5..top as f64 + 0.5,
            y: (lo - 0.02).max(0.0)..1.0,
            x_desc: "epoch".into(),
            y_desc: "validation accuracy".into(),
            x_label: Some(&|v| whole(*v)),
            x_area: 40,
            y_area: 56,
            ..Frame::default()
        };
        let mut chart = chart::frame(root, &frame)?;
        for run in &runs {
            let len = run.len() as u32;
            let color = rung_color(&budgets, len);
            let line: Vec<(f64, f64)> = run
                .iter()
                .filter(|e| e.val_accuracy.is_finite())
                .map(|e| (e.epoch as f64, e.val_accuracy as f64))
                .collect();
            let stroke = color.mix(0.7).stroke_width(1);
            chart
                .draw_series(LineSeries::new(line.clone(), stroke))
                .map_err(err)?;
            let Some(&end) = line.last() else {
                continue;
            };
            if len < top {
                chart
                    .draw_series([Cross::new(end, 4, color.stroke_width(2))])
                    .map_err(err)?;
            }
            let last = run[run.len() - 1];
            let text = format!(
                "trial {}: validation {:.4} after {} epochs{}",
                last.trial,
                last.val_accuracy,
                last.epoch,
                if len < top { " (stopped here)" } else { "" }
            );
            hover.push((chart.backend_coord(&end), text));
        }
        for &b in &budgets {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(err)?
                .label(epochs_text(b))
                .legend(legend_line(rung_color(&budgets, b)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    })?;
    add_hover(&mut svg, &hover);
    save(path, &svg)
}

/// The share of the validation accuracy's variance that each parameter
/// explains alone: the correlation ratio η² of the accuracy over bins of
/// the parameter (its categories, or up to 5 bins of equal count), between
/// 0 (the parameter does not matter) and 1 (it decides everything). A
/// simple, documented stand-in for fANOVA's main effects; with few trials
/// it is noisy, and it does not see interactions.
pub fn importance(values: &[(Vec<f64>, f32)], names: &[&str]) -> Vec<f64> {
    let rows: Vec<&(Vec<f64>, f32)> = values.iter().filter(|r| r.1.is_finite()).collect();
    let n = rows.len() as f64;
    if rows.len() < 2 {
        return vec![0.0; names.len()];
    }
    let mean = rows.iter().map(|r| r.1 as f64).sum::<f64>() / n;
    let total: f64 = rows.iter().map(|r| (r.1 as f64 - mean).powi(2)).sum();
    (0..names.len())
        .map(|d| {
            if total <= 0.0 {
                return 0.0;
            }
            let mut sorted: Vec<(f64, f64)> = rows.iter().map(|r| (r.0[d], r.1 as f64)).collect();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut distinct: Vec<f64> = sorted.iter().map(|p| p.0).collect();
            distinct.dedup();
            // Bins: each distinct value when few, else 5 of equal count.
            let bins: Vec<Vec<f64>> = if distinct.len() <= 5 {
                distinct
                    .iter()
                    .map(|v| sorted.iter().filter(|p| p.0 == *v).map(|p| p.1).collect())
                    .collect()
            } else {
                let k = 5;
                (0..k)
                    .map(|b| {
                        sorted[b * sorted.len() / k..(b + 1) * sorted.len() / k]
                            .iter()
                            .map(|p| p.1)
                            .collect()
                    })
                    .collect()
            };
            let between: f64 = bins
                .iter()
                .filter(|b| !b.is_empty())
                .map(|b| {
                    let m = b.iter().sum::<f64>() / b.len() as f64;
                    b.len() as f64 * (m - mean).powi(2)
                })
                .sum();
            (between / total).clamp(0.0, 1.0)
        })
        .collect()
}

/// [`importance`] as a bar chart.
pub fn importance_chart(path: &Path, names: &[&str], shares: &[f64], trials: usize) -> Res {
    let mut hover = Vec::new();
    let h = (120 + 48 * names.len() as u32).min(700);
    let mut svg = chart::svg((720, h), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("what matters: accuracy variance explained, {trials} trials"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0..1.0, -0.5..names.len() as f64 - 0.5)
            .map_err(err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 16))
            .disable_y_mesh()
            .y_labels(names.len())
            .y_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    names
                        .get(i as usize)
                        .map_or(String::new(), |s| s.to_string())
                } else {
                    String::new()
                }
            })
            .x_desc("share of the validation accuracy's variance (η², by bins)")
            .draw()
            .map_err(err)?;
        for (i, &share) in shares.iter().enumerate() {
            let y = i as f64;
            chart
                .draw_series([Rectangle::new(
                    [(0.0, y - 0.3), (share, y + 0.3)],
                    RUNG[2].filled(),
                )])
                .map_err(err)?;
            hover.push((
                chart.backend_coord(&(share / 2.0, y)),
                format!("{}: {:.2} of the variance", names[i], share),
            ));
        }
        Ok(())
    })?;
    add_hover(&mut svg, &hover);
    save(path, &svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parameter that decides the accuracy explains all of it; one
    /// unrelated to it, almost none.
    #[test]
    fn importance_is_the_share_of_variance_a_parameter_explains() {
        let rows: Vec<(Vec<f64>, f32)> = (0..40)
            .map(|i| {
                let decides = (i % 2) as f64;
                let noise = ((i * 7919) % 13) as f64;
                (vec![decides, noise], 0.5 + 0.4 * decides as f32)
            })
            .collect();
        let shares = importance(&rows, &["decides", "noise"]);
        assert!((shares[0] - 1.0).abs() < 1e-12, "{shares:?}");
        assert!(shares[1] < 0.2, "{shares:?}");
    }
}
