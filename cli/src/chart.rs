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
