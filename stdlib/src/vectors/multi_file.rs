//! Multi-vector files: Arrow IPC (`id` utf8, `embedding` List<FixedSizeList<f32,
//! dim>>, one list of token vectors per text; pyarrow reads it) or JSONL
//! (`{"id": …, "embedding": [[…], …]}` per line).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ListArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};

use crate::atomic::write_atomically;
use crate::error::{Error, Result};
use crate::vectors::MultiVectors;
use crate::vectors::arrow_file::IpcFile;
use crate::vectors::files::{VectorFormat, check_ids, embedding_column, write_id_column_file};

/// The `embedding` field of a multi-vector file of width `dim`.
pub(crate) fn token_lists_field(dim: usize) -> Field {
    Field::new(
        "embedding",
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dim as i32,
            ),
            false,
        ))),
        false,
    )
}

/// Each text's token vectors as the `embedding` column of [`token_lists_field`].
pub(crate) fn token_lists_column(vectors: &MultiVectors) -> Result<ListArray> {
    let dim = vectors.dim();
    let rows = embedding_column(dim, vectors.as_slice().to_vec())?;
    let offsets: Vec<i32> = vectors.offsets().iter().map(|&o| o as i32).collect();
    let DataType::List(item) = token_lists_field(dim).data_type().clone() else {
        unreachable!("a list field");
    };
    Ok(ListArray::try_new(
        item,
        OffsetBuffer::new(offsets.into()),
        Arc::new(rows),
        None,
    )?)
}

/// Writes each text's token vectors with its id (atomically), as `.arrow` or `.jsonl`.
pub fn write_multi_vectors(path: &Path, ids: &[String], vectors: &MultiVectors) -> Result<()> {
    check_ids(ids.len(), vectors.len())?;
    let dim = vectors.dim();
    match VectorFormat::from_path(path)? {
        VectorFormat::Arrow => {
            let schema = Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                token_lists_field(dim),
            ]));
            write_id_column_file(
                path,
                schema,
                ids,
                vec![Arc::new(token_lists_column(vectors)?)],
            )
        }
        VectorFormat::Jsonl => write_atomically(path, |w| {
            for (i, id) in ids.iter().enumerate() {
                let rows: Vec<&[f32]> = vectors.get(i).chunks_exact(dim).collect();
                serde_json::to_writer(&mut *w, &serde_json::json!({"id": id, "embedding": rows}))
                    .map_err(|e| Error::io(path, e.into()))?;
                w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
            }
            Ok(())
        }),
        VectorFormat::Npy => Err(Error::InvalidArgument(format!(
            "{}: token vectors are written as .arrow or .jsonl (a .npy matrix holds one vector per text)",
            path.display()
        ))),
    }
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!(
        "{}: not a rankbook multi-vector file: {msg}",
        path.display()
    ))
}

/// Reads an Arrow multi-vector file: the ids and each text's token vectors.
pub fn read_multi_vectors(path: &Path) -> Result<(Vec<String>, MultiVectors)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let batches = IpcFile::map(&file)
        .and_then(|f| f.batches())
        .map_err(|e| bad(path, e))?;
    let mut ids = Vec::new();
    let mut out: Option<MultiVectors> = None;
    for batch in batches {
        let (Some(id), Some(emb)) = (
            batch.column_by_name("id"),
            batch.column_by_name("embedding"),
        ) else {
            return Err(bad(path, "no `id` and `embedding` columns"));
        };
        let (Some(id), Some(lists)) = (id.as_string_opt::<i32>(), emb.as_list_opt::<i32>()) else {
            return Err(bad(
                path,
                "`id` must be strings, `embedding` lists of f32 vectors",
            ));
        };
        let Some(rows) = lists.values().as_fixed_size_list_opt() else {
            return Err(bad(path, "`embedding` items must be fixed-size f32 lists"));
        };
        let dim = rows.value_length() as usize;
        let Some(values) = rows.values().as_primitive_opt::<Float32Type>() else {
            return Err(bad(path, "vector items must be f32"));
        };
        if id.null_count() > 0 || lists.null_count() > 0 || dim == 0 {
            return Err(bad(path, "null ids or vectors"));
        }
        let all = out.get_or_insert_with(|| MultiVectors::empty(dim));
        if all.dim() != dim {
            return Err(bad(path, "batches of different widths"));
        }
        let offsets = lists.value_offsets();
        let base = rows.offset();
        for i in 0..lists.len() {
            let (a, b) = (offsets[i] as usize + base, offsets[i + 1] as usize + base);
            all.push(&values.values()[a * dim..b * dim]);
            ids.push(id.value(i).to_string());
        }
    }
    let vectors = out.ok_or_else(|| bad(path, "no record batch"))?;
    Ok((ids, vectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_and_jsonl_hold_each_texts_token_vectors() {
        let d = tempfile::tempdir().unwrap();
        let mut m = MultiVectors::empty(2);
        m.push(&[1.0, 2.0, 3.0, 4.0]);
        m.push(&[5.0, 6.0]);
        let ids = vec!["a".to_string(), "b".to_string()];
        let arrow = d.path().join("t.arrow");
        write_multi_vectors(&arrow, &ids, &m).unwrap();
        assert_eq!(
            read_multi_vectors(&arrow).unwrap(),
            (ids.clone(), m.clone())
        );
        let jsonl = d.path().join("t.jsonl");
        write_multi_vectors(&jsonl, &ids, &m).unwrap();
        let first: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(&jsonl)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            first["embedding"],
            serde_json::json!([[1.0, 2.0], [3.0, 4.0]])
        );
        assert!(write_multi_vectors(&d.path().join("t.npy"), &ids, &m).is_err());
    }
}
