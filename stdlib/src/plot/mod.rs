//! Plots for scripts and notebooks: training curves, measure bars with
//! confidence intervals, per-query deltas, recall@k curves and 2-D embedding
//! maps. Drawn with plotters as SVG; PNG is the SVG rasterised with a bundled
//! font (DejaVu Sans), so no system font is needed.

mod chart;
mod figures;
mod render;

pub use chart::{Bar, Bars, Chart, Lines, Points};
pub use figures::{embedding_map, measure_bars, query_deltas, recall_curves, training_curves};
pub use render::{Plot, render_svg_png};
