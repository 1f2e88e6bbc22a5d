//! Bounded top-k selection with the evaluator's order (score desc, id desc).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate: score and the index of its doc (for the id tie-break).
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    score: f32,
    doc: usize,
    id: &'a str,
}

impl Entry<'_> {
    /// "Better" ranks first: higher score, then larger id (trec_eval's tie order).
    fn better(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| self.id.as_bytes().cmp(other.id.as_bytes()))
    }
}

impl PartialEq for Entry<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.better(o) == Ordering::Equal
    }
}
impl Eq for Entry<'_> {}
impl PartialOrd for Entry<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry<'_> {
    // Reversed so the heap's top is the worst kept entry.
    fn cmp(&self, o: &Self) -> Ordering {
        o.better(self)
    }
}

/// Keeps the `k` best (score, doc) pairs seen.
pub struct TopK<'a> {
    k: usize,
    heap: BinaryHeap<Entry<'a>>,
}

impl<'a> TopK<'a> {
    /// An empty selection of size `k`.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Offers doc `doc` (id `id`) with `score`.
    #[inline]
    pub fn push(&mut self, score: f32, doc: usize, id: &'a str) {
        if self.k == 0 {
            return;
        }
        let e = Entry { score, doc, id };
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if let Some(worst) = self.heap.peek()
            && e.better(worst) == Ordering::Greater
        {
            self.heap.pop();
            self.heap.push(e);
        }
    }

    /// The score a candidate must reach to be considered: the worst kept score
    /// once `k` are kept (ties are decided by [`TopK::push`]), else -infinity.
    #[inline]
    pub fn threshold(&self) -> f32 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() == self.k => worst.score,
            _ if self.k == 0 => f32::INFINITY,
            _ => f32::NEG_INFINITY,
        }
    }

    /// Adds every candidate kept by `other`.
    pub fn merge(&mut self, other: TopK<'a>) {
        for e in other.heap {
            self.push(e.score, e.doc, e.id);
        }
    }

    /// The kept `(doc, score)` pairs, best first.
    pub fn into_sorted(self) -> Vec<(usize, f32)> {
        let mut v = self.heap.into_vec();
        v.sort_by(|a, b| b.better(a));
        v.into_iter().map(|e| (e.doc, e.score)).collect()
    }
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
}
