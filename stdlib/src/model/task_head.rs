//! Task heads on an encoder's token embeddings, built from the family's names:
//! sequence classification (cross-encoders) and the masked-language-model head
//! (SPLADE).

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::compute::dropout::Dropout;
use crate::compute::kernels::Norm;
use crate::compute::linear::LinearLayer;
use crate::compute::{HiddenAct, Precision};
use crate::error::{Error, Result};
use crate::model::arch::{Arch, HeadAct};
use crate::model::backend::candle::{LayerNorm, Ops, activate, dropout, layer_norm};

/// `out(act(pre(first token)))`: BERT's pooler + classifier, RoBERTa's and
/// MPNet's classification head, DistilBERT's pre-classifier + classifier;
/// `out(norm(act(pre(first token))))`: ModernBERT's.
pub struct ClassifierHead {
    pre: Linear,
    act: HeadAct,
    norm: Option<LayerNorm>,
    out: Linear,
    dropout: f64,
    /// Pools the mean of the tokens rather than the first (ModernBERT's option).
    mean: bool,
}

impl ClassifierHead {
    /// Loads the head of `arch` with `labels` outputs from `weights` (at their root).
    pub fn load(arch: &Arch, weights: &VarBuilder, labels: usize) -> Result<Self> {
        let h = arch.spec.hidden_size;
        let names = arch.classifier;
        let norm = match names.norm {
            Some(n) => Some(layer_norm(
                h,
                arch.spec.layer_norm_eps,
                arch.spec.norm_bias(),
                weights.pp(n),
                Ops::Differentiable,
            )?),
            None => None,
        };
        Ok(Self {
            pre: candle_nn::linear_b(h, h, arch.head_bias, weights.pp(names.pre))?,
            act: names.act,
            norm,
            out: candle_nn::linear(h, labels, weights.pp(names.out))?,
            dropout: arch.spec.hidden_dropout,
            mean: arch.head_mean_pooling,
        })
    }

    /// Number of outputs.
    pub fn labels(&self) -> Result<usize> {
        Ok(self.out.weight().dim(0)?)
    }

    /// Logits `(batch, labels)` from token embeddings `(batch, len, hidden)`
    /// and their mask `(batch, len)` (1 for tokens, 0 for padding).
    pub fn forward_t(
        &self,
        tokens: &Tensor,
        mask: &Tensor,
        train: Option<&Dropout>,
    ) -> Result<Tensor> {
        let pooled = if self.mean {
            let m = mask.to_dtype(tokens.dtype())?.unsqueeze(2)?;
            tokens
                .broadcast_mul(&m)?
                .sum(1)?
                .broadcast_div(&m.sum(1)?)?
        } else {
            tokens.narrow(1, 0, 1)?.squeeze(1)?
        };
        let x = self.pre.forward(&pooled)?;
        let x = match self.act {
            HeadAct::Tanh => x.tanh()?,
            HeadAct::Relu => x.relu()?,
            HeadAct::Gelu => x.gelu_erf()?,
        };
        let x = match &self.norm {
            Some(n) => n.forward(&x)?,
            None => x,
        };
        let x = dropout(&x, self.dropout, train)?;
        Ok(self.out.forward(&x)?)
    }
}

/// `decoder(norm(act(transform(x)))) + bias`, the decoder tied to the word
/// embeddings unless the checkpoint stores it.
pub struct MlmHead {
    transform: Linear,
    act: HiddenAct,
    norm: LayerNorm,
    decoder: Linear,
}

impl MlmHead {
    /// Loads the head of `arch` from `weights` (at their root); `word` are the
    /// encoder's word embeddings.
    pub fn load(arch: &Arch, weights: &VarBuilder, word: &Tensor) -> Result<Option<Self>> {
        let names = arch.mlm;
        if !weights.contains_tensor(&format!("{}.weight", names.transform)) {
            return Ok(None);
        }
        let (h, v) = (arch.spec.hidden_size, arch.spec.vocab_size);
        let decoder_weight = if weights.contains_tensor(names.decoder) {
            weights.get((v, h), names.decoder)?
        } else {
            word.clone()
        };
        let bias_name = names
            .bias
            .iter()
            .find(|n| weights.contains_tensor(n))
            .ok_or_else(|| Error::InvalidArgument(format!("no `{}` bias", names.bias[0])))?;
        let transform = weights.pp(names.transform);
        let transform_bias = transform.contains_tensor("bias");
        Ok(Some(Self {
            transform: candle_nn::linear_b(h, h, transform_bias, transform)?,
            act: if names.always_gelu {
                HiddenAct::Gelu
            } else {
                arch.spec.act
            },
            norm: layer_norm(
                h,
                arch.spec.layer_norm_eps,
                arch.spec.norm_bias(),
                weights.pp(names.norm),
                Ops::Inference,
            )?,
            decoder: Linear::new(decoder_weight, Some(weights.get(v, bias_name)?)),
        }))
    }

    /// Vocabulary logits `(tokens, vocab)` of token embeddings `(tokens, hidden)`.
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        let h = activate(&self.transform.forward(tokens)?, self.act)?;
        let h = self.norm.forward(&h)?;
        Ok(self.decoder.forward(&h)?)
    }
}

/// The MLM head on plain arrays for the packed CPU path, its two linear layers
/// in the encoder's precision (the vocabulary product is most of SPLADE-tiny's
/// time).
pub(crate) struct PackedMlmHead {
    transform: LinearLayer,
    act: HiddenAct,
    norm: Norm,
    decoder: LinearLayer,
    hidden: usize,
    vocab: usize,
}

/// A candle linear layer's weight `(out, in)` and bias as plain arrays.
fn plain_linear(l: &Linear) -> Result<(Vec<f32>, Vec<f32>, usize, usize)> {
    let (outputs, inputs) = l.weight().dims2()?;
    let bias = match l.bias() {
        Some(b) => b.to_vec1::<f32>()?,
        None => vec![0.0; outputs],
    };
    Ok((
        l.weight().flatten_all()?.to_vec1::<f32>()?,
        bias,
        inputs,
        outputs,
    ))
}

impl MlmHead {
    /// This head laid out for the packed path in `precision` (checked by the caller).
    pub(crate) fn packed(&self, precision: Precision) -> Result<PackedMlmHead> {
        let layer = |l: &Linear| -> Result<LinearLayer> {
            let (w, b, inputs, outputs) = plain_linear(l)?;
            Ok(LinearLayer::new(w, b, inputs, outputs, precision))
        };
        let (_, _, hidden, vocab) = plain_linear(&self.decoder)?;
        Ok(PackedMlmHead {
            transform: layer(&self.transform)?,
            act: self.act,
            norm: self.norm.plain()?,
            decoder: layer(&self.decoder)?,
            hidden,
            vocab,
        })
    }
}

impl PackedMlmHead {
    /// For each vocabulary entry, the largest logit over the `rows` token
    /// embeddings in `tokens` (`rows x hidden`).
    pub(crate) fn max_logits(&self, tokens: &[f32], rows: usize) -> Vec<f32> {
        let mut x = vec![0f32; rows * self.hidden];
        let act = self.act;
        self.transform.forward(tokens, rows, &mut x, &|block| {
            crate::compute::kernels::activate(block, act)
        });
        crate::compute::kernels::layer_norm(&mut x, None, &self.norm);
        let mut logits = vec![0f32; rows * self.vocab];
        self.decoder.forward(&x, rows, &mut logits, &|_| {});
        let mut max = vec![f32::NEG_INFINITY; self.vocab];
        for row in logits.chunks_exact(self.vocab) {
            max.iter_mut().zip(row).for_each(|(m, v)| *m = m.max(*v));
        }
        max
    }
}
