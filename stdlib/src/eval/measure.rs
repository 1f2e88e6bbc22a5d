//! Measure names as ir_measures spells them (`nDCG@10`, `P(rel=2)@10`, `AP`).

use std::fmt;

use crate::error::{Error, Result};

/// The family of a measure; the trec_eval measure it equals is in each doc line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MeasureKind {
    /// Average precision (`map`, `map_cut.k`).
    AP,
    /// Normalised DCG with graded gains and log2 discount (`ndcg`, `ndcg_cut.k`).
    NDCG,
    /// Reciprocal rank of the first relevant doc (`recip_rank`).
    RR,
    /// Precision at k (`P.k`).
    P,
    /// Recall at k (`recall.k`).
    R,
    /// Precision at R, the number of relevant docs (`Rprec`).
    Rprec,
    /// Binary preference (`bpref`).
    Bpref,
    /// 1 if a relevant doc is in the top k (`success.k`).
    Success,
    /// Fraction of the top k that is judged.
    Judged,
    /// Number of retrieved docs (`num_ret`).
    NumRet,
    /// Number of relevant docs (`num_rel`).
    NumRel,
    /// Number of relevant docs retrieved (`num_rel_ret`).
    NumRelRet,
}

/// The measure names `parse` knows (without cutoffs), for completion and help.
pub fn measure_names() -> Vec<&'static str> {
    KINDS.iter().map(|(n, _)| *n).collect()
}

const KINDS: [(&str, MeasureKind); 12] = [
    ("AP", MeasureKind::AP),
    ("nDCG", MeasureKind::NDCG),
    ("RR", MeasureKind::RR),
    ("P", MeasureKind::P),
    ("R", MeasureKind::R),
    ("Rprec", MeasureKind::Rprec),
    ("Bpref", MeasureKind::Bpref),
    ("Success", MeasureKind::Success),
    ("Judged", MeasureKind::Judged),
    ("NumRet", MeasureKind::NumRet),
    ("NumRel", MeasureKind::NumRel),
    ("NumRelRet", MeasureKind::NumRelRet),
];

impl MeasureKind {
    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
    fn needs_cutoff(self) -> bool {
        matches!(self, Self::P | Self::R | Self::Success | Self::Judged)
    }
    fn allows_cutoff(self) -> bool {
        !matches!(
            self,
            Self::Rprec | Self::Bpref | Self::NumRel | Self::NumRet
        )
    }
    fn allows_rel(self) -> bool {
        !matches!(self, Self::NDCG | Self::Judged | Self::NumRet)
    }
}

/// One measure: a family, an optional cutoff and an optional relevance threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measure {
    /// The family.
    pub kind: MeasureKind,
    /// Rank cutoff `@k`.
    pub cutoff: Option<usize>,
    /// Minimum grade that counts as relevant (`rel=N`; 1 by default).
    pub rel: Option<i32>,
}

impl Measure {
    /// The relevance threshold in force.
    pub fn rel_level(&self) -> i32 {
        self.rel.unwrap_or(1)
    }

    /// Parses a name such as `nDCG@10`, `AP`, `P(rel=2)@10`.
    pub fn parse(name: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "measure \"{name}\": {why} (known: {})",
                KINDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))
        };
        let s = name.trim();
        let (head, cutoff) = match s.rsplit_once('@') {
            Some((h, k)) => {
                let k: usize = k
                    .parse()
                    .map_err(|_| bad("the cutoff after @ must be a positive integer"))?;
                if k == 0 {
                    return Err(bad("the cutoff must be at least 1"));
                }
                (h, Some(k))
            }
            None => (s, None),
        };
        let (base, rel) = match head.split_once('(') {
            Some((b, params)) => {
                let p = params
                    .strip_suffix(')')
                    .ok_or_else(|| bad("unclosed parenthesis"))?;
                let v = p
                    .trim()
                    .strip_prefix("rel=")
                    .ok_or_else(|| bad("only the rel=N parameter is supported"))?;
                let r: i32 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad("rel=N needs an integer"))?;
                if r < 1 {
                    return Err(bad("rel=N needs N >= 1"));
                }
                (b, Some(r))
            }
            None => (head, None),
        };
        let kind = KINDS
            .iter()
            .find(|(n, _)| *n == base)
            .map(|(_, k)| *k)
            .ok_or_else(|| bad("unknown measure"))?;
        if cutoff.is_none() && kind.needs_cutoff() {
            return Err(bad("this measure needs a cutoff, e.g. @10"));
        }
        if cutoff.is_some() && !kind.allows_cutoff() {
            return Err(bad("this measure takes no cutoff"));
        }
        if rel.is_some() && !kind.allows_rel() {
            return Err(bad("this measure takes no rel=N parameter"));
        }
        Ok(Self { kind, cutoff, rel })
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        if let Some(r) = self.rel {
            write!(f, "(rel={r})")?;
        }
        if let Some(k) = self.cutoff {
            write!(f, "@{k}")?;
        }
        Ok(())
    }
}

/// Parses a comma-separated list of measure names.
pub fn parse_measures(list: &str) -> Result<Vec<Measure>> {
    let out: Vec<Measure> = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Measure::parse)
        .collect::<Result<_>>()?;
    if out.is_empty() {
        return Err(Error::InvalidArgument("no measures given".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in [
            "nDCG@10",
            "AP",
            "AP@100",
            "RR@10",
            "P(rel=2)@10",
            "R(rel=2)@100",
            "Rprec",
            "Bpref",
            "Success@5",
            "Judged@10",
            "NumRet",
            "NumRel",
            "NumRelRet",
        ] {
            assert_eq!(Measure::parse(n).unwrap().to_string(), n);
        }
    }

    #[test]
    fn bad_names_explain() {
        assert!(
            Measure::parse("P")
                .unwrap_err()
                .to_string()
                .contains("needs a cutoff")
        );
        assert!(
            Measure::parse("MRR@10")
                .unwrap_err()
                .to_string()
                .contains("unknown measure")
        );
        assert!(Measure::parse("nDCG@0").is_err());
        assert!(Measure::parse("Rprec@5").is_err());
        assert!(parse_measures(" , ").is_err());
    }
}
