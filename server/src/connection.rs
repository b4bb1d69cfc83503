//! # One client connection, from the first byte to the last
//!
//! We run pgwire's message processing (`process_message`, `process_error`)
//! but own the loop around it, for one reason: every byte the client sends
//! passes through [`Guarded`], which lets only complete, well-formed,
//! UTF-8-clean messages reach pgwire's decoder (see [`crate::frontend`]).
//! A violation ends the connection with a FATAL error carrying
//! PostgreSQL's SQLSTATE (08P01 protocol violation, 22021 bad encoding);
//! other sessions never notice.
//!
//! Encryption is negotiated first ([`negotiate`]), on the raw socket:
//! an SSLRequest is answered `S` when TLS is configured (`N` otherwise), a
//! GSSENCRequest `N`; with TLS configured a first byte of 0x16 is a
//! PostgreSQL 17 direct-TLS ClientHello, which must name ALPN `postgresql`.
//! The protocol proper then runs on the plain or TLS stream alike.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, PgWireConnectionState, PgWireServerHandlers};
use pgwire::api::{DefaultClient, ErrorHandler};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::response::{GssEncResponse, SslResponse};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage, SslNegotiationMetaMessage};
use pgwire::tokio::server::{process_error, process_message, PgWireMessageServerCodec};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::frontend::{Framer, Violation};
use crate::tls::{Tls, TlsRequired, ALPN_POSTGRESQL};

/// A client that has not finished logging in within this is dropped.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// The socket with a checkpoint on its read side.
///
/// Invariant: `ready` holds only whole messages the [`Framer`] accepted;
/// `raw` holds at most one partial message plus one read chunk.
pub struct Guarded<S> {
    inner: S,
    framer: Framer,
    raw: BytesMut,
    ready: BytesMut,
    violation: Option<Violation>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, message_bytes_max: usize) -> Guarded<S> {
        Guarded::with_prefix(inner, &[], message_bytes_max)
    }

    /// As [`Guarded::new`], with bytes already read from `inner` first.
    pub fn with_prefix(inner: S, prefix: &[u8], message_bytes_max: usize) -> Guarded<S> {
        Guarded {
            inner,
            framer: Framer::new(message_bytes_max),
            raw: BytesMut::from(prefix),
            ready: BytesMut::new(),
            violation: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if let Some(violation) = &this.violation {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    violation.clone(),
                )));
            }
            if let Err(violation) = this.framer.take(&mut this.raw, &mut this.ready) {
                this.violation = Some(violation);
                continue;
            }
            if !this.ready.is_empty() {
                continue;
            }
            let start = this.raw.len();
            this.raw.resize(start + READ_CHUNK_BYTES, 0);
            let mut chunk = ReadBuf::new(&mut this.raw[start..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut chunk);
            let filled = chunk.filled().len();
            this.raw.truncate(start + filled);
            match polled {
                Poll::Ready(Ok(())) if filled == 0 => return Poll::Ready(Ok(())), // EOF
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The violation behind a decode error, if it was ours.
fn violation_of(error: &PgWireError) -> Option<Violation> {
    match error {
        PgWireError::IoError(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Violation>())
            .cloned(),
        _ => None,
    }
}

/// How the client chose to talk.
enum Negotiated {
    /// Plaintext; these bytes were read already and come first.
    Plain(Vec<u8>),
    /// SSLRequest answered `S`: the TLS handshake follows.
    Tls,
    /// A direct-TLS ClientHello is waiting in the socket.
    DirectTls,
}

/// The code of an SSLRequest packet.
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// TLS record type of a handshake: the first byte of a ClientHello.
const TLS_HANDSHAKE: u8 = 0x16;

/// Reads encryption requests off the raw socket until the client commits
/// to plaintext or TLS.
async fn negotiate(socket: &mut TcpStream, tls: bool) -> io::Result<Negotiated> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        if tls {
            let mut first = [0u8; 1];
            if socket.peek(&mut first).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if first[0] == TLS_HANDSHAKE {
                return Ok(Negotiated::DirectTls);
            }
        }
        let mut head = [0u8; 8];
        socket.read_exact(&mut head).await?;
        let length = u32::from_be_bytes(head[..4].try_into().unwrap());
        let code = u32::from_be_bytes(head[4..].try_into().unwrap());
        match (length, code) {
            (8, SSL_REQUEST_CODE) if tls => {
                socket.write_all(&[SslResponse::BYTE_ACCEPT]).await?;
                return Ok(Negotiated::Tls);
            }
            (8, SSL_REQUEST_CODE) => socket.write_all(&[SslResponse::BYTE_REFUSE]).await?,
            (8, GSSENC_REQUEST_CODE) => socket.write_all(b"N").await?,
            _ => return Ok(Negotiated::Plain(head.to_vec())),
        }
    }
}

/// The address the client connected to (`inet_server_addr()`), kept with
/// the connection for the session the login opens.
pub struct ServerAddress(pub std::net::SocketAddr);

/// Serves one client until it leaves, breaks the protocol, or a FATAL error.
pub async fn serve<H: PgWireServerHandlers>(
    mut socket: TcpStream,
    handlers: Arc<H>,
    message_bytes_max: usize,
    tls: Option<Arc<Tls>>,
    required: TlsRequired,
) -> io::Result<()> {
    let address = socket.peer_addr()?;
    let local = socket.local_addr()?;
    let negotiated =
        match tokio::time::timeout(STARTUP_TIMEOUT, negotiate(&mut socket, tls.is_some())).await {
            Ok(Ok(negotiated)) => negotiated,
            Ok(Err(_)) | Err(_) => return Ok(()),
        };
    let refuse_plaintext = required.refuses_plaintext(address.ip());
    match (negotiated, tls) {
        (Negotiated::Plain(prefix), _) => {
            let stream = Guarded::with_prefix(socket, &prefix, message_bytes_max);
            run(stream, address, local, false, refuse_plaintext, handlers).await
        }
        (Negotiated::Tls | Negotiated::DirectTls, None) => Ok(()),
        (negotiated, Some(tls)) => {
            let accepted = tokio::time::timeout(STARTUP_TIMEOUT, tls.acceptor.accept(socket)).await;
            let Ok(Ok(stream)) = accepted else {
                tracing::info!(%address, "TLS handshake failed");
                return Ok(());
            };
            let alpn = stream.get_ref().1.alpn_protocol();
            if matches!(negotiated, Negotiated::DirectTls) && alpn != Some(ALPN_POSTGRESQL) {
                tracing::info!(%address, "direct TLS without ALPN \"postgresql\"; closing");
                return Ok(());
            }
            let stream = Guarded::new(stream, message_bytes_max);
            run(stream, address, local, true, false, handlers).await
        }
    }
}

/// The protocol proper, on a plain or TLS stream.
async fn run<S, H>(
    stream: Guarded<S>,
    address: std::net::SocketAddr,
    local: std::net::SocketAddr,
    secure: bool,
    refuse_plaintext: bool,
    handlers: Arc<H>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static,
    H: PgWireServerHandlers,
{
    let client = DefaultClient::new(address, secure);
    let mut socket = Framed::new(stream, PgWireMessageServerCodec::new(client));
    socket.session_extensions().insert(ServerAddress(local));
    // Encryption was settled by `negotiate`: the startup packet is next.
    socket.set_state(PgWireConnectionState::AwaitingStartup);
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);

    loop {
        let logging_in = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingSslRequest
                | PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let next = if logging_in {
            tokio::select! {
                _ = &mut startup_deadline => return Ok(()),
                next = socket.next() => next,
            }
        } else {
            socket.next().await
        };
        let message = match next {
            None => return Ok(()),
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                if let Some(violation) = violation_of(&error) {
                    tracing::info!(%address, %violation, "closing a connection that broke the protocol");
                    let info = ErrorInfo::new(
                        "FATAL".into(),
                        violation.sqlstate().into(),
                        violation.message().into(),
                    );
                    let _ = socket
                        .send(PgWireBackendMessage::ErrorResponse(info.into()))
                        .await;
                }
                return Ok(());
            }
        };
        match message {
            PgWireFrontendMessage::SslNegotiation(negotiation) => {
                match negotiation {
                    SslNegotiationMetaMessage::PostgresSsl(_) => {
                        socket
                            .send(PgWireBackendMessage::SslResponse(SslResponse::Refuse))
                            .await?;
                    }
                    SslNegotiationMetaMessage::PostgresGss(_) => {
                        socket
                            .send(PgWireBackendMessage::GssEncResponse(GssEncResponse::Refuse))
                            .await?;
                    }
                    // Neither: the startup packet (or a cancel) comes next.
                    SslNegotiationMetaMessage::None => {
                        socket.set_state(PgWireConnectionState::AwaitingStartup);
                    }
                }
                continue;
            }
            PgWireFrontendMessage::Terminate(_) => return Ok(()),
            PgWireFrontendMessage::Startup(startup) if refuse_plaintext => {
                let parameter =
                    |name: &str| startup.parameters.get(name).cloned().unwrap_or_default();
                let message = format!(
                    "no pg_hba.conf entry for host \"{}\", user \"{}\", database \"{}\", no encryption",
                    address.ip(),
                    parameter("user"),
                    parameter("database"),
                );
                let info = ErrorInfo::new("FATAL".into(), "28000".into(), message);
                let _ = socket
                    .send(PgWireBackendMessage::ErrorResponse(info.into()))
                    .await;
                return Ok(());
            }
            _ => {}
        }
        let is_extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        let is_cancel = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        if let Err(mut error) = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await
        {
            errors.on_error(&socket, &mut error);
            let fatal = error.is_fatal();
            process_error(&mut socket, error, is_extended).await?;
            if fatal {
                return Ok(());
            }
        }
        if is_cancel {
            return Ok(());
        }
    }
}
