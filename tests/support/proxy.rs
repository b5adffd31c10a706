//! A TCP proxy in the test process (plain threads): forwards every connection
//! to a target address, can delay every chunk by a fixed time in both
//! directions (a slow link), drop all current connections, switch its
//! target for new connections (a name or virtual IP that moved), and rewrite
//! bytes it forwards (a server that says it is another version).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

struct Inner {
    target: Mutex<SocketAddr>,
    delay: Mutex<Duration>,
    /// Both ends of every connection made so far (closed ones included).
    streams: Mutex<Vec<TcpStream>>,
    stopped: AtomicBool,
    /// Every chunk read: each occurrence of `.0` replaced by `.1` (same length).
    rewrite: Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

/// A proxy listening on `127.0.0.1:port`.
pub struct Proxy {
    pub port: u16,
    inner: Arc<Inner>,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Proxy {
    /// Forwards to `127.0.0.1:target_port`, with no delay.
    pub fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            target: Mutex::new(local(target_port)),
            delay: Mutex::new(Duration::ZERO),
            streams: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            rewrite: Mutex::new(None),
        });
        let shared = inner.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let target = *shared.target.lock().unwrap();
                let Ok(upstream) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                {
                    let mut streams = shared.streams.lock().unwrap();
                    streams.push(client.try_clone().unwrap());
                    streams.push(upstream.try_clone().unwrap());
                }
                pipe(
                    &shared,
                    client.try_clone().unwrap(),
                    upstream.try_clone().unwrap(),
                );
                pipe(&shared, upstream, client);
            }
        });
        Proxy { port, inner }
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Every chunk read from now on is forwarded `delay` later.
    pub fn set_delay(&self, delay: Duration) {
        *self.inner.delay.lock().unwrap() = delay;
    }

    /// From now on, every `from` in a chunk read (either way) is forwarded as
    /// `to` (same length, so a RESP reply stays well formed).
    pub fn set_rewrite(&self, from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        *self.inner.rewrite.lock().unwrap() = Some((from.to_vec(), to.to_vec()));
    }

    /// New connections go to `127.0.0.1:port`; current ones stay where they are.
    pub fn set_target(&self, port: u16) {
        *self.inner.target.lock().unwrap() = local(port);
    }

    /// Closes every current connection, both ends.
    pub fn drop_connections(&self) {
        for s in self.inner.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.drop_connections();
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect(local(self.port));
    }
}

/// Forwards `from` to `to`, each chunk `delay` after it was read (one thread
/// reads, one writes, so the delay does not cut the throughput).
fn pipe(inner: &Arc<Inner>, mut from: TcpStream, mut to: TcpStream) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let shared = inner.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due = Instant::now() + *shared.delay.lock().unwrap();
                    let mut chunk = buf[..n].to_vec();
                    if let Some((from, to)) = &*shared.rewrite.lock().unwrap() {
                        let mut at = 0;
                        while let Some(i) = chunk[at..].windows(from.len()).position(|w| w == from)
                        {
                            chunk[at + i..at + i + to.len()].copy_from_slice(to);
                            at += i + to.len();
                        }
                    }
                    if tx.send((due, chunk)).is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` tells the writer; it closes its side once the rest is written.
    });
    thread::spawn(move || {
        while let Ok((due, chunk)) = rx.recv() {
            let wait = due.saturating_duration_since(Instant::now());
            thread::sleep(wait);
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
