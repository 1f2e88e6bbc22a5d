//! Training: schedules now; the trainer, checkpoints and history come next.

mod schedule;

pub use schedule::{Schedule, warmup_steps};
