//! A TLS-only `redis-server` (`--port 0 --tls-port …`) with a certificate for
//! `localhost` and 127.0.0.1 from its own test CA (made with the openssl CLI),
//! for the TLS tests of the orchestrator and of the subscriber.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::certs::{make_ca, make_server_cert};
use super::*;

/// A TLS-only redis-server with a certificate for `localhost` and 127.0.0.1
/// signed by its own test CA; killed on drop.
pub struct TlsRedis {
    pub port: u16,
    pub dir: PathBuf,
    pub ca: PathBuf,
    child: Child,
}

impl TlsRedis {
    pub fn start() -> TlsRedis {
        let dir = std::env::temp_dir().join(format!("sett-test-tls-{}", uuid()));
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
                "--tls-ca-cert-file",
                "ca.crt",
            ])
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(&dir)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        let server = TlsRedis {
            port,
            dir,
            ca,
            child,
        };
        let up = wait_until(PATIENCE, || {
            server
                .client()
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
        assert!(
            up,
            "redis-server did not serve TLS on port {port} (is it built with TLS?)"
        );
        server
    }

    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }

    /// A client of the test's own that trusts the test CA.
    pub fn client(&self) -> redis::Client {
        let pem = std::fs::read(&self.ca).unwrap();
        let certs = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        };
        redis::Client::build_with_tls(self.url(), certs).unwrap()
    }

    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
