//! A Docker daemon that misbehaves on purpose: a unix socket in a temp dir,
//! served by plain threads, answering each request as the test's handler
//! says: bytes then close, bytes then silence, silence, or a bare close. Used
//! for the faults no real daemon can be made to show (garbage, a close in the
//! middle of a body, a daemon that never answers). It records every request
//! line, so a test can check the paths (and API version) the client used.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use std::time::{Duration, Instant};

use sett_orchestrator::docker::{Docker, DockerError, ErrorKind, Timeouts};

use super::{TempDir, PATIENCE};

/// What the fake does with one request.
pub enum Answer {
    /// Writes the bytes, then closes.
    Bytes(Vec<u8>),
    /// Writes the bytes, then holds the connection open and silent.
    BytesThenHang(Vec<u8>),
    /// Writes each piece (as its own write), then holds the connection open.
    PiecesThenHang(Vec<Vec<u8>>),
    /// Reads the request and never answers.
    Hang,
    /// Closes without a byte.
    Close,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET /v1.41/version`.
    pub line: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }
}

type Handler = dyn Fn(&Seen) -> Answer + Send + Sync;

pub struct FakeDocker {
    pub socket: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    stopped: Arc<AtomicBool>,
    _dir: TempDir,
}

impl FakeDocker {
    /// A daemon that answers `/_ping` and the image inspect (`sha256:feed`),
    /// and every other request as `rest` says.
    pub fn with_an_image(rest: fn(&str) -> Answer) -> FakeDocker {
        FakeDocker::start(move |seen| {
            let path = seen.path();
            if path == "/_ping" {
                Answer::Bytes(reply("200 OK", "1.41", "text/plain", b"OK"))
            } else if path.contains("/images/") {
                Answer::Bytes(json("200 OK", r#"{"Id":"sha256:feed","RepoDigests":[]}"#))
            } else {
                rest(path)
            }
        })
    }

    pub fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeDocker {
        let dir = TempDir::new();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (s, st) = (seen.clone(), stopped.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (h, s, st) = (handler.clone(), s.clone(), st.clone());
                thread::spawn(move || serve(conn, &*h, &s, &st));
            }
        });
        FakeDocker {
            socket,
            seen,
            stopped,
            _dir: dir,
        }
    }

    /// Every request so far, in order of arrival.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn paths(&self) -> Vec<String> {
        self.seen().iter().map(|s| s.path().to_string()).collect()
    }
}

impl Drop for FakeDocker {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.socket);
    }
}

fn serve(mut conn: UnixStream, handler: &Handler, seen: &Mutex<Vec<Seen>>, stopped: &AtomicBool) {
    let Some(request) = read_request(&mut conn) else {
        return;
    };
    if stopped.load(Ordering::SeqCst) {
        return;
    }
    seen.lock().unwrap().push(request.clone());
    match handler(&request) {
        Answer::Bytes(bytes) => {
            let _ = conn.write_all(&bytes);
        }
        Answer::BytesThenHang(bytes) => {
            let _ = conn.write_all(&bytes);
            hold(conn);
        }
        Answer::PiecesThenHang(pieces) => {
            for piece in pieces {
                let _ = conn.write_all(&piece);
                let _ = conn.flush();
            }
            hold(conn);
        }
        Answer::Hang => hold(conn),
        Answer::Close => {}
    }
}

/// Keeps the connection open until the client closes it.
fn hold(mut conn: UnixStream) {
    let mut buf = [0u8; 1024];
    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
}

fn read_request(conn: &mut UnixStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = conn.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        line: head.lines().next().unwrap_or("").to_string(),
        body: buf[head_end..head_end + length].to_vec(),
    })
}

/// A complete answer with a `Content-Length` body, as Docker 20.10 sends it.
pub fn reply(status: &str, api: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nApi-Version: {api}\r\nContent-Type: {content_type}\r\nServer: fake\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A JSON answer at API 1.41.
pub fn json(status: &str, body: &str) -> Vec<u8> {
    reply(status, "1.41", "application/json", body.as_bytes())
}

/// The head of a chunked answer.
pub fn chunked_head(content_type: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n")
        .into_bytes()
}

/// One chunk.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// `handler` behind a `/_ping` that says `api`.
pub fn pinging(
    api: &'static str,
    handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
    move |seen| {
        if seen.path() == "/_ping" {
            Answer::Bytes(reply("200 OK", api, "text/plain; charset=utf-8", b"OK"))
        } else {
            handler(seen)
        }
    }
}

/// How long a call to the fake may take.
pub const CALL: Duration = Duration::from_millis(400);

pub fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(300),
        call: CALL,
        events_window: Duration::from_millis(300),
        events_grace: Duration::from_millis(300),
    }
}

pub fn client(fake: &FakeDocker) -> Docker {
    Docker::new(&fake.socket, timeouts())
}

/// The error of `r`, checked to be of `kind`; returns its message.
pub fn expect<T: std::fmt::Debug>(r: Result<T, DockerError>, kind: ErrorKind) -> String {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), kind, "{e}");
            e.message().to_string()
        }
        Ok(v) => panic!("expected {kind:?}, got Ok({v:?})"),
    }
}

/// Runs `f` on smol; returns its output and how long it took (bounded by PATIENCE).
pub fn run<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> (T, Duration) {
    let start = Instant::now();
    let task = std::thread::spawn(move || smol::block_on(f));
    let limit = start + PATIENCE;
    while !task.is_finished() {
        assert!(
            Instant::now() < limit,
            "the call did not return within {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (task.join().unwrap(), start.elapsed())
}
