//! Helpers shared by the integration tests: servers on `127.0.0.1:0`, a raw TCP client that
//! writes handshakes and frames byte for byte and reads responses and frames back, and a
//! well-behaved tokio-tungstenite "bystander" that checks a server keeps serving others while
//! one client misbehaves.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

use std::error::Error;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use lapps_proto::frame::{Frame, FrameDecoder, encode_frame};
use lapps_proto::{OpCode, Role};
use lapps_server::{Server, ServerBuilder, echo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The error type of every test: `Send` so that spawned helper tasks can return it.
pub(crate) type BoxError = Box<dyn Error + Send + Sync>;

/// What every test returns.
pub(crate) type TestResult = Result<(), BoxError>;

/// A tokio-tungstenite client, over `ws://` or `wss://`.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The limit every test body runs under.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

/// How long a read in a helper may wait before the test fails.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The sample `Sec-WebSocket-Key` of RFC 6455 §1.3 and its accept value.
pub(crate) const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub(crate) const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The masking key of every frame the raw client writes.
pub(crate) const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A builder with the built-in echo service at `/echo`, two workers, and a short
/// `handshake_timeout` so that shutdowns at the end of tests are quick.
pub(crate) fn echo_builder() -> ServerBuilder {
    Server::builder()
        .workers(2)
        .handshake_timeout(Duration::from_secs(2))
        .service(echo::service("echo"))
}

/// Starts a graceful shutdown and waits for the server to finish.
///
/// # Errors
///
/// The server's own error, or a timeout after 10 s.
pub(crate) async fn stop(server: Server) -> TestResult {
    server.shutdown_handle().shutdown();
    tokio::time::timeout(Duration::from_secs(10), server).await??;
    Ok(())
}

/// Returns the `ws://` URL of `path` on `addr`.
pub(crate) fn ws_url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

/// Connects a tokio-tungstenite client to `path`.
///
/// # Errors
///
/// Any handshake failure.
pub(crate) async fn ws_connect(addr: SocketAddr, path: &str) -> Result<Ws, BoxError> {
    let (ws, response) = tokio_tungstenite::connect_async(ws_url(addr, path)).await?;
    assert_eq!(response.status(), 101);
    Ok(ws)
}

/// Sends `message` and checks that the next message is the same (the echo service).
///
/// # Errors
///
/// A transport error, a timeout, or the stream ending.
pub(crate) async fn assert_echo<S>(ws: &mut WebSocketStream<S>, message: Message) -> TestResult
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(message.clone()).await?;
    let reply = tokio::time::timeout(READ_TIMEOUT, ws.next())
        .await?
        .ok_or("the stream ended before the echo")??;
    assert_eq!(reply, message);
    Ok(())
}

/// A well-behaved client that keeps exchanging echoes with the server in the background, to
/// show that one client's bad input does not stop the server from serving the others.
#[derive(Debug)]
pub(crate) struct Bystander {
    rounds: Arc<AtomicUsize>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<usize, BoxError>>,
}

impl Bystander {
    /// Connects to `/echo` on `addr`, checks one echo, then keeps echoing every 5 ms.
    ///
    /// # Errors
    ///
    /// The connection or the first echo failing.
    pub(crate) async fn start(addr: SocketAddr) -> Result<Self, BoxError> {
        Self::with(ws_connect(addr, "/echo").await?).await
    }

    /// Like [`start`](Self::start), over a connection the caller opened (`wss://`).
    ///
    /// # Errors
    ///
    /// The first echo failing.
    pub(crate) async fn with(mut ws: Ws) -> Result<Self, BoxError> {
        assert_echo(&mut ws, Message::text("bystander hello")).await?;
        let (stop, mut stopped) = oneshot::channel();
        let rounds = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&rounds);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
                let round = counter.load(Ordering::Relaxed);
                assert_echo(&mut ws, Message::text(format!("bystander {round}"))).await?;
                counter.fetch_add(1, Ordering::Relaxed);
            }
            assert_echo(&mut ws, Message::binary(vec![0xb7; 100_000])).await?;
            ws.close(None).await?;
            Ok(counter.load(Ordering::Relaxed))
        });
        Ok(Self { rounds, stop, task })
    }

    /// Returns the number of echoes exchanged in the background so far.
    pub(crate) fn rounds(&self) -> usize {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Returns the counter behind [`rounds`](Self::rounds), for another task to watch.
    pub(crate) fn rounds_handle(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.rounds)
    }

    /// Stops the echo loop, checks a last echo and closes; returns the number of echoes
    /// exchanged in the background.
    ///
    /// # Errors
    ///
    /// Any echo that failed or came back wrong, or too slowly (5 s).
    pub(crate) async fn finish(self) -> Result<usize, BoxError> {
        let _ = self.stop.send(());
        self.task.await?
    }

    /// Like [`finish`](Self::finish), and checks that at least `min` echoes were exchanged
    /// while the misbehaving client was at work.
    ///
    /// # Errors
    ///
    /// As [`finish`](Self::finish).
    pub(crate) async fn finish_after(self, min: usize) -> TestResult {
        let rounds = self.finish().await?;
        assert!(
            rounds >= min,
            "the bystander got {rounds} echoes, expected at least {min}"
        );
        Ok(())
    }
}

/// An HTTP request head, built field by field so that tests can break one thing at a time.
#[derive(Clone, Debug)]
pub(crate) struct RequestHead {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) version: String,
    pub(crate) fields: Vec<(String, String)>,
}

impl RequestHead {
    /// A valid upgrade request for `target`, with the key of RFC 6455 §1.3.
    pub(crate) fn upgrade(target: &str) -> Self {
        Self {
            method: "GET".to_owned(),
            target: target.to_owned(),
            version: "HTTP/1.1".to_owned(),
            fields: [
                ("Host", "127.0.0.1"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", KEY),
                ("Sec-WebSocket-Version", "13"),
            ]
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        }
    }

    /// A plain `GET` (no upgrade) for `target`.
    pub(crate) fn get(target: &str) -> Self {
        Self {
            method: "GET".to_owned(),
            target: target.to_owned(),
            version: "HTTP/1.1".to_owned(),
            fields: vec![("Host".to_owned(), "127.0.0.1".to_owned())],
        }
    }

    /// Sets the method.
    #[must_use]
    pub(crate) fn method(mut self, method: &str) -> Self {
        method.clone_into(&mut self.method);
        self
    }

    /// Sets the HTTP version token (`HTTP/1.0`).
    #[must_use]
    pub(crate) fn version(mut self, version: &str) -> Self {
        version.clone_into(&mut self.version);
        self
    }

    /// Replaces the fields named `name` (any case) with one, or appends it.
    #[must_use]
    pub(crate) fn set(self, name: &str, value: &str) -> Self {
        let mut head = self.remove(name);
        head.fields.push((name.to_owned(), value.to_owned()));
        head
    }

    /// Appends a field, even if one of that name exists.
    #[must_use]
    pub(crate) fn add(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes every field named `name` (any case).
    #[must_use]
    pub(crate) fn remove(mut self, name: &str) -> Self {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Returns the head's bytes, ending with the blank line.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} {}\r\n", self.method, self.target, self.version);
        for (name, value) in &self.fields {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// An HTTP response as the raw client read it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) struct Response {
    /// The status line, without CRLF: `HTTP/1.1 404 Not Found`.
    pub(crate) status_line: String,
    pub(crate) status: u16,
    /// The fields in order, as sent.
    pub(crate) fields: Vec<(String, String)>,
    /// The body: `Content-Length` bytes (none for a 101).
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// Returns the value of the only field named `name` (any case); panics if it is repeated.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        let mut values = self
            .fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v.as_str());
        assert!(
            values.next().is_none(),
            "the response repeats {name}: {self:?}"
        );
        first
    }

    /// Returns the body as text.
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not UTF-8>")
    }
}

/// A client over a plain TCP socket that writes what the test gives it, byte for byte.
#[derive(Debug)]
pub(crate) struct RawClient {
    pub(crate) stream: TcpStream,
    /// Bytes read and not yet consumed.
    pub(crate) buf: BytesMut,
    decoder: FrameDecoder,
}

impl RawClient {
    /// Connects to `addr`.
    ///
    /// # Errors
    ///
    /// The connect failing.
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(Role::Client, 64 << 20),
        })
    }

    /// Wraps a stream that is already past its handshake; `buf` holds bytes already read.
    pub(crate) fn from_stream(stream: TcpStream, buf: BytesMut) -> Self {
        Self {
            stream,
            buf,
            decoder: FrameDecoder::new(Role::Client, 64 << 20),
        }
    }

    /// Connects, sends a valid upgrade request for `target`, and checks the 101.
    ///
    /// # Errors
    ///
    /// The connect failing, or a response other than 101.
    pub(crate) async fn open(addr: SocketAddr, target: &str) -> Result<Self, BoxError> {
        Self::open_with(addr, &RequestHead::upgrade(target)).await
    }

    /// Connects, sends `head`, and checks the 101.
    ///
    /// # Errors
    ///
    /// The connect failing, or a response other than 101.
    pub(crate) async fn open_with(addr: SocketAddr, head: &RequestHead) -> Result<Self, BoxError> {
        let mut client = Self::connect(addr).await?;
        let response = client.request(head).await?;
        assert_eq!(
            response.status_line, "HTTP/1.1 101 Switching Protocols",
            "{response:?}"
        );
        assert_eq!(response.field("Sec-WebSocket-Accept"), Some(ACCEPT));
        Ok(client)
    }

    /// Writes `head` and reads the response.
    ///
    /// # Errors
    ///
    /// As [`read_response`](Self::read_response).
    pub(crate) async fn request(&mut self, head: &RequestHead) -> Result<Response, BoxError> {
        self.write(&head.to_bytes()).await?;
        self.read_response().await
    }

    /// Writes all of `bytes`.
    ///
    /// # Errors
    ///
    /// A write error.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), BoxError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Reads more bytes into the buffer; returns how many (0 at end of stream).
    async fn fill(&mut self) -> Result<usize, BoxError> {
        self.buf.reserve(64 * 1024);
        let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read_buf(&mut self.buf)).await??;
        Ok(n)
    }

    /// Reads exactly `len` bytes.
    ///
    /// # Errors
    ///
    /// A read error or timeout, or the stream ending first.
    pub(crate) async fn read_bytes(&mut self, len: usize) -> Result<Vec<u8>, BoxError> {
        while self.buf.len() < len {
            if self.fill().await? == 0 {
                return Err(format!(
                    "the stream ended after {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
                .into());
            }
        }
        Ok(self.buf.split_to(len).to_vec())
    }

    /// Reads a response head, and its body if it has a `Content-Length`.
    ///
    /// # Errors
    ///
    /// A read error or timeout, the stream ending first, or a head that is not HTTP.
    pub(crate) async fn read_response(&mut self) -> Result<Response, BoxError> {
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill().await? == 0 {
                return Err(format!(
                    "the stream ended inside a response head: {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
                .into());
            }
        };
        let head = self.buf.split_to(head_len);
        let head = std::str::from_utf8(&head)?;
        let mut lines = head.trim_end_matches("\r\n").split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not a status line: {status_line:?}"))?;
        let mut fields = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("not a field: {line:?}"))?;
            fields.push((name.to_owned(), value.trim().to_owned()));
        }
        let mut response = Response {
            status_line,
            status,
            fields,
            body: Vec::new(),
        };
        let length: usize = response.field("Content-Length").map_or(Ok(0), str::parse)?;
        while self.buf.len() < length {
            if self.fill().await? == 0 {
                return Err("the stream ended inside a response body".into());
            }
        }
        response.body = self.buf.split_to(length).to_vec();
        Ok(response)
    }

    /// Reads until the server closes the stream and returns everything that came, checking
    /// that the end is an orderly FIN or a reset, within 5 s.
    ///
    /// # Errors
    ///
    /// A timeout.
    pub(crate) async fn read_to_end(&mut self) -> Result<Vec<u8>, BoxError> {
        loop {
            match self.fill().await {
                Ok(0) => return Ok(self.buf.split().to_vec()),
                Ok(_) => {}
                Err(error) => match error.downcast_ref::<std::io::Error>() {
                    Some(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                        return Ok(self.buf.split().to_vec());
                    }
                    _ => return Err(error),
                },
            }
        }
    }

    /// Checks that the server ends the stream with nothing more to read.
    ///
    /// # Errors
    ///
    /// A timeout, or bytes arriving.
    pub(crate) async fn expect_eof(&mut self) -> TestResult {
        let rest = self.read_to_end().await?;
        assert!(
            rest.is_empty(),
            "expected the end of the stream, got {} bytes: {rest:?}",
            rest.len()
        );
        Ok(())
    }

    /// Writes one masked frame.
    ///
    /// # Errors
    ///
    /// A write error.
    pub(crate) async fn send_frame(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: &[u8],
    ) -> TestResult {
        self.write(&masked_frame(fin, opcode, payload)).await
    }

    /// Writes a masked Close frame with `code` and `reason`.
    ///
    /// # Errors
    ///
    /// A write error.
    pub(crate) async fn send_close(&mut self, code: u16, reason: &str) -> TestResult {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.send_frame(true, OpCode::Close, &payload).await
    }

    /// Reads the next frame the server sends.
    ///
    /// # Errors
    ///
    /// A read error or timeout, a frame the client role refuses, or the end of the stream.
    pub(crate) async fn read_frame(&mut self) -> Result<Frame, BoxError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(frame);
            }
            if self.fill().await? == 0 {
                return Err(format!(
                    "the stream ended before a frame ({} bytes left)",
                    self.buf.len()
                )
                .into());
            }
        }
    }

    /// Reads frames until a Close; returns the frames before it and the Close's code and
    /// reason (`None` for an empty Close payload).
    ///
    /// # Errors
    ///
    /// As [`read_frame`](Self::read_frame).
    pub(crate) async fn read_until_close(
        &mut self,
    ) -> Result<(Vec<Frame>, Option<(u16, String)>), BoxError> {
        let mut before = Vec::new();
        loop {
            let frame = self.read_frame().await?;
            if frame.opcode == OpCode::Close {
                return Ok((before, close_payload(&frame.payload)));
            }
            before.push(frame);
        }
    }

    /// Reads the next frame and checks that it is a Close with `code` and `reason`.
    ///
    /// # Errors
    ///
    /// As [`read_frame`](Self::read_frame).
    pub(crate) async fn expect_close(&mut self, code: u16, reason: &str) -> TestResult {
        let frame = self.read_frame().await?;
        assert_eq!(
            frame.opcode,
            OpCode::Close,
            "expected a Close, got {frame:?}"
        );
        assert_eq!(
            close_payload(&frame.payload),
            Some((code, reason.to_owned()))
        );
        Ok(())
    }
}

/// Returns the code and reason of a Close payload (`None` if empty).
pub(crate) fn close_payload(payload: &[u8]) -> Option<(u16, String)> {
    let (code, reason) = payload.split_first_chunk::<2>()?;
    Some((
        u16::from_be_bytes(*code),
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

/// Encodes one frame masked with [`MASK`].
pub(crate) fn masked_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    encode_frame(fin, 0, opcode, payload, Some(MASK), &mut out);
    out
}

/// Reads the process's `VmHWM` (peak resident set) or `VmRSS` from `/proc/self/status`, in
/// bytes.
///
/// # Errors
///
/// The file being unreadable or the field missing (not Linux).
pub(crate) fn proc_status_bytes(field: &str) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?;
    let kib: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib * 1024)
}

/// Fetches `target` with a plain `GET` and returns the response; the server closes after it.
///
/// # Errors
///
/// As [`RawClient::request`].
pub(crate) async fn http_get(addr: SocketAddr, target: &str) -> Result<Response, BoxError> {
    let mut client = RawClient::connect(addr).await?;
    let response = client.request(&RequestHead::get(target)).await?;
    client.expect_eof().await?;
    Ok(response)
}

/// Returns the lines of `Metrics::render` (or a `/metrics` body) that are samples, not
/// comments.
pub(crate) fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

/// Checks that the metrics text has exactly the sample line `line`.
pub(crate) fn assert_sample(text: &str, line: &str) {
    assert!(
        samples(text).contains(&line),
        "no sample line {line:?} in:\n{text}"
    );
}

/// Waits until `condition` holds, polling every 5 ms.
///
/// # Errors
///
/// A timeout after 5 s.
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) -> TestResult {
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    while !condition() {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("timed out waiting until {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// A test PKI made with rcgen: a CA and a server certificate for `localhost` and
/// `127.0.0.1` that it signed, with the server and client rustls configurations.
#[derive(Debug)]
pub(crate) struct TestPki {
    /// The CA certificate, PEM: what clients trust.
    pub(crate) ca_pem: String,
    pub(crate) server: Arc<lapps_tls::rustls::ServerConfig>,
    /// Trusts the CA only; offers no ALPN.
    pub(crate) client: Arc<lapps_tls::rustls::ClientConfig>,
}

impl TestPki {
    /// Generates fresh keys and certificates.
    ///
    /// # Errors
    ///
    /// An rcgen or lapps-tls error.
    pub(crate) fn new() -> Result<Self, BoxError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "lapps test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_pem = ca.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_key = KeyPair::generate()?;
        let leaf_pem = leaf.signed_by(&leaf_key, &issuer)?.pem();
        let server = lapps_tls::ServerTlsConfig::from_pem(
            leaf_pem.as_bytes(),
            leaf_key.serialize_pem().as_bytes(),
        )?
        .build()?;
        let mut roots = lapps_tls::Roots::empty();
        roots.add_pem(ca_pem.as_bytes())?;
        let client = lapps_tls::ClientTlsConfig::new(roots).build()?;
        Ok(Self {
            ca_pem,
            server,
            client,
        })
    }

    /// Returns a tokio-tungstenite connector that trusts the CA.
    pub(crate) fn connector(&self) -> tokio_tungstenite::Connector {
        tokio_tungstenite::Connector::Rustls(Arc::clone(&self.client))
    }
}

/// Connects a tokio-tungstenite client over TLS to `wss://127.0.0.1:<port><path>`.
///
/// # Errors
///
/// Any TLS or WebSocket handshake failure.
pub(crate) async fn wss_connect(
    addr: SocketAddr,
    path: &str,
    connector: tokio_tungstenite::Connector,
) -> Result<Ws, BoxError> {
    let url = format!("wss://{addr}{path}");
    let (ws, response) =
        tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector)).await?;
    assert_eq!(response.status(), 101);
    Ok(ws)
}
