//! BERT (`BertModel`, `BertForSequenceClassification`, `BertForMaskedLM`).
//! Its `config.json` keys are shared by RoBERTa/XLM-R and others.

use std::path::Path;

use serde::Deserialize;

use crate::compute::HiddenAct;
use crate::error::{Error, Result};
use crate::model::arch::{
    Arch, ClassifierNames, EncoderSpec, HeadAct, Layout, MlmNames, QkvNames, WeightNames,
    default_act, default_dropout, default_eps, default_init, read_json,
};

/// `config.json` of BERT and of the families that kept its keys.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: HiddenAct,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default = "default_init")]
    pub initializer_range: f64,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

fn default_type_vocab() -> usize {
    2
}

impl BertConfig {
    /// Reads `path`, refusing position embeddings other than absolute ones.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let c: Self = read_json(path)?;
        if let Some(p) = &c.position_embedding_type
            && p != "absolute"
        {
            return Err(Error::parse(
                path,
                1,
                None,
                format!("position_embedding_type \"{p}\" is not supported (only absolute)"),
            ));
        }
        Ok(c)
    }

    /// The layer description, with positions starting at `position_offset`.
    pub(crate) fn spec(&self, position_offset: usize, pad: u32) -> EncoderSpec {
        EncoderSpec {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            intermediate_size: self.intermediate_size,
            act: self.hidden_act,
            layer_norm_eps: self.layer_norm_eps,
            hidden_dropout: self.hidden_dropout_prob,
            attention_dropout: self.attention_probs_dropout_prob,
            max_positions: self.max_position_embeddings,
            position_offset,
            type_vocab_size: self.type_vocab_size,
            relative_attention: None,
            initializer_range: self.initializer_range,
            pad_token_id: self.pad_token_id.unwrap_or(pad),
            layout: Layout::PostNorm,
        }
    }
}

/// BERT's weight names (also RoBERTa's and XLM-R's).
pub(crate) static NAMES: WeightNames = WeightNames {
    word: "embeddings.word_embeddings",
    position: Some("embeddings.position_embeddings"),
    token_type: Some("embeddings.token_type_embeddings"),
    embedding_norm: Some("embeddings.LayerNorm"),
    layers: "encoder.layer",
    qkv: QkvNames::Separate {
        query: "attention.self.query",
        key: "attention.self.key",
        value: "attention.self.value",
    },
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    intermediate: "intermediate.dense",
    up: None,
    output: "output.dense",
    output_norm: "output.LayerNorm",
    relative_bias: None,
    final_norm: None,
    qk_norm: None,
};

static CLASSIFIER: ClassifierNames = ClassifierNames {
    architecture: "BertForSequenceClassification",
    pre: "bert.pooler.dense",
    act: HeadAct::Tanh,
    norm: None,
    out: "classifier",
};

static MLM: MlmNames = MlmNames {
    transform: "cls.predictions.transform.dense",
    norm: "cls.predictions.transform.LayerNorm",
    decoder: "cls.predictions.decoder.weight",
    bias: &["cls.predictions.bias", "cls.predictions.decoder.bias"],
    always_gelu: false,
};

/// BERT from its `config.json`.
pub fn arch(path: &Path) -> Result<Arch> {
    let c = BertConfig::read(path)?;
    Ok(Arch {
        model_type: "bert",
        spec: c.spec(0, 0).check(path)?,
        names: &NAMES,
        task_prefix: "bert",
        classifier: &CLASSIFIER,
        mlm: &MLM,
        head_bias: true,
        head_mean_pooling: false,
    })
}
