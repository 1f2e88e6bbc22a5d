//! The `lance[:TYPE[,key=value...]]` factory strings: exact search, or which of
//! LanceDB's vector indexes with which settings.

use crate::error::{Error, Result};

/// The factory string of an exact LanceDB index; `lance:TYPE[,key=value...]` adds
/// one of LanceDB's vector indexes.
pub const LANCE: &str = "lance";

/// LanceDB's vector index types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanceAnn {
    /// IVF, vectors kept whole.
    IvfFlat,
    /// IVF, product-quantized vectors.
    IvfPq,
    /// IVF, scalar-quantized vectors.
    IvfSq,
    /// IVF with an HNSW graph per partition, vectors kept whole.
    IvfHnswFlat,
    /// IVF with an HNSW graph per partition, product-quantized vectors.
    IvfHnswPq,
    /// IVF with an HNSW graph per partition, scalar-quantized vectors.
    IvfHnswSq,
}

impl LanceAnn {
    const ALL: [(LanceAnn, &'static str); 6] = [
        (LanceAnn::IvfFlat, "IVF_FLAT"),
        (LanceAnn::IvfPq, "IVF_PQ"),
        (LanceAnn::IvfSq, "IVF_SQ"),
        (LanceAnn::IvfHnswFlat, "IVF_HNSW_FLAT"),
        (LanceAnn::IvfHnswPq, "IVF_HNSW_PQ"),
        (LanceAnn::IvfHnswSq, "IVF_HNSW_SQ"),
    ];

    pub(crate) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("", |(_, n)| n)
    }

    pub(crate) fn has_graph(self) -> bool {
        matches!(self, Self::IvfHnswFlat | Self::IvfHnswPq | Self::IvfHnswSq)
    }

    pub(crate) fn has_pq(self) -> bool {
        matches!(self, Self::IvfPq | Self::IvfHnswPq)
    }
}

/// What a `lance[:TYPE[,key=value...]]` factory string asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LanceSpec {
    /// The vector index (none: exact search).
    pub ann: Option<LanceAnn>,
    /// IVF partitions (`partitions=`; default: LanceDB's choice for the size).
    pub partitions: Option<u32>,
    /// PQ sub-vectors (`sub_vectors=`).
    pub sub_vectors: Option<u32>,
    /// HNSW edges per node (`m=`).
    pub m: Option<u32>,
    /// HNSW candidates while building (`ef_construction=`).
    pub ef_construction: Option<u32>,
}

const KEYS: &str = "partitions, sub_vectors (PQ), m and ef_construction (HNSW)";

impl LanceSpec {
    /// Parses `lance` or `lance:TYPE[,key=value...]`.
    pub fn parse(factory: &str) -> Result<Self> {
        let bad = |why: String| {
            Error::InvalidArgument(format!(
                "LanceDB index type \"{factory}\": {why}; examples: lance (exact), lance:IVF_HNSW_SQ, lance:IVF_PQ,partitions=64,sub_vectors=48"
            ))
        };
        if factory == LANCE {
            return Ok(Self::default());
        }
        let Some(rest) = factory.strip_prefix("lance:") else {
            return Err(bad("not a LanceDB index type".into()));
        };
        let mut fields = rest.split(',');
        let kind = fields.next().unwrap_or_default();
        let ann = LanceAnn::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(kind))
            .map(|(t, _)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = LanceAnn::ALL.iter().map(|(_, n)| *n).collect();
                bad(format!(
                    "unknown vector index {kind:?} (one of {})",
                    names.join(", ")
                ))
            })?;
        let mut spec = Self {
            ann: Some(ann),
            ..Self::default()
        };
        for field in fields {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| bad(format!("{field:?} is not key=value ({KEYS})")))?;
            let value: u32 = value
                .parse()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| bad(format!("{key}={value} is not a positive integer")))?;
            let slot = match key {
                "partitions" => &mut spec.partitions,
                "sub_vectors" if ann.has_pq() => &mut spec.sub_vectors,
                "m" | "ef_construction" if ann.has_graph() => match key {
                    "m" => &mut spec.m,
                    _ => &mut spec.ef_construction,
                },
                _ => {
                    return Err(bad(format!(
                        "{key} is not a setting of {} ({KEYS})",
                        ann.name()
                    )));
                }
            };
            *slot = Some(value);
        }
        Ok(spec)
    }

    /// The canonical factory string.
    pub fn factory(&self) -> String {
        let Some(ann) = self.ann else {
            return LANCE.into();
        };
        let mut s = format!("{LANCE}:{}", ann.name());
        for (key, value) in [
            ("partitions", self.partitions),
            ("sub_vectors", self.sub_vectors),
            ("m", self.m),
            ("ef_construction", self.ef_construction),
        ] {
            if let Some(v) = value {
                s.push_str(&format!(",{key}={v}"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_strings_parse_to_their_canonical_form() {
        assert_eq!(LanceSpec::parse("lance").unwrap(), LanceSpec::default());
        let s = LanceSpec::parse("lance:ivf_hnsw_sq,m=16,partitions=4").unwrap();
        assert_eq!(s.ann, Some(LanceAnn::IvfHnswSq));
        assert_eq!(
            (s.partitions, s.m, s.sub_vectors),
            (Some(4), Some(16), None)
        );
        assert_eq!(s.factory(), "lance:IVF_HNSW_SQ,partitions=4,m=16");
        assert_eq!(LanceSpec::parse(&s.factory()).unwrap(), s);
        let pq = LanceSpec::parse("lance:IVF_PQ,sub_vectors=48").unwrap();
        assert_eq!(pq.factory(), "lance:IVF_PQ,sub_vectors=48");
        for (bad, says) in [
            ("lance:HNSW", "unknown vector index \"HNSW\""),
            ("lance:IVF_PQ,m=16", "m is not a setting of IVF_PQ"),
            (
                "lance:IVF_FLAT,sub_vectors=8",
                "sub_vectors is not a setting of IVF_FLAT",
            ),
            (
                "lance:IVF_PQ,partitions=0",
                "partitions=0 is not a positive integer",
            ),
            ("lance:IVF_PQ,partitions", "\"partitions\" is not key=value"),
            ("lancedb", "not a LanceDB index type"),
        ] {
            let err = LanceSpec::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
