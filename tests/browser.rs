//! The editors' page in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`), against a real `abridge serve`
//! with the tiny model. Pastes the seed, asks for French, and checks that the
//! summary and the French section appear and that clicking a summary sentence
//! highlights its source sentences. Writes `target/serve-page.png`.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{seed_text, target_file, Server};
use serde_json::{json, Value};

/// WebDriver's key for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session: the few WebDriver commands the test needs.
struct Session {
    driver: Driver,
    id: String,
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let req = ureq::request(method, url).timeout(Duration::from_secs(120));
    let result = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let text = match result {
        Ok(r) => r.into_string().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!(
                "WebDriver {method} {url}: {code} {}",
                r.into_string().unwrap()
            )
        }
        Err(e) => panic!("WebDriver {method} {url}: {e}"),
    };
    serde_json::from_str::<Value>(&text).unwrap()["value"].take()
}

impl Session {
    fn start() -> Session {
        let chromium = find_program("CHROME", &["chromium", "chromium-browser", "google-chrome"]);
        let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
            panic!(
                "the browser test needs Chromium and its WebDriver: `apt-get install -y \
                 chromium chromium-driver` (.ci/run installs them), or set CHROME and \
                 CHROMEDRIVER to their paths"
            );
        };
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while ureq::get(&format!("{}/status", driver.base))
            .call()
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver never answered"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1100"],
            },
        }}});
        let value = call("POST", &format!("{}/session", driver.base), Some(caps));
        let id = value["sessionId"].as_str().unwrap().to_string();
        Session { driver, id }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.driver.base, self.id)
    }

    fn goto(&self, url: &str) {
        call("POST", &self.url("/url"), Some(json!({"url": url})));
    }

    fn find(&self, css: &str) -> String {
        let v = call(
            "POST",
            &self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{e}/click")),
            Some(json!({})),
        );
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    fn run(&self, script: &str) -> Value {
        call(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `script` until it returns something truthy.
    fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.run(script);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if start.elapsed() > timeout {
                let page = self.run("return document.body.innerText");
                panic!(
                    "timed out waiting for {what}; the page says:\n{}",
                    page.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn screenshot(&self) -> Vec<u8> {
        let v = call("GET", &self.url("/screenshot"), None);
        base64_decode(v.as_str().unwrap())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = ureq::delete(&self.url("")).call();
    }
}

/// Standard base64 (the screenshot's PNG).
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for group in bytes.chunks(4) {
        let n = group.iter().fold(0u32, |acc, &c| (acc << 6) | value(c)) << (6 * (4 - group.len()));
        out.extend(&n.to_be_bytes()[1..group.len()]);
    }
    out
}

#[test]
fn the_page_summarizes_the_seed_translates_and_highlights_sources() {
    let server = Server::start(&[]);
    let page = Session::start();
    page.goto(&server.url("/"));
    page.wait_for(
        "the model to show as ready",
        "return document.getElementById('model-status').textContent.startsWith('model:')",
        Duration::from_secs(60),
    );

    // Nothing pasted yet: a clear message, not a request.
    page.click("#summarize");
    let error = page
        .run("const e = document.getElementById('error'); return e.hidden ? '' : e.textContent");
    assert!(
        error.as_str().unwrap().contains("Paste an article"),
        "{error}"
    );

    page.type_into("#article", &seed_text());
    let pasted = page.run("return document.getElementById('article').value.length");
    assert!(pasted.as_u64().unwrap() > 2000, "{pasted}");
    page.click("#lang-fr");
    page.click("#summarize");

    // The summary streams in, then the French section appears and the run ends.
    page.wait_for(
        "the summary",
        "return document.querySelectorAll('#summary .sentence').length",
        Duration::from_secs(300),
    );
    let french = page.wait_for(
        "the French translation",
        "const s = document.querySelector('#translations section[data-lang=fr]'); return s && s.innerText",
        Duration::from_secs(300),
    );
    let french = french.as_str().unwrap();
    assert!(french.starts_with("French"), "{french}");
    // Published or not, the checks are shown.
    assert!(french.contains("language"), "{french}");
    page.wait_for(
        "the end of the run",
        "return document.getElementById('status').textContent.startsWith('Done')",
        Duration::from_secs(300),
    );
    let summary = page.run("return document.getElementById('summary').innerText");
    assert!(summary.as_str().unwrap().trim().len() > 20, "{summary}");
    let errors = page.run("return document.getElementById('error').hidden");
    assert_eq!(errors, json!(true), "an error is shown");

    // Clicking a grounded summary sentence highlights the sentences it cites.
    let cited = page.run(
        "const s = [...document.querySelectorAll('#summary .sentence')].find(e => e.dataset.sources);
         if (!s) return null;
         s.id = 'picked';
         return s.dataset.sources",
    );
    let cited = cited
        .as_str()
        .expect("no summary sentence cites the article")
        .to_string();
    page.click("#picked");
    let lit = page.run(
        "return [...document.querySelectorAll('#source .sentence.hl')].map(e => e.dataset.n).join(',')",
    );
    let lit = lit.as_str().unwrap();
    assert!(!lit.is_empty(), "nothing highlighted for sources {cited}");
    let mut want: Vec<&str> = cited.split(',').collect();
    let mut got: Vec<&str> = lit.split(',').collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let copy_enabled = page.run("return !document.getElementById('copy').disabled");
    assert_eq!(copy_enabled, json!(true));
    let copied = page.run("return toMarkdown()");
    let copied = copied.as_str().unwrap();
    assert!(copied.starts_with("## Summary\n\n"), "{copied}");
    assert!(
        copied.contains(&format!("- **S{}** (¶", got[0])),
        "{copied}"
    );

    let png = page.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = target_file("serve-page.png");
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot of the page: {}", path.display());
}
