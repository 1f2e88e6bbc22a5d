//! The evaluator: trec_eval's measures under ir_measures' names, per query and averaged.

mod evaluate;
mod judged;
mod measure;
mod report;

pub use evaluate::{EvalOptions, Evaluation, evaluate};
pub use judged::JudgedRanking;
pub use measure::{Measure, MeasureKind, parse_measures};
pub use report::{format_html, format_json, format_per_query, format_table};
