//! The registry's unit tests: what it reads (formats, names, roles,
//! versions, controllers' `worker`); the YAML it refuses or expands
//! (duplicate keys, parser errors, merge keys) is in `tests/yaml.rs`.

use super::*;

/// Holt's format: the name is the role; the CLI's and agents' keys around it.
const HOLT: &str = r#"
version: "1.0"
agents:
  Reviewer:
    image: "example-reviewer:latest"
    command: ["/app/run.sh"]
    bidding_strategy: "review"
    workspace:
      mode: ro
  Coder:
    image: "example-git-agent:latest"
    command: ["/app/run.sh"]
    bidding_strategy: "exclusive"
    bid_script: ["/app/bid.sh"]
    strategy: {restart: always}
    worker: {image: w, max_concurrent: 2}
    workspace:
      mode: rw
orchestrator:
  max_review_iterations: 2
  timestamp_format: x
services:
  redis: {image: "redis:7"}
"#;

/// Sett's format: every agent has a role.
const SETT: &str = "
version: 1.0
agents:
  go-coder:
    role: Coder
    image: x
  reviewer-2:
    role: 'Reviewer'
  reviewer-1:
    role: \"Reviewer\"
    mode: ''
";

fn agents(r: &Registry) -> Vec<(&str, &str)> {
    r.agents()
        .iter()
        .map(|a| (a.name.as_str(), a.role.as_str()))
        .collect()
}

/// A registry with `agents_yaml` under `agents:`.
fn with_agents(agents_yaml: &str) -> Result<Registry, String> {
    Registry::parse(&format!("version: '1.0'\nagents:\n{agents_yaml}"))
}

fn err(yaml: &str) -> String {
    let e = Registry::parse(yaml).expect_err(yaml);
    assert!(!e.contains('\n') && !e.is_empty(), "not one line: {e:?}");
    e
}

#[test]
fn holt_format_name_is_role_unknown_keys_ignored() {
    let r = Registry::parse(HOLT).unwrap();
    assert_eq!(agents(&r), [("Coder", "Coder"), ("Reviewer", "Reviewer")]);
    assert_eq!(r.max_review_iterations, 2);
    assert_eq!(r.roles_json(), r#"{"Coder":"Coder","Reviewer":"Reviewer"}"#);
}

#[test]
fn sett_format_role_field() {
    let r = Registry::parse(SETT).unwrap();
    assert_eq!(
        agents(&r),
        [
            ("go-coder", "Coder"),
            ("reviewer-1", "Reviewer"),
            ("reviewer-2", "Reviewer")
        ]
    );
    assert_eq!(r.max_review_iterations, DEFAULT_MAX_REVIEW_ITERATIONS);
    assert_eq!(
        r.roles_json(),
        r#"{"go-coder":"Coder","reviewer-1":"Reviewer","reviewer-2":"Reviewer"}"#
    );
}

#[test]
fn formats_mix_and_names_sort_bytewise() {
    let r = with_agents("  b: {}\n  a0: {role: X}\n  a-b:\n  Zed: {}\n  B: {role: 'Go coder'}\n")
        .unwrap();
    assert_eq!(
        agents(&r),
        [
            ("B", "Go coder"),
            ("Zed", "Zed"),
            ("a-b", "a-b"),
            ("a0", "X"),
            ("b", "b")
        ]
    );
    // Sorted whatever the file order (the feedback claim's agent, the
    // smallest name of a role, is chosen by the scripts from this order:
    // tests/lifecycle_feedback.rs).
    let r = with_agents("  z: {role: R}\n  m: {role: R}\n  q: {role: R}\n").unwrap();
    assert_eq!(agents(&r), [("m", "R"), ("q", "R"), ("z", "R")]);
    let quoted = with_agents("  \"x\\\"y\": {}\n");
    assert!(quoted.unwrap_err().contains("agent name"));
    let escaped = with_agents("  a: {role: \"q\\\"<&>\"}\n").unwrap();
    assert_eq!(escaped.roles_json(), r#"{"a":"q\"<&>"}"#);
}

#[test]
fn version_must_read_1_0() {
    for ok in ["1.0", "'1.0'", "\"1.0\"", "!!str 1.0"] {
        let yaml = format!("version: {ok}\nagents: {{A: {{}}}}\n");
        assert!(Registry::parse(&yaml).is_ok(), "{ok}");
    }
    for (bad, says) in [
        ("1", "got '1'"),
        ("1.00", "got '1.00'"),
        ("'1'", "got '1'"),
        ("2.0", "got '2.0'"),
        ("' 1.0'", "got ' 1.0'"),
        ("v1.0", "got 'v1.0'"),
        ("~", "version is missing"),
        ("", "version is missing"),
    ] {
        let e = err(&format!("version: {bad}\nagents: {{A: {{}}}}\n"));
        assert!(e.contains(says), "{bad}: {e}");
    }
    assert!(err("agents: {A: {}}\n").contains("version is missing"));
    let e = err("version: [1]\nagents: {A: {}}\n");
    assert!(
        e.contains("version") && e.contains("line 1 column 10"),
        "{e}"
    );
}

#[test]
fn agents_must_be_a_non_empty_map() {
    let missing = err("version: '1.0'\n");
    assert!(missing.contains("agents is missing"), "{missing}");
    assert!(err("version: '1.0'\nagents:\n").contains("agents is missing"));
    assert!(err("version: '1.0'\nagents: {}\n").contains("agents is empty"));
    let seq = err("version: '1.0'\nagents: [Coder]\n");
    assert!(seq.contains("agents") && seq.contains("line 2"), "{seq}");
    let scalar = err("version: '1.0'\nagents:\n  Coder: yes\n");
    assert!(scalar.starts_with("agents.Coder: invalid type"), "{scalar}");
    assert!(scalar.ends_with("at line 3 column 10"), "{scalar}");
    assert!(err("").contains("version is missing"));
    assert!(err("# only a comment\n").contains("version is missing"));
    assert!(err("- a\n- b\n").contains("top level must be a mapping"));
    assert!(err("just text\n").contains("top level must be a mapping"));
}

#[test]
fn agent_names() {
    let long = "a".repeat(64);
    assert!(with_agents(&format!("  {long}: {{}}\n")).is_ok());
    assert!(
        with_agents("  42: {}\n").is_ok(),
        "a plain number is a name"
    );
    for bad in [
        "a".repeat(65),
        "a b".into(),
        "a_b".into(),
        "a.b".into(),
        "\"\"".into(),
        "ä".into(),
        "\"a\\nb\"".into(),
        "\"sett:x\"".into(),
    ] {
        let e = with_agents(&format!("  {bad}: {{}}\n")).unwrap_err();
        assert!(e.starts_with("agent name '"), "{bad}: {e}");
        assert!(!e.contains('\n'), "{e:?}");
    }
}

#[test]
fn roles_present_must_be_sane() {
    let ok = with_agents(&format!("  A: {{role: {}}}\n", "r".repeat(64))).unwrap();
    assert_eq!(ok.agents()[0].role.len(), 64);
    for bad in [
        "role: ''".to_string(),
        "role:".into(),
        "role: ~".into(),
        format!("role: {}", "r".repeat(65)),
        "role: \"a\\tb\"".into(),
        "role: \"a\\u0000\"".into(),
    ] {
        let e = with_agents(&format!("  A:\n    {bad}\n")).unwrap_err();
        assert!(e.starts_with("agent 'A': role '"), "{bad}: {e}");
        assert!(!e.contains('\t') && !e.contains('\0'), "{e:?}");
    }
    let typed = with_agents("  A: {role: 5}\n  B: {role: true}\n").unwrap();
    assert_eq!(agents(&typed), [("A", "5"), ("B", "true")]);
}

#[test]
fn controller_agents_need_a_worker() {
    let e = with_agents("  Coder: {}\n  Builder:\n    mode: controller\n").unwrap_err();
    assert_eq!(
        e,
        "agent 'Builder' has mode: controller but no worker configuration"
    );
    for ok in ["mode: ''", "mode:", "mode: ~"] {
        assert!(with_agents(&format!("  A:\n    {ok}\n")).is_ok(), "{ok}");
    }
    let e = with_agents("  A: {mode: Controller}\n").unwrap_err();
    assert!(
        e.contains("mode must be empty or controller (got 'Controller')"),
        "{e}"
    );
    let refusals = [
        (
            "worker: {command: [x]}",
            "agent 'B' worker configuration missing image",
        ),
        (
            "worker: {image: '', command: [x]}",
            "agent 'B' worker configuration missing image",
        ),
        (
            "worker: {image: w}",
            "agent 'B' worker configuration missing command",
        ),
        (
            "worker: {image: w, command: []}",
            "agent 'B' worker configuration missing command",
        ),
        (
            "worker: {image: w, command: x}",
            "agent 'B': worker.command must be a list of strings",
        ),
        (
            "worker: {image: w, command: [x], max_concurrent: 0}",
            "agent 'B' worker.max_concurrent must be >= 1 (got 0)",
        ),
        (
            "worker: {image: w, command: [x], max_concurrent: -1}",
            "agent 'B' worker.max_concurrent must be >= 1 (got -1)",
        ),
        (
            "worker: {image: w, command: [x], max_concurrent: 10001}",
            "agent 'B' worker.max_concurrent must be an integer from 1 to 10000 (got 10001)",
        ),
        (
            "worker: {image: w, command: [x], max_concurrent: 1.5}",
            "agent 'B' worker.max_concurrent must be an integer from 1 to 10000 (got 1.5)",
        ),
        (
            "worker: {image: w, command: [x], max_concurrent: two}",
            "agent 'B' worker.max_concurrent must be an integer",
        ),
        (
            "worker: {image: w, command: [x], workspace: {mode: rx}}",
            "agent 'B' worker: invalid workspace mode: rx (must be 'ro' or 'rw')",
        ),
        ("worker: [w]", "agent 'B': worker must be a mapping"),
    ];
    for (worker, want) in refusals {
        let e = with_agents(&format!("  B:\n    mode: controller\n    {worker}\n")).unwrap_err();
        assert_eq!(e, want, "{worker}");
    }
}

#[test]
fn controller_agents_are_read() {
    let r = with_agents(
        "  Coder:\n    mode: controller\n    bidding_strategy: exclusive\n    bid_script: [/b.sh]\n    \
         worker: {image: 'coder:1', command: [/app/run.sh, '--x'], max_concurrent: 3, workspace: {mode: ro}}\n  \
         Lazy:\n    role: Builder\n    mode: controller\n    worker: {image: b, command: [r]}\n  \
         Plain: {worker: {junk: 1}}\n",
    )
    .unwrap();
    let coder = r.agents()[0].controller.clone().unwrap();
    assert_eq!(coder.worker.image, "coder:1");
    assert_eq!(coder.worker.command, ["/app/run.sh", "--x"]);
    assert_eq!(coder.worker.max_concurrent, 3);
    assert_eq!(coder.worker.workspace, Some(WorkspaceMode::ReadOnly));
    assert_eq!(coder.bidding_strategy, "exclusive");
    assert_eq!(coder.bid_script, Some(vec!["/b.sh".to_string()]));
    let lazy = r.agents()[1].controller.clone().unwrap();
    assert_eq!(
        lazy.worker.max_concurrent, DEFAULT_MAX_CONCURRENT,
        "absent reads as the default"
    );
    assert_eq!(DEFAULT_MAX_CONCURRENT, 1);
    assert_eq!(lazy.worker.workspace, None);
    assert_eq!(
        r.agents()[2].controller,
        None,
        "a traditional agent's worker is ignored"
    );
    assert_eq!(
        r.controllers_json(),
        r#"{"Coder":{"role":"Coder","image":"coder:1","max_concurrent":3},"Lazy":{"role":"Builder","image":"b","max_concurrent":1}}"#
    );
}

#[test]
fn max_review_iterations() {
    let with = |v: &str| {
        Registry::parse(&format!(
            "version: '1.0'\nagents: {{A: {{}}}}\norchestrator:\n  max_review_iterations: {v}\n"
        ))
    };
    assert_eq!(with("0").unwrap().max_review_iterations, 0);
    assert_eq!(with("7").unwrap().max_review_iterations, 7);
    assert_eq!(with("~").unwrap().max_review_iterations, 3);
    assert_eq!(with("4294967295").unwrap().max_review_iterations, u32::MAX);
    let e = with("-1").unwrap_err();
    assert!(e.contains("must not be negative (got -1"), "{e}");
    assert!(with("4294967296").unwrap_err().contains("too large"));
    for bad in ["1.5", "three", "[3]", "'3'"] {
        let e = with(bad).unwrap_err();
        assert!(e.contains("max_review_iterations"), "{bad}: {e}");
        assert!(e.contains("line 4"), "{bad}: {e}");
    }
    let absent = Registry::parse("version: '1.0'\nagents: {A: {}}\norchestrator:\n").unwrap();
    assert_eq!(absent.max_review_iterations, 3);
}

#[test]
fn printable_escapes_and_bounds() {
    assert_eq!(printable("plain", 10), "plain");
    assert_eq!(printable("a\nb\u{1b}", 10), "a\\nb\\u{1b}");
    assert_eq!(
        printable(&"x".repeat(50), 10),
        format!("{}...", "x".repeat(10))
    );
    assert_eq!(printable("ééé", 3), "éé...");
}

mod yaml;

/// A controller's role is its workers' (slots, queue, container names): no
/// other agent, controller or not, may have it.
#[test]
fn a_controller_role_is_its_own() {
    let worker = "mode: controller\n    worker: {image: w, command: [x]}";
    let refusals = [
        (
            format!("  Coder:\n    {worker}\n  AltCoder: {{role: Coder}}\n"),
            "controller 'Coder' shares its role 'Coder' with agent 'AltCoder'",
        ),
        (
            format!("  A:\n    role: build\n    {worker}\n  B:\n    role: build\n    {worker}\n"),
            "controller 'A' shares its role 'build' with agent 'B'",
        ),
        (
            format!("  X: {{role: build}}\n  Z:\n    role: build\n    {worker}\n"),
            "controller 'Z' shares its role 'build' with agent 'X'",
        ),
    ];
    for (yaml, want) in refusals {
        let e = with_agents(&yaml).unwrap_err();
        assert_eq!(
            e,
            format!("{want}: a controller's role must be its own (its workers' slots, queue and container names are the role's)"),
            "{yaml}"
        );
    }
    // Plain agents may share a role (Sett's format), beside a controller.
    let ok = with_agents(&format!(
        "  A: {{role: r}}\n  B: {{role: r}}\n  Coder:\n    {worker}\n"
    ))
    .unwrap();
    assert_eq!(agents(&ok), [("A", "r"), ("B", "r"), ("Coder", "Coder")]);
}
