//! Rhai bindings for sharded work: a script's slice of some texts, an index
//! opened from its parts, parts merged. Conversions only: the logic is
//! `rankbook::shard` and `rankbook::index`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rankbook::index::{OpenOptions, Retriever, open_parts};
use rankbook::shard::{Shard, merge_parts};
use rhai::{Array, Dynamic, Engine, Map};

use super::bindings::{Index, RhaiResult, Texts, err, strings};
use super::retrieval::TermIndex;

/// Opens an index folder, or every part of one, as a script value.
pub(super) fn open_index(paths: &[PathBuf]) -> RhaiResult<Dynamic> {
    let index: Arc<dyn Retriever> = open_parts(paths, &OpenOptions::default())
        .map_err(err)?
        .into();
    Ok(match index.kind() {
        "dense" | "ColBERT" | "PLAID" => Dynamic::from(Index(index)),
        _ => Dynamic::from(TermIndex(index)),
    })
}

/// The shard a script option or the launcher's environment names.
pub(super) fn opt_shard(opts: &Map) -> RhaiResult<Option<Shard>> {
    let arg = match opts.get("shard") {
        None => None,
        Some(v) => Some(
            v.clone()
                .into_string()
                .map_err(|_| err("option shard: expected \"i/N\""))?,
        ),
    };
    Shard::chosen(arg.as_deref()).map_err(err)
}

pub fn register(engine: &mut Engine) {
    engine
        .register_fn("load_index", |parts: Array| -> RhaiResult<Dynamic> {
            let paths: Vec<PathBuf> = strings(&parts)?.into_iter().map(PathBuf::from).collect();
            open_index(&paths)
        })
        .register_fn("shard", |t: Texts, spec: &str| -> RhaiResult<Texts> {
            let s = Shard::parse(spec).map_err(err)?;
            Ok(Texts(Arc::new(t.0[s.range(t.0.len())].to_vec())))
        })
        .register_fn(
            "merge_parts",
            |output: &str, parts: Array| -> RhaiResult<Map> {
                let paths: Vec<PathBuf> = strings(&parts)?.into_iter().map(PathBuf::from).collect();
                let m = merge_parts(&paths, Path::new(output)).map_err(err)?;
                let mut out = Map::new();
                out.insert("kind".into(), m.kind.command().into());
                out.insert("parts".into(), (m.parts as i64).into());
                out.insert("rows".into(), (m.rows as i64).into());
                Ok(out)
            },
        );
}
