//! The evaluator: trec_eval's measures under ir_measures' names, per query and
//! averaged; comparisons with significance tests.

pub(crate) mod compare;
mod evaluate;
mod judged;
mod measure;
mod report;
pub mod stats;

pub use compare::{
    CompareOptions, Comparison, SystemScores, compare, format_comparison, format_comparison_json,
};
pub use evaluate::{EvalOptions, Evaluation, EvaluationPart, evaluate, evaluate_file};
pub use judged::JudgedRanking;
pub use measure::{Aggregate, Measure, MeasureKind, Param, measure_names, parse_measures};
pub use report::{format_json, format_per_query, format_table};
pub use stats::{Correction, Test};
