//! Bounded top-k selection with the evaluator's order (score desc, id desc).
//!
//! Candidates that reach the current bar are appended to a buffer of 2k; when it
//! is full, a linear-time selection keeps the best k and raises the bar. Appending
//! is a store, where a binary heap paid two O(log k) sifts per candidate (a
//! quarter of a flat search's time, measured).

use std::cmp::Ordering;

/// A candidate: score, doc index, and its id (for the tie-break).
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    score: f32,
    doc: usize,
    id: &'a str,
}

/// `Less` when `a` ranks before `b`: higher score, then larger id (trec_eval's
/// tie order).
fn rank(a: &Entry, b: &Entry) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| b.id.as_bytes().cmp(a.id.as_bytes()))
}

/// Keeps the `k` best (score, doc) pairs seen.
pub struct TopK<'a> {
    k: usize,
    buf: Vec<Entry<'a>>,
    /// Candidates scoring below this cannot be among the best k.
    bar: f32,
}

impl<'a> TopK<'a> {
    /// An empty selection of size `k` (allocates on the first candidate).
    pub fn new(k: usize) -> Self {
        Self {
            k,
            buf: Vec::new(),
            bar: if k == 0 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            },
        }
    }

    /// Offers doc `doc` (id `id`) with `score`.
    #[inline]
    pub fn push(&mut self, score: f32, doc: usize, id: &'a str) {
        if self.k == 0 || score < self.bar || score.is_nan() {
            return;
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(2 * self.k);
        }
        self.buf.push(Entry { score, doc, id });
        if self.buf.len() == 2 * self.k {
            self.shrink();
        }
    }

    /// Keeps the best k; the bar becomes the k-th score.
    fn shrink(&mut self) {
        if self.buf.len() <= self.k {
            return;
        }
        self.buf.select_nth_unstable_by(self.k - 1, rank);
        self.buf.truncate(self.k);
        // Ties with the k-th score may still win on their id: the bar admits them.
        self.bar = self.buf[self.k - 1].score;
    }

    /// The score a candidate must reach to be considered (ties are decided by
    /// [`TopK::push`]'s later selection): -infinity until k are kept.
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.bar
    }

    /// Adds every candidate kept by `other`.
    pub fn merge(&mut self, other: TopK<'a>) {
        for e in other.buf {
            self.push(e.score, e.doc, e.id);
        }
    }

    /// The kept `(doc, score)` pairs, best first.
    pub fn into_sorted(mut self) -> Vec<(usize, f32)> {
        self.shrink();
        self.buf.sort_unstable_by(rank);
        self.buf.into_iter().map(|e| (e.doc, e.score)).collect()
    }
}

/// The best `k` docs of each of `queries` queries over `blocks` of docs:
/// `scan` offers one contiguous run of blocks to per-query selections. One run
/// per thread, so each thread's bars rise as it goes (rayon's finer splits
/// restarted them from nothing and let whole blocks through); the threads'
/// selections are merged.
pub fn par_top_k<'a, B: Sync>(
    blocks: &[B],
    queries: usize,
    k: usize,
    scan: impl Fn(&[B], &mut [TopK<'a>]) + Sync + Send,
) -> Vec<Vec<(usize, f32)>> {
    use rayon::prelude::*;
    let empty = || -> Vec<TopK<'a>> { (0..queries).map(|_| TopK::new(k)).collect() };
    let per_thread = blocks.len().div_ceil(rayon::current_num_threads()).max(1);
    blocks
        .par_chunks(per_thread)
        .map(|run| {
            let mut tops = empty();
            scan(run, &mut tops);
            tops
        })
        .reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.merge(y);
            }
            a
        })
        .into_iter()
        .map(TopK::into_sorted)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_with_id_tie_break() {
        let ids = ["a", "b", "c", "d"];
        let mut t = TopK::new(3);
        for (i, s) in [1.0f32, 2.0, 1.0, 0.5].iter().enumerate() {
            t.push(*s, i, ids[i]);
        }
        // Ties at 1.0 between a and c: c (larger id) first.
        assert_eq!(t.into_sorted(), vec![(1, 2.0), (2, 1.0), (0, 1.0)]);
    }

    #[test]
    fn equals_a_full_sort_through_many_shrinks_and_merges() {
        // Few distinct scores: ties everywhere, decided by id.
        let ids: Vec<String> = (0..3000)
            .map(|i| format!("d{:04}", (i * 7919) % 3000))
            .collect();
        let score = |i: usize| ((i * 31) % 17) as f32;
        let (mut a, mut b) = (TopK::new(25), TopK::new(25));
        for (i, id) in ids.iter().enumerate() {
            let t = if i % 2 == 0 { &mut a } else { &mut b };
            t.push(score(i), i, id);
        }
        a.merge(b);
        let mut all: Vec<usize> = (0..3000).collect();
        all.sort_by(|&x, &y| {
            score(y)
                .total_cmp(&score(x))
                .then_with(|| ids[y].cmp(&ids[x]))
        });
        let want: Vec<(usize, f32)> = all[..25].iter().map(|&i| (i, score(i))).collect();
        assert_eq!(a.into_sorted(), want);
        assert!(TopK::new(0).into_sorted().is_empty());
    }
}
