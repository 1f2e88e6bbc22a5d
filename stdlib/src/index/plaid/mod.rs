//! PLAID (Santhanam et al., 2022), the compressed late-interaction index, as
//! fast-plaid (PyLate's default index) builds and searches it: token vectors
//! clustered by k-means; each stored as its centroid and its residual in
//! `nbits` per dimension; an inverted file from centroid to docs. A search
//! probes each query token's `n_ivf_probe` nearest centroids, ranks the docs
//! found there by centroid interaction (each token replaced by its centroid),
//! and scores the best quarter of `n_full_scores` by MaxSim over their
//! decompressed vectors.
//!
//! Why not the `next-plaid` crate: its index is a folder of `.npy` files and a
//! SQLite database outside this crate's checksummed, atomically written index
//! format; its parallel search turns a failed query into an empty result; and
//! it brings ndarray, a bundled SQLite build and its own k-means to a build
//! that has compute kernels and top-k selection of its own.

mod codec;
mod search;
mod store;

use std::path::Path;
use std::sync::{Arc, RwLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use codec::ResidualCodec;
pub use search::PlaidSearch;

use crate::data::TextRecord;
use crate::error::{Error, Result};
use crate::index::disk::{Manifest, verified_manifest, write_index_dir};
use crate::index::flat::Metric;
use crate::index::maxsim::{encode_corpus, index_colbert};
use crate::model::colbert::{ColbertEncoder, ColbertOptions};
use crate::model::{EncodeOptions, EncodeStats};
use crate::random::SplitMix;
use crate::shard::PartInfo;
use crate::vectors::kmeans::{KMeansOptions, PackedCentroids, kmeans};
use crate::vectors::{Embeddings, MultiVectors, VectorFile, write_vectors};
use store::{CompressedDocs, read_compressed, write_compressed};

/// The factory name of a PLAID index in its manifest.
pub const PLAID: &str = "PLAID";
const CENTROIDS_FILE: &str = "centroids.arrow";
const CODES_FILE: &str = "plaid.arrow";
/// Held-out tokens the residual buckets are trained on, at most (fast-plaid's).
const HELD_OUT_TOKENS: usize = 50_000;

/// What the manifest records of a PLAID index's compression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaidSpec {
    /// Number of centroids.
    pub centroids: usize,
    /// The residual buckets.
    pub codec: ResidualCodec,
}

/// How to build a PLAID index (PyLate's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaidBuild {
    /// Bits per dimension of a residual: 1, 2, 4 or 8.
    pub nbits: u32,
    /// Number of centroids (default: `2^floor(log2(16 sqrt(tokens)))`).
    pub centroids: Option<usize>,
    /// k-means iterations.
    pub kmeans_iterations: usize,
    /// Tokens sampled per centroid for k-means, at most.
    pub max_points_per_centroid: usize,
    /// Seeds the samples and k-means.
    pub seed: u64,
}

impl Default for PlaidBuild {
    /// fast-plaid's: 4 bits, 4 iterations, 256 points per centroid, seed 42.
    fn default() -> Self {
        Self {
            nbits: 4,
            centroids: None,
            kmeans_iterations: 4,
            max_points_per_centroid: 256,
            seed: 42,
        }
    }
}

/// fast-plaid's number of centroids for `tokens` token vectors.
pub fn default_centroids(tokens: usize) -> usize {
    let target = 16.0 * (tokens as f64).sqrt();
    (1usize << target.log2().floor().max(0.0) as u32).min(tokens.max(1))
}

/// Token vectors compressed against centroids, searched with a ColBERT's queries.
pub struct PlaidIndex {
    model: Arc<ColbertEncoder>,
    dim: usize,
    centroids: Vec<f32>,
    codec: ResidualCodec,
    /// [`ResidualCodec::byte_table`], for decompression.
    table: Vec<f32>,
    docs: CompressedDocs,
    /// Docs with a token in centroid `c`: `ivf_docs[ivf_offsets[c]..ivf_offsets[c + 1]]`.
    ivf_offsets: Vec<usize>,
    ivf_docs: Vec<u32>,
    search: RwLock<PlaidSearch>,
}

impl PlaidIndex {
    /// Encodes `corpus` as documents and compresses their token vectors.
    pub fn build(
        model: Arc<ColbertEncoder>,
        corpus: &[TextRecord],
        opts: &EncodeOptions,
        build: &PlaidBuild,
    ) -> Result<(Self, EncodeStats)> {
        let (ids, docs, stats) = encode_corpus(&model, corpus, opts)?;
        Ok((Self::from_vectors(model, ids, &docs, build)?, stats))
    }

    /// Compresses `docs` (token vectors made by `model`, one list per id).
    pub fn from_vectors(
        model: Arc<ColbertEncoder>,
        ids: Vec<String>,
        docs: &MultiVectors,
        build: &PlaidBuild,
    ) -> Result<Self> {
        let (dim, tokens) = (docs.dim(), docs.tokens());
        if ids.len() != docs.len() {
            return Err(Error::InvalidArgument(format!(
                "{} ids for {} docs",
                ids.len(),
                docs.len()
            )));
        }
        if tokens == 0 {
            return Err(Error::InvalidArgument(
                "no token vectors to index (every doc is empty)".into(),
            ));
        }
        let mut rng = SplitMix::new(build.seed);
        let k = build
            .centroids
            .unwrap_or_else(|| default_centroids(tokens))
            .clamp(1, tokens);
        // k-means on a sample of docs (fast-plaid's size: 1 + 16 sqrt(120 n)).
        let n = docs.len();
        let sample_docs = n.min(1 + (16.0 * (120.0 * n as f64).sqrt()) as usize);
        let chosen = rng.sample_sorted(n, sample_docs);
        let points: Vec<f32> = chosen.iter().flat_map(|&d| docs.get(d)).copied().collect();
        let centroids = kmeans(
            &points,
            dim,
            &KMeansOptions {
                k,
                iterations: build.kmeans_iterations,
                max_points_per_centroid: build.max_points_per_centroid,
                seed: rng.next_u64(),
            },
        );
        drop(points);
        let k = centroids.len() / dim;
        let codes = PackedCentroids::new(&centroids, dim).assign(docs.as_slice());
        // The residual buckets, from held-out tokens' residuals.
        let held_out = rng.sample_sorted(tokens, HELD_OUT_TOKENS);
        let mut residuals: Vec<f32> = held_out
            .iter()
            .flat_map(|&t| {
                let c = codes[t] as usize;
                let v = &docs.as_slice()[t * dim..(t + 1) * dim];
                v.iter()
                    .zip(&centroids[c * dim..(c + 1) * dim])
                    .map(|(x, y)| x - y)
            })
            .collect();
        let codec = ResidualCodec::train(build.nbits, &mut residuals)?;
        let bpt = codec.bytes_per_token(dim);
        let mut packed = vec![0u8; tokens * bpt];
        packed
            .par_chunks_mut(bpt * 1024)
            .enumerate()
            .for_each(|(chunk, out)| {
                let mut residual = vec![0f32; dim];
                let mut bytes = Vec::with_capacity(bpt);
                for (i, slot) in out.chunks_exact_mut(bpt).enumerate() {
                    let t = chunk * 1024 + i;
                    let c = codes[t] as usize;
                    let v = &docs.as_slice()[t * dim..(t + 1) * dim];
                    for ((r, x), y) in residual.iter_mut().zip(v).zip(&centroids[c * dim..]) {
                        *r = x - y;
                    }
                    bytes.clear();
                    codec.encode(&residual, &mut bytes);
                    slot.copy_from_slice(&bytes);
                }
            });
        let compressed = CompressedDocs {
            ids,
            offsets: docs.offsets().to_vec(),
            codes,
            residuals: packed,
        };
        Ok(Self::assemble(model, dim, centroids, k, codec, compressed))
    }

    /// The index over compressed docs: the inverted file built from their codes.
    fn assemble(
        model: Arc<ColbertEncoder>,
        dim: usize,
        centroids: Vec<f32>,
        k: usize,
        codec: ResidualCodec,
        docs: CompressedDocs,
    ) -> Self {
        // Each doc once per centroid it has a token in, in doc order.
        let mut seen = vec![u32::MAX; k];
        let mut counts = vec![0usize; k + 1];
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for d in 0..docs.ids.len() {
            for &c in &docs.codes[docs.offsets[d]..docs.offsets[d + 1]] {
                if seen[c as usize] != d as u32 {
                    seen[c as usize] = d as u32;
                    counts[c as usize + 1] += 1;
                    pairs.push((c, d as u32));
                }
            }
        }
        for c in 0..k {
            counts[c + 1] += counts[c];
        }
        let mut fill = counts.clone();
        let mut ivf_docs = vec![0u32; pairs.len()];
        for (c, d) in pairs {
            ivf_docs[fill[c as usize]] = d;
            fill[c as usize] += 1;
        }
        Self {
            model,
            dim,
            table: codec.byte_table(),
            centroids,
            codec,
            docs,
            ivf_offsets: counts,
            ivf_docs,
            search: RwLock::new(PlaidSearch::default()),
        }
    }

    /// Number of indexed docs.
    pub fn len(&self) -> usize {
        self.docs.ids.len()
    }

    /// Whether no doc is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.ids.is_empty()
    }

    /// The encoder.
    pub fn model(&self) -> &Arc<ColbertEncoder> {
        &self.model
    }

    /// The doc ids, in index order.
    pub fn ids(&self) -> &[String] {
        &self.docs.ids
    }

    /// Number of centroids.
    pub fn centroids(&self) -> usize {
        self.centroids.len() / self.dim
    }

    /// The residual codec.
    pub fn codec(&self) -> &ResidualCodec {
        &self.codec
    }

    /// The search settings used from now on.
    pub fn set_search(&self, search: PlaidSearch) {
        *self.search.write().unwrap_or_else(|p| p.into_inner()) = search;
    }

    /// The current search settings.
    pub fn search_settings(&self) -> PlaidSearch {
        *self.search.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Doc `d`'s token vectors as decompressed from the index (L2-normalised).
    pub fn decompressed(&self, d: usize) -> Vec<f32> {
        let (a, b) = (self.docs.offsets[d], self.docs.offsets[d + 1]);
        let mut out = vec![0f32; (b - a) * self.dim];
        self.decompress_into(a, b, &mut out);
        out
    }

    /// Decompresses tokens `a..b` into `out` (`(b - a) * dim` floats).
    fn decompress_into(&self, a: usize, b: usize, out: &mut [f32]) {
        let (dim, bpt) = (self.dim, self.codec.bytes_per_token(self.dim));
        for (t, row) in (a..b).zip(out.chunks_exact_mut(dim)) {
            let c = self.docs.codes[t] as usize;
            self.codec.decode(
                &self.table,
                &self.centroids[c * dim..(c + 1) * dim],
                &self.docs.residuals[t * bpt..(t + 1) * bpt],
                row,
            );
        }
    }

    /// Writes the index folder (atomically): centroids, codes and residuals,
    /// the codec and the encoder's identity in the manifest.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_part(dir, None)
    }

    /// Writes the index folder, recording the slice of the corpus it holds if it is a part.
    pub fn save_part(&self, dir: &Path, part: Option<PartInfo>) -> Result<()> {
        let manifest = Manifest {
            model: Some(self.model.identity()?.clone()),
            part,
            plaid: Some(PlaidSpec {
                centroids: self.centroids(),
                codec: self.codec.clone(),
            }),
            ..Manifest::new(PLAID, Metric::Dot, self.dim, self.len())
        };
        write_index_dir(dir, manifest, |tmp| {
            let names: Vec<String> = (0..self.centroids()).map(|c| c.to_string()).collect();
            write_vectors(
                &tmp.join(CENTROIDS_FILE),
                &names,
                &Embeddings::new(self.dim, self.centroids.clone()),
            )?;
            write_compressed(
                &tmp.join(CODES_FILE),
                &self.docs,
                self.codec.bytes_per_token(self.dim),
            )?;
            Ok(vec![CENTROIDS_FILE.to_string(), CODES_FILE.to_string()])
        })
    }

    /// Loads the index at `dir` with `model`, or the model it records (loaded
    /// with `options`); refuses a model whose vectors differ.
    pub fn load(
        dir: &Path,
        model: Option<Arc<ColbertEncoder>>,
        options: &ColbertOptions,
    ) -> Result<Self> {
        let m = verified_manifest(dir)?;
        let model = index_colbert(dir, &m, PLAID, model, options)?;
        let bad = |msg: String| Error::InvalidArgument(format!("{}: {msg}", dir.display()));
        let spec = m
            .plaid
            .clone()
            .ok_or_else(|| bad("a PLAID manifest without its codec".into()))?;
        spec.codec.validate().map_err(|e| bad(e.to_string()))?;
        let centroids = VectorFile::open(&dir.join(CENTROIDS_FILE))?;
        if centroids.len() != spec.centroids || centroids.dim() != m.dim {
            return Err(bad(format!(
                "{} centroids of width {} in {CENTROIDS_FILE}, the manifest says {} of width {}",
                centroids.len(),
                centroids.dim(),
                spec.centroids,
                m.dim
            )));
        }
        let centroids = centroids.to_embeddings().into_vec();
        let docs = read_compressed(
            &dir.join(CODES_FILE),
            spec.centroids,
            spec.codec.bytes_per_token(m.dim),
        )?;
        if docs.ids.len() != m.count {
            return Err(bad(format!(
                "{} docs in {CODES_FILE}, the manifest says {}",
                docs.ids.len(),
                m.count
            )));
        }
        Ok(Self::assemble(
            model,
            m.dim,
            centroids,
            spec.centroids,
            spec.codec,
            docs,
        ))
    }
}
