//! A private `redis-server` on a free port, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::*;

/// A private `redis-server` (no persistence unless asked), killed on drop.
pub struct RedisServer {
    pub port: u16,
    pub dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// `extra` are redis-server arguments, e.g. `["--appendonly", "yes"]`.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let dir = std::env::temp_dir().join(format!("sett-test-redis-{}", uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = RedisServer {
            port: free_port(),
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        // The free port is free when asked, not when redis-server binds it:
        // another test's server or an outgoing connection of the busy
        // machine can take it in between. A server that exits at once could
        // not bind it: it gets another port (the port is not what any test
        // is about). A restart keeps its port.
        for _ in 0..5 {
            if server.spawn_once() {
                return server;
            }
            server.port = free_port();
        }
        server.spawn();
        server
    }

    /// Starts redis-server on `port` and waits until it answers as this
    /// server (its `dir`, so never another test's server on a reused port).
    fn spawn(&mut self) {
        let port = self.port;
        assert!(
            self.spawn_once(),
            "redis-server did not start on port {port}"
        );
    }

    /// [`spawn`](Self::spawn); `false` when it exited or never answered.
    fn spawn_once(&mut self) -> bool {
        let mut args: Vec<String> = vec![
            "--port".into(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--dir".into(),
            self.dir.display().to_string(),
        ];
        if !self.extra.iter().any(|a| a == "--appendonly") {
            args.extend(["--appendonly".into(), "no".into()]);
        }
        args.extend(self.extra.iter().cloned());
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.child = Some(child);
        let (url, dir) = (self.url(), self.dir.display().to_string());
        let mut exited = false;
        let ours = wait_until(PATIENCE, || {
            if let Some(child) = self.child.as_mut() {
                exited = matches!(child.try_wait(), Ok(Some(_)));
            }
            exited
                || redis::Client::open(url.as_str())
                    .and_then(|c| c.get_connection())
                    .and_then(|mut c| {
                        redis::cmd("CONFIG")
                            .arg("GET")
                            .arg("dir")
                            .query::<Vec<String>>(&mut c)
                    })
                    .is_ok_and(|v| v.get(1) == Some(&dir))
        });
        if exited || !ours {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            return false;
        }
        true
    }

    /// The URL to reach it, with the `--requirepass` password when it has one.
    pub fn url(&self) -> String {
        match self.password() {
            Some(pw) => self.url_with_password(pw),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The `--requirepass` argument it was started with, if any.
    pub fn password(&self) -> Option<&str> {
        let at = self.extra.iter().position(|a| a == "--requirepass")?;
        self.extra.get(at + 1).map(String::as_str)
    }

    /// `redis://:{password}@127.0.0.1:{port}` (any password, right or wrong).
    pub fn url_with_password(&self, password: &str) -> String {
        format!("redis://:{password}@127.0.0.1:{}", self.port)
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Pauses every write (claim scripts included) for a minute; reads still answer.
    pub fn pause_writes(&self) {
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(60_000)
            .arg("WRITE")
            .query::<()>(&mut self.conn())
            .unwrap();
    }

    /// SIGKILLs the server (the port stays reserved for [`RedisServer::restart`]).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory (AOF data survives).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

/// Where sett-sim's agents and recorders connect: `SimAgent::start(&redis, …)`.
impl redis::IntoConnectionInfo for &RedisServer {
    fn into_connection_info(self) -> redis::RedisResult<redis::ConnectionInfo> {
        self.url().into_connection_info()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
