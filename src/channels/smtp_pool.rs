//! SMTP connections we open ourselves (with `TCP_NODELAY`), pooled, and an
//! SMTP transaction that knows which phase failed.
//!
//! Why not lettre's pooled transport:
//!
//! * It opens its sockets itself and cannot set `TCP_NODELAY`. SMTP writes
//!   the message and then the final dot as two writes before reading the
//!   reply; under Nagle's algorithm the second write waits for the server's
//!   delayed ACK, so every message stalled ~40 ms (speed to lead p50 330 ms
//!   for a 100-lead burst; 52 ms with nodelay).
//! * Its `send` reports an I/O error without saying whether the message was
//!   already written, so a connection lost after `RCPT` had to be reported in
//!   doubt. Driving `MAIL`, `RCPT`, `DATA` and the message ourselves tells a
//!   failure before the message (nothing sent: retry) from one after it.
//!
//! lettre still does the SMTP itself: greeting, EHLO, STARTTLS, AUTH, the
//! commands and dot-stuffing, through its public `AsyncSmtpConnection`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Idle connections kept for reuse; more are closed when they come back.
const MAX_IDLE: usize = 16;

/// An idle connection older than this is closed instead of reused: servers
/// drop idle clients after a few minutes (Postfix: 300 s), and a reused
/// dead connection costs a `NOOP` round trip to find out.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the connection is protected.
#[derive(Clone)]
pub(super) enum Protection {
    /// TLS from the first byte (`smtps://`).
    ImplicitTls {
        /// rustls client set-up, shared by every connection.
        connector: tokio_rustls::TlsConnector,
        /// The name the certificate must carry.
        server_name: rustls::pki_types::ServerName<'static>,
    },
    /// Upgrade with STARTTLS; refuse to go on in clear text if `required`.
    StartTls {
        /// lettre's TLS set-up for the upgrade.
        parameters: TlsParameters,
        /// Whether a server without STARTTLS is an error.
        required: bool,
    },
    /// Clear text (loopback, or explicitly allowed).
    Plain,
}

impl Protection {
    /// Implicit TLS with the Mozilla root store (the same roots the IMAP
    /// watcher trusts), for `host`.
    pub(super) fn implicit_tls(host: &str) -> Result<Protection, String> {
        let config =
            crate::tls::client_config(crate::tls::web_roots()).map_err(|e| e.to_string())?;
        let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("`{host}` is not a valid TLS server name ({e})"))?;
        Ok(Protection::ImplicitTls {
            connector: tokio_rustls::TlsConnector::from(config),
            server_name,
        })
    }
}

/// Where and how to open a ready-to-send SMTP connection.
#[derive(Clone)]
pub(super) struct Connector {
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS set-up.
    pub protection: Protection,
    /// The EHLO name.
    pub hello: ClientId,
    /// AUTH credentials, when the URL has them.
    pub credentials: Option<Credentials>,
    /// Limit for resolving and opening the TCP connection.
    pub connect_timeout: Duration,
}

/// Why no connection could be opened. Nothing was sent in any case.
#[derive(Debug)]
pub(super) enum ConnectError {
    /// DNS, TCP or TLS failed.
    Network(String),
    /// The server answered badly: greeting, EHLO, STARTTLS or AUTH.
    Smtp(SmtpError),
}

/// tokio-rustls' stream, made into something lettre can speak SMTP over.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl Connector {
    /// A TCP connection with `TCP_NODELAY`, trying each resolved address.
    async fn tcp(&self) -> Result<TcpStream, ConnectError> {
        let open = async {
            let mut last = None;
            for addr in tokio::net::lookup_host((self.host.as_str(), self.port)).await? {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        stream.set_nodelay(true)?;
                        return Ok(stream);
                    }
                    Err(err) => last = Some(err),
                }
            }
            Err(last.unwrap_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the host name resolved to no address",
                )
            }))
        };
        match tokio::time::timeout(self.connect_timeout, open).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(err)) => Err(ConnectError::Network(format!(
                "cannot connect to {}:{}: {err}",
                self.host, self.port
            ))),
            Err(_) => Err(ConnectError::Network(format!(
                "cannot connect to {}:{} within {:?}",
                self.host, self.port, self.connect_timeout
            ))),
        }
    }

    /// Opens, secures and authenticates a connection, ready for `MAIL FROM`.
    async fn connect(&self) -> Result<AsyncSmtpConnection, ConnectError> {
        let tcp = self.tcp().await?;
        let stream: Box<dyn AsyncTokioStream> = match &self.protection {
            Protection::ImplicitTls {
                connector,
                server_name,
            } => Box::new(TlsTcp(
                connector
                    .connect(server_name.clone(), tcp)
                    .await
                    .map_err(|e| ConnectError::Network(format!("TLS handshake failed: {e}")))?,
            )),
            Protection::StartTls { .. } | Protection::Plain => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(ConnectError::Smtp)?;
        if let Protection::StartTls {
            parameters,
            required,
        } = &self.protection
            && (*required || conn.can_starttls())
        {
            conn.starttls(parameters.clone(), &self.hello)
                .await
                .map_err(ConnectError::Smtp)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(ConnectError::Smtp)?;
        }
        Ok(conn)
    }
}

/// A parked connection and when it was parked.
struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// Open connections waiting for the next message.
pub(super) struct Pool {
    connector: Connector,
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    /// An empty pool; connections open on first use.
    pub(super) fn new(connector: Connector) -> Pool {
        Pool {
            connector,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection that still answers `NOOP`, or a new one.
    pub(super) async fn checkout(&self) -> Result<AsyncSmtpConnection, ConnectError> {
        loop {
            let parked = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(Idle { mut conn, since }) = parked else {
                return self.connector.connect().await;
            };
            if since.elapsed() < IDLE_TIMEOUT && conn.test_connected().await {
                return Ok(conn);
            }
            // Dead or stale: dropping it closes the socket.
        }
    }

    /// Parks a connection that ended a transaction cleanly.
    pub(super) fn checkin(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Connections parked right now.
    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// How far a transaction got, so a failure can say whether the server may
/// have the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Phase {
    /// Opening, securing, authenticating or checking a pooled connection.
    Connect = 0,
    /// `MAIL FROM`: the server judges our sender.
    Sender = 1,
    /// `RCPT TO` and `DATA`: the server judges the recipient.
    Recipient = 2,
    /// The message and the final dot have been (or are being) written.
    Message = 3,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Connect,
            1 => Phase::Sender,
            2 => Phase::Recipient,
            _ => Phase::Message,
        }
    }
}

/// The phase a transaction has reached, readable after it was cancelled by
/// a timeout.
#[derive(Debug, Default)]
pub(super) struct Progress(AtomicU8);

impl Progress {
    fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::SeqCst);
    }

    /// The phase reached (or failed in).
    pub(super) fn get(&self) -> Phase {
        Phase::from_u8(self.0.load(Ordering::SeqCst))
    }
}

/// Why a transaction failed, and in which phase.
#[derive(Debug)]
pub(super) enum TransactionError {
    /// No connection: nothing sent.
    Connect(ConnectError),
    /// The message cannot be sent over this server (e.g. non-ASCII address
    /// without SMTPUTF8); detected before `MAIL FROM`.
    Unsupported(&'static str),
    /// lettre's error, with the phase it happened in.
    Smtp(Phase, SmtpError),
}

/// Sends one message: a connection from the pool, then `MAIL FROM`, `RCPT
/// TO`, `DATA` and the message. A connection goes back to the pool only
/// after a clean transaction.
pub(super) async fn transact(
    pool: &Pool,
    envelope: &Envelope,
    message: &[u8],
    progress: &Progress,
) -> Result<Response, TransactionError> {
    progress.set(Phase::Connect);
    let mut conn = pool.checkout().await.map_err(TransactionError::Connect)?;
    let info = conn.server_info();
    let mut options = Vec::new();
    let non_ascii = |a: &Address| !AsRef::<str>::as_ref(a).is_ascii();
    if envelope.from().is_some_and(non_ascii) || envelope.to().iter().any(non_ascii) {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            pool.checkin(conn);
            return Err(TransactionError::Unsupported(
                "a non-ASCII address needs SMTPUTF8, which the server does not offer",
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            pool.checkin(conn);
            return Err(TransactionError::Unsupported(
                "a non-ASCII message needs 8BITMIME, which the server does not offer",
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    progress.set(Phase::Sender);
    conn.command(Mail::new(envelope.from().cloned(), options))
        .await
        .map_err(|e| TransactionError::Smtp(Phase::Sender, e))?;
    progress.set(Phase::Recipient);
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), vec![]))
            .await
            .map_err(|e| TransactionError::Smtp(Phase::Recipient, e))?;
    }
    conn.command(Data)
        .await
        .map_err(|e| TransactionError::Smtp(Phase::Recipient, e))?;
    progress.set(Phase::Message);
    let response = conn
        .message(message)
        .await
        .map_err(|e| TransactionError::Smtp(Phase::Message, e))?;
    pool.checkin(conn);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_loopback(port: u16) -> Connector {
        Connector {
            host: "127.0.0.1".into(),
            port,
            protection: Protection::Plain,
            hello: ClientId::default(),
            credentials: None,
            connect_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn connections_are_opened_with_nodelay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connector = plain_loopback(port);
        let stream = connector.tcp().await.unwrap();
        assert!(stream.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        let port = crate::channels::smtp_sink::free_port();
        let connector = plain_loopback(port);
        match connector.tcp().await {
            Err(ConnectError::Network(detail)) => {
                assert!(detail.contains(&format!("127.0.0.1:{port}")), "{detail}")
            }
            other => panic!("expected a network error, got {other:?}"),
        }
    }
}
