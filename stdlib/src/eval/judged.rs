//! One query's ranking seen through its judgements, and every measure on it,
//! following trec_eval's definitions (form_res_rels and the m_*.c measures).

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::data::Judgements;
use crate::data::run::rank_order;
use crate::eval::measure::{MIN_GEO_MEAN, Measure, MeasureKind};

/// Grade of a retrieved doc that is not in the qrels.
const NOT_JUDGED: i32 = i32::MIN;
/// Grade of a doc judged with a negative grade ("in pool but unjudged" for trec_eval).
const NEGATIVE: i32 = i32::MIN + 1;

/// A ranked list of grades plus the query's grade counts.
#[derive(Debug, Clone)]
pub struct JudgedRanking {
    /// Grade of each retrieved doc in rank order (sentinels for unjudged ones).
    grades: Vec<i32>,
    /// `(grade, count)` over the query's judgements with grade >= 0, grade descending.
    levels: Vec<(i32, usize)>,
    /// Subtopic judgements, for the diversity measures (see [`Self::with_intents`]).
    intents: Option<Box<RankedIntents>>,
}

/// Per retrieved doc in rank order its (subtopic, grade) pairs, and every
/// judged doc's, for the ideal ranking.
#[derive(Debug, Clone)]
struct RankedIntents {
    ranked: Vec<Vec<(u32, i32)>>,
    judged: Vec<(String, Vec<(u32, i32)>)>,
}

impl JudgedRanking {
    /// Ranks `results` (score desc, docid desc) and looks up each doc's grade.
    /// `skip` drops docs whose id equals it (BEIR's query-id self-hits).
    pub fn new(
        results: &mut Vec<(&str, f64)>,
        judgements: &Judgements,
        skip: Option<&str>,
    ) -> Self {
        if let Some(q) = skip {
            results.retain(|(d, _)| *d != q);
        }
        // Runs are usually written in rank order already; checking is cheaper than sorting.
        if !results.is_sorted_by(|a, b| order(a, b) != Ordering::Greater) {
            results.sort_unstable_by(order);
        }
        let grades = results
            .iter()
            .map(|(d, _)| match judgements.get(*d) {
                None => NOT_JUDGED,
                Some(&g) if g < 0 => NEGATIVE,
                Some(&g) => g,
            })
            .collect();
        let mut counts: HashMap<i32, usize> = HashMap::new();
        for &g in judgements.values().filter(|g| **g >= 0) {
            *counts.entry(g).or_default() += 1;
        }
        let mut levels: Vec<(i32, usize)> = counts.into_iter().collect();
        levels.sort_by_key(|l| std::cmp::Reverse(l.0));
        Self {
            grades,
            levels,
            intents: None,
        }
    }

    /// Adds the query's subtopic judgements; `ranked_docs` are the retrieved
    /// docs in rank order (the results [`Self::new`] sorted). Without them the
    /// diversity measures see one subtopic, judged by the grades.
    pub fn with_intents<'a>(
        mut self,
        ranked_docs: impl Iterator<Item = &'a str>,
        intents: &crate::data::Intents,
    ) -> Self {
        let ranked = ranked_docs
            .map(|d| intents.get(d).cloned().unwrap_or_default())
            .collect();
        let judged = intents
            .iter()
            .map(|(d, j)| (d.clone(), j.clone()))
            .collect();
        self.intents = Some(Box::new(RankedIntents { ranked, judged }));
        self
    }

    /// A query with judgements but nothing retrieved (trec_eval -c).
    pub fn empty(judgements: &Judgements) -> Self {
        Self::new(&mut Vec::new(), judgements, None)
    }

    fn num_rel(&self, level: i32) -> usize {
        self.levels
            .iter()
            .filter(|(g, _)| *g >= level)
            .map(|(_, c)| c)
            .sum()
    }

    fn top(&self, cutoff: Option<usize>) -> &[i32] {
        let n = cutoff.map_or(self.grades.len(), |k| k.min(self.grades.len()));
        &self.grades[..n]
    }

    /// The value of `m` for this query.
    pub fn compute(&self, m: &Measure) -> f64 {
        let level = m.rel_level();
        let is_rel = |g: i32| g >= level;
        let top = self.top(m.cutoff);
        match m.kind {
            MeasureKind::P => {
                let k = m.cutoff.unwrap_or(self.grades.len()).max(1);
                top.iter().filter(|g| is_rel(**g)).count() as f64 / k as f64
            }
            MeasureKind::R => ratio(
                top.iter().filter(|g| is_rel(**g)).count(),
                self.num_rel(level),
            ),
            MeasureKind::AP => {
                let mut found = 0usize;
                let mut sum = 0.0;
                for (i, &g) in top.iter().enumerate() {
                    if is_rel(g) {
                        found += 1;
                        sum += found as f64 / (i + 1) as f64;
                    }
                }
                let r = self.num_rel(level);
                if r == 0 { 0.0 } else { sum / r as f64 }
            }
            MeasureKind::RR => top
                .iter()
                .position(|g| is_rel(*g))
                .map_or(0.0, |i| 1.0 / (i + 1) as f64),
            MeasureKind::NDCG => self.ndcg(m.cutoff),
            MeasureKind::Rprec => {
                let r = self.num_rel(level);
                let found = self.grades.iter().take(r).filter(|g| is_rel(**g)).count();
                ratio(found, r)
            }
            MeasureKind::Bpref => self.bpref(level),
            MeasureKind::Success => {
                if top.iter().any(|g| is_rel(*g)) {
                    1.0
                } else {
                    0.0
                }
            }
            MeasureKind::Judged => {
                let k = m.cutoff.unwrap_or(self.grades.len()).max(1);
                top.iter().filter(|g| **g != NOT_JUDGED).count() as f64 / k as f64
            }
            MeasureKind::NumRet => self.grades.len() as f64,
            MeasureKind::NumRel => self.num_rel(level) as f64,
            MeasureKind::NumRelRet => top.iter().filter(|g| is_rel(**g)).count() as f64,
            MeasureKind::NumQ => 1.0,
            // The value trec_eval averages geometrically (it prints its log).
            MeasureKind::GmMap => self
                .compute(&Measure {
                    kind: MeasureKind::AP,
                    ..*m
                })
                .max(MIN_GEO_MEAN),
            MeasureKind::IPrec => self.interpolated_precision(level, m.param_value()),
            MeasureKind::ElevenPtAvg => {
                (0..=10)
                    .map(|i| self.interpolated_precision(level, i as f64 / 10.0))
                    .sum::<f64>()
                    / 11.0
            }
            MeasureKind::RprecMult => {
                // trec_eval's cutoff: (long) (x * R + 0.9).
                let k = (m.param_value() * self.num_rel(level) as f64 + 0.9) as usize;
                if k == 0 {
                    0.0
                } else {
                    self.top(Some(k)).iter().filter(|g| is_rel(**g)).count() as f64 / k as f64
                }
            }
            MeasureKind::InfAP => self.inferred_ap(level),
            MeasureKind::SetP => ratio(self.rel_retrieved(level), self.grades.len()),
            MeasureKind::SetR => ratio(self.rel_retrieved(level), self.num_rel(level)),
            MeasureKind::SetF => {
                let found = self.rel_retrieved(level);
                if found == 0 {
                    return 0.0;
                }
                let p = found as f64 / self.grades.len() as f64;
                let r = found as f64 / self.num_rel(level) as f64;
                // trec_eval weighs with beta itself, not its square.
                let beta = m.param_value();
                (beta + 1.0) * p * r / (beta * p + r)
            }
            MeasureKind::SetAP => {
                let found = self.rel_retrieved(level) as f64;
                let (ret, rel) = (self.grades.len(), self.num_rel(level));
                if ret == 0 || rel == 0 {
                    0.0
                } else {
                    found * found / (ret as f64 * rel as f64)
                }
            }
            MeasureKind::RBP => {
                // Binary at rel=N; graded without it, each grade over the query's
                // highest (trec_eval's rbp scales its gains into [0, 1] so).
                let top_grade = self.levels.first().map_or(1, |l| l.0.max(1)) as f64;
                let gain = |g: i32| match m.rel {
                    Some(_) => f64::from(u8::from(is_rel(g))),
                    None => g.max(0) as f64 / top_grade,
                };
                let p = m.param_value();
                let mut weight = 1.0 - p;
                let mut sum = 0.0;
                for &g in top {
                    sum += weight * gain(g);
                    weight *= p;
                }
                sum
            }
            MeasureKind::AlphaNDCG => self.alpha_ndcg(level, m.param_value(), m.cutoff),
            MeasureKind::ERR => err(top.iter().copied()),
            MeasureKind::NERR => {
                let depth = m.cutoff.unwrap_or(usize::MAX);
                let ideal = err(self
                    .levels
                    .iter()
                    .flat_map(|&(g, n)| std::iter::repeat_n(g, n))
                    .take(depth));
                if ideal > 0.0 {
                    err(top.iter().copied()) / ideal
                } else {
                    0.0
                }
            }
        }
    }

    /// ndeval's alpha-nDCG: a doc gains, per subtopic it is relevant to,
    /// (1 - alpha) to the number of earlier docs relevant to that subtopic; log2
    /// discount; the ideal ranking is built greedily as ndeval builds it (ties to
    /// the greater doc id).
    fn alpha_ndcg(&self, level: i32, alpha: f64, cutoff: Option<usize>) -> f64 {
        let depth = cutoff.unwrap_or(usize::MAX);
        let relevant = |j: &[(u32, i32)]| -> Vec<u32> {
            j.iter()
                .filter(|(_, g)| *g >= level)
                .map(|(s, _)| *s)
                .collect()
        };
        // Per doc the subtopics it is relevant to: the run's, and the judged
        // docs' (with their ids, for the ideal's ties).
        type Judged<'a> = Vec<(&'a str, Vec<u32>)>;
        let (run, mut pool): (Vec<Vec<u32>>, Judged) = match &self.intents {
            Some(i) => (
                i.ranked.iter().take(depth).map(|j| relevant(j)).collect(),
                i.judged
                    .iter()
                    .map(|(d, j)| (d.as_str(), relevant(j)))
                    .collect(),
            ),
            None => (
                self.top(cutoff)
                    .iter()
                    .map(|&g| if g >= level { vec![0] } else { vec![] })
                    .collect(),
                (0..self.num_rel(level)).map(|_| ("", vec![0])).collect(),
            ),
        };
        pool.retain(|(_, s)| !s.is_empty());
        let dcg = alpha_dcg(run.iter().map(Vec::as_slice), alpha);
        // Greedy ideal: at each rank the doc with the most novel gain.
        let mut gain: HashMap<u32, f64> = HashMap::new();
        let mut ideal_order: Vec<Vec<u32>> = Vec::new();
        while ideal_order.len() < depth && !pool.is_empty() {
            let score = |s: &[u32]| {
                s.iter()
                    .map(|t| gain.get(t).copied().unwrap_or(1.0))
                    .sum::<f64>()
            };
            let mut best = 0;
            for i in 1..pool.len() {
                let (a, b) = (score(&pool[i].1), score(&pool[best].1));
                if a > b || (a == b && pool[i].0 > pool[best].0) {
                    best = i;
                }
            }
            let (_, subtopics) = pool.swap_remove(best);
            for t in &subtopics {
                *gain.entry(*t).or_insert(1.0) *= 1.0 - alpha;
            }
            ideal_order.push(subtopics);
        }
        let ideal = alpha_dcg(ideal_order.iter().map(Vec::as_slice), alpha);
        if ideal > 0.0 { dcg / ideal } else { 0.0 }
    }

    fn rel_retrieved(&self, level: i32) -> usize {
        self.grades.iter().filter(|g| **g >= level).count()
    }

    /// The highest precision at any rank from the one where recall first
    /// reaches `recall` (trec_eval's iprec_at_recall: the number of relevant
    /// docs needed is rounded, and 0 when recall is never reached).
    fn interpolated_precision(&self, level: i32, recall: f64) -> f64 {
        let needed = (recall * self.num_rel(level) as f64).round() as usize;
        let mut best = 0.0f64;
        // Scanning from the end keeps the running maximum of later precisions.
        let total = self.rel_retrieved(level);
        if needed > total || self.grades.is_empty() {
            return 0.0;
        }
        let mut rel_left = total;
        for (i, &g) in self.grades.iter().enumerate().rev() {
            best = best.max(rel_left as f64 / (i + 1) as f64);
            if g >= level {
                if rel_left == needed {
                    return best;
                }
                rel_left -= 1;
            }
        }
        best
    }

    /// trec_eval's infAP: docs outside the qrels are skipped, docs judged with a
    /// negative grade count as pooled but unjudged.
    fn inferred_ap(&self, level: i32) -> f64 {
        const EPSILON: f64 = 1e-5;
        let (mut rel, mut nonrel, mut unjudged) = (0usize, 0usize, 0usize);
        let mut sum = 0.0;
        for (j, &g) in self.grades.iter().enumerate() {
            if g == NOT_JUDGED {
                continue;
            }
            if g == NEGATIVE {
                unjudged += 1;
                continue;
            }
            if g < level {
                nonrel += 1;
                continue;
            }
            rel += 1;
            if j == 0 {
                sum += 1.0;
            } else {
                let fj = j as f64;
                let above = (rel - 1 + nonrel + unjudged) as f64 / fj;
                let rel_above = (rel - 1) as f64 + EPSILON;
                let judged_above = (rel - 1 + nonrel) as f64 + 2.0 * EPSILON;
                sum += 1.0 / (fj + 1.0) + (fj / (fj + 1.0)) * above * (rel_above / judged_above);
            }
        }
        let r = self.num_rel(level);
        if r == 0 { sum } else { sum / r as f64 }
    }

    fn ndcg(&self, cutoff: Option<usize>) -> f64 {
        let dcg: f64 = self
            .top(cutoff)
            .iter()
            .enumerate()
            .filter(|(_, g)| **g > 0)
            .map(|(i, &g)| g as f64 / ((i + 2) as f64).log2())
            .sum();
        // Ideal: the judged grades > 0 in descending order, cut at the same depth.
        let depth = cutoff.unwrap_or(usize::MAX);
        let mut ideal = 0.0;
        let mut i = 0usize;
        'levels: for &(g, count) in self.levels.iter().filter(|(g, _)| *g > 0) {
            for _ in 0..count {
                if i >= depth {
                    break 'levels;
                }
                ideal += g as f64 / ((i + 2) as f64).log2();
                i += 1;
            }
        }
        if ideal > 0.0 { dcg / ideal } else { 0.0 }
    }

    fn bpref(&self, level: i32) -> f64 {
        let num_rel = self.num_rel(level);
        let num_nonrel: usize = self
            .levels
            .iter()
            .filter(|(g, _)| *g < level)
            .map(|(_, c)| c)
            .sum();
        let mut nonrel_so_far = 0usize;
        let mut sum = 0.0;
        for &g in &self.grades {
            if g == NOT_JUDGED || g == NEGATIVE {
                continue;
            }
            if g < level {
                nonrel_so_far += 1;
            } else if nonrel_so_far > 0 {
                sum += 1.0 - nonrel_so_far.min(num_rel) as f64 / num_nonrel.min(num_rel) as f64;
            } else {
                sum += 1.0;
            }
        }
        if num_rel > 0 {
            sum / num_rel as f64
        } else {
            sum
        }
    }
}

/// alpha-DCG of docs in rank order, each given as the subtopics it is relevant to.
fn alpha_dcg<'a>(ranked: impl Iterator<Item = &'a [u32]>, alpha: f64) -> f64 {
    let mut seen: HashMap<u32, i32> = HashMap::new();
    let mut dcg = 0.0;
    for (i, subtopics) in ranked.enumerate() {
        let mut g = 0.0;
        for t in subtopics {
            let n = seen.entry(*t).or_insert(0);
            g += (1.0 - alpha).powi(*n);
            *n += 1;
        }
        dcg += g / ((i + 2) as f64).log2();
    }
    dcg
}

/// gdeval's ERR over grades in rank order: a doc of grade g stops the user
/// with probability (2^g - 1) / 2^4 (grades above 4 count as 4; unjudged and
/// negative ones as 0).
fn err(grades: impl Iterator<Item = i32>) -> f64 {
    const MAX_GRADE: i32 = 4;
    let (mut sum, mut go_on) = (0.0, 1.0);
    for (i, g) in grades.enumerate() {
        let g = g.clamp(0, MAX_GRADE);
        let stop = ((1u32 << g) - 1) as f64 / (1u32 << MAX_GRADE) as f64;
        sum += go_on * stop / (i + 1) as f64;
        go_on *= 1.0 - stop;
    }
    sum
}

fn order(a: &(&str, f64), b: &(&str, f64)) -> Ordering {
    rank_order(*a, *b)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str) -> Measure {
        Measure::parse(name).unwrap()
    }

    fn judgements(pairs: &[(&str, i32)]) -> Judgements {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    /// Ranking d1..d5 (scores 5..1, given out of order); judgements: d1=0, d2=2,
    /// d4=1, d9=3 (not retrieved), d5=-1.
    fn sample() -> JudgedRanking {
        let mut results = vec![
            ("d5", 1.0),
            ("d3", 3.0),
            ("d1", 5.0),
            ("d4", 2.0),
            ("d2", 4.0),
        ];
        let j = judgements(&[("d1", 0), ("d2", 2), ("d4", 1), ("d9", 3), ("d5", -1)]);
        JudgedRanking::new(&mut results, &j, None)
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn hand_computed_values() {
        let r = sample();
        // Relevant (grade >= 1): d2 at rank 2, d4 at rank 4; d9 never retrieved. R = 3.
        close(r.compute(&m("P@2")), 0.5);
        close(r.compute(&m("P@10")), 0.2);
        close(r.compute(&m("R@4")), 2.0 / 3.0);
        close(r.compute(&m("AP")), (1.0 / 2.0 + 2.0 / 4.0) / 3.0);
        close(r.compute(&m("AP@3")), (1.0 / 2.0) / 3.0);
        close(r.compute(&m("RR")), 0.5);
        close(r.compute(&m("RR@1")), 0.0);
        close(r.compute(&m("Rprec")), 1.0 / 3.0);
        close(r.compute(&m("Success@1")), 0.0);
        close(r.compute(&m("Success@2")), 1.0);
        close(r.compute(&m("Judged@5")), 4.0 / 5.0);
        close(r.compute(&m("NumRet")), 5.0);
        close(r.compute(&m("NumRel")), 3.0);
        close(r.compute(&m("NumRelRet")), 2.0);
        close(r.compute(&m("P(rel=2)@2")), 0.5);
        close(r.compute(&m("NumRel(rel=2)")), 2.0);
        // DCG@5 = 2/log2(3) + 1/log2(5); ideal = 3/1 + 2/log2(3) + 1/2.
        let dcg = 2.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 3.0 + 2.0 / 3f64.log2() + 1.0 / 2.0;
        close(r.compute(&m("nDCG@5")), dcg / idcg);
        close(r.compute(&m("nDCG")), dcg / idcg);
        close(r.compute(&m("nDCG@1")), 0.0);
        // Bpref: judged non-relevant d1 before both relevant docs; 1 - 1/1 = 0 each.
        close(r.compute(&m("Bpref")), 0.0);
    }

    #[test]
    fn trec_eval_and_gdeval_measures_by_hand() {
        let r = sample();
        // In rank order: d1 (0), d2 (2), d3 (unjudged), d4 (1), d5 (-1); R = 3.
        close(r.compute(&m("NumQ")), 1.0);
        close(r.compute(&m("SetP")), 0.4);
        close(r.compute(&m("SetR")), 2.0 / 3.0);
        close(r.compute(&m("SetF")), 0.5);
        close(r.compute(&m("SetAP")), 4.0 / 15.0);
        close(r.compute(&m("RBP(p=0.5,rel=1)")), 0.5 * (0.5 + 0.125));
        close(r.compute(&m("RBP(p=0.5,rel=1)@2")), 0.25);
        // Graded: d2's grade 2 and d4's grade 1 over the query's top grade 3.
        close(
            r.compute(&m("RBP(p=0.5)")),
            0.5 * (0.5 * 2.0 / 3.0 + 0.125 / 3.0),
        );
        // Precision by rank: 0, 1/2, 1/3, 1/2, 2/5.
        close(r.compute(&m("IPrec@0")), 0.5);
        close(r.compute(&m("IPrec@0.5")), 0.5); // 2 relevant needed: from rank 4
        close(r.compute(&m("IPrec@1")), 0.0); // recall 1 is never reached
        close(r.compute(&m("11pt_avg")), 9.0 * 0.5 / 11.0);
        close(r.compute(&m("Rprec_mult_0.20")), 0.0); // (long)(0.6 + 0.9) = 1 doc
        close(r.compute(&m("Rprec_mult_2.00")), 2.0 / 6.0);
        close(r.compute(&m("gm_map")), r.compute(&m("AP")));
        let none = JudgedRanking::new(&mut vec![("x", 1.0)], &judgements(&[("d", 1)]), None);
        close(none.compute(&m("gm_map")), 1e-5);
        // infAP: the unjudged d3 is skipped; d2 at j=1, d4 at j=3.
        let e = 1e-5;
        let inf = 1.0 / 2.0 + 0.5 * 1.0 * (e / (1.0 + 2.0 * e)) + 0.25 + 0.75 * (2.0 / 3.0) * 0.5;
        close(r.compute(&m("infAP")), inf / 3.0);
        // ERR: stop probabilities 0, 3/16, 0, 1/16, 0; ideal grades 3, 2, 1, 0.
        let err = (3.0 / 16.0) / 2.0 + (13.0 / 16.0) * (1.0 / 16.0) / 4.0;
        close(r.compute(&m("ERR@5")), err);
        close(r.compute(&m("ERR@1")), 0.0);
        let ideal = 7.0 / 16.0
            + (9.0 / 16.0) * (3.0 / 16.0) / 2.0
            + (9.0 / 16.0) * (13.0 / 16.0) * (1.0 / 16.0) / 3.0;
        close(r.compute(&m("nERR@5")), err / ideal);
        // An empty ranking scores 0 everywhere but NumQ.
        let empty = JudgedRanking::empty(&judgements(&[("d2", 2)]));
        for name in [
            "IPrec@0", "SetP", "SetF", "SetAP", "RBP", "ERR@10", "nERR@10", "infAP",
        ] {
            assert_eq!(empty.compute(&m(name)), 0.0, "{name}");
        }
        // Grades above gdeval's 4 count as 4: one doc of grade 6 stops with 15/16.
        let high = JudgedRanking::new(&mut vec![("a", 1.0)], &judgements(&[("a", 6)]), None);
        close(high.compute(&m("ERR@10")), 15.0 / 16.0);
        close(high.compute(&m("nERR@10")), 1.0);
    }

    #[test]
    fn alpha_ndcg_by_hand() {
        // Subtopics 0 and 1: a covers both, b only 0, c only 1, d neither.
        let intents: crate::data::Intents = [
            ("a", vec![(0, 1), (1, 1)]),
            ("b", vec![(0, 1)]),
            ("c", vec![(1, 1)]),
            ("d", vec![(0, 0)]),
        ]
        .into_iter()
        .map(|(d, j)| (d.to_string(), j))
        .collect();
        let j = judgements(&[("a", 1), ("b", 1), ("c", 1), ("d", 0)]);
        let mut results = vec![("b", 4.0), ("c", 3.0), ("a", 2.0), ("x", 1.0)];
        let r = JudgedRanking::new(&mut results, &j, None);
        let r = r.with_intents(results.iter().map(|(d, _)| *d), &intents);
        // Gains 1, 1, 0.5 + 0.5; ideal (greedy): a (2), then c before b (tie,
        // greater id), each 0.5.
        let dcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 2.0;
        let ideal = 2.0 + 0.5 / 3f64.log2() + 0.5 / 2.0;
        close(r.compute(&m("alpha_nDCG@3")), dcg / ideal);
        close(r.compute(&m("alpha_nDCG@1")), 1.0 / 2.0);
        // alpha = 0: every covered subtopic counts in full.
        close(
            r.compute(&m("alpha_nDCG(alpha=0)@3")),
            (1.0 + 1.0 / 3f64.log2() + 2.0 / 2.0) / (2.0 + 1.0 / 3f64.log2() + 1.0 / 2.0),
        );
        // Without subtopics: one, judged by the grades (relevant at ranks 2 and 4, R = 3).
        let s = sample();
        let dcg = 1.0 / 3f64.log2() + 0.5 / 5f64.log2();
        let ideal = 1.0 + 0.5 / 3f64.log2() + 0.25 / 2.0;
        close(s.compute(&m("alpha_nDCG@5")), dcg / ideal);
    }

    #[test]
    fn ties_break_by_docid_descending() {
        let j = judgements(&[("a", 1)]);
        // Same score: "b" ranks before "a".
        let r = JudgedRanking::new(&mut vec![("a", 1.0), ("b", 1.0)], &j, None);
        close(r.compute(&m("RR")), 0.5);
    }

    #[test]
    fn query_without_relevant_docs_scores_zero() {
        let j = judgements(&[("a", 0)]);
        let r = JudgedRanking::new(&mut vec![("a", 1.0)], &j, None);
        for name in ["AP", "nDCG@10", "RR", "R@10", "P@1"] {
            assert_eq!(r.compute(&m(name)), 0.0, "{name}");
        }
    }

    #[test]
    fn self_hits_are_skipped() {
        let j = judgements(&[("d", 1)]);
        let res = vec![("q", 2.0), ("d", 1.0)];
        assert_eq!(
            JudgedRanking::new(&mut res.clone(), &j, Some("q")).compute(&m("RR")),
            1.0
        );
        assert_eq!(
            JudgedRanking::new(&mut res.clone(), &j, None).compute(&m("RR")),
            0.5
        );
    }
}
