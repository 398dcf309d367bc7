//! Connections: how many are open at once, and how long a client may stall one
//! (its headers, its body, or reading what it is sent). A stalled connection is
//! closed, so slow or idle clients cannot hold the server's places.
//!
//! - `deadline`: writes a client does not take are bounded in time;
//! - `linger`: a socket closed while its client still sends is drained first,
//!   so that the answer (a 413, a 431) is read rather than reset;
//! - `parse_errors`: hyper's own answers to unreadable requests, as JSON.

mod deadline;
mod linger;
mod parse_errors;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::stream::ApiError;
use deadline::WriteDeadline;
use linger::Lingering;
use parse_errors::ParseErrors;

/// Open connections at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client has this long to send a request's headers (slow or idle connections
/// would otherwise hold their place for ever).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers).
const MAX_HEAD_BYTES: usize = 64 << 10;
/// A client has this long to send a whole request body (1 MB in 30 s is a
/// 35 KB/s link).
pub(super) const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that takes nothing of an answer for this long has gone (or is holding
/// the connection on purpose): the connection is closed, cancelling its work.
const WRITE_STALL: Duration = Duration::from_secs(30);

/// Serves HTTP/1 connections until `stop`, then waits for those in flight to
/// finish their requests. Unlike `axum::serve`, connections are bounded in number
/// and in how long a client may stall them.
pub(super) async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let places = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES);
    loop {
        let place = tokio::select! {
            place = places.clone().acquire_owned() => place,
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            conn = listener.accept() => conn,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (Ok(place), stream) = (place, accepted) else {
            break;
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        // The place is freed when the socket is closed (after any lingering).
        let io = WriteDeadline::new(Lingering::new(stream, place), WRITE_STALL);
        let io = TokioIo::new(ParseErrors::new(io));
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(conn);
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Middleware: the request's whole body read within [`BODY_TIMEOUT`] (408
/// otherwise), before any handler waits on it. Inside the body limit, whose error
/// it passes on as a 413.
pub(super) async fn body_in_time(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, usize::MAX)).await {
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
                BODY_TIMEOUT.as_secs()
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
