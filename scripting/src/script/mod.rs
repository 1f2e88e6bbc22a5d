//! The Rhai engine with rankbook's functions registered.

mod api_doc;
mod bindings;
pub mod host;
mod live;
mod plots;
mod retrieval;
mod runner;
mod training;

pub use api_doc::{ApiFunction, api_reference, doc_of, friendly_signature, registered};
pub use bindings::register;
pub use live::DisplayProgress;
pub use runner::{
    Limits, ScriptError, describe_error, error_message, new_engine, new_engine_with, run_file,
    snippet_with,
};
