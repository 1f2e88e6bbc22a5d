//! rankbook's Rhai layer: every core object as a scriptable type. Bindings only
//! convert types; the logic lives in the `rankbook` crate.

pub mod script;

pub use script::{Limits, ScriptError, new_engine, new_engine_with, run_file};
pub mod session;
pub use session::{CellError, Completeness, Completions, Output, OutputSink, Session, mime_bundle};
