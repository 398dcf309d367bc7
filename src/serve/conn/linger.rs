//! Lingering close. A connection the server ends while its client is still
//! sending (a body over the limit answered 413 before it was read, a request
//! head over 64 KiB) would be closed with unread bytes, and the kernel answers
//! that with a reset, which discards the answer before the client reads it:
//! clients that send a whole body before reading (Python's urllib and requests,
//! without `Expect: 100-continue`) saw a broken pipe instead of the 413. So such
//! a socket is half-closed and what still comes is read and thrown away, within
//! bounds, before it is closed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

/// Most bytes thrown away after the answer: past that the client is sending far
/// more than any request may hold, and is reset.
const LINGER_BYTES: usize = 16 << 20;
/// Longest a closing socket is drained, and longest a client may pause while
/// still sending (it may be waiting for the answer instead).
const LINGER_TIME: Duration = Duration::from_secs(10);
const LINGER_QUIET: Duration = Duration::from_secs(2);

/// A client's socket and its place among the server's connections; when dropped
/// with bytes still unread, it lingers (above) and the place goes with it.
pub(in crate::serve) struct Lingering {
    stream: Option<TcpStream>,
    place: Option<OwnedSemaphorePermit>,
    drain: Drain,
}

/// The bounds of a drain (the tests shorten them).
#[derive(Clone, Copy)]
struct Drain {
    bytes: usize,
    time: Duration,
    quiet: Duration,
}

impl Lingering {
    pub fn new(stream: TcpStream, place: OwnedSemaphorePermit) -> Self {
        Self {
            stream: Some(stream),
            place: Some(place),
            drain: Drain {
                bytes: LINGER_BYTES,
                time: LINGER_TIME,
                quiet: LINGER_QUIET,
            },
        }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(stream) = self.stream.take() else {
            return;
        };
        // Only unread bytes make the close a reset: a client that sent nothing
        // more (or has closed) is closed at once.
        let mut probe = [0u8; 1024];
        if !matches!(stream.try_read(&mut probe), Ok(n) if n > 0) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (place, drain) = (self.place.take(), self.drain);
        runtime.spawn(async move {
            drain.run(stream).await;
            drop(place);
        });
    }
}

impl Drain {
    /// Half-closes `stream` (the answer is whole: tells the client so) and reads
    /// until the client closes, pauses, or passes the bounds.
    async fn run(self, mut stream: TcpStream) {
        let _ = stream.shutdown().await;
        let end = Instant::now() + self.time;
        let mut buf = vec![0u8; 16 << 10];
        let mut taken = 0;
        while taken < self.bytes {
            let wait = self
                .quiet
                .min(end.saturating_duration_since(Instant::now()));
            match tokio::time::timeout(wait, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => taken += n,
                _ => break,
            }
        }
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::Arc;

    /// A server socket that answers at once and closes while the client is still
    /// sending: with lingering the client's whole send succeeds and it reads the
    /// answer; the place is held until the drain ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_still_sending_reads_the_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = vec![b'x'; 8 << 20];
        let client = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.write_all(&body).unwrap();
            let mut answer = String::new();
            c.read_to_string(&mut answer).unwrap();
            answer
        });
        let places = Arc::new(tokio::sync::Semaphore::new(1));
        let (stream, _) = listener.accept().await.unwrap();
        let mut io = Lingering::new(stream, places.clone().try_acquire_owned().unwrap());
        // Some of the body has come: the answer goes before the rest is read.
        let mut first = [0u8; 1];
        io.read_exact(&mut first).await.unwrap();
        io.write_all(b"413 too large").await.unwrap();
        drop(io);
        assert_eq!(places.available_permits(), 0, "the drain holds the place");
        let answer = tokio::task::spawn_blocking(move || client.join().unwrap())
            .await
            .unwrap();
        assert_eq!(answer, "413 too large");
        let _ = places.acquire().await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_client_is_closed_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let places = Arc::new(tokio::sync::Semaphore::new(1));
        let (stream, _) = listener.accept().await.unwrap();
        drop(Lingering::new(
            stream,
            places.clone().try_acquire_owned().unwrap(),
        ));
        assert_eq!(places.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_drain_keeps_to_its_bounds() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        client.write_all(b"more").await.unwrap();
        // A client that sends a little then pauses for ever: over after `quiet`.
        let drain = Drain {
            bytes: 1 << 20,
            time: Duration::from_secs(10),
            quiet: Duration::from_millis(200),
        };
        let start = Instant::now();
        drain.run(stream).await;
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
