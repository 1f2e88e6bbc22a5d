//! One Qdrant collection holding an index's docs: filled when the index is
//! built, found again (by the server and name recorded in the index folder)
//! when it is loaded, and searched for candidates that rankbook then scores.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::error::{Error, Result};
use crate::index::flat::Metric;
use crate::index::qdrant::requests::{
    Candidate, batch, candidates, content_name, create_collection, query, search_params, upsert,
};
use crate::index::qdrant::server::Server;
use crate::index::qdrant::spec::QdrantSpec;
use crate::index::topk::TopK;
use crate::progress::Progress;

/// The index folder's record of where its collection is.
pub(crate) const LOCATION_FILE: &str = "qdrant.json";
/// Values (floats) sent per upsert request, well under Qdrant's request limit.
const UPSERT_VALUES: usize = 1 << 20;
/// Queries sent in one request.
const QUERY_BATCH: usize = 64;
/// Extra candidates fetched by an exact search (see [`Collection::candidates`]).
const EXACT_MARGIN: usize = 16;

/// Where an index's collection is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Location {
    url: String,
    collection: String,
}

/// The docs to store: `ids`, their vectors (rows of `dim`), and for token
/// vectors the offsets of each doc's rows.
pub(crate) struct Docs<'a> {
    pub ids: &'a [String],
    pub vectors: &'a [f32],
    pub dim: usize,
    pub offsets: Option<&'a [usize]>,
}

/// A collection on a server, with the search settings of its index.
pub(crate) struct Collection {
    server: Server,
    name: String,
    spec: QdrantSpec,
    dim: usize,
    multi: bool,
    /// HNSW candidates while searching (0: Qdrant's default).
    ef: AtomicUsize,
}

impl Collection {
    /// Creates the collection the spec asks for and stores `docs` in it: the
    /// named collection (refused if it exists), or one named after the content
    /// (replaced if it exists: it holds these docs, or a failed upload of them).
    pub fn build(
        spec: &QdrantSpec,
        docs: &Docs,
        metric: Metric,
        progress: &dyn Progress,
    ) -> Result<Self> {
        let server = Server::connect(&spec.server_url())?;
        let multi = docs.offsets.is_some();
        let (name, replace) = match &spec.collection {
            Some(name) => (name.clone(), false),
            None => (
                content_name(docs.ids, docs.vectors, docs.offsets, docs.dim, metric),
                true,
            ),
        };
        server.create(
            create_collection(&name, docs.dim, metric, spec, multi),
            replace,
        )?;
        progress.start("upload", docs.ids.len() as u64);
        let mut first = 0;
        while first < docs.ids.len() {
            // Whole docs up to the request budget (at least one).
            let mut end = first + 1;
            let rows = |a: usize, b: usize| match docs.offsets {
                Some(o) => o[b] - o[a],
                None => b - a,
            };
            while end < docs.ids.len() && rows(first, end + 1) * docs.dim <= UPSERT_VALUES {
                end += 1;
            }
            let (ra, rb) = match docs.offsets {
                Some(o) => (o[first], o[end]),
                None => (first, end),
            };
            server.upsert(upsert(
                &name,
                first,
                &docs.ids[first..end],
                &docs.vectors[ra * docs.dim..rb * docs.dim],
                docs.dim,
                docs.offsets.map(|o| &o[first..=end]),
            ))?;
            progress.advance((end - first) as u64);
            first = end;
        }
        progress.finish();
        let stored = server.ready_count(&name)?;
        if stored != docs.ids.len() as u64 {
            return Err(Error::InvalidArgument(format!(
                "Qdrant at {}: collection {name:?} holds {stored} points after storing {}",
                server.url(),
                docs.ids.len()
            )));
        }
        Ok(Self {
            server,
            name,
            spec: spec.clone(),
            dim: docs.dim,
            multi,
            ef: AtomicUsize::new(0),
        })
    }

    /// Finds the collection an index folder records (on the server of
    /// `QDRANT_URL` when set: the folder may have moved hosts) and checks it
    /// holds `count` points.
    pub fn open(dir: &Path, factory: &str, dim: usize, count: usize, multi: bool) -> Result<Self> {
        let spec = QdrantSpec::parse(factory)?;
        let path = dir.join(LOCATION_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let at: Location = serde_json::from_str(&text)
            .map_err(|e| Error::parse(&path, e.line(), Some(e.column()), e.to_string()))?;
        let url = std::env::var("QDRANT_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or(at.url);
        let server = Server::connect(&url)?;
        if !server.exists(&at.collection)? {
            return Err(Error::InvalidArgument(format!(
                "{}: its Qdrant collection {:?} is not on {url}",
                dir.display(),
                at.collection
            )));
        }
        let stored = server.ready_count(&at.collection)?;
        if stored != count as u64 {
            return Err(Error::InvalidArgument(format!(
                "{}: Qdrant collection {:?} on {url} holds {stored} points, the index {count}",
                dir.display(),
                at.collection
            )));
        }
        Ok(Self {
            server,
            name: at.collection,
            spec,
            dim,
            multi,
            ef: AtomicUsize::new(0),
        })
    }

    /// The canonical factory string.
    pub fn factory(&self) -> String {
        self.spec.factory()
    }

    /// Records where the collection is in the index folder `dir`.
    pub fn write_location(&self, dir: &Path) -> Result<Vec<String>> {
        let path = dir.join(LOCATION_FILE);
        let at = Location {
            url: self.server.url().into(),
            collection: self.name.clone(),
        };
        write_atomically(&path, |w| {
            serde_json::to_writer_pretty(w, &at).map_err(|e| Error::io(&path, e.into()))
        })?;
        Ok(vec![LOCATION_FILE.into()])
    }

    /// Sets `efSearch` (HNSW only).
    pub fn set_parameter(&self, name: &str, value: usize) -> Result<()> {
        match name {
            "efSearch" | "ef" if self.spec.hnsw => {
                self.ef.store(value, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(Error::InvalidArgument(format!(
                "index type \"{}\" has no parameter {name}",
                self.factory()
            ))),
        }
    }

    /// The candidates for a batch of queries (vectors, or each query's token
    /// vectors), at most `limit` each; an exact search fetches `margin` more
    /// so that Qdrant's rounding cannot keep a doc of the exact top out.
    fn candidates(
        &self,
        queries: &[&[f32]],
        limit: usize,
        margin: usize,
    ) -> Result<Vec<Vec<Candidate>>> {
        let limit = if self.spec.hnsw {
            limit
        } else {
            limit + margin
        };
        let params = search_params(&self.spec, self.ef.load(Ordering::Relaxed));
        let requests = queries
            .iter()
            .map(|q| query(&self.name, q, self.dim, self.multi, limit, params.clone()))
            .collect();
        self.server
            .query(batch(&self.name, requests))?
            .iter()
            .map(|points| candidates(points, self.dim, self.multi))
            .collect()
    }

    /// The best `k` docs (rows of `ids`) per query, best first: Qdrant's
    /// candidates for a batch of queries at a time, each query's scored by
    /// `score` (the query, its candidates: their scores).
    pub fn search(
        &self,
        queries: &[&[f32]],
        k: usize,
        ids: &[String],
        progress: &dyn Progress,
        score: impl Fn(&[f32], &[Candidate]) -> Result<Vec<f32>>,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        progress.start("search", queries.len() as u64);
        let mut hits = Vec::with_capacity(queries.len());
        for batch in queries.chunks(QUERY_BATCH) {
            for (query, found) in batch.iter().zip(self.candidates(batch, k, EXACT_MARGIN)?) {
                let mut top = TopK::new(k);
                for (c, s) in found.iter().zip(score(query, &found)?) {
                    let id = ids.get(c.row).ok_or_else(|| {
                        Error::InvalidArgument(format!("Qdrant: point {} out of range", c.row))
                    })?;
                    top.push(s, c.row, id);
                }
                hits.push(top.into_sorted());
            }
            progress.advance(batch.len() as u64);
        }
        progress.finish();
        Ok(hits)
    }
}
