//! DistilBERT: BERT's block under other names and config keys, no token types,
//! a ReLU pre-classifier.

use std::path::Path;

use serde::Deserialize;

use crate::compute::HiddenAct;
use crate::error::Result;
use crate::model::arch::{
    Arch, ClassifierNames, EncoderSpec, HeadAct, Layout, MlmNames, QkvNames, WeightNames,
    default_act, default_dropout, default_init, read_json,
};

#[derive(Deserialize)]
struct DistilBertConfig {
    vocab_size: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    hidden_dim: usize,
    #[serde(default = "default_act")]
    activation: HiddenAct,
    #[serde(default = "default_dropout")]
    dropout: f64,
    #[serde(default = "default_dropout")]
    attention_dropout: f64,
    max_position_embeddings: usize,
    #[serde(default = "default_init")]
    initializer_range: f64,
    #[serde(default)]
    pad_token_id: Option<u32>,
}

static NAMES: WeightNames = WeightNames {
    word: "embeddings.word_embeddings",
    position: Some("embeddings.position_embeddings"),
    token_type: None,
    embedding_norm: Some("embeddings.LayerNorm"),
    layers: "transformer.layer",
    qkv: QkvNames::Separate {
        query: "attention.q_lin",
        key: "attention.k_lin",
        value: "attention.v_lin",
    },
    attention_out: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    intermediate: "ffn.lin1",
    up: None,
    output: "ffn.lin2",
    output_norm: "output_layer_norm",
    relative_bias: None,
    final_norm: None,
    qk_norm: None,
};

static CLASSIFIER: ClassifierNames = ClassifierNames {
    architecture: "DistilBertForSequenceClassification",
    pre: "pre_classifier",
    act: HeadAct::Relu,
    norm: None,
    out: "classifier",
};

static MLM: MlmNames = MlmNames {
    transform: "vocab_transform",
    norm: "vocab_layer_norm",
    decoder: "vocab_projector.weight",
    bias: &["vocab_projector.bias"],
    always_gelu: false,
};

/// DistilBERT from its `config.json`.
pub fn arch(path: &Path) -> Result<Arch> {
    let c: DistilBertConfig = read_json(path)?;
    let spec = EncoderSpec {
        vocab_size: c.vocab_size,
        hidden_size: c.dim,
        num_layers: c.n_layers,
        num_heads: c.n_heads,
        intermediate_size: c.hidden_dim,
        act: c.activation,
        layer_norm_eps: 1e-12,
        hidden_dropout: c.dropout,
        attention_dropout: c.attention_dropout,
        max_positions: c.max_position_embeddings,
        position_offset: 0,
        type_vocab_size: 0,
        relative_attention: None,
        initializer_range: c.initializer_range,
        pad_token_id: c.pad_token_id.unwrap_or(0),
        layout: Layout::PostNorm,
    };
    Ok(Arch {
        model_type: "distilbert",
        spec: spec.check(path)?,
        names: &NAMES,
        task_prefix: "distilbert",
        classifier: &CLASSIFIER,
        mlm: &MLM,
        head_bias: true,
        head_mean_pooling: false,
    })
}
