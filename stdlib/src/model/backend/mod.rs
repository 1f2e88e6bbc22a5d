//! Back-ends: the implementations that run an [`crate::model::arch::EncoderSpec`].
//! Which one runs is chosen once, at load ([`Backend`]).

pub mod candle;
pub mod packed;

use candle_core::Device;
use candle_nn::VarBuilder;

use crate::compute::Precision;
use crate::error::{Error, Result};
use crate::model::arch::Arch;
use crate::model::encoder::Encoder;

/// Which implementation runs the transformer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The packed-token CPU path on CPU, candle elsewhere.
    #[default]
    Auto,
    /// The packed-token CPU path (inference, f32; CPU only).
    Packed,
    /// candle everywhere (the GPU path, and the reference path on CPU).
    Candle,
    /// candle with the weights as trainable variables; on CPU the blocks run on
    /// the fused training operations.
    Trainable,
    /// Trainable variables on candle's plain operations everywhere: the
    /// reference the fused training operations are tested against.
    TrainableReference,
}

impl Backend {
    /// Whether the weights are loaded as trainable variables.
    pub fn is_trainable(self) -> bool {
        matches!(self, Self::Trainable | Self::TrainableReference)
    }
}

impl Backend {
    /// The concrete back-end on `device`: `Auto` resolved.
    pub fn resolve(self, device: &Device) -> Result<Self> {
        Ok(match (self, device) {
            (Self::Auto, Device::Cpu) => Self::Packed,
            (Self::Auto, _) => Self::Candle,
            (Self::Packed, d) if !d.is_cpu() => {
                return Err(Error::InvalidArgument(
                    "the packed back-end runs on CPU only; use the candle back-end on a GPU".into(),
                ));
            }
            (b, _) => b,
        })
    }
}

/// Builds `arch`'s encoder on `backend` (resolved) from `vb` (prefix applied),
/// its linear layers in `precision` (bf16 and int8 only on the packed CPU path,
/// and only where the CPU has the instructions).
pub(crate) fn build_encoder(
    arch: &Arch,
    backend: Backend,
    precision: Precision,
    vb: VarBuilder,
) -> Result<Box<dyn Encoder>> {
    let backend = backend.resolve(vb.device())?;
    if precision != Precision::F32 {
        if backend != Backend::Packed {
            return Err(Error::InvalidArgument(format!(
                "precision {precision} runs on the packed CPU back-end only (inference); \
                 training and GPUs use f32"
            )));
        }
        precision.check_supported()?;
    }
    Ok(match backend {
        Backend::Packed => Box::new(packed::PackedEncoder::load(
            vb, &arch.spec, arch.names, precision,
        )?),
        b => {
            let ops = match b {
                Backend::Trainable => candle::Ops::FusedTraining,
                Backend::TrainableReference => candle::Ops::Differentiable,
                _ => candle::Ops::Inference,
            };
            Box::new(candle::CandleEncoder::load(
                vb, &arch.spec, arch.names, ops,
            )?)
        }
    })
}
