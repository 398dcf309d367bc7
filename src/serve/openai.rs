//! OpenAI-compatible endpoints, so existing clients and SDKs work:
//! `POST /v1/chat/completions` (streamed as `chat.completion.chunk` lines and
//! `data: [DONE]`, or one `chat.completion`) and `GET /v1/models`.
//!
//! Messages are rendered with the model's own chat template, their contents
//! tokenized as plain text (a `<|im_start|>` in a message stays characters).
//! Honoured: `max_tokens` (or `max_completion_tokens`, capped by the server's
//! `--max-completion-tokens`), `temperature`, `top_p`, `seed`, `stop` and
//! `repeat_penalty` (llama.cpp's name). `model` is accepted and ignored (the
//! server runs one model); `n` must be 1; other fields are ignored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{admit, spawn_work};
use super::request::{parse, Fields};
use super::stream::{respond, ApiError, Format, Msg};
use super::Shared;
use crate::model::scheduler::Event;
use crate::model::template::Message;
use crate::model::{GenerateOptions, StopReason};

/// Stop strings a request may give, and their length.
const MAX_STOPS: usize = 4;
const MAX_STOP_BYTES: usize = 64;

pub async fn models(State(state): State<Shared>) -> Response {
    let (id, ready) = match state.engine.get() {
        Some(e) => (e.name.clone(), true),
        None => (super::model_name(&state.opts.model).to_string(), false),
    };
    axum::Json(json!({
        "object": "list",
        "data": [{
            "id": id,
            "object": "model",
            "created": 0,
            "owned_by": "abridge",
            "ready": ready,
        }],
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ChatRequest {
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    repeat_penalty: Option<f32>,
    stop: Option<Stop>,
    n: Option<usize>,
}

impl Fields for ChatRequest {
    fn expect(field: &str) -> Option<String> {
        Some(match field {
            "messages" => "a list of messages, each {\"role\": \"system\", \"user\" or \
                           \"assistant\", \"content\": a string or a list of text parts}"
                .into(),
            _ => return sampling_field(field),
        })
    }
}

/// What the generation fields of OpenAI's requests must be.
fn sampling_field(field: &str) -> Option<String> {
    Some(match field {
        "stream" => "true or false".into(),
        "max_tokens" | "max_completion_tokens" => {
            "a whole number from 1 to the server's --max-completion-tokens".into()
        }
        "temperature" => "a number from 0 to 2".into(),
        "top_p" => "a number above 0, at most 1".into(),
        "seed" => "a whole number from 0 to 2^64 - 1".into(),
        "repeat_penalty" => "a number above 0, at most 10 (1: off)".into(),
        "stop" => format!(
            "a string or a list of at most {MAX_STOPS}, each of 1 to {MAX_STOP_BYTES} bytes"
        ),
        "n" => "1 (one answer per request)".into(),
        _ => return None,
    })
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    content: Content,
}

/// A message's content: a string, or OpenAI's list of parts (only text parts).
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Content {
    fn text(self) -> Result<String, ApiError> {
        match self {
            Content::Text(t) => Ok(t),
            Content::Parts(parts) => parts
                .into_iter()
                .map(|p| match (p.kind.as_str(), p.text) {
                    ("text", Some(t)) => Ok(t),
                    (kind, _) => Err(ApiError::bad_request(format!(
                        "message parts of type `{kind}` are not supported; this model reads text"
                    ))),
                })
                .collect(),
        }
    }
}

const ROLES: [&str; 3] = ["system", "user", "assistant"];
/// Default answer length when the request gives none.
const DEFAULT_MAX_TOKENS: usize = 512;

pub async fn chat_completions(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match prepare(&state, &headers, body) {
        Ok(response) => response.await,
        Err(e) => e.into_response(),
    }
}

fn prepare(
    state: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl std::future::Future<Output = Response>, ApiError> {
    let req: ChatRequest = parse(state, body)?;
    if req.n.unwrap_or(1) != 1 {
        return Err(ApiError::bad_request(
            "`n` must be 1: one answer per request",
        ));
    }
    if req.messages.is_empty() {
        return Err(ApiError::bad_request(
            "`messages` is empty: give at least one message",
        ));
    }
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in req.messages {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown message role `{}`: use system, user or assistant",
                m.role
            )));
        }
        messages.push(Message::new(m.role, m.content.text()?));
    }
    let limit = state.opts.max_completion_tokens;
    let max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS.min(limit));
    if max_tokens == 0 || max_tokens > limit {
        return Err(ApiError::bad_request(format!(
            "`max_tokens` must be 1 to {limit} (the server's --max-completion-tokens), not \
             {max_tokens}"
        )));
    }
    let temperature = req.temperature.unwrap_or(0.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::bad_request(
            "`temperature` must be between 0 and 2",
        ));
    }
    if let Some(p) = req.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(ApiError::bad_request("`top_p` must be in (0, 1]"));
        }
    }
    let repeat_penalty = req.repeat_penalty.unwrap_or(1.0);
    // 0 or less would flip or zero the logits it divides.
    if !(repeat_penalty > 0.0 && repeat_penalty <= 10.0) {
        return Err(ApiError::bad_request(
            "`repeat_penalty` must be in (0, 10] (1: off)",
        ));
    }
    let stop = match req.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    // An empty stop string matches at once: an empty answer that looks finished.
    if stop.iter().any(String::is_empty) {
        return Err(ApiError::bad_request("`stop` strings must not be empty"));
    }
    // OpenAI's bound; each is checked after every token, on the shared scheduler.
    if stop.len() > MAX_STOPS || stop.iter().any(|s| s.len() > MAX_STOP_BYTES) {
        return Err(ApiError::bad_request(format!(
            "`stop` takes at most {MAX_STOPS} strings of at most {MAX_STOP_BYTES} bytes"
        )));
    }
    let opts = GenerateOptions {
        max_tokens,
        temperature,
        top_p: req.top_p,
        seed: req.seed.unwrap_or(GenerateOptions::default().seed),
        repeat_penalty,
        stop,
        deadline: state.opts.deadline.map(|d| Instant::now() + d),
        ..GenerateOptions::default()
    };
    let format = Format::of(headers, Some(req.stream));
    let slot = admit(state)?;
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = format!("chatcmpl-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let streaming = req.stream;
    let rx = spawn_work(
        state,
        slot,
        "/v1/chat/completions",
        "",
        None,
        move |engine, watch| {
            let model = &engine.model;
            let ids = model.chat_prompt(&messages)?;
            // `serve --context`, as for the article endpoints.
            let context = engine.window;
            if ids.len() + max_tokens > context {
                return Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "the messages are {} tokens and the answer may be {max_tokens}: over the \
                     server's {context}-token window; send less or lower `max_tokens`",
                        ids.len()
                    ),
                ));
            }
            let chunk = |delta: Value, finish: Option<&str>| {
                json!({
                    "id": id, "object": "chat.completion.chunk", "created": created,
                    "model": engine.name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                })
            };
            if streaming {
                watch.send_raw(Msg::Frame {
                    name: None,
                    data: chunk(json!({"role": "assistant", "content": ""}), None),
                });
            }
            // Dropping `pending` (returning early) cancels the generation.
            let pending = engine.scheduler.submit(ids, Vec::new(), opts)?;
            let generation = loop {
                match pending.next_timeout(std::time::Duration::from_millis(100)) {
                    Ok(Event::Text(piece)) => {
                        if !piece.is_empty() {
                            watch.first_token.get_or_init(Instant::now);
                            if streaming {
                                watch.send_raw(Msg::Frame {
                                    name: None,
                                    data: chunk(json!({"content": piece}), None),
                                });
                            }
                        }
                    }
                    Ok(Event::Done(result)) => break result?,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(
                            crate::Error::Model("the generation thread stopped".into()).into()
                        )
                    }
                }
                if watch.gone() {
                    return Err(crate::Error::Cancelled("the client went away".into()).into());
                }
            };
            let finish = match generation.stop {
                StopReason::EndOfGeneration => "stop",
                StopReason::MaxTokens | StopReason::ContextFull => "length",
            };
            let (prompt, completion) = (generation.prompt_tokens, generation.generated_tokens());
            let usage = json!({
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            });
            if streaming {
                let mut last = chunk(json!({}), Some(finish));
                last["usage"] = usage;
                return Ok(last);
            }
            Ok(json!({
                "id": id, "object": "chat.completion", "created": created, "model": engine.name,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": generation.text},
                    "finish_reason": finish,
                }],
                "usage": usage,
            }))
        },
    );
    Ok(respond(rx, format, Some("[DONE]")))
}
