//! The agent registry and the namespace at start-up, on the real binary: each
//! bad registry exits 1 with exactly one stderr line naming `SETT_CONFIG_FILE`,
//! the path and the problem; a valid one in either format starts the lifecycle
//! mode and logs its agents; none means Phase 1. With `HOLT_INSTANCE_NAME`
//! every key and channel is under `holt:{i}:`.
//!
//! Registries live in a temp dir named by `SETT_CONFIG_FILE`; the default
//! `/workspace` paths are covered by unit tests (this never creates `/workspace`).

use sett_test_support as support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use support::*;

/// Bound on a refused start (it refuses before touching Redis).
const EXIT_LIMIT: Duration = Duration::from_secs(15);
const UNREACHABLE: &str = "redis://127.0.0.1:1";

/// Runs the binary to exit; returns its exit code, stdout and stderr lines.
fn refused(env: &[(&str, &str)]) -> (i32, Vec<String>, Vec<String>) {
    let mut orch = Orchestrator::spawn(env);
    let status = orch
        .wait_exit(EXIT_LIMIT)
        .unwrap_or_else(|| panic!("still running after {EXIT_LIMIT:?}: {env:?}"));
    assert!(orch.wait_output_closed(), "output not closed: {env:?}");
    (
        status.code().expect("an exit status"),
        orch.stdout(),
        orch.stderr(),
    )
}

/// The stderr line a refused registry at `path` must print.
fn named_error(path: &str, problem: &str) -> String {
    format!("sett-orchestrator: SETT_CONFIG_FILE is invalid: {path}: {problem}")
}

#[test]
fn each_bad_registry_exits_1_with_one_line_naming_the_file_and_the_problem() {
    let dir = TempDir::new();
    let missing = dir.path().join("absent.yml").to_str().unwrap().to_string();
    let as_dir = dir.path().to_str().unwrap().to_string();
    let cases: Vec<(String, String)> = vec![
        (
            missing.clone(),
            named_error(
                &missing,
                "cannot read it: No such file or directory (os error 2)",
            ),
        ),
        (
            as_dir.clone(),
            named_error(&as_dir, "cannot read it: Is a directory (os error 21)"),
        ),
        {
            let p = dir.file("broken.yml", "version: '1.0'\nagents: {\n");
            let why =
                "did not find expected node content at line 3 column 1, while parsing a flow node";
            (p.clone(), named_error(&p, why))
        },
        {
            let p = dir.file(
                "dup.yml",
                "version: '1.0'\nagents:\n  Coder: {}\n  Reviewer: {}\n  Coder: {}\n",
            );
            let why = "agents: duplicate entry with key \"Coder\" at line 3 column 3";
            (p.clone(), named_error(&p, why))
        },
        {
            let p = dir.file("version.yml", "version: 1\nagents:\n  Coder: {}\n");
            (p.clone(), named_error(&p, "version must be 1.0 (got '1')"))
        },
        {
            let p = dir.file("empty.yml", "version: '1.0'\nagents: {}\n");
            let why = "agents is empty (at least one agent is required)";
            (p.clone(), named_error(&p, why))
        },
        {
            let p = dir.file("noagents.yml", "version: '1.0'\nimage: x\n");
            let why = "agents is missing (a map of agent names is required)";
            (p.clone(), named_error(&p, why))
        },
        {
            let p = dir.file("name.yml", "version: '1.0'\nagents:\n  go_coder: {}\n");
            let why = "agent name 'go_coder' is invalid (1 to 64 of A-Z a-z 0-9 '-')";
            (p.clone(), named_error(&p, why))
        },
        {
            let p = dir.file(
                "negative.yml",
                "version: '1.0'\nagents:\n  Coder: {}\norchestrator:\n  max_review_iterations: -1\n",
            );
            let why = "orchestrator.max_review_iterations must not be negative (got -1; 0 means unlimited)";
            (p.clone(), named_error(&p, why))
        },
        {
            let p = dir.file(
                "controller.yml",
                "version: '1.0'\nagents:\n  Coder: {}\n  Builder:\n    image: b\n    mode: controller\n",
            );
            let why = "agent 'Builder' has mode: controller but no worker configuration";
            (p.clone(), named_error(&p, why))
        },
        {
            let p = dir.file(
                "zero.yml",
                "version: '1.0'\nagents:\n  Builder:\n    mode: controller\n    \
                 worker: {image: b, command: [run], max_concurrent: 0}\n",
            );
            let why = "agent 'Builder' worker.max_concurrent must be >= 1 (got 0)";
            (p.clone(), named_error(&p, why))
        },
    ];
    for (path, want) in &cases {
        for instance_var in ["SETT_INSTANCE_NAME", "HOLT_INSTANCE_NAME"] {
            let env = [
                (instance_var, "prod"),
                ("REDIS_URL", UNREACHABLE),
                ("SETT_CONFIG_FILE", path.as_str()),
            ];
            let (code, stdout, stderr) = refused(&env);
            assert_eq!(code, 1, "{env:?}");
            assert_eq!(stdout, Vec::<String>::new(), "{env:?}");
            assert_eq!(stderr, vec![want.clone()], "{env:?}");
        }
    }
}

#[test]
fn both_instance_variables_set_is_a_configuration_error() {
    let (code, stdout, stderr) = refused(&[
        ("SETT_INSTANCE_NAME", "prod"),
        ("HOLT_INSTANCE_NAME", "prod"),
        ("REDIS_URL", UNREACHABLE),
    ]);
    assert_eq!(code, 1);
    assert_eq!(stdout, Vec::<String>::new());
    assert_eq!(
        stderr,
        vec![
            "sett-orchestrator: SETT_INSTANCE_NAME and HOLT_INSTANCE_NAME are both set \
             (set one: it picks the namespace)"
                .to_string()
        ]
    );
}

/// Starts one on `redis` with exactly `env` plus the URL and a free HTTP
/// port; returns it with its `orchestrator_startup` line.
fn started(redis: &RedisServer, env: &[(&str, &str)]) -> (Orchestrator, serde_json::Value) {
    let url = redis.url();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut all = vec![
        ("REDIS_URL", url.as_str()),
        ("SETT_HTTP_ADDR", addr.as_str()),
    ];
    all.extend_from_slice(env);
    let orch = Orchestrator::spawn(&all);
    let line = orch.wait_for_event("orchestrator_startup");
    assert_eq!(orch.stderr(), Vec::<String>::new());
    (orch, line)
}

#[test]
fn a_holt_format_registry_starts_the_lifecycle_mode() {
    let dir = TempDir::new();
    let path = dir.file(
        "holt.yml",
        "version: \"1.0\"\n\
         agents:\n  \
           Reviewer:\n    image: \"example-reviewer:latest\"\n    bidding_strategy: review\n  \
           Coder:\n    image: \"example-git-agent:latest\"\n    command: [\"/app/run.sh\"]\n    \
             workspace:\n      mode: rw\n\
         services:\n  redis: {image: \"redis:7\"}\n",
    );
    let redis = RedisServer::start();
    let (_orch, line) = started(
        &redis,
        &[("HOLT_INSTANCE_NAME", "dev"), ("SETT_CONFIG_FILE", &path)],
    );
    assert_eq!(line["instance"], "dev");
    assert_eq!(line["namespace"], "holt");
    assert_eq!(line["mode"], "lifecycle");
    assert_eq!(line["registry"], path.as_str());
    assert_eq!(
        line["agents"],
        serde_json::json!({"Coder": "Coder", "Reviewer": "Reviewer"})
    );
    assert_eq!(line["max_review_iterations"], 3);
    // Defaults: wait for every agent's bid; warn after 10 minutes.
    assert_eq!(line["bid_timeout"], "0");
    assert_eq!(line["bid_overdue"], "10m");
    assert_eq!(line["phase_timeout"], "0");
}

#[test]
fn a_sett_format_registry_starts_with_its_roles_and_timeouts() {
    let dir = TempDir::new();
    let path = dir.file(
        "sett.yml",
        "version: 1.0\n\
         agents:\n  \
           reviewer-b: {role: Reviewer, image: r}\n  \
           go-coder: {role: Coder, image: c}\n  \
           reviewer-a: {role: Reviewer, mode: ''}\n\
         orchestrator:\n  max_review_iterations: 0\n",
    );
    let redis = RedisServer::start();
    let (_orch, line) = started(
        &redis,
        &[
            ("SETT_INSTANCE_NAME", "prod"),
            ("SETT_CONFIG_FILE", &path),
            ("SETT_BID_TIMEOUT", "90s"),
            ("SETT_BID_OVERDUE", "0"),
            ("SETT_PHASE_TIMEOUT", "500ms"),
        ],
    );
    assert_eq!(line["namespace"], "sett");
    assert_eq!(line["mode"], "lifecycle");
    assert_eq!(line["registry"], path.as_str());
    // In name order, bytewise.
    let agents = serde_json::to_string(&line["agents"]).unwrap();
    assert_eq!(
        agents,
        r#"{"go-coder":"Coder","reviewer-a":"Reviewer","reviewer-b":"Reviewer"}"#
    );
    assert_eq!(line["max_review_iterations"], 0);
    assert_eq!(line["bid_timeout"], "90s");
    assert_eq!(line["bid_overdue"], "0");
    assert_eq!(line["phase_timeout"], "500ms");
}

/// YAML merge keys (`<<: *a`, `<<: [*a, *b]`), in Holt's format (whole
/// agents merged in) and Sett's (roles merged in; a written key wins, the
/// earlier of a list wins), give the agents and roles Holt's tools give.
#[test]
fn registries_with_merge_keys_start_with_the_merged_agents() {
    let dir = TempDir::new();
    let holt = dir.file(
        "holt.yml",
        "version: \"1.0\"\n\
         x-agent: &agent {image: \"agent:latest\", mode: \"\"}\n\
         x-docs: &docs {Docs: {image: d}}\n\
         agents:\n  \
           <<: *docs\n  \
           Reviewer: {<<: *agent, bidding_strategy: review}\n  \
           Coder:\n    <<: *agent\n",
    );
    let sett = dir.file(
        "sett.yml",
        "version: 1.0\n\
         reviewer: &reviewer {role: Reviewer, image: r}\n\
         coder: &coder {role: Coder}\n\
         agents:\n  \
           reviewer-a: {<<: *reviewer}\n  \
           lead: {<<: *reviewer, role: Lead}\n  \
           go-coder: {<<: [*coder, *reviewer]}\n",
    );
    let redis = RedisServer::start();
    for (path, instance, want) in [
        (
            &holt,
            "mh",
            r#"{"Coder":"Coder","Docs":"Docs","Reviewer":"Reviewer"}"#,
        ),
        (
            &sett,
            "ms",
            r#"{"go-coder":"Coder","lead":"Lead","reviewer-a":"Reviewer"}"#,
        ),
    ] {
        let (_orch, line) = started(
            &redis,
            &[("SETT_INSTANCE_NAME", instance), ("SETT_CONFIG_FILE", path)],
        );
        assert_eq!(line["mode"], "lifecycle");
        assert_eq!(serde_json::to_string(&line["agents"]).unwrap(), want);
    }
    // A merge of a scalar: refused in one line.
    let bad = dir.file("bad.yml", "version: '1.0'\nagents:\n  A: {<<: 1}\n");
    let (code, stdout, stderr) = refused(&[
        ("SETT_INSTANCE_NAME", "mb"),
        ("REDIS_URL", UNREACHABLE),
        ("SETT_CONFIG_FILE", &bad),
    ]);
    assert_eq!(code, 1);
    assert_eq!(stdout, Vec::<String>::new());
    assert_eq!(
        stderr,
        vec![named_error(
            &bad,
            "merge key (<<): expected a mapping or list of mappings for merging, but found scalar"
        )]
    );
}

#[test]
fn without_a_registry_it_is_phase1() {
    assert!(
        !Path::new("/workspace/sett.yml").exists() && !Path::new("/workspace/holt.yml").exists(),
        "this test needs the default registry paths to be absent"
    );
    let redis = RedisServer::start();
    for (var, namespace) in [
        ("SETT_INSTANCE_NAME", "sett"),
        ("HOLT_INSTANCE_NAME", "holt"),
    ] {
        let (_orch, line) = started(&redis, &[(var, "plain")]);
        assert_eq!(line["namespace"], namespace);
        assert_eq!(line["mode"], "phase1");
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        for absent in [
            "registry",
            "agents",
            "max_review_iterations",
            "bid_timeout",
            "bid_overdue",
            "phase_timeout",
        ] {
            assert!(!line.as_object().unwrap().contains_key(absent), "{keys:?}");
        }
    }
}

fn keys(conn: &mut redis::Connection, pattern: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(conn).unwrap();
    keys.sort();
    keys
}

#[test]
fn the_holt_namespace_claims_under_holt_only() {
    let redis = RedisServer::start();
    let mut conn = redis.conn();
    let claim_events = ClaimListener::on_channel(redis.conn(), "holt:hns:claim_events");
    let sett_events = ClaimListener::on_channel(redis.conn(), "sett:hns:claim_events");
    let mut holt = Producer::in_namespace(&redis, "holt", "hns");
    let mut sett = Producer::new(&redis, "hns");
    // One artefact before start-up (the catch-up scan), one announced after.
    let early = uuid();
    holt.store(&early, "Standard", "p");
    let (orch, line) = started(&redis, &[("HOLT_INSTANCE_NAME", "hns")]);
    assert_eq!(line["namespace"], "holt");
    // The same instance name in the sett namespace is not ours.
    let foreign = uuid();
    sett.store(&foreign, "Standard", "p");
    sett.publish_raw(Producer::event_json(&foreign, "Standard", "p").as_bytes());
    let late = uuid();
    holt.store(&late, "Standard", "p");
    holt.publish_raw(Producer::event_json(&late, "Standard", "p").as_bytes());
    assert!(
        wait_until(PATIENCE, || claim_events.messages().len() >= 2),
        "claim events: {:?}; stdout: {:#?}",
        claim_events.messages(),
        orch.stdout()
    );
    orch.wait_for_events("claim_created", 2);

    let mut announced = BTreeMap::new();
    for event in claim_events.messages().iter() {
        let claim: serde_json::Value = serde_json::from_str(event).unwrap();
        let artefact = claim["artefact_id"].as_str().unwrap().to_string();
        announced.insert(artefact, claim["id"].as_str().unwrap().to_string());
    }
    for artefact in [&early, &late] {
        let claim_id: String = redis::cmd("GET")
            .arg(format!("holt:hns:claim_by_artefact:{artefact}"))
            .query(&mut conn)
            .unwrap();
        assert_eq!(announced.get(artefact), Some(&claim_id));
        let hash: BTreeMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("holt:hns:claim:{claim_id}"))
            .query(&mut conn)
            .unwrap();
        assert_eq!(hash["artefact_id"], *artefact);
        assert_eq!(hash["status"], "pending_review");
        assert_eq!(hash.len(), 6, "{hash:?}");
    }
    assert_eq!(announced.len(), 2);
    assert_eq!(claim_events.messages().len(), 2);
    // Under sett: only the foreign artefact the test wrote, nothing claimed.
    assert_eq!(
        keys(&mut conn, "sett:*"),
        vec![format!("sett:hns:artefact:{foreign}")]
    );
    assert_eq!(sett_events.messages().len(), 0);
    assert_eq!(keys(&mut conn, "holt:hns:claim:*").len(), 2);
    assert_eq!(keys(&mut conn, "holt:hns:claim_by_artefact:*").len(), 2);
}
