//! Permission patterns (`pub=` / `sub=` globs of an endpoint): the input's lines are parsed as
//! patterns and as the stored form, and its last line is matched as a topic name. Never a
//! panic; a match always names one of the lines given. The same property as
//! `parsing_and_matching_arbitrary_lines_never_panics` in broker/src/fuzz_tests.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signalbox_actors::patterns::{Access, Patterns};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Patterns::from_stored(text);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let topic = lines.pop().unwrap_or_default();
    if let Ok(patterns) = Patterns::parse(&lines) {
        for access in [Access::Pub, Access::Sub] {
            if let Some(line) = patterns.matching(access, topic) {
                assert!(lines.iter().any(|l| l.trim() == line), "matched {line:?}, not a line given");
            }
        }
    }
});
