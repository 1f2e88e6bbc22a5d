//! Encoder inference on CPU without padding, for any [`EncoderSpec`]: the tokens of a batch are packed into one
//! `(tokens, hidden)` matrix, so every linear layer runs only on real tokens, and
//! attention runs per (text, head) in parallel on exactly that text's length.
//!
//! Why not candle's forward here: measured on these two cores it reaches about a
//! third of PyTorch's speed (fresh buffers on every op, scalar GELU, one attention
//! product at a time). candle stays the path for training and GPU.

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::compute::HiddenAct;
use crate::compute::Precision;
use crate::compute::gemm::{SendPtr, gemm_single, has_avx512};
#[cfg(target_arch = "x86_64")]
use crate::compute::gemm::{pack, pack_transposed, product};
use crate::compute::kernels::{Norm, activate, layer_norm, sized, softmax_unnormalized};
use crate::compute::linear::LinearLayer;
use crate::compute::rotary::RotaryTable;
use crate::error::Result;
use crate::model::arch::{EncoderSpec, QkvNames, WeightNames};
use crate::model::batch::TokenBatch;
use crate::model::encoder::Encoder;

/// A linear layer `y = x W^T + b` with W stored as PyTorch does (out x in),
/// before packing.
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    fn pack(self, precision: Precision) -> LinearLayer {
        LinearLayer::new(self.weight, self.bias, self.inputs, self.outputs, precision)
    }
}

struct Layer {
    qkv: LinearLayer,
    /// Per-head query and key norms (Qwen3).
    qk_norm: Option<(Norm, Norm)>,
    attn_out: LinearLayer,
    /// Absent in ModernBERT's first block.
    attn_norm: Option<Norm>,
    inter: LinearLayer,
    out: LinearLayer,
    out_norm: Norm,
}

/// An encoder for fast CPU inference (packed tokens; linear layers in f32, bf16 or int8).
pub struct PackedEncoder {
    spec: EncoderSpec,
    word: Vec<f32>,
    /// Empty with rotary positions.
    position: Vec<f32>,
    /// Empty when the family has no token types.
    token_type: Vec<f32>,
    /// Absent in decoders.
    emb_norm: Option<Norm>,
    layers: Vec<Layer>,
    /// The relative attention bias table `(buckets, heads)`, row-major.
    relative_bias: Vec<f32>,
    /// The norm after the last block (pre-norm families).
    final_norm: Option<Norm>,
    /// Activation buffers kept from batch to batch: fresh ones cost page faults
    /// and zeroing (about 5% of a forward pass, measured).
    buffers: std::sync::Mutex<Buffers>,
}

#[derive(Default)]
struct Buffers {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    inter: Vec<f32>,
    /// Pre-norm: the normalised copy of the residual stream.
    normed: Vec<f32>,
    /// Pre-norm: the gated feed-forward activations.
    gated: Vec<f32>,
}

fn flat(vb: &VarBuilder, shape: &[usize], name: &str) -> Result<Vec<f32>> {
    Ok(vb.get(shape, name)?.flatten_all()?.to_vec1::<f32>()?)
}

/// A norm as plain arrays; `bias: false` (ModernBERT, RMSNorms) gives a zero bias.
fn load_norm(vb: VarBuilder, size: usize, eps: f64, bias: bool, rms: bool) -> Result<Norm> {
    let (w, b) = if vb.contains_tensor("weight") || !vb.contains_tensor("gamma") {
        ("weight", "bias")
    } else {
        ("gamma", "beta")
    };
    Ok(Norm {
        weight: flat(&vb, &[size], w)?,
        bias: if bias {
            flat(&vb, &[size], b)?
        } else {
            vec![0.0; size]
        },
        eps: eps as f32,
        rms,
    })
}

fn load_linear(vb: VarBuilder, inputs: usize, outputs: usize, bias: bool) -> Result<Linear> {
    Ok(Linear {
        weight: flat(&vb, &[outputs, inputs], "weight")?,
        bias: if bias {
            flat(&vb, &[outputs], "bias")?
        } else {
            vec![0.0; outputs]
        },
        inputs,
        outputs,
    })
}

/// Stacks linear layers with the same input into one (Q, K and V become one product).
fn stack(parts: Vec<Linear>) -> Linear {
    let inputs = parts[0].inputs;
    let mut out = Linear {
        weight: vec![],
        bias: vec![],
        inputs,
        outputs: 0,
    };
    for p in parts {
        out.weight.extend(p.weight);
        out.bias.extend(p.bias);
        out.outputs += p.outputs;
    }
    out
}

impl PackedEncoder {
    /// Loads the weights from `vb` (prefix already applied) into plain arrays,
    /// the linear layers laid out (rounded, quantised) for `precision`.
    pub fn load(
        vb: VarBuilder,
        spec: &EncoderSpec,
        names: &WeightNames,
        precision: Precision,
    ) -> Result<Self> {
        let c = spec;
        let h = c.hidden_size;
        let eps = c.layer_norm_eps;
        let norm_bias = c.norm_bias();
        let rms = c.rms_norm();
        let norm = |vb: VarBuilder, size: usize| load_norm(vb, size, eps, norm_bias, rms);
        let (attention_bias, mlp_bias) = (c.linear_bias(true), c.linear_bias(false));
        let (qw, kvw) = c.qkv_widths();
        let i_size = c.intermediate_size;
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let l = vb.pp(format!("{}.{i}", names.layers));
            let qkv = match names.qkv {
                QkvNames::Separate { query, key, value } => stack(vec![
                    load_linear(l.pp(query), h, qw, attention_bias)?,
                    load_linear(l.pp(key), h, kvw, attention_bias)?,
                    load_linear(l.pp(value), h, kvw, attention_bias)?,
                ]),
                QkvNames::Fused(n) => load_linear(l.pp(n), h, qw + 2 * kvw, attention_bias)?,
            };
            // A gated layer's gate and up projections as one product, gate first.
            let inter = match (names.up, c.pre_norm()) {
                (Some(up), _) => stack(vec![
                    load_linear(l.pp(names.intermediate), h, i_size, mlp_bias)?,
                    load_linear(l.pp(up), h, i_size, mlp_bias)?,
                ]),
                (None, Some(_)) => load_linear(l.pp(names.intermediate), h, 2 * i_size, mlp_bias)?,
                (None, None) => load_linear(l.pp(names.intermediate), h, i_size, mlp_bias)?,
            };
            let qk_norm = match names.qk_norm {
                Some((q, k)) if c.pre_norm().is_some_and(|p| p.qk_norm) => {
                    let d = c.head_dim();
                    Some((norm(l.pp(q), d)?, norm(l.pp(k), d)?))
                }
                _ => None,
            };
            let attn_norm = l.pp(names.attention_norm);
            let attn_norm =
                if c.pre_norm().is_some() && i == 0 && !attn_norm.contains_tensor("weight") {
                    None
                } else {
                    Some(norm(attn_norm, h)?)
                };
            layers.push(Layer {
                qkv: qkv.pack(precision),
                qk_norm,
                attn_out: load_linear(l.pp(names.attention_out), qw, h, attention_bias)?
                    .pack(precision),
                attn_norm,
                inter: inter.pack(precision),
                out: load_linear(l.pp(names.output), i_size, h, mlp_bias)?.pack(precision),
                out_norm: norm(l.pp(names.output_norm), h)?,
            });
        }
        let token_type = match names.token_type {
            Some(n) if c.type_vocab_size > 0 => flat(&vb.pp(n), &[c.type_vocab_size, h], "weight")?,
            _ => Vec::new(),
        };
        let relative_bias = match (names.relative_bias, &c.relative_attention) {
            (Some(n), Some(r)) => flat(&vb.pp(n), &[r.num_buckets, c.num_heads], "weight")?,
            _ => Vec::new(),
        };
        let position = match names.position {
            Some(n) => flat(&vb.pp(n), &[c.max_positions, h], "weight")?,
            None => Vec::new(),
        };
        let final_norm = match names.final_norm {
            Some(n) => Some(norm(vb.pp(n), h)?),
            None => None,
        };
        let emb_norm = match names.embedding_norm {
            Some(n) => Some(norm(vb.pp(n), h)?),
            None => None,
        };
        Ok(Self {
            spec: spec.clone(),
            word: flat(&vb.pp(names.word), &[c.vocab_size, h], "weight")?,
            position,
            token_type,
            emb_norm,
            layers,
            relative_bias,
            final_norm,
            buffers: Default::default(),
        })
    }

    /// Packed forward: returns `(tokens, hidden)` for the batch's real tokens, text after text.
    pub fn packed(&self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let c = &self.spec;
        let h = c.hidden_size;
        let tokens = batch.tokens();
        if batch.seq_len > c.usable_positions() {
            return Err(crate::Error::InvalidArgument(format!(
                "{} tokens exceed the model's {} positions",
                batch.seq_len,
                c.usable_positions()
            )));
        }
        let types = c.type_vocab_size.max(1);
        let mut offsets = Vec::with_capacity(batch.batch);
        let mut x = vec![0f32; tokens * h];
        let mut row = 0;
        for (b, &len) in batch.lengths.iter().enumerate() {
            offsets.push(row);
            for p in 0..len {
                let id = batch.ids[b * batch.seq_len + p] as usize;
                let ty = batch.type_ids[b * batch.seq_len + p] as usize;
                if id >= c.vocab_size || ty >= types {
                    return Err(crate::Error::InvalidArgument(format!(
                        "token id {id} / type {ty} outside the model's vocabulary"
                    )));
                }
                let dst = &mut x[row * h..(row + 1) * h];
                dst.copy_from_slice(&self.word[id * h..(id + 1) * h]);
                if !self.position.is_empty() {
                    let ps = &self.position[(p + c.position_offset) * h..];
                    dst.iter_mut().zip(ps).for_each(|(d, p)| *d += p);
                }
                if !self.token_type.is_empty() {
                    let t = &self.token_type[ty * h..];
                    dst.iter_mut().zip(t).for_each(|(d, t)| *d += t);
                }
                row += 1;
            }
        }
        if let Some(n) = &self.emb_norm {
            layer_norm(&mut x, None, n);
        }

        // A poisoned lock only means another forward panicked; the buffers are
        // plain scratch space, still fine to reuse.
        let mut guard = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        let b = &mut *guard;
        let (qw, kvw) = c.qkv_widths();
        let qkv = sized(&mut b.qkv, tokens * (qw + 2 * kvw));
        let ctx = sized(&mut b.ctx, tokens * qw);
        let tmp = sized(&mut b.tmp, tokens * h);
        let act = c.act;
        if let Some(p) = c.pre_norm() {
            let normed = sized(&mut b.normed, tokens * h);
            let i_size = c.intermediate_size;
            let gated = sized(&mut b.gated, tokens * i_size);
            let inter = sized(&mut b.inter, tokens * 2 * i_size);
            // Each token's position in its text, for the rotary embeddings.
            let positions: Vec<usize> = batch.lengths.iter().flat_map(|&len| 0..len).collect();
            let mut tables: Vec<(f64, RotaryTable)> = Vec::new();
            for (i, layer) in self.layers.iter().enumerate() {
                let (window, theta) = p.attention_of(i);
                normed.copy_from_slice(&x);
                if let Some(n) = &layer.attn_norm {
                    layer_norm(normed, None, n);
                }
                layer.qkv.forward(normed, tokens, qkv, &|_| {});
                // One table per rotary base (global and local layers), built once per batch.
                let at = match tables.iter().position(|(t, _)| *t == theta) {
                    Some(at) => at,
                    None => {
                        tables.push((theta, RotaryTable::new(theta, batch.seq_len, c.head_dim())));
                        tables.len() - 1
                    }
                };
                rotate_queries_and_keys(
                    qkv,
                    &positions,
                    &tables[at].1,
                    (qw, kvw),
                    layer.qk_norm.as_ref(),
                );
                self.attention(qkv, &offsets, batch, &[], window, ctx);
                layer.attn_out.forward(ctx, tokens, tmp, &|_| {});
                add(&mut x, tmp);
                normed.copy_from_slice(&x);
                layer_norm(normed, None, &layer.out_norm);
                layer.inter.forward(normed, tokens, inter, &|_| {});
                gate(inter, gated, i_size, act);
                layer.out.forward(gated, tokens, tmp, &|_| {});
                add(&mut x, tmp);
            }
            if let Some(n) = &self.final_norm {
                layer_norm(&mut x, None, n);
            }
            return Ok(x);
        }
        let inter = sized(&mut b.inter, tokens * c.intermediate_size);
        let buckets = self.buckets(batch.seq_len);
        for layer in &self.layers {
            layer.qkv.forward(&x, tokens, qkv, &|_| {});
            self.attention(qkv, &offsets, batch, &buckets, None, ctx);
            layer.attn_out.forward(ctx, tokens, tmp, &|_| {});
            let attn_norm = layer
                .attn_norm
                .as_ref()
                .expect("post-norm blocks have an attention norm");
            layer_norm(&mut x, Some(tmp), attn_norm);
            // The activation runs on each block of rows right after it is computed.
            layer
                .inter
                .forward(&x, tokens, inter, &|block| activate(block, act));
            layer.out.forward(inter, tokens, tmp, &|_| {});
            layer_norm(&mut x, Some(tmp), &layer.out_norm);
        }
        Ok(x)
    }

    /// The relative-position bucket of every (query, key) pair up to length `l`,
    /// row-major; empty without relative attention.
    fn buckets(&self, l: usize) -> Vec<u16> {
        match &self.spec.relative_attention {
            Some(r) if !self.relative_bias.is_empty() => (0..l)
                .flat_map(|q| (0..l).map(move |k| r.bucket(q, k) as u16))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Adds head `hd`'s relative position bias to a row of scores (query `i`)
    /// and scales it: `r[j] = r[j] * scale + bias`.
    fn add_position_bias(
        &self,
        r: &mut [f32],
        i: usize,
        l: usize,
        hd: usize,
        buckets: &[u16],
        scale: f32,
    ) {
        let heads = self.spec.num_heads;
        let row = &buckets[i * l..i * l + r.len()];
        for (v, &b) in r.iter_mut().zip(row) {
            *v = *v * scale + self.relative_bias[b as usize * heads + hd];
        }
    }

    /// Self-attention of every (text, head) pair in parallel; writes `ctx`.
    /// Every token of a text is a query; its first `batch.keys[text]` are keys;
    /// with a `window`, only the keys at most that many positions away.
    fn attention(
        &self,
        qkv: &[f32],
        offsets: &[usize],
        batch: &TokenBatch,
        buckets: &[u16],
        window: Option<usize>,
        ctx: &mut [f32],
    ) {
        let lengths = &batch.lengths;
        let c = &self.spec;
        let (heads, d) = (c.num_heads, c.head_dim());
        let (qw, kvw) = c.qkv_widths();
        // Query heads per key/value head (grouped-query attention).
        let group = heads / c.kv_heads();
        let causal = c.pre_norm().is_some_and(|p| p.causal);
        let l = lengths.iter().copied().max().unwrap_or(0);
        let relative = !buckets.is_empty();
        let scale = 1.0 / (d as f32).sqrt();
        let ctx_ptr = SendPtr(ctx.as_mut_ptr());
        let jobs: Vec<(usize, usize)> = (0..lengths.len())
            .flat_map(|s| (0..heads).map(move |hd| (s, hd)))
            .collect();
        let packed = cfg!(target_arch = "x86_64") && has_avx512() && d.is_multiple_of(32);
        jobs.par_iter()
            .for_each_init(Scratch::default, |buf, &(s, hd)| {
                let (off, len, keys) = (offsets[s], lengths[s], batch.keys[s]);
                let row = qw + 2 * kvw;
                let q = off * row + hd * d;
                let k = off * row + qw + (hd / group) * d;
                let v = k + kvw;
                let h = qw;
                // SAFETY (both branches): every read stays inside `qkv`/`buf` for the given
                // strides and sizes; each job writes a disjoint (rows, head) block of ctx.
                if packed {
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        // scores (len x width) = Q K^T, K packed as zero-padded columns.
                        let width = pack_transposed(&qkv[k..], row, keys, d, &mut buf.panels);
                        buf.scores.resize(len * width, 0.0);
                        product(
                            &qkv[q..],
                            row,
                            len,
                            d,
                            &buf.panels,
                            width,
                            buf.scores.as_mut_ptr(),
                            width,
                        );
                        buf.inv.clear();
                        for (i, r) in buf.scores.chunks_exact_mut(width).enumerate() {
                            let r = &mut r[..keys];
                            if window.is_some() || causal {
                                mask_outside(r, i, window, causal);
                            }
                            if relative {
                                self.add_position_bias(r, i, l, hd, buckets, scale);
                                buf.inv.push(softmax_unnormalized(r, 1.0));
                            } else {
                                buf.inv.push(softmax_unnormalized(r, scale));
                            }
                            if !sees_a_key(i, keys, window) {
                                *buf.inv.last_mut().expect("pushed above") = 0.0;
                            }
                        }
                        // ctx rows = P V, V packed as panels of its d columns.
                        pack(&qkv[v..], row, keys, d, &mut buf.panels);
                        product(
                            &buf.scores,
                            width,
                            len,
                            keys,
                            &buf.panels,
                            d,
                            ctx_ptr.get().add(off * h + hd * d),
                            h,
                        );
                        scale_rows(ctx_ptr.get().add(off * h + hd * d), h, d, &buf.inv);
                    }
                    return;
                }
                buf.scores.resize(len * keys, 0.0);
                unsafe {
                    // scores = Q K^T: K's rows read as columns.
                    gemm_single(
                        len,
                        keys,
                        d,
                        qkv[q..].as_ptr(),
                        row,
                        qkv[k..].as_ptr(),
                        1,
                        row,
                        buf.scores.as_mut_ptr(),
                        keys,
                    )
                };
                buf.inv.clear();
                for (i, r) in buf.scores.chunks_exact_mut(keys).enumerate() {
                    if window.is_some() || causal {
                        mask_outside(r, i, window, causal);
                    }
                    if relative {
                        self.add_position_bias(r, i, l, hd, buckets, scale);
                        buf.inv.push(softmax_unnormalized(r, 1.0));
                    } else {
                        buf.inv.push(softmax_unnormalized(r, scale));
                    }
                    if !sees_a_key(i, keys, window) {
                        *buf.inv.last_mut().expect("pushed above") = 0.0;
                    }
                }
                unsafe {
                    // ctx rows = P V.
                    gemm_single(
                        len,
                        d,
                        keys,
                        buf.scores.as_ptr(),
                        keys,
                        qkv[v..].as_ptr(),
                        row,
                        1,
                        ctx_ptr.get().add(off * h + hd * d),
                        h,
                    );
                    scale_rows(ctx_ptr.get().add(off * h + hd * d), h, d, &buf.inv);
                }
            });
    }
}

/// Sets the scores of keys query `i` may not see (more than `window`
/// positions away; after it, when `causal`) to a value whose exponential is 0
/// (finite: the softmax subtracts the row's maximum).
fn mask_outside(r: &mut [f32], i: usize, window: Option<usize>, causal: bool) {
    for (j, v) in r.iter_mut().enumerate() {
        if (causal && j > i) || window.is_some_and(|w| i.abs_diff(j) > w) {
            *v = -1e30;
        }
    }
}

/// Whether query `i` has a key within its window among the first `keys`
/// tokens. A query with none (a ColBERT query's expansion token far from the
/// text) gets a zero context, as PyTorch's scaled-dot-product attention gives
/// a fully masked row.
pub(crate) fn sees_a_key(i: usize, keys: usize, window: Option<usize>) -> bool {
    window.is_none_or(|w| keys > 0 && i <= keys - 1 + w)
}

/// `x += y`, element by element.
fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// Rotates the query and key heads of every token (rows of Q, K, V; `qw`
/// and `kvw` wide) by the token's position in its text, each head first
/// normalised by its norm when the family has them (Qwen3).
fn rotate_queries_and_keys(
    qkv: &mut [f32],
    positions: &[usize],
    table: &RotaryTable,
    (qw, kvw): (usize, usize),
    qk_norm: Option<&(Norm, Norm)>,
) {
    let d = table.d;
    qkv.par_chunks_exact_mut(qw + 2 * kvw)
        .zip(positions)
        .for_each(|(row, &p)| {
            for (i, head) in row[..qw + kvw].chunks_exact_mut(d).enumerate() {
                if let Some((q, k)) = qk_norm {
                    layer_norm(head, None, if i * d < qw { q } else { k });
                }
                table.rotate(head, p);
            }
        });
}

/// A gated feed-forward layer's activations: for rows of `2 * width` (input,
/// gate), `act(input) * gate` into rows of `width`.
fn gate(inter: &mut [f32], gated: &mut [f32], width: usize, act: HiddenAct) {
    inter
        .par_chunks_exact_mut(2 * width)
        .zip(gated.par_chunks_exact_mut(width))
        .for_each(|(row, out)| {
            let (input, g) = row.split_at_mut(width);
            activate(input, act);
            out.iter_mut()
                .zip(input.iter().zip(g.iter()))
                .for_each(|(o, (a, b))| *o = a * b);
        });
}

/// Per-thread buffers of the attention jobs, reused from job to job.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    panels: Vec<f32>,
    /// 1 / sum of each row's exponentials: the softmax's normalisation, applied to
    /// the `d`-wide rows of P V rather than to the `len`-wide rows of P.
    inv: Vec<f32>,
}

/// Scales the `len` rows (stride `ld`, width `d`) at `dst` by `inv`.
///
/// # Safety
/// `dst` must point at `len` rows of `d` floats with stride `ld`, owned by the caller.
unsafe fn scale_rows(dst: *mut f32, ld: usize, d: usize, inv: &[f32]) {
    for (i, f) in inv.iter().enumerate() {
        let row = unsafe { std::slice::from_raw_parts_mut(dst.add(i * ld), d) };
        row.iter_mut().for_each(|v| *v *= f);
    }
}

impl Encoder for PackedEncoder {
    fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        let h = self.spec.hidden_size;
        let packed = self.packed(batch)?;
        let mut padded = vec![0f32; batch.batch * batch.seq_len * h];
        let mut row = 0;
        for (b, &len) in batch.lengths.iter().enumerate() {
            let dst = b * batch.seq_len * h;
            padded[dst..dst + len * h].copy_from_slice(&packed[row * h..(row + len) * h]);
            row += len;
        }
        Ok(Tensor::from_vec(
            padded,
            (batch.batch, batch.seq_len, h),
            &Device::Cpu,
        )?)
    }
    fn forward_packed(&self, batch: &TokenBatch) -> Option<Result<Vec<f32>>> {
        Some(self.packed(batch))
    }
    fn hidden_size(&self) -> usize {
        self.spec.hidden_size
    }
    fn max_positions(&self) -> usize {
        self.spec.usable_positions()
    }
}
