//! CPU maths shared by the model back-ends and the flat index: the packed matrix
//! product, vectorised element-wise kernels, dropout masks, and the fused training
//! operations with their own backward passes. Nothing here knows an architecture.

pub mod dropout;
#[doc(hidden)]
pub mod gemm;
pub(crate) mod gemm_bf16;
pub(crate) mod gemm_int8;
pub(crate) mod kernels;
pub(crate) mod linear;
#[doc(hidden)]
pub mod peak;
pub mod precision;
pub(crate) mod rotary;
mod tile;
pub(crate) mod train_attention;
pub(crate) mod train_linear;
pub(crate) mod train_ops;

pub use kernels::HiddenAct;
pub use precision::Precision;
