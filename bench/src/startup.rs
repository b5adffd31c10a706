//! Start-up and shutdown of fresh orchestrator processes: spawn to the first
//! `200` from `/healthz`, and SIGTERM to exit, plus the idle RSS once healthy.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procstat;

const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Serialize)]
pub struct StartupRun {
    pub healthy_ms: f64,
    pub sigterm_to_exit_ms: f64,
    pub exit_code: Option<i32>,
    /// RSS 200 ms after the first healthy answer.
    pub idle_rss_kb: u64,
    pub threads: u64,
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// One GET /healthz; true on `200`.
pub fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

/// Starts `bin` on `redis_url` (instance `instance`, plus `env`) `runs` times.
pub fn measure(
    bin: &Path,
    redis_url: &str,
    instance: &str,
    env: &[(&str, &str)],
    runs: usize,
) -> Result<Vec<StartupRun>, String> {
    let mut out = Vec::new();
    for _ in 0..runs {
        let port = free_port()?;
        let start = Instant::now();
        let mut child = Command::new(bin)
            .env_clear()
            .env("REDIS_URL", redis_url)
            .env("SETT_INSTANCE_NAME", instance)
            .env("SETT_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        // Poll often enough for sub-millisecond resolution, but do not spin a core
        // the orchestrator and Redis need.
        while !healthy(port) {
            if start.elapsed() > PATIENCE || child.try_wait().map_err(|e| e.to_string())?.is_some()
            {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} never answered /healthz 200", bin.display()));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let healthy_ms = start.elapsed().as_secs_f64() * 1e3;
        std::thread::sleep(Duration::from_millis(200));
        let pid = child.id() as i32;
        let snap = procstat::snapshot(pid)?;
        let term = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = child.wait().map_err(|e| e.to_string())?;
        out.push(StartupRun {
            healthy_ms,
            sigterm_to_exit_ms: term.elapsed().as_secs_f64() * 1e3,
            exit_code: status.code(),
            idle_rss_kb: snap.rss_kb,
            threads: snap.threads,
        });
    }
    Ok(out)
}
