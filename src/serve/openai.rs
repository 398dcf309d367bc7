//! OpenAI-compatible endpoints, so existing clients and SDKs work:
//! `POST /v1/chat/completions` (streamed as `chat.completion.chunk` lines and
//! `data: [DONE]`, or one `chat.completion`), `POST /v1/completions` (a raw
//! prompt continued, as llama-server offers: `text_completion` objects, streamed
//! or not) and `GET /v1/models`. Both generate the same way; they differ in
//! what the model is given and in the shape of the answer.
//!
//! Messages are rendered with the model's own chat template, their contents
//! tokenized as plain text (a `<|im_start|>` in a message stays characters). A
//! completion's prompt is the client's own text, fed as written (special tokens
//! parsed, like llama-server). Which fields are honoured, refused and ignored:
//! see `request`.

mod request;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::api::{admit, spawn_work};
use super::request::parse;
use super::stream::{respond, ApiError, Format, Msg};
use super::Shared;
use crate::model::scheduler::Event;
use crate::model::StopReason;
use request::{Input, Kind, OpenAiRequest};

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

pub async fn chat_completions(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    complete(&state, &headers, body, Kind::Chat).await
}

pub async fn completions(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    complete(&state, &headers, body, Kind::Completion).await
}

async fn complete(
    state: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    kind: Kind,
) -> Response {
    match prepare(state, headers, body, kind) {
        Ok(response) => response.await,
        Err(e) => e.into_response(),
    }
}

impl Kind {
    fn endpoint(self) -> &'static str {
        match self {
            Kind::Chat => "/v1/chat/completions",
            Kind::Completion => "/v1/completions",
        }
    }

    /// The `object` of a whole answer and of a streamed piece.
    fn objects(self) -> (&'static str, &'static str) {
        match self {
            Kind::Chat => ("chat.completion", "chat.completion.chunk"),
            Kind::Completion => ("text_completion", "text_completion"),
        }
    }

    /// The one choice of a streamed piece: `text` and, at the end, why it ended.
    fn piece(self, text: Option<&str>, finish: Option<&str>) -> Value {
        match self {
            Kind::Chat => {
                let delta = text.map_or(json!({}), |t| json!({"content": t}));
                json!({"index": 0, "delta": delta, "finish_reason": finish})
            }
            Kind::Completion => json!({
                "index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish,
            }),
        }
    }

    /// The one choice of a whole answer.
    fn whole(self, text: &str, finish: &str) -> Value {
        match self {
            Kind::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }),
            Kind::Completion => self.piece(Some(text), Some(finish)),
        }
    }
}

fn prepare(
    state: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    kind: Kind,
) -> Result<impl std::future::Future<Output = Response>, ApiError> {
    let mut req: OpenAiRequest = parse(state, body)?;
    req.refuse_unsupported()?;
    let input = req.input(kind)?;
    let opts = req.options(state.opts.max_completion_tokens, state.opts.deadline)?;
    let max_tokens = opts.max_tokens;
    let format = Format::of(headers, Some(req.stream));
    let slot = admit(state)?;
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let prefix = match kind {
        Kind::Chat => "chatcmpl",
        Kind::Completion => "cmpl",
    };
    let id = format!("{prefix}-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let streaming = req.stream;
    let (whole_object, piece_object) = kind.objects();
    let rx = spawn_work(
        state,
        slot,
        kind.endpoint(),
        "",
        None,
        move |engine, watch| {
            let model = &engine.model;
            let ids = match &input {
                Input::Messages(messages) => model.chat_prompt(messages)?,
                Input::Prompt(text) => model.raw_prompt(text)?,
            };
            // `serve --context`, as for the article endpoints.
            let context = engine.window;
            if ids.len() + max_tokens > context {
                let what = match kind {
                    Kind::Chat => "messages are",
                    Kind::Completion => "prompt is",
                };
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!(
                        "the {what} {} tokens and the answer may be {max_tokens}: over the \
                         server's {context}-token window; send less or lower `max_tokens`",
                        ids.len()
                    ),
                ));
            }
            let chunk = |choice: Value| {
                json!({
                    "id": id, "object": piece_object, "created": created,
                    "model": engine.name, "choices": [choice],
                })
            };
            if streaming && kind == Kind::Chat {
                watch.send_raw(Msg::Frame {
                    name: None,
                    data: chunk(json!({
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": null,
                    })),
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
                                    data: chunk(kind.piece(Some(&piece), None)),
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
                StopReason::Sentences => "stop",
            };
            let (prompt, completion) = (generation.prompt_tokens, generation.generated_tokens());
            let usage = json!({
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            });
            if streaming {
                let mut last = chunk(kind.piece(None, Some(finish)));
                last["usage"] = usage;
                return Ok(last);
            }
            Ok(json!({
                "id": id, "object": whole_object, "created": created, "model": engine.name,
                "choices": [kind.whole(&generation.text, finish)],
                "usage": usage,
            }))
        },
    );
    Ok(respond(rx, format, Some("[DONE]")))
}
