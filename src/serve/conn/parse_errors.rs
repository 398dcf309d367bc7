//! The answers hyper writes itself, for a request it cannot parse (400, 414, and
//! 431 for a head over the limit), have no body; the API's errors are JSON. No
//! handler sees such a request, so the bare answer is recognised where it is
//! written and replaced by the same status with the API's JSON error.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::MAX_HEAD_BYTES;
use crate::serve::stream::ApiError;

/// An IO that writes hyper's bare error answers as JSON ones.
pub(in crate::serve) struct ParseErrors<S> {
    inner: S,
    /// The JSON answer being written, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S: AsyncWrite + Unpin> ParseErrors<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }

    /// Writes what is left of a JSON answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = &mut self.pending {
            if *done == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(()))
    }

    /// If `buf` starts with one of hyper's bare error heads, its JSON answer is
    /// queued instead, and the head's length returned (taken as written).
    fn replace(&mut self, buf: &[u8]) -> Option<usize> {
        let (taken, answer) = json_answer(buf)?;
        self.pending = Some((answer, 0));
        Some(taken)
    }
}

/// The JSON answer for a bare error head at the start of `buf`, and the head's length.
fn json_answer(buf: &[u8]) -> Option<(usize, Vec<u8>)> {
    let code = buf.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let message = match code {
        b"400" => "the request could not be read: its request line or a header is not \
                   valid HTTP/1.1"
            .to_string(),
        b"414" => "the request's target (its URL) is too long".to_string(),
        b"431" => format!(
            "the request's headers are over the server's limit of {} KiB; send fewer or \
             shorter ones",
            MAX_HEAD_BYTES >> 10
        ),
        _ => return None,
    };
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    // hyper's own have no body and no type; the API's errors always have both.
    if !head.contains("\r\ncontent-length: 0\r\n") || head.contains("\r\ncontent-type:") {
        return None;
    }
    let status = StatusCode::from_bytes(code).ok()?;
    let body = ApiError::new(status, message).body().to_string();
    // hyper closes the connection after these: the client is told so.
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    Some((end, answer.into_bytes()))
}

impl<S: AsyncRead + Unpin> AsyncRead for ParseErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ParseErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(n) = self.replace(buf) {
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        // hyper writes a head as one buffer, the first of its queue.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(n) = self.replace(first) {
                return Poll::Ready(Ok(n));
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What the far end of a [`ParseErrors`] receives for `writes`, written one
    /// by one (vectored when `vectored`), then shut down.
    async fn received(writes: &[&[u8]], vectored: bool) -> String {
        // A small pipe: the answer goes through in several writes.
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = ParseErrors::new(near);
        let reader = tokio::spawn(async move {
            let mut got = String::new();
            far.read_to_string(&mut got).await.unwrap();
            got
        });
        for w in writes {
            if vectored {
                let mut left = *w;
                while !left.is_empty() {
                    let n = io.write_vectored(&[io::IoSlice::new(left)]).await.unwrap();
                    left = &left[n..];
                }
            } else {
                io.write_all(w).await.unwrap();
            }
        }
        io.flush().await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        reader.await.unwrap()
    }

    #[tokio::test]
    async fn a_bare_431_becomes_the_api_s_json_error() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\
                     date: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        for vectored in [false, true] {
            let got = received(&[bare], vectored).await;
            let (head, body) = got.split_once("\r\n\r\n").unwrap();
            assert!(
                head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
                "{head}"
            );
            assert!(head.contains("content-type: application/json"), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], 431);
            assert!(v["error"]["message"].as_str().unwrap().contains("64 KiB"));
        }
        let got = received(
            &[b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"],
            false,
        );
        assert!(got.await.contains("\"code\":400"));
    }

    #[tokio::test]
    async fn other_answers_pass_unchanged() {
        let api_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                               content-length: 2\r\n\r\n{}";
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        let got = received(&[ok, api_400, b"partial HTTP/1.1 431 "], false).await;
        let want = [ok, api_400, b"partial HTTP/1.1 431 "].concat();
        assert_eq!(got.as_bytes(), want);
    }
}
