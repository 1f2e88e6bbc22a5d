//! RoBERTa and XLM-RoBERTa: BERT's layers and weight names, positions counted
//! from `padding_idx + 1`, one token type, a two-layer classification head.

use std::path::Path;

use crate::error::Result;
use crate::model::arch::bert::{BertConfig, NAMES};
use crate::model::arch::{Arch, ClassifierNames, HeadAct, MlmNames};

static CLASSIFIER: ClassifierNames = ClassifierNames {
    architecture: "XLMRobertaForSequenceClassification",
    pre: "classifier.dense",
    act: HeadAct::Tanh,
    norm: None,
    out: "classifier.out_proj",
};

/// RoBERTa's masked-LM head names (MPNet's too).
pub(crate) static MLM: MlmNames = MlmNames {
    transform: "lm_head.dense",
    norm: "lm_head.layer_norm",
    decoder: "lm_head.decoder.weight",
    bias: &["lm_head.bias", "lm_head.decoder.bias"],
    always_gelu: true,
};

/// XLM-RoBERTa (or RoBERTa) from its `config.json`.
pub fn arch(path: &Path) -> Result<Arch> {
    let c = BertConfig::read(path)?;
    let pad = c.pad_token_id.unwrap_or(1);
    Ok(Arch {
        model_type: "xlm-roberta",
        spec: c.spec(pad as usize + 1, pad).check(path)?,
        names: &NAMES,
        task_prefix: "roberta",
        classifier: &CLASSIFIER,
        mlm: &MLM,
        head_bias: true,
        head_mean_pooling: false,
    })
}
