//! rankbook's Jupyter kernel: Rhai cells over the compiled core. The
//! interpreter knows nothing of the transport; the server only converts
//! messages.

pub mod interpreter;
pub mod kernelspec;
mod logo;
pub mod server;
pub mod wire;
