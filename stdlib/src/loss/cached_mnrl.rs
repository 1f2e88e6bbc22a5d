//! CachedMultipleNegativesRankingLoss (GradCache, Gao et al. 2021): the same
//! loss and gradients as MNRL, with the memory of one mini-batch. Embed every
//! mini-batch without a graph, compute the loss and its gradient with respect
//! to the embeddings, then embed each mini-batch again with a graph and
//! backpropagate that gradient through it. The loss itself is MNRL's code.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::inputs::example_texts;
use crate::loss::mnrl::check_mnrl;
use crate::loss::{Batch, Loss, ModelRef, MultipleNegativesRankingLoss, Role, detached};

/// GradCache over MultipleNegativesRankingLoss.
#[derive(Debug, Clone, Copy)]
pub struct CachedMultipleNegativesRankingLoss {
    /// The loss being computed.
    pub inner: MultipleNegativesRankingLoss,
    /// Texts per forward pass (sentence-transformers: 32).
    pub mini_batch: usize,
}

impl Default for CachedMultipleNegativesRankingLoss {
    fn default() -> Self {
        Self {
            inner: MultipleNegativesRankingLoss::default(),
            mini_batch: 32,
        }
    }
}

/// The dropout stream of mini-batch `chunk` of text group `group`: the same in
/// both passes, so the second pass reproduces the first one's embeddings.
fn part(group: usize, chunk: usize) -> u64 {
    ((group as u64) << 32) | chunk as u64
}

impl Loss for CachedMultipleNegativesRankingLoss {
    fn name(&self) -> &'static str {
        match self.inner.similarity {
            crate::loss::Similarity::MaxSim => "cached-colbert-contrastive",
            _ => "cached-mnrl",
        }
    }
    fn check(&self, data: &TrainingData) -> Result<()> {
        check_mnrl(self.name(), data)
    }
    fn in_batch_negatives(&self) -> bool {
        true
    }
    fn forward(&self, model: ModelRef, batch: &Batch) -> Result<Tensor> {
        self.inner.forward(model, batch)
    }
    fn backward(&self, model: ModelRef, batch: &Batch, scale: f64) -> Result<(f64, GradStore)> {
        let model = model.bi(self.name())?;
        let mini = self.mini_batch.max(1);
        let groups = example_texts(&batch.examples());
        let role = |g: usize| if g == 0 { Role::Query } else { Role::Document };
        // Pass 1: embeddings as leaves, no graph through the model.
        let mut leaves: Vec<Vec<Var>> = Vec::with_capacity(3);
        for (g, texts) in groups.iter().enumerate() {
            let mut chunks = Vec::new();
            for (c, chunk) in texts.chunks(mini).enumerate() {
                chunks.push(Var::from_tensor(&model.embed(
                    chunk,
                    role(g),
                    part(g, c),
                    false,
                )?)?);
            }
            leaves.push(chunks);
        }
        let joined = |g: usize| -> Result<Option<Tensor>> {
            if leaves[g].is_empty() {
                return Ok(None);
            }
            let parts: Vec<&Tensor> = leaves[g].iter().map(|v| v.as_tensor()).collect();
            Ok(Some(Tensor::cat(&parts, 0)?))
        };
        let (Some(a), Some(p)) = (joined(0)?, joined(1)?) else {
            return Err(crate::Error::InvalidArgument("an empty batch".into()));
        };
        let loss = self.inner.loss(&a, &p, joined(2)?.as_ref())?;
        let value = loss.to_scalar::<f32>()? as f64;
        let embedding_grads = (loss * scale)?.backward()?;
        // Pass 2: each mini-batch again with its graph, driven by its cached gradient.
        let mut grads = GradStore::default();
        for (g, texts) in groups.iter().enumerate() {
            for (c, chunk) in texts.chunks(mini).enumerate() {
                let Some(d) = embedding_grads.get(leaves[g][c].as_tensor()) else {
                    continue;
                };
                let e = model.embed(chunk, role(g), part(g, c), true)?;
                grads.extend(detached((e * d)?.sum_all()?.backward()?))?;
            }
        }
        Ok((value, grads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::training::Example;
    use crate::loss::testing::{TableEmbedder, scalar};

    #[test]
    fn same_loss_and_gradients_as_mnrl() {
        let texts: Vec<String> = (0..7)
            .flat_map(|i| [format!("q{i}"), format!("d{i}"), format!("n{i}")])
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let dim = 4;
        let values: Vec<f32> = (0..refs.len() * dim)
            .map(|i| ((i * 7919 % 113) as f32 / 56.0) - 1.0)
            .collect();
        let data = TrainingData::Examples(
            (0..7)
                .map(|i| Example {
                    negatives: vec![format!("n{i}")],
                    ..Example::pair(format!("q{i}"), format!("d{i}"))
                })
                .collect(),
        );
        let all: Vec<usize> = (0..7).collect();
        let batch = Batch {
            data: &data,
            indices: &all,
        };
        for symmetric in [false, true] {
            let inner = MultipleNegativesRankingLoss {
                scale: 20.0,
                symmetric,
                ..Default::default()
            };
            // Loss and table gradient of a loss.
            let run = |l: &dyn Loss| {
                let e = TableEmbedder::new(&refs, &values, dim);
                let (v, g) = l.backward(ModelRef::Bi(&e), &batch, 0.5).unwrap();
                let grad: Vec<f32> = g
                    .get(&e.table)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                (
                    v,
                    grad,
                    scalar(&l.forward(ModelRef::Bi(&e), &batch).unwrap()),
                )
            };
            let (want, want_grad, _) = run(&inner);
            // Mini-batches of 3 split every group unevenly.
            let cached = CachedMultipleNegativesRankingLoss {
                inner,
                mini_batch: 3,
            };
            let (got, got_grad, forward) = run(&cached);
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
            assert!((forward - want).abs() < 1e-6);
            let worst = got_grad
                .iter()
                .zip(&want_grad)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "largest gradient difference {worst}");
            assert!(want_grad.iter().any(|v| v.abs() > 1e-3));
        }
    }
}
