//! Any [`EncoderSpec`] on candle tensors: the GPU path, the reference CPU path,
//! and training. Which operations run ([`Ops`]) is fixed at load: candle's
//! fused inference kernels, plain differentiable operations, or (training on
//! CPU, f32) the fused training operations of [`crate::compute`].

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use crate::compute::HiddenAct;
use crate::compute::dropout::{Dropout, next_mask};
use crate::compute::train_attention::attention_t;
use crate::compute::train_linear::{LinearOp, linear_t};
use crate::compute::train_ops;
use crate::error::Result;
use crate::model::arch::{EncoderSpec, WeightNames};
use crate::model::batch::TokenBatch;
use crate::model::encoder::Encoder;

/// Additive bias for masked attention scores. Finite so half precision does not
/// turn it into -inf (and NaN after softmax); exp() of it is 0 in every dtype.
pub(crate) const MASK_BIAS: f32 = -10_000.0;

/// Which operations a candle encoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ops {
    /// candle's fused kernels (LayerNorm, softmax), which have no backward pass.
    Inference,
    /// Plain tensor operations with backward passes (training off CPU, and the
    /// reference the fused training operations are tested against).
    Differentiable,
    /// The fused CPU training operations (f32).
    FusedTraining,
}

/// Loads a LayerNorm under either the current (`weight`/`bias`) or the old
/// TensorFlow-era names (`gamma`/`beta`) that some checkpoints still use.
pub(crate) fn layer_norm(size: usize, eps: f64, vb: VarBuilder, ops: Ops) -> Result<LayerNorm> {
    let (w, b) = if vb.contains_tensor("weight") {
        (vb.get(size, "weight")?, vb.get(size, "bias")?)
    } else {
        (vb.get(size, "gamma")?, vb.get(size, "beta")?)
    };
    Ok(LayerNorm { w, b, eps, ops })
}

/// LayerNorm over the last dimension, on the operations chosen at load.
pub(crate) struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f64,
    ops: Ops,
}

impl LayerNorm {
    /// Its weight, bias and epsilon as plain arrays (for the packed path).
    pub(crate) fn plain(&self) -> candle_core::Result<crate::compute::kernels::Norm> {
        Ok(crate::compute::kernels::Norm {
            weight: self.w.to_vec1::<f32>()?,
            bias: self.b.to_vec1::<f32>()?,
            eps: self.eps as f32,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self.ops {
            Ops::FusedTraining => return train_ops::layer_norm_t(x, &self.w, &self.b, self.eps),
            Ops::Inference => {
                return candle_nn::ops::layer_norm(x, &self.w, &self.b, self.eps as f32);
            }
            Ops::Differentiable => {}
        }
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(var + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.w)?
            .broadcast_add(&self.b)
    }
}

/// Softmax over the last dimension (candle's fused kernel for inference).
fn softmax(x: &Tensor, ops: Ops) -> candle_core::Result<Tensor> {
    match ops {
        Ops::Inference => candle_nn::ops::softmax_last_dim(x),
        _ => candle_nn::ops::softmax(x, D::Minus1),
    }
}

fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    Ok(candle_nn::linear(in_dim, out_dim, vb)?)
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Option<Embedding>,
    norm: LayerNorm,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: LayerNorm,
}

/// A transformer encoder with candle tensors.
pub struct CandleEncoder {
    spec: EncoderSpec,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    /// The relative attention bias table `(buckets, heads)`.
    relative_bias: Option<Embedding>,
    /// The operations it runs.
    ops: Ops,
    device: Device,
}

impl CandleEncoder {
    /// Builds the encoder from weights in `vb` (prefix already applied) on
    /// `ops`; the fused training operations fall back to differentiable ones
    /// off CPU or for other dtypes.
    pub fn load(vb: VarBuilder, spec: &EncoderSpec, names: &WeightNames, ops: Ops) -> Result<Self> {
        let c = spec;
        let h = c.hidden_size;
        let ops = match ops {
            Ops::FusedTraining if !vb.device().is_cpu() || vb.dtype() != DType::F32 => {
                Ops::Differentiable
            }
            o => o,
        };
        let embeddings = Embeddings {
            word: candle_nn::embedding(c.vocab_size, h, vb.pp(names.word))?,
            position: candle_nn::embedding(c.max_positions, h, vb.pp(names.position))?,
            token_type: match names.token_type {
                Some(n) if c.type_vocab_size > 0 => {
                    Some(candle_nn::embedding(c.type_vocab_size, h, vb.pp(n))?)
                }
                _ => None,
            },
            norm: layer_norm(h, c.layer_norm_eps, vb.pp(names.embedding_norm), ops)?,
        };
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let l = vb.pp(format!("{}.{i}", names.layers));
            let eps = c.layer_norm_eps;
            layers.push(Layer {
                query: linear(h, h, l.pp(names.query))?,
                key: linear(h, h, l.pp(names.key))?,
                value: linear(h, h, l.pp(names.value))?,
                attn_out: linear(h, h, l.pp(names.attention_out))?,
                attn_norm: layer_norm(h, eps, l.pp(names.attention_norm), ops)?,
                inter: linear(h, c.intermediate_size, l.pp(names.intermediate))?,
                out: linear(c.intermediate_size, h, l.pp(names.output))?,
                out_norm: layer_norm(h, eps, l.pp(names.output_norm), ops)?,
            });
        }
        let relative_bias = match (names.relative_bias, &c.relative_attention) {
            (Some(n), Some(r)) => Some(candle_nn::embedding(r.num_buckets, c.num_heads, vb.pp(n))?),
            _ => None,
        };
        Ok(Self {
            spec: spec.clone(),
            embeddings,
            layers,
            relative_bias,
            ops,
            device: vb.device().clone(),
        })
    }

    /// The description it was built from.
    pub fn spec(&self) -> &EncoderSpec {
        &self.spec
    }

    /// The word embeddings `(vocab, hidden)` (a tied MLM decoder reads them).
    pub fn word_embeddings(&self) -> &Tensor {
        self.embeddings.word.embeddings()
    }

    /// The relative position bias `(1, heads, l, l)` for sequences of length `l`.
    fn position_bias(&self, l: usize) -> Result<Option<Tensor>> {
        let (Some(table), Some(r)) = (&self.relative_bias, &self.spec.relative_attention) else {
            return Ok(None);
        };
        let buckets: Vec<u32> = (0..l)
            .flat_map(|q| (0..l).map(move |k| r.bucket(q, k) as u32))
            .collect();
        let ids = Tensor::from_vec(buckets, (l, l), &self.device)?;
        // (l, l, heads) -> (1, heads, l, l)
        Ok(Some(table.forward(&ids)?.permute((2, 0, 1))?.unsqueeze(0)?))
    }

    /// Forward pass; dropout (training) draws its masks from `train`.
    pub fn forward_t(&self, batch: &TokenBatch, train: Option<&Dropout>) -> Result<Tensor> {
        let c = &self.spec;
        let (b, l) = (batch.batch, batch.seq_len);
        let ids = batch.ids_tensor(&self.device)?;
        let offset = c.position_offset as u32;
        let positions = Tensor::arange(offset, offset + l as u32, &self.device)?;
        let e = &self.embeddings;
        let mut x = e
            .word
            .forward(&ids)?
            .broadcast_add(&e.position.forward(&positions)?)?;
        if let Some(t) = &e.token_type {
            x = x.add(&t.forward(&batch.type_ids_tensor(&self.device)?)?)?;
        }
        let mut x = dropout(&e.norm.forward(&x)?, c.hidden_dropout, train)?;
        let dtype = x.dtype();

        // (b, 1, 1, l): 0 for tokens, MASK_BIAS for padding.
        let bias = ((batch.mask_tensor(&self.device)? - 1.0)? * (-MASK_BIAS as f64))?
            .to_dtype(dtype)?
            .reshape((b, 1, 1, l))?;
        let position_bias = self.position_bias(l)?;
        // The fused attention op knows only the padding mask.
        let fused = self.ops == Ops::FusedTraining;
        let fused_attention = fused && position_bias.is_none();
        let bias = match &position_bias {
            Some(p) => bias.broadcast_add(&p.to_dtype(dtype)?)?,
            None => bias,
        };
        let bias_rows = if fused_attention {
            std::sync::Arc::new(bias.flatten_all()?.to_vec1::<f32>()?)
        } else {
            Default::default()
        };
        let heads = c.num_heads;
        let hd = c.head_dim();
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            if fused {
                let attention = |qkv: &Tensor, mask| -> Result<Tensor> {
                    if fused_attention {
                        return Ok(attention_t(qkv, heads, scale, bias_rows.clone(), mask)?);
                    }
                    let part = |i: usize| -> candle_core::Result<Tensor> {
                        qkv.narrow(2, i * c.hidden_size, c.hidden_size)?
                            .reshape((b, l, heads, hd))?
                            .transpose(1, 2)?
                            .contiguous()
                    };
                    plain_attention(
                        &part(0)?,
                        &part(1)?,
                        &part(2)?,
                        &bias,
                        scale,
                        c,
                        self.ops,
                        train,
                    )
                };
                x = layer.forward_fused(&x, c, &attention, train)?;
                continue;
            }
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((b, l, heads, hd))?.transpose(1, 2)?.contiguous()
            };
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let ctx = plain_attention(&q, &k, &v, &bias, scale, c, self.ops, train)?;
            let a = dropout(&layer.attn_out.forward(&ctx)?, c.hidden_dropout, train)?;
            x = layer.attn_norm.forward(&(a + &x)?)?;
            let h = layer.inter.forward(&x)?;
            let h = activate(&h, c.act)?;
            let h = dropout(&layer.out.forward(&h)?, c.hidden_dropout, train)?;
            x = layer.out_norm.forward(&(h + &x)?)?;
        }
        Ok(x.to_dtype(DType::F32)?)
    }
}

/// Attention of `(b, heads, l, d)` queries, keys and values with an additive
/// bias; returns the context `(b, l, hidden)`.
#[allow(clippy::too_many_arguments)]
fn plain_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    scale: f64,
    c: &EncoderSpec,
    ops: Ops,
    train: Option<&Dropout>,
) -> Result<Tensor> {
    let (b, _, l, _) = q.dims4()?;
    let probs = softmax(&(q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?, ops)?;
    let probs = dropout(&probs, c.attention_dropout, train)?;
    Ok(probs
        .matmul(v)?
        .transpose(1, 2)?
        .reshape((b, l, c.hidden_size))?)
}

impl Layer {
    /// The block on the fused CPU training operations: one product for Q, K and
    /// V, `attention` on it, linear layers with the bias inside.
    fn forward_fused(
        &self,
        x: &Tensor,
        c: &EncoderSpec,
        attention: &dyn Fn(&Tensor, Option<crate::compute::dropout::Mask>) -> Result<Tensor>,
        train: Option<&Dropout>,
    ) -> Result<Tensor> {
        let lin = |l: &Linear, x: &Tensor, op: LinearOp| -> Result<Tensor> {
            Ok(linear_t(x, l.weight(), bias_of(l)?, op)?)
        };
        let (q, k, v) = (&self.query, &self.key, &self.value);
        let w = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let b = Tensor::cat(&[bias_of(q)?, bias_of(k)?, bias_of(v)?], 0)?;
        let qkv = linear_t(x, &w, &b, LinearOp::default())?;
        let ctx = attention(&qkv, next_mask(train, c.attention_dropout))?;
        let p = c.hidden_dropout;
        let a = lin(
            &self.attn_out,
            &ctx,
            LinearOp {
                gelu_input: false,
                dropout: next_mask(train, p),
            },
        )?;
        let x = self.attn_norm.forward(&(a + x)?)?;
        let h = lin(&self.inter, &x, LinearOp::default())?;
        // GELU inside the next product: the graph keeps the pre-activation only.
        let gelu_input = c.act == HiddenAct::Gelu;
        let h = if gelu_input { h } else { activate(&h, c.act)? };
        let h = lin(
            &self.out,
            &h,
            LinearOp {
                gelu_input,
                dropout: next_mask(train, p),
            },
        )?;
        Ok(self.out_norm.forward(&(h + &x)?)?)
    }
}

/// A linear layer's bias (every encoder linear layer here has one).
fn bias_of(l: &Linear) -> candle_core::Result<&Tensor> {
    l.bias()
        .ok_or_else(|| candle_core::Error::Msg("an encoder linear layer without bias".into()))
}

/// The configured activation.
pub(crate) fn activate(h: &Tensor, act: HiddenAct) -> Result<Tensor> {
    Ok(match act {
        HiddenAct::Gelu => h.gelu_erf()?,
        HiddenAct::GeluNew => h.gelu()?,
        HiddenAct::Relu => h.relu()?,
    })
}

pub(crate) fn dropout(x: &Tensor, p: f64, train: Option<&Dropout>) -> Result<Tensor> {
    match train {
        Some(d) => d.apply(x, p),
        None => Ok(x.clone()),
    }
}

impl Encoder for CandleEncoder {
    fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        self.forward_t(batch, None)
    }
    fn forward_t(&self, batch: &TokenBatch, train: Option<&Dropout>) -> Result<Tensor> {
        CandleEncoder::forward_t(self, batch, train)
    }
    fn hidden_size(&self) -> usize {
        self.spec.hidden_size
    }
    fn max_positions(&self) -> usize {
        self.spec.usable_positions()
    }
}
