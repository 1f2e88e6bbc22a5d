//! Test helpers for losses: finite-difference gradient checks and an embedder
//! that looks texts up in a trainable table (one vector per text, or token
//! vectors for late interaction).

use std::collections::HashMap;

use candle_core::{Device, Shape, Tensor, Var};

use crate::data::training::TrainingData;
use crate::error::Result;
use crate::loss::{Batch, Embedder, Loss, ModelRef, Role, Scorer};

/// A scalar tensor's value.
pub fn scalar(x: &Tensor) -> f64 {
    x.to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Checks the gradient of `f` at `x` against central differences.
pub fn assert_gradient<S: Into<Shape> + Copy>(
    x: &[f32],
    shape: S,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) {
    let var = Var::from_vec(x.to_vec(), shape, &Device::Cpu).unwrap();
    let grads = f(var.as_tensor()).unwrap().backward().unwrap();
    let analytic: Vec<f32> = grads
        .get(var.as_tensor())
        .map(|g| g.flatten_all().unwrap().to_vec1().unwrap())
        .unwrap_or_else(|| vec![0.0; x.len()]);
    let at = |v: &[f32]| {
        let t = Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap();
        scalar(&f(&t).unwrap())
    };
    let h = 1e-2f32;
    for i in 0..x.len() {
        let (mut up, mut down) = (x.to_vec(), x.to_vec());
        up[i] += h;
        down[i] -= h;
        let numeric = (at(&up) - at(&down)) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        assert!(
            (numeric - a).abs() < 2e-3 * a.abs().max(1.0),
            "element {i}: finite differences {numeric}, gradient {a}"
        );
    }
}

/// Embeds each text as its row of a trainable table.
pub struct TableEmbedder {
    /// The table, one row per text (a variable's tensor when gradients are wanted).
    pub table: Tensor,
    rows: HashMap<String, u32>,
    /// Token vectors per text (1: a single vector, rank 2 embeddings).
    tokens: usize,
}

impl TableEmbedder {
    /// Row i of `values` (`texts.len()` rows of `dim`) is `texts[i]`'s embedding.
    pub fn new(texts: &[&str], values: &[f32], dim: usize) -> Self {
        Self {
            ..table(
                texts,
                Var::from_vec(values.to_vec(), (texts.len(), dim), &Device::Cpu)
                    .unwrap()
                    .as_tensor()
                    .clone(),
            )
        }
    }
}

impl Embedder for TableEmbedder {
    fn embed(&self, texts: &[&str], _role: Role, _part: u64, track: bool) -> Result<Tensor> {
        let ids: Vec<u32> = texts.iter().map(|t| self.rows[*t]).collect();
        let ids = Tensor::from_vec(ids, texts.len(), &Device::Cpu)?;
        let mut rows = self.table.index_select(&ids, 0)?;
        if self.tokens > 1 {
            let width = rows.dim(1)? / self.tokens;
            rows = rows.reshape((texts.len(), self.tokens, width))?;
        }
        Ok(if track { rows } else { rows.detach() })
    }
}

/// The loss's value on all of `data` with the table at `values`.
pub fn loss_value(
    loss: &dyn Loss,
    texts: &[&str],
    values: &[f32],
    dim: usize,
    data: &TrainingData,
) -> f64 {
    token_loss_value(loss, texts, values, 1, dim, data)
}

/// Checks the loss's gradient with respect to the table by central differences.
pub fn assert_loss_gradient(
    loss: &dyn Loss,
    texts: &[&str],
    values: &[f32],
    dim: usize,
    data: &TrainingData,
) {
    assert_token_loss_gradient(loss, texts, values, 1, dim, data)
}

/// Scores a pair as the dot product of its texts' rows of a table.
impl Scorer for TableEmbedder {
    fn score(&self, pairs: &[(&str, &str)], part: u64, track: bool) -> Result<Tensor> {
        let a: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        let b: Vec<&str> = pairs.iter().map(|p| p.1).collect();
        let (a, b) = (
            self.embed(&a, Role::Query, part, track)?,
            self.embed(&b, Role::Document, part, track)?,
        );
        Ok((a * b)?.sum(1)?)
    }
}

fn table(texts: &[&str], table: Tensor) -> TableEmbedder {
    TableEmbedder {
        table,
        tokens: 1,
        rows: texts
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect(),
    }
}

/// The loss's value on all of `data` for the table scorer at `values`.
pub fn cross_loss_value(
    loss: &dyn Loss,
    texts: &[&str],
    values: &[f32],
    dim: usize,
    data: &TrainingData,
) -> f64 {
    let e = TableEmbedder::new(texts, values, dim);
    let all: Vec<usize> = (0..data.len()).collect();
    scalar(
        &loss
            .forward(
                ModelRef::Cross(&e),
                &Batch {
                    data,
                    indices: &all,
                },
            )
            .unwrap(),
    )
}

/// [`assert_loss_gradient`] with the table as a cross-encoder (dot-product scorer).
pub fn assert_cross_loss_gradient(
    loss: &dyn Loss,
    texts: &[&str],
    values: &[f32],
    dim: usize,
    data: &TrainingData,
) {
    loss.check(data).unwrap();
    assert_gradient(values, (texts.len(), dim), |t| {
        let e = table(texts, t.clone());
        let all: Vec<usize> = (0..data.len()).collect();
        loss.forward(
            ModelRef::Cross(&e),
            &Batch {
                data,
                indices: &all,
            },
        )
    });
}

/// [`loss_value`] with `tokens` token vectors of width `dim` per text.
pub fn token_loss_value(
    loss: &dyn Loss,
    texts: &[&str],
    values: &[f32],
    tokens: usize,
    dim: usize,
    data: &TrainingData,
) -> f64 {
    let e = TableEmbedder {
        tokens,
        ..TableEmbedder::new(texts, values, tokens * dim)
    };
    let all: Vec<usize> = (0..data.len()).collect();
    let batch = Batch {
        data,
        indices: &all,
    };
    scalar(&loss.forward(ModelRef::Bi(&e), &batch).unwrap())
}

/// [`assert_loss_gradient`] with `tokens` token vectors of width `dim` per text.
pub fn assert_token_loss_gradient(
    loss: &dyn Loss,
    texts: &[&str],
    values: &[f32],
    tokens: usize,
    dim: usize,
    data: &TrainingData,
) {
    loss.check(data).unwrap();
    assert_gradient(values, (texts.len(), tokens * dim), |t| {
        let e = TableEmbedder {
            tokens,
            ..table(texts, t.clone())
        };
        let all: Vec<usize> = (0..data.len()).collect();
        loss.forward(
            ModelRef::Bi(&e),
            &Batch {
                data,
                indices: &all,
            },
        )
    });
}
