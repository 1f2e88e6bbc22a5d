//! evcxr's display convention: a type with an `evcxr_display` method is shown
//! rich in evcxr_jupyter (Rust notebooks), from what it prints between
//! `EVCXR_BEGIN_CONTENT <mime>` and `EVCXR_END_CONTENT`.

use crate::eval::{Comparison, Evaluation};
#[cfg(feature = "plot")]
use crate::plot::Plot;
use crate::present::{format_comparison_html, format_html};

/// One evcxr content block.
pub fn evcxr_block(mime: &str, data: &str) -> String {
    format!("EVCXR_BEGIN_CONTENT {mime}\n{data}\nEVCXR_END_CONTENT\n")
}

#[cfg(feature = "plot")]
impl Plot {
    /// The plot's evcxr blocks (SVG and PNG).
    pub fn evcxr_content(&self) -> String {
        match self.mime_bundle() {
            Ok(bundle) => bundle
                .iter()
                .filter(|(m, _)| *m != "text/plain")
                .map(|(m, d)| evcxr_block(m, d))
                .collect(),
            Err(e) => evcxr_block("text/plain", &e.to_string()),
        }
    }

    /// Shows the plot in evcxr_jupyter.
    pub fn evcxr_display(&self) {
        print!("{}", self.evcxr_content());
    }
}

impl Comparison {
    /// Shows the comparison as an HTML table in evcxr_jupyter.
    pub fn evcxr_display(&self) {
        print!(
            "{}",
            evcxr_block("text/html", &format_comparison_html(self))
        );
    }
}

impl Evaluation {
    /// Shows the evaluation as an HTML table in evcxr_jupyter.
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &format_html(self)));
    }
}

#[cfg(all(test, feature = "plot"))]
mod tests {
    use super::*;
    use crate::plot::{Chart, Lines};

    #[test]
    fn blocks_follow_evcxrs_convention() {
        assert_eq!(
            evcxr_block("text/html", "<b>x</b>"),
            "EVCXR_BEGIN_CONTENT text/html\n<b>x</b>\nEVCXR_END_CONTENT\n"
        );
        let p = Plot::new(
            "t",
            Chart::Lines(Lines {
                x_label: "x".into(),
                y_label: "y".into(),
                series: vec![("s".into(), vec![(0.0, 1.0), (1.0, 2.0)])],
            }),
        );
        let c = p.evcxr_content();
        assert!(
            c.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"),
            "{}",
            &c[..60]
        );
        assert!(c.contains("EVCXR_BEGIN_CONTENT image/png\niVBOR"));
        assert_eq!(c.matches("EVCXR_END_CONTENT").count(), 2);
    }
}
