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
use crate::model::arch::{EncoderSpec, QkvNames, WeightNames};
use crate::model::backend::packed::sees_a_key;
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
/// TensorFlow-era names (`gamma`/`beta`) that some checkpoints still use; a
/// norm without `bias` (ModernBERT's) gets a zero one.
pub(crate) fn layer_norm(
    size: usize,
    eps: f64,
    bias: bool,
    vb: VarBuilder,
    ops: Ops,
) -> Result<LayerNorm> {
    let (w, b) = if vb.contains_tensor("weight") || !vb.contains_tensor("gamma") {
        ("weight", "bias")
    } else {
        ("gamma", "beta")
    };
    let w = vb.get(size, w)?;
    let b = if bias {
        vb.get(size, b)?
    } else {
        Tensor::zeros(size, w.dtype(), w.device())?
    };
    Ok(LayerNorm {
        w,
        b,
        eps,
        ops,
        rms: false,
    })
}

/// The family's norm at `vb`: an RMSNorm or a LayerNorm (with or without bias).
fn norm_of(c: &EncoderSpec, size: usize, vb: VarBuilder, ops: Ops) -> Result<LayerNorm> {
    let eps = c.layer_norm_eps;
    if c.rms_norm() {
        let w = vb.get(size, "weight")?;
        let b = Tensor::zeros(size, w.dtype(), w.device())?;
        return Ok(LayerNorm {
            w,
            b,
            eps,
            ops,
            rms: true,
        });
    }
    layer_norm(size, eps, c.norm_bias(), vb, ops)
}

/// LayerNorm (or RMSNorm) over the last dimension, on the operations chosen at load.
pub(crate) struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f64,
    ops: Ops,
    /// RMSNorm: no centring, no bias.
    rms: bool,
}

impl LayerNorm {
    /// Its weight, bias and epsilon as plain arrays (for the packed path).
    pub(crate) fn plain(&self) -> candle_core::Result<crate::compute::kernels::Norm> {
        Ok(crate::compute::kernels::Norm {
            weight: self.w.to_vec1::<f32>()?,
            bias: self.b.to_vec1::<f32>()?,
            eps: self.eps as f32,
            rms: self.rms,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.rms {
            if self.ops == Ops::Inference {
                return candle_nn::ops::rms_norm(x, &self.w, self.eps as f32);
            }
            let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
            return x
                .broadcast_div(&(ms + self.eps)?.sqrt()?)?
                .broadcast_mul(&self.w);
        }
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

fn linear(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    Ok(candle_nn::linear_b(in_dim, out_dim, bias, vb)?)
}

struct Embeddings {
    word: Embedding,
    position: Option<Embedding>,
    token_type: Option<Embedding>,
    /// Absent in decoders.
    norm: Option<LayerNorm>,
}

/// A block's query, key and value projections, as the checkpoint stores them.
enum Qkv {
    Separate(Linear, Linear, Linear),
    Fused(Linear),
}

impl Qkv {
    /// Loads projections from `h` to `qw` (queries) and `kvw` (keys, values).
    fn load(
        names: &QkvNames,
        h: usize,
        (qw, kvw): (usize, usize),
        bias: bool,
        vb: &VarBuilder,
    ) -> Result<Self> {
        Ok(match *names {
            QkvNames::Separate { query, key, value } => Self::Separate(
                linear(h, qw, bias, vb.pp(query))?,
                linear(h, kvw, bias, vb.pp(key))?,
                linear(h, kvw, bias, vb.pp(value))?,
            ),
            QkvNames::Fused(n) => Self::Fused(linear(h, qw + 2 * kvw, bias, vb.pp(n))?),
        })
    }

    /// `(tokens.., qw + 2 kvw)`: Q, K and V side by side.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Separate(q, k, v) => {
                Tensor::cat(&[q.forward(x)?, k.forward(x)?, v.forward(x)?], D::Minus1)
            }
            Self::Fused(l) => l.forward(x),
        }
    }

    /// The stacked weight `(qw + 2 kvw, hidden)` and bias (zero when absent).
    /// Stacked on every call: the variables change between training steps.
    fn stacked(&self) -> candle_core::Result<(Tensor, Tensor)> {
        match self {
            Self::Separate(q, k, v) => Ok((
                Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?,
                Tensor::cat(&[bias_of(q)?, bias_of(k)?, bias_of(v)?], 0)?,
            )),
            Self::Fused(l) => Ok((l.weight().clone(), bias_of(l)?)),
        }
    }
}

struct Layer {
    qkv: Qkv,
    /// Per-head query and key norms (Qwen3).
    qk_norm: Option<(LayerNorm, LayerNorm)>,
    attn_out: Linear,
    /// Absent in ModernBERT's first block (its input is the embedding norm's output).
    attn_norm: Option<LayerNorm>,
    inter: Linear,
    /// A gated layer's up projection stored apart (`inter` is then its gate).
    up: Option<Linear>,
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
    /// The norm after the last block (pre-norm families).
    final_norm: Option<LayerNorm>,
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
            position: match names.position {
                Some(n) => Some(candle_nn::embedding(c.max_positions, h, vb.pp(n))?),
                None => None,
            },
            token_type: match names.token_type {
                Some(n) if c.type_vocab_size > 0 => {
                    Some(candle_nn::embedding(c.type_vocab_size, h, vb.pp(n))?)
                }
                _ => None,
            },
            norm: match names.embedding_norm {
                Some(n) => Some(norm_of(c, h, vb.pp(n), ops)?),
                None => None,
            },
        };
        let (attention_bias, mlp_bias) = (c.linear_bias(true), c.linear_bias(false));
        // A gated feed-forward layer computes its input and its gate in one product.
        // A gated feed-forward layer stored as one product holds its input and gate.
        let gated_in_one = c.pre_norm().is_some() && names.up.is_none();
        let inter_width = c.intermediate_size * if gated_in_one { 2 } else { 1 };
        let widths = c.qkv_widths();
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let l = vb.pp(format!("{}.{i}", names.layers));
            let attn_norm = l.pp(names.attention_norm);
            // Pre-norm: the first block may have no attention norm (ModernBERT).
            let attn_norm =
                if c.pre_norm().is_some() && i == 0 && !attn_norm.contains_tensor("weight") {
                    None
                } else {
                    Some(norm_of(c, h, attn_norm, ops)?)
                };
            layers.push(Layer {
                qkv: Qkv::load(&names.qkv, h, widths, attention_bias, &l)?,
                qk_norm: match names.qk_norm {
                    Some((q, k)) if c.pre_norm().is_some_and(|p| p.qk_norm) => Some((
                        norm_of(c, c.head_dim(), l.pp(q), ops)?,
                        norm_of(c, c.head_dim(), l.pp(k), ops)?,
                    )),
                    _ => None,
                },
                attn_out: linear(widths.0, h, attention_bias, l.pp(names.attention_out))?,
                attn_norm,
                inter: linear(h, inter_width, mlp_bias, l.pp(names.intermediate))?,
                up: match names.up {
                    Some(n) => Some(linear(h, c.intermediate_size, mlp_bias, l.pp(n))?),
                    None => None,
                },
                out: linear(c.intermediate_size, h, mlp_bias, l.pp(names.output))?,
                out_norm: norm_of(c, h, l.pp(names.output_norm), ops)?,
            });
        }
        let relative_bias = match (names.relative_bias, &c.relative_attention) {
            (Some(n), Some(r)) => Some(candle_nn::embedding(r.num_buckets, c.num_heads, vb.pp(n))?),
            _ => None,
        };
        let final_norm = match names.final_norm {
            Some(n) => Some(norm_of(c, h, vb.pp(n), ops)?),
            None => None,
        };
        Ok(Self {
            spec: spec.clone(),
            embeddings,
            layers,
            relative_bias,
            final_norm,
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

    /// The padding bias `bias` with the window and causal masks added, and for
    /// a window, which queries see any key (`(b, 1, l, 1)`, 0 for none).
    fn visibility(
        &self,
        bias: &Tensor,
        batch: &TokenBatch,
        window: Option<usize>,
        causal: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (b, l, dtype) = (batch.batch, batch.seq_len, bias.dtype());
        if window.is_none() && !causal {
            return Ok((bias.clone(), None));
        }
        let masked = bias
            .broadcast_add(&visibility_bias(l, window, causal, &self.device)?.to_dtype(dtype)?)?;
        let alive = match window {
            Some(w) if !causal => {
                let alive: Vec<f32> = batch
                    .keys
                    .iter()
                    .flat_map(|&k| (0..l).map(move |q| sees_a_key(q, k, Some(w)) as u8 as f32))
                    .collect();
                Some(Tensor::from_vec(alive, (b, 1, l, 1), &self.device)?.to_dtype(dtype)?)
            }
            _ => None,
        };
        Ok((masked, alive))
    }

    /// Forward pass; dropout (training) draws its masks from `train`.
    pub fn forward_t(&self, batch: &TokenBatch, train: Option<&Dropout>) -> Result<Tensor> {
        let c = &self.spec;
        let (b, l) = (batch.batch, batch.seq_len);
        let ids = batch.ids_tensor(&self.device)?;
        let e = &self.embeddings;
        let mut x = e.word.forward(&ids)?;
        if let Some(p) = &e.position {
            let offset = c.position_offset as u32;
            let positions = Tensor::arange(offset, offset + l as u32, &self.device)?;
            x = x.broadcast_add(&p.forward(&positions)?)?;
        }
        if let Some(t) = &e.token_type {
            x = x.add(&t.forward(&batch.type_ids_tensor(&self.device)?)?)?;
        }
        if let Some(n) = &e.norm {
            x = n.forward(&x)?;
        }
        let mut x = dropout(&x, c.hidden_dropout, train)?;
        let dtype = x.dtype();

        // (b, 1, 1, l): 0 for tokens, MASK_BIAS for padding.
        let bias = ((batch.mask_tensor(&self.device)? - 1.0)? * (-MASK_BIAS as f64))?
            .to_dtype(dtype)?
            .reshape((b, 1, 1, l))?;
        if let Some(p) = c.pre_norm() {
            // Masks and rotations depend only on the layer's window (global
            // layers share theirs, local ones theirs): built once per batch.
            let mut setups: Vec<(Option<usize>, Tensor, Option<Tensor>, Rotary)> = Vec::new();
            for (i, layer) in self.layers.iter().enumerate() {
                let (window, theta) = p.attention_of(i);
                let at = match setups.iter().position(|s| s.0 == window) {
                    Some(at) => at,
                    None => {
                        let (bias, alive) = self.visibility(&bias, batch, window, p.causal)?;
                        let rotary = Rotary::new(theta, l, c.head_dim(), &self.device, dtype)?;
                        setups.push((window, bias, alive, rotary));
                        setups.len() - 1
                    }
                };
                let (_, bias, alive, rotary) = &setups[at];
                let attention = Attention {
                    bias,
                    alive: alive.as_ref(),
                    rotary,
                };
                x = layer.forward_pre_norm(&x, c, &attention, self.ops, train)?;
            }
            if let Some(n) = &self.final_norm {
                x = n.forward(&x)?;
            }
            return Ok(x.to_dtype(DType::F32)?);
        }
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
                    let (q, k, v) = split_heads(qkv, c)?;
                    plain_attention(&q, &k, &v, &bias, None, scale, c, self.ops, train)
                };
                x = layer.forward_fused(&x, c, &attention, train)?;
                continue;
            }
            let (q, k, v) = split_heads(&layer.qkv.forward(&x)?, c)?;
            let ctx = plain_attention(&q, &k, &v, &bias, None, scale, c, self.ops, train)?;
            let a = dropout(&layer.attn_out.forward(&ctx)?, c.hidden_dropout, train)?;
            let norm = layer
                .attn_norm
                .as_ref()
                .expect("post-norm blocks have an attention norm");
            x = norm.forward(&(a + &x)?)?;
            let h = layer.inter.forward(&x)?;
            let h = activate(&h, c.act)?;
            let h = dropout(&layer.out.forward(&h)?, c.hidden_dropout, train)?;
            x = layer.out_norm.forward(&(h + &x)?)?;
        }
        Ok(x.to_dtype(DType::F32)?)
    }
}

/// Splits `(b, l, qw + 2 kvw)` into Q `(b, heads, l, d)` and K, V
/// `(b, kv heads, l, d)`.
fn split_heads(qkv: &Tensor, c: &EncoderSpec) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let (b, l, _) = qkv.dims3()?;
    let (qw, kvw) = c.qkv_widths();
    let part = |start: usize, width: usize, heads: usize| -> candle_core::Result<Tensor> {
        qkv.narrow(2, start, width)?
            .reshape((b, l, heads, c.head_dim()))?
            .transpose(1, 2)?
            .contiguous()
    };
    Ok((
        part(0, qw, c.num_heads)?,
        part(qw, kvw, c.kv_heads())?,
        part(qw + kvw, kvw, c.kv_heads())?,
    ))
}

/// Key or value heads `(b, kv heads, l, d)` repeated for the query heads that
/// share them (grouped-query attention).
fn repeat_kv(x: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (b, kv, l, d) = x.dims4()?;
    if kv == heads {
        return Ok(x.clone());
    }
    x.unsqueeze(2)?
        .broadcast_as((b, kv, heads / kv, l, d))?
        .contiguous()?
        .reshape((b, heads, l, d))
}

/// `(1, 1, l, l)`: 0 where a query may see a key (at most `window` positions
/// away; not after it, when `causal`), MASK_BIAS elsewhere.
fn visibility_bias(
    l: usize,
    window: Option<usize>,
    causal: bool,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let v: Vec<f32> = (0..l)
        .flat_map(|q| {
            (0..l).map(move |k| {
                let hidden = (causal && k > q) || window.is_some_and(|w| q.abs_diff(k) > w);
                if hidden { MASK_BIAS } else { 0.0 }
            })
        })
        .collect();
    Tensor::from_vec(v, (1, 1, l, l), device)
}

/// Rotary position embeddings for positions `0..l`, Hugging Face's layout
/// (the two halves of a head rotated together).
struct Rotary {
    /// `(l, d)`: the angles' cosines, each frequency twice.
    cos: Tensor,
    /// `(l, d)`: their sines.
    sin: Tensor,
}

impl Rotary {
    fn new(theta: f64, l: usize, d: usize, device: &Device, dtype: DType) -> Result<Self> {
        let angles = crate::compute::rotary::angles(theta, l, d);
        let cos: Vec<f32> = angles.iter().map(|a| a.cos()).collect();
        let sin: Vec<f32> = angles.iter().map(|a| a.sin()).collect();
        Ok(Self {
            cos: Tensor::from_vec(cos, (l, d), device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, (l, d), device)?.to_dtype(dtype)?,
        })
    }

    /// `x * cos + rotate_half(x) * sin` for `x` of shape `(b, heads, l, d)`.
    fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let d = x.dim(D::Minus1)?;
        let half = d / 2;
        let rotated = Tensor::cat(
            &[
                &x.narrow(D::Minus1, half, half)?.neg()?,
                &x.narrow(D::Minus1, 0, half)?,
            ],
            D::Minus1,
        )?;
        x.broadcast_mul(&self.cos)?
            .add(&rotated.broadcast_mul(&self.sin)?)
    }
}

/// What a pre-norm block's attention needs besides Q, K and V.
struct Attention<'a> {
    /// `(b, 1, 1 or l, l)`: padding and window.
    bias: &'a Tensor,
    /// `(b, 1, l, 1)`: 0 for queries without a key in their window.
    alive: Option<&'a Tensor>,
    rotary: &'a Rotary,
}

/// Attention of `(b, heads, l, d)` queries, keys and values with an additive
/// bias; queries whose `alive` is 0 get a zero context (PyTorch's
/// scaled-dot-product attention on a fully masked row); returns the context
/// `(b, l, hidden)`.
#[allow(clippy::too_many_arguments)]
fn plain_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    alive: Option<&Tensor>,
    scale: f64,
    c: &EncoderSpec,
    ops: Ops,
    train: Option<&Dropout>,
) -> Result<Tensor> {
    let (b, heads, l, d) = q.dims4()?;
    let (k, v) = (&repeat_kv(k, heads)?, &repeat_kv(v, heads)?);
    let probs = softmax(&(q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?, ops)?;
    let probs = dropout(&probs, c.attention_dropout, train)?;
    let probs = match alive {
        Some(a) => probs.broadcast_mul(a)?,
        None => probs,
    };
    Ok(probs
        .matmul(v)?
        .transpose(1, 2)?
        .reshape((b, l, heads * d))?)
}

impl Layer {
    /// A pre-norm block: `x + attn(norm(x))`, then `x + ffn(norm(x))` with a
    /// gated feed-forward layer; rotary positions on Q and K. On the fused
    /// training operations the linear layers and norms are fused, attention is
    /// plain.
    fn forward_pre_norm(
        &self,
        x: &Tensor,
        c: &EncoderSpec,
        att: &Attention,
        ops: Ops,
        train: Option<&Dropout>,
    ) -> Result<Tensor> {
        let fused = ops == Ops::FusedTraining;
        // Dropout outside the products on both paths, so they draw the same masks.
        let lin = |l: &Linear, x: &Tensor| -> Result<Tensor> {
            if fused {
                return Ok(linear_t(x, l.weight(), &bias_of(l)?, LinearOp::default())?);
            }
            Ok(l.forward(x)?)
        };
        let h = match &self.attn_norm {
            Some(n) => n.forward(x)?,
            None => x.clone(),
        };
        let qkv = if fused {
            let (w, b) = self.qkv.stacked()?;
            linear_t(&h, &w, &b, LinearOp::default())?
        } else {
            self.qkv.forward(&h)?
        };
        let (q, k, v) = split_heads(&qkv, c)?;
        let (q, k) = match &self.qk_norm {
            Some((qn, kn)) => (qn.forward(&q)?, kn.forward(&k)?),
            None => (q, k),
        };
        let (q, k) = (att.rotary.apply(&q)?, att.rotary.apply(&k)?);
        let scale = 1.0 / (c.head_dim() as f64).sqrt();
        let ctx = plain_attention(&q, &k, &v, att.bias, att.alive, scale, c, ops, train)?;
        let a = dropout(&lin(&self.attn_out, &ctx)?, c.attention_dropout, train)?;
        let x = (x + a)?;
        let normed = self.out_norm.forward(&x)?;
        let h = lin(&self.inter, &normed)?;
        let gated = match &self.up {
            Some(up) => (activate(&h, c.act)? * lin(up, &normed)?)?,
            None => {
                let i = c.intermediate_size;
                (activate(&h.narrow(D::Minus1, 0, i)?, c.act)? * h.narrow(D::Minus1, i, i)?)?
            }
        };
        let out = lin(&self.out, &dropout(&gated, c.hidden_dropout, train)?)?;
        Ok((x + out)?)
    }

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
            Ok(linear_t(x, l.weight(), &bias_of(l)?, op)?)
        };
        let (w, b) = self.qkv.stacked()?;
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
        let norm = self
            .attn_norm
            .as_ref()
            .expect("post-norm blocks have an attention norm");
        let x = norm.forward(&(a + x)?)?;
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

/// A linear layer's bias, zero when it has none (the fused product takes one).
fn bias_of(l: &Linear) -> candle_core::Result<Tensor> {
    match l.bias() {
        Some(b) => Ok(b.clone()),
        None => Tensor::zeros(l.weight().dim(0)?, l.weight().dtype(), l.weight().device()),
    }
}

/// The configured activation.
pub(crate) fn activate(h: &Tensor, act: HiddenAct) -> Result<Tensor> {
    Ok(match act {
        HiddenAct::Gelu => h.gelu_erf()?,
        HiddenAct::GeluNew => h.gelu()?,
        HiddenAct::Relu => h.relu()?,
        HiddenAct::Silu => h.silu()?,
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
