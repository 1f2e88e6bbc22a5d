//! sentence-transformers' `Pooling` module: token embeddings to one vector per text.

use std::path::Path;

use candle_core::{D, Tensor};
use serde::Deserialize;

use crate::error::{Error, Result};

/// One way of pooling token embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolingMode {
    /// The first token (`[CLS]`).
    Cls,
    /// Element-wise maximum over real tokens.
    Max,
    /// Mean over real tokens.
    Mean,
    /// Sum over real tokens divided by the square root of their count.
    MeanSqrtLen,
    /// Mean weighted by position (1, 2, …).
    WeightedMean,
    /// The last real token.
    LastToken,
}

impl PoolingMode {
    /// Parses a mode name as sentence-transformers spells it.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "cls" => Self::Cls,
            "max" => Self::Max,
            "mean" => Self::Mean,
            "mean_sqrt_len_tokens" => Self::MeanSqrtLen,
            "weightedmean" => Self::WeightedMean,
            "lasttoken" => Self::LastToken,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown pooling \"{other}\" (known: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken)"
                )));
            }
        })
    }
}

/// `1_Pooling/config.json` in either format: sentence-transformers before 6
/// writes one `pooling_mode_*` flag per mode; 6.x writes `pooling_mode`, a name
/// or a list of names (and `embedding_dimension` for `word_embedding_dimension`).
#[derive(Deserialize, Default)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode: Option<ModeNames>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    #[serde(default = "yes")]
    include_prompt: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModeNames {
    One(String),
    Many(Vec<String>),
}

fn yes() -> bool {
    true
}

/// The pooling step; several modes are concatenated in sentence-transformers' order.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooling {
    /// Modes in output order.
    pub modes: Vec<PoolingMode>,
    /// Whether prompt tokens take part in pooling.
    pub include_prompt: bool,
}

impl Pooling {
    /// Single-mode pooling.
    pub fn new(mode: PoolingMode) -> Self {
        Self {
            modes: vec![mode],
            include_prompt: true,
        }
    }

    /// Reads `1_Pooling/config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let f: PoolingFile = serde_json::from_str(&text)
            .map_err(|e| Error::parse(path, e.line(), Some(e.column()), e.to_string()))?;
        let modes: Vec<PoolingMode> = match &f.pooling_mode {
            Some(names) => {
                let names = match names {
                    ModeNames::One(n) => std::slice::from_ref(n),
                    ModeNames::Many(v) => v.as_slice(),
                };
                names
                    .iter()
                    .map(|n| {
                        PoolingMode::parse(n)
                            .map_err(|e| Error::parse(path, 1, None, e.to_string()))
                    })
                    .collect::<Result<_>>()?
            }
            // The order sentence-transformers concatenates them in.
            None => [
                (f.pooling_mode_cls_token, PoolingMode::Cls),
                (f.pooling_mode_max_tokens, PoolingMode::Max),
                (f.pooling_mode_mean_tokens, PoolingMode::Mean),
                (
                    f.pooling_mode_mean_sqrt_len_tokens,
                    PoolingMode::MeanSqrtLen,
                ),
                (
                    f.pooling_mode_weightedmean_tokens,
                    PoolingMode::WeightedMean,
                ),
                (f.pooling_mode_lasttoken, PoolingMode::LastToken),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, m)| *m)
            .collect(),
        };
        if modes.is_empty() {
            return Err(Error::parse(path, 1, None, "no pooling mode is enabled"));
        }
        Ok(Self {
            modes,
            include_prompt: f.include_prompt,
        })
    }

    /// Output width for token embeddings of width `hidden`.
    pub fn output_dim(&self, hidden: usize) -> usize {
        hidden * self.modes.len()
    }

    /// Pools `(batch, seq, hidden)` token embeddings under a `(batch, seq)` f32 mask.
    pub fn forward(&self, tokens: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let m = mask.unsqueeze(D::Minus1)?.to_dtype(tokens.dtype())?; // (b, l, 1)
        let mut parts = Vec::with_capacity(self.modes.len());
        for mode in &self.modes {
            let p = match mode {
                PoolingMode::Cls => tokens.narrow(1, 0, 1)?.squeeze(1)?,
                PoolingMode::Max => {
                    // Padding gets a very negative value so it never wins.
                    let neg = ((&m - 1.0)? * 1e9)?;
                    tokens.broadcast_mul(&m)?.broadcast_add(&neg)?.max(1)?
                }
                PoolingMode::Mean | PoolingMode::MeanSqrtLen => {
                    let sum = tokens.broadcast_mul(&m)?.sum(1)?;
                    let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
                    if *mode == PoolingMode::Mean {
                        sum.broadcast_div(&count)?
                    } else {
                        sum.broadcast_div(&count.sqrt()?)?
                    }
                }
                PoolingMode::WeightedMean => {
                    let l = tokens.dim(1)?;
                    let w = Tensor::arange(1f32, l as f32 + 1.0, tokens.device())?
                        .to_dtype(tokens.dtype())?
                        .reshape((1, l, 1))?
                        .broadcast_mul(&m)?;
                    let sum = tokens.broadcast_mul(&w)?.sum(1)?;
                    sum.broadcast_div(&w.sum(1)?.clamp(1e-9, f64::MAX)?)?
                }
                PoolingMode::LastToken => {
                    // Right padding: the last real token sits at length - 1.
                    let last = (mask.sum(1)? - 1.0)?
                        .clamp(0.0, f64::MAX)?
                        .to_dtype(candle_core::DType::U32)?;
                    let h = tokens.dim(2)?;
                    let idx = last.reshape((tokens.dim(0)?, 1, 1))?.repeat((1, 1, h))?;
                    tokens.gather(&idx.contiguous()?, 1)?.squeeze(1)?
                }
            };
            parts.push(p);
        }
        Ok(Tensor::cat(&parts, 1)?)
    }
}

impl Pooling {
    /// Pools packed token embeddings (`(tokens, hidden)`, text after text, no
    /// padding) into `(texts, output_dim)`; the same values as [`Pooling::forward`]
    /// on the padded tensor, without building it.
    pub fn forward_packed(&self, tokens: &[f32], lengths: &[usize], hidden: usize) -> Vec<f32> {
        let dim = self.output_dim(hidden);
        let mut out = vec![0f32; lengths.len() * dim];
        let mut start = 0;
        for (t, &len) in lengths.iter().enumerate() {
            let rows = &tokens[start * hidden..(start + len) * hidden];
            start += len;
            for (m, mode) in self.modes.iter().enumerate() {
                let o = &mut out[t * dim + m * hidden..t * dim + (m + 1) * hidden];
                pool_rows(*mode, rows, len, hidden, o);
            }
        }
        out
    }
}

fn pool_rows(mode: PoolingMode, rows: &[f32], len: usize, hidden: usize, o: &mut [f32]) {
    let row = |i: usize| &rows[i * hidden..(i + 1) * hidden];
    match mode {
        PoolingMode::Cls => o.copy_from_slice(row(0)),
        PoolingMode::LastToken => o.copy_from_slice(row(len.saturating_sub(1))),
        PoolingMode::Max => {
            o.fill(f32::NEG_INFINITY);
            for i in 0..len {
                for (a, b) in o.iter_mut().zip(row(i)) {
                    *a = a.max(*b);
                }
            }
        }
        PoolingMode::Mean | PoolingMode::MeanSqrtLen | PoolingMode::WeightedMean => {
            let mut weights = 0f32;
            for i in 0..len {
                let w = if mode == PoolingMode::WeightedMean {
                    (i + 1) as f32
                } else {
                    1.0
                };
                weights += w;
                for (a, b) in o.iter_mut().zip(row(i)) {
                    *a += w * b;
                }
            }
            let div = match mode {
                PoolingMode::MeanSqrtLen => (len as f32).sqrt(),
                _ => weights.max(1e-9),
            };
            o.iter_mut().for_each(|a| *a /= div);
        }
    }
}

/// Divides each row by its L2 norm (sentence-transformers' `Normalize`).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(x.broadcast_div(&norm)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn toks() -> (Tensor, Tensor) {
        // batch 2, seq 3, hidden 2; second text has one padding token.
        let t = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [5., -6.]],
                [[-1f32, 0.], [2., 8.], [100., 100.]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let m = Tensor::new(&[[1f32, 1., 1.], [1., 1., 0.]], &Device::Cpu).unwrap();
        (t, m)
    }

    fn pool(mode: PoolingMode) -> Vec<Vec<f32>> {
        let (t, m) = toks();
        Pooling::new(mode)
            .forward(&t, &m)
            .unwrap()
            .to_vec2()
            .unwrap()
    }

    #[test]
    fn pooling_modes_match_hand_computed_values() {
        assert_eq!(pool(PoolingMode::Cls), vec![vec![1., 2.], vec![-1., 0.]]);
        assert_eq!(pool(PoolingMode::Mean), vec![vec![3., 0.], vec![0.5, 4.]]);
        assert_eq!(pool(PoolingMode::Max), vec![vec![5., 4.], vec![2., 8.]]);
        assert_eq!(
            pool(PoolingMode::LastToken),
            vec![vec![5., -6.], vec![2., 8.]]
        );
        let s = pool(PoolingMode::MeanSqrtLen);
        assert!((s[0][0] - 9. / 3f32.sqrt()).abs() < 1e-6);
        assert!((s[1][1] - 8. / 2f32.sqrt()).abs() < 1e-6);
        let w = pool(PoolingMode::WeightedMean);
        assert!((w[0][0] - (1. + 6. + 15.) / 6.).abs() < 1e-6);
        assert!((w[1][1] - 16. / 3.).abs() < 1e-6);
    }

    #[test]
    fn packed_pooling_equals_tensor_pooling() {
        let (t, m) = toks();
        // The same two texts packed: 3 real tokens, then 2.
        let padded: Vec<Vec<Vec<f32>>> = t.to_vec3().unwrap();
        let mut packed = Vec::new();
        for (text, len) in padded.iter().zip([3usize, 2]) {
            for tok in &text[..len] {
                packed.extend_from_slice(tok);
            }
        }
        for mode in [
            PoolingMode::Cls,
            PoolingMode::Mean,
            PoolingMode::Max,
            PoolingMode::LastToken,
            PoolingMode::MeanSqrtLen,
            PoolingMode::WeightedMean,
        ] {
            let p = Pooling::new(mode);
            let a: Vec<f32> = p
                .forward(&t, &m)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let b = p.forward_packed(&packed, &[3, 2], 2);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-6, "{mode:?}: {a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn normalize_gives_unit_rows() {
        let x = Tensor::new(&[[3f32, 4.], [0., 0.]], &Device::Cpu).unwrap();
        let n = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(n[0], vec![0.6, 0.8]);
        assert_eq!(n[1], vec![0., 0.]);
    }

    #[test]
    fn reads_both_config_formats() {
        let d = tempfile::tempdir().unwrap();
        let read = |text: &str| {
            let p = d.path().join("config.json");
            std::fs::write(&p, text).unwrap();
            Pooling::from_file(&p)
        };
        // sentence-transformers 6.x
        let p =
            read(r#"{"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": true}"#)
                .unwrap();
        assert_eq!(p.modes, vec![PoolingMode::Mean]);
        let p = read(r#"{"embedding_dimension": 4, "pooling_mode": ["cls", "max"], "include_prompt": false}"#)
            .unwrap();
        assert_eq!(p.modes, vec![PoolingMode::Cls, PoolingMode::Max]);
        assert!(!p.include_prompt);
        // before 6
        let p = read(r#"{"word_embedding_dimension": 4, "pooling_mode_mean_tokens": true, "pooling_mode_lasttoken": true}"#)
            .unwrap();
        assert_eq!(p.modes, vec![PoolingMode::Mean, PoolingMode::LastToken]);
        let e = read(r#"{"pooling_mode": "median"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.json:1") && e.contains("median"), "{e}");
    }
}
