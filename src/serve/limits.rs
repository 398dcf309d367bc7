//! Who may use the server: loopback unless an API key is set, no requests from
//! other sites' pages, and the bearer-token check.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::stream::ApiError;
use super::Shared;
use crate::error::{Error, Result};

/// Refuses to listen beyond this machine without a key: the page and the API would
/// be open to anyone on the network.
pub fn check_exposure(host: &str, has_key: bool) -> Result<()> {
    if is_loopback(host) || has_key {
        return Ok(());
    }
    Err(Error::Input(format!(
        "refusing to listen on {host} without an API key: anyone who can reach it could \
         use the model; give --api-key-file FILE (clients then send `Authorization: \
         Bearer <key>`), or listen on 127.0.0.1"
    )))
}

/// `localhost`, or a loopback address (`127.0.0.1`, `[::1]`).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A `Host` or origin authority without its port: `[::1]:8080` -> `[::1]`.
fn host_name(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// What a browser page on another site could otherwise do to a server on this
/// machine: post a form or `text/plain` to it without asking (no CORS preflight),
/// or, by DNS rebinding, read its answers under the page's own host name. So a
/// request whose `Origin` is not the server's own is refused, a server without a
/// key answers only to loopback host names, and API bodies must be declared JSON.
pub async fn same_origin(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let (host, origin, content_type) = (
        text(header::HOST),
        text(header::ORIGIN),
        text(header::CONTENT_TYPE),
    );
    // HTTP/1.1 requires exactly one Host (RFC 9112 3.2); a request in absolute form
    // names its host in the target, which then wins over the header.
    let hosts = headers.get_all(header::HOST).iter().count();
    if hosts > 1 || (hosts == 0 && request.version() == axum::http::Version::HTTP_11) {
        return ApiError::bad_request("send exactly one Host header").into_response();
    }
    let host = request.uri().authority().map(|a| a.to_string()).or(host);
    if state.opts.api_key.is_none() {
        if let Some(host) = host.as_deref().filter(|h| !is_loopback(host_name(h))) {
            return ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server answers to localhost only, not to `{host}`; without an API \
                     key it serves this machine alone (serve --api-key-file FILE to share it)"
                ),
            )
            .into_response();
        }
    }
    if let Some(origin) = origin {
        let authority = origin.split_once("://").map_or("", |(_, a)| a);
        if host.is_none_or(|h| !h.eq_ignore_ascii_case(authority)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "cross-origin request refused (from `{origin}`): the server answers its \
                     own page and clients that send no Origin"
                ),
            )
            .into_response();
        }
    }
    if request.method() == axum::http::Method::POST && request.uri().path().starts_with("/v1/") {
        let json = content_type.is_some_and(|t| {
            let mime = t.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        });
        if !json {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the request body as JSON, with `Content-Type: application/json`",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// The errors answered below the handlers, as the API's JSON: tower-http's body
/// limit answers a too-long `Content-Length` in plain text, and the router a
/// wrong method with an empty 405. A 413 also closes the connection.
pub async fn json_errors(State(state): State<Shared>, response: Response) -> Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            let mut response = if json {
                response
            } else {
                over_body_limit(&state).into_response()
            };
            // The rest of the body is not read: the connection cannot carry
            // another request, and the client is told so.
            response.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            response
        }
        _ if json => response,
        // The router adds `Allow` as the response leaves it.
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this path does not take that method; the Allow header lists those it takes",
        )
        .into_response(),
        _ => response,
    }
}

/// The 413 for a body over `--body-limit`, however the limit was met.
pub(super) fn over_body_limit(state: &Shared) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the request body is over the server's limit of {} bytes (serve --body-limit)",
            state.opts.body_limit
        ),
    )
}

/// Reads the key from `--api-key-file`: the file's text, trimmed, not empty.
pub fn read_api_key(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let key = text.trim();
    if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Input(format!(
            "{}: the API key file must hold one key (no spaces), e.g. from `openssl rand \
             -hex 32`",
            path.display()
        )));
    }
    Ok(key.to_string())
}

/// Paths anyone may fetch: the page (it asks for the key itself) and the health
/// check (for supervisors and load balancers).
fn is_public(path: &str) -> bool {
    path == "/" || path == "/health" || path.starts_with("/ui/")
}

/// The bearer-token check, when a key is set.
pub async fn authorize(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(key) = &state.opts.api_key else {
        return next.run(request).await;
    };
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110); the key is not.
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    match given {
        Some(g) if same(g.as_bytes(), key.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "the API key is not the server's")
            .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this server needs an API key: send `Authorization: Bearer <key>`",
        )
        .into_response(),
    }
}

/// Compares in constant time, so timing does not tell how much of a guess was right
/// (only whether its length was).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_allowed_and_other_hosts_need_a_key() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"] {
            assert!(check_exposure(host, false).is_ok(), "{host}");
        }
        for host in ["0.0.0.0", "::", "192.168.1.10", "example.org"] {
            let e = check_exposure(host, false).unwrap_err().to_string();
            assert!(e.contains("--api-key-file"), "{e}");
            assert!(check_exposure(host, true).is_ok());
        }
    }

    #[test]
    fn keys_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
    }
}
