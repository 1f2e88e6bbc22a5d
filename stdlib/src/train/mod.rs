//! Training: the optimiser and learning-rate schedules so far; the trainer,
//! checkpoints and history come next.

mod optimizer;
mod schedule;

pub use optimizer::{GroupedAdamW, exempt_from_decay};
pub use schedule::{Schedule, warmup_steps};
