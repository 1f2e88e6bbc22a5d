//! sentence-transformers' `Dense` module: a linear layer with an activation.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::weights::var_builder;

/// Activation after a `Dense` layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Tanh,
    Relu,
    Sigmoid,
    Gelu,
}

impl Activation {
    /// Parses a PyTorch class path such as `torch.nn.modules.activation.Tanh`.
    pub fn from_torch_name(name: &str) -> Option<Self> {
        let last = name.rsplit('.').next().unwrap_or(name);
        Some(match last {
            "Identity" => Self::Identity,
            "Tanh" => Self::Tanh,
            "ReLU" => Self::Relu,
            "Sigmoid" => Self::Sigmoid,
            "GELU" => Self::Gelu,
            _ => return None,
        })
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::Identity => x.clone(),
            Self::Tanh => x.tanh()?,
            Self::Relu => x.relu()?,
            Self::Sigmoid => candle_nn::ops::sigmoid(x)?,
            Self::Gelu => x.gelu_erf()?,
        })
    }
}

#[derive(Deserialize)]
struct DenseFile {
    in_features: usize,
    out_features: usize,
    #[serde(default = "yes")]
    bias: bool,
    #[serde(default = "identity")]
    activation_function: String,
    /// sentence-transformers 6.x: add the input (or its projection) to the output.
    #[serde(default)]
    use_residual: bool,
}
fn yes() -> bool {
    true
}
fn identity() -> String {
    "torch.nn.modules.linear.Identity".into()
}

/// A loaded `Dense` module.
pub struct Dense {
    linear: Linear,
    activation: Activation,
    /// With `use_residual`: None adds the input itself (same width), Some its
    /// projection (`residual.weight`, no bias).
    residual: Option<Option<Linear>>,
    out_features: usize,
}

impl Dense {
    /// Loads `dir/config.json` and its weights (`linear.weight`, `linear.bias`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        Self::load_from(dir, var_builder(dir, DType::F32, device)?)
    }

    /// Loads `dir/config.json`, with the weights taken from `weights` (the
    /// folder's, or trainable variables under the same names).
    pub fn load_from(dir: &Path, weights: VarBuilder) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let f: DenseFile = serde_json::from_str(&text)
            .map_err(|e| Error::parse(&path, e.line(), Some(e.column()), e.to_string()))?;
        let activation = Activation::from_torch_name(&f.activation_function).ok_or_else(|| {
            Error::model_config(
                dir,
                format!("unsupported activation \"{}\"", f.activation_function),
            )
        })?;
        let vb = weights.pp("linear");
        let w = vb.get((f.out_features, f.in_features), "weight")?;
        let b = if f.bias {
            Some(vb.get(f.out_features, "bias")?)
        } else {
            None
        };
        let residual = if f.use_residual {
            Some(if f.in_features == f.out_features {
                None
            } else {
                let w = weights.get((f.out_features, f.in_features), "residual.weight")?;
                Some(Linear::new(w, None))
            })
        } else {
            None
        };
        Ok(Self {
            linear: Linear::new(w, b),
            activation,
            residual,
            out_features: f.out_features,
        })
    }

    /// A bias-free linear layer without activation, `weight` of shape
    /// `(out_features, in_features)` taken from `weights` (a Stanford
    /// ColBERT's projection).
    pub fn bias_free(weights: VarBuilder, in_features: usize, out_features: usize) -> Result<Self> {
        let w = weights.get((out_features, in_features), "weight")?;
        Ok(Self {
            linear: Linear::new(w, None),
            activation: Activation::Identity,
            residual: None,
            out_features,
        })
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Applies the layer to `(batch, in)` vectors.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let out = self.activation.apply(&self.linear.forward(x)?)?;
        Ok(match &self.residual {
            None => out,
            Some(None) => (out + x)?,
            Some(Some(r)) => (out + r.forward(x)?)?,
        })
    }
}
