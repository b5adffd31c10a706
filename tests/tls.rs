//! TLS to Redis (`rediss://`): a real `redis-server` serving only TLS
//! (`--port 0 --tls-port …`) with a certificate from a test CA that the test
//! makes with the openssl CLI. With `SETT_REDIS_CA_FILE` naming that CA, claims
//! are made; with only the built-in web PKI roots, or another CA, the
//! orchestrator refuses the server and exits 1 saying why; a CA file it
//! cannot read is refused with the configuration.

use sett_test_support as support;

use support::certs::make_ca;
use support::tls_redis::TlsRedis;
use support::*;

/// Starts the orchestrator on `redis` with `extra` variables; does not wait.
fn spawn(redis: &TlsRedis, instance: &str, extra: &[(&str, &str)]) -> Orchestrator {
    Orchestrator::spawn_on(&redis.url(), instance, extra)
}

/// Waits for exit 1, then checks the one plain stderr line and the JSON
/// `startup_failed` line, and that nothing else started.
fn assert_refused(orch: &mut Orchestrator, stage: &str, why: &str) {
    let status = orch
        .wait_exit(PATIENCE)
        .expect("the orchestrator should exit");
    assert_eq!(
        status.code(),
        Some(1),
        "stdout: {:?}\nstderr: {:?}",
        orch.stdout(),
        orch.stderr()
    );
    assert!(orch.wait_output_closed());
    assert_eq!(orch.stderr(), vec![format!("sett-orchestrator: {why}")]);
    let failed = orch.events("startup_failed");
    assert_eq!(failed.len(), 1, "{:?}", orch.stdout());
    assert_eq!(failed[0]["level"], "error");
    assert_eq!(failed[0]["stage"], stage);
    assert_eq!(failed[0]["error"], why);
    assert!(orch.events("orchestrator_startup").is_empty());
}

#[test]
fn a_claim_is_made_over_rediss_when_the_private_ca_is_trusted() {
    let redis = TlsRedis::start();
    let listener = ClaimListener::start_on(redis.conn(), "tls1");
    let ca = redis.ca.display().to_string();
    let orch = spawn(&redis, "tls1", &[("SETT_REDIS_CA_FILE", &ca)]);
    let startup = orch.wait_for_event("orchestrator_startup");
    assert_eq!(startup["redis"], redis.url());
    let mut p = Producer {
        namespace: "sett",
        instance: "tls1".into(),
        conn: redis.conn(),
    };
    let id = p.write("Standard", "over TLS");
    let events = listener.wait_for(1);
    let claim_id = p.claim_of(&id).expect("index key");
    let hash: std::collections::BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("sett:tls1:claim:{claim_id}"))
        .query(&mut p.conn)
        .unwrap();
    assert_eq!(hash["artefact_id"], id);
    assert_eq!(hash["status"], "pending_review");
    assert_eq!(hash.len(), 6);
    assert_eq!(
        events,
        vec![format!(
            r#"{{"id":"{claim_id}","artefact_id":"{id}","status":"pending_review","granted_review_agents":[],"granted_parallel_agents":[],"granted_exclusive_agent":""}}"#
        )]
    );
    assert!(orch.wait_status("/healthz", 200));
}

#[test]
fn with_only_the_web_pki_roots_the_self_signed_server_is_refused() {
    let redis = TlsRedis::start();
    let mut orch = spawn(&redis, "tls2", &[]);
    let why = format!(
        "cannot reach Redis at {}: invalid peer certificate: UnknownIssuer",
        redis.url()
    );
    assert_refused(&mut orch, "redis_connect", &why);
    let mut conn = redis.conn();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert_eq!(keys, Vec::<String>::new());
}

#[test]
fn a_ca_file_of_another_ca_does_not_make_the_server_trusted() {
    let redis = TlsRedis::start();
    let other = make_ca(&redis.dir, "other").display().to_string();
    let mut orch = spawn(&redis, "tls3", &[("SETT_REDIS_CA_FILE", &other)]);
    let why = format!(
        "cannot reach Redis at {}: invalid peer certificate: UnknownIssuer",
        redis.url()
    );
    assert_refused(&mut orch, "redis_connect", &why);
}

/// A CA file that cannot be read is a configuration error: refused before
/// the runtime starts (no `startup_failed`, nothing on stdout), one line on
/// stderr naming the variable and what to do.
#[test]
fn an_unreadable_ca_file_is_a_configuration_error() {
    let redis = TlsRedis::start();
    let missing = redis.dir.join("no-such-ca.pem").display().to_string();
    let mut orch = spawn(&redis, "tls4", &[("SETT_REDIS_CA_FILE", &missing)]);
    let status = orch
        .wait_exit(PATIENCE)
        .expect("the orchestrator should exit");
    assert_eq!(status.code(), Some(1));
    assert!(orch.wait_output_closed());
    assert_eq!(orch.stdout(), Vec::<String>::new());
    assert_eq!(
        orch.stderr(),
        vec![format!(
            "sett-orchestrator: SETT_REDIS_CA_FILE is invalid: cannot read {missing}: No such file or directory (os error 2); set it to a readable file of PEM CA certificate(s), or unset it to trust the built-in web PKI roots"
        )]
    );
}
