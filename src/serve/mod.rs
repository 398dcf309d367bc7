//! `abridge serve`: the model loaded once and kept warm behind an HTTP API and a
//! web page for editors. A third front door to the same pipeline as `summarize`,
//! `translate` and the digest: every request becomes a [`Runner`] on one shared
//! [`Scheduler`], so the generations of several editors are decoded in one batch.
//!
//! - `api`: the article endpoints (`/v1/summarize`, `/v1/translate`);
//! - `openai`: `/v1/chat/completions`, `/v1/completions` and `/v1/models`, for
//!   existing clients;
//! - `request`: request bodies read, with errors that name the field at fault;
//! - `stream`: Server-Sent Events, NDJSON or one JSON, from one channel of frames;
//! - `conn`: connections: how many, and how long a client may stall one;
//! - `limits`: who may connect (loopback or a bearer key);
//! - `queue`: how many requests are admitted at once, and when to come back;
//! - `metrics`: the Prometheus counters; `ui`: the page, embedded in the binary.
//!
//! Generation blocks, so it never runs on tokio's workers: each request's work is
//! a `spawn_blocking` task that waits on the scheduler and sends frames back.
//!
//! [`Runner`]: crate::pipeline::runner::Runner

mod api;
mod conn;
mod digest;
mod limits;
mod metrics;
mod openai;
mod queue;
mod request;
mod stream;
mod ui;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use crate::error::{Error, Result};
use crate::model::scheduler::{Scheduler, SchedulerOptions};
use crate::model::Model;
pub use limits::{check_exposure, read_api_key};

/// How the server listens, what it runs and what it allows.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: String,
    pub port: u16,
    /// Model spec (path, hub file or alias), loaded once at start.
    pub model: String,
    /// Bearer token every API request must carry (`--api-key-file`).
    pub api_key: Option<String>,
    /// Largest request body, in bytes (413 beyond).
    pub body_limit: usize,
    /// How long a client may take to send a request's body (408 beyond), or to take
    /// any of an answer (its connection closed beyond).
    pub client_timeout: Duration,
    /// Requests admitted at once, running or waiting (429 beyond).
    pub queue: usize,
    pub scheduler: SchedulerOptions,
    /// Longest article accepted, in tokens (the pipeline's `--max-article-tokens`).
    pub max_article_tokens: usize,
    /// Most tokens one chat or text completion may generate.
    pub max_completion_tokens: usize,
    /// Work on one request stops after this long.
    pub deadline: Option<Duration>,
    /// Tokens of prompt plus answer per generation (default: the model's, at most 4096).
    pub window: Option<usize>,
    /// Ask the model whether each summary sentence's cited sources state it
    /// (`--no-verify` turns it off for speed).
    pub verify: bool,
    /// A digest folder whose brief and articles `/digest/` shows (`--digest`).
    pub digest: Option<std::path::PathBuf>,
}

/// The model and its scheduler, once loaded.
struct Engine {
    model: Model,
    /// The model as answers name it: see [`model_name`].
    name: String,
    scheduler: Scheduler,
    window: usize,
}

/// What every handler shares.
struct AppState {
    opts: ServeOptions,
    /// Set once the model is loaded; `/health` is 503 until then.
    engine: OnceLock<Engine>,
    slots: queue::Slots,
    metrics: metrics::Metrics,
}

type Shared = Arc<AppState>;

/// Runs the server until SIGINT or SIGTERM; in-flight requests are finished first.
/// `on_listening` is told the bound address (port 0 picks a free one).
pub fn run(opts: ServeOptions, on_listening: impl FnOnce(SocketAddr)) -> Result<()> {
    check_exposure(&opts.host, opts.api_key.is_some())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // The network side is light; compute has its own threads in the scheduler.
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Model(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(serve(opts, on_listening))
}

async fn serve(opts: ServeOptions, on_listening: impl FnOnce(SocketAddr)) -> Result<()> {
    let addr = format!("{}:{}", opts.host, opts.port);
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
        Error::Input(format!(
            "cannot listen on {addr}: {e}; pick another --port or --host"
        ))
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Input(format!("cannot listen on {addr}: {e}")))?;
    let state = Arc::new(AppState {
        slots: queue::Slots::new(opts.queue),
        metrics: metrics::Metrics::default(),
        engine: OnceLock::new(),
        opts,
    });
    // Listening before the model is loaded, so a supervisor sees 503 (loading)
    // rather than a refused connection.
    let (loaded_tx, loaded_rx) = tokio::sync::oneshot::channel();
    let loader = state.clone();
    std::thread::Builder::new()
        .name("abridge-load".into())
        .spawn(move || {
            let _ = loaded_tx.send(load(&loader));
        })
        .map_err(|e| Error::Model(format!("cannot start the loading thread: {e}")))?;
    on_listening(local);
    tracing::info!("listening on http://{local} (loading the model)");

    let app = router(state.clone());
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<Error>();
    tokio::spawn(async move {
        match loaded_rx.await {
            Ok(Ok(())) => tracing::info!("ready on http://{local}"),
            Ok(Err(e)) => {
                let _ = failed_tx.send(e);
            }
            Err(_) => {
                let _ = failed_tx.send(Error::Model("the model loading thread died".into()));
            }
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut failure = None;
    let server = tokio::spawn(conn::accept(
        listener,
        app,
        state.opts.client_timeout,
        stop_rx,
    ));
    tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!("{signal}: finishing the requests in flight, then stopping");
        }
        Ok(e) = failed_rx => failure = Some(e),
    }
    let _ = stop_tx.send(true);
    let served = server.await;
    if let Some(e) = failure {
        return Err(e);
    }
    served.map_err(|e| Error::Model(format!("the server stopped: {e}")))
}

fn load(state: &AppState) -> Result<()> {
    let model = Model::load(&state.opts.model)?;
    let window = crate::pipeline::window(&model, state.opts.window);
    let scheduler = Scheduler::start(model.clone(), state.opts.scheduler)?;
    let _ = state.engine.set(Engine {
        name: model_name(&model.name).to_string(),
        model,
        scheduler,
        window,
    });
    Ok(())
}

/// A model spec (a path, or `OWNER/REPO:FILE`) without its folders: answers
/// name the file, not where it lives on the server (`/health` needs no key).
fn model_name(spec: &str) -> &str {
    spec.rsplit(['/', '\\']).next().unwrap_or(spec)
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // No signal handling: run until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

fn router(state: Shared) -> Router {
    let limit = state.opts.body_limit;
    Router::new()
        .route("/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/digest/", get(digest::brief))
        .route("/digest/{name}", get(digest::file))
        .route("/health", get(api::health))
        .route("/metrics", get(metrics::render))
        .route("/v1/models", get(openai::models))
        .route("/v1/summarize", post(api::summarize))
        .route("/v1/translate", post(api::translate))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .fallback(api::not_found)
        // tower-http's limit also covers bodies without a Content-Length; axum's own
        // (2 MB) is lifted so that this one is the limit.
        .layer(axum::middleware::from_fn_with_state(
            state.opts.client_timeout,
            conn::body_in_time,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            limits::json_errors,
        ))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::same_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count,
        ))
        .with_state(state)
}
