//! AdamW in two parameter groups, as Hugging Face's trainer sets it up: weight
//! decay on the weights, none on biases and LayerNorm parameters. The update is
//! torch.optim.AdamW's; the moments are ours (not candle's optimiser) so a
//! checkpoint can store them and a resumed run continues bit-exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use rayon::prelude::*;

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
        self.step_with(grads, true)
    }

    /// [`Self::step`]; `fused`: f32 parameters on CPU take the one-pass update.
    fn step_with(&mut self, grads: &GradStore, fused: bool) -> Result<()> {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        for p in &mut self.params {
            let Some(g) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let k = Update {
                decay: if p.decay {
                    (1.0 - self.lr * self.weight_decay) as f32
                } else {
                    1.0
                },
                beta1: self.beta1 as f32,
                one_minus_beta1: (1.0 - self.beta1) as f32,
                beta2: self.beta2 as f32,
                one_minus_beta2: (1.0 - self.beta2) as f32,
                inv_bc2_sqrt: (1.0 / bc2.sqrt()) as f32,
                eps: self.eps as f32,
                step: (self.lr / bc1) as f32,
            };
            let theta = p.var.as_tensor();
            if fused && theta.device().is_cpu() && theta.dtype() == DType::F32 {
                k.apply_cpu(p, g)?;
                continue;
            }
            let theta = (theta * k.decay as f64)?;
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

/// One AdamW update's constants (torch's formula; each rounded to f32 as
/// candle's scalar operations round them, so both paths give the same bits).
struct Update {
    /// `1 - lr * weight_decay`, or 1 for exempt parameters.
    decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    /// `1 / sqrt(1 - beta2^t)`.
    inv_bc2_sqrt: f32,
    eps: f32,
    /// `lr / (1 - beta1^t)`.
    step: f32,
}

/// Elements per parallel task of the CPU update.
const CHUNK: usize = 1 << 14;

impl Update {
    /// The update of one parameter in one parallel pass over its elements: as
    /// candle operations it was thirteen passes, each allocating a tensor the
    /// size of the parameter.
    fn apply_cpu(&self, p: &mut Param, g: &Tensor) -> Result<()> {
        let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
        let (g, mut theta, mut m, mut v) =
            (flat(g)?, flat(p.var.as_tensor())?, flat(&p.m)?, flat(&p.v)?);
        if g.len() != theta.len() {
            return Err(Error::InvalidArgument(format!(
                "the gradient of `{}` has {} elements, the parameter {}",
                p.name,
                g.len(),
                theta.len()
            )));
        }
        theta
            .par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((theta, m), v), g)| {
                for (((theta, m), v), g) in theta.iter_mut().zip(m).zip(v).zip(g) {
                    *m = *m * self.beta1 + g * self.one_minus_beta1;
                    *v = *v * self.beta2 + g * g * self.one_minus_beta2;
                    let denom = v.sqrt() * self.inv_bc2_sqrt + self.eps;
                    *theta = *theta * self.decay - *m / denom * self.step;
                }
            });
        let (shape, dev) = (p.var.as_tensor().shape().clone(), p.var.device().clone());
        p.m = Tensor::from_vec(m, shape.clone(), &dev)?;
        p.v = Tensor::from_vec(v, shape.clone(), &dev)?;
        p.var.set(&Tensor::from_vec(theta, shape, &dev)?)?;
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

    #[test]
    fn the_one_pass_update_equals_the_tensor_operations_bit_for_bit() {
        let dev = Device::Cpu;
        let init: Vec<f32> = (0..50_000)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let run = |fused: bool| {
            let w = Var::from_vec(init.clone(), (500, 100), &dev).unwrap();
            let b = Var::from_vec(init[..100].to_vec(), 100, &dev).unwrap();
            let mut opt = GroupedAdamW::new(
                vec![("l.weight".into(), w.clone()), ("l.bias".into(), b.clone())],
                1e-3,
                0.01,
            )
            .unwrap();
            for step in 0..3 {
                // A loss whose gradient changes with the weights: sum(w^3) + sum(b^2) * step.
                let loss = (w.as_tensor().powf(3.0).unwrap().sum_all().unwrap()
                    + (b.as_tensor().sqr().unwrap().sum_all().unwrap() * step as f64).unwrap())
                .unwrap();
                opt.step_with(&loss.backward().unwrap(), fused).unwrap();
            }
            let (state, _) = opt.state();
            let mut out: Vec<Vec<f32>> = vec![
                w.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
                b.as_tensor().to_vec1().unwrap(),
            ];
            for key in ["m.l.weight", "v.l.weight", "m.l.bias", "v.l.bias"] {
                out.push(state[key].flatten_all().unwrap().to_vec1().unwrap());
            }
            out
        };
        let (fused, plain) = (run(true), run(false));
        assert_ne!(fused[0], init, "the weights moved");
        assert!(
            fused == plain,
            "the one-pass update differs from the tensor operations"
        );
    }
}
