//! Opening a subscription connection: TCP or unix socket, TLS, `AUTH`,
//! `SELECT`, `SUBSCRIBE`, each step under its own timeout (a slow link must
//! not make the sum of the steps fail where each one would pass); then the
//! connection is split into a [`Reader`] and a [`Writer`] that two tasks may
//! use at once.

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

use futures_lite::io::{split, WriteHalf};
use futures_lite::AsyncWriteExt as _;
use futures_rustls::TlsConnector;
use smol::net::unix::UnixStream;
use smol::net::TcpStream;

use super::frame::Decode;
use super::reader::{ReadError, Reader};
use super::resp::Reply;
use super::stream::Stream;
use super::target::{Address, Host, Target};
use crate::deadline::within;

/// Why a connection could not be made. Never shows the password.
#[derive(Debug)]
pub enum ConnectError {
    Io(io::Error),
    /// The TLS handshake failed (e.g. `invalid peer certificate: UnknownIssuer`).
    Tls(io::Error),
    /// Redis answered with an error (at most 200 bytes of it), e.g. `WRONGPASS …`.
    Redis(String),
    /// Redis answered something a connection set-up does not expect.
    Protocol(&'static str),
    /// A step got no answer within its time.
    TimedOut {
        step: &'static str,
        after: Duration,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Io(e) | ConnectError::Tls(e) => write!(f, "{e}"),
            ConnectError::Redis(text) => f.write_str(text),
            ConnectError::Protocol(what) => write!(f, "protocol error: {what}"),
            ConnectError::TimedOut { step, after } => {
                write!(f, "timed out at step {step} (no answer within {after:?})")
            }
        }
    }
}

impl std::error::Error for ConnectError {}

impl From<ReadError> for ConnectError {
    fn from(e: ReadError) -> ConnectError {
        match e {
            ReadError::Io(e) => ConnectError::Io(e),
            ReadError::Closed => ConnectError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by Redis",
            )),
            ReadError::Protocol(what) => ConnectError::Protocol(what),
        }
    }
}

/// Connects to `target` and subscribes to `channels` (all confirmed); each
/// step (connect, tls, auth, select, subscribe) may take `step_timeout`.
pub async fn connect(
    target: &Target,
    channels: &[(String, Decode)],
    step_timeout: Duration,
) -> Result<(Reader, Writer), ConnectError> {
    let t = step_timeout;
    let stream = step("connect", t, open(target.address())).await?;
    let stream = match (&target.tls, stream) {
        (Some(tls), Stream::Tcp(tcp)) => {
            let connector = TlsConnector::from(tls.config.clone());
            let handshake = connector.connect(tls.server_name.clone(), tcp);
            step("tls", t, async {
                handshake.await.map(Stream::from).map_err(ConnectError::Tls)
            })
            .await?
        }
        (_, stream) => stream,
    };
    let (read, write) = split(stream);
    let (mut reader, mut writer) = (Reader::new(read, channels), Writer { io: write });
    if let Some(password) = &target.password {
        let mut auth: Vec<&[u8]> = vec![b"AUTH"];
        auth.extend(target.username().map(str::as_bytes));
        auth.push(password.as_bytes());
        step("auth", t, command(&mut reader, &mut writer, &auth)).await?;
    }
    if target.db() != 0 {
        let db = target.db().to_string();
        let select: [&[u8]; 2] = [b"SELECT", db.as_bytes()];
        step("select", t, command(&mut reader, &mut writer, &select)).await?;
    }
    if !channels.is_empty() {
        step(
            "subscribe",
            t,
            subscribe(&mut reader, &mut writer, channels),
        )
        .await?;
    }
    Ok((reader, writer))
}

/// `fut`, or [`ConnectError::TimedOut`] at `name` after `limit`.
async fn step<T>(
    name: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    within(limit, fut)
        .await
        .unwrap_or(Err(ConnectError::TimedOut {
            step: name,
            after: limit,
        }))
}

/// The socket, before TLS.
async fn open(address: &Address) -> Result<Stream, ConnectError> {
    Ok(match address {
        Address::Tcp { host, port } => Stream::Tcp(
            match host {
                Host::Ip(ip) => TcpStream::connect((*ip, *port)).await,
                Host::Name(name) => TcpStream::connect((name.as_str(), *port)).await,
            }
            .map_err(ConnectError::Io)?,
        ),
        Address::Unix(path) => {
            Stream::Unix(UnixStream::connect(path).await.map_err(ConnectError::Io)?)
        }
    })
}

/// Sends one command and expects `+OK` (or any simple string).
async fn command(
    reader: &mut Reader,
    writer: &mut Writer,
    args: &[&[u8]],
) -> Result<(), ConnectError> {
    writer.send(args).await.map_err(ConnectError::Io)?;
    match reader.reply().await? {
        Reply::Simple(_) => Ok(()),
        Reply::Error(text) => Err(ConnectError::Redis(text)),
        _ => Err(ConnectError::Protocol("unexpected reply during set-up")),
    }
}

/// Subscribes to every channel in one command and waits for every confirmation.
async fn subscribe(
    reader: &mut Reader,
    writer: &mut Writer,
    channels: &[(String, Decode)],
) -> Result<(), ConnectError> {
    let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    args.extend(channels.iter().map(|(name, _)| name.as_bytes()));
    writer.send(&args).await.map_err(ConnectError::Io)?;
    // One confirmation per name given (repeats included), in order.
    for _ in channels {
        match reader.reply().await? {
            Reply::Subscribed(Some(_)) => {}
            Reply::Error(text) => return Err(ConnectError::Redis(text)),
            _ => return Err(ConnectError::Protocol("unexpected reply to SUBSCRIBE")),
        }
    }
    Ok(())
}

/// The writing half of a subscription connection.
pub struct Writer {
    io: WriteHalf<Stream>,
}

impl Writer {
    /// Sends one PING (without waiting: the answer is a [`super::Frame::Pong`] from the reader).
    pub async fn ping(&mut self) -> io::Result<()> {
        self.send(&[b"PING"]).await
    }

    /// Sends one command, as a RESP array of bulk strings.
    async fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.io.write_all(&out).await?;
        self.io.flush().await
    }
}
