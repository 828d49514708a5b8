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
        assert_eq!(
            Patterns::parse(&["/a/*"]).err().unwrap(),
            "topic pattern `/a/*` must start with `pub=` or `sub=`"
        );
        assert_eq!(Patterns::parse(&["pub="]).err().unwrap(), "topic pattern `pub=` has an empty glob");
    }
}
