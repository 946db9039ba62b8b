//! The same [`Chart`]s as [`super::render`] draws into a PNG, laid out for an SVG drawn by a web
//! page template (`web/templates/stats.html`): bars, lines, axis ticks and labels as plain
//! numbers and strings, so that the template (HTML auto-escaped) writes the markup and no
//! figure is computed twice. Pure, no I/O, no font needed: the browser draws the text.

use serde::Serialize;

use super::{axis_top, scaled, short, value_text, Chart, Shape, MAX_CATEGORIES};

/// Size of one chart's drawing, in SVG user units (the page scales it to its width).
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 320.0;

/// Series colours, as the PNG charts' (`super::COLOURS`).
const COLOURS: [&str; 4] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub fill: &'static str,
    /// What a pointer over the bar shows (`<title>`): "第一责任区 · 按时率 80.0%".
    pub tip: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub x: f64,
    pub y: f64,
    pub text: String,
    /// `start`, `middle` or `end` (SVG `text-anchor`).
    pub anchor: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// SVG `points`: "x,y x,y …".
    pub points: String,
    pub stroke: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dot {
    pub x: f64,
    pub y: f64,
    pub fill: &'static str,
    pub tip: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Legend {
    pub x: f64,
    pub y: f64,
    pub fill: &'static str,
    pub name: String,
}

/// One chart laid out; with the table of its values for readers that do not see the picture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SvgChart {
    pub title: String,
    pub width: f64,
    pub height: f64,
    /// The plot area's frame: left, top, right, bottom.
    pub frame: (f64, f64, f64, f64),
    /// Value-axis grid lines: (x1, y1, x2, y2) with their tick labels.
    pub grid: Vec<(f64, f64, f64, f64)>,
    pub ticks: Vec<Label>,
    pub labels: Vec<Label>,
    pub bars: Vec<Rect>,
    pub lines: Vec<Line>,
    pub dots: Vec<Dot>,
    pub values: Vec<Label>,
    pub legend: Vec<Legend>,
    /// The table: series names, then one row per category with each series' value text.
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The value-axis ticks: every 10 % for shares, whole numbers up to ten steps for counts.
fn tick_values(chart: &Chart, top: f64) -> Vec<f64> {
    let steps = if chart.percent { 10.0 } else { top.clamp(1.0, 10.0) };
    let step = if chart.percent { 10.0 } else { (top / steps).ceil().max(1.0) };
    let mut out = Vec::new();
    let mut v = 0.0;
    while v <= top + 1e-9 {
        out.push(v);
        v += step;
    }
    out
}

/// Lays `chart` out at [`WIDTH`] × [`HEIGHT`]; at most [`MAX_CATEGORIES`] categories, as the PNG.
pub fn layout(chart: &Chart) -> SvgChart {
    let n = chart.labels.len().min(MAX_CATEGORIES);
    let top = axis_top(chart, n);
    let unit = if chart.percent { "%" } else { "" };
    let horizontal = chart.shape == Shape::Bars;
    let (left, right, upper, lower) =
        if horizontal { (130.0, WIDTH - 50.0, 40.0, HEIGHT - 30.0) } else { (48.0, WIDTH - 12.0, 56.0, HEIGHT - 40.0) };
    let mut out = SvgChart {
        title: chart.title.clone(),
        width: WIDTH,
        height: HEIGHT,
        frame: (left, upper, right, lower),
        grid: Vec::new(),
        ticks: Vec::new(),
        labels: Vec::new(),
        bars: Vec::new(),
        lines: Vec::new(),
        dots: Vec::new(),
        values: Vec::new(),
        legend: Vec::new(),
        header: std::iter::once(String::new()).chain(chart.series.iter().map(|s| s.name.clone())).collect(),
        rows: Vec::new(),
    };
    for (i, label) in chart.labels.iter().take(n).enumerate() {
        let mut row = vec![label.clone()];
        for s in &chart.series {
            row.push(s.values.get(i).copied().flatten().map_or_else(|| "—".to_string(), |v| value_text(chart, v)));
        }
        out.rows.push(row);
    }
    let slots = n.max(1) as f64;
    if horizontal {
        // Categories top to bottom; the value axis runs left to right.
        let x_of = |v: f64| round(left + (right - left) * (v / top).clamp(0.0, 1.0));
        let band = (lower - upper) / slots;
        for t in tick_values(chart, top) {
            let x = x_of(t);
            out.grid.push((x, upper, x, lower));
            out.ticks.push(Label { x, y: lower + 18.0, text: format!("{t:.0}{unit}"), anchor: "middle" });
        }
        for (i, label) in chart.labels.iter().take(n).enumerate() {
            let y = upper + band * i as f64;
            out.labels.push(Label { x: left - 6.0, y: round(y + band * 0.6), text: short(label, 10), anchor: "end" });
        }
        if let Some(s) = chart.series.first() {
            for (i, v) in s.values.iter().take(n).enumerate() {
                let Some(v) = *v else { continue };
                let y = upper + band * i as f64;
                let w = x_of(scaled(chart, v)) - left;
                let text = value_text(chart, v);
                out.bars.push(Rect {
                    x: left,
                    y: round(y + band * 0.15),
                    w: round(w),
                    h: round(band * 0.7),
                    fill: COLOURS[0],
                    tip: format!("{} · {} {text}", chart.labels[i], s.name),
                });
                out.values.push(Label { x: round(left + w + 4.0), y: round(y + band * 0.6), text, anchor: "start" });
            }
        }
        return out;
    }
    let y_of = |v: f64| round(lower - (lower - upper) * (v / top).clamp(0.0, 1.0));
    let slot = (right - left) / slots;
    for t in tick_values(chart, top) {
        let y = y_of(t);
        out.grid.push((left, y, right, y));
        out.ticks.push(Label { x: left - 4.0, y: y + 4.0, text: format!("{t:.0}{unit}"), anchor: "end" });
    }
    for (i, label) in chart.labels.iter().take(n).enumerate() {
        let x = left + slot * (i as f64 + 0.5);
        out.labels.push(Label {
            x: round(x),
            y: lower + 18.0,
            text: short(label, if n > 8 { 4 } else { 8 }),
            anchor: "middle",
        });
    }
    let k = chart.series.len().max(1) as f64;
    for (si, s) in chart.series.iter().enumerate() {
        let colour = COLOURS[si % COLOURS.len()];
        out.legend.push(Legend { x: left + 150.0 * si as f64, y: 36.0, fill: colour, name: s.name.clone() });
        let points: Vec<(usize, f64)> =
            s.values.iter().take(n).enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
        if chart.shape == Shape::Columns {
            let w = slot * 0.8 / k;
            for (i, v) in &points {
                let x = left + slot * (*i as f64 + 0.1) + w * si as f64;
                let y = y_of(scaled(chart, *v));
                let text = value_text(chart, *v);
                out.bars.push(Rect {
                    x: round(x),
                    y,
                    w: round(w * 0.92),
                    h: round(lower - y),
                    fill: colour,
                    tip: format!("{} · {} {text}", chart.labels[*i], s.name),
                });
                if n <= 12 {
                    out.values.push(Label { x: round(x + w * 0.46), y: y - 3.0, text, anchor: "middle" });
                }
            }
        } else {
            // A gap where there is no value: each run of consecutive points is one line.
            let mut runs: Vec<Vec<String>> = Vec::new();
            let mut prev: Option<usize> = None;
            for (i, v) in &points {
                if runs.is_empty() || prev != Some(i.wrapping_sub(1)) {
                    runs.push(Vec::new());
                }
                let (x, y) = (round(left + slot * (*i as f64 + 0.5)), y_of(scaled(chart, *v)));
                if let Some(run) = runs.last_mut() {
                    run.push(format!("{x},{y}"));
                }
                prev = Some(*i);
                let text = value_text(chart, *v);
                out.dots.push(Dot { x, y, fill: colour, tip: format!("{} · {} {text}", chart.labels[*i], s.name) });
                out.values.push(Label { x, y: y - 8.0, text, anchor: "middle" });
            }
            out.lines.extend(runs.into_iter().map(|r| Line { points: r.join(" "), stroke: colour }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::Series;

    fn chart(shape: Shape, percent: bool, values: Vec<Option<f64>>) -> Chart {
        Chart {
            title: "按时率".into(),
            shape,
            percent,
            labels: (0..values.len()).map(|i| format!("第{i}责任区")).collect(),
            series: vec![Series { name: "按时率".into(), values }],
        }
    }

    #[test]
    fn columns_stand_on_the_axis_at_their_share() {
        let c = layout(&chart(Shape::Columns, true, vec![Some(0.5), None, Some(1.0)]));
        assert_eq!(c.bars.len(), 2, "no bar where there is nothing to divide by");
        let (_, upper, _, lower) = c.frame;
        let full = &c.bars[1];
        assert!((full.y - upper).abs() < 0.11 && (full.y + full.h - lower).abs() < 0.11, "{full:?}");
        assert!((c.bars[0].h * 2.0 - full.h).abs() < 0.3);
        assert_eq!(c.rows[1], vec!["第1责任区".to_string(), "—".to_string()]);
        assert_eq!(c.ticks.len(), 11);
        assert_eq!(c.ticks.last().unwrap().text, "100%");
        assert!(c.bars[0].tip.contains("50.0%"), "{:?}", c.bars[0]);
    }

    #[test]
    fn lines_break_at_gaps_and_bars_run_sideways() {
        let c = layout(&chart(Shape::Line, true, vec![Some(0.2), Some(0.4), None, Some(0.9)]));
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.dots.len(), 3);
        let b = layout(&chart(Shape::Bars, false, vec![Some(3.0), Some(1.0)]));
        assert_eq!(b.bars.len(), 2);
        assert!(b.bars[0].w > b.bars[1].w * 2.5);
        assert_eq!(b.labels[0].anchor, "end");
    }

    #[test]
    fn long_category_lists_are_cut_like_the_png() {
        let c = layout(&chart(Shape::Columns, false, vec![Some(1.0); MAX_CATEGORIES + 5]));
        assert_eq!(c.bars.len(), MAX_CATEGORIES);
        assert_eq!(c.rows.len(), MAX_CATEGORIES);
    }
}
