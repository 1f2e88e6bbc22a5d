//! LanceDB as an index back-end (feature `lancedb`): the doc vectors in a Lance
//! table inside the index folder, on disk rather than in memory, searched by
//! LanceDB exactly (`lance`: a flat scan) or through one of its vector indexes
//! (`lance:IVF_HNSW_SQ`, `lance:IVF_PQ`, …). LanceDB finds the candidates and
//! rankbook scores them with the Flat index's arithmetic, so an exact search gives
//! the Flat index's ranking and scores, and an ANN search the Flat scores of the
//! docs it finds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::TryStreamExt;
use lancedb::arrow::arrow_array::cast::AsArray;
use lancedb::arrow::arrow_array::types::{Float32Type, Int32Type, UInt64Type};
use lancedb::arrow::arrow_array::{
    Array, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt64Array,
};
use lancedb::arrow::arrow_schema::{DataType, Field, Schema};
use lancedb::index::Index;
use lancedb::index::vector::{
    IvfFlatIndexBuilder, IvfHnswFlatIndexBuilder, IvfHnswPqIndexBuilder, IvfHnswSqIndexBuilder,
    IvfPqIndexBuilder, IvfSqIndexBuilder,
};
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::{DistanceType, Table};

use crate::error::{Error, Result};
use crate::index::flat::{Metric, exact_scores, stored_vectors};
use crate::index::lance::spec::{LanceAnn, LanceSpec};
use crate::index::topk::TopK;
use crate::index::vector_index::{VectorIndex, prepare_queries};
use crate::model::sentence::copy_tree;
use crate::progress::Progress;
use crate::vectors::Embeddings;

/// The LanceDB database folder inside the index folder.
const DB_DIR: &str = "lance";
/// The table holding the docs.
const TABLE: &str = "docs";
/// Columns: the doc's position in the index, its id, its vector.
const ROW: &str = "row";
const ID: &str = "id";
const VECTOR: &str = "vector";
/// Extra candidates fetched by an exact search, so that LanceDB's rounding (not
/// rankbook's) cannot keep a doc of the exact top k out.
const EXACT_MARGIN: usize = 16;
/// Query vectors sent to LanceDB together (a flat scan is shared by a batch).
const QUERY_BATCH: usize = 64;
/// Rows per record batch written.
const WRITE_BATCH: usize = 65_536;

/// LanceDB's builder for the vector index `spec` asks for (none: exact search).
fn vector_index(spec: &LanceSpec, distance: DistanceType) -> Option<Index> {
    macro_rules! ivf {
        ($builder:expr) => {{
            let b = $builder.distance_type(distance);
            match spec.partitions {
                Some(p) => b.num_partitions(p),
                None => b,
            }
        }};
    }
    macro_rules! pq {
        ($builder:expr) => {{
            let b = $builder;
            match spec.sub_vectors {
                Some(s) => b.num_sub_vectors(s),
                None => b,
            }
        }};
    }
    macro_rules! hnsw {
        ($builder:expr) => {{
            let b = $builder;
            let b = match spec.m {
                Some(m) => b.num_edges(m),
                None => b,
            };
            match spec.ef_construction {
                Some(e) => b.ef_construction(e),
                None => b,
            }
        }};
    }
    Some(match spec.ann? {
        LanceAnn::IvfFlat => Index::IvfFlat(ivf!(IvfFlatIndexBuilder::default())),
        LanceAnn::IvfPq => Index::IvfPq(pq!(ivf!(IvfPqIndexBuilder::default()))),
        LanceAnn::IvfSq => Index::IvfSq(ivf!(IvfSqIndexBuilder::default())),
        LanceAnn::IvfHnswFlat => {
            Index::IvfHnswFlat(hnsw!(ivf!(IvfHnswFlatIndexBuilder::default())))
        }
        LanceAnn::IvfHnswPq => Index::IvfHnswPq(hnsw!(pq!(ivf!(IvfHnswPqIndexBuilder::default())))),
        LanceAnn::IvfHnswSq => Index::IvfHnswSq(hnsw!(ivf!(IvfHnswSqIndexBuilder::default()))),
    })
}

/// A LanceDB table of doc vectors and the ids of its docs.
pub struct LanceIndex {
    spec: LanceSpec,
    factory: String,
    metric: Metric,
    ids: Vec<String>,
    dim: usize,
    /// The database folder (in a temporary folder until the index is saved).
    root: PathBuf,
    /// Holds a freshly built table's folder until the index is dropped.
    _built_in: Option<tempfile::TempDir>,
    table: Table,
    runtime: tokio::runtime::Runtime,
    /// Search settings (0: LanceDB's default).
    nprobes: AtomicUsize,
    ef: AtomicUsize,
}

fn lance_error(what: &str) -> impl Fn(lancedb::Error) -> Error + '_ {
    move |e| Error::InvalidArgument(format!("LanceDB: {what}: {e}"))
}

fn distance_type(metric: Metric) -> DistanceType {
    match metric {
        Metric::L2 => DistanceType::L2,
        // Cosine vectors are stored unit length: their dot product is the cosine.
        Metric::Dot | Metric::Cosine => DistanceType::Dot,
    }
}

/// LanceDB's calls are async: a runtime of its own, which the searches block on.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(rayon::current_num_threads().max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::InvalidArgument(format!("LanceDB: starting its runtime: {e}")))
}

fn schema(dim: usize) -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(ROW, DataType::UInt64, false),
        Field::new(ID, DataType::Utf8, false),
        Field::new(
            VECTOR,
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, true)),
                dim as i32,
            ),
            false,
        ),
    ]))
}

/// The docs as record batches of [`WRITE_BATCH`] rows.
fn record_batches(ids: &[String], vectors: &Embeddings) -> Result<Vec<RecordBatch>> {
    let dim = vectors.dim();
    let schema = schema(dim);
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let mut batches = Vec::new();
    for (first, rows) in (0..ids.len())
        .step_by(WRITE_BATCH)
        .zip(vectors.as_slice().chunks(WRITE_BATCH * dim))
    {
        let n = rows.len() / dim;
        let values = Float32Array::from(rows.to_vec());
        let list = FixedSizeListArray::try_new(item.clone(), dim as i32, Arc::new(values), None)
            .map_err(|e| Error::InvalidArgument(format!("LanceDB: vectors: {e}")))?;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(UInt64Array::from_iter_values(
                    (first as u64)..(first + n) as u64,
                )),
                Arc::new(StringArray::from_iter_values(&ids[first..first + n])),
                Arc::new(list),
            ],
        )
        .map_err(|e| Error::InvalidArgument(format!("LanceDB: record batch: {e}")))?;
        batches.push(batch);
    }
    Ok(batches)
}

impl LanceIndex {
    /// Builds a table of `ids` and `vectors` (cosine: unit length first) and,
    /// for `lance:TYPE`, LanceDB's vector index over it.
    pub fn build(
        factory: &str,
        ids: Vec<String>,
        vectors: Embeddings,
        metric: Metric,
    ) -> Result<Self> {
        let spec = LanceSpec::parse(factory)?;
        let vectors = stored_vectors(&ids, vectors, metric)?;
        let tmp = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let root = tmp.path().join(DB_DIR);
        let runtime = runtime()?;
        let dim = vectors.dim();
        let batches = record_batches(&ids, &vectors)?;
        drop(vectors);
        let table = runtime.block_on(async {
            let db = lancedb::connect(&root.to_string_lossy())
                .execute()
                .await
                .map_err(lance_error("opening the database"))?;
            let table = db
                .create_table(TABLE, batches)
                .execute()
                .await
                .map_err(lance_error("writing the table"))?;
            if let Some(index) = vector_index(&spec, distance_type(metric)) {
                table
                    .create_index(&[VECTOR], index)
                    .execute()
                    .await
                    .map_err(lance_error("building the vector index"))?;
            }
            Ok::<_, Error>(table)
        })?;
        Ok(Self {
            factory: spec.factory(),
            spec,
            metric,
            ids,
            dim,
            root,
            _built_in: Some(tmp),
            table,
            runtime,
            nprobes: AtomicUsize::new(0),
            ef: AtomicUsize::new(0),
        })
    }

    /// Opens the table of an index folder written by [`VectorIndex::write_files`]
    /// (checksums are the caller's: see `load_index`).
    pub fn read(dir: &Path, factory: &str, metric: Metric) -> Result<Self> {
        let spec = LanceSpec::parse(factory)?;
        let root = dir.join(DB_DIR);
        let runtime = runtime()?;
        let invalid = |msg: String| Error::InvalidArgument(format!("{}: {msg}", dir.display()));
        let (table, rows) = runtime.block_on(async {
            let db = lancedb::connect(&root.to_string_lossy())
                .execute()
                .await
                .map_err(lance_error("opening the database"))?;
            let table = db
                .open_table(TABLE)
                .execute()
                .await
                .map_err(lance_error("opening the table"))?;
            let rows: Vec<RecordBatch> = table
                .query()
                .select(Select::columns(&[ROW, ID]))
                .execute()
                .await
                .map_err(lance_error("reading the ids"))?
                .try_collect()
                .await
                .map_err(lance_error("reading the ids"))?;
            Ok::<_, Error>((table, rows))
        })?;
        // Ids by their row: every row 0..n once.
        let n: usize = rows.iter().map(|b| b.num_rows()).sum();
        let mut ids: Vec<Option<String>> = vec![None; n];
        for batch in &rows {
            let (Some(row), Some(id)) = (
                batch
                    .column_by_name(ROW)
                    .and_then(|c| c.as_primitive_opt::<UInt64Type>()),
                batch
                    .column_by_name(ID)
                    .and_then(|c| c.as_string_opt::<i32>()),
            ) else {
                return Err(invalid(
                    "the LanceDB table has no row and id columns".into(),
                ));
            };
            for (r, id) in row.values().iter().zip(id.iter()) {
                let slot = ids.get_mut(*r as usize).filter(|s| s.is_none());
                match (slot, id) {
                    (Some(slot), Some(id)) => *slot = Some(id.to_string()),
                    _ => {
                        return Err(invalid(format!(
                            "the LanceDB table's row {r} is out of place"
                        )));
                    }
                }
            }
        }
        let ids: Vec<String> = ids.into_iter().flatten().collect();
        let dim = table_dim(&runtime, &table)?
            .ok_or_else(|| invalid("the LanceDB table has no vector column".into()))?;
        Ok(Self {
            factory: spec.factory(),
            spec,
            metric,
            ids,
            dim,
            root,
            _built_in: None,
            table,
            runtime,
            nprobes: AtomicUsize::new(0),
            ef: AtomicUsize::new(0),
        })
    }

    /// One batch of prepared query vectors: for each, the candidates' rows and
    /// their stored vectors.
    fn candidates(&self, queries: &[&[f32]], limit: usize) -> Result<Vec<(Vec<usize>, Vec<f32>)>> {
        let mut query = self
            .table
            .query()
            .nearest_to(queries[0])
            .map_err(lance_error("query"))?;
        for q in &queries[1..] {
            query = query.add_query_vector(*q).map_err(lance_error("query"))?;
        }
        let mut query = query
            .column(VECTOR)
            .distance_type(distance_type(self.metric))
            .limit(limit)
            .select(Select::columns(&[ROW, VECTOR]));
        if self.spec.ann.is_none() {
            query = query.bypass_vector_index();
        } else {
            let nprobes = self.nprobes.load(Ordering::Relaxed);
            if nprobes > 0 {
                query = query.nprobes(nprobes).map_err(lance_error("nprobes"))?;
            }
            let ef = self.ef.load(Ordering::Relaxed);
            if ef > 0 {
                query = query.ef(ef);
            }
        }
        let batches: Vec<RecordBatch> = self.runtime.block_on(async {
            query
                .execute()
                .await
                .map_err(lance_error("searching"))?
                .try_collect()
                .await
                .map_err(lance_error("searching"))
        })?;
        let mut out = vec![(Vec::new(), Vec::new()); queries.len()];
        for batch in &batches {
            let malformed = || Error::InvalidArgument("LanceDB: unexpected search result".into());
            let rows = batch
                .column_by_name(ROW)
                .and_then(|c| c.as_primitive_opt::<UInt64Type>())
                .ok_or_else(malformed)?;
            let vectors = batch
                .column_by_name(VECTOR)
                .and_then(|c| c.as_fixed_size_list_opt())
                .ok_or_else(malformed)?;
            let values = vectors
                .values()
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(malformed)?;
            let values = &values.values()[vectors.offset() * self.dim..];
            // One query vector: LanceDB adds no query_index column.
            let which = batch
                .column_by_name("query_index")
                .and_then(|c| c.as_primitive_opt::<Int32Type>());
            for i in 0..batch.num_rows() {
                let q = which.map_or(0, |w| w.value(i) as usize);
                let (rows_of, vectors_of) = out.get_mut(q).ok_or_else(malformed)?;
                rows_of.push(rows.value(i) as usize);
                vectors_of.extend_from_slice(&values[i * self.dim..(i + 1) * self.dim]);
            }
        }
        Ok(out)
    }
}

/// The width of the table's vector column.
fn table_dim(runtime: &tokio::runtime::Runtime, table: &Table) -> Result<Option<usize>> {
    let schema = runtime
        .block_on(table.schema())
        .map_err(lance_error("reading the schema"))?;
    Ok(schema
        .field_with_name(VECTOR)
        .ok()
        .and_then(|f| match f.data_type() {
            DataType::FixedSizeList(_, d) => Some(*d as usize),
            _ => None,
        }))
}

/// Every file under `dir`, as paths relative to `base`.
fn files_under(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            files_under(&path, base, out)?;
        } else if let Ok(rel) = path.strip_prefix(base) {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

impl VectorIndex for LanceIndex {
    fn factory(&self) -> &str {
        &self.factory
    }

    fn ids(&self) -> &[String] {
        &self.ids
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn set_parameter(&self, name: &str, value: usize) -> Result<()> {
        let slot = match (self.spec.ann, name) {
            (Some(_), "nprobe" | "nprobes") => &self.nprobes,
            (Some(ann), "efSearch" | "ef") if ann.has_graph() => &self.ef,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "index type \"{}\" has no parameter {name}",
                    self.factory
                )));
            }
        };
        slot.store(value, Ordering::Relaxed);
        Ok(())
    }

    fn search_vectors_with(
        &self,
        queries: &Embeddings,
        k: usize,
        progress: &dyn Progress,
    ) -> Result<Vec<Vec<(usize, f32)>>> {
        if queries.is_empty() || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let queries = prepare_queries(queries, self.dim, self.metric)?;
        let limit = match self.spec.ann {
            None => k + EXACT_MARGIN,
            Some(_) => k,
        }
        .min(self.ids.len());
        progress.start("search", queries.len() as u64);
        let rows: Vec<&[f32]> = queries.rows().collect();
        let mut hits = Vec::with_capacity(rows.len());
        for batch in rows.chunks(QUERY_BATCH) {
            for (query, (docs, vectors)) in batch.iter().zip(self.candidates(batch, limit)?) {
                let scores = exact_scores(query, &vectors, self.dim, self.metric);
                let mut top = TopK::new(k);
                for (doc, score) in docs.into_iter().zip(scores) {
                    let id = self.ids.get(doc).ok_or_else(|| {
                        Error::InvalidArgument(format!("LanceDB: row {doc} out of range"))
                    })?;
                    top.push(score, doc, id);
                }
                hits.push(top.into_sorted());
            }
            progress.advance(batch.len() as u64);
        }
        progress.finish();
        Ok(hits)
    }

    fn write_files(&self, dir: &Path) -> Result<Vec<String>> {
        let to = dir.join(DB_DIR);
        std::fs::create_dir_all(&to).map_err(|e| Error::io(&to, e))?;
        copy_tree(&self.root, &to, &|_: &Path| false)?;
        let mut files = Vec::new();
        files_under(&to, dir, &mut files)?;
        let mut names: Vec<String> = files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::disk::{load_index, save_index};
    use crate::index::flat::FlatIndex;
    use crate::index::lance::LANCE;
    use crate::progress::NoProgress;

    fn corpus(n: usize, dim: usize) -> (Vec<String>, Embeddings) {
        let ids = (0..n).map(|i| format!("d{i:05}")).collect();
        (ids, Embeddings::random(n, dim, 7))
    }

    #[test]
    fn exact_search_equals_flat_for_every_metric_and_survives_a_save() {
        let (ids, docs) = corpus(1500, 24);
        let queries = Embeddings::random(70, 24, 3);
        for metric in [Metric::Dot, Metric::Cosine, Metric::L2] {
            let flat = FlatIndex::new(ids.clone(), docs.clone(), metric).unwrap();
            let want = flat.search_vectors(&queries, 10).unwrap();
            let lance = LanceIndex::build(LANCE, ids.clone(), docs.clone(), metric).unwrap();
            // Same docs, same order, bit-identical scores.
            assert_eq!(
                lance
                    .search_vectors_with(&queries, 10, &NoProgress)
                    .unwrap(),
                want
            );
            assert!(lance.set_parameter("nprobe", 4).is_err());
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("idx");
            save_index(&path, &lance, None, None).unwrap();
            drop(lance);
            let (loaded, m) = load_index(&path).unwrap();
            assert_eq!(
                (m.factory.as_str(), loaded.len(), loaded.dim()),
                (LANCE, 1500, 24)
            );
            assert_eq!(loaded.ids(), &ids[..]);
            assert_eq!(
                loaded
                    .search_vectors_with(&queries, 10, &NoProgress)
                    .unwrap(),
                want
            );
        }
    }

    #[test]
    fn ann_search_finds_most_neighbours_with_flat_scores() {
        let (ids, docs) = corpus(3000, 32);
        let queries = Embeddings::random(40, 32, 9);
        let flat = FlatIndex::new(ids.clone(), docs.clone(), Metric::Cosine).unwrap();
        let want = flat.search_vectors(&queries, 10).unwrap();
        let ann =
            LanceIndex::build("lance:IVF_HNSW_SQ,partitions=4", ids, docs, Metric::Cosine).unwrap();
        ann.set_parameter("nprobe", 4).unwrap();
        ann.set_parameter("efSearch", 200).unwrap();
        let got = ann.search_vectors_with(&queries, 10, &NoProgress).unwrap();
        let (mut found, mut total) = (0, 0);
        for (g, w) in got.iter().zip(&want) {
            total += w.len();
            found += g.iter().filter(|h| w.contains(h)).count();
        }
        // Every hit found carries its exact (Flat) score, so `contains` matches it.
        assert!(found as f64 >= 0.9 * total as f64, "{found} of {total}");
        assert!(ann.set_parameter("k_factor", 2).is_err());
    }
}
