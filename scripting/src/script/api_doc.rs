//! The scripting API reference: every function registered on the engine (from
//! Rhai's metadata) with its one-line doc. `docs/rhai-api.md` is generated from
//! it and a test keeps the two equal; REPL and kernel completion use the same list.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rankbook::analysis::AnalyzerSpec;
use rankbook::data::training::DEFAULT_SAMPLE_SEED;
use rankbook::eval::CompareOptions;
use rankbook::fusion::FuseOptions;
use rankbook::index::Bm25Params;
use rankbook::mining::{DEFAULT_SPLIT, MarginKind, MiningOptions};
use rankbook::rerank::RerankOptions;
use rankbook::train::FitRequest;
use rankbook::train::request::{DEFAULT_EVAL_SPLIT, DEFAULT_MEASURES};
use rankbook::train::validation::DEFAULT_RERANK_DEPTH;
use rhai::Engine;

/// One-line docs by function name (overloads share one). Properties are
/// `get$name`, indexers `index$get$`. Docs that state defaults are in
/// [`DOCS_WITH_DEFAULTS`].
const DOCS: &[(&str, &str)] = &[
    (
        "losses",
        "The loss names the trainer knows, each with the data it trains on.",
    ),
    ("query_ids", "The query ids, sorted."),
    ("filter", "Keeps the queries whose ids are given."),
    ("cut", "Keeps the best k results of each query."),
    (
        "cache_clear",
        "Deletes every cached vector; what was removed.",
    ),
    (
        "cache_info",
        "The embedding cache: its folder, model settings (keys), files and bytes.",
    ),
    (
        "beir",
        "Opens a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).",
    ),
    (
        "corpus",
        "The documents of a dataset, text = title + \" \" + text.",
    ),
    (
        "cross_encoder",
        "Loads a cross-encoder (sequence-classification folder or hub id; a plain encoder of any family gets a seeded new head); option precision (f32, bf16, int8: scoring only).",
    ),
    (
        "deltas",
        "Per-query difference of a system to the baseline on a measure (query id -> delta).",
    ),
    (
        "encode",
        "Encodes texts into vectors (through the embedding cache); a ColBERT's encode(texts, \"query\" or \"document\") gives each text's token vectors.",
    ),
    (
        "colbert",
        "Loads a ColBERT (late interaction) model: a PyLate folder or hub id; option precision (f32, bf16, int8).",
    ),
    (
        "colbert_from",
        "Builds a ColBERT from any supported encoder as PyLate does (marker tokens, a seeded projection; options dim (128), seed (42)), writes it to a folder and loads it.",
    ),
    (
        "eval_table",
        "Evaluates a run and formats the means as a table.",
    ),
    (
        "evaluate",
        "Evaluates a run against qrels with trec_eval's measures; the means by measure name; options complete, ignore_identical_ids.",
    ),
    (
        "fit",
        "Trains a copy of the model (bi-encoder, cross-encoder, or a head on a frozen encoder) on training data (or a dataset's train split) and returns it.",
    ),
    (
        "fixed",
        "A number as text with a fixed number of decimals: fixed(0.93114, 4) is \"0.9311\".",
    ),
    ("get$dim", "The vector width."),
    (
        "get$precision",
        "The number format of the model's linear layers: f32, bf16 or int8.",
    ),
    (
        "get$encoder",
        "The encoder an index's queries go through (model, weights, pipeline, max length, dim, prompts), as the index records it; () for BM25.",
    ),
    (
        "history",
        "The training history: one map per step and per validation.",
    ),
    (
        "html",
        "The comparison as an HTML table with significance markers.",
    ),
    (
        "index",
        "Encodes a corpus into a searchable index (dense with a bi-encoder, sparse with a SPLADE model, exact MaxSim with a ColBERT); the index type as a third argument: for a bi-encoder Flat (default), a faiss type (HNSW32, IVF1024,Flat), a LanceDB one (lance, lance:IVF_HNSW_SQ) or a Qdrant one (qdrant, qdrant:HNSW); for a ColBERT MaxSim (default), PLAID or a Qdrant one.",
    ),
    (
        "index$get$",
        "The i-th item (a text as #{id, text}, or a vector as an array).",
    ),
    (
        "index_backends",
        "The index back-ends this build has: flat always, faiss, lance (LanceDB) and qdrant when built with their features.",
    ),
    ("len", "Number of items."),
    (
        "load_clicks",
        "Reads click sessions over a dataset's corpus as training data.",
    ),
    (
        "load_groups",
        "Reads groups (query, docs, labels) as training data.",
    ),
    (
        "load_index",
        "Opens an index directory (dense, BM25, SPLADE, ColBERT MaxSim, PLAID or Qdrant; checksums verified), or an array of every part of one (`rankbook index --shard i/N`), searched as one index.",
    ),
    (
        "shard",
        "Shard \"i/N\" of some texts: the i-th of N contiguous slices, as `--shard i/N` takes.",
    ),
    (
        "index_parts",
        "Indexes a corpus in n parts, dir/part-<i> (a bi-encoder, ColBERT or SPLADE model): the parts `rankbook index --shard i/n` writes, made in one process.",
    ),
    (
        "bm25_parts",
        "Indexes a corpus for BM25 in n parts, dir/part-<i>; each keeps term counts, scored against all parts' statistics when opened together.",
    ),
    (
        "merge_parts",
        "Merges a complete set of parts (`--shard i/N` outputs of encode, index, search, mine or eval) into one output, as one process would have written it; returns #{kind, parts, rows}.",
    ),
    (
        "load_negatives",
        "Reads mined negatives (ids looked up in the dataset) as training data.",
    ),
    ("load_pair_samples", "Reads scored pairs as training data."),
    (
        "load_qrels",
        "Reads relevance judgements (TREC or BEIR TSV).",
    ),
    ("load_run", "Reads a TREC run file."),
    (
        "load_triples",
        "Reads (query, positive, negative) triples as training data.",
    ),
    (
        "model",
        "Loads a bi-encoder (sentence-transformers folder or hub id); options: precision (\"f32\", \"bf16\" on AVX512-BF16, \"int8\" on AVX512-VNNI), max_length, device.",
    ),
    (
        "precisions",
        "The precisions this CPU runs a model in: \"f32\", and \"bf16\" / \"int8\" where it has AVX512-BF16 / AVX512-VNNI.",
    ),
    (
        "on_epoch_end",
        "Calls the closure after each epoch with the epoch number.",
    ),
    (
        "on_eval",
        "Calls the closure after each validation with its record.",
    ),
    (
        "on_step",
        "Calls the closure after each optimiser step with its record.",
    ),
    (
        "p",
        "The adjusted p-value of a system against the baseline on a measure.",
    ),
    (
        "plaid",
        "Compresses a corpus into a PLAID index with a ColBERT (k-means centroids, residuals in nbits); options nbits (4), centroids (2^floor(log2(16 sqrt(tokens)))), seed (42).",
    ),
    (
        "plot",
        "A plot: training curves of a trainer, measure bars of a comparison, or a 2-D PCA map of embeddings coloured by label.",
    ),
    (
        "plot_deltas",
        "A plot of a system's per-query differences to the baseline on a measure, sorted.",
    ),
    (
        "qrels",
        "The judgements of a dataset's split (train, dev, test).",
    ),
    (
        "queries",
        "The queries of a dataset (those judged in the qrels, when given).",
    ),
    (
        "recall_plot",
        "Recall@k curves of named runs for k = 1..max_k.",
    ),
    (
        "save",
        "Writes the object to a path (atomically): model folder (sentence-transformers or sequence-classification), index directory, run file, negatives JSONL, or plot (.svg, .png).",
    ),
    (
        "score",
        "Scores of several docs for one query: a cross-encoder's logits, or a bi-encoder's dot products of query and doc vectors.",
    ),
    ("search", "The top k docs of each query, as a run."),
    (
        "set_parameter",
        "Sets an index's search parameter: nprobe or efSearch (faiss and LanceDB types); n_ivf_probe (8), n_full_scores (8192) or centroid_score_threshold (PLAID).",
    ),
    (
        "splade",
        "Loads a SPLADE model (BertForMaskedLM); options top_k, max_length, device.",
    ),
    ("svg", "The plot as an SVG document."),
    (
        "terms",
        "The heaviest SPLADE terms of a text, with their weights.",
    ),
    ("to_string", "A one-line description (what print shows)."),
    (
        "top",
        "The best k hits of a query in a run, as #{doc, score} maps.",
    ),
    (
        "training_pairs",
        "The (query, positive) pairs of a dataset's split as training data.",
    ),
];

/// A registered function: its name and every signature it has.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFunction {
    /// The name (`get$x` for a property getter).
    pub name: String,
    /// Signatures, e.g. `search(index: Index, queries: Texts, k: int) -> Run`.
    pub signatures: Vec<String>,
}

/// The functions registered on `engine` (not Rhai's standard library), by name.
pub fn registered(engine: &Engine) -> Vec<ApiFunction> {
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let meta: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in meta["functions"].as_array().into_iter().flatten() {
        let (Some(name), Some(sig)) = (f["name"].as_str(), f["signature"].as_str()) else {
            continue;
        };
        let sigs = by_name.entry(name.to_string()).or_default();
        if !sigs.iter().any(|s| s == sig) {
            sigs.push(sig.to_string());
        }
    }
    by_name
        .into_iter()
        .map(|(name, mut signatures)| {
            signatures.sort();
            ApiFunction { name, signatures }
        })
        .collect()
}

/// Script-level names of the Rust types in Rhai's signatures.
const TYPE_NAMES: &[(&str, &str)] = &[
    ("BeirDataset", "Dataset"),
    ("Cross", "CrossEncoder"),
    ("Data", "TrainingData"),
    ("i64", "int"),
    ("f64", "float"),
    ("Dynamic", "any"),
    ("String", "string"),
];

/// `core::result::Result<T, E>` → `T` (a failing call raises a script error).
fn strip_result(sig: &str) -> String {
    const RESULT: &str = "core::result::Result<";
    let Some(at) = sig.find(RESULT) else {
        return sig.to_string();
    };
    let inner = &sig[at + RESULT.len()..];
    let (mut depth, mut comma, mut end) = (0i32, None, inner.len());
    for (i, c) in inner.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => {
                end = i;
                break;
            }
            '>' => depth -= 1,
            ',' if depth == 0 && comma.is_none() => comma = Some(i),
            _ => {}
        }
    }
    let ok = &inner[..comma.unwrap_or(end)];
    strip_result(&format!(
        "{}{ok}{}",
        &sig[..at],
        &inner[(end + 1).min(inner.len())..]
    ))
}

/// Rhai's keyword functions (handled by the engine, so absent from its
/// metadata): signature and doc, for inspection and `help`.
const KEYWORD_FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "print",
        "print(value)",
        "Prints the value as text (its to_string) on the cell's standard output.",
    ),
    (
        "debug",
        "debug(value)",
        "Prints the value's debug form (strings quoted) on standard error.",
    ),
    (
        "type_of",
        "type_of(value) -> string",
        "The name of the value's type: \"i64\", \"f64\", \"string\", \"array\", \"map\", or a rankbook type such as \"Index\".",
    ),
    (
        "is_def_var",
        "is_def_var(name: string) -> bool",
        "Whether a variable with this name is defined in the current scope.",
    ),
    (
        "is_def_fn",
        "is_def_fn(name: string, arity: int) -> bool",
        "Whether a script function with this name and number of parameters is defined.",
    ),
    (
        "Fn",
        "Fn(name: string) -> FnPtr",
        "A pointer to the function named `name`; call it with `f.call(args...)`.",
    ),
    (
        "call",
        "call(f: FnPtr, args...)",
        "Calls a function pointer with the given arguments.",
    ),
    (
        "curry",
        "curry(f: FnPtr, args...) -> FnPtr",
        "A function pointer with its first arguments bound to `args`.",
    ),
    (
        "eval",
        "eval(code: string)",
        "Runs Rhai code given as a string in the current scope and returns its value.",
    ),
    (
        "is_shared",
        "is_shared(value) -> bool",
        "Whether the value is shared (captured by a closure).",
    ),
];

/// Signatures and doc of the function `name`: one of Rhai's keyword functions
/// (`print`, `type_of`, ...), or rankbook's and Rhai's standard library's
/// overloads together (a rankbook doc first, else the library's doc comment).
/// None when there is no such function.
pub fn describe_function(engine: &Engine, name: &str) -> Option<String> {
    if let Some((_, sig, doc)) = KEYWORD_FUNCTIONS.iter().find(|(n, _, _)| *n == name) {
        return Some(format!("{sig}\n\n{doc}"));
    }
    let json = engine.gen_fn_metadata_to_json(true).ok()?;
    let meta: serde_json::Value = serde_json::from_str(&json).ok()?;
    let mut sigs: Vec<String> = Vec::new();
    let mut library_doc = String::new();
    for f in meta["functions"].as_array().into_iter().flatten() {
        if f["name"].as_str() != Some(name) {
            continue;
        }
        if let Some(sig) = f["signature"].as_str().map(friendly_signature)
            && !sigs.contains(&sig)
        {
            sigs.push(sig);
        }
        if library_doc.is_empty() {
            library_doc = f["docComments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str())
                .flat_map(|c| c.lines())
                .map(|l| l.trim().trim_start_matches('/').trim())
                .take_while(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    sigs.sort();
    let doc = doc_of(name).unwrap_or(&library_doc);
    (!sigs.is_empty()).then(|| format!("{}\n\n{doc}", sigs.join("\n")))
}

/// A signature as a script writer reads it: `search(Index, Texts, int) -> Run`.
pub fn friendly_signature(sig: &str) -> String {
    let mut s = strip_result(sig)
        .replace(
            "alloc::collections::btree::map::BTreeMap<smartstring::SmartString<smartstring::config::LazyCompact>,rhai::types::dynamic::Dynamic>",
            "map",
        )
        .replace("alloc::vec::Vec<rhai::types::dynamic::Dynamic>", "array")
        .replace("&mut ", "")
        .replace("_: ", "");
    // Module paths off: `a::b::Name` → `Name`.
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let name = TYPE_NAMES
            .iter()
            .find(|(r, _)| *r == word.as_str())
            .map_or(word.as_str(), |(_, n)| n);
        out.push_str(name);
        word.clear();
    };
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            word.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            word.clear();
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    s = out.replace(" -> ()", "");
    s
}

/// Docs of functions with options, their defaults read from the core's
/// option types (the values `--help` shows too).
static DOCS_WITH_DEFAULTS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    let bm25 = Bm25Params::default();
    let analyzer = AnalyzerSpec::default();
    let compare = CompareOptions::default();
    let fuse = FuseOptions::default();
    let mine = MiningOptions::default();
    let rerank = RerankOptions::default();
    let fit = FitRequest::default();
    vec![
        (
            "sample",
            format!(
                "Random training samples as maps (seed {DEFAULT_SAMPLE_SEED} unless given); the same for the same seed."
            ),
        ),
        (
            "bm25",
            format!(
                "Builds a BM25 index of a corpus; options k1 ({}), b ({}), stemmer ({}), stopwords ({}), lowercase ({}).",
                bm25.k1, bm25.b, analyzer.stemmer, analyzer.stopwords, analyzer.lowercase
            ),
        ),
        (
            "compare",
            format!(
                "Evaluates named runs on the same queries and tests each against the baseline; options baseline, test (t, wilcoxon, permutation; {}), correction ({}), seed ({}), complete, ignore_identical_ids.",
                compare.test.name(),
                compare.correction.name(),
                compare.seed
            ),
        ),
        (
            "fuse",
            format!(
                "Fuses runs query by query; options method (rrf, minmax, zscore; {}), k ({}, rrf's), depth ({}).",
                fuse.method, fuse.k, fuse.depth
            ),
        ),
        (
            "mine",
            format!(
                "Mines hard negatives for a split with a bi-encoder or a ColBERT (exact search); options split ({}), depth [from, to] ([{}, {}]), negatives ({}), margin, margin_kind ({}), cross_encoder, ce_max_score, sampling (top, random; {}), seed ({}), shard (\"i/N\": a slice of the judged queries).",
                DEFAULT_SPLIT,
                mine.depth.0,
                mine.depth.1,
                mine.negatives,
                MarginKind::Absolute.name(),
                mine.sampling.name(),
                mine.seed
            ),
        ),
        (
            "rerank",
            format!(
                "Re-scores each query's top k docs of a run with a cross-encoder, a bi-encoder or a ColBERT; options k ({}), skip_missing, batch_size ({}).",
                rerank.k, rerank.batch_size
            ),
        ),
        (
            "trainer",
            format!(
                "A trainer; options loss ({}), loss_params, epochs ({}), batch_size ({}), lr ({}), warmup ({}), max_steps, seed ({}), eval_data, eval_split ({DEFAULT_EVAL_SPLIT}; a cross-encoder re-ranks the top rerank_depth ({DEFAULT_RERANK_DEPTH}) of BM25), measures ({DEFAULT_MEASURES}), output, head, …",
                fit.loss,
                fit.config.epochs,
                fit.config.batch_size,
                fit.config.lr,
                fit.config.warmup_ratio,
                fit.config.seed
            ),
        ),
    ]
});

/// The doc line of `name`, if it has one.
pub fn doc_of(name: &str) -> Option<&'static str> {
    DOCS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .or_else(|| {
            DOCS_WITH_DEFAULTS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, d)| d.as_str())
        })
}

/// `docs/rhai-api.md`: every registered function, its signatures and doc.
pub fn api_reference(engine: &Engine) -> String {
    let mut out = String::from(
        "# rankbook's Rhai API\n\nGenerated from the functions registered on the engine (`scripting/src/script/api_doc.rs`); do not edit by hand: `RANKBOOK_BLESS=1 cargo test -p rankbook-script api_reference` rewrites it.\n\n",
    );
    for f in registered(engine) {
        let title = match f.name.strip_prefix("get$") {
            Some(p) => format!(".{p} (property)"),
            None if f.name == "index$get$" => "[i] (indexing)".to_string(),
            None => f.name.clone(),
        };
        out.push_str(&format!(
            "## `{title}`\n\n{}\n\n",
            doc_of(&f.name).unwrap_or("(undocumented)")
        ));
        for s in &f.signatures {
            out.push_str(&format!("- `{}`\n", friendly_signature(s)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_reference_is_complete_and_committed() {
        let engine = crate::script::new_engine();
        let text = api_reference(&engine);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rhai-api.md");
        if std::env::var_os("RANKBOOK_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let missing: Vec<String> = registered(&engine)
            .into_iter()
            .filter(|f| doc_of(&f.name).is_none())
            .map(|f| f.name)
            .collect();
        assert!(
            missing.is_empty(),
            "registered functions without a doc in DOCS: {missing:?}"
        );
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "docs/rhai-api.md is stale: run `RANKBOOK_BLESS=1 cargo test -p rankbook-script api_reference`"
        );
    }
}
