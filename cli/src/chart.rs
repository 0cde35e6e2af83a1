//! What every picture shares: the legend's look, one colour per budget,
//! values on hover, budgets in words.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// A drawing error as the records' errors are: a message.
pub fn err<E: std::fmt::Display>(e: E) -> String {
    format!("drawing: {e}")
}

/// One colour per budget (successive halving's rungs), shortest first.
pub const RUNG: [RGBColor; 5] = [
    RGBColor(158, 202, 225),
    RGBColor(66, 146, 198),
    RGBColor(8, 69, 148),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

/// The legend every picture draws: 16-point text on a translucent white
/// box with a black border, at `position`.
pub fn draw_legend<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .position(position)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)
}

/// "1 epoch", "3 epochs".
pub fn epochs_text(n: u32) -> String {
    format!("{n} epoch{}", if n == 1 { "" } else { "s" })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Adds an invisible circle with a `<title>` at each pixel position, so a
/// browser shows the text when the pointer rests on the point.
pub fn add_hover(svg: &mut String, points: &[((i32, i32), String)]) {
    let mut extra = String::new();
    for ((x, y), text) in points {
        extra += &format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"7\" fill=\"#000\" fill-opacity=\"0\"><title>{}</title></circle>\n",
            escape(text)
        );
    }
    if let Some(end) = svg.rfind("</svg>") {
        svg.insert_str(end, &extra);
    }
}

/// A chart on an SVG drawing area, with `f64` axes.
pub type Chart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A drawing area of an SVG.
pub type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// What a chart's frame shows: the caption (text, size), the axes' ranges,
/// names and label formats, and the room for the labels.
#[derive(Default)]
pub struct Frame<'f> {
    pub caption: Option<(String, u32)>,
    pub margin: u32,
    pub x: std::ops::Range<f64>,
    pub y: std::ops::Range<f64>,
    pub x_desc: String,
    pub y_desc: String,
    pub x_label: Option<&'f dyn Fn(&f64) -> String>,
    pub y_label: Option<&'f dyn Fn(&f64) -> String>,
    /// How many x labels (plotters' default 10 when `None`).
    pub x_labels: Option<usize>,
    pub x_area: u32,
    pub y_area: u32,
}

/// An SVG of `size` on a white ground: `draw` fills it; returns the text.
pub fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The chart of `frame` on `area`, its mesh, labels and axis names drawn in
/// the house fonts (16 points).
pub fn frame<'a>(area: &Area<'a>, frame: &Frame) -> Result<Chart<'a>, String> {
    let mut builder = ChartBuilder::on(area);
    if let Some((text, size)) = &frame.caption {
        builder.caption(text, ("sans-serif", *size));
    }
    let mut chart = builder
        .margin(frame.margin)
        .x_label_area_size(frame.x_area)
        .y_label_area_size(frame.y_area)
        .build_cartesian_2d(frame.x.clone(), frame.y.clone())
        .map_err(err)?;
    let mut mesh = chart.configure_mesh();
    mesh.label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 16));
    if !frame.x_desc.is_empty() {
        mesh.x_desc(&frame.x_desc);
    }
    if !frame.y_desc.is_empty() {
        mesh.y_desc(&frame.y_desc);
    }
    if let Some(f) = frame.x_label {
        mesh.x_label_formatter(f);
    }
    if let Some(f) = frame.y_label {
        mesh.y_label_formatter(f);
    }
    if let Some(n) = frame.x_labels {
        mesh.x_labels(n);
    }
    mesh.draw().map_err(err)?;
    Ok(chart)
}

/// A legend entry's mark: a short line in `color`.
pub fn legend_line(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color)
}
