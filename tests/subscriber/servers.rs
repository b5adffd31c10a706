//! Servers the subscriber tests need besides a plain `RedisServer`: a
//! TLS-only redis-server with a test CA, and a slow link (a TCP proxy that
//! delays everything Redis sends).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::support::certs::{make_ca, make_server_cert};
use crate::support::*;

/// A TLS-only redis-server (certificate for `localhost` and 127.0.0.1 from
/// its own CA, `ca`); killed on drop.
pub struct TlsRedis {
    pub port: u16,
    pub ca: PathBuf,
    dir: PathBuf,
    child: Child,
}

impl TlsRedis {
    pub fn start() -> TlsRedis {
        let dir = std::env::temp_dir().join(format!("sett-test-subtls-{}", uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = make_ca(&dir, "ca");
        make_server_cert(&dir, "ca", "localhost", "DNS:localhost,IP:127.0.0.1");
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        let server = TlsRedis {
            port,
            ca,
            dir,
            child,
        };
        assert!(
            wait_until(PATIENCE, || server
                .client()
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()),
            "redis-server did not serve TLS on port {port}"
        );
        server
    }

    /// A client of the test's own, trusting the test CA.
    pub fn client(&self) -> redis::Client {
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&self.ca).unwrap()),
        };
        redis::Client::build_with_tls(format!("rediss://localhost:{}", self.port), certs).unwrap()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A proxy to `127.0.0.1:upstream` that holds every chunk Redis sends for
/// `delay` before passing it on (requests go through at once). Its threads
/// end with their connections.
pub fn slow_link(upstream: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || pipe(c2, s2, Duration::ZERO));
            thread::spawn(move || pipe(server, client, delay));
        }
    });
    port
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        thread::sleep(delay);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}
