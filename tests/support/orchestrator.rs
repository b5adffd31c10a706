//! The built orchestrator as a child process with its output captured, and raw HTTP helpers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::*;

/// The orchestrator binary as a child process, its stdout and stderr captured.
pub struct Orchestrator {
    pub http_port: u16,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// How many of stdout and stderr have reached end of file.
    closed: Arc<AtomicUsize>,
    /// stdout while nobody reads it (see [`Orchestrator::spawn_unread`]).
    unread: Option<ChildStdout>,
    /// The leader of its own process group ([`Orchestrator::spawn_group_leader`]).
    leader: bool,
}

fn capture(
    stream: impl Read + Send + 'static,
    closed: &Arc<AtomicUsize>,
) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    capture_into(stream, closed, &lines);
    lines
}

fn capture_into(
    stream: impl Read + Send + 'static,
    closed: &Arc<AtomicUsize>,
    lines: &Arc<Mutex<Vec<String>>>,
) {
    let (sink, closed) = (lines.clone(), closed.clone());
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(l) => sink.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
        closed.fetch_add(1, Ordering::SeqCst);
    });
}

impl Orchestrator {
    /// Spawns the binary with exactly `env` (no PATH either); does not wait for start-up.
    pub fn spawn(env: &[(&str, &str)]) -> Orchestrator {
        Orchestrator::spawn_args(env, &[])
    }

    pub fn spawn_args(env: &[(&str, &str)], args: &[&str]) -> Orchestrator {
        Orchestrator::spawn_program(bin(), env, args)
    }

    /// Spawns `program` (the binary, or e.g. `qemu-aarch64` with the binary as
    /// its first argument) with exactly `env`; does not wait for start-up.
    pub fn spawn_program(program: &str, env: &[(&str, &str)], args: &[&str]) -> Orchestrator {
        Orchestrator::spawn_in_group(program, env, args, false)
    }

    /// Like [`Orchestrator::spawn_program`], but the leader of a process group
    /// of its own, which [`Orchestrator::signal_group`] signals as a whole (as
    /// `timeout` does, or Ctrl-C); dropped, the whole group is killed.
    pub fn spawn_group_leader(program: &str, env: &[(&str, &str)], args: &[&str]) -> Orchestrator {
        Orchestrator::spawn_in_group(program, env, args, true)
    }

    fn spawn_in_group(
        program: &str,
        env: &[(&str, &str)],
        args: &[&str],
        leader: bool,
    ) -> Orchestrator {
        let http_port = env
            .iter()
            .find(|(k, _)| *k == "SETT_HTTP_ADDR")
            .and_then(|(_, v)| v.rsplit(':').next()?.parse().ok())
            .unwrap_or(0);
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if leader {
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            super::foreground::as_foreground_job(&mut cmd);
        }
        let mut child = cmd.spawn().expect("spawn orchestrator");
        let closed = Arc::new(AtomicUsize::new(0));
        let stdout = capture(child.stdout.take().unwrap(), &closed);
        let stderr = capture(child.stderr.take().unwrap(), &closed);
        Orchestrator {
            http_port,
            child,
            stdout,
            stderr,
            closed,
            unread: None,
            leader,
        }
    }

    /// Like [`Orchestrator::spawn_on`], but nobody reads its stdout (a pipe
    /// that fills up and stays full) until [`Orchestrator::read_stdout`].
    pub fn spawn_unread(url: &str, instance: &str, extra: &[(&str, &str)]) -> Orchestrator {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(bin());
        cmd.env_clear()
            .env("SETT_INSTANCE_NAME", instance)
            .env("REDIS_URL", url)
            .env("SETT_HTTP_ADDR", &addr)
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn orchestrator");
        let closed = Arc::new(AtomicUsize::new(0));
        let unread = child.stdout.take();
        let stderr = capture(child.stderr.take().unwrap(), &closed);
        Orchestrator {
            http_port: addr.rsplit(':').next().unwrap().parse().unwrap(),
            child,
            stdout: Arc::new(Mutex::new(Vec::new())),
            stderr,
            closed,
            unread,
            leader: false,
        }
    }

    /// Starts reading the stdout that [`Orchestrator::spawn_unread`] left unread.
    pub fn read_stdout(&mut self) {
        let stream = self.unread.take().expect("stdout is already being read");
        capture_into(stream, &self.closed, &self.stdout);
    }

    /// Starts one on `redis` for `instance` and waits for `orchestrator_startup`.
    pub fn start(redis: &RedisServer, instance: &str) -> Orchestrator {
        Orchestrator::start_env(redis, instance, &[])
    }

    pub fn start_env(redis: &RedisServer, instance: &str, extra: &[(&str, &str)]) -> Orchestrator {
        let o = Orchestrator::spawn_on(&redis.url(), instance, extra);
        o.wait_for_event("orchestrator_startup");
        o
    }

    /// Spawns one on `url` for `instance` with a free HTTP port and `extra`
    /// variables; does not wait for start-up.
    pub fn spawn_on(url: &str, instance: &str, extra: &[(&str, &str)]) -> Orchestrator {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = vec![
            ("SETT_INSTANCE_NAME", instance),
            ("REDIS_URL", url),
            ("SETT_HTTP_ADDR", addr.as_str()),
        ];
        env.extend_from_slice(extra);
        Orchestrator::spawn(&env)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Parsed stdout lines whose `event` is `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    pub fn wait_for_event(&self, event: &str) -> serde_json::Value {
        self.wait_for_events(event, 1).remove(0)
    }

    pub fn wait_for_events(&self, event: &str, n: usize) -> Vec<serde_json::Value> {
        let ok = wait_until(PATIENCE, || self.events(event).len() >= n);
        assert!(
            ok,
            "expected {n} {event} lines; stdout: {:#?}\nstderr: {:#?}",
            self.stdout(),
            self.stderr()
        );
        self.events(event)
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Signals its whole process group (see [`Orchestrator::spawn_group_leader`]).
    pub fn signal_group(&self, sig: i32) {
        assert!(self.leader, "not spawned as a process group leader");
        unsafe { libc::kill(-self.pid(), sig) };
    }

    /// Waits until a claim script is in flight (see [`stuck_claims`]).
    pub fn wait_claim_in_flight(&self) {
        let in_flight = || {
            let (status, body) = self.get("/metrics");
            status == 200 && metric_value(&body, "claims_in_flight") > 0
        };
        assert!(
            wait_until(PATIENCE, in_flight),
            "no claim in flight: {:#?}",
            self.stdout()
        );
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for exit at most `limit`; `None` if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status
    }

    /// Waits (bounded) until stdout and stderr are both at end of file, so
    /// `stdout()`/`stderr()` are complete; call after the process exited.
    pub fn wait_output_closed(&self) -> bool {
        wait_until(PATIENCE, || self.closed.load(Ordering::SeqCst) == 2)
    }

    /// Every stdout and stderr line, for "never appears anywhere" checks.
    pub fn all_output(&self) -> Vec<String> {
        let mut all = self.stdout();
        all.extend(self.stderr());
        all
    }

    /// `(status, body)` of `GET path` on the HTTP port.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_request(
            self.http_port,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        )
    }

    /// Polls `path` until it answers `status`.
    pub fn wait_status(&self, path: &str, status: u16) -> bool {
        wait_until(PATIENCE, || self.get(path).0 == status)
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        if self.leader {
            unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts every stdout line is a JSON object with string `ts`, `level` and `event`.
pub fn assert_all_json(orch: &Orchestrator) {
    for line in orch.stdout() {
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        for field in ["ts", "level", "event"] {
            assert!(v[field].is_string(), "no string {field} in: {line}");
        }
        assert!(
            ["debug", "info", "warn", "error"].contains(&v["level"].as_str().unwrap()),
            "bad level: {line}"
        );
    }
}

/// Sends raw bytes, returns the whole response (head and body) as text.
pub fn http_exchange(port: u16, raw: &[u8]) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends raw bytes, returns `(status, body)`; `(0, "")` when nothing came back.
pub fn http_request(port: u16, raw: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(raw.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A connection to 127.0.0.1:`port` from the local address `from` (any
/// 127.0.0.0/8 address), so the server sees another peer than the probes.
pub fn connect_from(from: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
        // SAFETY: all-zero is a valid sockaddr_in.
        let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_port = port.to_be();
        a.sin_addr = libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        };
        a
    }
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let (local, remote) = (sockaddr(from, 0), sockaddr(Ipv4Addr::LOCALHOST, port));
    // SAFETY: a new socket we own (the TcpStream closes it on every path), and
    // addresses that outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let at = |a: &libc::sockaddr_in| (a as *const libc::sockaddr_in).cast::<libc::sockaddr>();
        if libc::bind(fd, at(&local), len) != 0 || libc::connect(fd, at(&remote), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// Raises this process's open-files limit to `want` (for tests that hold many sockets).
pub fn raise_fd_limit(want: u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
        assert!(
            lim.rlim_cur >= want,
            "open-files hard limit {} is below {want}",
            lim.rlim_max
        );
    }
}

impl Orchestrator {
    /// The counter or gauge `sett_orchestrator_{name}` from `/metrics` now.
    pub fn metric(&self, name: &str) -> u64 {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        metric_value(&body, name)
    }
}

/// The value of the counter or gauge `sett_orchestrator_{name}` in a `/metrics` body.
pub fn metric_value(body: &str, name: &str) -> u64 {
    let series = format!("sett_orchestrator_{name} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series}in:\n{body}"))
}
