//! Who may use the server and how many at once: loopback unless an API key is
//! set, the bearer-token check, and the bounded queue of admitted requests.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::stream::ApiError;
use super::Shared;
use crate::error::{Error, Result};

/// Refuses to listen beyond this machine without a key: the page and the API would
/// be open to anyone on the network.
pub fn check_exposure(host: &str, has_key: bool) -> Result<()> {
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback || has_key {
        return Ok(());
    }
    Err(Error::Input(format!(
        "refusing to listen on {host} without an API key: anyone who can reach it could \
         use the model; give --api-key-file FILE (clients then send `Authorization: \
         Bearer <key>`), or listen on 127.0.0.1"
    )))
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
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
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

/// Compares without stopping at the first difference, so timing does not tell
/// how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The bounded queue: requests admitted at once (running in the scheduler or
/// waiting for it). Beyond it a request is refused with 429 rather than left to
/// wait without end.
pub struct Slots {
    max: usize,
    taken: Arc<AtomicUsize>,
}

/// An admitted request's place; freed when dropped (the work ended or was cancelled).
pub struct Slot {
    taken: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            taken: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn in_flight(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }

    /// A place, or `None` when all are taken.
    pub fn try_take(&self) -> Option<Slot> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                taken: self.taken.clone(),
            })
    }

    pub fn max(&self) -> usize {
        self.max
    }
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
    fn slots_are_bounded_and_freed_on_drop() {
        let slots = Slots::new(2);
        let a = slots.try_take().unwrap();
        let _b = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        drop(a);
        assert_eq!(slots.in_flight(), 1);
        assert!(slots.try_take().is_some());
    }

    #[test]
    fn keys_compare_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
    }
}
