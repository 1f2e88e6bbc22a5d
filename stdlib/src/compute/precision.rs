//! The number format of an encoder's matrix products on CPU: f32, bf16 (AVX512-BF16)
//! or int8 (AVX512-VNNI). LayerNorm, softmax, GELU and attention stay f32 in every
//! precision; only the linear layers change.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How an encoder's linear layers compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats everywhere (the reference).
    #[default]
    F32,
    /// Weights and activations rounded to bfloat16, products summed in f32
    /// (`vdpbf16ps`).
    Bf16,
    /// Weights quantised per output channel (symmetric), activations per row
    /// (asymmetric, dynamic), products summed in i32 (`vpdpbusd`), rescaled to f32.
    Int8,
}

impl Precision {
    /// Every precision, in the order the CLI lists them.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::Bf16, Precision::Int8];

    /// The name on the command line and in Rhai.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::Int8 => "int8",
        }
    }

    /// The CPU features this precision's products need.
    pub fn required_features(self) -> &'static [&'static str] {
        match self {
            Self::F32 => &[],
            Self::Bf16 => &["avx512f", "avx512bf16"],
            Self::Int8 => &["avx512f", "avx512bw", "avx512vnni"],
        }
    }

    /// The precisions this CPU runs, f32 first.
    pub fn supported() -> Vec<Precision> {
        Self::ALL
            .into_iter()
            .filter(|p| p.check_supported().is_ok())
            .collect()
    }

    /// An error naming what is missing when this CPU (or `RANKBOOK_NO_AVX512=1`,
    /// which simulates a CPU without AVX-512) cannot run the precision.
    pub fn check_supported(self) -> Result<()> {
        let missing: Vec<&str> = self
            .required_features()
            .iter()
            .copied()
            .filter(|f| !cpu_has(f))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidArgument(format!(
            "precision {self} needs CPU instructions this machine lacks: {}; use --precision f32",
            missing.join(", ")
        )))
    }
}

/// Whether `feature` may be used: detected, and AVX-512 not switched off.
fn cpu_has(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !crate::compute::gemm::has_avx512() {
            return false;
        }
        match feature {
            "avx512f" => std::is_x86_feature_detected!("avx512f"),
            "avx512bw" => std::is_x86_feature_detected!("avx512bw"),
            "avx512bf16" => std::is_x86_feature_detected!("avx512bf16"),
            "avx512vnni" => std::is_x86_feature_detected!("avx512vnni"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown precision `{s}` (expected one of: f32, bf16, int8)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert_eq!("INT8".parse::<Precision>().unwrap(), Precision::Int8);
        let e = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("unknown precision `fp16`"), "{e}");
        assert!(Precision::F32.check_supported().is_ok());
    }
}
