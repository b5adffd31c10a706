//! Test support: a real `redis-server` on a free port, the built orchestrator
//! as a child process, and a producer that writes artefacts the way the Go
//! client does (HSET the hash, then PUBLISH the JSON).
//!
//! Every wait here is bounded and polls; no test asserts on wall-clock speed.

#![allow(dead_code)]

use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

pub mod certs;
mod orchestrator;
mod producer;
pub mod proxy;
mod redis_server;
pub mod verify;

pub use orchestrator::*;
pub use producer::*;
pub use redis_server::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_sett-orchestrator");
/// Generous bound for anything the tests wait on (the machines are shared and noisy).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}
