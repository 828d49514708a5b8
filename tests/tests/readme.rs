//! The README's walkthrough, run as a newcomer runs it: every ```` ```sh ```` block, in order, in
//! one bash (`set -euo pipefail`), against a fresh SQLite node — so the README cannot drift from
//! the code.
//!
//! The marker convention, which the README states too:
//! - a ```` ```sh ```` block is run; `console`, `text`, `json`, `toml` and the like never are;
//! - a ```` ```sh ```` block that cannot run here (a foreground node, PostgreSQL, a release build)
//!   is preceded by the line `<!-- not run: <reason> -->`;
//! - every fence names its language, and `bash` / `shell` are refused: a shell example is either
//!   run or says why not, never skipped by accident.
//!
//! The harness stands in for the README's first start: it starts the node with its data
//! directory at `./data` of the walkthrough's working directory (where the README reads
//! `data/admin.key`), sets `SB` to the node's address and `PORT_B` to a free port for the second
//! node of the links section (both are variables the README reads, with its own defaults), and
//! puts the `signalbox` binary on `PATH`. curl is told to fail on an HTTP error (a `.curlrc` with
//! `fail-with-body`), so an example answered 4xx/5xx fails the run with the error's body.
//!
//! Needs `curl` and `jq`; without them the test says so in one line and passes, unless
//! `SIGNALBOX_TEST_REQUIRE_README=1` (as `.ci/run` sets).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use signalbox_tests::{binary, free_addr, needs, Node, NodeOptions};

const README: &str = include_str!("../../README.md");

/// The whole walkthrough must finish well within this; a hung example fails the test.
const DEADLINE: Duration = Duration::from_secs(120);

/// One fenced code block of the README.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    /// The fence's language tag (`sh`, `console`, …).
    lang: String,
    /// 1-based README line of the opening fence.
    line: usize,
    text: String,
    /// The reason given by a `<!-- not run: … -->` line just before the fence.
    not_run: Option<String>,
}

/// Every fenced block of `markdown`, in order; refuses fences without a language, `bash` and
/// `shell` fences, empty reasons, and `not run` markers that do not stand just before a fence.
fn blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if let Some(rest) = line.trim_start().strip_prefix("<!-- not run") {
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
            if next != "```sh" {
                return Err(format!(
                    "line {}: a `not run` marker must stand just before a ```sh fence",
                    i + 1
                ));
            }
            let reason = rest.trim_start_matches(':').trim().trim_end_matches("-->").trim();
            if reason.is_empty() {
                return Err(format!("line {}: `not run` needs a reason", i + 1));
            }
        }
        let Some(lang) = line.trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let lang = lang.trim().to_owned();
        if lang.is_empty() {
            return Err(format!("line {}: a fence without a language (use sh, console, text, …)", i + 1));
        }
        if ["bash", "shell", "zsh"].contains(&lang.as_str()) {
            return Err(format!("line {}: ```{lang} is not run; use ```sh (run, or marked not run)", i + 1));
        }
        let not_run = i
            .checked_sub(1)
            .and_then(|p| lines[p].trim().strip_prefix("<!-- not run:"))
            .map(|r| r.trim_end_matches("-->").trim().to_owned());
        let start = i;
        let mut text = String::new();
        i += 1;
        while i < lines.len() && lines[i].trim() != "```" {
            text.push_str(lines[i]);
            text.push('\n');
            i += 1;
        }
        if i == lines.len() {
            return Err(format!("line {}: a fence that is never closed", start + 1));
        }
        out.push(Block { lang, line: start + 1, text, not_run });
        i += 1;
    }
    Ok(out)
}

/// The blocks the walkthrough runs.
fn runnable(blocks: &[Block]) -> Vec<&Block> {
    blocks.iter().filter(|b| b.lang == "sh" && b.not_run.is_none()).collect()
}

/// One script of the runnable blocks, each announced by a marker line that failures are traced
/// back to.
fn script(run: &[&Block]) -> String {
    let mut out = String::from(
        "set -Eeuo pipefail\nshopt -s inherit_errexit\n\
         trap 'echo \"::failed:: exit $? at: $BASH_COMMAND\"' ERR\n",
    );
    for (n, block) in run.iter().enumerate() {
        out.push_str(&format!("echo '::block {n}::'\n{}", block.text));
    }
    out.push_str("echo '::done::'\n");
    out
}

fn tool_here(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn fences_markers_and_reasons_are_read_as_the_convention_says() {
    let md = "text\n```sh\necho run\n```\n<!-- not run: needs PostgreSQL -->\n```sh\ncreatedb x\n```\n\
              ```console\n$ signalbox serve\n```\n";
    let found = blocks(md).unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!((found[0].line, found[0].text.as_str(), found[0].not_run.as_deref()), (2, "echo run\n", None));
    assert_eq!(found[1].not_run.as_deref(), Some("needs PostgreSQL"));
    assert_eq!(runnable(&found), vec![&found[0]]);
    assert!(blocks("```\nx\n```\n").unwrap_err().contains("without a language"));
    assert!(blocks("```bash\nx\n```\n").unwrap_err().contains("use ```sh"));
    assert!(blocks("<!-- not run: -->\n```sh\nx\n```\n").unwrap_err().contains("needs a reason"));
    assert!(blocks("<!-- not run: why -->\n\n```sh\nx\n```\n").unwrap_err().contains("just before"));
    assert!(blocks("```sh\nx\n").unwrap_err().contains("never closed"));
}

#[test]
fn every_shell_block_of_the_readme_runs_in_order_against_a_fresh_node() {
    let all = blocks(README).unwrap_or_else(|e| panic!("README.md: {e}"));
    let run = runnable(&all);
    assert!(run.len() >= 10, "only {} runnable blocks found: the marker convention changed?", run.len());
    if !needs(
        "curl and jq (the README's examples)",
        "SIGNALBOX_TEST_REQUIRE_README",
        tool_here("curl") && tool_here("jq"),
    ) {
        return;
    }

    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path();
    let node = Node::start_with(NodeOptions { data_dir: Some(dir.join("data")), ..NodeOptions::default() });
    std::fs::write(dir.join(".curlrc"), "fail-with-body\nshow-error\nmax-time = 20\n")
        .expect("write .curlrc");
    std::fs::write(dir.join("readme.sh"), script(&run)).expect("write the script");
    let output_path = dir.join("readme.out");
    let output = File::create(&output_path).expect("output file");

    let bin_dir = binary().parent().expect("binary's directory").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let started = Instant::now();
    // Its own process group, so that a node the README starts in the background goes with it.
    let mut bash = Command::new("bash")
        .arg("readme.sh")
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .env("CURL_HOME", dir)
        .env("LANG", "C.UTF-8")
        .env("SB", &node.url)
        .env("PORT_B", free_addr().rsplit_once(':').expect("host:port").1)
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("output handle"))
        .stderr(output)
        .process_group(0)
        .spawn()
        .expect("run bash");
    let status = loop {
        if let Some(status) = bash.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever the README left running (its second node) goes too.
    unsafe {
        libc::kill(-(bash.id() as i32), libc::SIGKILL);
    }
    let _ = bash.wait();
    let out = std::fs::read_to_string(&output_path).unwrap_or_default();
    let passed = status.is_some_and(|s| s.success()) && out.ends_with("::done::\n");
    if !passed {
        let why = match status {
            None => format!("did not finish within {} s", DEADLINE.as_secs()),
            Some(s) => format!("failed ({s})"),
        };
        panic!("{}", failure_report(&run, &out, &why, &node.log_path()));
    }
}

/// The failing block (its README line and text) and what it printed.
fn failure_report(run: &[&Block], out: &str, why: &str, node_log: &Path) -> String {
    let last = out.rmatch_indices("::block ").next();
    let (index, printed) = match last {
        Some((at, _)) => {
            let rest = &out[at + "::block ".len()..];
            let (number, after) = rest.split_once("::\n").unwrap_or((rest, ""));
            (number.parse::<usize>().ok(), after)
        }
        None => (None, out),
    };
    let block = match index.and_then(|n| run.get(n)) {
        Some(b) => format!("the block at README.md line {}:\n```sh\n{}```", b.line, b.text),
        None => "before the first block".to_owned(),
    };
    let log = std::fs::read_to_string(node_log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
    format!(
        "README walkthrough {why} in {block}\n--- its output ---\n{printed}\n--- the node's last log lines ---\n{}",
        tail.join("\n")
    )
}
