//! The byte stream under a WebSocket: plain TCP, or TLS driven sans-IO through rustls.
//!
//! The connection task never blocks: it reads what is there (`try_read`), queues output
//! (`queue`) and writes what the socket takes (`try_flush`), awaiting readiness in between.
//! With TLS, plaintext goes through the same calls and rustls encrypts a whole batch of
//! queued frames into records at once, so `wss://` follows the same path as `ws://` and gets
//! the same corking.

use std::io::{self, Read, Write};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use lapps_tls::rustls::ServerConnection;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// A plain or TLS byte stream.
#[derive(Debug)]
pub(crate) struct Transport {
    stream: TcpStream,
    tls: Option<Box<ServerConnection>>,
    /// Plain only: bytes queued and not yet written.
    out: BytesMut,
    /// TLS only: plaintext handed to rustls and not yet written out as records, as far as
    /// the byte counts tell (rustls does not expose the length of its queue).
    tls_pending: usize,
}

/// The socket has nothing more to read right now.
fn would_block(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock
}

impl Transport {
    pub(crate) fn plain(stream: TcpStream) -> Self {
        Self {
            stream,
            tls: None,
            out: BytesMut::new(),
            tls_pending: 0,
        }
    }

    pub(crate) fn tls(stream: TcpStream, mut tls: ServerConnection) -> Self {
        // lapps bounds queued output itself (max_outbound_buffer); rustls must take it all.
        tls.set_buffer_limit(None);
        Self {
            stream,
            tls: Some(Box::new(tls)),
            out: BytesMut::new(),
            tls_pending: 0,
        }
    }

    /// Completes the TLS handshake; a no-op for plain connections.
    pub(crate) async fn handshake(&mut self) -> io::Result<()> {
        loop {
            let Some(tls) = self.tls.as_deref_mut() else {
                return Ok(());
            };
            if !tls.is_handshaking() {
                return Ok(());
            }
            if tls.wants_write() {
                self.flush().await?;
                continue;
            }
            self.stream.readable().await?;
            let Some(tls) = self.tls.as_deref_mut() else {
                return Ok(());
            };
            match tls.read_tls(&mut TryIo(&self.stream)) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if would_block(&e) => continue,
                Err(e) => return Err(e),
            }
            if let Err(error) = tls.process_new_packets() {
                // Send the alert that explains the failure, then give up.
                let _ = self.try_flush();
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
        }
    }

    /// Reads what is available, up to about `limit` bytes, appending plaintext to `dst`.
    ///
    /// Returns the number of bytes appended; `Ok(0)` means the peer closed the stream.
    /// `Err(WouldBlock)` means nothing was available.
    pub(crate) fn try_read(&mut self, dst: &mut BytesMut, limit: usize) -> io::Result<usize> {
        let Some(tls) = self.tls.as_deref_mut() else {
            dst.reserve(limit);
            let room = dst.capacity() - dst.len();
            let n = self.stream.try_read_buf(dst)?;
            if n > 0 && n < room {
                // A read that did not fill the room it had emptied the socket's receive
                // queue: forget the readiness now, so that the next read waits for the next
                // edge instead of costing a system call that only says EAGAIN (tokio's own
                // `poll_read` does the same).
                let _ = self.stream.try_io(Interest::READABLE, || {
                    Err::<(), _>(io::ErrorKind::WouldBlock.into())
                });
            }
            return Ok(n);
        };
        // Plaintext rustls already decrypted comes first.
        let (mut appended, mut eof) = drain_plaintext(tls, dst, limit)?;
        while appended < limit && !eof {
            match tls.read_tls(&mut TryIo(&self.stream)) {
                // The TCP stream ended (with or without close_notify).
                Ok(0) => return Ok(appended),
                Ok(_) => {}
                Err(e) if would_block(&e) && appended > 0 => return Ok(appended),
                Err(e) => return Err(e),
            }
            if let Err(error) = tls.process_new_packets() {
                // Send the alert that explains the failure, then give up.
                while tls.wants_write() {
                    if tls.write_tls(&mut TryIo(&self.stream)).is_err() {
                        break;
                    }
                }
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
            let (n, end) = drain_plaintext(tls, dst, limit - appended)?;
            appended += n;
            eof = end;
        }
        Ok(appended)
    }

    /// Queues bytes to write.
    pub(crate) fn queue(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(tls) = self.tls.as_deref_mut() {
            self.tls_pending += data.len();
            tls.writer().write_all(data)
        } else {
            self.out.extend_from_slice(data);
            Ok(())
        }
    }

    /// Queues the frames in `frames` and leaves it empty. Plain connections take the buffer
    /// itself when nothing else is queued: no copy.
    pub(crate) fn queue_frames(&mut self, frames: &mut BytesMut) -> io::Result<()> {
        if self.tls.is_none() && self.out.is_empty() {
            std::mem::swap(&mut self.out, frames);
            return Ok(());
        }
        // Taken, not cleared: an idle connection's outbound queue holds no memory.
        let frames = std::mem::take(frames);
        self.queue(&frames)
    }

    /// Returns true while queued bytes are waiting for the socket.
    pub(crate) fn wants_write(&self) -> bool {
        match self.tls.as_deref() {
            Some(tls) => tls.wants_write(),
            None => !self.out.is_empty(),
        }
    }

    /// Returns how many queued bytes wait for the socket.
    ///
    /// For TLS this is the plaintext queued minus the record bytes written since, which
    /// undercounts by the record overhead (under 0.2% for full records). It must not be a
    /// constant: the outbound limit (spec §5.12) counts these bytes, and a constant let a
    /// client that never reads make rustls's queue grow without bound.
    pub(crate) fn pending_len(&self) -> usize {
        match self.tls.as_deref() {
            Some(tls) if tls.wants_write() => self.tls_pending.max(1),
            Some(_) => 0,
            None => self.out.len(),
        }
    }

    /// Writes what the socket takes without waiting. `Err(WouldBlock)`: try again when
    /// [`writable`](Self::writable).
    pub(crate) fn try_flush(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_deref_mut() {
            while tls.wants_write() {
                let written = tls.write_tls(&mut TryIo(&self.stream))?;
                self.tls_pending = self.tls_pending.saturating_sub(written);
            }
            self.tls_pending = 0;
            Ok(())
        } else {
            while !self.out.is_empty() {
                let n = self.stream.try_write(&self.out)?;
                self.out.advance(n);
            }
            // Give the memory back once everything is written: idle connections hold
            // no buffers.
            self.out = BytesMut::new();
            Ok(())
        }
    }

    /// Writes everything queued, waiting for the socket as needed.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        loop {
            match self.try_flush() {
                Ok(()) => return Ok(()),
                Err(e) if would_block(&e) => self.stream.writable().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Polls for input: ready when the socket is, or when rustls holds decrypted data.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.tls.as_deref().is_some_and(|tls| !tls.wants_read()) {
            return Poll::Ready(Ok(()));
        }
        self.stream.poll_read_ready(cx)
    }

    /// Polls for room in the socket's send buffer.
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream.poll_write_ready(cx)
    }

    pub(crate) async fn readable(&self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_deref() {
            // Decrypted data may already be waiting in rustls.
            if tls.wants_read() {
                return self.stream.readable().await;
            }
            return Ok(());
        }
        self.stream.readable().await
    }

    /// Sends TLS `close_notify` (if TLS) and shuts down the write side.
    pub(crate) async fn shutdown(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
        }
        let _ = self.flush().await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut self.stream).await;
    }

    /// Queues TLS `close_notify` (if TLS); then poll [`poll_shutdown`](Self::poll_shutdown).
    pub(crate) fn start_shutdown(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
        }
    }

    /// Writes what is queued, then shuts down the write side. A poll function, not an
    /// `async fn`, so that the connection task's state needs no room for its future.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.try_flush() {
                Err(e) if would_block(&e) => {
                    std::task::ready!(self.stream.poll_write_ready(cx))?;
                }
                // Written, or the peer is gone: shut down what is left either way.
                Ok(()) | Err(_) => break,
            }
        }
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.stream), cx)
    }

    /// Takes the parts apart, so the connection can move to another worker thread.
    pub(crate) fn into_parts(
        self,
    ) -> io::Result<(std::net::TcpStream, Option<Box<ServerConnection>>, BytesMut)> {
        Ok((self.stream.into_std()?, self.tls, self.out))
    }

    /// Reassembles a transport on the current worker thread.
    pub(crate) fn from_parts(
        stream: std::net::TcpStream,
        tls: Option<Box<ServerConnection>>,
        out: BytesMut,
    ) -> io::Result<Self> {
        Ok(Self {
            stream: TcpStream::from_std(stream)?,
            tls,
            out,
            // The 101 is all a moving connection can have queued: too little to matter.
            tls_pending: 0,
        })
    }
}

/// Moves decrypted plaintext into `dst`, at most `limit` bytes. The flag is true once the
/// peer's `close_notify` (or an unclean end) means no more plaintext will come.
fn drain_plaintext(
    tls: &mut ServerConnection,
    dst: &mut BytesMut,
    limit: usize,
) -> io::Result<(usize, bool)> {
    let mut chunk = [0u8; 16 * 1024];
    let mut total = 0;
    while total < limit {
        let want = chunk.len().min(limit - total);
        match tls.reader().read(&mut chunk[..want]) {
            Ok(0) => return Ok((total, true)),
            Ok(n) => {
                dst.extend_from_slice(&chunk[..n]);
                total += n;
            }
            Err(e) if would_block(&e) => break,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((total, true)),
            Err(e) => return Err(e),
        }
    }
    Ok((total, false))
}

/// Adapts a tokio socket to `std::io` with non-blocking calls, for rustls's `read_tls` and
/// `write_tls`.
struct TryIo<'a>(&'a TcpStream);

impl Read for TryIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for TryIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
