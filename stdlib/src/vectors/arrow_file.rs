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
use arrow_schema::{DataType, Schema};

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

/// An Arrow IPC file, memory-mapped, with its schema read from the footer.
pub(crate) struct IpcFile {
    buffer: Buffer,
    footer_at: usize,
    footer_len: usize,
    /// The file's schema.
    pub(crate) schema: Schema,
}

impl IpcFile {
    /// Maps `file` and reads its footer and schema; errors say what is wrong
    /// (the caller adds the path).
    pub(crate) fn map(file: &std::fs::File) -> std::result::Result<Self, String> {
        // SAFETY: read-only mapping; files are replaced by rename, never rewritten
        // in place, so the mapped bytes do not change under us.
        let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| e.to_string())?;
        let len = map.len();
        if len < 16 {
            return Err("too short".into());
        }
        let ptr = NonNull::new(map.as_ptr() as *mut u8).ok_or("empty")?;
        // SAFETY: the pointer and length describe the mapping, which the Arc keeps
        // alive for as long as any buffer refers to it.
        let buffer = unsafe { Buffer::from_custom_allocation(ptr, len, Arc::new(map)) };
        let trailer = len - 10;
        let footer_len = read_footer_length(buffer[trailer..].try_into().expect("10 bytes"))
            .map_err(|e| e.to_string())?;
        if footer_len > trailer {
            return Err("footer longer than the file".into());
        }
        let footer_at = trailer - footer_len;
        let footer =
            arrow_ipc::root_as_footer(&buffer[footer_at..trailer]).map_err(|e| e.to_string())?;
        let schema = footer
            .schema()
            .map(arrow_ipc::convert::try_fb_to_schema)
            .ok_or("no schema")?
            .map_err(|e| e.to_string())?;
        Ok(Self {
            buffer,
            footer_at,
            footer_len,
            schema,
        })
    }

    /// The record batches, pointing into the mapping. Each batch's buffers are
    /// checked to lie inside it first: arrow's decoder panics on one that does
    /// not (found by the fuzz tests).
    pub(crate) fn batches(&self) -> std::result::Result<Vec<RecordBatch>, String> {
        let footer_bytes = &self.buffer[self.footer_at..self.footer_at + self.footer_len];
        let footer = arrow_ipc::root_as_footer(footer_bytes).map_err(|e| e.to_string())?;
        let decoder = FileDecoder::new(Arc::new(self.schema.clone()), footer.version());
        let mut widths = Vec::new();
        for field in self.schema.fields() {
            buffer_widths(field.data_type(), &mut widths)?;
        }
        let mut batches = Vec::new();
        for block in footer.recordBatches().iter().flatten() {
            let (meta, body) = (block.metaDataLength(), block.bodyLength());
            if block.offset() < 0 || meta < 8 || body < 0 {
                return Err("a batch with a negative offset or length".into());
            }
            let (start, meta, body) = (block.offset() as usize, meta as usize, body as usize);
            let size = meta
                .checked_add(body)
                .ok_or("a batch larger than the file")?;
            if start
                .checked_add(size)
                .is_none_or(|end| end > self.buffer.len())
            {
                return Err("a batch lies outside the file".into());
            }
            // The format aligns batches and buffers to 8 bytes; arrow's typed
            // views panic on a misaligned one.
            if start % 8 != 0 || meta % 8 != 0 {
                return Err("a batch not aligned to 8 bytes".into());
            }
            check_buffers(&self.buffer[start..start + meta], body, &widths)?;
            let data = self.buffer.slice_with_length(start, size);
            if let Some(batch) = decoder
                .read_record_batch(block, &data)
                .map_err(|e| e.to_string())?
            {
                batches.push(batch);
            }
        }
        Ok(batches)
    }
}

/// The element width of each buffer a column of `ty` has in a record batch, in
/// IPC order (validity bitmaps count 1), for the types rankbook's files use.
fn buffer_widths(ty: &DataType, out: &mut Vec<usize>) -> std::result::Result<(), String> {
    match ty {
        DataType::Utf8 | DataType::Binary => out.extend([1, 4, 1]),
        DataType::Float32 | DataType::UInt32 | DataType::Int32 => out.extend([1, 4]),
        DataType::List(item) => {
            out.extend([1, 4]);
            buffer_widths(item.data_type(), out)?;
        }
        DataType::FixedSizeList(item, _) => {
            out.push(1);
            buffer_widths(item.data_type(), out)?;
        }
        other => {
            return Err(format!(
                "a column of type {other}, which rankbook does not write"
            ));
        }
    }
    Ok(())
}

/// Every buffer a record batch's metadata names lies within its body of `body`
/// bytes, 8-byte aligned, a whole number of its elements (`widths`) long.
fn check_buffers(meta: &[u8], body: usize, widths: &[usize]) -> std::result::Result<(), String> {
    // An optional continuation marker (0xFFFFFFFF), the metadata's length, the message.
    let skip = if meta.starts_with(&[0xff; 4]) { 8 } else { 4 };
    let message = arrow_ipc::root_as_message(&meta[skip.min(meta.len())..])
        .map_err(|e| format!("batch metadata: {e}"))?;
    let batch = message
        .header_as_record_batch()
        .ok_or("a block that is not a record batch")?;
    // No column of rankbook's types has more rows than its batch has bytes;
    // arrow overflows (and panics) on absurd lengths.
    let body_i64 = body as i64;
    let rows_ok = |n: i64| (0..=body_i64).contains(&n);
    let nodes_ok = batch.nodes().is_some_and(|n| {
        n.iter()
            .all(|f| rows_ok(f.length()) && (0..=f.length()).contains(&f.null_count()))
    });
    if !rows_ok(batch.length()) || !nodes_ok {
        return Err("a batch with impossible row counts".into());
    }
    let buffers = batch.buffers().ok_or("a batch without buffers")?;
    if buffers.len() != widths.len() {
        return Err("a batch whose buffers do not match the schema".into());
    }
    for (b, width) in buffers.iter().zip(widths) {
        let inside = b.offset() >= 0
            && b.offset() % 8 == 0
            && b.length() >= 0
            && (b.length() as usize).is_multiple_of(*width)
            && (b.offset() as usize)
                .checked_add(b.length() as usize)
                .is_some_and(|end| end <= body);
        if !inside {
            return Err("a buffer lies outside its batch or is misaligned".into());
        }
    }
    Ok(())
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
        let ipc = IpcFile::map(&file).map_err(|e| bad(path, e))?;
        let dim = match ipc
            .schema
            .field_with_name("embedding")
            .map(|f| f.data_type())
        {
            Ok(DataType::FixedSizeList(item, dim))
                if item.data_type() == &DataType::Float32 && *dim > 0 =>
            {
                *dim as usize
            }
            _ => return Err(bad(path, "no `embedding` column of f32 lists")),
        };
        if !matches!(
            ipc.schema.field_with_name("id").map(|f| f.data_type()),
            Ok(DataType::Utf8)
        ) {
            return Err(bad(path, "no `id` column of strings"));
        }
        let batches = ipc.batches().map_err(|e| bad(path, e))?;
        let mut ids = Vec::new();
        for batch in &batches {
            let id = batch
                .column_by_name("id")
                .expect("checked above")
                .as_string::<i32>();
            let emb = batch.column_by_name("embedding").expect("checked above");
            if id.null_count() > 0 || emb.null_count() > 0 {
                return Err(bad(path, "null ids or vectors"));
            }
            ids.extend(id.iter().map(|s| s.unwrap_or_default().to_string()));
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
