//! Connections: how many are open at once, and how long a client may stall one
//! (its headers, its body, or reading what it is sent). A stalled connection is
//! closed, so slow or idle clients cannot hold the server's places.
//!
//! - `places`: at most [`MAX_CONNECTIONS`]; at the cap an idle one makes room;
//! - `deadline`: writes a client does not take are bounded in time;
//! - `linger`: a socket closed while its client still sends is drained first,
//!   so that the answer (a 413, a 431) is read rather than reset;
//! - `parse_errors`: hyper's own answers to unreadable requests, as JSON.

mod deadline;
mod linger;
mod parse_errors;
mod places;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::stream::ApiError;
use deadline::WriteDeadline;
use linger::Lingering;
use parse_errors::ParseErrors;
use places::Places;

/// Open connections at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client has this long to send a request's headers (slow or idle connections
/// would otherwise hold their place for ever).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers).
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Serves HTTP/1 connections until `stop`, then waits for those in flight to
/// finish their requests. Unlike `axum::serve`, connections are bounded in number
/// and in how long a client may stall them: a client that takes nothing of an
/// answer for `write_stall` has gone (or holds the connection on purpose), and its
/// connection is closed, cancelling its work.
pub(super) async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    write_stall: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let places = Arc::new(Places::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES);
    loop {
        let accepted = tokio::select! {
            conn = listener.accept() => conn,
            _ = stop.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let place = tokio::select! {
            place = places.take() => place,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Some(place) = place else {
            break;
        };
        let _ = stream.set_nodelay(true);
        let entry = places.enter();
        let io = Lingering::new(stream, place);
        let io = TokioIo::new(ParseErrors::new(WriteDeadline::new(io, write_stall)));
        let service = tracked(app.clone(), entry.conn.clone());
        let conn = http.serve_connection(io, service);
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => {}
                _ = entry.conn.close.notified() => {}
            }
            // Answers in progress are finished; an idle connection closes now.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    places.all_free().await;
}

/// `app` for one connection, which is busy from each request's arrival until
/// its answer's body is all written (and idle in between).
fn tracked(
    app: Router,
    conn: Arc<places::Conn>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    let app = hyper_util::service::TowerToHyperService::new(app);
    hyper::service::service_fn(move |request| {
        let busy = conn.busy();
        let answer = hyper::service::Service::call(&app, request);
        async move {
            let response = answer.await?;
            Ok(response.map(|body| {
                axum::body::Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                    let _held = &busy;
                    frame
                }))
            }))
        }
    })
}

/// Middleware: the request's whole body read within `timeout` (408 otherwise),
/// before any handler waits on it. Inside the body limit, whose error it passes on
/// as a 413.
pub(super) async fn body_in_time(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, usize::MAX)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, bytes.into())).await,
        Ok(Err(e)) if is_length_limit(&e) => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Ok(Err(e)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
        )
        .into_response(),
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s; send it whole at once",
                timeout.as_secs()
            ),
        )
        .into_response(),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}
