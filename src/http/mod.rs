//! The HTTP/1.1 responder for probes and metrics: `/healthz`, `/readyz`,
//! `/livez`, `/metrics`.
//!
//! Deliberately small: one request per connection (`Connection: close`), heads
//! of at most 8 KiB parsed by `httparse`, 1 s to send the head, a cap on open
//! connections taken *before* accept (a flood waits in the kernel's backlog
//! instead of in our memory), and a cap per peer address, so one client holding
//! idle connections cannot take the slots the probes need. It runs as its own
//! task, so a probe never waits behind claim work. JSON bodies end with `\n`,
//! as the Go original's do (its JSON encoder adds one).

mod head;
mod peers;
mod response;

use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use smol::lock::Semaphore;
use smol::net::{TcpListener, TcpStream};

use crate::deadline::within;
use crate::engine::Shared;
use crate::log::Line;
use crate::shutdown::Shutdown;

pub use head::{parse_head, HeadError, RequestHead, MAX_HEAD_BYTES};
pub use peers::MAX_PER_PEER;
use response::error_response;
pub use response::{respond, Response};

/// Time a client has to send its whole request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(1);
/// Open connections at most (idle ones included).
pub const MAX_CONNECTIONS: usize = 2048;
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// After answering, how long and how much we read and discard before closing.
const LINGER_TIMEOUT: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;

/// Accepts connections until `stop`, then drops the listener.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: Shutdown) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let peers = Arc::new(peers::Peers::default());
    loop {
        // The slot is taken before accept: at the cap we stop accepting.
        let Some(slot) = stop.unless_triggered(slots.acquire_arc()).await else {
            break;
        };
        let Some(accepted) = stop.unless_triggered(listener.accept()).await else {
            break;
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(place) = peers.enter(peer.ip()) else {
                    // Closed at once: this peer already holds its share.
                    drop(stream);
                    crate::metrics::inc(&shared.metrics.http_connections_refused);
                    Line::warn("http_connection_refused")
                        .display("peer", peer.ip())
                        .num("open_limit", MAX_PER_PEER as u64)
                        .limited()
                        .emit();
                    continue;
                };
                let shared = shared.clone();
                smol::spawn(async move {
                    handle_connection(stream, &shared).await;
                    drop(place);
                    drop(slot);
                })
                .detach();
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                Line::warn("http_accept_error").display("error", e).emit();
                smol::Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn handle_connection(mut stream: TcpStream, shared: &Shared) {
    let mut head_only = false;
    let response = match read_head(&mut stream).or(head_timeout()).await {
        ReadOutcome::Head(head) => {
            head_only = head.method == "HEAD";
            respond(shared, &head).await
        }
        ReadOutcome::Bad(HeadError::Malformed) => error_response(400, "bad request"),
        ReadOutcome::Bad(HeadError::TooLarge) => error_response(431, "request head too large"),
        ReadOutcome::TimedOut => error_response(408, "request head not received within 1s"),
        ReadOutcome::Closed => return,
    };
    let bytes = response.to_bytes(head_only);
    let write = async {
        let _ = stream.write_all(&bytes).await;
        let _ = stream.flush().await;
    };
    let _ = within(WRITE_TIMEOUT, write).await;
    // Closing with unread bytes (a body, a pipelined request) makes the kernel
    // send a reset that can destroy the response in flight: half-close, then
    // read and discard what the client still sends, briefly and boundedly.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = within(LINGER_TIMEOUT, drain).await;
}

enum ReadOutcome {
    Head(RequestHead),
    Bad(HeadError),
    TimedOut,
    Closed,
}

async fn head_timeout() -> ReadOutcome {
    smol::Timer::after(HEAD_TIMEOUT).await;
    ReadOutcome::TimedOut
}

async fn read_head(stream: &mut TcpStream) -> ReadOutcome {
    // Grows only as bytes arrive: an idle connection costs no buffer.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return ReadOutcome::Closed,
            Ok(n) => n,
        };
        let room = MAX_HEAD_BYTES - buf.len();
        buf.extend_from_slice(&chunk[..n.min(room)]);
        match parse_head(&buf) {
            Ok(Some(head)) => return ReadOutcome::Head(head),
            Ok(None) => continue,
            Err(e) => return ReadOutcome::Bad(e),
        }
    }
}
