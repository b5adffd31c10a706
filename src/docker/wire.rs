//! One HTTP/1.1 exchange with the daemon over its unix socket: connect, send
//! the request, read the status line and headers (`httparse`, response mode),
//! then the body through [`Framing`] into a caller's sink.
//!
//! One connection per request, `Connection: close`: a connect to a unix
//! socket costs microseconds, and a connection that is never reused cannot be
//! left half-read by a time-out. Every step runs against one deadline (connect
//! also against its own shorter one), so a daemon that stalls anywhere costs
//! the caller at most its time-out. Heads are at most [`MAX_HEAD_BYTES`].

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use smol::net::unix::UnixStream;
use smol::Timer;

use super::error::DockerError;
use super::framing::{Chunked, Framing, Sink};

/// Largest response head (status line and headers) we read.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// Bytes read from the socket at a time.
const READ_BYTES: usize = 8 * 1024;

/// Runs `fut` until `deadline`; past it, a transient error naming `what`.
pub(crate) async fn by<T>(
    deadline: Instant,
    what: &str,
    fut: impl Future<Output = Result<T, DockerError>>,
) -> Result<T, DockerError> {
    fut.or(async {
        Timer::at(deadline).await;
        Err(DockerError::transient(format!(
            "Docker did not answer in time ({what})"
        )))
    })
    .await
}

/// What we read from a response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: u16,
    pub content_type: Option<String>,
    /// The daemon's `Api-Version` header (on every answer, `/_ping` included).
    pub api_version: Option<String>,
    pub framing: Framing,
}

/// Parses a response head from the bytes read so far: `Ok(None)` means "need
/// more"; `Ok(Some((len, head)))` means the head is the first `len` bytes.
/// `bodiless` is true for answers to HEAD requests.
pub(crate) fn parse_head(buf: &[u8], bodiless: bool) -> Result<Option<(usize, Head)>, DockerError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(DockerError::garbage("a response head over 16 KiB"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(DockerError::garbage("a response with over 64 headers"))
        }
        Err(_) => return Err(DockerError::garbage("not an HTTP/1.x response")),
    };
    let status = resp.code.unwrap_or(0);
    if !(200..=599).contains(&status) {
        return Err(DockerError::garbage("an HTTP status outside 200-599"));
    }
    let (mut length, mut chunked, mut content_type, mut api_version) = (None, false, None, None);
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).map(str::trim);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| DockerError::garbage("an invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(DockerError::garbage("two different Content-Lengths"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = value.unwrap_or("");
            if !v.eq_ignore_ascii_case("chunked") {
                return Err(DockerError::garbage(
                    "a Transfer-Encoding other than chunked",
                ));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("content-type") {
            content_type = value.ok().map(str::to_string);
        } else if h.name.eq_ignore_ascii_case("api-version") {
            api_version = value.ok().map(str::to_string);
        }
    }
    let framing = if bodiless || status == 204 || status == 304 {
        Framing::Done
    } else if chunked {
        // RFC 9112 6.3: chunked wins over a Content-Length.
        Framing::Chunked(Chunked::default())
    } else {
        match length {
            Some(0) => Framing::Done,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    let head = Head {
        status,
        content_type,
        api_version,
        framing,
    };
    Ok(Some((len, head)))
}

/// A request: method, path with query (already encoded), optional JSON body.
pub(crate) struct Request<'a> {
    pub method: &'static str,
    pub target: &'a str,
    pub json: Option<&'a [u8]>,
}

impl Request<'_> {
    fn encode(&self) -> Vec<u8> {
        let body = self.json.unwrap_or_default();
        let mut out = Vec::with_capacity(160 + self.target.len() + body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: docker\r\nUser-Agent: sett-orchestrator\r\n");
        out.extend_from_slice(b"Connection: close\r\n");
        if self.json.is_some() {
            out.extend_from_slice(b"Content-Type: application/json\r\n");
        }
        if self.json.is_some() || self.method == "POST" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }
}

/// A connection whose head has been read; the body is read with [`Conn::feed_next`].
pub(crate) struct Conn {
    stream: UnixStream,
    buf: Box<[u8]>,
    /// Body bytes read along with the head, not yet fed: `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
}

impl Conn {
    /// Connects (by `connect_limit` and `deadline`), sends `req`, reads the head.
    pub(crate) async fn open(
        socket: &Path,
        req: &Request<'_>,
        connect_limit: Duration,
        deadline: Instant,
    ) -> Result<(Conn, Head), DockerError> {
        let connect_by = deadline.min(Instant::now() + connect_limit);
        let stream = by(connect_by, "connect", async {
            UnixStream::connect(socket).await.map_err(|e| {
                DockerError::transient(format!(
                    "cannot connect to the Docker socket {}: {e}",
                    socket.display()
                ))
            })
        })
        .await?;
        let mut conn = Conn {
            stream,
            buf: vec![0; MAX_HEAD_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
        };
        let wire = req.encode();
        by(deadline, "sending the request", async {
            conn.stream.write_all(&wire).await.map_err(io_error)?;
            conn.stream.flush().await.map_err(io_error)
        })
        .await?;
        drop(wire);
        let head = by(
            deadline,
            "response head",
            conn.read_head(req.method == "HEAD"),
        )
        .await?;
        Ok((conn, head))
    }

    async fn read_head(&mut self, bodiless: bool) -> Result<Head, DockerError> {
        loop {
            let n = self
                .stream
                .read(&mut self.buf[self.end..])
                .await
                .map_err(io_error)?;
            if n == 0 {
                return Err(DockerError::transient(
                    "Docker closed the connection before a complete response head",
                ));
            }
            self.end += n;
            if let Some((len, head)) = parse_head(&self.buf[..self.end], bodiless)? {
                self.start = len;
                return Ok(head);
            }
        }
    }

    /// Feeds the next bytes (those read with the head first) into `framing`;
    /// `Ok(false)` once the body is complete or the connection ended with it.
    pub(crate) async fn feed_next(
        &mut self,
        framing: &mut Framing,
        sink: &mut Sink<'_>,
    ) -> Result<bool, DockerError> {
        if framing.is_done() {
            return Ok(false);
        }
        if self.start < self.end {
            let (start, end) = (self.start, self.end);
            self.start = end;
            framing.feed(&self.buf[start..end], sink)?;
            return Ok(!framing.is_done());
        }
        if self.eof {
            framing.at_eof()?;
            return Ok(false);
        }
        let read = READ_BYTES.min(self.buf.len());
        let n = self
            .stream
            .read(&mut self.buf[..read])
            .await
            .map_err(io_error)?;
        if n == 0 {
            self.eof = true;
            framing.at_eof()?;
            return Ok(false);
        }
        framing.feed(&self.buf[..n], sink)?;
        Ok(!framing.is_done())
    }

    /// Reads the whole body into `sink`, by `deadline`.
    pub(crate) async fn read_body(
        &mut self,
        framing: &mut Framing,
        deadline: Instant,
        sink: &mut Sink<'_>,
    ) -> Result<(), DockerError> {
        by(deadline, "response body", async {
            while self.feed_next(framing, sink).await? {}
            Ok(())
        })
        .await
    }
}

/// A sink that keeps at most `limit` bytes and refuses more.
pub(crate) fn collect(
    out: &mut Vec<u8>,
    limit: usize,
) -> impl FnMut(&[u8]) -> Result<(), DockerError> + Send + '_ {
    move |bytes| {
        if out.len() + bytes.len() > limit {
            return Err(DockerError::transient(format!(
                "a Docker response body over {} KiB",
                limit / 1024
            )));
        }
        out.extend_from_slice(bytes);
        Ok(())
    }
}

fn io_error(e: std::io::Error) -> DockerError {
    DockerError::transient(format!("I/O error on the Docker socket: {e}"))
}
