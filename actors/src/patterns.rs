//! An endpoint's `pub=` / `sub=` permissions: anchored globs, tried in order, first match wins.
//! `*` matches within one `/`-separated level, `**` across levels, `?` one character.

use globset::{GlobBuilder, GlobMatcher};
use signalbox_schema::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pub,
    Sub,
}

/// What an endpoint may do: its role, then its `pub=` / `sub=` lines. The one check every path
/// makes (REST, WSX, services and file channels publishing as an endpoint, admin actions on its
/// behalf).
#[derive(Debug, Clone)]
pub struct Permissions {
    role: Role,
    patterns: Patterns,
}

impl Permissions {
    /// An endpoint's stored role and pattern lines. The lines were validated when stored; one
    /// that no longer parses allows nothing.
    pub fn of(role: Role, stored_patterns: &str) -> Permissions {
        Permissions { role, patterns: Patterns::from_stored(stored_patterns).unwrap_or_default() }
    }

    /// Role first, then the lines in order; the first match wins and is answered.
    pub fn allowed(&self, access: Access, topic: &str) -> Option<&str> {
        let role_allows = match access {
            Access::Pub => self.role.may_publish(),
            Access::Sub => self.role.may_subscribe(),
        };
        role_allows.then(|| self.patterns.matching(access, topic)).flatten()
    }
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

    #[test]
    fn permissions_check_the_role_before_the_lines_and_answer_the_line_that_matched() {
        let lines = "sub=/a/**\npub=/a/*\npub=/b/**";
        let both = Permissions::of(Role::PubSub, lines);
        assert_eq!(both.allowed(Access::Pub, "/a/x"), Some("pub=/a/*"));
        assert_eq!(both.allowed(Access::Sub, "/a/x/y"), Some("sub=/a/**"));
        assert_eq!(both.allowed(Access::Pub, "/a/x/y"), None, "`*` stays within one level");
        assert_eq!(both.allowed(Access::Sub, "/b/x"), None, "a pub= line does not let anyone subscribe");
        let publisher = Permissions::of(Role::PubOnly, lines);
        assert_eq!(publisher.allowed(Access::Pub, "/b/c"), Some("pub=/b/**"));
        assert_eq!(publisher.allowed(Access::Sub, "/a/x"), None, "the role forbids what a line allows");
        let subscriber = Permissions::of(Role::SubOnly, lines);
        assert_eq!(subscriber.allowed(Access::Pub, "/a/x"), None);
        assert_eq!(subscriber.allowed(Access::Sub, "/a/x"), Some("sub=/a/**"));
        assert_eq!(Permissions::of(Role::PubSub, "nonsense").allowed(Access::Pub, "/a/x"), None);
    }

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
