//! Training: the loop and its optimiser, learning-rate schedules, validation,
//! checkpoints, history and callbacks (kept apart, as in burn-train).

pub mod checkpoint;
pub mod config;
mod embedder;
mod head_trainee;
pub mod history;
mod optimizer;
pub mod request;
mod schedule;
pub mod trainee;
mod trainer;
pub mod validation;

pub use checkpoint::{Best, TrainerState};
pub use config::{BatchSampler, EarlyStopping, TrainConfig};
pub use embedder::ModelEmbedder;
pub use head_trainee::FrozenEncoderHead;
pub use history::{EvalRecord, HistoryRecord, StepRecord, read_history};
pub use optimizer::{GroupedAdamW, exempt_from_decay};
pub use request::{FitRequest, Prepared, StartModel, ValidationRequest};
pub use schedule::{Schedule, warmup_steps};
pub use trainee::{Scoring, Trainee};
pub use trainer::{FitOptions, FitOutcome, NoCallback, StopReason, TrainCallback, fit};
pub use validation::Validation;
