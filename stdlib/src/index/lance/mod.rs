//! LanceDB as an index back-end: the factory strings (always), the index itself
//! with the `lancedb` feature.

mod spec;
#[cfg(feature = "lancedb")]
mod table;

pub use spec::{LANCE, LanceAnn, LanceSpec};
#[cfg(feature = "lancedb")]
pub use table::LanceIndex;

/// Whether `factory` names a LanceDB index (`lance` or `lance:TYPE...`).
pub fn is_lance(factory: &str) -> bool {
    factory == LANCE || factory.starts_with("lance:")
}

/// The error for a LanceDB index type in a build without the feature.
#[cfg(not(feature = "lancedb"))]
pub(crate) fn without_lancedb(factory: &str) -> crate::error::Error {
    crate::error::Error::InvalidArgument(format!(
        "index type \"{factory}\" is not available: LanceDB indexes need a build with `--features lancedb`"
    ))
}
