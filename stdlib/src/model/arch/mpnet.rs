//! MPNet: BERT's block with its own weight names, no token types, positions
//! counted from 2, and a bucketed relative position bias shared
//! by every block's attention.

use std::path::Path;

use serde::Deserialize;

use crate::error::Result;
use crate::model::arch::bert::BertConfig;
use crate::model::arch::xlm_roberta;
use crate::model::arch::{
    Arch, ClassifierNames, HeadAct, QkvNames, RelativeAttention, WeightNames, read_json,
};

/// MPNet's own `config.json` key beside BERT's.
#[derive(Deserialize)]
struct RelativeConfig {
    #[serde(default = "default_buckets")]
    relative_attention_num_buckets: usize,
}

fn default_buckets() -> usize {
    32
}

static NAMES: WeightNames = WeightNames {
    word: "embeddings.word_embeddings",
    position: Some("embeddings.position_embeddings"),
    token_type: None,
    embedding_norm: Some("embeddings.LayerNorm"),
    layers: "encoder.layer",
    qkv: QkvNames::Separate {
        query: "attention.attn.q",
        key: "attention.attn.k",
        value: "attention.attn.v",
    },
    attention_out: "attention.attn.o",
    attention_norm: "attention.LayerNorm",
    intermediate: "intermediate.dense",
    up: None,
    output: "output.dense",
    output_norm: "output.LayerNorm",
    relative_bias: Some("encoder.relative_attention_bias"),
    final_norm: None,
    qk_norm: None,
};

static CLASSIFIER: ClassifierNames = ClassifierNames {
    architecture: "MPNetForSequenceClassification",
    pre: "classifier.dense",
    act: HeadAct::Tanh,
    norm: None,
    out: "classifier.out_proj",
};

/// MPNet from its `config.json`.
pub fn arch(path: &Path) -> Result<Arch> {
    let c = BertConfig::read(path)?;
    let r: RelativeConfig = read_json(path)?;
    // transformers' MPNet counts positions from padding_idx + 1 with padding_idx
    // fixed at 1, whatever the config's pad_token_id.
    let mut spec = c.spec(2, 1);
    spec.type_vocab_size = 0;
    spec.relative_attention = Some(RelativeAttention {
        num_buckets: r.relative_attention_num_buckets,
        max_distance: 128,
    });
    Ok(Arch {
        model_type: "mpnet",
        spec: spec.check(path)?,
        names: &NAMES,
        task_prefix: "mpnet",
        classifier: &CLASSIFIER,
        mlm: &xlm_roberta::MLM,
        head_bias: true,
        head_mean_pooling: false,
    })
}
