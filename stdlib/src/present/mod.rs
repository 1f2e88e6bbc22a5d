//! Presentation for notebooks: HTML tables and evcxr's display convention. This
//! is how results look in a front end (the kernel's rich output, evcxr_jupyter),
//! kept apart from the evaluator and the plots that compute them.

#[cfg(feature = "evcxr")]
mod evcxr;
mod html;

#[cfg(feature = "evcxr")]
pub use evcxr::evcxr_block;
pub use html::{
    format_comparison_html, format_html, html_escape, means_html, qrels_html, run_html,
};
