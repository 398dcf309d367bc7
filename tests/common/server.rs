//! A real `abridge serve` process on 127.0.0.1 and a plain HTTP client for it,
//! shared by the API and browser tests.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{abridge, model_path, SMOLLM2};

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    _hf: tempfile::TempDir,
}

impl Server {
    /// `abridge serve --model <tiny> --port 0 ARGS...`, once its model is loaded.
    pub fn start(args: &[&str]) -> Server {
        let server = Self::spawn(args);
        server.wait_ready(Duration::from_secs(300));
        server
    }

    /// The same, returning as soon as it listens (the model may still be loading).
    pub fn spawn(args: &[&str]) -> Server {
        let hf = tempfile::tempdir().unwrap();
        let mut child = abridge(hf.path())
            .args(["serve", "--host", "127.0.0.1", "--port", "0", "--model"])
            .arg(model_path(SMOLLM2))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("abridge serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("abridge: listening on ")
            .unwrap_or_else(|| panic!("no listening line from abridge serve: {line:?}"))
            .to_string();
        Server {
            child,
            base,
            _hf: hf,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits until `/health` says 200.
    pub fn wait_ready(&self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if get(&self.url("/health")).0 == 200 {
                return;
            }
            assert!(start.elapsed() < timeout, "the server never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// A gauge or counter from `/metrics` (summed over its labels).
    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = get(&self.url("/metrics"));
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Server {
    /// One series of `/metrics`, labels and all (`name{label="v"}`); 0 if absent.
    pub fn series(&self, series: &str) -> f64 {
        let (_, body) = get(&self.url("/metrics"));
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until `series` reaches `want` (counters move once work notices).
    pub fn wait_series(&self, series: &str, want: f64) {
        let start = Instant::now();
        loop {
            let got = self.series(series);
            if got >= want {
                assert_eq!(got, want, "{series}");
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{series} is {got}, not {want}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .build()
}

/// Status and body text; error statuses are answers too.
fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("HTTP request failed: {e}"),
    }
}

pub fn get(url: &str) -> (u16, String) {
    get_with(url, &[])
}

/// GETs with extra headers.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    answer(req.call())
}

/// POSTs `body` (sent as is) with extra headers; returns the response, whatever its status.
pub fn post_raw(url: &str, headers: &[(&str, &str)], body: &str) -> ureq::Response {
    let mut req = agent().post(url).set("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_string(body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("HTTP request failed: {e}"),
    }
}

/// POSTs JSON and returns status and body text.
pub fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> (u16, String) {
    let r = post_raw(url, headers, &body.to_string());
    (r.status(), r.into_string().unwrap())
}

/// POSTs JSON and parses the JSON answer.
pub fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let (status, text) = post(url, &[], body);
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// One Server-Sent Event: its type (empty when unnamed) and data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// Reads events from an SSE stream as they come, calling `on_event` for each
/// until it returns false or the stream ends; comments (keep-alives) are skipped.
pub fn read_sse(reader: impl Read, mut on_event: impl FnMut(SseEvent) -> bool) {
    let mut event = String::new();
    let mut data: Vec<String> = Vec::new();
    for line in BufReader::new(reader).lines() {
        let line = line.unwrap();
        if line.is_empty() {
            if !data.is_empty() {
                let e = SseEvent {
                    event: std::mem::take(&mut event),
                    data: data.join("\n"),
                };
                data.clear();
                if !on_event(e) {
                    return;
                }
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = value.to_string(),
            "data" => data.push(value.to_string()),
            _ => {}
        }
    }
}

/// Every event of a whole SSE answer.
pub fn sse_events(response: ureq::Response) -> Vec<SseEvent> {
    let mut all = Vec::new();
    read_sse(response.into_reader(), |e| {
        all.push(e);
        true
    });
    all
}

/// The seed article (`seeds/`).
pub fn seed_text() -> String {
    std::fs::read_to_string(super::seed()).unwrap()
}

/// A file in `target/` for people to look at (screenshots).
pub fn target_file(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
