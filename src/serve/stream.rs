//! One request's results as a channel of frames, answered in the form the client
//! asked for: Server-Sent Events (the default), NDJSON (`Accept:
//! application/x-ndjson`) or, with `"stream": false`, one JSON object.
//!
//! The work sends frames as they come; the handler waits for the first one, so an
//! error found before any result (a bad option, an article over the limit) is a
//! real HTTP status, and one found later is an `error` frame in the stream. A
//! client that goes away drops the receiver, which the work sees and stops.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::error::Error;

/// What the work sends back.
pub enum Msg {
    /// One event: `name` is the SSE event type (`None` for OpenAI's unnamed chunks).
    Frame {
        name: Option<&'static str>,
        data: Value,
    },
    /// The final result: the end of a stream, the body of a non-streamed answer.
    Final { name: &'static str, data: Value },
    /// It failed.
    Fail(ApiError),
}

pub type Tx = UnboundedSender<Msg>;

/// How the client wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sse,
    Ndjson,
    Json,
}

impl Format {
    pub fn of(headers: &HeaderMap, stream: Option<bool>) -> Self {
        if stream == Some(false) {
            return Format::Json;
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("application/x-ndjson") {
            Format::Ndjson
        } else {
            Format::Sse
        }
    }
}

/// An error as the API reports it: a status and OpenAI's error shape,
/// `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field at fault, if one is.
    pub param: Option<String>,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }

    pub fn with_param(mut self, field: impl Into<String>) -> Self {
        self.param = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn kind(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 => "unavailable",
            499 => "cancelled",
            504 => "timeout",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind(),
            "param": self.param,
            "code": self.status.as_u16(),
        }})
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Input(_) | Error::Context(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Deadline(_) => StatusCode::GATEWAY_TIMEOUT,
            // Nobody reads it; the status is for the logs and metrics.
            Error::Cancelled(_) => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The answer to a request whose work sends on the other end of `rx`. `done`
/// is the SSE line that ends a stream (OpenAI's `[DONE]`), if any.
pub async fn respond(
    mut rx: UnboundedReceiver<Msg>,
    format: Format,
    done: Option<&'static str>,
) -> Response {
    let first = match rx.recv().await {
        Some(Msg::Fail(e)) => return e.into_response(),
        Some(msg) => msg,
        None => {
            return ApiError::from(Error::Model("the request's work stopped".into()))
                .into_response()
        }
    };
    if format == Format::Json {
        let mut msg = first;
        loop {
            match msg {
                Msg::Final { data, .. } => return axum::Json(data).into_response(),
                Msg::Fail(e) => return e.into_response(),
                Msg::Frame { .. } => {}
            }
            msg = match rx.recv().await {
                Some(m) => m,
                None => {
                    return ApiError::from(Error::Model("the request's work stopped".into()))
                        .into_response()
                }
            };
        }
    }
    // The stream ends after the final frame or a failure (and OpenAI's `done` line).
    let items = futures_util::stream::unfold((Some(first), Some(rx)), |(next, rx)| async move {
        let mut rx = rx?;
        let msg = match next {
            Some(m) => m,
            None => rx.recv().await?,
        };
        let rx = (!msg.ends()).then_some(rx);
        Some((Some(msg), (None, rx)))
    });
    // After the end, one `None` item stands for the `done` line.
    let items = futures_util::StreamExt::chain(
        items,
        futures_util::stream::iter(done.map(|_| None::<Msg>)),
    );
    match format {
        Format::Sse => {
            let events = futures_util::StreamExt::map(items, move |m| {
                Ok::<_, Infallible>(match m {
                    Some(m) => sse_event(m.parts()),
                    None => SseEvent::default().data(done.unwrap_or_default()),
                })
            });
            Sse::new(events)
                // Comments now and then: proxies keep the stream open, and a client
                // that went away is noticed while the model is still reading.
                .keep_alive(KeepAlive::new().interval(Duration::from_secs(5)))
                .into_response()
        }
        _ => {
            let lines = futures_util::StreamExt::filter_map(items, |m| async move {
                let (name, mut data) = m?.parts();
                if let (Some(name), Some(obj)) = (name, data.as_object_mut()) {
                    obj.insert("event".into(), Value::String(name.into()));
                }
                let mut line = data.to_string();
                line.push('\n');
                Some(Ok::<_, Infallible>(line))
            });
            (
                [(header::CONTENT_TYPE, "application/x-ndjson")],
                axum::body::Body::from_stream(lines),
            )
                .into_response()
        }
    }
}

impl Msg {
    fn ends(&self) -> bool {
        matches!(self, Msg::Final { .. } | Msg::Fail(_))
    }

    fn parts(self) -> (Option<&'static str>, Value) {
        match self {
            Msg::Frame { name, data } => (name, data),
            Msg::Final { name, data } => (Some(name).filter(|n| !n.is_empty()), data),
            Msg::Fail(e) => (Some("error"), e.body()),
        }
    }
}

fn sse_event((name, data): (Option<&'static str>, Value)) -> SseEvent {
    let event = SseEvent::default().data(data.to_string());
    match name {
        Some(n) => event.event(n),
        None => event,
    }
}
