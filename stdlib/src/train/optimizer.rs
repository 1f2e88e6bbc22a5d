//! AdamW in two parameter groups, as Hugging Face's trainer sets it up: weight
//! decay on the weights, none on biases and LayerNorm parameters. candle's AdamW
//! already decays decoupled (torch.optim.AdamW's update); one instance per group.

use candle_core::Var;
use candle_core::backprop::GradStore;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::error::Result;

/// Whether the parameter named `name` is exempt from weight decay.
pub fn exempt_from_decay(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    last == "bias"
        || last == "beta"
        || last == "gamma"
        || name.contains("LayerNorm")
        || name.contains("layer_norm")
}

/// AdamW over named parameters, biases and norms without weight decay.
pub struct GroupedAdamW {
    decay: AdamW,
    no_decay: AdamW,
}

impl GroupedAdamW {
    /// Groups `params` by name; `lr` is the starting rate (schedules change it).
    pub fn new(params: Vec<(String, Var)>, lr: f64, weight_decay: f64) -> Result<Self> {
        let (no, yes): (Vec<_>, Vec<_>) = params
            .into_iter()
            .partition(|(name, _)| exempt_from_decay(name));
        let group = |vars: Vec<(String, Var)>, weight_decay| {
            AdamW::new(
                vars.into_iter().map(|(_, v)| v).collect(),
                ParamsAdamW {
                    lr,
                    weight_decay,
                    ..Default::default()
                },
            )
        };
        Ok(Self {
            decay: group(yes, weight_decay)?,
            no_decay: group(no, 0.0)?,
        })
    }

    /// Sets the learning rate of both groups.
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.decay.set_learning_rate(lr);
        self.no_decay.set_learning_rate(lr);
    }

    /// One update from `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.decay.step(grads)?;
        self.no_decay.step(grads)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn names_and_one_step_by_hand() {
        assert!(exempt_from_decay(
            "encoder.layer.0.attention.output.LayerNorm.weight"
        ));
        assert!(exempt_from_decay("encoder.layer.0.intermediate.dense.bias"));
        assert!(exempt_from_decay("embeddings.LayerNorm.gamma"));
        assert!(!exempt_from_decay(
            "encoder.layer.0.intermediate.dense.weight"
        ));

        let w = Var::from_vec(vec![1.0f32, -2.0], 2, &Device::Cpu).unwrap();
        let b = Var::from_vec(vec![0.5f32], 1, &Device::Cpu).unwrap();
        let (lr, wd) = (0.1, 0.01);
        let mut opt = GroupedAdamW::new(
            vec![
                ("dense.weight".into(), w.clone()),
                ("dense.bias".into(), b.clone()),
            ],
            lr,
            wd,
        )
        .unwrap();
        // loss = 3 w0 + w1 - 2 b: gradients 3, 1, -2.
        let loss = ((w.as_tensor() * &Tensor::new(&[3f32, 1.0], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            - (b.as_tensor() * 2.0).unwrap().sum_all().unwrap())
        .unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        // First AdamW step: theta * (1 - lr wd) - lr * g / (|g| + eps).
        let step =
            |theta: f64, g: f64, wd: f64| theta * (1.0 - lr * wd) - lr * g / (g.abs() + 1e-8);
        let got: Vec<f32> = w.as_tensor().to_vec1().unwrap();
        assert!((got[0] as f64 - step(1.0, 3.0, wd)).abs() < 1e-6, "{got:?}");
        assert!(
            (got[1] as f64 - step(-2.0, 1.0, wd)).abs() < 1e-6,
            "{got:?}"
        );
        // The bias is not decayed.
        let got: Vec<f32> = b.as_tensor().to_vec1().unwrap();
        assert!(
            (got[0] as f64 - step(0.5, -2.0, 0.0)).abs() < 1e-6,
            "{got:?}"
        );
    }
}
