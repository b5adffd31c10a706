//! A unix-socket proxy in the test process (plain threads) in front of the
//! Docker socket: `down` closes every open connection and makes new ones
//! close at once (Docker gone); `up` forwards again.

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

impl SocketProxy {
    /// Forwards every connection to the socket at `target`.
    pub fn start(target: &str) -> SocketProxy {
        let dir = TempDir::new();
        let path = dir.path().join("docker.sock").display().to_string();
        let listener = UnixListener::bind(&path).unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let streams: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (up2, streams2, target) = (up.clone(), streams.clone(), target.to_string());
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
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pump(client, server));
                thread::spawn(move || pump(s2, c2));
            }
        });
        SocketProxy {
            path,
            up,
            streams,
            _dir: dir,
        }
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
