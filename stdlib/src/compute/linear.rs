//! A linear layer of the CPU inference path in the precision asked for: one
//! type for the encoders, whichever product runs underneath.

use crate::compute::gemm::PackedLinear;
use crate::compute::gemm_bf16::Bf16Linear;
use crate::compute::gemm_int8::Int8Linear;
use crate::compute::precision::Precision;

/// `y = x W^T + b` in f32, bf16 or int8.
pub(crate) enum LinearLayer {
    F32(PackedLinear),
    Bf16(Bf16Linear),
    Int8(Int8Linear),
}

impl LinearLayer {
    /// Lays out (and rounds or quantises) a PyTorch-layout weight (`outputs x
    /// inputs`); the caller has checked that the CPU supports `precision`.
    pub fn new(
        weight: Vec<f32>,
        bias: Vec<f32>,
        inputs: usize,
        outputs: usize,
        precision: Precision,
    ) -> Self {
        match precision {
            Precision::F32 => Self::F32(PackedLinear::new(weight, bias, inputs, outputs)),
            Precision::Bf16 => Self::Bf16(Bf16Linear::new(&weight, &bias, inputs, outputs)),
            Precision::Int8 => Self::Int8(Int8Linear::new(&weight, &bias, inputs, outputs)),
        }
    }

    /// `y = x W^T + b` for `rows` rows of `x`; `then` runs on each finished block
    /// of `y` rows while it is still in cache.
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        y: &mut [f32],
        then: &(dyn Fn(&mut [f32]) + Sync),
    ) {
        match self {
            Self::F32(l) => l.forward(x, rows, y, then),
            Self::Bf16(l) => l.forward(x, rows, y, then),
            Self::Int8(l) => l.forward(x, rows, y, then),
        }
    }
}
