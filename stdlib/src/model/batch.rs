//! A padded batch of token ids, the input every encoder takes.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::model::tokenize::TokenIds;
use crate::progress::{CancelFlag, Progress};

/// Texts tokenised per block: bounds memory on large corpora while keeping
/// length-sorted batches tight.
const BLOCK: usize = 16_384;

/// How [`for_each_batch`] cuts and reports.
pub struct BatchOptions<'a> {
    /// Texts per batch.
    pub batch_size: usize,
    /// The padding id.
    pub pad_id: u32,
    /// The progress label.
    pub label: &'static str,
    /// Receives one unit per text.
    pub progress: &'a dyn Progress,
    /// Checked between batches.
    pub cancel: Option<&'a CancelFlag>,
}

/// The encoding loop of every model kind: texts tokenised a block at a time,
/// sorted by length (longest first) so batches pad little, padded per batch;
/// `f` gets each batch and the input positions of its rows.
pub fn for_each_batch<T>(
    texts: &[T],
    tokenize: &dyn Fn(&[T]) -> Result<Vec<TokenIds>>,
    opts: &BatchOptions,
    mut f: impl FnMut(&TokenBatch, &[usize]) -> Result<()>,
) -> Result<()> {
    if opts.batch_size == 0 {
        return Err(Error::InvalidArgument(
            "batch size must be at least 1".into(),
        ));
    }
    opts.progress.start(opts.label, texts.len() as u64);
    for (block_no, block) in texts.chunks(BLOCK).enumerate() {
        let base = block_no * BLOCK;
        let ids = tokenize(block)?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].ids.len()));
        for chunk in order.chunks(opts.batch_size) {
            if let Some(c) = opts.cancel {
                c.check()?;
            }
            let rows: Vec<&TokenIds> = chunk.iter().map(|&i| &ids[i]).collect();
            let batch = TokenBatch::pad(&rows, opts.pad_id);
            let positions: Vec<usize> = chunk.iter().map(|&i| base + i).collect();
            f(&batch, &positions)?;
            opts.progress.advance(chunk.len() as u64);
        }
    }
    opts.progress.finish();
    Ok(())
}

/// Token ids of several texts padded (on the right) to the longest one.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Number of texts.
    pub batch: usize,
    /// Padded length.
    pub seq_len: usize,
    /// `batch * seq_len` ids, row-major.
    pub ids: Vec<u32>,
    /// `batch * seq_len` segment ids.
    pub type_ids: Vec<u32>,
    /// Unpadded length of each text.
    pub lengths: Vec<usize>,
    /// Tokens of each text that attention reads as keys: its first `keys[b]`
    /// (the length, unless a ColBERT query's expansion tokens are not attended
    /// to; they still get outputs).
    pub keys: Vec<usize>,
}

impl TokenBatch {
    /// Pads `texts` to their longest with `pad_id`.
    pub fn pad(texts: &[&TokenIds], pad_id: u32) -> Self {
        let seq_len = texts.iter().map(|t| t.ids.len()).max().unwrap_or(0);
        let batch = texts.len();
        let mut ids = vec![pad_id; batch * seq_len];
        let mut type_ids = vec![0u32; batch * seq_len];
        let mut lengths = Vec::with_capacity(batch);
        let mut keys = Vec::with_capacity(batch);
        for (row, t) in texts.iter().enumerate() {
            let n = t.ids.len();
            ids[row * seq_len..row * seq_len + n].copy_from_slice(&t.ids);
            type_ids[row * seq_len..row * seq_len + n].copy_from_slice(&t.type_ids);
            lengths.push(n);
            keys.push(t.keys.map_or(n, |k| k.min(n)));
        }
        Self {
            batch,
            seq_len,
            ids,
            type_ids,
            lengths,
            keys,
        }
    }

    /// The attention mask (1 for the tokens attended to, 0 for padding and
    /// unattended expansion tokens), `batch * seq_len`.
    pub fn mask(&self) -> Vec<f32> {
        let mut m = vec![0f32; self.batch * self.seq_len];
        for (row, &n) in self.keys.iter().enumerate() {
            m[row * self.seq_len..row * self.seq_len + n].fill(1.0);
        }
        m
    }

    /// Number of real (unpadded) tokens.
    pub fn tokens(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// The ids as a `(batch, seq_len)` u32 tensor.
    pub fn ids_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.ids,
            (self.batch, self.seq_len),
            device,
        )?)
    }

    /// The segment ids as a `(batch, seq_len)` u32 tensor.
    pub fn type_ids_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.type_ids,
            (self.batch, self.seq_len),
            device,
        )?)
    }

    /// The attention mask as a `(batch, seq_len)` f32 tensor.
    pub fn mask_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_vec(
            self.mask(),
            (self.batch, self.seq_len),
            device,
        )?)
    }
}
