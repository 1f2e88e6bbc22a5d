//! Qwen3 as an embedder (`Qwen3Model`, the backbone of Qwen3-Embedding):
//! a decoder's pre-norm blocks with RMSNorm, causal attention with fewer key
//! and value heads than query heads, per-head query and key norms, rotary
//! positions and a SwiGLU feed-forward layer. Pooled on the last token by the
//! sentence-transformers folder around it.

use std::path::Path;

use serde::Deserialize;

use crate::compute::HiddenAct;
use crate::error::{Error, Result};
use crate::model::arch::{
    Arch, ClassifierNames, EncoderSpec, HeadAct, Layout, MlmNames, NormKind, PreNorm, QkvNames,
    RopeParameters, WeightNames, default_init, layer_windows, read_json,
};

/// Qwen3's `config.json`.
#[derive(Debug, Deserialize)]
struct Qwen3Config {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
    #[serde(default)]
    head_dim: Option<usize>,
    #[serde(default = "default_act")]
    hidden_act: HiddenAct,
    max_position_embeddings: usize,
    #[serde(default = "default_init")]
    initializer_range: f64,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    attention_dropout: f64,
    #[serde(default)]
    use_sliding_window: bool,
    #[serde(default)]
    sliding_window: Option<usize>,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default)]
    rope_theta: Option<f64>,
    #[serde(default)]
    rope_parameters: Option<RopeParameters>,
    #[serde(default)]
    rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default)]
    eos_token_id: Option<serde_json::Value>,
}

fn default_act() -> HiddenAct {
    HiddenAct::Silu
}
fn default_eps() -> f64 {
    1e-6
}

static NAMES: WeightNames = WeightNames {
    word: "embed_tokens",
    position: None,
    token_type: None,
    embedding_norm: None,
    layers: "layers",
    qkv: QkvNames::Separate {
        query: "self_attn.q_proj",
        key: "self_attn.k_proj",
        value: "self_attn.v_proj",
    },
    attention_out: "self_attn.o_proj",
    attention_norm: "input_layernorm",
    intermediate: "mlp.gate_proj",
    up: Some("mlp.up_proj"),
    output: "mlp.down_proj",
    output_norm: "post_attention_layernorm",
    relative_bias: None,
    final_norm: Some("norm"),
    qk_norm: Some(("self_attn.q_norm", "self_attn.k_norm")),
};

// Qwen3 has no sequence-classification or masked-LM head rankbook runs
// (its rerankers score "yes"/"no" tokens of the language-model head); these
// names only make loading such a head fail with a missing-weight error.
static CLASSIFIER: ClassifierNames = ClassifierNames {
    architecture: "Qwen3ForSequenceClassification",
    pre: "score.pre",
    act: HeadAct::Tanh,
    norm: None,
    out: "score",
};

static MLM: MlmNames = MlmNames {
    transform: "lm_head.transform",
    norm: "lm_head.norm",
    decoder: "lm_head.weight",
    bias: &["lm_head.bias"],
    always_gelu: false,
};

impl Qwen3Config {
    /// Each layer's window (`None`: every earlier token), counted as the
    /// largest distance a key may be from its query.
    fn windows(&self, path: &Path) -> Result<Vec<Option<usize>>> {
        let window = match (self.use_sliding_window, self.sliding_window) {
            (true, Some(w)) if w > 0 => Some(w - 1),
            _ => None,
        };
        let Some(types) = &self.layer_types else {
            return Ok(vec![None; self.num_hidden_layers]);
        };
        layer_windows(path, types, self.num_hidden_layers, window)
    }

    fn theta(&self, path: &Path) -> Result<f64> {
        let scaled = self.rope_scaling.as_ref().is_some_and(|v| !v.is_null());
        let rope_type = self
            .rope_parameters
            .as_ref()
            .and_then(|p| p.rope_type.as_deref());
        if scaled || rope_type.is_some_and(|t| t != "default") {
            return Err(Error::model_config(
                path,
                "rope scaling is not supported (only the default rotary embedding)",
            ));
        }
        Ok(self
            .rope_parameters
            .as_ref()
            .and_then(|p| p.rope_theta)
            .or(self.rope_theta)
            .unwrap_or(1_000_000.0))
    }
}

/// Qwen3 from its `config.json`.
pub fn arch(path: &Path) -> Result<Arch> {
    let c: Qwen3Config = read_json(path)?;
    let heads = c.num_attention_heads;
    let head_dim = c.head_dim.unwrap_or(c.hidden_size / heads.max(1));
    let theta = c.theta(path)?;
    let layout = Layout::PreNorm(PreNorm {
        rope_theta: theta,
        local_rope_theta: theta,
        windows: c.windows(path)?,
        attention_bias: c.attention_bias,
        mlp_bias: false,
        norm_bias: false,
        norm: NormKind::Rms,
        kv_heads: c.num_key_value_heads.unwrap_or(heads),
        head_dim,
        qk_norm: true,
        causal: true,
    });
    // The padding id only fills batches on the candle path (masked out there).
    let eos = c.eos_token_id.as_ref().and_then(|v| match v {
        serde_json::Value::Array(a) => a.first().and_then(|x| x.as_u64()),
        v => v.as_u64(),
    });
    let spec = EncoderSpec {
        vocab_size: c.vocab_size,
        hidden_size: c.hidden_size,
        num_layers: c.num_hidden_layers,
        num_heads: heads,
        intermediate_size: c.intermediate_size,
        act: c.hidden_act,
        layer_norm_eps: c.rms_norm_eps,
        hidden_dropout: 0.0,
        attention_dropout: c.attention_dropout,
        max_positions: c.max_position_embeddings,
        position_offset: 0,
        type_vocab_size: 0,
        relative_attention: None,
        initializer_range: c.initializer_range,
        pad_token_id: c.pad_token_id.or(eos.map(|e| e as u32)).unwrap_or(0),
        layout,
    };
    Ok(Arch {
        model_type: "qwen3",
        spec: spec.check(path)?,
        names: &NAMES,
        task_prefix: "model",
        classifier: &CLASSIFIER,
        mlm: &MLM,
        head_bias: false,
        head_mean_pooling: false,
    })
}

#[cfg(test)]
mod tests {

    use crate::model::arch::tests::arch_from_config as arch_of;

    const SIZES: &str = r#""model_type": "qwen3", "vocab_size": 10, "hidden_size": 8,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 6, "intermediate_size": 12, "max_position_embeddings": 64"#;

    #[test]
    fn grouped_heads_of_their_own_width() {
        let a = arch_of(&format!(r#"{{{SIZES}, "rope_theta": 5000.0}}"#)).unwrap();
        assert_eq!((a.spec.head_dim(), a.spec.kv_heads()), (6, 2));
        assert_eq!(a.spec.qkv_widths(), (24, 12));
        let p = a.spec.pre_norm().unwrap();
        assert!(p.causal && p.qk_norm && p.rms());
        assert_eq!(p.attention_of(1), (None, 5000.0));
    }

    #[test]
    fn uneven_heads_and_scaled_rope_are_refused() {
        let uneven = SIZES.replace(r#""num_key_value_heads": 2"#, r#""num_key_value_heads": 3"#);
        let e = arch_of(&format!("{{{uneven}}}")).unwrap_err().to_string();
        assert!(e.contains("do not share 3 key/value heads"), "{e}");
        let e = arch_of(&format!(
            r#"{{{SIZES}, "rope_scaling": {{"rope_type": "yarn", "factor": 4.0}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("rope scaling is not supported"), "{e}");
    }
}
