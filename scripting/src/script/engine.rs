//! The engine with rankbook registered, and the limits against runaway scripts.
//! Scripts and cells run in a [`crate::Session`]; its interrupt flag is the one
//! way to stop them.

use rhai::Engine;

/// Limits against runaway scripts.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Operations before the script is stopped (0: no limit).
    pub max_operations: u64,
    /// Deepest nesting of function calls.
    pub max_call_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 0,
            max_call_depth: 256,
        }
    }
}

/// An engine with rankbook registered and the default limits.
pub fn new_engine() -> Engine {
    new_engine_with(&Limits::default())
}

/// An engine with rankbook registered and `limits`.
pub fn new_engine_with(limits: &Limits) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_call_levels(limits.max_call_depth);
    engine.set_max_expr_depths(512, 256);
    engine.set_max_operations(limits.max_operations);
    super::register(&mut engine);
    engine
}
