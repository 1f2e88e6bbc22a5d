//! The Rhai engine with rankbook's functions registered.

mod bindings;
mod plots;
mod retrieval;
mod runner;
mod training;

pub use bindings::register;
pub use runner::{ScriptError, new_engine, run_file};
