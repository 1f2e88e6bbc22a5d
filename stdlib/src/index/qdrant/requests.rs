//! The requests rankbook sends to Qdrant and how it reads the answers, apart
//! from the connection so that they are tested without a server.

use std::collections::HashMap;

use qdrant_client::qdrant::{
    CreateCollection, DenseVector, Distance, HnswConfigDiff, MultiDenseVector,
    MultiVectorComparator, MultiVectorConfig, OptimizersConfigDiff, PointId, PointStruct, Query,
    QueryBatchPoints, QueryPoints, ScoredPoint, SearchParams, UpsertPoints, Value, VectorInput,
    VectorParams, VectorsConfig, WithPayloadSelector, WithVectorsSelector, point_id, query, vector,
    vector_input, vector_output, vectors, vectors_config, vectors_output, with_payload_selector,
    with_vectors_selector,
};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::index::flat::Metric;
use crate::index::qdrant::spec::QdrantSpec;

/// The payload field holding a point's doc id (the point id is its row).
pub(crate) const DOC_ID: &str = "doc_id";
/// Qdrant's smallest full-scan threshold (kB of vectors): with HNSW asked for,
/// the graph is built and searched even for a small collection.
const SMALLEST_THRESHOLD_KB: u64 = 10;

/// How Qdrant compares vectors for `metric`.
pub(crate) fn distance(metric: Metric) -> Distance {
    match metric {
        Metric::L2 => Distance::Euclid,
        // Cosine vectors are stored unit length (as Flat stores them), so that
        // Qdrant keeps them bit for bit instead of normalizing them again.
        Metric::Dot | Metric::Cosine => Distance::Dot,
    }
}

/// The collection for `dim`-wide vectors (`multi`: a ColBERT document's token
/// vectors per point, compared by MaxSim).
pub(crate) fn create_collection(
    name: &str,
    dim: usize,
    metric: Metric,
    spec: &QdrantSpec,
    multi: bool,
) -> CreateCollection {
    let hnsw = if spec.hnsw {
        HnswConfigDiff {
            m: spec.m,
            ef_construct: spec.ef_construct,
            full_scan_threshold: Some(SMALLEST_THRESHOLD_KB),
            ..Default::default()
        }
    } else {
        // m = 0: no graph, every search a full scan.
        HnswConfigDiff {
            m: Some(0),
            ..Default::default()
        }
    };
    let params = VectorParams {
        size: dim as u64,
        distance: distance(metric) as i32,
        multivector_config: multi.then_some(MultiVectorConfig {
            comparator: MultiVectorComparator::MaxSim as i32,
        }),
        ..Default::default()
    };
    CreateCollection {
        collection_name: name.into(),
        vectors_config: Some(VectorsConfig {
            config: Some(vectors_config::Config::Params(params)),
        }),
        hnsw_config: Some(hnsw),
        optimizers_config: spec.hnsw.then_some(OptimizersConfigDiff {
            indexing_threshold: Some(SMALLEST_THRESHOLD_KB),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One point: id = its row in the index, payload = its doc id.
fn point(row: usize, doc_id: &str, vector: vector::Vector) -> PointStruct {
    PointStruct {
        id: Some(PointId {
            point_id_options: Some(point_id::PointIdOptions::Num(row as u64)),
        }),
        payload: HashMap::from([(DOC_ID.to_string(), Value::from(doc_id.to_string()))]),
        vectors: Some(qdrant_client::qdrant::Vectors {
            vectors_options: Some(vectors::VectorsOptions::Vector(
                qdrant_client::qdrant::Vector {
                    vector: Some(vector),
                    ..Default::default()
                },
            )),
        }),
    }
}

fn dense(rows: &[f32]) -> DenseVector {
    DenseVector {
        data: rows.to_vec(),
    }
}

/// A document's token vectors as one multi-vector; no token (every one
/// skipped) becomes one zero vector, which scores 0 like an empty document.
fn multi_dense(tokens: &[f32], dim: usize) -> MultiDenseVector {
    if tokens.is_empty() {
        return MultiDenseVector {
            vectors: vec![dense(&vec![0.0; dim])],
        };
    }
    MultiDenseVector {
        vectors: tokens.chunks(dim).map(dense).collect(),
    }
}

/// Upserts (waited for) of docs `first..first + ids.len()`: one vector each
/// (`dim` wide, rows of `vectors`), or with `offsets` (one more than ids) the
/// token vectors `offsets[i]..offsets[i + 1]` of each.
pub(crate) fn upsert(
    name: &str,
    first: usize,
    ids: &[String],
    vectors: &[f32],
    dim: usize,
    offsets: Option<&[usize]>,
) -> UpsertPoints {
    let points = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let v = match offsets {
                None => vector::Vector::Dense(dense(&vectors[i * dim..(i + 1) * dim])),
                Some(o) => vector::Vector::MultiDense(multi_dense(
                    &vectors[(o[i] - o[0]) * dim..(o[i + 1] - o[0]) * dim],
                    dim,
                )),
            };
            point(first + i, id, v)
        })
        .collect();
    UpsertPoints {
        collection_name: name.into(),
        wait: Some(true),
        points,
        ..Default::default()
    }
}

/// The search settings: exact, or the HNSW graph with `ef` (0: Qdrant's).
pub(crate) fn search_params(spec: &QdrantSpec, ef: usize) -> SearchParams {
    SearchParams {
        exact: Some(!spec.hnsw),
        hnsw_ef: (spec.hnsw && ef > 0).then_some(ef as u64),
        ..Default::default()
    }
}

/// The nearest `limit` points to one query: a vector, or (`multi`) a query's
/// token vectors; the stored vectors come back so rankbook can score them.
pub(crate) fn query(
    name: &str,
    query: &[f32],
    dim: usize,
    multi: bool,
    limit: usize,
    params: SearchParams,
) -> QueryPoints {
    let input = if multi {
        vector_input::Variant::MultiDense(multi_dense(query, dim))
    } else {
        vector_input::Variant::Dense(dense(query))
    };
    QueryPoints {
        collection_name: name.into(),
        query: Some(Query {
            variant: Some(query::Variant::Nearest(VectorInput {
                variant: Some(input),
            })),
        }),
        params: Some(params),
        limit: Some(limit as u64),
        with_vectors: Some(WithVectorsSelector {
            selector_options: Some(with_vectors_selector::SelectorOptions::Enable(true)),
        }),
        with_payload: Some(WithPayloadSelector {
            selector_options: Some(with_payload_selector::SelectorOptions::Enable(false)),
        }),
        ..Default::default()
    }
}

/// Several queries in one request.
pub(crate) fn batch(name: &str, queries: Vec<QueryPoints>) -> QueryBatchPoints {
    QueryBatchPoints {
        collection_name: name.into(),
        query_points: queries,
        ..Default::default()
    }
}

/// A point found: its row and its stored vector (a multi-vector's rows
/// concatenated).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub row: usize,
    pub vectors: Vec<f32>,
}

/// Reads the points of one answer, checking each has a row id and one vector
/// of width `dim` (`multi`: one or more).
pub(crate) fn candidates(
    points: &[ScoredPoint],
    dim: usize,
    multi: bool,
) -> Result<Vec<Candidate>> {
    let unexpected = |why: &str| Error::InvalidArgument(format!("Qdrant answered {why}"));
    points
        .iter()
        .map(|p| {
            let row = match p.id.as_ref().and_then(|id| id.point_id_options.as_ref()) {
                Some(point_id::PointIdOptions::Num(n)) => *n as usize,
                _ => return Err(unexpected("a point without a numeric id")),
            };
            let output = match p.vectors.as_ref().and_then(|v| v.vectors_options.as_ref()) {
                Some(vectors_output::VectorsOptions::Vector(v)) => v,
                _ => return Err(unexpected(&format!("point {row} without its vector"))),
            };
            let vectors = match &output.vector {
                Some(vector_output::Vector::Dense(d)) => d.data.clone(),
                Some(vector_output::Vector::MultiDense(m)) => m
                    .vectors
                    .iter()
                    .flat_map(|v| v.data.iter().copied())
                    .collect(),
                // Servers before 1.16 fill the flat field only.
                #[allow(deprecated)]
                None if !output.data.is_empty() => output.data.clone(),
                _ => {
                    return Err(unexpected(&format!(
                        "point {row} with a sparse or no vector"
                    )));
                }
            };
            let fits = if multi {
                !vectors.is_empty() && vectors.len() % dim == 0
            } else {
                vectors.len() == dim
            };
            if !fits {
                return Err(unexpected(&format!(
                    "point {row} with {} values, not {} of {dim}",
                    vectors.len(),
                    if multi { "rows" } else { "one vector" },
                )));
            }
            Ok(Candidate { row, vectors })
        })
        .collect()
}

/// A collection name for these docs: `rankbook-` and a digest of what is
/// stored, so that building the same index again reuses the name.
pub(crate) fn content_name(
    ids: &[String],
    vectors: &[f32],
    offsets: Option<&[usize]>,
    dim: usize,
    metric: Metric,
) -> String {
    let mut h = Sha256::new();
    h.update(format!("{} {dim} {}\n", metric.name(), offsets.is_some()));
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    for o in offsets.unwrap_or_default() {
        h.update((*o as u64).to_le_bytes());
    }
    for v in vectors {
        h.update(v.to_le_bytes());
    }
    format!("rankbook-{}", &hex::encode(h.finalize())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use qdrant_client::qdrant::value::Kind;

    #[test]
    fn collections_are_exact_without_a_graph_or_hnsw_with_a_small_threshold() {
        let exact = create_collection("c", 384, Metric::Cosine, &QdrantSpec::default(), false);
        assert_eq!(exact.collection_name, "c");
        let Some(vectors_config::Config::Params(p)) = exact.vectors_config.unwrap().config else {
            panic!("one unnamed vector");
        };
        assert_eq!((p.size, p.distance), (384, Distance::Dot as i32));
        assert_eq!(p.multivector_config, None);
        assert_eq!(exact.hnsw_config.unwrap().m, Some(0));
        assert_eq!(exact.optimizers_config, None);

        let spec = QdrantSpec::parse("qdrant:HNSW,m=32,ef_construct=200").unwrap();
        let hnsw = create_collection("c", 128, Metric::L2, &spec, true);
        let Some(vectors_config::Config::Params(p)) = hnsw.vectors_config.unwrap().config else {
            panic!("one unnamed vector");
        };
        assert_eq!(p.distance, Distance::Euclid as i32);
        assert_eq!(
            p.multivector_config.unwrap().comparator,
            MultiVectorComparator::MaxSim as i32
        );
        let h = hnsw.hnsw_config.unwrap();
        assert_eq!(
            (h.m, h.ef_construct, h.full_scan_threshold),
            (Some(32), Some(200), Some(10))
        );
        assert_eq!(hnsw.optimizers_config.unwrap().indexing_threshold, Some(10));
        assert_eq!(distance(Metric::Dot), Distance::Dot);
    }

    fn doc_id(p: &PointStruct) -> Option<&str> {
        match p.payload.get(DOC_ID)?.kind.as_ref()? {
            Kind::StringValue(s) => Some(s),
            _ => None,
        }
    }

    fn stored(p: &PointStruct) -> &vector::Vector {
        match p
            .vectors
            .as_ref()
            .unwrap()
            .vectors_options
            .as_ref()
            .unwrap()
        {
            vectors::VectorsOptions::Vector(v) => v.vector.as_ref().unwrap(),
            _ => panic!("one unnamed vector"),
        }
    }

    #[test]
    fn upserts_number_points_by_row_and_carry_the_doc_id() {
        let ids: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let up = upsert("c", 10, &ids, &[1.0, 2.0, 3.0, 4.0], 2, None);
        assert_eq!((up.collection_name.as_str(), up.wait), ("c", Some(true)));
        assert_eq!(up.points.len(), 2);
        assert_eq!(
            up.points[1].id.as_ref().unwrap().point_id_options,
            Some(point_id::PointIdOptions::Num(11))
        );
        assert_eq!(doc_id(&up.points[1]), Some("b"));
        assert_eq!(
            stored(&up.points[1]),
            &vector::Vector::Dense(DenseVector {
                data: vec![3.0, 4.0]
            })
        );

        // Token vectors: offsets of a slice of a larger set (they start at 3);
        // the second doc has no token and is stored as one zero vector.
        let tokens = [1.0, 0.0, 0.0, 1.0];
        let multi = upsert("c", 0, &ids, &tokens, 2, Some(&[3, 5, 5]));
        let want_a = MultiDenseVector {
            vectors: vec![dense(&[1.0, 0.0]), dense(&[0.0, 1.0])],
        };
        assert_eq!(
            stored(&multi.points[0]),
            &vector::Vector::MultiDense(want_a)
        );
        let want_b = MultiDenseVector {
            vectors: vec![dense(&[0.0, 0.0])],
        };
        assert_eq!(
            stored(&multi.points[1]),
            &vector::Vector::MultiDense(want_b)
        );
    }

    #[test]
    fn queries_ask_for_vectors_and_the_search_mode() {
        let exact = search_params(&QdrantSpec::default(), 100);
        assert_eq!((exact.exact, exact.hnsw_ef), (Some(true), None));
        let spec = QdrantSpec::parse("qdrant:HNSW").unwrap();
        assert_eq!(search_params(&spec, 0).hnsw_ef, None);
        let ann = search_params(&spec, 128);
        assert_eq!((ann.exact, ann.hnsw_ef), (Some(false), Some(128)));

        let q = query("c", &[0.5, 0.5, 1.0, 0.0], 2, true, 26, ann.clone());
        assert_eq!((q.limit, q.params), (Some(26), Some(ann)));
        assert_eq!(
            q.with_vectors.unwrap().selector_options,
            Some(with_vectors_selector::SelectorOptions::Enable(true))
        );
        let Some(query::Variant::Nearest(VectorInput {
            variant: Some(vector_input::Variant::MultiDense(m)),
        })) = q.query.unwrap().variant
        else {
            panic!("a nearest multi-vector query");
        };
        assert_eq!(m.vectors, vec![dense(&[0.5, 0.5]), dense(&[1.0, 0.0])]);
        let d = query("c", &[0.5, 0.5], 2, false, 5, exact);
        assert!(matches!(
            d.query.unwrap().variant,
            Some(query::Variant::Nearest(VectorInput {
                variant: Some(vector_input::Variant::Dense(_))
            }))
        ));
        let b = batch("c", vec![]);
        assert_eq!(b.collection_name, "c");
    }

    fn scored(id: Option<u64>, v: Option<vector_output::Vector>) -> ScoredPoint {
        ScoredPoint {
            id: id.map(|n| PointId {
                point_id_options: Some(point_id::PointIdOptions::Num(n)),
            }),
            vectors: v.map(|v| qdrant_client::qdrant::VectorsOutput {
                vectors_options: Some(vectors_output::VectorsOptions::Vector(
                    qdrant_client::qdrant::VectorOutput {
                        vector: Some(v),
                        ..Default::default()
                    },
                )),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn answers_are_read_into_rows_and_vectors_or_refused() {
        let points = [
            scored(
                Some(7),
                Some(vector_output::Vector::Dense(dense(&[1.0, 2.0]))),
            ),
            scored(
                Some(2),
                Some(vector_output::Vector::MultiDense(MultiDenseVector {
                    vectors: vec![dense(&[1.0, 0.0]), dense(&[0.0, 1.0])],
                })),
            ),
        ];
        assert_eq!(
            candidates(&points, 2, true).unwrap(),
            vec![
                Candidate {
                    row: 7,
                    vectors: vec![1.0, 2.0]
                },
                Candidate {
                    row: 2,
                    vectors: vec![1.0, 0.0, 0.0, 1.0]
                }
            ]
        );
        for (bad, says) in [
            (scored(None, None), "without a numeric id"),
            (scored(Some(1), None), "point 1 without its vector"),
            (
                scored(Some(1), Some(vector_output::Vector::Dense(dense(&[1.0])))),
                "1 values, not rows of 2",
            ),
        ] {
            let err = candidates(&[bad], 2, true).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        // A dense index takes one vector per point, not two.
        let err = candidates(&points[1..], 2, false).unwrap_err().to_string();
        assert!(err.contains("4 values, not one vector of 2"), "{err}");
    }

    #[test]
    fn content_names_follow_the_content() {
        let ids: Vec<String> = vec!["a".into()];
        let a = content_name(&ids, &[1.0, 2.0], None, 2, Metric::Dot);
        assert_eq!(a, content_name(&ids, &[1.0, 2.0], None, 2, Metric::Dot));
        assert_eq!(a.len(), "rankbook-".len() + 16);
        assert_ne!(a, content_name(&ids, &[1.0, 2.5], None, 2, Metric::Dot));
        assert_ne!(a, content_name(&ids, &[1.0, 2.0], None, 2, Metric::L2));
    }
}
