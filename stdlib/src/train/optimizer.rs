//! AdamW in two parameter groups, as Hugging Face's trainer sets it up: weight
//! decay on the weights, none on biases and LayerNorm parameters. The update is
//! torch.optim.AdamW's; the moments are ours (not candle's optimiser) so a
//! checkpoint can store them and a resumed run continues bit-exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::error::{Error, Result};

/// Whether the parameter named `name` is exempt from weight decay.
pub fn exempt_from_decay(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    last == "bias"
        || last == "beta"
        || last == "gamma"
        || name.contains("LayerNorm")
        || name.contains("layer_norm")
}

struct Param {
    name: String,
    var: Var,
    decay: bool,
    /// First and second moments.
    m: Tensor,
    v: Tensor,
}

/// AdamW over named parameters, biases and norms without weight decay.
pub struct GroupedAdamW {
    params: Vec<Param>,
    lr: f64,
    weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    /// Updates done so far.
    t: u64,
}

impl GroupedAdamW {
    /// Groups `params` by name; `lr` is the starting rate (schedules change it).
    pub fn new(params: Vec<(String, Var)>, lr: f64, weight_decay: f64) -> Result<Self> {
        let params = params
            .into_iter()
            .map(|(name, var)| {
                Ok(Param {
                    decay: !exempt_from_decay(&name),
                    m: var.as_tensor().zeros_like()?,
                    v: var.as_tensor().zeros_like()?,
                    name,
                    var,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            params,
            lr,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
        })
    }

    /// Sets the learning rate of both groups.
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Updates done so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// One update from `grads` (parameters without a gradient are left alone).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        for p in &mut self.params {
            let Some(g) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let theta = p.var.as_tensor();
            let theta = if p.decay && self.weight_decay > 0.0 {
                (theta * (1.0 - self.lr * self.weight_decay))?
            } else {
                theta.clone()
            };
            p.m = ((&p.m * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            p.v = ((&p.v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let denom = ((p.v.sqrt()? / bc2.sqrt())? + self.eps)?;
            let update = (p.m.div(&denom)? * (self.lr / bc1))?;
            p.var.set(&(theta - update)?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`m.<name>`, `v.<name>`) and the step count,
    /// for a checkpoint.
    pub fn state(&self) -> (HashMap<String, Tensor>, u64) {
        let mut out = HashMap::with_capacity(2 * self.params.len());
        for p in &self.params {
            out.insert(format!("m.{}", p.name), p.m.clone());
            out.insert(format!("v.{}", p.name), p.v.clone());
        }
        (out, self.t)
    }

    /// Restores what [`GroupedAdamW::state`] returned; every parameter must be there.
    pub fn load_state(&mut self, mut tensors: HashMap<String, Tensor>, t: u64) -> Result<()> {
        for p in &mut self.params {
            for (prefix, slot) in [("m", &mut p.m), ("v", &mut p.v)] {
                let key = format!("{prefix}.{}", p.name);
                let x = tensors.remove(&key).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the optimizer state has no `{key}`: it belongs to another model"
                    ))
                })?;
                if x.dims() != slot.dims() {
                    return Err(Error::InvalidArgument(format!(
                        "the optimizer state's `{key}` is {:?}, the model's parameter {:?}",
                        x.dims(),
                        slot.dims()
                    )));
                }
                *slot = x.to_device(slot.device())?;
            }
        }
        self.t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

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
