//! Architectures. Each file reads its family's `config.json` into an
//! [`EncoderSpec`] (the layer description both back-ends build from) and names
//! where its weights and task heads are stored. Adding a family is one file here
//! and one line in [`detect`].

pub mod bert;
pub mod distilbert;
pub mod modernbert;
pub mod mpnet;
pub mod qwen3;
pub mod xlm_roberta;

use std::path::Path;

pub(crate) use crate::data::json_file::read_json;

use crate::compute::HiddenAct;
use crate::error::{Error, Result};

/// The maths of a transformer encoder, as the back-ends need it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSpec {
    /// Vocabulary size (rows of the word embeddings).
    pub vocab_size: usize,
    /// Width of the token embeddings.
    pub hidden_size: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer.
    pub act: HiddenAct,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Dropout after embeddings, attention output and feed-forward (training).
    pub hidden_dropout: f64,
    /// Dropout of the attention probabilities (training).
    pub attention_dropout: f64,
    /// Rows of the position embeddings.
    pub max_positions: usize,
    /// Position id of the first token: 0, or `padding_idx + 1` (RoBERTa, MPNet).
    pub position_offset: usize,
    /// Rows of the token-type embeddings; 0 when the family has none.
    pub type_vocab_size: usize,
    /// T5-style bucketed relative position bias in attention (MPNet).
    pub relative_attention: Option<RelativeAttention>,
    /// Standard deviation of new weights (task heads).
    pub initializer_range: f64,
    /// The padding token's id.
    pub pad_token_id: u32,
    /// How a block is put together: BERT's post-norm block or a pre-norm one.
    pub layout: Layout,
}

/// Where a block's norms sit, and what comes with each choice.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// BERT's block: position embeddings, a LayerNorm after each residual sum,
    /// biases everywhere, one activation in the feed-forward layer.
    PostNorm,
    /// ModernBERT's block: a norm before attention and before the feed-forward
    /// layer, a final norm, rotary positions, a gated feed-forward layer.
    PreNorm(PreNorm),
}

/// The parts of a pre-norm block that vary between families and checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct PreNorm {
    /// Rotary base of the layers that see every token.
    pub rope_theta: f64,
    /// Rotary base of the sliding-window layers.
    pub local_rope_theta: f64,
    /// Per layer: `Some(w)` when a query sees only keys within `w` positions.
    pub windows: Vec<Option<usize>>,
    /// Whether Q/K/V and the attention output have biases.
    pub attention_bias: bool,
    /// Whether the feed-forward layers have biases.
    pub mlp_bias: bool,
    /// Whether the norms have biases.
    pub norm_bias: bool,
    /// LayerNorm or RMSNorm.
    pub norm: NormKind,
    /// Key and value heads (fewer than the query heads: grouped-query attention).
    pub kv_heads: usize,
    /// Width of one head (not always hidden / heads).
    pub head_dim: usize,
    /// Whether each query and key head is RMS-normalised before the rotation (Qwen3).
    pub qk_norm: bool,
    /// Whether a token sees only the tokens before it (decoders).
    pub causal: bool,
}

/// The kind of normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// `(x - mean) / std * w + b`.
    LayerNorm,
    /// `x / rms(x) * w` (LLaMA, Qwen).
    Rms,
}

impl PreNorm {
    /// Whether the norms are RMSNorms.
    pub fn rms(&self) -> bool {
        self.norm == NormKind::Rms
    }

    /// Layer `i`'s window (`None`: global attention) and rotary base.
    pub fn attention_of(&self, i: usize) -> (Option<usize>, f64) {
        match self.windows.get(i).copied().flatten() {
            Some(w) => (Some(w), self.local_rope_theta),
            None => (None, self.rope_theta),
        }
    }
}

impl EncoderSpec {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        match &self.layout {
            Layout::PreNorm(p) => p.head_dim,
            Layout::PostNorm => self.hidden_size / self.num_heads,
        }
    }

    /// Key and value heads (as many as query heads, but for grouped-query attention).
    pub fn kv_heads(&self) -> usize {
        self.pre_norm().map_or(self.num_heads, |p| p.kv_heads)
    }

    /// Widths of the query projection and of the key (and value) projection.
    pub fn qkv_widths(&self) -> (usize, usize) {
        let d = self.head_dim();
        (self.num_heads * d, self.kv_heads() * d)
    }

    /// Whether the norms are RMSNorms.
    pub fn rms_norm(&self) -> bool {
        self.pre_norm().is_some_and(PreNorm::rms)
    }

    /// The pre-norm parts, when the block is pre-norm.
    pub fn pre_norm(&self) -> Option<&PreNorm> {
        match &self.layout {
            Layout::PreNorm(p) => Some(p),
            Layout::PostNorm => None,
        }
    }

    /// Whether a linear layer of the attention (`true`) or of the feed-forward
    /// layer has a bias.
    pub fn linear_bias(&self, attention: bool) -> bool {
        match &self.layout {
            Layout::PostNorm => true,
            Layout::PreNorm(p) if attention => p.attention_bias,
            Layout::PreNorm(p) => p.mlp_bias,
        }
    }

    /// Whether the norms have biases.
    pub fn norm_bias(&self) -> bool {
        self.pre_norm().is_none_or(|p| p.norm_bias)
    }

    /// The longest input the position embeddings allow.
    pub fn usable_positions(&self) -> usize {
        self.max_positions.saturating_sub(self.position_offset)
    }

    /// Checks the shapes fit together.
    fn check(self, dir: &Path) -> Result<Self> {
        if let Some(p) = self.pre_norm() {
            if p.kv_heads == 0 || !self.num_heads.is_multiple_of(p.kv_heads) || p.head_dim % 2 != 0
            {
                return Err(Error::model_config(
                    dir,
                    format!(
                        "{} attention heads do not share {} key/value heads evenly, or the head \
                         width {} is odd",
                        self.num_heads, p.kv_heads, p.head_dim
                    ),
                ));
            }
            return Ok(self);
        }
        heads_divide(dir, self.hidden_size, self.num_heads)?;
        Ok(self)
    }
}

/// One entry of `config.json`'s `rope_parameters` (transformers 5).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct RopeParameters {
    #[serde(default)]
    pub rope_type: Option<String>,
    #[serde(default)]
    pub rope_theta: Option<f64>,
}

/// Checks `hidden` splits into `heads` equal heads.
pub(crate) fn heads_divide(dir: &Path, hidden: usize, heads: usize) -> Result<()> {
    if heads == 0 || !hidden.is_multiple_of(heads) {
        return Err(Error::model_config(
            dir,
            format!("hidden size {hidden} is not a multiple of the {heads} attention heads"),
        ));
    }
    Ok(())
}

/// Each layer's window from `config.json`'s `layer_types`: `None` for
/// `full_attention`, `sliding` for `sliding_attention`.
pub(crate) fn layer_windows(
    path: &Path,
    types: &[String],
    layers: usize,
    sliding: Option<usize>,
) -> Result<Vec<Option<usize>>> {
    if types.len() != layers {
        return Err(Error::model_config(
            path,
            format!(
                "layer_types has {} entries for {layers} layers",
                types.len()
            ),
        ));
    }
    types
        .iter()
        .map(|t| match t.as_str() {
            "full_attention" => Ok(None),
            "sliding_attention" => Ok(sliding),
            other => Err(Error::model_config(
                path,
                format!("layer type \"{other}\" is not supported"),
            )),
        })
        .collect()
}

/// Bucketed relative positions, as T5 and MPNet compute them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeAttention {
    /// Number of buckets (half for each direction).
    pub num_buckets: usize,
    /// Distance from which every position falls in the last bucket.
    pub max_distance: usize,
}

impl RelativeAttention {
    /// The bucket of key position `key` seen from query position `query`, with
    /// the f32 arithmetic of Hugging Face's `relative_position_bucket`.
    pub fn bucket(&self, query: usize, key: usize) -> usize {
        let n = query as i64 - key as i64; // -(key - query)
        let half = self.num_buckets / 2;
        let mut ret = if n < 0 { half } else { 0 };
        let n = n.unsigned_abs() as usize;
        let max_exact = half / 2;
        if n < max_exact {
            return ret + n;
        }
        let scaled = (n as f32 / max_exact as f32).ln()
            / ((self.max_distance as f64 / max_exact as f64).ln() as f32)
            * (half - max_exact) as f32;
        ret += (max_exact + scaled as usize).min(half - 1);
        ret
    }
}

/// Where an encoder's weights are stored, relative to its prefix.
#[derive(Debug, Clone, Copy)]
pub struct WeightNames {
    /// Word embeddings.
    pub word: &'static str,
    /// Absolute position embeddings (none with rotary positions).
    pub position: Option<&'static str>,
    /// Token-type embeddings, when the family has them.
    pub token_type: Option<&'static str>,
    /// The norm after the embeddings (decoders have none).
    pub embedding_norm: Option<&'static str>,
    /// Blocks are `{layers}.{i}`.
    pub layers: &'static str,
    /// Inside a block: query, key and value, attention output, its norm,
    /// feed-forward in, out, and its norm (pre-norm: the norms before
    /// attention and before the feed-forward layer; the first block's
    /// attention norm may be absent).
    pub qkv: QkvNames,
    /// See [`WeightNames::qkv`].
    pub attention_out: &'static str,
    /// See [`WeightNames::qkv`].
    pub attention_norm: &'static str,
    /// See [`WeightNames::qkv`]; with `up`, the gate of a gated feed-forward layer.
    pub intermediate: &'static str,
    /// The up projection of a gated feed-forward layer stored apart from its gate
    /// (Qwen3: `down(act(gate(x)) * up(x))`).
    pub up: Option<&'static str>,
    /// See [`WeightNames::qkv`].
    pub output: &'static str,
    /// See [`WeightNames::qkv`].
    pub output_norm: &'static str,
    /// The relative attention bias table `(buckets, heads)`, shared by all blocks.
    pub relative_bias: Option<&'static str>,
    /// The norm after the last block (pre-norm families).
    pub final_norm: Option<&'static str>,
    /// The per-head query and key norms inside a block (Qwen3).
    pub qk_norm: Option<(&'static str, &'static str)>,
}

/// Where a block's query, key and value projections are stored.
#[derive(Debug, Clone, Copy)]
pub enum QkvNames {
    /// Three layers.
    Separate {
        /// The query projection.
        query: &'static str,
        /// The key projection.
        key: &'static str,
        /// The value projection.
        value: &'static str,
    },
    /// One layer with Q, K and V stacked as its output rows.
    Fused(&'static str),
}

/// Activation inside a classification head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadAct {
    /// BERT's pooler, RoBERTa's classification head.
    Tanh,
    /// DistilBERT's pre-classifier.
    Relu,
    /// ModernBERT's prediction head.
    Gelu,
}

/// A sequence-classification head on the first token: `out(act(pre(x)))`.
#[derive(Debug, Clone, Copy)]
pub struct ClassifierNames {
    /// Hugging Face's class name, written to `config.json` on saving.
    pub architecture: &'static str,
    /// The hidden-to-hidden layer (full name, task prefix included).
    pub pre: &'static str,
    /// Its activation.
    pub act: HeadAct,
    /// A norm after the activation (ModernBERT's prediction head).
    pub norm: Option<&'static str>,
    /// The hidden-to-labels layer.
    pub out: &'static str,
}

/// A masked-language-model head: `decoder(norm(act(transform(x)))) + bias`.
#[derive(Debug, Clone, Copy)]
pub struct MlmNames {
    /// The hidden-to-hidden transform.
    pub transform: &'static str,
    /// The LayerNorm after it.
    pub norm: &'static str,
    /// The decoder's weight; tied to the word embeddings when absent.
    pub decoder: &'static str,
    /// The output bias (the first name found is used).
    pub bias: &'static [&'static str],
    /// Whether the transform's activation is GELU whatever the encoder uses.
    pub always_gelu: bool,
}

/// A family: its encoder and its heads.
#[derive(Debug, Clone)]
pub struct Arch {
    /// `model_type` as Hugging Face spells it.
    pub model_type: &'static str,
    /// The layer description.
    pub spec: EncoderSpec,
    /// Where the encoder's weights are stored.
    pub names: &'static WeightNames,
    /// The encoder's prefix in task checkpoints (`bert`, `roberta`, ...).
    pub task_prefix: &'static str,
    /// The sequence-classification head.
    pub classifier: &'static ClassifierNames,
    /// The masked-language-model head.
    pub mlm: &'static MlmNames,
    /// Whether the classification head's hidden-to-hidden layer has a bias.
    pub head_bias: bool,
    /// Whether the classification head reads the mean of the tokens (else the first).
    pub head_mean_pooling: bool,
}

/// The families rankbook runs, as `model_type` names.
pub const SUPPORTED: &str = "bert, distilbert, modernbert, mpnet, qwen3, roberta, xlm-roberta";

/// Reads `dir/config.json` and returns its family.
pub fn detect(dir: &Path) -> Result<Arch> {
    let path = dir.join("config.json");
    let config: serde_json::Value = read_json(&path)?;
    let model_type = match config.get("model_type").and_then(|v| v.as_str()) {
        Some(t) => t.to_string(),
        // Old checkpoints without model_type: the class name says it.
        None => config["architectures"][0]
            .as_str()
            .and_then(|a| a.find("For").map(|i| a[..i].to_lowercase()))
            .unwrap_or_else(|| "bert".into()),
    };
    match model_type.as_str() {
        "bert" => bert::arch(&path),
        "distilbert" => distilbert::arch(&path),
        "xlm-roberta" | "roberta" | "xlmroberta" => xlm_roberta::arch(&path),
        "mpnet" => mpnet::arch(&path),
        "modernbert" => modernbert::arch(&path),
        "qwen3" => qwen3::arch(&path),
        other => Err(Error::model_config(
            &path,
            format!("model_type \"{other}\" is not supported (supported: {SUPPORTED})"),
        )),
    }
}

fn default_dropout() -> f64 {
    0.1
}
fn default_eps() -> f64 {
    1e-12
}
fn default_init() -> f64 {
    0.02
}
fn default_act() -> HiddenAct {
    HiddenAct::Gelu
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The family of a `config.json` holding `json` (the families' tests).
    pub(crate) fn arch_from_config(json: &str) -> Result<Arch> {
        let d = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(d.path().join("config.json"), json).expect("config.json written");
        detect(d.path())
    }

    #[test]
    fn relative_buckets_match_hugging_face() {
        // Values of transformers' MPNet `relative_position_bucket(key - query)`
        // with 32 buckets and max distance 128.
        let r = RelativeAttention {
            num_buckets: 32,
            max_distance: 128,
        };
        let cases = [
            (0, 0, 0),
            (0, 1, 17),
            (1, 0, 1),
            (0, 7, 23),
            (0, 8, 24),
            (8, 0, 8),
            (16, 0, 10),
            (0, 16, 26),
            (32, 0, 12),
            (64, 0, 14),
            (127, 0, 15),
            (300, 0, 15),
            (0, 300, 31),
        ];
        for (q, k, want) in cases {
            assert_eq!(r.bucket(q, k), want, "query {q}, key {k}");
        }
    }

    #[test]
    fn unknown_model_type_names_it_and_the_supported_ones() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
        let e = detect(d.path()).unwrap_err().to_string();
        assert!(e.contains("\"gpt2\""), "{e}");
        assert!(e.contains(SUPPORTED), "{e}");
    }
}
