//! A headless Chromium for end-to-end tests of the web console, driven over W3C WebDriver by
//! Debian's `chromedriver`, which each [`Browser`] starts on a free port and stops when dropped.
//!
//! WebDriver is plain JSON over HTTP, so the few commands the tests need are sent with the same
//! blocking `ureq` client as the rest of the helpers: tests stay synchronous, and no async
//! WebDriver stack has to be compiled.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The key under which WebDriver answers an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long `wait_*` keep polling before failing the test.
pub const UI_TIMEOUT: Duration = Duration::from_secs(15);

/// Where chromium and chromedriver are (Debian's packages `chromium`, `chromium-driver`).
fn program(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// A chromedriver process and one browser session in it.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
    /// Browser tests run one at a time (a Chromium each on a small machine).
    _serial: std::sync::MutexGuard<'static, ()>,
}

static BROWSER_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One element of the page, as WebDriver refers to it.
#[derive(Debug, Clone)]
pub struct Element {
    id: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, 1400×1000 pixels; `None`
    /// (the test is skipped) when they are not installed, unless `SIGNALBOX_TEST_REQUIRE_BROWSER=1`.
    pub fn start() -> Option<Browser> {
        let driver_bin = program("SIGNALBOX_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium_bin = program("SIGNALBOX_TEST_CHROMIUM", "/usr/bin/chromium");
        let installed = [&driver_bin, &chromium_bin].iter().all(|bin| std::path::Path::new(bin).exists());
        let what = "Chromium and chromedriver (Debian's `chromium` and `chromium-driver`)";
        if !crate::needs(what, "SIGNALBOX_TEST_REQUIRE_BROWSER", installed) {
            return None;
        }
        let serial = crate::serialized(&BROWSER_TESTS);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {driver_bin}: {e}"));
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1400,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium_bin, "args": args},
        }}});
        let mut browser =
            Browser { driver, base, session: String::new(), agent, _profile: profile, _serial: serial };
        let answer = browser.command("POST", "/session", Some(caps));
        browser.session = answer["sessionId"].as_str().expect("a session id").to_owned();
        Some(browser)
    }

    /// Sends one WebDriver command; answers its `value`, panicking with WebDriver's message.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = self.agent.request(method, &url);
        let res = match body {
            Some(b) => req.send_json(b),
            None if method == "POST" => req.send_json(json!({})),
            None => req.call(),
        };
        match res {
            Ok(r) => Ok(r.into_json::<Value>().map_err(|e| e.to_string())?["value"].take()),
            Err(ureq::Error::Status(code, r)) => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                Err(format!("{code} {}: {}", v["value"]["error"], v["value"]["message"]))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` in the page (`arguments[i]` are `args`); answers what it returns.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    /// Opens the console of the node at `node_url`, logs in from the keyboard (the key, then
    /// Enter) and waits for the shell to name the key.
    pub fn log_in(&self, node_url: &str, key: &str, key_name: &str) {
        self.goto(&format!("{node_url}/admin/ui/"));
        self.fill("form[name=login] input[name=key]", &format!("{key}\u{E007}"));
        self.wait_text("header.top .who", key_name);
    }

    /// Whether the page is wider than the window (it would scroll sideways): `false`, or the
    /// two widths.
    pub fn scrolls_sideways(&self) -> Value {
        self.script(
            "const d = document.documentElement;
             return d.scrollWidth > d.clientWidth ? `${d.scrollWidth} > ${d.clientWidth}` : false",
            json!([]),
        )
    }

    fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        let found =
            self.try_command("POST", "/elements", Some(json!({"using": "css selector", "value": css})))?;
        Ok(found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str())
                    .map(|id| Element { id: id.to_owned() })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// How many elements match `css` now.
    pub fn count(&self, css: &str) -> usize {
        self.find_all(css).map(|l| l.len()).unwrap_or(0)
    }

    /// The first element matching `css`, waiting for it to appear.
    #[track_caller]
    pub fn wait(&self, css: &str) -> Element {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            if let Some(e) = self.find_all(css).ok().and_then(|l| l.into_iter().next()) {
                return e;
            }
            if Instant::now() > deadline {
                panic!("no element `{css}` after {UI_TIMEOUT:?}; page text:\n{}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the text of the first element matching `css` contains `expected`.
    #[track_caller]
    pub fn wait_text(&self, css: &str, expected: &str) -> String {
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let text = self
                .find_all(css)
                .ok()
                .and_then(|l| l.into_iter().next())
                .and_then(|e| self.try_command("GET", &format!("/element/{}/text", e.id), None).ok())
                .and_then(|t| t.as_str().map(str::to_owned));
            if let Some(t) = text.filter(|t| t.contains(expected)) {
                return t;
            }
            if Instant::now() > deadline {
                panic!("`{css}` never contained {expected:?}; page text:\n{}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the page shows as text, for failure messages.
    pub fn page_text(&self) -> String {
        self.try_command(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return document.body.innerText", "args": []})),
        )
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
    }

    /// Waits for `css`, then clicks it.
    #[track_caller]
    pub fn click(&self, css: &str) {
        let e = self.wait(css);
        self.click_element(&e);
    }

    /// Waits for a button labelled `label` inside `scope`, then clicks it.
    #[track_caller]
    pub fn click_button(&self, scope: &str, label: &str) {
        let css = format!("{scope} button");
        let deadline = Instant::now() + UI_TIMEOUT;
        loop {
            let buttons = self.find_all(&css).unwrap_or_default();
            if let Some(b) = buttons.iter().find(|b| self.text(b).trim() == label) {
                return self.click_element(b);
            }
            if Instant::now() > deadline {
                panic!("no button {label:?} in `{scope}`; page text:\n{}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click_element(&self, e: &Element) {
        self.command("POST", &format!("/element/{}/click", e.id), None);
    }

    /// Replaces the value of the input or textarea `css` by typing `text`.
    #[track_caller]
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.wait(css);
        self.command("POST", &format!("/element/{}/clear", e.id), None);
        self.command("POST", &format!("/element/{}/value", e.id), Some(json!({"text": text})));
    }

    /// Chooses the option with `value` in the select `css`, as a user would click it.
    #[track_caller]
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"));
    }

    /// Accepts the `confirm()` dialog the last click opened, waiting for it to show.
    #[track_caller]
    pub fn accept_dialog(&self) {
        let deadline = Instant::now() + UI_TIMEOUT;
        while self.try_command("POST", "/alert/accept", None).is_err() {
            assert!(Instant::now() < deadline, "no dialog to accept; page text:\n{}", self.page_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sets the window's outer size in pixels, as a user resizing it would.
    pub fn resize(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// The text of an element.
    pub fn text(&self, e: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", e.id), None).as_str().unwrap_or_default().to_owned()
    }

    /// An attribute of an element.
    pub fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.command("GET", &format!("/element/{}/attribute/{name}", e.id), None).as_str().map(str::to_owned)
    }

    /// What the page logged as errors since the last call — script exceptions, blocked content
    /// (the Content-Security-Policy), failed module loads — leaving out the browser's own line
    /// for each HTTP error answer, which the console shows on the page instead.
    pub fn page_errors(&self) -> Vec<String> {
        let entries = self.command("POST", "/se/log", Some(json!({"type": "browser"})));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .filter_map(|e| e["message"].as_str())
            .filter(|m| !m.contains("Failed to load resource: the server responded with a status of"))
            .map(str::to_owned)
            .collect()
    }

    /// Writes a PNG of the window to `target/console-screenshots/<name>.png`; answers its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.command("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 screenshot"))
            .expect("valid base64");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }
}

/// `target/console-screenshots`, beside the build output.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_command("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
