//! Models: resolution, tokenisation, encoders and sentence-transformers pipelines.

pub mod batch;
pub mod bert;
pub mod bert_config;
pub mod bert_cpu;
pub(crate) mod cpu_gemm;
mod cpu_kernels;
pub mod cross_encoder;
pub mod dense;
pub mod device;
pub mod dropout;
pub mod encoder;
pub mod fingerprint;
pub mod head;
pub mod pooling;
pub mod resolve;
pub mod sentence;
pub mod splade;
pub mod st_folder;
pub mod tokenize;
pub(crate) mod train_attention;
pub(crate) mod train_linear;
pub(crate) mod train_ops;
pub mod weights;

pub use fingerprint::ModelFingerprint;
pub use resolve::resolve_model;
pub use sentence::{Backend, EncodeOptions, EncodeStats, ModelOptions, SentenceEncoder};
