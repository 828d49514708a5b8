//! An endpoint's `pub=` / `sub=` permissions: anchored globs, tried in order, first match wins.
//! `*` matches within one `/`-separated level, `**` across levels, `?` one character.

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pub,
    Sub,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The whole line, e.g. `pub=/customer/*`; recorded as the pattern that matched.
    line: String,
    access: Access,
    glob: GlobMatcher,
}

#[derive(Debug, Clone, Default)]
pub struct Patterns {
    rules: Vec<Rule>,
}

impl Patterns {
    /// Parses pattern lines; a line that is not `pub=GLOB` or `sub=GLOB`, or a bad glob, is an error.
    pub fn parse<S: AsRef<str>>(lines: &[S]) -> Result<Patterns, String> {
        let mut rules = Vec::with_capacity(lines.len());
        for raw in lines {
            let line = raw.as_ref().trim();
            let (access, glob) = if let Some(g) = line.strip_prefix("pub=") {
                (Access::Pub, g)
            } else if let Some(g) = line.strip_prefix("sub=") {
                (Access::Sub, g)
            } else {
                return Err(format!("topic pattern `{line}` must start with `pub=` or `sub=`"));
            };
            if glob.is_empty() {
                return Err(format!("topic pattern `{line}` has an empty glob"));
            }
            let glob = GlobBuilder::new(glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| format!("topic pattern `{line}`: {e}"))?
                .compile_matcher();
            rules.push(Rule { line: line.to_owned(), access, glob });
        }
        Ok(Patterns { rules })
    }

    /// Parses the newline-separated form kept in the database.
    pub fn from_stored(text: &str) -> Result<Patterns, String> {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        Patterns::parse(&lines)
    }

    /// The first rule of `access` that matches `topic`, as its full line.
    pub fn matching(&self, access: Access, topic: &str) -> Option<&str> {
        self.rules.iter().find(|r| r.access == access && r.glob.is_match(topic)).map(|r| r.line.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lines: &[&str]) -> Patterns {
        Patterns::parse(lines).unwrap()
    }

    #[test]
    fn star_stays_within_one_level_and_is_anchored() {
        let pats = p(&["pub=/customer/*"]);
        assert_eq!(pats.matching(Access::Pub, "/customer/new"), Some("pub=/customer/*"));
        assert_eq!(pats.matching(Access::Pub, "/customer/new/x"), None);
        assert_eq!(pats.matching(Access::Pub, "/customers/new"), None);
        assert_eq!(pats.matching(Access::Sub, "/customer/new"), None);
    }

    #[test]
    fn double_star_crosses_levels_and_first_match_wins() {
        let pats = p(&["sub=/a/**", "sub=/a/b"]);
        assert_eq!(pats.matching(Access::Sub, "/a/b"), Some("sub=/a/**"));
        assert_eq!(pats.matching(Access::Sub, "/a/b/c/d"), Some("sub=/a/**"));
        assert_eq!(p(&["pub=/x?"]).matching(Access::Pub, "/xy"), Some("pub=/x?"));
    }

    #[test]
    fn lines_without_a_prefix_are_refused() {
        assert!(Patterns::parse(&["/a/*"]).is_err());
        assert!(Patterns::parse(&["pub="]).is_err());
    }
}

/// Bounded, seeded fuzzing of pattern parsing and matching; run longer with
/// `PROPTEST_CASES=100000 cargo test -p signalbox-actors --lib fuzz`.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;

    /// `cases` unless `PROPTEST_CASES` says otherwise; a fixed seed unless `PROPTEST_RNG_SEED`
    /// names one; no regression files.
    fn config(cases: u32) -> ProptestConfig {
        let defaults = ProptestConfig::default();
        ProptestConfig {
            cases: if std::env::var_os("PROPTEST_CASES").is_some() { defaults.cases } else { cases },
            rng_seed: match defaults.rng_seed {
                RngSeed::Random => RngSeed::Fixed(0x5167_6e61_6c62_6f78),
                seed => seed,
            },
            failure_persistence: None,
            ..defaults
        }
    }

    /// Lines that are mostly glob syntax, some with a valid prefix, some with anything at all.
    fn pattern_line() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => ("(pub|sub)=", r"[*?{}\[\]\\/!^,a-c.-]{0,24}").prop_map(|(p, g)| format!("{p}{g}")),
            1 => any::<String>(),
            1 => r"\s*(pub|sub|PUB)?=?\PC{0,30}",
        ]
    }

    /// A valid topic name (printable ASCII, no space) without glob characters `*?[]{}\`.
    fn literal_topic() -> impl Strategy<Value = String> {
        r"[!-)+->@-Z\^-z|~]{1,80}"
    }

    proptest! {
        #![proptest_config(config(3000))]

        #[test]
        fn parsing_and_matching_arbitrary_lines_never_panics(
            lines in prop::collection::vec(pattern_line(), 0..6),
            topics in prop::collection::vec(any::<String>(), 0..4),
            stored in any::<String>(),
        ) {
            let _ = Patterns::from_stored(&stored);
            if let Ok(patterns) = Patterns::parse(&lines) {
                for topic in &topics {
                    for access in [Access::Pub, Access::Sub] {
                        if let Some(line) = patterns.matching(access, topic) {
                            prop_assert!(lines.iter().any(|l| l.trim() == line));
                        }
                    }
                }
            }
        }

        #[test]
        fn a_literal_pattern_matches_exactly_its_topic(
            topic in literal_topic(),
            other in literal_topic(),
        ) {
            let line = format!("pub={topic}");
            let patterns = Patterns::parse(&[&line]).map_err(TestCaseError::fail)?;
            prop_assert_eq!(patterns.matching(Access::Pub, &topic), Some(line.as_str()));
            prop_assert_eq!(patterns.matching(Access::Sub, &topic), None);
            if other != topic {
                prop_assert_eq!(patterns.matching(Access::Pub, &other), None);
            }
            let longer = format!("{topic}/x");
            prop_assert_eq!(patterns.matching(Access::Pub, &longer), None);
        }
    }
}
