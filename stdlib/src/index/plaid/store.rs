//! PLAID's files: the centroids as a vector file (`centroids.arrow`), and per
//! doc its id, its tokens' centroid codes and their packed residuals
//! (`plaid.arrow`: `id` utf8, `codes` List<u32>, `residuals` binary; pyarrow
//! reads both).

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, BinaryArray, ListArray, UInt32Array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::vectors::files::write_id_column_file;

/// The compressed docs: token offsets, codes and packed residuals.
pub(crate) struct CompressedDocs {
    pub ids: Vec<String>,
    /// Token range of doc `i`: `offsets[i]..offsets[i + 1]`.
    pub offsets: Vec<usize>,
    /// Each token's centroid.
    pub codes: Vec<u32>,
    /// Each token's packed residual, `bytes_per_token` bytes.
    pub residuals: Vec<u8>,
}

fn codes_field() -> Field {
    Field::new(
        "codes",
        DataType::List(Arc::new(Field::new("item", DataType::UInt32, false))),
        false,
    )
}

/// Writes `docs` to `path` (atomically).
pub(crate) fn write_compressed(
    path: &Path,
    docs: &CompressedDocs,
    bytes_per_token: usize,
) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        codes_field(),
        Field::new("residuals", DataType::Binary, false),
    ]));
    let offsets32 = docs
        .offsets
        .iter()
        .map(|&o| i32::try_from(o))
        .collect::<std::result::Result<Vec<i32>, _>>()
        .map_err(|_| Error::InvalidArgument("PLAID: more than 2^31 tokens in one file".into()))?;
    let DataType::List(item) = codes_field().data_type().clone() else {
        unreachable!("a list field");
    };
    let codes = ListArray::try_new(
        item,
        OffsetBuffer::new(offsets32.into()),
        Arc::new(UInt32Array::from(docs.codes.clone())),
        None,
    )?;
    let residuals = BinaryArray::from_iter_values(
        docs.offsets
            .windows(2)
            .map(|w| &docs.residuals[w[0] * bytes_per_token..w[1] * bytes_per_token]),
    );
    write_id_column_file(
        path,
        schema,
        &docs.ids,
        vec![Arc::new(codes), Arc::new(residuals)],
    )
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{}: not a PLAID codes file: {msg}", path.display()))
}

/// Reads the compressed docs of `path`; every code must be below `centroids`
/// and every doc's residuals `bytes_per_token` per token.
pub(crate) fn read_compressed(
    path: &Path,
    centroids: usize,
    bytes_per_token: usize,
) -> Result<CompressedDocs> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).map_err(|e| bad(path, e))?;
    let mut out = CompressedDocs {
        ids: Vec::new(),
        offsets: vec![0],
        codes: Vec::new(),
        residuals: Vec::new(),
    };
    for batch in reader {
        let batch = batch.map_err(|e| bad(path, e))?;
        let (Some(id), Some(codes), Some(res)) = (
            batch
                .column_by_name("id")
                .and_then(|c| c.as_string_opt::<i32>()),
            batch
                .column_by_name("codes")
                .and_then(|c| c.as_list_opt::<i32>()),
            batch
                .column_by_name("residuals")
                .and_then(|c| c.as_binary_opt::<i32>()),
        ) else {
            return Err(bad(
                path,
                "expected columns id (utf8), codes (list of u32), residuals (binary)",
            ));
        };
        let Some(values) = codes.values().as_primitive_opt::<UInt32Type>() else {
            return Err(bad(path, "codes must be u32"));
        };
        if id.null_count() + codes.null_count() + res.null_count() > 0 {
            return Err(bad(path, "null values"));
        }
        let offsets = codes.value_offsets();
        for i in 0..batch.num_rows() {
            let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
            let doc_codes = &values.values()[a..b];
            if let Some(c) = doc_codes.iter().find(|&&c| c as usize >= centroids) {
                return Err(bad(
                    path,
                    format!("row {i}: code {c} of {centroids} centroids"),
                ));
            }
            let r = res.value(i);
            if r.len() != doc_codes.len() * bytes_per_token {
                return Err(bad(
                    path,
                    format!(
                        "row {i}: {} residual bytes for {} tokens of {bytes_per_token}",
                        r.len(),
                        doc_codes.len()
                    ),
                ));
            }
            out.ids.push(id.value(i).to_string());
            out.codes.extend_from_slice(doc_codes);
            out.residuals.extend_from_slice(r);
            out.offsets.push(out.codes.len());
        }
    }
    Ok(out)
}
