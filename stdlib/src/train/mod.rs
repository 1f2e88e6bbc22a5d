//! Training: the MNRL training loop, its optimiser and learning-rate schedules;
//! checkpoints, evaluation during training and the other losses come next.

mod optimizer;
mod schedule;
mod trainer;

pub use optimizer::{GroupedAdamW, exempt_from_decay};
pub use schedule::{Schedule, warmup_steps};
pub use trainer::{StepRecord, TrainConfig, fit_mnrl};
