//! Reading vector files written by [`crate::vectors::write_vectors`] (Arrow IPC:
//! `id` utf8, `embedding` FixedSizeList<f32>) without copying the vectors: the
//! file is memory-mapped and the arrays point into the mapping, so an index
//! larger than RAM still searches (the OS pages it in as needed).

use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_schema::DataType;

use crate::error::{Error, Result};
use crate::vectors::Embeddings;

/// A memory-mapped vector file: ids in memory, vectors in the mapping.
pub struct VectorFile {
    path: PathBuf,
    ids: Vec<String>,
    dim: usize,
    /// The decoded batches; their buffers keep the mapping alive.
    batches: Vec<RecordBatch>,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!(
        "{}: not a rankbook vector file: {msg}",
        path.display()
    ))
}

impl VectorFile {
    /// Maps `path` and checks its layout.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: read-only mapping; files are replaced by rename, never rewritten
        // in place, so the mapped bytes do not change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let len = map.len();
        if len < 16 {
            return Err(bad(path, "too short"));
        }
        let ptr = NonNull::new(map.as_ptr() as *mut u8).ok_or_else(|| bad(path, "empty"))?;
        // SAFETY: the pointer and length describe the mapping, which the Arc keeps
        // alive for as long as any buffer refers to it.
        let buffer = unsafe { Buffer::from_custom_allocation(ptr, len, Arc::new(map)) };
        let trailer = len - 10;
        let footer_len = read_footer_length(buffer[trailer..].try_into().expect("10 bytes"))
            .map_err(|e| bad(path, e))?;
        if footer_len > trailer {
            return Err(bad(path, "footer longer than the file"));
        }
        let footer_bytes = &buffer[trailer - footer_len..trailer];
        let footer = arrow_ipc::root_as_footer(footer_bytes).map_err(|e| bad(path, e))?;
        let schema = footer
            .schema()
            .map(arrow_ipc::convert::try_fb_to_schema)
            .ok_or_else(|| bad(path, "no schema"))?
            .map_err(|e| bad(path, e))?;
        let dim = match schema.field_with_name("embedding").map(|f| f.data_type()) {
            Ok(DataType::FixedSizeList(item, dim))
                if item.data_type() == &DataType::Float32 && *dim > 0 =>
            {
                *dim as usize
            }
            _ => return Err(bad(path, "no `embedding` column of f32 lists")),
        };
        if !matches!(
            schema.field_with_name("id").map(|f| f.data_type()),
            Ok(DataType::Utf8)
        ) {
            return Err(bad(path, "no `id` column of strings"));
        }
        let decoder = FileDecoder::new(Arc::new(schema), footer.version());
        let mut batches = Vec::new();
        let mut ids = Vec::new();
        for block in footer.recordBatches().iter().flatten() {
            let size = block.bodyLength() as usize + block.metaDataLength() as usize;
            let start = block.offset() as usize;
            if start.checked_add(size).is_none_or(|end| end > len) {
                return Err(bad(path, "a batch lies outside the file"));
            }
            let data = buffer.slice_with_length(start, size);
            let Some(batch) = decoder
                .read_record_batch(block, &data)
                .map_err(|e| bad(path, e))?
            else {
                continue;
            };
            let id = batch
                .column_by_name("id")
                .expect("checked above")
                .as_string::<i32>();
            let emb = batch.column_by_name("embedding").expect("checked above");
            if id.null_count() > 0 || emb.null_count() > 0 {
                return Err(bad(path, "null ids or vectors"));
            }
            ids.extend(id.iter().map(|s| s.unwrap_or_default().to_string()));
            batches.push(batch);
        }
        Ok(Self {
            path: path.to_path_buf(),
            ids,
            dim,
            batches,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Doc ids in file order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the file holds no vector.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The vectors as contiguous row-major pieces, in file order.
    pub fn segments(&self) -> Vec<&[f32]> {
        self.batches
            .iter()
            .map(|b| {
                let list = b
                    .column_by_name("embedding")
                    .expect("checked on open")
                    .as_fixed_size_list();
                let values = list.values().as_primitive::<Float32Type>().values();
                let start = list.offset() * self.dim;
                &values[start..start + list.len() * self.dim]
            })
            .collect()
    }

    /// A copy of the vectors in memory.
    pub fn to_embeddings(&self) -> Embeddings {
        Embeddings::new(self.dim, self.segments().concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::write_vectors;

    #[test]
    fn reads_back_what_was_written_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.arrow");
        let ids = vec!["a".to_string(), "b".to_string()];
        let e = Embeddings::new(3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        write_vectors(&path, &ids, &e).unwrap();
        let f = VectorFile::open(&path).unwrap();
        assert_eq!(f.ids(), ids.as_slice());
        assert_eq!(f.dim(), 3);
        assert_eq!(f.to_embeddings(), e);
        let other = dir.path().join("x.arrow");
        std::fs::write(&other, b"not an arrow file at all").unwrap();
        let err = VectorFile::open(&other).err().unwrap().to_string();
        assert!(err.contains("x.arrow: not a rankbook vector file"), "{err}");
    }
}
