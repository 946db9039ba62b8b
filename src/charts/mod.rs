//! Charts (统计图) as PNG images for chat: [`Chart`] is what to draw — pure data built from the
//! statistics in `figures` — and [`render`] draws charts into one PNG with a CJK font given as
//! bytes. Synchronous, no I/O; finding and loading the font from disk is `font`.

pub mod figures;
pub mod font;
pub mod svg;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// How a chart shows its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Vertical bars, the series side by side in each category.
    Columns,
    /// Horizontal bars (long category names: problem categories).
    Bars,
    /// A line through the categories in order (a trend over time).
    Line,
}

/// One named series of values, one per category; `None` where there is no value (a rate with
/// nothing to divide by), drawn as a gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// One chart: a title, category labels and series over them.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub shape: Shape,
    /// Values are shares in 0..=1, shown as percentages on a 0–100 % axis.
    pub percent: bool,
    pub labels: Vec<String>,
    pub series: Vec<Series>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("no chart to draw")]
    Empty,
    #[error("the font cannot be used: {0}")]
    Font(String),
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] png::EncodingError),
}

/// Width of the image in pixels.
pub const WIDTH: u32 = 960;
/// Height of one chart in the image; charts are stacked.
pub const CHART_HEIGHT: u32 = 540;
/// Categories beyond this are left out of a chart (the text lists them all).
pub const MAX_CATEGORIES: usize = 24;

/// The name charts' text is drawn with (plotters keeps fonts in a process-wide table).
const FAMILY: &str = "dudao-cjk";

/// Series colours, readable on white and for the common colour-vision deficiencies.
const COLOURS: [RGBColor; 4] =
    [RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xff, 0x7f, 0x0e), RGBColor(0x2c, 0xa0, 0x2c), RGBColor(0x94, 0x67, 0xbd)];

/// Makes `font` the one charts draw text with. It is kept for the life of the process, since
/// plotters' font table holds `'static` data; a later call replaces the font.
pub fn use_font(font: &'static [u8]) -> Result<(), ChartError> {
    plotters::style::register_font(FAMILY, FontStyle::Normal, font)
        .map_err(|_| ChartError::Font("not an OpenType/TrueType font".into()))
}

/// Draws `charts` one under another into a PNG of [`WIDTH`] × (`CHART_HEIGHT` × their number).
/// Text needs the font given to [`use_font`] first.
pub fn render(charts: &[Chart]) -> Result<Vec<u8>, ChartError> {
    if charts.is_empty() {
        return Err(ChartError::Empty);
    }
    let height = CHART_HEIGHT * charts.len() as u32;
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        for (area, chart) in root.split_evenly((charts.len(), 1)).iter().zip(charts) {
            draw(area, chart)?;
        }
        root.present().map_err(draw_error)?;
    }
    encode(&rgb, WIDTH, height)
}

fn draw_error(e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(e.to_string())
}

fn encode(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(rgb)?;
        w.finish()?;
    }
    Ok(out)
}

/// A label cut to `max` characters (with "…"), so long names do not run into each other.
pub(crate) fn short(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        return label.to_string();
    }
    let mut s: String = label.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The top of the value axis: 100 % for shares, else the largest value with some headroom
/// (at least 1, so an all-zero chart still has an axis).
pub(crate) fn axis_top(chart: &Chart, n: usize) -> f64 {
    if chart.percent {
        return 100.0;
    }
    let max = chart.series.iter().flat_map(|s| s.values.iter().take(n).flatten()).fold(0.0f64, |a, b| a.max(*b));
    (max * 1.15).max(1.0).ceil()
}

pub(crate) fn scaled(chart: &Chart, v: f64) -> f64 {
    if chart.percent {
        v * 100.0
    } else {
        v
    }
}

pub(crate) fn value_text(chart: &Chart, v: f64) -> String {
    if chart.percent {
        format!("{:.1}%", v * 100.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, chart: &Chart) -> Result<(), ChartError> {
    let n = chart.labels.len().min(MAX_CATEGORIES);
    let top = axis_top(chart, n);
    let labels: Vec<String> = chart.labels.iter().take(n).cloned().collect();
    let k = chart.series.len().max(1);
    let font = |size: f64| (FAMILY, size).into_font();
    let title_style = font(26.0).color(&BLACK);
    let label_style = font(15.0).color(&BLACK);
    let value_style = font(15.0).color(&RGBColor(0x33, 0x33, 0x33));
    let unit = if chart.percent { "%" } else { "" };
    // Counts have whole ticks only; a tick between two whole numbers stays blank.
    let y_fmt = |v: &f64| if v.fract().abs() < 1e-9 { format!("{v:.0}{unit}") } else { String::new() };
    // Few value ticks for small counts (0, 1, 2, 3 rather than 0, 0.3, 0.6 …).
    let value_ticks = if chart.percent { 11 } else { (top as usize).clamp(1, 10) + 1 };

    match chart.shape {
        Shape::Columns | Shape::Line => {
            let mut ctx = ChartBuilder::on(area)
                .caption(&chart.title, title_style)
                .margin(16)
                .x_label_area_size(56)
                .y_label_area_size(56)
                .build_cartesian_2d(0f64..(n.max(1) as f64), 0f64..top)
                .map_err(draw_error)?;
            let tick = |x: &f64| {
                let i = x.floor() as usize;
                // Labels sit at the middle of their slot; other ticks stay blank.
                if (x - (i as f64 + 0.5)).abs() < 1e-6 && i < labels.len() {
                    short(&labels[i], if n > 8 { 4 } else { 8 })
                } else {
                    String::new()
                }
            };
            ctx.configure_mesh()
                .disable_x_mesh()
                .light_line_style(WHITE)
                .y_labels(value_ticks)
                .x_labels(n.max(1) * 2 + 1)
                .x_label_formatter(&tick)
                .y_label_formatter(&y_fmt)
                .x_label_style(label_style.clone())
                .y_label_style(label_style.clone())
                .draw()
                .map_err(draw_error)?;
            for (si, s) in chart.series.iter().enumerate() {
                let colour = COLOURS[si % COLOURS.len()];
                let points: Vec<(usize, f64)> =
                    s.values.iter().take(n).enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
                if chart.shape == Shape::Columns {
                    let w = 0.8 / k as f64;
                    let bars = points.iter().map(|(i, v)| {
                        let x0 = *i as f64 + 0.1 + w * si as f64;
                        Rectangle::new([(x0, 0.0), (x0 + w * 0.92, scaled(chart, *v))], colour.filled())
                    });
                    ctx.draw_series(bars)
                        .map_err(draw_error)?
                        .label(&s.name)
                        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
                    if n <= 12 {
                        let texts = points.iter().map(|(i, v)| {
                            let x = *i as f64 + 0.1 + w * si as f64;
                            Text::new(value_text(chart, *v), (x, scaled(chart, *v) + top * 0.045), value_style.clone())
                        });
                        ctx.draw_series(texts).map_err(draw_error)?;
                    }
                } else {
                    // A gap where there is no value: each run of consecutive points is one line.
                    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
                    let mut prev: Option<usize> = None;
                    for (i, v) in &points {
                        if prev != Some(i.wrapping_sub(1)) || runs.is_empty() {
                            runs.push(Vec::new());
                        }
                        if let Some(run) = runs.last_mut() {
                            run.push((*i as f64 + 0.5, scaled(chart, *v)));
                        }
                        prev = Some(*i);
                    }
                    let style = colour.stroke_width(3);
                    ctx.draw_series(runs.into_iter().map(|r| PathElement::new(r, style)))
                        .map_err(draw_error)?
                        .label(&s.name)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(3)));
                    ctx.draw_series(
                        points
                            .iter()
                            .map(|(i, v)| Circle::new((*i as f64 + 0.5, scaled(chart, *v)), 5, colour.filled())),
                    )
                    .map_err(draw_error)?;
                    let texts = points.iter().map(|(i, v)| {
                        Text::new(
                            value_text(chart, *v),
                            (*i as f64 + 0.35, scaled(chart, *v) + top * 0.06),
                            value_style.clone(),
                        )
                    });
                    ctx.draw_series(texts).map_err(draw_error)?;
                }
            }
            ctx.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(label_style)
                .draw()
                .map_err(draw_error)?;
        }
        Shape::Bars => {
            // Categories top to bottom in the order given.
            let mut ctx = ChartBuilder::on(area)
                .caption(&chart.title, title_style)
                .margin(16)
                .x_label_area_size(40)
                .y_label_area_size(190)
                .build_cartesian_2d(0f64..top, 0f64..(n.max(1) as f64))
                .map_err(draw_error)?;
            let tick = |y: &f64| {
                let i = y.floor() as usize;
                if (y - (i as f64 + 0.5)).abs() < 1e-6 && i < labels.len() {
                    short(&labels[n - 1 - i], 12)
                } else {
                    String::new()
                }
            };
            ctx.configure_mesh()
                .disable_y_mesh()
                .light_line_style(WHITE)
                .x_labels(value_ticks)
                .y_labels(n.max(1) * 2 + 1)
                .y_label_formatter(&tick)
                .x_label_formatter(&y_fmt)
                .x_label_style(label_style.clone())
                .y_label_style(label_style)
                .draw()
                .map_err(draw_error)?;
            let colour = COLOURS[0];
            if let Some(s) = chart.series.first() {
                let points: Vec<(usize, f64)> =
                    s.values.iter().take(n).enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
                let row = |i: usize| (n - 1 - i) as f64;
                ctx.draw_series(points.iter().map(|(i, v)| {
                    Rectangle::new([(0.0, row(*i) + 0.15), (scaled(chart, *v), row(*i) + 0.85)], colour.filled())
                }))
                .map_err(draw_error)?;
                ctx.draw_series(points.iter().map(|(i, v)| {
                    Text::new(
                        value_text(chart, *v),
                        (scaled(chart, *v) + top * 0.01, row(*i) + 0.7),
                        value_style.clone(),
                    )
                }))
                .map_err(draw_error)?;
            }
        }
    }
    Ok(())
}

/// Whether a chart font is available to tests: in CI (`CI=true`) a missing font fails the
/// test loudly — .ci/run installs fonts-noto-cjk — elsewhere the test is skipped with a notice.
/// (`tests/common` has the same for the integration tests.)
#[cfg(test)]
fn font_for_tests() -> bool {
    match font::ensure("") {
        Ok(_) => true,
        Err(why) if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!("no chart font in CI ({why}): .ci/run should have installed fonts-noto-cjk")
        }
        Err(why) => {
            eprintln!("NOTICE: chart test skipped, no CJK font ({why}); apt-get install fonts-noto-cjk to run it");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width, height and RGB pixels of a PNG.
    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = dec.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG image data");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn zones_chart(title: &str) -> Chart {
        Chart {
            title: title.into(),
            shape: Shape::Columns,
            percent: true,
            labels: vec!["第一督学责任区".into(), "第二督学责任区".into(), "城区责任区".into()],
            series: vec![
                Series { name: "按期报送率".into(), values: vec![Some(0.8), Some(0.5), None] },
                Series { name: "报送率".into(), values: vec![Some(1.0), Some(0.75), Some(0.0)] },
            ],
        }
    }

    fn trend() -> Chart {
        Chart {
            title: "整改率趋势（按月）".into(),
            shape: Shape::Line,
            percent: true,
            labels: vec!["2026年9月".into(), "2026年10月".into(), "2026年11月".into(), "2026年12月".into()],
            series: vec![Series { name: "整改率".into(), values: vec![Some(0.4), None, Some(0.6), Some(0.9)] }],
        }
    }

    fn categories() -> Chart {
        Chart {
            title: "问题按类别分布".into(),
            shape: Shape::Bars,
            percent: false,
            labels: crate::domain::monthly::CATEGORIES.iter().map(|c| c.to_string()).collect(),
            series: vec![Series {
                name: "问题数".into(),
                values: (0..crate::domain::monthly::CATEGORIES.len()).map(|i| Some((i * 2 % 7) as f64)).collect(),
            }],
        }
    }

    #[test]
    fn nothing_to_draw_is_an_error() {
        assert!(matches!(render(&[]), Err(ChartError::Empty)));
    }

    #[test]
    fn charts_are_pngs_of_sane_size_and_dimensions() {
        if !font_for_tests() {
            return;
        }
        for charts in [vec![zones_chart("各责任区周报报送率")], vec![trend(), categories()]] {
            let png = render(&charts).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
            assert!(png.len() > 8 * 1024, "a chart with text and bars, not an empty canvas: {} bytes", png.len());
            assert!(png.len() < 2 * 1024 * 1024, "under WeCom's 2 MB image limit: {} bytes", png.len());
            let (w, h, px) = decode(&png);
            assert_eq!((w, h), (WIDTH, CHART_HEIGHT * charts.len() as u32));
            // Drawn in colour on white: the series colour is there, and most of it is white.
            let pixels: Vec<&[u8]> = px.chunks(3).collect();
            let white = pixels.iter().filter(|p| **p == [255u8, 255, 255]).count();
            let blue = pixels.iter().filter(|p| **p == [0x1fu8, 0x77, 0xb4]).count();
            assert!(white > pixels.len() / 2 && blue > 500, "white {white}, series colour {blue}");
        }
    }

    #[test]
    fn chinese_text_is_drawn() {
        if !font_for_tests() {
            return;
        }
        // The same chart with and without a title: the title's glyphs change pixels in the
        // title's band only.
        let (_, _, a) = decode(&render(&[zones_chart("各责任区周报报送率")]).unwrap());
        let (_, _, b) = decode(&render(&[zones_chart("")]).unwrap());
        let row = WIDTH as usize * 3;
        let changed: Vec<usize> =
            (0..a.len() / row).filter(|y| a[y * row..(y + 1) * row] != b[y * row..(y + 1) * row]).collect();
        assert!(!changed.is_empty(), "the title drew nothing");
        // With a font lacking the glyphs nothing (or a box outline) would be drawn; with the
        // title present the plot area below moves down, so rows differ there too — but the
        // very first rows (the title's) must differ.
        assert!(changed[0] < 60, "first changed row {}", changed[0]);
        let dark = a[..row * 50].chunks(3).filter(|p| p.iter().all(|c| *c < 100)).count();
        assert!(dark > 200, "title strokes: {dark} dark pixels");
    }

    #[test]
    fn labels_are_shortened_by_characters() {
        assert_eq!(short("第一督学责任区", 8), "第一督学责任区");
        assert_eq!(short("课程开设和课堂教学", 5), "课程开设…");
        assert_eq!(short("", 3), "");
    }

    #[test]
    fn axis_fits_the_values() {
        let c = Chart {
            title: String::new(),
            shape: Shape::Columns,
            percent: false,
            labels: vec!["甲".into(), "乙".into()],
            series: vec![Series { name: "督导次数".into(), values: vec![Some(12.0), None] }],
        };
        assert!(axis_top(&c, 2) >= 12.0);
        let zero = Chart { series: vec![Series { name: String::new(), values: vec![Some(0.0)] }], ..c.clone() };
        assert_eq!(axis_top(&zero, 1), 1.0);
        assert_eq!(axis_top(&zones_chart(""), 3), 100.0);
        assert_eq!(value_text(&zones_chart(""), 0.8), "80.0%");
        assert_eq!(value_text(&c, 3.0), "3");
    }
}
