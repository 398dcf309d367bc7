//! The article endpoints: `POST /v1/summarize` and `POST /v1/translate`, through
//! the same pipeline as the command line (`process_article`, `translate`), and
//! `GET /health`. Also what every endpoint needs: admission (ready, queue), and
//! running the work off tokio's threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::queue::Slot;
use super::request::{parse, Fields};
use super::stream::{respond, ApiError, Format, Msg, Tx};
use super::{model_name, Engine, Shared};
use crate::article::{read_source_bytes, Format as Kind, Source};
use crate::check::SourceIndex;
use crate::lang;
use crate::pipeline::result::{input_warnings, translation_warnings};
use crate::pipeline::runner::{Runner, Watcher, Writes};
use crate::pipeline::translate::Translation;
use crate::pipeline::warning::Warning;
use crate::pipeline::ArticleResult;
use crate::pipeline::{self, ArticleOptions, Step};
use crate::prompts::{LongArticles, Style};

/// Most sentences a summary may ask for, and most languages per request.
const MAX_SENTENCES: usize = 20;
const MAX_LANGUAGES: usize = 8;

pub async fn health(State(state): State<Shared>) -> Response {
    match state.engine.get() {
        Some(e) => axum::Json(json!({"status": "ok", "model": e.name})).into_response(),
        None => {
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "loading", "model": model_name(&state.opts.model)})),
            )
                .into_response();
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 5.into());
            r
        }
    }
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {}; the API is POST /v1/summarize, /v1/translate, \
             /v1/chat/completions, /v1/completions and GET /v1/models, /health, /metrics",
            uri.path()
        ),
    )
}

/// The engine and a place in the queue, or why not (503 loading, 429 full).
pub(super) fn admit(state: &Shared) -> Result<Slot, ApiError> {
    if state.engine.get().is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading; try again in a few seconds (GET /health says when \
             it is ready)",
        )
        .with_retry_after(5));
    }
    state.slots.try_take().ok_or_else(|| {
        let seconds = state.slots.retry_after();
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "the server is busy: {} requests are in flight, its limit (serve --queue); \
                 try again in {seconds} s",
                state.slots.max()
            ),
        )
        .with_retry_after(seconds)
    })
}

/// Follows one request's generations for its client: text as it comes, results
/// as they are done; cancelled when the client's receiver is gone.
pub(super) struct Watch {
    tx: Tx,
    pub first_token: OnceLock<Instant>,
    /// Sent just before the first result, so that an error found before any
    /// (an article over the limit) is still an HTTP status.
    opening: Mutex<Option<Value>>,
}

impl Watch {
    pub fn send(&self, name: &'static str, data: Value) {
        self.open();
        let _ = self.tx.send(Msg::Frame {
            name: Some(name),
            data,
        });
    }

    pub fn send_raw(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }

    fn open(&self) {
        if let Some(data) = self
            .opening
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = self.tx.send(Msg::Frame {
                name: Some("article"),
                data,
            });
        }
    }

    pub fn gone(&self) -> bool {
        self.tx.is_closed()
    }
}

impl Watcher for Watch {
    fn text(&self, generation: u64, writes: &Writes, piece: &str) {
        if piece.is_empty() {
            return;
        }
        self.first_token.get_or_init(Instant::now);
        let mut event = json!({"generation": generation, "text": piece});
        let (what, lang) = match writes {
            Writes::Text => ("text", None),
            Writes::Translation(l) => ("translation", Some(l)),
            Writes::RoundTrip(l) => ("round_trip", Some(l)),
            Writes::Check => ("check", None),
        };
        event["writes"] = what.into();
        if let Some(lang) = lang {
            event["lang"] = lang.as_str().into();
            event["language"] = lang::language_name(lang).into();
        }
        self.send("token", event);
    }

    fn cancelled(&self) -> bool {
        self.gone()
    }
}

/// Runs `work` on a blocking thread with its own [`Watch`]; its result is the
/// final frame, named `final_name`. The slot is freed when the work ends.
pub(super) fn spawn_work(
    state: &Shared,
    slot: Slot,
    endpoint: &'static str,
    final_name: &'static str,
    opening: Option<Value>,
    work: impl FnOnce(&Engine, &Arc<Watch>) -> Result<Value, ApiError> + Send + 'static,
) -> UnboundedReceiver<Msg> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let watch = Arc::new(Watch {
            tx,
            first_token: OnceLock::new(),
            opening: Mutex::new(opening),
        });
        let Some(engine) = state.engine.get() else {
            return;
        };
        // A panic is a bug: reported to this client, the server goes on.
        let result = catch_unwind(AssertUnwindSafe(|| work(engine, &watch))).unwrap_or_else(|p| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "internal error: {}; please report it with the request",
                    crate::error::panic_message(&*p)
                ),
            ))
        });
        state
            .metrics
            .latency(endpoint, started, watch.first_token.get().copied());
        if result.is_ok() {
            slot.completed();
        }
        // Freed before the answer is sent: a client's next request must not find
        // its own last one still holding the place.
        drop(slot);
        match result {
            Ok(data) => {
                watch.open();
                watch.send_raw(Msg::Final {
                    name: final_name,
                    data,
                })
            }
            Err(e) => {
                if e.status.as_u16() == 499 {
                    tracing::info!("{endpoint}: the client went away; its work was stopped");
                } else {
                    tracing::warn!("{endpoint}: {}", e.message);
                }
                watch.send_raw(Msg::Fail(e))
            }
        }
    });
    rx
}

/// One article as a request gives it: exactly one of `text`, `markdown`, `html`.
#[derive(Deserialize)]
struct Input {
    text: Option<String>,
    markdown: Option<String>,
    html: Option<String>,
    title: Option<String>,
}

/// Languages as a list (`["fr", "German"]`) or one comma-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Languages {
    List(Vec<String>),
    One(String),
}

impl Languages {
    fn codes(&self, field: &str) -> Result<Vec<String>, ApiError> {
        let names: Vec<&str> = match self {
            Languages::List(l) => l.iter().map(String::as_str).collect(),
            Languages::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
        };
        if names.len() > MAX_LANGUAGES {
            return Err(ApiError::bad_request(format!(
                "`{field}` names {} languages; at most {MAX_LANGUAGES} per request",
                names.len()
            ))
            .with_param(field));
        }
        let mut codes: Vec<String> = Vec::new();
        for name in names {
            let code = lang::language_code(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown language `{name}` in `{field}`: give ISO 639-1 codes or English \
                     names (fr, German, ...)"
                ))
                .with_param(field)
            })?;
            if !codes.iter().any(|c| c == code) {
                codes.push(code.to_string());
            }
        }
        Ok(codes)
    }
}

/// A place in the queue, then the article read (and `then` run on it) off the
/// async threads: parsing a large page takes a while, and must neither stall the
/// server nor run beyond the queue's bound.
async fn admitted_read<T: Send + 'static>(
    state: &Shared,
    input: Input,
    then: impl FnOnce(&crate::article::Article) -> T + Send + 'static,
) -> Result<(Slot, crate::article::Article, T), ApiError> {
    let slot = admit(state)?;
    // The place goes with the work: if the client leaves, this future is dropped
    // but the parse runs on, and must keep counting against the queue.
    let read = tokio::task::spawn_blocking(move || {
        let article = read_input(&input)?;
        let extra = then(&article);
        Ok((slot, article, extra))
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the article failed: {e}"),
        )
    })?;
    read
}

/// The article's title and text, read by the digest's readers.
fn read_input(input: &Input) -> Result<crate::article::Article, ApiError> {
    let given: Vec<(&str, &String, Kind)> = [
        ("text", &input.text, Kind::Text),
        ("markdown", &input.markdown, Kind::Markdown),
        ("html", &input.html, Kind::Html),
    ]
    .into_iter()
    .filter_map(|(name, v, kind)| Some((name, v.as_ref()?, kind)))
    .collect();
    let [(name, body, kind)] = given[..] else {
        return Err(ApiError::bad_request(
            "give the article as exactly one of `text`, `markdown` or `html`",
        ));
    };
    let source = Source {
        path: PathBuf::from(format!("request {name}")),
        format: kind,
    };
    let mut article = read_source_bytes(&source, body.as_bytes())
        .next()
        .ok_or_else(|| ApiError::bad_request(format!("`{name}` holds no article")))?
        .map_err(|r| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.reason))?;
    if let Some(t) = input
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        article.title = t.to_string();
    }
    Ok(article)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummarizeRequest {
    text: Option<String>,
    markdown: Option<String>,
    html: Option<String>,
    title: Option<String>,
    sentences: Option<usize>,
    style: Option<String>,
    to: Option<Languages>,
    stream: Option<bool>,
}

impl Fields for SummarizeRequest {
    fn expect(field: &str) -> Option<String> {
        Some(match field {
            "sentences" => format!("a whole number from 1 to {MAX_SENTENCES}"),
            "style" => "`paragraph` or `bullets`".into(),
            _ => return article_field(field),
        })
    }
}

/// What the fields both article endpoints take must be.
fn article_field(field: &str) -> Option<String> {
    Some(match field {
        "text" => "a string: the article as plain text".into(),
        "markdown" => "a string: the article as Markdown".into(),
        "html" => "a string: the article's web page (HTML)".into(),
        "title" => "a string: the article's title".into(),
        "to" => format!(
            "a language or a list of at most {MAX_LANGUAGES}, each an ISO 639-1 code or an \
             English name (\"fr\", [\"fr\", \"German\"] or \"fr, de\")"
        ),
        "stream" => "true or false".into(),
        _ => return None,
    })
}

fn article_options(state: &Shared, req: &SummarizeRequest) -> Result<ArticleOptions, ApiError> {
    let sentences = req.sentences.unwrap_or(3);
    if !(1..=MAX_SENTENCES).contains(&sentences) {
        return Err(SummarizeRequest::invalid("sentences", &sentences));
    }
    let style = match req.style.as_deref() {
        None | Some("paragraph") => Style::Paragraph,
        Some("bullets") => Style::Bullets,
        Some(other) => return Err(SummarizeRequest::invalid("style", &format!("`{other}`"))),
    };
    // Checked here, with the request's own field names, rather than failing later
    // with the CLI's advice.
    if let Some(engine) = state.engine.get() {
        let spec = pipeline::summarize::SummarySpec {
            sentences,
            style,
            long: LongArticles::Excerpts,
            overlap: 0,
            verify: state.opts.verify,
        };
        if pipeline::summarize::chunk_room(&engine.model, engine.window, &spec).is_err() {
            let most =
                pipeline::summarize::most_sentences(&engine.model, engine.window, style, sentences);
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "`sentences` can be at most {most} with this server's {}-token window, \
                     not {sentences}",
                    engine.window
                ),
            )
            .with_param("sentences"));
        }
    }
    let languages = match &req.to {
        Some(l) => l.codes("to")?,
        None => Vec::new(),
    };
    Ok(ArticleOptions {
        languages,
        sentences,
        style,
        long: LongArticles::Excerpts,
        translate_full: false,
        verify: state.opts.verify,
        window: state.opts.window,
        overlap: 0,
        max_article_tokens: state.opts.max_article_tokens,
        max_answer_tokens: None,
        deadline: state.opts.deadline,
    })
}

fn translation_json(t: &Translation) -> Value {
    json!({
        "lang": t.lang,
        "language": lang::language_name(&t.lang),
        "translation": t.outcome.as_ref().ok(),
        "error": t.outcome.as_ref().err(),
        "checks": t.checks,
        "warning": t.warning,
        "warning_details": translation_warnings(t),
    })
}

/// Warnings as the API has always listed them (`warnings`, text) and with their
/// kinds (`warning_details`), for a client to word them for its reader.
fn warning_fields(details: &[Warning]) -> (Vec<String>, &[Warning]) {
    (details.iter().map(|w| w.message.clone()).collect(), details)
}

/// `POST /v1/summarize`: events `article` (its numbered sentences), `token`
/// (summary text as generated; each retry is a new `generation`), `summary` (with
/// its grounding), one `translation` per language, then `done` with the fields of
/// a manifest line.
pub async fn summarize(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: SummarizeRequest = match parse(&state, body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let format = Format::of(&headers, req.stream);
    let opts = match article_options(&state, &req) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let input = Input {
        text: req.text,
        markdown: req.markdown,
        html: req.html,
        title: req.title,
    };
    // The sentences grounding cites, so a page can show which ones support what.
    let read = admitted_read(&state, input, |article| SourceIndex::new(&article.text)).await;
    let (slot, article, index) = match read {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let opening = json!({
        "title": article.title,
        "sentences": index.sentences,
        "warnings": article.warnings,
        "warning_details": input_warnings(&article.warnings),
    });
    let rx = spawn_work(
        &state,
        slot,
        "/v1/summarize",
        "done",
        Some(opening),
        move |engine, watch| {
            let started = Instant::now();
            let runner = Runner::new(&engine.scheduler, engine.window)
                .with_deadline(opts.deadline)
                .with_watcher(watch.clone());
            let result =
                pipeline::process_article_with(&runner, &article, &opts, &mut |step| match step {
                    Step::Summary(s) => {
                        let (warnings, details) = warning_fields(&s.warnings);
                        watch.send(
                            "summary",
                            json!({
                                "summary": s.text,
                                "support": s.support,
                                "chunks": s.chunks,
                                "warnings": warnings,
                                "warning_details": details,
                            }),
                        )
                    }
                    Step::Translation(t) => watch.send("translation", translation_json(t)),
                    Step::FullTranslation(_) => {}
                });
            let tokens = runner.tokens();
            let done = result?;
            let seconds = started.elapsed().as_secs_f64();
            let result =
                ArticleResult::new(&article, done, opts.style, &engine.name, tokens, seconds);
            let mut value = result.to_json();
            value["markdown"] = result.to_markdown().into();
            Ok(value)
        },
    );
    respond(rx, format, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TranslateRequest {
    text: Option<String>,
    markdown: Option<String>,
    html: Option<String>,
    title: Option<String>,
    to: Option<Languages>,
    stream: Option<bool>,
}

impl Fields for TranslateRequest {
    fn expect(field: &str) -> Option<String> {
        match field {
            "to" => Some(
                "one language: an ISO 639-1 code or an English name (\"fr\" or \"German\")".into(),
            ),
            _ => article_field(field),
        }
    }
}

/// `POST /v1/translate`: events `token` (text as generated), then `done` with the
/// translation (or why it was not published) and its checks.
pub async fn translate(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let req: TranslateRequest = match parse(&state, body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let format = Format::of(&headers, req.stream);
    let Some(to) = &req.to else {
        return ApiError::bad_request(
            "give `to`: the language to translate into, an ISO 639-1 code or an English name \
             (\"fr\" or \"German\")",
        )
        .with_param("to")
        .into_response();
    };
    let code = match to.codes("to") {
        Ok(codes) => match &codes[..] {
            [code] => code.clone(),
            _ => {
                return ApiError::bad_request(
                    "`to` must name one language for /v1/translate (summaries take several)",
                )
                .with_param("to")
                .into_response()
            }
        },
        Err(e) => return e.into_response(),
    };
    let input = Input {
        text: req.text,
        markdown: req.markdown,
        html: req.html,
        title: req.title,
    };
    let (slot, article, ()) = match admitted_read(&state, input, |_| ()).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let (max, deadline) = (state.opts.max_article_tokens, state.opts.deadline);
    let rx = spawn_work(
        &state,
        slot,
        "/v1/translate",
        "done",
        None,
        move |engine, watch| {
            let started = Instant::now();
            let runner = Runner::new(&engine.scheduler, engine.window)
                .with_deadline(deadline)
                .with_watcher(watch.clone());
            pipeline::check_length(&runner, &article.text, max)?;
            let t = pipeline::translate::translate(&runner, &article.text, &code);
            let (tokens_in, tokens_out) = runner.tokens();
            if runner.cancelled() {
                return Err(crate::Error::Cancelled("the client went away".into()).into());
            }
            let mut value = translation_json(&t);
            value["title"] = json!(article.title);
            value["model"] = json!(engine.name);
            value["tokens_in"] = json!(tokens_in);
            value["tokens_out"] = json!(tokens_out);
            value["seconds"] = json!(started.elapsed().as_secs_f64());
            Ok(value)
        },
    );
    respond(rx, format, None).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::request::from_json;
    use crate::serve::request::tests::{assert_no_rust, declared_fields};

    /// Every field, given a value of the wrong type, is named with what it must be.
    fn check_every_field<T: serde::de::DeserializeOwned + Fields>() {
        let fields = declared_fields::<T>();
        assert!(fields.len() >= 6, "{fields:?}");
        for field in fields {
            // No field takes an object.
            let body = json!({ &field: {"x": 1} }).to_string();
            let e = from_json::<T>(body.as_bytes()).err().unwrap();
            assert!(
                e.message.starts_with(&format!("`{field}` must be ")),
                "{field}: {}",
                e.message
            );
            assert!(e.message.ends_with(", not {\"x\":1}"), "{}", e.message);
            assert_eq!(e.param.as_deref(), Some(field.as_str()));
            assert_no_rust(&e.message);
        }
    }

    #[test]
    fn summarize_and_translate_type_errors_name_the_field() {
        check_every_field::<SummarizeRequest>();
        check_every_field::<TranslateRequest>();
        let e = from_json::<SummarizeRequest>(br#"{"text": "x", "sentences": "three"}"#)
            .err()
            .unwrap();
        assert_eq!(
            e.message,
            format!("`sentences` must be a whole number from 1 to {MAX_SENTENCES}, not \"three\"")
        );
        let e = from_json::<SummarizeRequest>(br#"{"to": ["fr", 3]}"#)
            .err()
            .unwrap();
        assert!(
            e.message.starts_with("`to` must be a language or a list"),
            "{}",
            e.message
        );
        assert!(e.message.contains("ISO 639-1"), "{}", e.message);
    }
}
