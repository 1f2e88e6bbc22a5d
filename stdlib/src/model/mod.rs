//! Models: resolution, tokenisation, architectures, back-ends and the model
//! kinds built on them (sentence encoders, cross-encoders, SPLADE).

pub mod arch;
pub mod backbone;
pub mod backend;
pub mod batch;
pub mod colbert;
pub mod cross_encoder;
pub mod dense;
pub mod device;
#[cfg(feature = "hub")]
mod download;
pub mod encoder;
pub mod head;
pub mod identity;
pub mod pooling;
pub mod resolve;
pub mod sentence;
pub mod splade;
pub mod st_folder;
pub mod task_head;
pub mod tokenize;
pub mod weights;

pub use backend::Backend;
pub use identity::EncoderIdentity;
pub use resolve::resolve_model;
pub use sentence::{EncodeOptions, EncodeStats, ModelOptions, SentenceEncoder};
