//! The process refuses to start: every configuration error, Redis unreachable,
//! the HTTP port taken. Each exits 1 with exactly one stderr line that names the
//! cause, and never prints a Redis password.

use sett_test_support as support;

use std::net::TcpListener;
use std::time::Duration;

use support::*;

const SECRET: &str = "hunter2-secret";
/// Bound on how long a refused start may take (start-up retries Redis for ~4 s).
const EXIT_LIMIT: Duration = Duration::from_secs(15);

/// Runs the binary with `env`, waits for it to exit, returns it (output complete).
fn run_to_exit(env: &[(&str, &str)]) -> (Orchestrator, i32) {
    let mut orch = Orchestrator::spawn(env);
    let status = orch
        .wait_exit(EXIT_LIMIT)
        .unwrap_or_else(|| panic!("still running after {EXIT_LIMIT:?}: {env:?}"));
    assert!(orch.wait_output_closed(), "output not closed: {env:?}");
    (
        orch,
        status.code().expect("exited with a status, not a signal"),
    )
}

#[test]
fn each_configuration_error_exits_1_with_one_line_naming_the_variable() {
    let ok_url = "redis://127.0.0.1:1";
    let long = "a".repeat(64);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("REDIS_URL", ok_url)], "SETT_INSTANCE_NAME"),
        (
            vec![("SETT_INSTANCE_NAME", "Prod"), ("REDIS_URL", ok_url)],
            "SETT_INSTANCE_NAME",
        ),
        (
            vec![("SETT_INSTANCE_NAME", "-prod"), ("REDIS_URL", ok_url)],
            "SETT_INSTANCE_NAME",
        ),
        (
            vec![("SETT_INSTANCE_NAME", &long), ("REDIS_URL", ok_url)],
            "SETT_INSTANCE_NAME",
        ),
        (vec![("SETT_INSTANCE_NAME", "")], "SETT_INSTANCE_NAME"),
        (vec![("SETT_INSTANCE_NAME", "prod")], "REDIS_URL"),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", "http://127.0.0.1:6379"),
            ],
            "REDIS_URL",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", "127.0.0.1:6379"),
            ],
            "REDIS_URL",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_HTTP_ADDR", "localhost:80"),
            ],
            "SETT_HTTP_ADDR",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_HTTP_ADDR", ":99999"),
            ],
            "SETT_HTTP_ADDR",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_REDIS_RETRY_TIMEOUT", "soon"),
            ],
            "SETT_REDIS_RETRY_TIMEOUT",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_REDIS_RETRY_TIMEOUT", "0"),
            ],
            "SETT_REDIS_RETRY_TIMEOUT",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_RECONCILE", "maybe"),
            ],
            "SETT_RECONCILE",
        ),
        (
            vec![("HOLT_INSTANCE_NAME", "Prod"), ("REDIS_URL", ok_url)],
            "HOLT_INSTANCE_NAME",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("HOLT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
            ],
            "HOLT_INSTANCE_NAME",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_CONFIG_FILE", ""),
            ],
            "SETT_CONFIG_FILE",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_BID_TIMEOUT", "soon"),
            ],
            "SETT_BID_TIMEOUT",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_PHASE_TIMEOUT", "-1"),
            ],
            "SETT_PHASE_TIMEOUT",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_CATCHUP_INTERVAL", "25h"),
            ],
            "SETT_CATCHUP_INTERVAL",
        ),
        (
            vec![
                ("SETT_INSTANCE_NAME", "prod"),
                ("REDIS_URL", ok_url),
                ("SETT_LOG_LEVEL", "trace"),
            ],
            "SETT_LOG_LEVEL",
        ),
    ];
    for (env, var) in &cases {
        let (orch, code) = run_to_exit(env);
        assert_eq!(code, 1, "{env:?}");
        assert_eq!(orch.stdout(), Vec::<String>::new(), "{env:?}");
        let stderr = orch.stderr();
        assert_eq!(stderr.len(), 1, "{env:?}: {stderr:?}");
        assert!(stderr[0].contains(var), "{env:?}: {stderr:?}");
    }
}

#[test]
fn an_invalid_redis_url_never_shows_its_password() {
    for url in [
        format!("http://:{SECRET}@127.0.0.1:6379"),
        format!("redis://:{SECRET}@127.0.0.1:99999"),
        format!("redis://user:{SECRET}@127.0.0.1:6379/notadb"),
    ] {
        let (orch, code) = run_to_exit(&[("SETT_INSTANCE_NAME", "prod"), ("REDIS_URL", &url)]);
        assert_eq!(code, 1);
        assert_eq!(orch.stdout(), Vec::<String>::new());
        let stderr = orch.stderr();
        assert_eq!(stderr.len(), 1, "{stderr:?}");
        assert!(stderr[0].contains("REDIS_URL"), "{stderr:?}");
        assert!(!stderr[0].contains(SECRET), "password printed: {stderr:?}");
    }
}

#[test]
fn unreachable_redis_at_start_exits_1_without_the_password() {
    let port = free_port();
    let url = format!("redis://:{SECRET}@127.0.0.1:{port}");
    let addr = format!("127.0.0.1:{}", free_port());
    let env = [
        ("SETT_INSTANCE_NAME", "prod"),
        ("REDIS_URL", url.as_str()),
        ("SETT_HTTP_ADDR", addr.as_str()),
    ];
    let (orch, code) = run_to_exit(&env);
    assert_eq!(code, 1);
    let stderr = orch.stderr();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains("cannot reach Redis"), "{stderr:?}");
    assert!(
        stderr[0].contains(&format!("127.0.0.1:{port}")),
        "{stderr:?}"
    );
    let failed = orch.events("startup_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["stage"], "redis_connect");
    assert_eq!(orch.events("orchestrator_startup").len(), 0);
    for line in orch.all_output() {
        assert!(!line.contains(SECRET), "password printed: {line}");
    }
    assert_all_json(&orch);
}

#[test]
fn a_taken_http_port_exits_1_naming_sett_http_addr() {
    let redis = RedisServer::start();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let url = redis.url();
    let (orch, code) = run_to_exit(&[
        ("SETT_INSTANCE_NAME", "prod"),
        ("REDIS_URL", &url),
        ("SETT_HTTP_ADDR", &addr),
    ]);
    assert_eq!(code, 1);
    let stderr = orch.stderr();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains("SETT_HTTP_ADDR"), "{stderr:?}");
    assert!(stderr[0].contains(&addr), "{stderr:?}");
    let failed = orch.events("startup_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["stage"], "http_bind");
    assert_eq!(orch.events("orchestrator_startup").len(), 0);
    assert_all_json(&orch);
    drop(taken);
}

/// Configuration errors found in the files the variables name, and the
/// values with one rule: each is the exact one stderr line, exit 1, and
/// nothing on stdout (the runtime never started).
#[test]
fn ca_file_and_switch_errors_are_one_exact_stderr_line_and_nothing_on_stdout() {
    let dir = TempDir::new();
    let missing = dir.path().join("no-such-ca.pem").display().to_string();
    let empty = dir.file("empty.pem", "");
    let text = dir.file("text.pem", "not a certificate\n");
    let fix = "set it to a readable file of PEM CA certificate(s), or unset it to trust the built-in web PKI roots";
    let secret_url = format!("redis://:{SECRET}@127.0.0.1:1");
    let unix_url = format!("unix:///tmp/sett-none.sock?pass={SECRET}");
    let tls_url = "rediss://127.0.0.1:1";
    let scheme_error = |scheme: &str| {
        format!("sett-orchestrator: SETT_REDIS_CA_FILE is invalid: it is only used with rediss:// and REDIS_URL is {scheme}://; use a rediss:// URL, or unset SETT_REDIS_CA_FILE")
    };
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (
            vec![("REDIS_URL", &secret_url), ("SETT_REDIS_CA_FILE", &text)],
            scheme_error("redis"),
        ),
        (
            vec![("REDIS_URL", &unix_url), ("SETT_REDIS_CA_FILE", &text)],
            scheme_error("unix"),
        ),
        (
            vec![("REDIS_URL", tls_url), ("SETT_REDIS_CA_FILE", &missing)],
            format!("sett-orchestrator: SETT_REDIS_CA_FILE is invalid: cannot read {missing}: No such file or directory (os error 2); {fix}"),
        ),
        (
            vec![("REDIS_URL", tls_url), ("SETT_REDIS_CA_FILE", &empty)],
            format!("sett-orchestrator: SETT_REDIS_CA_FILE is invalid: {empty} is empty; {fix}"),
        ),
        (
            vec![("REDIS_URL", tls_url), ("SETT_REDIS_CA_FILE", &text)],
            format!("sett-orchestrator: SETT_REDIS_CA_FILE is invalid: {text} holds no PEM certificate (-----BEGIN CERTIFICATE-----); {fix}"),
        ),
    ];
    let switches = ["yes", "true", "1", "no", "false", "0", "enabled"];
    let cases = cases.into_iter().chain(switches.iter().map(|v| {
        (
            vec![("REDIS_URL", tls_url), ("SETT_RECONCILE", *v)],
            "sett-orchestrator: SETT_RECONCILE is invalid: expected 'on' or 'off'".to_string(),
        )
    }));
    for (mut env, want) in cases {
        env.push(("SETT_INSTANCE_NAME", "prod"));
        let (orch, code) = run_to_exit(&env);
        assert_eq!(code, 1, "{env:?}");
        assert_eq!(orch.stdout(), Vec::<String>::new(), "{env:?}");
        assert_eq!(orch.stderr(), vec![want], "{env:?}");
    }
}

#[test]
fn reconcile_takes_on_and_off_in_any_letter_case() {
    let redis = RedisServer::start();
    for (value, on) in [("on", true), ("OFF", false), (" Off ", false), ("On", true)] {
        let mut orch = Orchestrator::start_env(&redis, "switch", &[("SETT_RECONCILE", value)]);
        let startup = orch.wait_for_event("orchestrator_startup");
        assert_eq!(startup["reconcile"], on, "{value:?}");
        support::verify::stop(&mut orch);
    }
}

/// `DOCKER_HOST` is a configuration value where it is used: with a registry
/// that has controllers, a bad one is the exact one stderr line, exit 1 and
/// nothing on stdout (never its password); without controllers nobody talks
/// to Docker, and a `DOCKER_HOST` set for other tools starts as usual.
#[test]
fn a_bad_docker_host_is_a_configuration_error_only_for_controllers() {
    let dir = TempDir::new();
    let controllers = dir.file(
        "controllers.yml",
        "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    \
         worker: {image: 'coder:1', command: [run]}\n",
    );
    let plain = dir.file("plain.yml", "version: '1.0'\nagents:\n  Coder: {}\n");
    let tcp = format!("tcp://admin:{SECRET}@10.0.0.1:2376");
    let fix = "the registry's controller agents need the Docker Engine's unix socket: \
               set DOCKER_HOST=unix:///path/to/docker.sock, or unset it for /var/run/docker.sock";
    let cases = [
        (
            tcp.as_str(),
            "only unix:///path sockets are supported (scheme \"tcp\")",
        ),
        (
            "/var/run/docker.sock",
            "only unix:///path sockets are supported (scheme \"(none)\")",
        ),
        (
            "unix://docker.sock",
            "must be unix:///absolute/path/to/docker.sock",
        ),
    ];
    for (host, why) in cases {
        let env = [
            ("SETT_INSTANCE_NAME", "prod"),
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("SETT_CONFIG_FILE", controllers.as_str()),
            ("DOCKER_HOST", host),
        ];
        let (orch, code) = run_to_exit(&env);
        assert_eq!(code, 1, "{host}");
        assert_eq!(orch.stdout(), Vec::<String>::new(), "{host}");
        assert_eq!(
            orch.stderr(),
            vec![format!(
                "sett-orchestrator: DOCKER_HOST is invalid: {why}; {fix}"
            )],
            "{host}"
        );
    }
    let redis = RedisServer::start();
    for registry in [None, Some(plain.as_str())] {
        let mut env = vec![("DOCKER_HOST", tcp.as_str())];
        env.extend(registry.map(|file| ("SETT_CONFIG_FILE", file)));
        let mut orch = Orchestrator::start_env(&redis, "dockerhost", &env);
        let startup = orch.wait_for_event("orchestrator_startup");
        let mode = if registry.is_some() {
            "lifecycle"
        } else {
            "phase1"
        };
        assert_eq!(startup["mode"], mode);
        support::verify::stop(&mut orch);
        assert_eq!(orch.stderr(), Vec::<String>::new(), "{registry:?}");
    }
}

/// A controller whose workers mount the workspace needs
/// `HOST_WORKSPACE_PATH`: without it, the exact one stderr line naming the
/// variable, the agent and the file, exit 1, nothing on stdout, before Redis
/// or Docker is asked anything (the Redis URL here answers nothing).
#[test]
fn a_workspace_mount_without_host_workspace_path_is_one_line_naming_the_file() {
    let dir = TempDir::new();
    let registry = dir.file(
        "mounts.yml",
        "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    \
         worker: {image: 'coder:1', command: [run], workspace: {mode: ro}}\n",
    );
    let env = [
        ("SETT_INSTANCE_NAME", "prod"),
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("SETT_CONFIG_FILE", registry.as_str()),
    ];
    let (orch, code) = run_to_exit(&env);
    assert_eq!(code, 1);
    assert_eq!(orch.stdout(), Vec::<String>::new());
    assert_eq!(
        orch.stderr(),
        vec![format!(
            "sett-orchestrator: HOST_WORKSPACE_PATH is not set, and agent 'Coder' in {registry} \
             has worker.workspace: set it to the workspace's path on the Docker host (mounted at \
             /workspace in that agent's workers), or remove worker.workspace"
        )]
    );
}
