//! A unix-socket proxy in the test process (plain threads) in front of the
//! Docker socket: `down` closes every open connection and makes new ones
//! close at once (Docker gone); `up` forwards again; `lose_answer_to`
//! lets one request reach Docker and closes its connection unanswered (Docker
//! gone right after it acted).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::TempDir;

pub struct SocketProxy {
    pub path: String,
    up: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<UnixStream>>>,
    /// The request-line part whose next request goes unanswered.
    lose: Arc<Mutex<Option<String>>>,
    _dir: TempDir,
}

fn pump(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// One connection (one request: the client sends `Connection: close`):
/// forwarded both ways, or, for the request `lose` names, forwarded and its
/// answer dropped.
fn relay(mut client: UnixStream, mut server: UnixStream, lose: &Mutex<Option<String>>) {
    let mut first = [0u8; 16 * 1024];
    let n = match client.read(&mut first) {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    let head = String::from_utf8_lossy(&first[..n]);
    let line = head.lines().next().unwrap_or("");
    let lost = {
        let mut lose = lose.lock().unwrap();
        let hit = lose.as_deref().is_some_and(|part| line.contains(part));
        if hit {
            *lose = None;
        }
        hit
    };
    if server.write_all(&first[..n]).is_err() {
        return;
    }
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    thread::spawn(move || pump(c2, s2));
    if lost {
        let _ = std::io::copy(&mut server, &mut std::io::sink());
        let _ = client.shutdown(Shutdown::Both);
    } else {
        pump(server, client);
    }
}

impl SocketProxy {
    /// Forwards every connection to the socket at `target`.
    pub fn start(target: &str) -> SocketProxy {
        let dir = TempDir::new();
        let path = dir.path().join("docker.sock").display().to_string();
        let listener = UnixListener::bind(&path).unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let streams: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let lose: Arc<Mutex<Option<String>>> = Arc::default();
        let (up2, streams2, lose2) = (up.clone(), streams.clone(), lose.clone());
        let target = target.to_string();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = UnixStream::connect(&target) else {
                    continue;
                };
                let mut kept = streams2.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(server.try_clone().unwrap());
                let lose = lose2.clone();
                thread::spawn(move || relay(client, server, &lose));
            }
        });
        SocketProxy {
            path,
            up,
            streams,
            lose,
            _dir: dir,
        }
    }

    /// The next request whose first line contains `part` (say `/start`)
    /// reaches Docker, which acts on it; its answer is read and dropped, and
    /// the connection closed: to the caller, Docker went away unanswering.
    pub fn lose_answer_to(&self, part: &str) {
        *self.lose.lock().unwrap() = Some(part.to_string());
    }

    /// Docker goes away: open connections closed, new ones closed at once.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Docker is back.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
