//! Stemmers: Porter's (as Lucene's `PorterStemFilter`, with Martin Porter's own
//! departures from the 1980 paper) and the Snowball stemmers of many languages.

use nltk_porter::{Mode, PorterStemmer};
use rust_stemmers::Algorithm;

use crate::error::{Error, Result};

const SNOWBALL: &[(&str, Algorithm)] = &[
    ("arabic", Algorithm::Arabic),
    ("danish", Algorithm::Danish),
    ("dutch", Algorithm::Dutch),
    ("english", Algorithm::English),
    ("french", Algorithm::French),
    ("german", Algorithm::German),
    ("greek", Algorithm::Greek),
    ("hungarian", Algorithm::Hungarian),
    ("italian", Algorithm::Italian),
    ("norwegian", Algorithm::Norwegian),
    ("portuguese", Algorithm::Portuguese),
    ("romanian", Algorithm::Romanian),
    ("russian", Algorithm::Russian),
    ("spanish", Algorithm::Spanish),
    ("swedish", Algorithm::Swedish),
    ("tamil", Algorithm::Tamil),
    ("turkish", Algorithm::Turkish),
];

enum Kind {
    None,
    Porter(PorterStemmer),
    Snowball(rust_stemmers::Stemmer),
}

/// Reduces lower-cased words to their stems.
pub struct Stemmer {
    name: String,
    kind: Kind,
}

impl Stemmer {
    /// The stemmer called `name`: `porter` (Lucene's), `none`, or a Snowball
    /// language (`english` is Porter2, `french`, `german`, …).
    pub fn named(name: &str) -> Result<Self> {
        let kind = match name {
            "porter" => Kind::Porter(PorterStemmer::new(Mode::Martin)),
            "none" => Kind::None,
            other => match SNOWBALL.iter().find(|(n, _)| *n == other) {
                Some((_, algorithm)) => Kind::Snowball(rust_stemmers::Stemmer::create(*algorithm)),
                None => {
                    let known: Vec<&str> = SNOWBALL.iter().map(|(n, _)| *n).collect();
                    return Err(Error::InvalidArgument(format!(
                        "unknown stemmer `{other}` (known: porter, none, {})",
                        known.join(", ")
                    )));
                }
            },
        };
        Ok(Self {
            name: name.to_string(),
            kind,
        })
    }

    /// The stemmer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stem of `word` (already lower-cased).
    pub fn stem(&self, word: &str) -> String {
        match &self.kind {
            Kind::None => word.to_string(),
            // Lucene's Porter stemmer leaves words of up to two letters alone, and
            // does not lower-case (the analyser has done it).
            Kind::Porter(p) => p.stem(word),
            Kind::Snowball(s) => s.stem(word).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porter_is_lucenes_and_unknown_names_are_refused() {
        let p = Stemmer::named("porter").unwrap();
        // Martin Porter's departures, which Lucene's stemmer shares.
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("relational", "relat"),
            ("generalizations", "gener"),
            ("possibly", "possibl"),
            ("analogies", "analog"),
            ("running", "run"),
            ("is", "is"),
        ] {
            assert_eq!(p.stem(w), s, "{w}");
        }
        assert_eq!(
            Stemmer::named("english").unwrap().stem("generously"),
            "generous"
        );
        let err = Stemmer::named("klingon").err().unwrap().to_string();
        assert!(err.contains("unknown stemmer `klingon`"), "{err}");
    }
}
