//! What a plot shows, independent of how it is drawn.

/// Named series of (x, y) points drawn as lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Lines {
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// (name, points) per series.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

/// A bar's value and optional interval `(low, high)`.
pub type Bar = (f64, Option<(f64, f64)>);

/// Grouped bars: one group per category, one bar per series, each with an
/// optional interval (whisker).
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Category names (x axis).
    pub categories: Vec<String>,
    /// (name, one bar per category) per series.
    pub series: Vec<(String, Vec<Bar>)>,
}

/// Labelled points.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// (group name, points) per group (one colour each).
    pub groups: Vec<(String, Vec<(f64, f64)>)>,
}

/// One panel of a plot.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Line series.
    Lines(Lines),
    /// Grouped bars.
    Bars(Bars),
    /// Scatter.
    Points(Points),
}
