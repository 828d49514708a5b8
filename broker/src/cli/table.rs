//! Aligned tables for humans; `--json` skips this.

use serde_json::Value;

/// A list of objects as rows of `columns` (all keys when empty); one object as `key  value` lines.
pub fn render(value: &Value, columns: &[&str]) -> String {
    match value {
        Value::Array(rows) => {
            let columns: Vec<String> = if columns.is_empty() {
                rows.first()
                    .and_then(Value::as_object)
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            } else {
                columns.iter().map(|c| c.to_string()).collect()
            };
            let cells: Vec<Vec<String>> =
                rows.iter().map(|row| columns.iter().map(|c| cell(&row[c.as_str()])).collect()).collect();
            let widths: Vec<usize> = columns
                .iter()
                .enumerate()
                .map(|(i, c)| cells.iter().map(|r| r[i].len()).chain([c.len()]).max().unwrap_or(0))
                .collect();
            let line = |items: &[String]| {
                items
                    .iter()
                    .zip(&widths)
                    .map(|(s, w)| format!("{s:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
            };
            let mut out = vec![line(&columns.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>())];
            out.extend(cells.iter().map(|r| line(r)));
            out.join("\n")
        }
        Value::Object(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            map.iter().map(|(k, v)| format!("{k:<width$}  {}", cell(v))).collect::<Vec<_>>().join("\n")
        }
        other => cell(other),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
