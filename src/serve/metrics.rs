//! Prometheus metrics at `/metrics`: requests by endpoint and status (and those
//! the client left before their answer ended), tokens in and out, the queue, and
//! latency histograms (whole request, first token).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::model::scheduler::Stats;

/// Bucket bounds in seconds: a chat reply on a warm model takes well under a
/// second to start, an article with translations a minute or more on a CPU.
const BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (c, b) in self.counts.iter_mut().zip(BUCKETS) {
            if v <= b {
                *c += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }
}

#[derive(Default)]
pub struct Metrics {
    /// (endpoint, status) -> count.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// endpoint -> requests whose client left before the answer ended.
    cancelled: Mutex<BTreeMap<&'static str, u64>>,
    /// endpoint -> histogram.
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    first_token: Mutex<BTreeMap<&'static str, Histogram>>,
}

/// Bounded label values: the routes, and `other` for anything else.
fn endpoint(path: &str) -> &'static str {
    match path {
        "/" => "/",
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/v1/models" => "/v1/models",
        "/v1/summarize" => "/v1/summarize",
        "/v1/translate" => "/v1/translate",
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/completions" => "/v1/completions",
        p if p.starts_with("/ui/") => "/ui",
        _ => "other",
    }
}

impl Metrics {
    /// A finished piece of work: its whole time, and when its first token came.
    pub fn latency(&self, path: &str, started: Instant, first_token: Option<Instant>) {
        let e = endpoint(path);
        let lock = |m: &Mutex<BTreeMap<&'static str, Histogram>>, v: f64| {
            m.lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(e)
                .or_default()
                .observe(v)
        };
        lock(&self.latency, started.elapsed().as_secs_f64());
        if let Some(t) = first_token {
            lock(&self.first_token, t.duration_since(started).as_secs_f64());
        }
    }
}

/// Status of a request whose client left before it was answered (nginx's).
const CLIENT_LEFT: u16 = 499;

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += 1;
}

/// Counts every request by endpoint and status, once it is answered or its
/// client has left (499; a non-streamed answer is only sent at its end), and as
/// cancelled if the client leaves before the whole answer is sent.
pub async fn count(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let e = endpoint(request.uri().path());
    let head = request.method() == Method::HEAD;
    // Dropped unanswered when the client leaves first (hyper drops this future).
    let mut unanswered = Unanswered(Some((state.clone(), e)));
    let response = next.run(request).await;
    unanswered.0 = None;
    bump(&state.metrics.requests, (e, response.status().as_u16()));
    if head {
        // Its body is never sent, by design.
        return response;
    }
    response.map(|body| {
        Body::new(Watched {
            body,
            left: Some((state, e)),
        })
    })
}

struct Unanswered(Option<(Shared, &'static str)>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some((state, e)) = self.0.take() {
            bump(&state.metrics.requests, (e, CLIENT_LEFT));
            bump(&state.metrics.cancelled, e);
        }
    }
}

/// An answer's body, which counts its request as cancelled if it is dropped
/// before its end (the client went away mid-stream).
struct Watched {
    body: Body,
    /// Until the end is reached.
    left: Option<(Shared, &'static str)>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let poll = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(poll, Poll::Ready(None)) || self.body.is_end_stream() {
            self.left = None;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.body.is_end_stream() {
            return;
        }
        if let Some((state, e)) = self.left.take() {
            bump(&state.metrics.cancelled, e);
        }
    }
}

/// `GET /metrics`, in Prometheus' text format.
pub async fn render(State(state): State<Shared>) -> Response {
    let m = &state.metrics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP abridge_requests_total HTTP requests by status (499: the client left \
         before the answer)."
    );
    let _ = writeln!(out, "# TYPE abridge_requests_total counter");
    for ((e, status), n) in m.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "abridge_requests_total{{endpoint=\"{e}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP abridge_requests_cancelled_total Requests whose client left before the \
         whole answer was sent (their work is stopped).\n\
         # TYPE abridge_requests_cancelled_total counter"
    );
    for (e, n) in m.cancelled.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "abridge_requests_cancelled_total{{endpoint=\"{e}\"}} {n}"
        );
    }
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge(
        &mut out,
        "abridge_requests_in_flight",
        "Requests admitted and not finished (running or waiting for the model).",
        state.slots.in_flight() as u64,
    );
    gauge(
        &mut out,
        "abridge_queue_capacity",
        "Requests admitted at most (--queue); more get 429.",
        state.slots.max() as u64,
    );
    let ready = state.engine.get();
    // Counted by the scheduler, so work a client cancelled midway counts too.
    let stats = ready.map(|e| &e.scheduler.stats);
    let load =
        |count: fn(&Stats) -> &AtomicU64| stats.map_or(0, |s| count(s).load(Ordering::Relaxed));
    counter(
        &mut out,
        "abridge_tokens_in_total",
        "Prompt tokens read by the model.",
        load(|s| &s.prompt_tokens),
    );
    counter(
        &mut out,
        "abridge_tokens_out_total",
        "Tokens generated.",
        load(|s| &s.generated_tokens),
    );
    if let Some(s) = stats {
        gauge(
            &mut out,
            "abridge_queue_length",
            "Generations waiting for a place in the batch.",
            s.queued.load(Ordering::Relaxed) as u64,
        );
        gauge(
            &mut out,
            "abridge_batch_active",
            "Generations in the batch.",
            s.active.load(Ordering::Relaxed) as u64,
        );
        counter(
            &mut out,
            "abridge_prompt_tokens_cached_total",
            "Prompt tokens whose KV came from the prefix cache instead of being computed.",
            s.cached_tokens.load(Ordering::Relaxed),
        );
    }
    gauge(
        &mut out,
        "abridge_ready",
        "1 once the model is loaded.",
        u64::from(ready.is_some()),
    );
    for (name, help, hist) in [
        (
            "abridge_request_duration_seconds",
            "Time from admission to the end of the answer.",
            &m.latency,
        ),
        (
            "abridge_time_to_first_token_seconds",
            "Time from admission to the first generated text.",
            &m.first_token,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (e, h) in hist.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "{name}_bucket{{endpoint=\"{e}\",le=\"{b}\"}} {c}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{endpoint=\"{e}\",le=\"+Inf\"}} {}\n{name}_sum{{endpoint=\"{e}\"}} {}\n{name}_count{{endpoint=\"{e}\"}} {}",
                h.count, h.sum, h.count
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
