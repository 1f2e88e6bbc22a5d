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
    /// Number of retrieved docs (`num_ret`); summed over queries.
    NumRet,
    /// Number of relevant docs (`num_rel`); summed over queries.
    NumRel,
    /// Number of relevant docs retrieved (`num_rel_ret`); summed over queries.
    NumRelRet,
    /// Number of queries (`num_q`); summed over queries.
    NumQ,
    /// Interpolated precision at a recall level, `IPrec@0.1` (`iprec_at_recall`).
    IPrec,
    /// Inferred AP: docs judged with a negative grade are pooled but unjudged (`infAP`).
    InfAP,
    /// Precision of the whole retrieved set (`set_P`).
    SetP,
    /// Recall of the whole retrieved set (`set_recall`).
    SetR,
    /// F of set precision and recall, trec_eval's `set_F` (beta as trec_eval weighs it).
    SetF,
    /// Set precision times set recall (`set_map`).
    SetAP,
    /// Rank-biased precision with persistence p: binary at `rel=N`, else graded
    /// (each grade over the query's highest, as trec_eval's `rbp`).
    RBP,
    /// Expected reciprocal rank, gdeval's (gains (2^g - 1) / 16, grades above 4 count as 4).
    ERR,
    /// ERR over the ERR of the ideal ranking.
    NERR,
    /// AP averaged geometrically over queries (`gm_map`; per query the AP floored at 1e-5).
    GmMap,
    /// Mean interpolated precision at recall 0, 0.1, ..., 1 (`11pt_avg`).
    ElevenPtAvg,
    /// Precision at x times R docs (`Rprec_mult_x`).
    RprecMult,
    /// ndeval's alpha-nDCG over subtopics (diversity qrels; otherwise one subtopic).
    AlphaNDCG,
}

/// How per-query values become the one value of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// The arithmetic mean (most measures).
    Mean,
    /// The sum over queries (counts, as trec_eval's `all` line and ir_measures give them).
    Sum,
    /// exp of the mean log, each value at least 1e-5 (trec_eval's `gm_*`).
    Geometric,
}

/// The smallest value a geometric mean takes in (trec_eval's MIN_GEO_MEAN).
pub(crate) const MIN_GEO_MEAN: f64 = 1e-5;

impl Aggregate {
    /// The run's value from per-query values (0 for no queries).
    pub fn of(self, values: impl IntoIterator<Item = f64>) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for v in values {
            sum += match self {
                Self::Geometric => v.max(MIN_GEO_MEAN).ln(),
                _ => v,
            };
            n += 1;
        }
        match self {
            _ if n == 0 => 0.0,
            Self::Sum => sum,
            Self::Mean => sum / n as f64,
            Self::Geometric => (sum / n as f64).exp(),
        }
    }
}

/// The measure names `parse` knows (without cutoffs), for completion and help.
pub fn measure_names() -> Vec<&'static str> {
    KINDS.iter().map(|(n, _)| *n).collect()
}

const KINDS: [(&str, MeasureKind); 26] = [
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
    ("NumQ", MeasureKind::NumQ),
    ("IPrec", MeasureKind::IPrec),
    ("infAP", MeasureKind::InfAP),
    ("SetP", MeasureKind::SetP),
    ("SetR", MeasureKind::SetR),
    ("SetF", MeasureKind::SetF),
    ("SetAP", MeasureKind::SetAP),
    ("RBP", MeasureKind::RBP),
    ("ERR", MeasureKind::ERR),
    ("nERR", MeasureKind::NERR),
    ("gm_map", MeasureKind::GmMap),
    ("11pt_avg", MeasureKind::ElevenPtAvg),
    ("Rprec_mult", MeasureKind::RprecMult),
    ("alpha_nDCG", MeasureKind::AlphaNDCG),
];

/// trec_eval's name for a multiple of R: `Rprec_mult_0.20`.
const RPREC_MULT_PREFIX: &str = "Rprec_mult_";

impl MeasureKind {
    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
    fn needs_cutoff(self) -> bool {
        matches!(
            self,
            Self::P | Self::R | Self::Success | Self::Judged | Self::IPrec
        )
    }
    fn allows_cutoff(self) -> bool {
        matches!(
            self,
            Self::AP
                | Self::NDCG
                | Self::RR
                | Self::P
                | Self::R
                | Self::Success
                | Self::Judged
                | Self::NumRelRet
                | Self::IPrec
                | Self::RBP
                | Self::ERR
                | Self::NERR
                | Self::AlphaNDCG
        )
    }
    fn allows_rel(self) -> bool {
        !matches!(
            self,
            Self::NDCG | Self::Judged | Self::NumRet | Self::NumQ | Self::ERR | Self::NERR
        )
    }
    /// The name of the real-valued parameter in parentheses, and its default.
    fn named_param(self) -> Option<(&'static str, f64)> {
        match self {
            Self::RBP => Some(("p", 0.8)),
            Self::SetF => Some(("beta", 1.0)),
            Self::AlphaNDCG => Some(("alpha", 0.5)),
            _ => None,
        }
    }
    /// How per-query values are combined into a run's value.
    pub fn aggregate(self) -> Aggregate {
        match self {
            Self::NumRet | Self::NumRel | Self::NumRelRet | Self::NumQ => Aggregate::Sum,
            Self::GmMap => Aggregate::Geometric,
            _ => Aggregate::Mean,
        }
    }
}

/// A real-valued measure parameter (a recall level, RBP's p, SetF's beta, a
/// multiple of R), compared by its bits so that measures can be map keys.
#[derive(Debug, Clone, Copy)]
pub struct Param(pub f64);

impl PartialEq for Param {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Param {}

impl std::hash::Hash for Param {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// One measure: a family, an optional cutoff, an optional relevance threshold
/// and, for some families, a real-valued parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Measure {
    /// The family.
    pub kind: MeasureKind,
    /// Rank cutoff `@k`.
    pub cutoff: Option<usize>,
    /// Minimum grade that counts as relevant (`rel=N`; 1 by default).
    pub rel: Option<i32>,
    /// The recall level of IPrec, RBP's p, SetF's beta or Rprec_mult's multiple
    /// (None: the family's default).
    pub param: Option<Param>,
}

impl Measure {
    /// The relevance threshold in force.
    pub fn rel_level(&self) -> i32 {
        self.rel.unwrap_or(1)
    }

    /// The real-valued parameter in force (0 for families without one).
    pub fn param_value(&self) -> f64 {
        self.param
            .map(|p| p.0)
            .or_else(|| self.kind.named_param().map(|(_, d)| d))
            .unwrap_or(0.0)
    }

    /// How per-query values are combined into the run's value.
    pub fn aggregate(&self) -> Aggregate {
        self.kind.aggregate()
    }

    /// A value as trec_eval prints it: counts as integers, the rest to 4 decimals.
    pub fn format_value(&self, v: f64) -> String {
        match self.aggregate() {
            Aggregate::Sum => format!("{v:.0}"),
            _ => format!("{v:.4}"),
        }
    }

    /// Parses a name such as `nDCG@10`, `AP`, `P(rel=2)@10`, `IPrec@0.5`,
    /// `RBP(p=0.9)`, `Rprec_mult_0.20`.
    pub fn parse(name: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "measure \"{name}\": {why} (known: {})",
                KINDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ))
        };
        let s = name.trim();
        let (head, at) = match s.rsplit_once('@') {
            Some((h, k)) => (h, Some(k)),
            None => (s, None),
        };
        let (base, params) = match head.split_once('(') {
            Some((b, params)) => (
                b,
                Some(
                    params
                        .strip_suffix(')')
                        .ok_or_else(|| bad("unclosed parenthesis"))?,
                ),
            ),
            None => (head, None),
        };
        let (kind, mut param) = match base.strip_prefix(RPREC_MULT_PREFIX) {
            Some(x) => {
                let x: f64 = x
                    .parse()
                    .ok()
                    .filter(|x: &f64| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        bad("Rprec_mult_x needs a multiple x >= 0, e.g. Rprec_mult_0.20")
                    })?;
                (MeasureKind::RprecMult, Some(Param(x)))
            }
            None => {
                let kind = KINDS
                    .iter()
                    .find(|(n, _)| *n == base)
                    .map(|(_, k)| *k)
                    .ok_or_else(|| bad("unknown measure"))?;
                if kind == MeasureKind::RprecMult {
                    return Err(bad(
                        "name the multiple of R as trec_eval does, e.g. Rprec_mult_0.20",
                    ));
                }
                (kind, None)
            }
        };
        let mut cutoff = None;
        match (kind, at) {
            (MeasureKind::IPrec, Some(r)) => {
                let r: f64 = r
                    .parse()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| bad("the recall level after @ must be a number from 0 to 1"))?;
                param = Some(Param(r));
            }
            (_, Some(k)) => {
                let k: usize = k
                    .parse()
                    .map_err(|_| bad("the cutoff after @ must be a positive integer"))?;
                if k == 0 {
                    return Err(bad("the cutoff must be at least 1"));
                }
                cutoff = Some(k);
            }
            (_, None) => {}
        }
        let mut rel = None;
        for p in params.into_iter().flat_map(|p| p.split(',')) {
            let (key, value) = p
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| bad("parameters are written key=value"))?;
            match (key, kind.named_param()) {
                ("rel", _) => {
                    let r: i32 = value.parse().map_err(|_| bad("rel=N needs an integer"))?;
                    if r < 1 {
                        return Err(bad("rel=N needs N >= 1"));
                    }
                    rel = Some(r);
                }
                (k, Some((name, _))) if k == name => {
                    let v: f64 = value
                        .parse()
                        .map_err(|_| bad(&format!("{name}= needs a number")))?;
                    let ok = match kind {
                        MeasureKind::RBP => v > 0.0 && v < 1.0,
                        MeasureKind::AlphaNDCG => (0.0..=1.0).contains(&v),
                        _ => v.is_finite() && v >= 0.0,
                    };
                    if !ok {
                        return Err(bad(&format!("{name}={value} is out of range")));
                    }
                    param = Some(Param(v));
                }
                _ => {
                    let known = match kind.named_param() {
                        Some((name, _)) => format!("rel=N and {name}=x"),
                        None => "rel=N".to_string(),
                    };
                    return Err(bad(&format!(
                        "unknown parameter {key} (this measure takes {known})"
                    )));
                }
            }
        }
        if at.is_none() && kind.needs_cutoff() {
            let example = if kind == MeasureKind::IPrec {
                "@0.5"
            } else {
                "@10"
            };
            return Err(bad(&format!("this measure needs a cutoff, e.g. {example}")));
        }
        if cutoff.is_some() && !kind.allows_cutoff() {
            return Err(bad("this measure takes no cutoff"));
        }
        if rel.is_some() && !kind.allows_rel() {
            return Err(bad("this measure takes no rel=N parameter"));
        }
        Ok(Self {
            kind,
            cutoff,
            rel,
            param,
        })
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.param) {
            (MeasureKind::RprecMult, Some(Param(x))) => write!(f, "{RPREC_MULT_PREFIX}{x:.2}")?,
            _ => f.write_str(self.kind.name())?,
        }
        let named = self
            .kind
            .named_param()
            .zip(self.param)
            .map(|((name, _), Param(v))| format!("{name}={v}"));
        let rel = self.rel.map(|r| format!("rel={r}"));
        let params: Vec<String> = named.into_iter().chain(rel).collect();
        if !params.is_empty() {
            write!(f, "({})", params.join(","))?;
        }
        if let Some(k) = self.cutoff {
            write!(f, "@{k}")?;
        }
        if let (MeasureKind::IPrec, Some(Param(r))) = (self.kind, self.param) {
            write!(f, "@{r}")?;
        }
        Ok(())
    }
}

/// Parses a comma-separated list of measure names.
pub fn parse_measures(list: &str) -> Result<Vec<Measure>> {
    // Commas inside parentheses separate parameters, not measures.
    let mut names = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                names.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    names.push(&list[start..]);
    let out: Vec<Measure> = names
        .into_iter()
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
            "NumQ",
            "IPrec@0.1",
            "IPrec(rel=2)@0",
            "infAP",
            "SetP",
            "SetR(rel=2)",
            "SetF",
            "SetF(beta=0.5)",
            "SetAP",
            "RBP",
            "RBP(p=0.9)",
            "RBP(p=0.5,rel=2)@10",
            "ERR@20",
            "nERR@20",
            "gm_map",
            "11pt_avg",
            "Rprec_mult_0.20",
            "Rprec_mult_2.00",
            "alpha_nDCG@10",
            "alpha_nDCG(alpha=0.8,rel=2)@20",
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
        let list = parse_measures("RBP(p=0.5,rel=2)@10, AP").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].to_string(), "RBP(p=0.5,rel=2)@10");
        assert!(
            Measure::parse("IPrec")
                .unwrap_err()
                .to_string()
                .contains("e.g. @0.5")
        );
        assert!(Measure::parse("IPrec@1.5").is_err());
        assert!(Measure::parse("RBP(p=1)").is_err());
        assert!(Measure::parse("ERR(rel=2)@10").is_err());
        assert!(Measure::parse("SetP@10").is_err());
        assert!(Measure::parse("Rprec_mult").is_err());
        assert!(
            Measure::parse("RBP(q=0.5)")
                .unwrap_err()
                .to_string()
                .contains("takes rel=N and p=x")
        );
        assert_eq!(Measure::parse("RBP").unwrap().param_value(), 0.8);
        assert_eq!(
            Measure::parse("Rprec_mult_0.2").unwrap().to_string(),
            "Rprec_mult_0.20"
        );
    }

    #[test]
    fn counts_sum_and_gm_map_is_geometric() {
        assert_eq!(
            Measure::parse("NumRel").unwrap().aggregate().of([2.0, 3.0]),
            5.0
        );
        assert_eq!(
            Measure::parse("AP").unwrap().aggregate().of([0.2, 0.4]),
            0.30000000000000004
        );
        let g = Measure::parse("gm_map")
            .unwrap()
            .aggregate()
            .of([0.1, 0.4, 0.0]);
        assert!((g - (0.1f64 * 0.4 * 1e-5).cbrt()).abs() < 1e-12, "{g}");
        assert_eq!(Aggregate::Mean.of([]), 0.0);
    }
}
