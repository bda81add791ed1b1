//! A connection's IO with a budget: the PostgreSQL listener wraps each connection in it, so a client
//! cannot make the server buffer an unbounded message, nor hold a connection open in silence.

use std::time::Duration;

/// A connection's IO that refuses more than `budget` bytes from the client between two answers of
/// the server, and ends after `idle` without a byte either way.
pub struct Budgeted<T> {
    io: T,
    budget: usize,
    unanswered: usize,
    idle: Duration,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<T> Budgeted<T> {
    pub fn new(io: T, budget: usize, idle: Duration) -> Budgeted<T> {
        Budgeted { io, budget, unanswered: 0, idle, timer: Box::pin(tokio::time::sleep(idle)) }
    }

    fn active(&mut self) {
        let at = tokio::time::Instant::now() + self.idle;
        self.timer.as_mut().reset(at);
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Budgeted<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        if self.unanswered > self.budget {
            let message = format!("the client sent more than {} bytes without an answer", self.budget);
            return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message)));
        }
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                self.unanswered += n;
                self.active();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Budgeted<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = std::pin::Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(written, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.unanswered = 0;
            self.active();
        }
        written
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
