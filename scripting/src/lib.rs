//! rankbook's Rhai layer: every core object as a scriptable type. Bindings only
//! convert types; the logic lives in the `rankbook` crate.

pub mod script;

pub use script::{ErrorKind, Limits, ScriptError, new_engine, new_engine_with};
pub mod session;
pub use session::{Completeness, Completions, Output, OutputSink, Session, mime_bundle};
