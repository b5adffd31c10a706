//! `rediss://` from the FROM-scratch image, which has no CA files at all:
//! Redis serves TLS with a certificate from a test CA (made here with the
//! openssl CLI); with only the built-in web PKI roots the orchestrator refuses
//! it and exits 1, and with that CA mounted and named in `SETT_REDIS_CA_FILE`
//! it makes claims.

#[path = "../../tests/support/certs.rs"]
mod certs;
mod common;

use std::path::PathBuf;
use std::process::Command;

use certs::{make_ca, make_server_cert};
use common::*;

/// A directory with `ca.crt` and a `server.crt`/`server.key` for `host`; removed on drop.
struct Certs(PathBuf);

impl Certs {
    fn for_host(host: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("sett-ct-tls-{}", uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        make_ca(&dir, "ca");
        make_server_cert(&dir, "ca", host, &format!("DNS:{host}"));
        Certs(dir)
    }

    fn path(&self, file: &str) -> String {
        self.0.join(file).display().to_string()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn rediss_from_the_scratch_image_needs_the_mounted_private_ca() {
    if !docker_or_skip("rediss_from_the_scratch_image_needs_the_mounted_private_ca") {
        return;
    }
    let sfx = suffix();
    let host = format!("sett-ct-redis-{sfx}");
    let certs = Certs::for_host(&host);
    // TLS on 6379 for the orchestrator; plain 6380 only for the test's own client.
    let tls_args = [
        "--tls-port",
        "6379",
        "--tls-cert-file",
        "/tls/server.crt",
        "--tls-key-file",
        "/tls/server.key",
        "--tls-ca-cert-file",
        "/tls/ca.crt",
        "--tls-auth-clients",
        "no",
    ];
    let mut stack = Stack::redis_with(
        "ct5",
        &sfx,
        6380,
        &tls_args,
        Some(mount(&certs.path(""), "/tls")),
    );
    let url = format!("rediss://{host}:6379");

    // Web PKI roots only: refused, exit 1, one clear line on stderr.
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--name",
            &format!("sett-ct-{sfx}-noca"),
            "--network",
            &stack.network,
        ])
        .args([
            "-e",
            "SETT_INSTANCE_NAME=ct5",
            "-e",
            &format!("REDIS_URL={url}"),
            &orchestrator_image(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("sett-orchestrator: cannot reach Redis at {url}: invalid peer certificate: UnknownIssuer\n")
    );

    // The private CA, mounted read-only (the image runs as 65534): claims over TLS.
    let env = [
        ("REDIS_URL", url.as_str()),
        ("SETT_REDIS_CA_FILE", "/ca/ca.crt"),
    ];
    stack.start_orchestrator_with(None, &env, Some(mount(&certs.path("ca.crt"), "/ca/ca.crt")));
    assert_eq!(stack.events("orchestrator_startup")[0]["redis"], url);
    let mut conn = stack.conn();
    let listener = ClaimListener::start(stack.conn(), "ct5");
    let id = stack.write(&mut conn, "Standard", "over TLS in a container");
    assert!(
        wait_until(PATIENCE, || stack.claim_of(&mut conn, &id).is_some()),
        "no claim; log:\n{}",
        stack.orch_log()
    );
    assert!(wait_until(PATIENCE, || listener.len() == 1));
    let claim: serde_json::Value = serde_json::from_str(&listener.messages()[0]).unwrap();
    assert_eq!(claim["artefact_id"], id.as_str());
    assert_eq!(claim["status"], "pending_review");
}
