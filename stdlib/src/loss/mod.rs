//! Training losses. Shared pieces (similarity matrices, the in-batch softmax)
//! live in `similarity`; each loss in its own file.

mod mnrl;
pub mod similarity;

pub use mnrl::MultipleNegativesRankingLoss;
