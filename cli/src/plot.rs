//! The pictures, as SVG (plotters' SVG backend: text is left to the browser,
//! so no fonts are needed). Log axes are drawn as `log10` of the value with
//! the labels written back as values. Fonts are given in points and drawn at
//! 0.81 of that in pixels: tick labels, axis names and legends at 16 (13
//! px), captions at 16 or more, so no text is below 12 px at 100% zoom.

use std::path::Path;

use plotters::prelude::*;

use crate::chart::{self, err, legend_line, Chart, Frame};

use crate::search::EpochRecord;

const SIZE: (u32, u32) = (720, 420);
const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(214, 39, 40);
const STEP: RGBColor = RGBColor(160, 190, 220);
const MARK: RGBColor = RGBColor(44, 160, 44);

type Res = Result<(), String>;

/// Writes a drawn picture atomically (a report redrawn while a reader looks
/// never shows half a picture).
fn save(path: &Path, svg: &str) -> Res {
    crate::files::write_atomic(path, svg.as_bytes())
}

/// One axis: its values as drawn (log10 for log axes), range and labels.
struct Axis {
    log: bool,
}

impl Axis {
    fn map(&self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    fn range(&self, values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(self.map(v));
            hi = hi.max(self.map(v));
        }
        if !lo.is_finite() {
            return 0.0..1.0;
        }
        let pad = ((hi - lo) * 0.05).max(if self.log { 0.1 } else { 1e-3 });
        lo - pad..hi + pad
    }

    fn label(&self, v: f64) -> String {
        if self.log {
            format!("{:.0e}", 10f64.powf(v))
        } else if v.abs() >= 100.0 || v == v.round() {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    }
}

fn moving_average(values: &[f32], window: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(values.len());
    let mut sum = 0.0f64;
    for (i, &v) in values.iter().enumerate() {
        sum += v as f64;
        if i >= window {
            sum -= values[i - window] as f64;
        }
        out.push((sum / (i + 1).min(window) as f64) as f32);
    }
    out
}

fn finite_max(values: impl Iterator<Item = f32>) -> f64 {
    values.filter(|v| v.is_finite()).fold(0.0f32, f32::max) as f64
}

/// Loss curves: train and validation per epoch, and every step's loss with
/// its moving average (x in epochs), on a log axis: a loss falling from 2.3
/// to 0.02 keeps the train-validation gap of its last epochs visible.
pub fn loss_curves(path: &Path, epochs: &[EpochRecord], steps: &[f32]) -> Res {
    let n = epochs.len().max(1) as f64;
    let y = Axis { log: true };
    let yr = y.range(
        epochs
            .iter()
            .flat_map(|e| [e.train_loss, e.val_loss])
            .chain(steps.iter().copied())
            .filter(|v| *v > 0.0)
            .map(f64::from),
    );
    let svg = chart::svg(SIZE, |root| {
        let frame = Frame {
            caption: Some(("loss (log axis)".into(), 20)),
            margin: 12,
            x: 0.0..n,
            y: yr.clone(),
            x_desc: "epoch".into(),
            y_desc: "cross-entropy (log)".into(),
            y_label: Some(&|v| y.label(*v)),
            x_area: 36,
            y_area: 56,
            ..Frame::default()
        };
        let mut chart = chart::frame(root, &frame)?;
        draw_step_losses(&mut chart, steps, n, 10f64.powf(yr.end))?;
        for (name, color, value) in [
            (
                "train (epoch mean)",
                TRAIN,
                (|e: &EpochRecord| e.train_loss) as fn(&EpochRecord) -> f32,
            ),
            ("validation", VAL, |e: &EpochRecord| e.val_loss),
        ] {
            chart
                .draw_series(LineSeries::new(
                    epochs
                        .iter()
                        .filter(|e| value(e) > 0.0)
                        .map(|e| (e.epoch as f64, y.map(value(e) as f64))),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(name)
                .legend(legend_line(color));
        }
        chart::draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })?;
    save(path, &svg)
}

/// Every step's loss (clipped at `ymax`) and its moving average over an
/// epoch, at x = the epochs elapsed, on the loss chart's log axis.
fn draw_step_losses(chart: &mut Chart, steps: &[f32], epochs: f64, ymax: f64) -> Res {
    let per_epoch = steps.len() as f64 / epochs;
    if per_epoch <= 0.0 {
        return Ok(());
    }
    let y = Axis { log: true };
    let at = |i: usize| (i + 1) as f64 / per_epoch;
    chart
        .draw_series(LineSeries::new(
            steps
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite() && **v > 0.0)
                .map(|(i, &v)| (at(i), y.map((v as f64).min(ymax)))),
            STEP.stroke_width(1),
        ))
        .map_err(err)?
        .label("step loss")
        .legend(legend_line(STEP));
    let smooth = moving_average(steps, (per_epoch as usize).max(1));
    chart
        .draw_series(LineSeries::new(
            smooth
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.0)
                .map(|(i, &v)| (at(i), y.map(v as f64))),
            BLACK.stroke_width(1),
        ))
        .map_err(err)?
        .label("step loss, moving average (1 epoch)")
        .legend(legend_line(BLACK));
    Ok(())
}

/// Accuracy curves, train and validation per epoch.
pub fn accuracy_curves(path: &Path, epochs: &[EpochRecord]) -> Res {
    let n = epochs.len().max(1) as f64;
    let lo = epochs
        .iter()
        .flat_map(|e| [e.train_accuracy, e.val_accuracy])
        .filter(|v| v.is_finite())
        .fold(1.0f32, f32::min) as f64;
    let svg = chart::svg(SIZE, |root| {
        let frame = Frame {
            caption: Some(("accuracy".into(), 20)),
            margin: 12,
            x: 0.0..n,
            y: (lo - 0.02).max(0.0)..1.0,
            x_desc: "epoch".into(),
            y_desc: "accuracy".into(),
            x_area: 36,
            y_area: 48,
            ..Frame::default()
        };
        let mut chart = chart::frame(root, &frame)?;
        for (name, color, value) in [
            (
                "train (epoch mean, train mode)",
                TRAIN,
                (|e: &EpochRecord| e.train_accuracy) as fn(&EpochRecord) -> f32,
            ),
            ("validation", VAL, |e: &EpochRecord| e.val_accuracy),
        ] {
            chart
                .draw_series(LineSeries::new(
                    epochs.iter().map(|e| (e.epoch as f64, value(e) as f64)),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(name)
                .legend(legend_line(color));
        }
        chart::draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    })?;
    save(path, &svg)
}

/// The range test: loss and smoothed loss against the rate (log axis), the
/// suggestions and the given rates marked, the searched range shaded; raw
/// losses above the chart are drawn on its top edge and the legend says so.
pub fn range_test(
    path: &Path,
    points: &[(f32, f32, f32)],
    marks: &[(&str, f32)],
    searched: Option<(f32, f32)>,
) -> Res {
    let x = Axis { log: true };
    let first = points.first().map_or(1.0, |p| p.2 as f64);
    let ymax = finite_max(points.iter().map(|p| p.2)).max(first * 1.5);
    // Low enough for the raw losses too: only the blow-up is clipped.
    let ymin = points
        .iter()
        .flat_map(|p| [p.1, p.2])
        .filter(|v| v.is_finite())
        .fold(f32::INFINITY, f32::min)
        .min(ymax as f32) as f64;
    let (bottom, top) = (ymin * 0.9, ymax * 1.05);
    let svg = chart::svg(SIZE, |root| {
        let frame = Frame {
            caption: Some(("learning-rate range test".into(), 20)),
            margin: 12,
            x: x.range(points.iter().map(|p| p.0 as f64)),
            y: bottom..top,
            x_desc: "learning rate".into(),
            y_desc: "loss".into(),
            x_label: Some(&|v| x.label(*v)),
            x_area: 36,
            y_area: 48,
            ..Frame::default()
        };
        let mut chart = chart::frame(root, &frame)?;
        let clipped = points.iter().any(|p| p.1 as f64 > ymax);
        let raw = points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| (x.map(p.0 as f64), (p.1 as f64).min(ymax)));
        chart
            .draw_series(LineSeries::new(raw, STEP.stroke_width(1)))
            .map_err(err)?
            .label(if clipped {
                "loss (clipped at the top edge)"
            } else {
                "loss"
            })
            .legend(legend_line(STEP));
        draw_rate_marks(&mut chart, searched, &[], bottom..top)?;
        let smooth = points
            .iter()
            .filter(|p| p.2.is_finite())
            .map(|p| (x.map(p.0 as f64), p.2 as f64));
        chart
            .draw_series(LineSeries::new(smooth, TRAIN.stroke_width(2)))
            .map_err(err)?
            .label("smoothed loss")
            .legend(legend_line(TRAIN));
        draw_rate_marks(&mut chart, None, marks, bottom..top)?;
        chart::draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })?;
    save(path, &svg)
}

/// The range test's searched range (shaded) and marked rates (vertical
/// lines) from `y.start` to `y.end`, on the rate's log axis.
fn draw_rate_marks(
    chart: &mut Chart,
    searched: Option<(f32, f32)>,
    marks: &[(&str, f32)],
    y: std::ops::Range<f64>,
) -> Res {
    let x = Axis { log: true };
    let (bottom, top) = (y.start, y.end);
    if let Some((lo, hi)) = searched {
        let shade = RGBColor(255, 221, 87);
        let span = [(x.map(lo as f64), bottom), (x.map(hi as f64), top)];
        chart
            .draw_series([Rectangle::new(span, shade.mix(0.25).filled())])
            .map_err(err)?
            .label(format!("the searched range: {lo:.1e} to {hi:.1e}"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], shade.mix(0.5).filled())
            });
    }
    let palette = [
        VAL,
        MARK,
        BLACK,
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
    ];
    for (i, &(name, lr)) in marks.iter().enumerate() {
        let color = palette[i % palette.len()];
        let at = x.map(lr as f64);
        chart
            .draw_series(LineSeries::new(
                [(at, bottom), (at, top)],
                color.stroke_width(1),
            ))
            .map_err(err)?
            .label(format!("{name}: {lr:.2e}"))
            .legend(legend_line(color));
    }
    Ok(())
}

/// Validation accuracy of each trial against one parameter; a choice's
/// axis (`categories`: the names of its indices) is labelled with the names.
pub fn against_param(
    path: &Path,
    (name, log, categories): (&str, bool, Option<&[&str]>),
    points: &[(f64, f32, u32)],
) -> Res {
    let x = Axis { log };
    let xr = match categories {
        // Every category's slot, half a slot of room on each side.
        Some(c) => -0.5..(c.len() as f64 - 0.5),
        None => x.range(points.iter().map(|p| p.0)),
    };
    let category = |v: f64| -> String {
        let i = v.round();
        match categories {
            Some(c) if (v - i).abs() < 1e-6 && i >= 0.0 => {
                c.get(i as usize).map_or(String::new(), |s| s.to_string())
            }
            Some(_) => String::new(),
            None => x.label(v),
        }
    };
    let lo = points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .fold(1.0f32, f32::min) as f64;
    let mut hover = Vec::new();
    let mut svg = chart::svg((480, 340), |root| {
        let frame = Frame {
            caption: Some((format!("validation accuracy vs {name}"), 18)),
            margin: 10,
            x: xr,
            y: (lo - 0.02).max(0.0)..1.0,
            x_desc: if log {
                format!("{name} (log axis)")
            } else {
                name.to_string()
            },
            y_desc: "validation accuracy".into(),
            x_label: Some(&|v| category(*v)),
            x_labels: Some(categories.map_or(10, |c| c.len())),
            x_area: 36,
            y_area: 48,
            ..Frame::default()
        };
        let mut chart = chart::frame(root, &frame)?;
        let budgets = draw_by_budget(&mut chart, &x, points)?;
        for p in points.iter().filter(|p| p.1.is_finite()) {
            let value = match categories {
                Some(_) => category(p.0),
                None => crate::config::significant(p.0, 3),
            };
            let text = format!(
                "{name} {value}: validation {:.4} after {}",
                p.1,
                chart::epochs_text(p.2)
            );
            hover.push((chart.backend_coord(&(x.map(p.0), p.1 as f64)), text));
        }
        if budgets > 1 {
            chart::draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    })?;
    chart::add_hover(&mut svg, &hover);
    save(path, &svg)
}

/// The points `(x, accuracy, budget)`, one colour per budget (successive
/// halving's rungs apart, labelled when there are several); returns how many
/// budgets there are.
fn draw_by_budget(
    chart: &mut Chart,
    x: &Axis,
    points: &[(f64, f32, u32)],
) -> Result<usize, String> {
    let mut budgets: Vec<u32> = points.iter().map(|p| p.2).collect();
    budgets.sort_unstable();
    budgets.dedup();
    for (k, &b) in budgets.iter().enumerate() {
        let color = if budgets.len() == 1 {
            TRAIN
        } else {
            chart::RUNG[k.min(chart::RUNG.len() - 1)]
        };
        let series = chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 == b && p.1.is_finite())
                    .map(|p| Circle::new((x.map(p.0), p.1 as f64), 4, color.filled())),
            )
            .map_err(err)?;
        if budgets.len() > 1 {
            series
                .label(chart::epochs_text(b))
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
        }
    }
    Ok(budgets.len())
}

/// Parallel coordinates: one line per trial across the parameters (each
/// scaled to its range, log where searched in log, its real lowest and
/// highest values written at its ends; a choice's options by name) and
/// validation accuracy, coloured from worst (light orange) to best (dark
/// blue) with a colour bar; the best trials are drawn last, on top.
pub fn parallel_coordinates(
    path: &Path,
    names: &[&str],
    (logs, categories): (&[bool], &[Option<&[&str]>]),
    trials: &[(Vec<f64>, f32)],
) -> Res {
    let scale = |values: Vec<f64>| -> (f64, f64) {
        let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (lo, if hi > lo { hi } else { lo + 1.0 })
    };
    let ranges: Vec<(f64, f64)> = logs
        .iter()
        .enumerate()
        .map(|(d, &log)| scale(trials.iter().map(|t| Axis { log }.map(t.0[d])).collect()))
        .collect();
    let finite = trials.iter().map(|t| t.1 as f64).filter(|v| v.is_finite());
    let acc = scale(finite.collect());
    let parallel = Parallel {
        names,
        logs,
        categories,
        ranges,
        acc,
    };
    let svg = chart::svg((760, 440), |root| {
        let (main, bar) = root.split_horizontally(680);
        let axes = names.len() + 1;
        let mut chart = ChartBuilder::on(&main)
            .caption("trials across the parameters", ("sans-serif", 20))
            .margin(16)
            .margin_top(28)
            .x_label_area_size(36)
            .y_label_area_size(8)
            .build_cartesian_2d(-0.35..(axes as f64 - 0.65), -0.08..1.08)
            .map_err(err)?;
        let labels: Vec<String> = names
            .iter()
            .map(|s| s.to_string())
            .chain(["val accuracy".to_string()])
            .collect();
        chart
            .configure_mesh()
            .label_style(("sans-serif", 16))
            .disable_y_mesh()
            .disable_x_mesh()
            .y_labels(0)
            .x_labels(axes)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(err)?;
        parallel.draw_lines(&mut chart, trials)?;
        parallel.draw_axes(&mut chart, trials)?;
        parallel.draw_colour_bar(&bar)
    })?;
    save(path, &svg)
}

/// A parallel-coordinates chart's axes: each parameter's drawn range (log10
/// where searched in log) and validation accuracy's.
struct Parallel<'a> {
    names: &'a [&'a str],
    logs: &'a [bool],
    categories: &'a [Option<&'a [&'a str]>],
    ranges: Vec<(f64, f64)>,
    acc: (f64, f64),
}

impl Parallel<'_> {
    /// Worst (light orange, 0) to best (dark blue, 1).
    fn colour(s: f64) -> RGBColor {
        let s = s.clamp(0.0, 1.0);
        RGBColor(
            (253.0 - 245.0 * s) as u8,
            (174.0 - 126.0 * s) as u8,
            (97.0 + 10.0 * s) as u8,
        )
    }

    /// One line per trial, the best last (on top).
    fn draw_lines(&self, chart: &mut Chart, trials: &[(Vec<f64>, f32)]) -> Res {
        let acc = self.acc;
        let mut order: Vec<usize> = (0..trials.len()).collect();
        order.sort_by(|&a, &b| trials[a].1.total_cmp(&trials[b].1));
        for &t in &order {
            let (values, score) = &trials[t];
            let s = if score.is_finite() {
                (*score as f64 - acc.0) / (acc.1 - acc.0)
            } else {
                0.0
            };
            let mut line: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .map(|(d, &v)| {
                    let (lo, hi) = self.ranges[d];
                    (
                        d as f64,
                        (Axis { log: self.logs[d] }.map(v) - lo) / (hi - lo),
                    )
                })
                .collect();
            line.push((self.names.len() as f64, s));
            chart
                .draw_series(LineSeries::new(line, Self::colour(s).stroke_width(2)))
                .map_err(err)?;
        }
        Ok(())
    }

    /// The label of an axis' end at drawn value `mapped`.
    fn end_label(&self, d: usize, mapped: f64) -> String {
        if d == self.names.len() {
            return format!("{mapped:.3}");
        }
        match self.categories.get(d).copied().flatten() {
            Some(c) => c
                .get(mapped.round() as usize)
                .map_or(String::new(), |s| s.to_string()),
            None if self.logs[d] => format!("{:.1e}", 10f64.powf(mapped)),
            None => crate::config::significant(mapped, 3),
        }
    }

    /// Each axis with its real ends.
    fn draw_axes(&self, chart: &mut Chart, trials: &[(Vec<f64>, f32)]) -> Res {
        let n = self.names.len();
        for d in 0..=n {
            chart
                .draw_series(LineSeries::new([(d as f64, 0.0), (d as f64, 1.0)], BLACK))
                .map_err(err)?;
            let (lo, hi) = if d == n { self.acc } else { self.ranges[d] };
            let constant = d < n
                && trials
                    .iter()
                    .all(|t| Axis { log: self.logs[d] }.map(t.0[d]) == lo);
            let hi = if constant { lo } else { hi };
            let style = ("sans-serif", 16).into_font().color(&BLACK);
            chart
                .draw_series([
                    Text::new(
                        self.end_label(d, hi),
                        (d as f64 + 0.03, 1.065),
                        style.clone(),
                    ),
                    Text::new(
                        self.end_label(d, lo),
                        (d as f64 + 0.03, -0.01),
                        style.clone(),
                    ),
                ])
                .map_err(err)?;
        }
        Ok(())
    }

    /// The colour bar: validation accuracy from worst to best.
    fn draw_colour_bar(&self, bar: &chart::Area) -> Res {
        let acc = self.acc;
        let mut legend = ChartBuilder::on(bar)
            .margin(16)
            .margin_top(60)
            .x_label_area_size(36)
            .y_label_area_size(8)
            .build_cartesian_2d(0.0..1.0, acc.0..acc.1)
            .map_err(err)?;
        let steps = 40;
        legend
            .draw_series((0..steps).map(|k| {
                let (a, b) = (k as f64 / steps as f64, (k + 1) as f64 / steps as f64);
                let y = |f: f64| acc.0 + f * (acc.1 - acc.0);
                Rectangle::new(
                    [(0.0, y(a)), (0.4, y(b))],
                    Self::colour((a + b) / 2.0).filled(),
                )
            }))
            .map_err(err)?;
        let style = ("sans-serif", 16).into_font().color(&BLACK);
        let span = acc.1 - acc.0;
        legend
            .draw_series([
                Text::new(format!("{:.3}", acc.1), (0.45, acc.1), style.clone()),
                Text::new(
                    format!("{:.3}", acc.0),
                    (0.45, acc.0 + 0.04 * span),
                    style.clone(),
                ),
                Text::new("val acc".to_string(), (0.0, acc.0 - 0.06 * span), style),
            ])
            .map_err(err)?;
        Ok(())
    }
}

/// The lecture's grid-vs-random figure from the real trials: the trials in
/// the plane of the first two parameters, and above it validation accuracy
/// against the first (its projection: how many distinct values were tried).
pub fn search_plane(
    path: &Path,
    (xname, xlog): (&str, bool),
    (yname, ylog): (&str, bool),
    trials: &[(f64, f64, f32)],
    sampler: &str,
) -> Res {
    let (x, y) = (Axis { log: xlog }, Axis { log: ylog });
    let xr = x.range(trials.iter().map(|t| t.0));
    let lo = trials
        .iter()
        .map(|t| t.2)
        .filter(|v| v.is_finite())
        .fold(1.0f32, f32::min) as f64;
    let distinct = {
        let mut xs: Vec<u64> = trials.iter().map(|t| t.0.to_bits()).collect();
        xs.sort_unstable();
        xs.dedup();
        xs.len()
    };
    let svg = chart::svg((520, 560), |root| {
        let (top, bottom) = root.split_vertically(180);
        let caption = format!(
            "{sampler}: {distinct} distinct values of {xname} in {} trials",
            trials.len()
        );
        let upper = Frame {
            caption: Some((caption, 16)),
            margin: 8,
            x: xr.clone(),
            y: (lo - 0.02).max(0.0)..1.0,
            y_desc: "val accuracy".into(),
            x_label: Some(&|v| x.label(*v)),
            y_area: 48,
            ..Frame::default()
        };
        chart::frame(&top, &upper)?
            .draw_series(
                trials
                    .iter()
                    .filter(|t| t.2.is_finite())
                    .map(|t| Circle::new((x.map(t.0), t.2 as f64), 4, VAL.filled())),
            )
            .map_err(err)?;
        let plane = Frame {
            margin: 8,
            x: xr.clone(),
            y: y.range(trials.iter().map(|t| t.1)),
            x_desc: format!("{xname}{}", if xlog { " (log)" } else { "" }),
            y_desc: format!("{yname}{}", if ylog { " (log)" } else { "" }),
            x_label: Some(&|v| x.label(*v)),
            y_label: Some(&|v| y.label(*v)),
            x_area: 36,
            y_area: 48,
            ..Frame::default()
        };
        chart::frame(&bottom, &plane)?
            .draw_series(
                trials
                    .iter()
                    .map(|t| Circle::new((x.map(t.0), y.map(t.1)), 5, TRAIN.filled())),
            )
            .map_err(err)?;
        Ok(())
    })?;
    save(path, &svg)
}
