//! The one reader of a node's `/metrics` for the tests: the Prometheus text exposition parsed
//! into samples, so a test reads a series by its exact name and labels (a prefix match would
//! read `…} 1` out of `…} 10`), sums a family over some of its labels, or lists the names a
//! node exports.

use std::collections::BTreeSet;

use crate::{Http, Node};

/// One sample line: `name{label="value",…} number`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// In the node's order, values unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The series as exposed, `name{labels}` (or `name` alone), for exact look-ups.
    pub series: String,
}

/// A node's `/metrics` at one moment, parsed. Every sample line must parse: a line that does
/// not is a broken exposition and fails the test.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    /// `# TYPE` lines: family name → type (`counter`, `gauge`, `histogram`, …).
    pub types: Vec<(String, String)>,
}

impl Metrics {
    /// `GET /metrics` on `node` without credentials.
    pub fn of(node: &Node) -> Metrics {
        Metrics::fetch(&node.http())
    }

    /// `GET /metrics` through `http` (with an admin key, where the node asks for one).
    pub fn fetch(http: &Http) -> Metrics {
        let (status, text, _) = http.raw("GET", "/metrics", None);
        assert_eq!(status, 200, "GET /metrics: {text}");
        Metrics::parse(text.as_str().expect("metrics as text"))
    }

    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        let mut types = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let words: Vec<&str> = comment.split_whitespace().collect();
                if let ["TYPE", name, kind] = words.as_slice() {
                    types.push((name.to_string(), kind.to_string()));
                }
                continue;
            }
            samples.push(parse_sample(line).unwrap_or_else(|why| panic!("not a sample ({why}): {line}")));
        }
        Metrics { samples, types }
    }

    /// The value of one series, named exactly as exposed (`name{labels}`, labels in the node's
    /// order); `None` when the node does not expose it.
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.samples.iter().find(|s| s.series == series).map(|s| s.value)
    }

    /// The sum of every sample named `name` whose labels include each of `labels` (a family
    /// across the labels left out, e.g. a counter over every topic).
    pub fn metric_sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v)))
            .map(|s| s.value)
            .sum()
    }

    /// The names of every series exposed (histograms as `_bucket`, `_sum` and `_count`).
    pub fn metric_names(&self) -> BTreeSet<String> {
        self.samples.iter().map(|s| s.name.clone()).collect()
    }

    /// The type a `# TYPE` line gives the family `name`.
    pub fn type_of(&self, name: &str) -> Option<&str> {
        self.types.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str())
    }
}

/// The value of one series of `node`'s `/metrics`, named exactly as exposed; `None` when the
/// node does not expose it. See [`Metrics`] for several reads of one moment.
pub fn metric(node: &Node, series: &str) -> Option<f64> {
    Metrics::of(node).metric(series)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(format!("bad name `{name}`"));
    }
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(mut inside) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inside.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after_key) = inside.split_once("=\"").ok_or("a label without =\"")?;
            let mut value = String::new();
            let mut chars = after_key.char_indices();
            let end = loop {
                match chars.next().ok_or("an unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.to_owned(), value));
            inside = &after_key[end + 1..];
            inside = inside.strip_prefix(',').unwrap_or(inside);
        }
    }
    let series = line[..line.len() - rest.len()].to_owned();
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| format!("`{v}` is not a number"))?,
    };
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| format!("`{timestamp}` is not a timestamp"))?;
    }
    if fields.next().is_some() {
        return Err("more than a value and a timestamp".into());
    }
    Ok(Sample { name: name.to_owned(), labels, value, series })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_read_exactly_and_summed_over_the_labels_left_out() {
        let m = Metrics::parse(
            "# HELP x_total X.\n# TYPE x_total counter\n\
             x_total{gd=\"true\",topic=\"/a\"} 1\n\
             x_total{gd=\"true\",topic=\"/a,b}\\\"\"} 10\n\
             x_total{gd=\"false\",topic=\"/a\"} 100\n\
             up 1\n",
        );
        assert_eq!(m.metric("x_total{gd=\"true\",topic=\"/a\"}"), Some(1.0));
        assert_eq!(m.metric("x_total{gd=\"true\",topic=\"/"), None, "a prefix is not a series");
        assert_eq!(m.metric_sum("x_total", &[("gd", "true")]), 11.0);
        assert_eq!(m.metric_sum("x_total", &[("topic", "/a,b}\"")]), 10.0);
        assert_eq!(m.metric_sum("x_total", &[]), 111.0);
        assert_eq!(m.metric("up"), Some(1.0));
        assert_eq!(m.metric_names(), ["up", "x_total"].into_iter().map(String::from).collect());
        assert_eq!(m.type_of("x_total"), Some("counter"));
    }

    #[test]
    #[should_panic(expected = "not a sample")]
    fn a_line_that_is_not_a_sample_fails() {
        Metrics::parse("x_total{gd=\"true\" 1\n");
    }
}
