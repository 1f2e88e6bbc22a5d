//! rankbook's Rhai layer: every core object as a scriptable type. Bindings only
//! convert types; the logic lives in the `rankbook` crate.

pub mod script;

pub use script::{ScriptError, new_engine, run_file};
pub mod session;
pub use session::{CellError, Completeness, Completions, Output, OutputSink, Session, mime_bundle};
