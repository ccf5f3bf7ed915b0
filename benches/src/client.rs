//! One WebSocket client connection on lapps-proto's client role: connecting (TCP, optional
//! TLS, the opening handshake), sending data frames and receiving messages.
//!
//! The hot path is kept cheap: data frames are encoded and masked straight into one reusable
//! write buffer and leave in one write; messages are decoded from the connection's own receive
//! buffer, which the reader fills directly and which is reused once a message is dropped;
//! masking keys come from a xorshift generator.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lapps_proto::frame::encode_frame;
use lapps_proto::handshake::{self, ClientOptions, HandshakeError, Host, Uri};
use lapps_proto::{CloseCode, CloseFrame, Config, Connection, Event, Message, OpCode};
use lapps_proto::{ProtocolError, State, Status};
use lapps_tls::{ClientTlsConfig, Roots};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use crate::BoxError;

/// Where connections go: the parsed URL, its resolved address, TLS settings and source
/// addresses. Built once per run and shared by every connection.
#[derive(Clone)]
pub struct Target {
    uri: Uri,
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    sources: usize,
}

impl Target {
    /// Parses `url` (`ws://` or `wss://`), resolves its host (an IPv4 address if it has one)
    /// and, for `wss://`, builds the TLS
    /// client configuration: it trusts the certificates of `ca` (PEM) if given, the system
    /// roots otherwise, and sends the URL host as SNI.
    ///
    /// With `sources` above 1, connection `i` binds its socket to `127.0.0.(1 + i % sources)`
    /// before connecting, so that more connections than one source address has ephemeral ports
    /// can be opened.
    ///
    /// # Errors
    ///
    /// An invalid URL, a host that does not resolve, an unreadable CA file, a TLS
    /// configuration error, or `sources` above 1 with a target that is not IPv4.
    pub async fn resolve(url: &str, ca: Option<&Path>, sources: usize) -> Result<Self, BoxError> {
        let uri = Uri::parse(url).map_err(|e| format!("invalid URL {url}: {e}"))?;
        let host = host_name(uri.host());
        let addr = match uri.host() {
            Host::Ipv4(ip) => SocketAddr::new(IpAddr::V4(*ip), uri.port()),
            Host::Ipv6(ip) => SocketAddr::new(IpAddr::V6(*ip), uri.port()),
            Host::Domain(name) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), uri.port()))
                    .await
                    .map_err(|e| format!("cannot resolve {name}: {e}"))?
                    .collect();
                // IPv4 first: `localhost` often resolves to ::1 first, while servers under
                // test listen on 127.0.0.1.
                addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or_else(|| addrs.first())
                    .copied()
                    .ok_or_else(|| format!("{name} resolves to no address"))?
            }
        };
        if sources > 1 && !addr.is_ipv4() {
            return Err(format!("--sources needs an IPv4 target, not {addr}").into());
        }
        let tls = if uri.is_secure() {
            let mut roots = Roots::empty();
            if let Some(path) = ca {
                roots.add_pem_file(path)?;
            } else {
                // Certificates the system store could not parse are skipped; a server whose
                // issuer is missing then fails with UnknownIssuer, counted as an error.
                let _warnings = roots.add_system();
            }
            let config = ClientTlsConfig::new(roots).build()?;
            let name = lapps_tls::server_name(&host)?;
            Some((TlsConnector::from(config), name))
        } else {
            None
        };
        Ok(Self {
            uri,
            addr,
            tls,
            sources: sources.max(1),
        })
    }

    /// Returns the address connections go to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the parsed URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Opens TCP connection number `index`, bound to its source address if there are several.
    async fn tcp(&self, index: usize) -> io::Result<TcpStream> {
        let stream = if self.sources > 1 {
            let octet = u8::try_from(1 + index % self.sources).unwrap_or(1);
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, octet)),
                0,
            ))?;
            socket.connect(self.addr).await?
        } else {
            TcpStream::connect(self.addr).await?
        };
        // One message in flight per connection: Nagle would hold back every request.
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("uri", &self.uri)
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("sources", &self.sources)
            .finish()
    }
}

/// An open WebSocket connection, client role.
pub struct Ws {
    stream: Stream,
    conn: Connection,
    /// Masking keys of the data frames this side encodes itself.
    masks: XorShift,
    /// Encoded frames on their way out; cleared, never shrunk.
    wbuf: Vec<u8>,
    /// Room made in the receive buffer before each read.
    read_reserve: usize,
}

impl Ws {
    /// Opens connection number `index` to `target` and completes the opening handshake.
    /// `read_reserve` is the room made in the receive buffer before each read: the expected
    /// message size, or a little for idle connections.
    ///
    /// # Errors
    ///
    /// The TCP connect, the TLS handshake or the WebSocket handshake failing.
    pub async fn connect(
        target: &Target,
        index: usize,
        read_reserve: usize,
    ) -> Result<Self, ClientError> {
        let tcp = target.tcp(index).await.map_err(ClientError::Connect)?;
        let mut stream = match &target.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(ClientError::Tls)?;
                Stream::Tls(Box::new(tls))
            }
            None => Stream::Plain(tcp),
        };
        let mut random = XorShift::for_connection(index);
        let mut key = [0; 16];
        key[..8].copy_from_slice(&random.next_u64().to_ne_bytes());
        key[8..].copy_from_slice(&random.next_u64().to_ne_bytes());
        let leftover = upgrade(&mut stream, &target.uri, &key).await?;
        // The codec masks its own control frames (pongs, closes) with a second generator.
        let mut control = XorShift::new(random.next_u64());
        let mut conn = Connection::client(Config::default(), move || control.next_mask());
        if !leftover.is_empty() {
            conn.handle_input(&leftover)
                .map_err(ClientError::Protocol)?;
        }
        Ok(Self {
            stream,
            conn,
            masks: random,
            wbuf: Vec::new(),
            read_reserve: read_reserve.max(MIN_READ),
        })
    }

    /// Sends one data message as one masked frame, in one write together with any control
    /// frame the codec has queued (a pong).
    ///
    /// # Errors
    ///
    /// [`ClientError::Closed`] if a Close was sent or received, or the write failing.
    pub async fn send(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), ClientError> {
        if self.conn.state() != State::Open {
            return Err(ClientError::Closed(None));
        }
        self.wbuf.clear();
        self.take_control();
        let mask = self.masks.next_mask();
        encode_frame(true, 0, opcode, payload, Some(mask), &mut self.wbuf);
        self.write_buffer().await
    }

    /// Receives the next data message; answers pings on the way.
    ///
    /// # Errors
    ///
    /// The peer's Close ([`ClientError::Closed`]), the end of the stream, a read error, or a
    /// protocol violation (whose Close is sent before returning).
    pub async fn next_message(&mut self) -> Result<Message, ClientError> {
        loop {
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Message(message) => return Ok(message),
                    Event::Closed(frame) => {
                        let _ = self.flush_control().await;
                        return Err(ClientError::Closed(frame));
                    }
                    Event::Ping(_) | Event::Pong(_) => {}
                }
            }
            self.flush_control().await?;
            let reserve = self.read_reserve;
            let rx = self.conn.recv_buffer();
            rx.reserve(reserve);
            let n = self.stream.read_buf(rx).await.map_err(ClientError::Read)?;
            if n == 0 {
                return Err(ClientError::Eof);
            }
            if let Err(error) = self.conn.handle_received() {
                let _ = self.flush_control().await;
                return Err(ClientError::Protocol(error));
            }
        }
    }

    /// Sends a Close (1000) and drops the connection without waiting for the answer.
    pub async fn close(mut self) {
        if self.conn.close(CloseCode(1000), "").is_ok() {
            let _ = self.flush_control().await;
        }
    }

    /// Moves the codec's queued output (pongs, Close replies) into the write buffer.
    fn take_control(&mut self) {
        let data = self.conn.transmit_data();
        if !data.is_empty() {
            let len = data.len();
            self.wbuf.extend_from_slice(data);
            self.conn.advance_transmit(len);
        }
    }

    /// Writes the codec's queued output, if any.
    async fn flush_control(&mut self) -> Result<(), ClientError> {
        if self.conn.transmit_len() == 0 {
            return Ok(());
        }
        self.wbuf.clear();
        self.take_control();
        self.write_buffer().await
    }

    async fn write_buffer(&mut self) -> Result<(), ClientError> {
        self.stream
            .write_all(&self.wbuf)
            .await
            .map_err(ClientError::Write)?;
        if let Stream::Tls(tls) = &mut self.stream {
            // tokio-rustls may keep records it could not write yet; push them out now.
            tls.flush().await.map_err(ClientError::Write)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Ws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ws")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

/// Why a connection failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The TCP connect failed (refused, unreachable, no ports left).
    Connect(io::Error),
    /// The TLS handshake failed.
    Tls(io::Error),
    /// The WebSocket handshake response was refused.
    Handshake(HandshakeError),
    /// Opening the connection (with its login or subscription) took longer than this.
    Timeout(Duration),
    /// Reading failed.
    Read(io::Error),
    /// Writing failed.
    Write(io::Error),
    /// The server closed the TCP connection.
    Eof,
    /// The server sent a Close (or this side had sent one).
    Closed(Option<CloseFrame>),
    /// The server broke RFC 6455.
    Protocol(ProtocolError),
    /// The server answered something other than what the benchmark expects.
    Unexpected(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Tls(e) => write!(f, "TLS handshake: {e}"),
            Self::Handshake(e) => write!(f, "WebSocket handshake: {e}"),
            Self::Timeout(t) => write!(f, "not open within {} s", t.as_secs()),
            Self::Read(e) => write!(f, "read: {e}"),
            Self::Write(e) => write!(f, "write: {e}"),
            Self::Eof => f.write_str("the server closed the connection"),
            Self::Closed(None) => f.write_str("closed by a Close frame without a code"),
            Self::Closed(Some(frame)) => write!(
                f,
                "closed by the server: {} {:?}",
                frame.code.0,
                frame.reason.as_str()
            ),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Unexpected(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for ClientError {}

/// A xorshift64 generator: masking keys and handshake nonces.
///
/// RFC 6455 §5.3 asks for unpredictable masks so that a browser's script cannot choose the
/// bytes on the wire; a load generator that writes its own payloads has nothing to protect,
/// and the mask only needs to vary. This costs three shifts and three XORs per key.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// Creates a generator from `seed` (any value; it is scrambled, and never left at zero).
    pub fn new(seed: u64) -> Self {
        // splitmix64's finaliser spreads nearby seeds (connection numbers) apart.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    /// Creates the generator of connection `index`, seeded from it and from a per-process
    /// random value, so that two runs do not send the same masks.
    pub fn for_connection(index: usize) -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_usize(index);
        Self::new(hasher.finish())
    }

    /// Returns the next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Returns a masking key.
    pub fn next_mask(&mut self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.next_u64().to_be_bytes();
        [a, b, c, d]
    }
}

/// A TCP stream, plain or with TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Sends the upgrade request and reads the response; returns the bytes after its head
/// (frames the server sent right behind it).
async fn upgrade(stream: &mut Stream, uri: &Uri, key: &[u8; 16]) -> Result<Vec<u8>, ClientError> {
    let mut request = Vec::with_capacity(256);
    let options = ClientOptions::new().with_user_agent(handshake::PRODUCT);
    handshake::write_request(uri, key, &options, &mut request);
    stream
        .write_all(&request)
        .await
        .map_err(ClientError::Write)?;
    stream.flush().await.map_err(ClientError::Write)?;
    let mut head = Vec::with_capacity(512);
    loop {
        if stream
            .read_buf(&mut head)
            .await
            .map_err(ClientError::Read)?
            == 0
        {
            return Err(ClientError::Eof);
        }
        match handshake::parse_response(&head, key, &[]) {
            Ok(Status::Complete((_, len))) => return Ok(head.split_off(len)),
            Ok(Status::Partial) => head.reserve(512),
            Err(e) => return Err(ClientError::Handshake(e)),
        }
    }
}

/// The host of `uri` as a name for DNS or SNI: IPv6 literals keep their brackets, which
/// [`lapps_tls::server_name`] accepts.
fn host_name(host: &Host) -> String {
    host.to_string()
}

/// The least room made in the receive buffer before a read.
const MIN_READ: usize = 256;

#[cfg(test)]
mod tests {
    use super::XorShift;

    #[test]
    fn consecutive_masks_differ() {
        let mut random = XorShift::new(1);
        let masks: Vec<[u8; 4]> = (0..1000).map(|_| random.next_mask()).collect();
        let mut unique = masks.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), masks.len());
        assert!(masks.iter().all(|m| *m != [0; 4]));
    }

    #[test]
    fn connections_get_different_masks() {
        let first: Vec<[u8; 4]> = {
            let mut r = XorShift::new(7);
            (0..4).map(|_| r.next_mask()).collect()
        };
        let second: Vec<[u8; 4]> = {
            let mut r = XorShift::new(8);
            (0..4).map(|_| r.next_mask()).collect()
        };
        assert_ne!(first, second);
        let mut a = XorShift::for_connection(3);
        let mut b = XorShift::for_connection(4);
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn zero_seed_does_not_stick_at_zero() {
        let mut random = XorShift::new(0u64.wrapping_sub(0x9e37_79b9_7f4a_7c15));
        assert_ne!(random.next_u64(), 0);
    }
}
