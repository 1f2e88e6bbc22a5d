//! Drawing charts to SVG (plotters) and PNG (the SVG rasterised by resvg with
//! the bundled font).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::atomic::write_atomically;
use crate::error::{Error, Result};
use crate::plot::chart::{Bars, Chart, Lines, Points};

/// DejaVu Sans (Bitstream Vera licence, see assets/DejaVuSans.LICENSE).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// A titled figure of one or more stacked panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// The title.
    pub title: String,
    /// Panels, top to bottom.
    pub panels: Vec<Chart>,
    /// Size in pixels.
    pub size: (u32, u32),
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("plot: {e}"))
}

/// A colour per series, readable on white.
fn colour(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

/// `(min, max)` of values, widened when flat and padded by 5%.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

/// Most category names written under a bar chart.
const MAX_TICKS: usize = 30;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type XyChart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart over `x` and `y` with labelled axes and its mesh drawn.
fn xy_chart<'a, 'b>(
    area: &'a Area<'b>,
    x: (f64, f64),
    y: (f64, f64),
    x_label: &str,
    y_label: &str,
) -> Result<XyChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(plot_error)?;
    Ok(chart)
}

/// The legend of the series drawn so far.
fn legend<'a, 'b: 'a>(chart: &mut XyChart<'a, 'b>) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

fn draw_lines(area: &Area, l: &Lines) -> Result<()> {
    let x = range(l.series.iter().flat_map(|s| s.1.iter().map(|p| p.0)));
    let y = range(l.series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
    let mut chart = xy_chart(area, x, y, &l.x_label, &l.y_label)?;
    for (i, (name, points)) in l.series.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(plot_error)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    legend(&mut chart)
}

fn draw_bars(area: &Area, b: &Bars) -> Result<()> {
    let n = b.series.len().max(1) as f64;
    let values = b.series.iter().flat_map(|s| {
        s.1.iter().flat_map(|(v, ci)| {
            [Some(*v), ci.map(|c| c.0), ci.map(|c| c.1)]
                .into_iter()
                .flatten()
        })
    });
    let (y0, y1) = range(values.chain([0.0]));
    let cats = b.categories.len();
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        // Categories at integers, so the axis's ticks (step 1) fall on them.
        .build_cartesian_2d(-0.5..cats as f64 - 0.5, y0..y1)
        .map_err(plot_error)?;
    // Many categories (per-query bars) are a shape, not labels.
    let names = if cats > MAX_TICKS {
        Vec::new()
    } else {
        b.categories.clone()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cats.clamp(1, MAX_TICKS))
        .x_label_formatter(&move |x| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            names.get(i as usize).cloned().unwrap_or_default()
        })
        .x_desc(b.x_label.as_str())
        .y_desc(b.y_label.as_str())
        .draw()
        .map_err(plot_error)?;
    let width = 0.8 / n;
    for (si, (name, vals)) in b.series.iter().enumerate() {
        let c = colour(si);
        let left = |ci: usize| ci as f64 - 0.4 + si as f64 * width;
        chart
            .draw_series(vals.iter().enumerate().map(|(ci, (v, _))| {
                Rectangle::new([(left(ci), 0.0), (left(ci) + width * 0.9, *v)], c.filled())
            }))
            .map_err(plot_error)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart
            .draw_series(vals.iter().enumerate().filter_map(|(ci, (_, ci_range))| {
                let (lo, hi) = (*ci_range)?;
                let x = left(ci) + width * 0.45;
                Some(PathElement::new(
                    vec![(x, lo), (x, hi)],
                    BLACK.stroke_width(2),
                ))
            }))
            .map_err(plot_error)?;
    }
    legend(&mut chart)
}

fn draw_points(area: &Area, p: &Points) -> Result<()> {
    let x = range(p.groups.iter().flat_map(|g| g.1.iter().map(|q| q.0)));
    let y = range(p.groups.iter().flat_map(|g| g.1.iter().map(|q| q.1)));
    let mut chart = xy_chart(area, x, y, &p.x_label, &p.y_label)?;
    for (i, (name, points)) in p.groups.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(points.iter().map(|&q| Circle::new(q, 3, c.filled())))
            .map_err(plot_error)?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
    }
    legend(&mut chart)
}

/// The font database: only the bundled font, as every generic family.
fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static DB: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = resvg::usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        db.set_serif_family("DejaVu Sans");
        db.set_monospace_family("DejaVu Sans");
        Arc::new(db)
    })
    .clone()
}

/// Rasterises an SVG document to PNG bytes of `size` pixels, text in the
/// bundled font.
pub fn render_svg_png(svg: &str, size: (u32, u32)) -> Result<Vec<u8>> {
    let options = resvg::usvg::Options {
        fontdb: fonts(),
        ..Default::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(plot_error)?;
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.0, size.1).ok_or_else(|| plot_error("empty size"))?;
    let scale = (
        size.0 as f32 / tree.size().width(),
        size.1 as f32 / tree.size().height(),
    );
    let transform = resvg::tiny_skia::Transform::from_scale(scale.0, scale.1);
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    pixmap.encode_png().map_err(plot_error)
}

impl Plot {
    /// A plot of one panel.
    pub fn new(title: impl Into<String>, chart: Chart) -> Self {
        Self {
            title: title.into(),
            panels: vec![chart],
            size: (800, 500),
        }
    }

    /// The plot as an SVG document.
    pub fn to_svg(&self) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            root.fill(&WHITE).map_err(plot_error)?;
            let root = root
                .titled(&self.title, ("sans-serif", 22))
                .map_err(plot_error)?;
            let areas = root.split_evenly((self.panels.len().max(1), 1));
            for (area, chart) in areas.iter().zip(&self.panels) {
                match chart {
                    Chart::Lines(l) => draw_lines(area, l)?,
                    Chart::Bars(b) => draw_bars(area, b)?,
                    Chart::Points(p) => draw_points(area, p)?,
                }
            }
            root.present().map_err(plot_error)?;
        }
        Ok(svg)
    }

    /// The plot as PNG bytes (the SVG rasterised with the bundled font).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        render_svg_png(&self.to_svg()?, self.size)
    }

    /// Writes the plot to `path`, as SVG or PNG by its extension (atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => self.to_svg()?.into_bytes(),
            Some("png") => self.to_png()?,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{}: a plot is saved as .svg or .png",
                    path.display()
                )));
            }
        };
        write_atomically(path, |w| {
            use std::io::Write;
            w.write_all(&bytes).map_err(|e| Error::io(path, e))
        })
    }

    /// A MIME bundle for notebooks: SVG, PNG (base64) and a text fallback.
    pub fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        Ok(vec![
            ("image/svg+xml", self.to_svg()?),
            (
                "image/png",
                base64::engine::general_purpose::STANDARD.encode(self.to_png()?),
            ),
            ("text/plain", format!("<plot: {}>", self.title)),
        ])
    }
}
