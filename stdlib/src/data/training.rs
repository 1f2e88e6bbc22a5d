//! Training examples as texts: (query, positive) pairs from BEIR qrels, MS MARCO
//! triples, the shapes of training data the losses accept, and the batch
//! samplers (no duplicates for in-batch-negative losses, plain shuffling).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::data::lines::for_each_line;
use crate::data::{BeirDataset, Qrels};
use crate::error::{Error, Result};
use crate::random::{Mt19937, SplitMix};

/// The seed of `sample` when none is given.
pub const DEFAULT_SAMPLE_SEED: u64 = 42;

/// An anchor, its positive and any hard negatives, with teacher scores for
/// distillation.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The query (or first text).
    pub anchor: String,
    /// The text that must score high.
    pub positive: String,
    /// Texts that must score lower than the positive.
    pub negatives: Vec<String>,
    /// A teacher's scores of the positive then each negative (distillation).
    pub teacher: Option<Vec<f32>>,
}

impl Example {
    /// A (query, positive) pair.
    pub fn pair(anchor: impl Into<String>, positive: impl Into<String>) -> Self {
        Self {
            anchor: anchor.into(),
            positive: positive.into(),
            negatives: Vec::new(),
            teacher: None,
        }
    }

    /// The example's texts.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        [self.anchor.as_str(), self.positive.as_str()]
            .into_iter()
            .chain(self.negatives.iter().map(String::as_str))
    }
}

/// Two texts and how similar they are (Quaterion's pair sample; 0/1 for the
/// contrastive losses, a similarity for CosineSimilarityLoss).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPair {
    /// First text.
    pub text_a: String,
    /// Second text.
    pub text_b: String,
    /// Target similarity or label.
    pub score: f32,
}

/// A text and the group it belongs to (Quaterion's group sample): texts of a
/// group are positives of each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSample {
    /// The text.
    pub text: String,
    /// Its group's label.
    pub group: String,
}

/// Training data in one of the shapes the losses take.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainingData {
    /// (anchor, positive, negatives..., teacher scores?) examples.
    Examples(Vec<Example>),
    /// (text_a, text_b, score) pairs.
    Pairs(Vec<ScoredPair>),
    /// (text, group) samples.
    Groups(Vec<GroupSample>),
}

impl TrainingData {
    /// How many samples there are.
    pub fn len(&self) -> usize {
        match self {
            TrainingData::Examples(v) => v.len(),
            TrainingData::Pairs(v) => v.len(),
            TrainingData::Groups(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What one sample is, in words (for error messages).
    pub fn shape(&self) -> String {
        match self {
            TrainingData::Examples(v) => {
                let negatives = v.iter().map(|e| e.negatives.len()).max().unwrap_or(0);
                let teacher = v.iter().any(|e| e.teacher.is_some());
                let mut s = match negatives {
                    0 => "(anchor, positive) pairs".to_string(),
                    1 => "(anchor, positive, negative) triples".to_string(),
                    n => format!("(anchor, positive, {n} negatives) groups"),
                };
                if teacher {
                    s.push_str(" with teacher scores");
                }
                s
            }
            TrainingData::Pairs(_) => "(text_a, text_b, score) pairs".into(),
            TrainingData::Groups(_) => "(text, group) samples".into(),
        }
    }

    /// `n` distinct sample positions drawn at random (all of them, shuffled,
    /// when `n` is at least the length); the same for the same seed.
    pub fn sample_positions(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        let mut rng = SplitMix::new(seed);
        // A partial Fisher-Yates shuffle: the first n places are the sample.
        for i in 0..n.min(order.len()) {
            let j = i + rng.below(order.len() - i);
            order.swap(i, j);
        }
        order.truncate(n);
        order
    }

    /// Every text of sample `i`.
    pub fn texts_of(&self, i: usize) -> Vec<&str> {
        match self {
            TrainingData::Examples(v) => v[i].texts().collect(),
            TrainingData::Pairs(v) => vec![v[i].text_a.as_str(), v[i].text_b.as_str()],
            TrainingData::Groups(v) => vec![v[i].text.as_str()],
        }
    }

    /// A content hash (so a resumed run can tell it is given the same data).
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for i in 0..self.len() {
            for t in self.texts_of(i) {
                h.update(t.as_bytes());
                h.update([0u8]);
            }
            match self {
                TrainingData::Examples(v) => {
                    for s in v[i].teacher.iter().flatten() {
                        h.update(s.to_le_bytes());
                    }
                }
                TrainingData::Pairs(v) => h.update(v[i].score.to_le_bytes()),
                TrainingData::Groups(v) => h.update(v[i].group.as_bytes()),
            }
            h.update([1u8]);
        }
        hex::encode(h.finalize())
    }
}

/// (query, positive) pairs for every judgement with a grade above 0, ordered by
/// query id then doc id (so a seed fixes the whole run).
pub fn pairs_from_qrels(data: &BeirDataset, qrels: &Qrels) -> Result<Vec<Example>> {
    let queries: std::collections::HashMap<&str, &str> = data
        .queries
        .iter()
        .map(|q| (q.id.as_str(), q.text.as_str()))
        .collect();
    let docs: std::collections::HashMap<&str, &str> = data
        .corpus
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str()))
        .collect();
    let mut judged: Vec<(&str, &str)> = qrels
        .iter()
        .flat_map(|(q, j)| {
            j.iter()
                .filter(|(_, g)| **g > 0)
                .map(move |(d, _)| (q, d.as_str()))
        })
        .collect();
    judged.sort_unstable();
    judged
        .into_iter()
        .map(|(q, d)| {
            let missing = |what: &str, id: &str| {
                Error::InvalidArgument(format!(
                    "{}: the qrels judge {what} \"{id}\", which is not in the dataset",
                    data.dir.display()
                ))
            };
            Ok(Example::pair(
                *queries.get(q).ok_or_else(|| missing("query", q))?,
                *docs.get(d).ok_or_else(|| missing("doc", d))?,
            ))
        })
        .collect()
}

/// MS MARCO training triples: `query \t positive \t negative` per line.
pub fn read_triples(path: &Path) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for_each_line(path, |n, line| {
        if line.is_empty() {
            return Ok(());
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [q, p, neg] = f[..] else {
            return Err(Error::parse(
                path,
                n,
                None,
                format!(
                    "expected 3 tab-separated columns (query, positive, negative), found {}",
                    f.len()
                ),
            ));
        };
        out.push(Example {
            negatives: vec![neg.to_string()],
            ..Example::pair(q, p)
        });
        Ok(())
    })?;
    Ok(out)
}

fn check_batch_size(batch_size: usize, samples: usize) -> Result<()> {
    if batch_size == 0 || batch_size > samples {
        return Err(Error::InvalidArgument(format!(
            "batch size {batch_size} for {samples} examples: choose a batch size between 1 and {samples}"
        )));
    }
    Ok(())
}

/// `0..n` shuffled by `seed` (Fisher-Yates).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix::new(seed);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// Batches of sample indices in the order `seed` shuffles them; the last batch
/// may be short.
pub fn shuffled_batches(samples: usize, batch_size: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    check_batch_size(batch_size, samples)?;
    Ok(cut(&shuffled(samples, seed), batch_size))
}

/// `order` cut into batches of `batch_size`; the last may be short.
fn cut(order: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    order.chunks(batch_size).map(<[usize]>::to_vec).collect()
}

/// One epoch's batches in the order of sentence-transformers' default sampler
/// (torch's `RandomSampler`, which draws every epoch from one generator seeded
/// once): given the same seed and examples, a PyTorch trainer's batches; the
/// last batch may be short.
pub fn torch_order_batches(
    generator: &mut Mt19937,
    samples: usize,
    batch_size: usize,
) -> Result<Vec<Vec<usize>>> {
    check_batch_size(batch_size, samples)?;
    Ok(cut(&generator.randperm(samples), batch_size))
}

/// Batches of group samples in which texts come in pairs of the same group
/// (sentence-transformers' GroupByLabelBatchSampler): batch-hard losses need a
/// positive for each anchor. Each group's samples are shuffled and cut into
/// pairs (an odd one out stays single), the pairs shuffled and packed into
/// batches; every sample is used once per epoch.
pub fn group_batches(data: &TrainingData, batch_size: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    check_batch_size(batch_size, data.len())?;
    let TrainingData::Groups(samples) = data else {
        return shuffled_batches(data.len(), batch_size, seed);
    };
    let mut by_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in shuffled(samples.len(), seed) {
        by_group
            .entry(samples[i].group.as_str())
            .or_default()
            .push(i);
    }
    let pairs: Vec<Vec<usize>> = by_group
        .values()
        .flat_map(|members| members.chunks(2).map(<[usize]>::to_vec))
        .collect();
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for p in shuffled(pairs.len(), seed.wrapping_add(1)) {
        match batches.last_mut() {
            Some(b) if b.len() + pairs[p].len() <= batch_size => b.extend(&pairs[p]),
            _ => batches.push(pairs[p].clone()),
        }
    }
    Ok(batches)
}

/// Batches of example indices in which no text appears twice (a repeated text
/// would be its own in-batch negative), shuffled by `seed`. Examples that would
/// repeat a text wait for a later batch, as in sentence-transformers'
/// NoDuplicatesBatchSampler; the last batch may be short.
pub fn no_duplicate_batches(
    data: &TrainingData,
    batch_size: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    check_batch_size(batch_size, data.len())?;
    let mut order = shuffled(data.len(), seed);
    let mut batches = Vec::new();
    while !order.is_empty() {
        let mut batch = Vec::with_capacity(batch_size);
        let mut seen: HashSet<&str> = HashSet::new();
        let mut waiting = Vec::new();
        for i in order {
            let texts = data.texts_of(i);
            if batch.len() < batch_size && texts.iter().all(|t| !seen.contains(t)) {
                seen.extend(texts);
                batch.push(i);
            } else {
                waiting.push(i);
            }
        }
        batches.push(batch);
        order = waiting;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(a: &str, p: &str) -> Example {
        Example::pair(a, p)
    }

    #[test]
    fn group_batches_keep_pairs_of_a_group_together_and_use_every_sample_once() {
        let data = TrainingData::Groups(
            (0..11)
                .map(|i| GroupSample {
                    text: format!("t{i}"),
                    group: format!("g{}", i % 3),
                })
                .collect(),
        );
        let batches = group_batches(&data, 4, 9).unwrap();
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..11).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.len() <= 4));
        // Groups of 4, 4 and 3 samples: 5 pairs and 1 single, so at most one
        // sample lacks a partner of its group in its batch.
        let TrainingData::Groups(g) = &data else {
            unreachable!()
        };
        let lonely: usize = batches
            .iter()
            .map(|b| {
                b.iter()
                    .filter(|&&i| b.iter().filter(|&&j| g[j].group == g[i].group).count() < 2)
                    .count()
            })
            .sum();
        assert_eq!(lonely, 1);
        assert_eq!(batches, group_batches(&data, 4, 9).unwrap());
    }

    #[test]
    fn samples_are_distinct_reproducible_and_bounded() {
        let data = TrainingData::Examples((0..10).map(|i| ex(&i.to_string(), "p")).collect());
        let a = data.sample_positions(4, 7);
        assert_eq!(a, data.sample_positions(4, 7));
        assert_ne!(a, data.sample_positions(4, 8));
        let mut all = data.sample_positions(50, 7);
        assert_eq!(all.len(), 10);
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn batches_never_repeat_a_text_and_cover_everything_once() {
        // Query "q0" has three positives: at most one of them per batch.
        let mut examples = vec![ex("q0", "a"), ex("q0", "b"), ex("q0", "c")];
        examples.extend((1..20).map(|i| ex(&format!("q{i}"), &format!("d{i}"))));
        let data = TrainingData::Examples(examples.clone());
        let batches = no_duplicate_batches(&data, 8, 42).unwrap();
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..examples.len()).collect::<Vec<_>>());
        for b in &batches {
            let texts: Vec<&str> = b.iter().flat_map(|&i| examples[i].texts()).collect();
            let unique: HashSet<&str> = texts.iter().copied().collect();
            assert_eq!(unique.len(), texts.len(), "{b:?}");
            assert!(b.len() <= 8);
        }
        assert_eq!(batches, no_duplicate_batches(&data, 8, 42).unwrap());
        assert_ne!(batches, no_duplicate_batches(&data, 8, 7).unwrap());
        let e = no_duplicate_batches(&data, 100, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("batch size 100 for 22 examples"), "{e}");
    }

    #[test]
    fn triples_are_read_and_bad_lines_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.tsv");
        std::fs::write(&p, "q\tpos\tneg\r\nq2\tonly two\n").unwrap();
        let e = read_triples(&p).err().unwrap().to_string();
        assert!(
            e.ends_with(
                "t.tsv:2: expected 3 tab-separated columns (query, positive, negative), found 2"
            ),
            "{e}"
        );
        std::fs::write(&p, "q\tpos\tneg\r\n").unwrap();
        assert_eq!(
            read_triples(&p).unwrap(),
            vec![Example {
                negatives: vec!["neg".into()],
                ..Example::pair("q", "pos")
            }]
        );
    }
}
