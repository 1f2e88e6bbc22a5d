//! BERT on candle: used for training, on GPU, and as the reference CPU path.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use crate::error::Result;
use crate::model::batch::TokenBatch;
use crate::model::bert_config::{BertConfig, HiddenAct};
use crate::model::dropout::{Dropout, next_mask};
use crate::model::encoder::Encoder;
use crate::model::train_attention::attention_t;
use crate::model::train_linear::{LinearOp, linear_t};
use crate::model::train_ops;

/// Additive bias for masked attention scores. Finite so half precision does not
/// turn it into -inf (and NaN after softmax); exp() of it is 0 in every dtype.
pub(crate) const MASK_BIAS: f32 = -10_000.0;

/// Loads a LayerNorm under either the current (`weight`/`bias`) or the old
/// TensorFlow-era names (`gamma`/`beta`) that some checkpoints still use.
pub(crate) fn layer_norm(size: usize, eps: f64, vb: VarBuilder) -> Result<LayerNorm> {
    let (w, b) = if vb.contains_tensor("weight") {
        (vb.get(size, "weight")?, vb.get(size, "bias")?)
    } else {
        (vb.get(size, "gamma")?, vb.get(size, "beta")?)
    };
    Ok(LayerNorm { w, b, eps })
}

/// LayerNorm over the last dimension. candle's fused kernels (layer norm and
/// last-dimension softmax) have no backward pass, so a tensor that carries a
/// gradient graph goes through plain tensor operations instead.
pub(crate) struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

/// Whether the fused CPU training operations apply to `x`.
fn fused_cpu(x: &Tensor) -> bool {
    x.track_op() && x.device().is_cpu() && x.dtype() == DType::F32
}

impl LayerNorm {
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if !x.track_op() {
            return candle_nn::ops::layer_norm(x, &self.w, &self.b, self.eps as f32);
        }
        if fused_cpu(x) {
            return train_ops::layer_norm_t(x, &self.w, &self.b, self.eps);
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

/// Softmax over the last dimension (fused unless a gradient is needed).
fn softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.track_op() {
        candle_nn::ops::softmax(x, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    Ok(candle_nn::linear(in_dim, out_dim, vb)?)
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
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

/// A BERT encoder (`BertModel`) with candle tensors.
pub struct Bert {
    config: BertConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    device: Device,
}

/// The prefix under which the encoder's weights are stored: "" for `BertModel`
/// checkpoints, "bert" for task models (`BertForMaskedLM`, `BertForSequenceClassification`).
pub fn weight_prefix(vb: &VarBuilder) -> &'static str {
    if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
        "bert"
    } else {
        ""
    }
}

impl Bert {
    /// Builds the encoder from weights in `vb` (prefix already applied).
    pub fn load(vb: VarBuilder, config: &BertConfig) -> Result<Self> {
        let c = config;
        let e = vb.pp("embeddings");
        let embeddings = Embeddings {
            word: candle_nn::embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                c.max_position_embeddings,
                c.hidden_size,
                e.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                c.type_vocab_size,
                c.hidden_size,
                e.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let h = c.hidden_size;
            layers.push(Layer {
                query: linear(h, h, a.pp("self.query"))?,
                key: linear(h, h, a.pp("self.key"))?,
                value: linear(h, h, a.pp("self.value"))?,
                attn_out: linear(h, h, a.pp("output.dense"))?,
                attn_norm: layer_norm(h, c.layer_norm_eps, a.pp("output.LayerNorm"))?,
                inter: linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                out: linear(c.intermediate_size, h, l.pp("output.dense"))?,
                out_norm: layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Self {
            config: config.clone(),
            embeddings,
            layers,
            device: vb.device().clone(),
        })
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Forward pass; dropout (training) draws its masks from `train`.
    pub fn forward_t(&self, batch: &TokenBatch, train: Option<&Dropout>) -> Result<Tensor> {
        let c = &self.config;
        let (b, l) = (batch.batch, batch.seq_len);
        let ids = batch.ids_tensor(&self.device)?;
        let types = batch.type_ids_tensor(&self.device)?;
        let positions = Tensor::arange(0u32, l as u32, &self.device)?;
        let e = &self.embeddings;
        let x = e
            .word
            .forward(&ids)?
            .broadcast_add(&e.position.forward(&positions)?)?
            .add(&e.token_type.forward(&types)?)?;
        let mut x = dropout(&e.norm.forward(&x)?, c.hidden_dropout_prob, train)?;
        let dtype = x.dtype();

        // (b, 1, 1, l): 0 for tokens, MASK_BIAS for padding.
        let bias = ((batch.mask_tensor(&self.device)? - 1.0)? * (-MASK_BIAS as f64))?
            .to_dtype(dtype)?
            .reshape((b, 1, 1, l))?;
        let fused = fused_cpu(&x);
        let bias_rows = if fused {
            std::sync::Arc::new(bias.flatten_all()?.to_vec1::<f32>()?)
        } else {
            Default::default()
        };
        let heads = c.num_attention_heads;
        let hd = c.head_dim();
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            if fused {
                x = layer.forward_fused(&x, c, bias_rows.clone(), train)?;
                continue;
            }
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((b, l, heads, hd))?.transpose(1, 2)?.contiguous()
            };
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let probs = softmax(&(q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?)?;
            let probs = dropout(&probs, c.attention_probs_dropout_prob, train)?;
            let ctx = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((b, l, c.hidden_size))?;
            let a = dropout(&layer.attn_out.forward(&ctx)?, c.hidden_dropout_prob, train)?;
            x = layer.attn_norm.forward(&(a + &x)?)?;
            let h = layer.inter.forward(&x)?;
            let h = activate(&h, c.hidden_act)?;
            let h = dropout(&layer.out.forward(&h)?, c.hidden_dropout_prob, train)?;
            x = layer.out_norm.forward(&(h + &x)?)?;
        }
        Ok(x.to_dtype(DType::F32)?)
    }
}

impl Layer {
    /// The layer on the fused CPU training operations: one product for Q, K and
    /// V, attention as one operation, linear layers with the bias inside.
    fn forward_fused(
        &self,
        x: &Tensor,
        c: &BertConfig,
        bias_rows: std::sync::Arc<Vec<f32>>,
        train: Option<&Dropout>,
    ) -> Result<Tensor> {
        let lin = |l: &Linear, x: &Tensor, op: LinearOp| -> Result<Tensor> {
            Ok(linear_t(x, l.weight(), bias_of(l)?, op)?)
        };
        let (q, k, v) = (&self.query, &self.key, &self.value);
        let w = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let b = Tensor::cat(&[bias_of(q)?, bias_of(k)?, bias_of(v)?], 0)?;
        let qkv = linear_t(x, &w, &b, LinearOp::default())?;
        let mask = next_mask(train, c.attention_probs_dropout_prob);
        let heads = c.num_attention_heads;
        let scale = 1.0 / (c.head_dim() as f64).sqrt();
        let ctx = attention_t(&qkv, heads, scale, bias_rows, mask)?;
        let p = c.hidden_dropout_prob;
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
        let gelu_input = c.hidden_act == HiddenAct::Gelu;
        let h = if gelu_input {
            h
        } else {
            activate(&h, c.hidden_act)?
        };
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

/// A BERT linear layer's bias (every one has one).
fn bias_of(l: &Linear) -> candle_core::Result<&Tensor> {
    l.bias()
        .ok_or_else(|| candle_core::Error::Msg("a BERT linear layer without bias".into()))
}

/// The configured activation.
pub(crate) fn activate(h: &Tensor, act: HiddenAct) -> Result<Tensor> {
    Ok(match act {
        HiddenAct::Gelu => h.gelu_erf()?,
        HiddenAct::GeluNew => h.gelu()?,
        HiddenAct::Relu => h.relu()?,
    })
}

fn dropout(x: &Tensor, p: f64, train: Option<&Dropout>) -> Result<Tensor> {
    match train {
        Some(d) => d.apply(x, p),
        None => Ok(x.clone()),
    }
}

impl Encoder for Bert {
    fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        self.forward_t(batch, None)
    }
    fn forward_t(&self, batch: &TokenBatch, train: Option<&Dropout>) -> Result<Tensor> {
        Bert::forward_t(self, batch, train)
    }
    fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }
    fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }
}
