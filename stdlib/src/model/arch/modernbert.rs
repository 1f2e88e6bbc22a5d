//! ModernBERT (`ModernBertModel`, `ModernBertForSequenceClassification`,
//! `ModernBertForMaskedLM`): pre-norm blocks, rotary positions, global
//! attention every few layers and a sliding window in the others, a GeGLU
//! feed-forward layer, no biases by default. Unpadding, its speed trick, is
//! what the packed back-end does for every family.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::compute::HiddenAct;
use crate::error::{Error, Result};
use crate::model::arch::{
    Arch, ClassifierNames, EncoderSpec, HeadAct, Layout, MlmNames, NormKind, PreNorm, QkvNames,
    RopeParameters, WeightNames, default_act, default_init, heads_divide, layer_windows, read_json,
};

/// ModernBERT's `config.json`, old (`global_attn_every_n_layers`,
/// `global_rope_theta`) and new (`layer_types`, `rope_parameters`) keys.
#[derive(Debug, Deserialize)]
struct ModernBertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "default_act")]
    hidden_activation: HiddenAct,
    max_position_embeddings: usize,
    #[serde(default = "default_init")]
    initializer_range: f64,
    #[serde(default = "default_eps")]
    norm_eps: f64,
    #[serde(default)]
    norm_bias: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default)]
    attention_dropout: f64,
    #[serde(default)]
    mlp_dropout: f64,
    #[serde(default = "default_local")]
    local_attention: usize,
    #[serde(default = "default_every")]
    global_attn_every_n_layers: usize,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default)]
    global_rope_theta: Option<f64>,
    #[serde(default)]
    local_rope_theta: Option<f64>,
    #[serde(default)]
    rope_parameters: Option<HashMap<String, RopeParameters>>,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default = "default_pooling")]
    classifier_pooling: String,
    #[serde(default)]
    classifier_bias: bool,
    #[serde(default = "default_act")]
    classifier_activation: HiddenAct,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_local() -> usize {
    128
}
fn default_every() -> usize {
    3
}
fn default_pooling() -> String {
    "cls".into()
}

static NAMES: WeightNames = WeightNames {
    word: "embeddings.tok_embeddings",
    position: None,
    token_type: None,
    embedding_norm: Some("embeddings.norm"),
    layers: "layers",
    qkv: QkvNames::Fused("attn.Wqkv"),
    attention_out: "attn.Wo",
    attention_norm: "attn_norm",
    intermediate: "mlp.Wi",
    up: None,
    output: "mlp.Wo",
    output_norm: "mlp_norm",
    relative_bias: None,
    final_norm: Some("final_norm"),
    qk_norm: None,
};

static CLASSIFIER: ClassifierNames = ClassifierNames {
    architecture: "ModernBertForSequenceClassification",
    pre: "head.dense",
    act: HeadAct::Gelu,
    norm: Some("head.norm"),
    out: "classifier",
};

static MLM: MlmNames = MlmNames {
    transform: "head.dense",
    norm: "head.norm",
    decoder: "decoder.weight",
    bias: &["decoder.bias"],
    always_gelu: true,
};

impl ModernBertConfig {
    /// The rotary base of `kind` (`full_attention`, `sliding_attention`).
    fn theta(&self, path: &Path, kind: &str, old: Option<f64>, default: f64) -> Result<f64> {
        match self.rope_parameters.as_ref().and_then(|r| r.get(kind)) {
            Some(p) => {
                if let Some(t) = p.rope_type.as_deref().filter(|t| *t != "default") {
                    return Err(Error::model_config(
                        path,
                        format!("rope_type \"{t}\" of {kind} is not supported (only default)"),
                    ));
                }
                Ok(p.rope_theta.or(old).unwrap_or(default))
            }
            None => Ok(old.unwrap_or(default)),
        }
    }

    /// Each layer's window: `None` for global attention.
    fn windows(&self, path: &Path) -> Result<Vec<Option<usize>>> {
        let half = self.local_attention / 2;
        match &self.layer_types {
            Some(types) => layer_windows(path, types, self.num_hidden_layers, Some(half)),
            None => {
                let every = self.global_attn_every_n_layers.max(1);
                Ok((0..self.num_hidden_layers)
                    .map(|i| (!i.is_multiple_of(every)).then_some(half))
                    .collect())
            }
        }
    }
}

/// ModernBERT from its `config.json`.
pub fn arch(path: &Path) -> Result<Arch> {
    let c: ModernBertConfig = read_json(path)?;
    if c.classifier_pooling != "cls" && c.classifier_pooling != "mean" {
        return Err(Error::model_config(
            path,
            format!(
                "classifier_pooling \"{}\" is not supported (cls, mean)",
                c.classifier_pooling
            ),
        ));
    }
    if c.classifier_activation != HiddenAct::Gelu {
        return Err(Error::model_config(
            path,
            "classifier_activation other than gelu is not supported",
        ));
    }
    let layout = Layout::PreNorm(PreNorm {
        rope_theta: c.theta(path, "full_attention", c.global_rope_theta, 160_000.0)?,
        local_rope_theta: c.theta(path, "sliding_attention", c.local_rope_theta, 10_000.0)?,
        windows: c.windows(path)?,
        attention_bias: c.attention_bias,
        mlp_bias: c.mlp_bias,
        norm_bias: c.norm_bias,
        norm: NormKind::LayerNorm,
        kv_heads: c.num_attention_heads,
        head_dim: c.hidden_size / c.num_attention_heads.max(1),
        qk_norm: false,
        causal: false,
    });
    heads_divide(path, c.hidden_size, c.num_attention_heads)?;
    let spec = EncoderSpec {
        vocab_size: c.vocab_size,
        hidden_size: c.hidden_size,
        num_layers: c.num_hidden_layers,
        num_heads: c.num_attention_heads,
        intermediate_size: c.intermediate_size,
        act: c.hidden_activation,
        layer_norm_eps: c.norm_eps,
        hidden_dropout: c.mlp_dropout,
        attention_dropout: c.attention_dropout,
        max_positions: c.max_position_embeddings,
        position_offset: 0,
        type_vocab_size: 0,
        relative_attention: None,
        initializer_range: c.initializer_range,
        pad_token_id: c.pad_token_id.unwrap_or(50283),
        layout,
    };
    Ok(Arch {
        model_type: "modernbert",
        spec: spec.check(path)?,
        names: &NAMES,
        task_prefix: "model",
        classifier: &CLASSIFIER,
        mlm: &MLM,
        head_bias: c.classifier_bias,
        head_mean_pooling: c.classifier_pooling == "mean",
    })
}

#[cfg(test)]
mod tests {

    use crate::model::arch::tests::arch_from_config as arch_of;

    const SIZES: &str = r#""model_type": "modernbert", "vocab_size": 10, "hidden_size": 8,
        "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 12,
        "max_position_embeddings": 64"#;

    #[test]
    fn old_configs_say_every_nth_layer_is_global() {
        let a = arch_of(&format!(
            r#"{{{SIZES}, "global_attn_every_n_layers": 3, "local_attention": 128,
            "global_rope_theta": 160000.0, "local_rope_theta": 10000.0}}"#
        ))
        .unwrap();
        let p = a.spec.pre_norm().unwrap();
        assert_eq!(p.windows, vec![None, Some(64), Some(64), None]);
        assert_eq!(p.attention_of(0), (None, 160_000.0));
        assert_eq!(p.attention_of(1), (Some(64), 10_000.0));
    }

    #[test]
    fn new_configs_name_each_layer_and_refuse_unknown_rope() {
        let a = arch_of(&format!(
            r#"{{{SIZES}, "local_attention": 8, "layer_types": ["full_attention",
            "sliding_attention", "sliding_attention", "full_attention"],
            "rope_parameters": {{"full_attention": {{"rope_type": "default", "rope_theta": 5.0}},
            "sliding_attention": {{"rope_theta": 7.0}}}}}}"#
        ))
        .unwrap();
        let p = a.spec.pre_norm().unwrap();
        assert_eq!(p.windows, vec![None, Some(4), Some(4), None]);
        assert_eq!((p.rope_theta, p.local_rope_theta), (5.0, 7.0));
        let e = arch_of(&format!(
            r#"{{{SIZES}, "rope_parameters": {{"full_attention": {{"rope_type": "yarn"}}}}}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("config.json") && e.contains("\"yarn\""), "{e}");
        let e = arch_of(&format!(
            r#"{{{SIZES}, "layer_types": ["full_attention"]}}"#
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("1 entries for 4 layers"), "{e}");
    }
}
