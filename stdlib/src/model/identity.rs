//! What determines an encoder's output: one record for every encoder kind
//! (bi-encoder, SPLADE, and later ones). An index records it so queries are
//! encoded the same way as its documents; the embedding cache keys on it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::compute::Precision;

/// The settings that decide an encoder's output for a given text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderIdentity {
    /// The model as it was named (hub id or folder); informative, not compared.
    pub model: String,
    /// SHA-256 of the weight files.
    pub weights_sha256: String,
    /// The modules after the transformer, e.g. `mean+normalize`, or `splade`.
    pub pipeline: String,
    /// Truncation length in tokens.
    pub max_length: usize,
    /// Prefix of queries.
    pub query_prompt: Option<String>,
    /// Prefix of documents.
    pub document_prompt: Option<String>,
    /// Vector width (a SPLADE model's vocabulary size).
    pub dim: usize,
    /// Weights kept per sparse vector (None: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// The number format of the linear layers (f32 unless asked; left out of
    /// the record and the cache key when f32, so older indexes still match).
    #[serde(default, skip_serializing_if = "is_f32")]
    pub precision: Precision,
}

fn is_f32(p: &Precision) -> bool {
    *p == Precision::F32
}

impl EncoderIdentity {
    /// Whether vectors from `self` and `other` are comparable (everything but the
    /// model's name agrees).
    pub fn same_vectors(&self, other: &Self) -> bool {
        Self {
            model: String::new(),
            ..self.clone()
        } == Self {
            model: String::new(),
            ..other.clone()
        }
    }

    /// A hex key for vectors of texts encoded with `prompt` (the name is left out,
    /// so a folder and its hub id share cache entries).
    pub fn cache_key(&self, prompt: Option<&str>) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        // A top-k only where there is one: bi-encoder keys stay as they were.
        let top_k = self.top_k.map(|k| k.to_string());
        let precision = (self.precision != Precision::F32).then(|| self.precision.name());
        for part in [
            self.weights_sha256.as_str(),
            self.pipeline.as_str(),
            &self.max_length.to_string(),
            &self.dim.to_string(),
            prompt.unwrap_or(""),
        ]
        .into_iter()
        .chain(top_k.as_deref())
        .chain(precision)
        {
            // Length-prefixed so that no two different settings hash alike.
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

impl fmt::Display for EncoderIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prompt = |p: &Option<String>| {
            p.as_deref()
                .map_or("none".to_string(), |p| format!("{p:?}"))
        };
        write!(
            f,
            "{} (weights {}, {}, max length {}, dim {}",
            self.model,
            &self.weights_sha256[..self.weights_sha256.len().min(12)],
            self.pipeline,
            self.max_length,
            self.dim,
        )?;
        if let Some(k) = self.top_k {
            write!(f, ", top-k {k}")?;
        }
        if self.precision != Precision::F32 {
            write!(f, ", precision {}", self.precision)?;
        }
        write!(
            f,
            ", query prompt {}, document prompt {})",
            prompt(&self.query_prompt),
            prompt(&self.document_prompt),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EncoderIdentity {
        EncoderIdentity {
            model: "org/m".into(),
            weights_sha256: "ab".repeat(32),
            pipeline: "mean+normalize".into(),
            max_length: 256,
            query_prompt: None,
            document_prompt: None,
            dim: 384,
            top_k: None,
            precision: Precision::F32,
        }
    }

    #[test]
    fn names_do_not_matter_settings_do() {
        let a = sample();
        let b = EncoderIdentity {
            model: "/some/folder".into(),
            ..sample()
        };
        assert!(a.same_vectors(&b));
        assert_eq!(a.cache_key(None), b.cache_key(None));
        let c = EncoderIdentity {
            max_length: 128,
            ..sample()
        };
        assert!(!a.same_vectors(&c));
        assert_ne!(a.cache_key(None), c.cache_key(None));
        assert_ne!(a.cache_key(None), a.cache_key(Some("query: ")));
        assert_eq!(
            a.to_string(),
            "org/m (weights abababababab, mean+normalize, max length 256, dim 384, query prompt none, document prompt none)"
        );
        // A bi-encoder's key is the one it had before SPLADE shared the record.
        assert_eq!(
            a.cache_key(None),
            "4c06bf83573a0107098c22420e3f48e7a92abf7bfdb29be7a5158aea58450650"
        );
        let sparse = EncoderIdentity {
            pipeline: "splade".into(),
            top_k: Some(64),
            ..sample()
        };
        assert_ne!(sparse.cache_key(None), a.cache_key(None));
        assert!(
            sparse
                .to_string()
                .contains("splade, max length 256, dim 384, top-k 64")
        );
        // Another precision is other vectors: another key, not comparable.
        let int8 = EncoderIdentity {
            precision: Precision::Int8,
            ..sample()
        };
        assert!(!a.same_vectors(&int8));
        assert_ne!(a.cache_key(None), int8.cache_key(None));
        assert!(int8.to_string().contains("dim 384, precision int8"));
        let json = serde_json::to_string(&a).unwrap();
        assert!(
            !json.contains("precision"),
            "f32 records stay as they were: {json}"
        );
        let back: EncoderIdentity =
            serde_json::from_str(&serde_json::to_string(&int8).unwrap()).unwrap();
        assert_eq!(back.precision, Precision::Int8);
    }
}
