//! The `qdrant[:HNSW][,key=value...]` factory strings: exact search or Qdrant's
//! HNSW graph, with its settings, and where the collection lives.

use crate::error::{Error, Result};

/// The factory string of an exact Qdrant index; `qdrant:HNSW[,m=N,ef_construct=N]`
/// searches Qdrant's HNSW graph instead.
pub const QDRANT: &str = "qdrant";
/// The server when neither `url=` nor `QDRANT_URL` names one (Qdrant's gRPC port).
pub const DEFAULT_URL: &str = "http://localhost:6334";

/// What a `qdrant[:HNSW][,key=value...]` factory string asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QdrantSpec {
    /// Search Qdrant's HNSW graph (false: exact search, no graph built).
    pub hnsw: bool,
    /// HNSW edges per node (`m=`; default: Qdrant's).
    pub m: Option<u64>,
    /// HNSW candidates while building (`ef_construct=`).
    pub ef_construct: Option<u64>,
    /// The server (`url=`; default: `QDRANT_URL`, else [`DEFAULT_URL`]).
    pub url: Option<String>,
    /// The collection (`collection=`; default: named after the content).
    pub collection: Option<String>,
}

const KEYS: &str = "url, collection, and with HNSW m and ef_construct";

impl QdrantSpec {
    /// Parses `qdrant` or `qdrant:[HNSW|exact][,key=value...]`.
    pub fn parse(factory: &str) -> Result<Self> {
        let bad = |why: String| {
            Error::InvalidArgument(format!(
                "Qdrant index type \"{factory}\": {why}; examples: qdrant (exact), qdrant:HNSW,m=16, qdrant:url=http://localhost:6334,collection=scifact"
            ))
        };
        if factory == QDRANT {
            return Ok(Self::default());
        }
        let Some(rest) = factory.strip_prefix("qdrant:") else {
            return Err(bad("not a Qdrant index type".into()));
        };
        let mut spec = Self::default();
        for (i, field) in rest.split(',').enumerate() {
            let Some((key, value)) = field.split_once('=') else {
                match field.to_ascii_lowercase().as_str() {
                    "hnsw" if i == 0 => spec.hnsw = true,
                    "exact" if i == 0 => {}
                    _ => {
                        return Err(bad(format!(
                            "{field:?} is neither HNSW nor exact (first) nor key=value ({KEYS})"
                        )));
                    }
                }
                continue;
            };
            if value.is_empty() {
                return Err(bad(format!("{key}= has no value")));
            }
            match key {
                "url" => spec.url = Some(value.to_string()),
                "collection" => spec.collection = Some(check_collection(value).map_err(bad)?),
                "m" | "ef_construct" if spec.hnsw => {
                    let v: u64 =
                        value.parse().ok().filter(|&v| v > 0).ok_or_else(|| {
                            bad(format!("{key}={value} is not a positive integer"))
                        })?;
                    if key == "m" {
                        spec.m = Some(v);
                    } else {
                        spec.ef_construct = Some(v);
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "{key} is not a setting of {} search ({KEYS})",
                        if spec.hnsw { "HNSW" } else { "exact" }
                    )));
                }
            }
        }
        Ok(spec)
    }

    /// The canonical factory string: what is searched, not where (the server
    /// and collection are recorded beside it).
    pub fn factory(&self) -> String {
        if !self.hnsw {
            return QDRANT.into();
        }
        let mut s = format!("{QDRANT}:HNSW");
        for (key, value) in [("m", self.m), ("ef_construct", self.ef_construct)] {
            if let Some(v) = value {
                s.push_str(&format!(",{key}={v}"));
            }
        }
        s
    }

    /// The server to build on: `url=`, else `QDRANT_URL`, else [`DEFAULT_URL`].
    pub fn server_url(&self) -> String {
        self.url
            .clone()
            .or_else(|| std::env::var("QDRANT_URL").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.into())
    }
}

/// A collection name Qdrant accepts (no path separators, at most 255 bytes).
fn check_collection(name: &str) -> std::result::Result<String, String> {
    if name.len() > 255 || name.contains(['/', '\\', '\0']) {
        return Err(format!(
            "collection={name:?}: a name of at most 255 bytes without / or \\"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_strings_parse_to_their_canonical_form() {
        assert_eq!(QdrantSpec::parse("qdrant").unwrap(), QdrantSpec::default());
        assert_eq!(
            QdrantSpec::parse("qdrant:exact").unwrap(),
            QdrantSpec::default()
        );
        let s = QdrantSpec::parse("qdrant:hnsw,ef_construct=200,m=32,collection=sf").unwrap();
        assert_eq!(
            (s.hnsw, s.m, s.ef_construct, s.collection.as_deref()),
            (true, Some(32), Some(200), Some("sf"))
        );
        assert_eq!(s.factory(), "qdrant:HNSW,m=32,ef_construct=200");
        assert_eq!(
            QdrantSpec::parse(&s.factory()).unwrap().factory(),
            s.factory()
        );
        // A URL keeps its own colons and slashes.
        let at = QdrantSpec::parse("qdrant:url=http://10.0.0.5:6334,collection=x").unwrap();
        assert_eq!(at.url.as_deref(), Some("http://10.0.0.5:6334"));
        assert_eq!(at.server_url(), "http://10.0.0.5:6334");
        assert_eq!(at.factory(), "qdrant");
        for (bad, says) in [
            ("qdrant:m=16", "m is not a setting of exact search"),
            ("qdrant:IVF", "\"IVF\" is neither HNSW nor exact"),
            ("qdrant:url=x,HNSW", "\"HNSW\" is neither HNSW nor exact"),
            ("qdrant:HNSW,m=0", "m=0 is not a positive integer"),
            ("qdrant:HNSW,ef=10", "ef is not a setting of HNSW search"),
            ("qdrant:collection=a/b", "without / or \\"),
            ("qdrant:url=", "url= has no value"),
            ("qdrantdb", "not a Qdrant index type"),
        ] {
            let err = QdrantSpec::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
