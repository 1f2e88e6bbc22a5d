//! The Rhai engine with rankbook's functions registered.

mod api_doc;
mod bindings;
mod engine;
mod error;
pub mod host;
mod late;
mod live;
mod plots;
mod retrieval;
mod sharding;
mod training;

pub use api_doc::{
    ApiFunction, api_reference, describe_function, doc_of, friendly_signature, registered,
};
pub use bindings::register;
pub use engine::{Limits, new_engine, new_engine_with};
pub use error::{ErrorKind, ScriptError, describe_error, error_message};
pub use live::DisplayProgress;
