//! The `Encoder` trait: token ids in, contextual token embeddings out.
//!
//! Each architecture (BERT now; DistilBERT, XLM-R, ModernBERT later) implements it,
//! and so does the fast CPU inference path, so pooling and heads never care which.

use candle_core::Tensor;

use crate::compute::dropout::Dropout;
use crate::error::Result;
use crate::model::batch::TokenBatch;

/// A transformer that maps a padded batch to `(batch, seq_len, hidden)` embeddings.
pub trait Encoder: Send + Sync {
    /// Token embeddings of the last layer, `(batch, seq_len, hidden)`, f32.
    fn forward(&self, batch: &TokenBatch) -> Result<Tensor>;
    /// [`Encoder::forward`] with dropout masks from `dropout` (training).
    fn forward_t(&self, batch: &TokenBatch, _dropout: Option<&Dropout>) -> Result<Tensor> {
        self.forward(batch)
    }
    /// Width of the token embeddings.
    fn hidden_size(&self) -> usize;
    /// Longest input the position embeddings allow.
    fn max_positions(&self) -> usize;
    /// Token embeddings of the real tokens only, text after text, `(tokens, hidden)`
    /// row-major; None when the encoder only produces padded tensors.
    fn forward_packed(&self, _batch: &TokenBatch) -> Option<Result<Vec<f32>>> {
        None
    }
}
