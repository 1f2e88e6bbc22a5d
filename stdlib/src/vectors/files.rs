//! Writing vectors with their ids: Arrow IPC, JSONL, or NumPy `.npy` (+ `.ids.json`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::atomic::write_atomically;
use crate::error::{Error, Result};
use crate::vectors::Embeddings;

/// The file formats vectors can be written in, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    /// Arrow IPC file: `id` utf8, `embedding` FixedSizeList<f32, dim>.
    Arrow,
    /// One `{"id": …, "embedding": […]}` object per line.
    Jsonl,
    /// A NumPy `<f4` matrix, ids in `<name>.ids.json` beside it.
    Npy,
}

impl VectorFormat {
    /// The format for `path`'s extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("arrow") | Some("ipc") | Some("feather") => Ok(Self::Arrow),
            Some("jsonl") => Ok(Self::Jsonl),
            Some("npy") => Ok(Self::Npy),
            _ => Err(Error::InvalidArgument(format!(
                "{}: unknown output extension (use .arrow, .jsonl or .npy)",
                path.display()
            ))),
        }
    }
}

/// Where the ids of a `.npy` file go: `x.npy` -> `x.ids.json`.
pub fn npy_ids_path(path: &Path) -> PathBuf {
    path.with_extension("ids.json")
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Fails unless there is one id per text's vectors.
pub(crate) fn check_ids(ids: usize, texts: usize) -> Result<()> {
    if ids != texts {
        return Err(Error::InvalidArgument(format!(
            "{ids} ids for {texts} texts' vectors"
        )));
    }
    Ok(())
}

/// Writes `ids` and their vectors to `path` (format by extension), atomically.
pub fn write_vectors(path: &Path, ids: &[String], vectors: &Embeddings) -> Result<()> {
    check_ids(ids.len(), vectors.len())?;
    match VectorFormat::from_path(path)? {
        VectorFormat::Arrow => write_arrow(path, ids, vectors),
        VectorFormat::Jsonl => write_atomically(path, |w| {
            for (id, v) in ids.iter().zip(vectors.rows()) {
                serde_json::to_writer(&mut *w, &serde_json::json!({"id": id, "embedding": v}))
                    .map_err(|e| Error::io(path, e.into()))?;
                w.write_all(b"\n").map_err(io_err(path))?;
            }
            Ok(())
        }),
        VectorFormat::Npy => {
            let ids_path = npy_ids_path(path);
            write_atomically(&ids_path, |w| {
                serde_json::to_writer(w, ids).map_err(|e| Error::io(&ids_path, e.into()))
            })?;
            write_atomically(path, |w| {
                w.write_all(&npy_header(vectors.len(), vectors.dim()))
                    .map_err(io_err(path))?;
                for x in vectors.as_slice() {
                    w.write_all(&x.to_le_bytes()).map_err(io_err(path))?;
                }
                Ok(())
            })
        }
    }
}

/// The `embedding` column's field: `FixedSizeList<f32, dim>`.
pub(crate) fn embedding_field(dim: usize) -> Field {
    Field::new(
        "embedding",
        DataType::FixedSizeList(
            Arc::new(Field::new("item", DataType::Float32, false)),
            dim as i32,
        ),
        false,
    )
}

/// Row-major `values` as an `embedding` column of width `dim`.
pub(crate) fn embedding_column(dim: usize, values: Vec<f32>) -> Result<FixedSizeListArray> {
    Ok(FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        dim as i32,
        Arc::new(Float32Array::from(values)),
        None,
    )?)
}

/// The arrow schema of a vector file of width `dim`.
pub fn vector_schema(dim: usize) -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        embedding_field(dim),
    ])
}

fn write_arrow(path: &Path, ids: &[String], vectors: &Embeddings) -> Result<()> {
    let dim = vectors.dim();
    let schema = Arc::new(vector_schema(dim));
    let list = embedding_column(dim, vectors.as_slice().to_vec())?;
    write_id_column_file(path, schema, ids, vec![Arc::new(list)])
}

/// Writes an Arrow file of an `id` column and the other `columns` (atomically).
pub(crate) fn write_id_column_file(
    path: &Path,
    schema: Arc<Schema>,
    ids: &[String],
    columns: Vec<arrow_array::ArrayRef>,
) -> Result<()> {
    let mut all: Vec<arrow_array::ArrayRef> = vec![Arc::new(StringArray::from_iter_values(ids))];
    all.extend(columns);
    let batch = RecordBatch::try_new(schema.clone(), all)?;
    write_atomically(path, |w| {
        let mut writer = arrow_ipc::writer::FileWriter::try_new(w, &schema)?;
        writer.write(&batch)?;
        writer.finish()?;
        Ok(())
    })
}

fn npy_header(rows: usize, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    // Magic (6) + version (2) + header length (2) + dict + padding + '\n' is a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<String>, Embeddings) {
        (
            vec!["a".into(), "b".into()],
            Embeddings::new(3, vec![1.0, 2.0, 3.0, -0.5, 0.25, 1e-8]),
        )
    }

    #[test]
    fn jsonl_round_trips_full_precision() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.jsonl");
        let (ids, e) = sample();
        write_vectors(&p, &ids, &e).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[1]["id"], "b");
        assert_eq!(lines[1]["embedding"][2].as_f64().unwrap() as f32, 1e-8f32);
    }

    #[test]
    fn npy_header_is_aligned_and_data_follows() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.npy");
        let (ids, e) = sample();
        write_vectors(&p, &ids, &e).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert!(
            std::str::from_utf8(&bytes[10..10 + hlen])
                .unwrap()
                .contains("'shape': (2, 3)")
        );
        assert_eq!(bytes.len(), 10 + hlen + 6 * 4);
        let ids_back: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(npy_ids_path(&p)).unwrap()).unwrap();
        assert_eq!(ids_back, ids);
    }

    #[test]
    fn arrow_file_reads_back() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("v.arrow");
        let (ids, e) = sample();
        write_vectors(&p, &ids, &e).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        let mut r = arrow_ipc::reader::FileReader::try_new(f, None).unwrap();
        let batch = r.next().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 2);
        let list = batch
            .column(1)
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap();
        let vals = list
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap();
        assert_eq!(vals.values().to_vec(), e.as_slice());
    }

    #[test]
    fn unknown_extension_is_rejected() {
        let (ids, e) = sample();
        assert!(write_vectors(Path::new("x.csv"), &ids, &e).is_err());
    }
}
