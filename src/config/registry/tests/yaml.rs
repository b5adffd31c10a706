//! The registry's YAML: keys repeated at any level, parser errors with
//! their line and column, and merge keys (`<<`) applied as YAML 1.1 tools do.

use super::{agents, err, with_agents};
use crate::config::registry::Registry;

#[test]
fn duplicate_keys_are_refused_at_every_level() {
    // The parser names the mapping's path and position (none at the top level).
    let cases = [
        (
            "version: '1.0'\nversion: '1.0'\nagents: {A: {}}\n",
            "duplicate entry with key \"version\"",
        ),
        (
            "version: '1.0'\nagents: {A: {}}\nagents: {B: {}}\n",
            "duplicate entry with key \"agents\"",
        ),
        (
            "version: '1.0'\nx: 1\nx: 2\nagents: {A: {}}\n",
            "duplicate entry with key \"x\"",
        ),
        (
            "version: '1.0'\nagents:\n  A: {}\n  A: {}\n",
            "agents: duplicate entry with key \"A\" at line 3 column 3",
        ),
        (
            "version: '1.0'\nagents:\n  A: {}\n  'A': {}\n",
            "agents: duplicate entry with key \"A\" at line 3 column 3",
        ),
        (
            "version: '1.0'\nagents:\n  A:\n    role: X\n    role: Y\n",
            "agents.A: duplicate entry with key \"role\" at line 4 column 5",
        ),
        (
            "version: '1.0'\nagents:\n  A:\n    image: a\n    image: b\n",
            "agents.A: duplicate entry with key \"image\" at line 4 column 5",
        ),
        (
            "version: '1.0'\nagents:\n  A:\n    worker:\n      n: 1\n      n: 2\n",
            "agents.A.worker: duplicate entry with key \"n\" at line 5 column 7",
        ),
        (
            "version: '1.0'\nagents: {A: {}}\norchestrator:\n  max_review_iterations: 1\n  max_review_iterations: 2\n",
            "orchestrator: duplicate entry with key \"max_review_iterations\" at line 4 column 3",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(err(yaml), want, "{yaml}");
    }
    // The same name in two spellings the parser keeps apart.
    let e = with_agents("  1: {}\n  '1': {}\n").unwrap_err();
    assert_eq!(e, "agent '1' is listed twice");
}

#[test]
fn parser_errors_carry_line_and_column() {
    let e = err("version: '1.0'\nagents: {\n");
    assert!(e.contains("line 3 column 1"), "{e}");
    let e = err("version: '1.0'\nagents:\n  A: {}\n\t- x\n");
    assert!(e.contains("line 4"), "{e}");
    let e = err("---\nversion: '1.0'\n---\nversion: '1.0'\n");
    assert!(e.contains("more than one document"), "{e}");
    let e = err("a: &a [*a]\n");
    assert!(e.contains("line 1"), "{e}");
    let deep = format!(
        "version: '1.0'\nagents: {{A: {{}}}}\nx: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(err(&deep).contains("recursion limit"));
}

/// Holt's format with merge keys (contract section 2): `<<: *anchor` and
/// `<<: [*a, *b]` as Go's yaml.v3 applies them, at every level (agents
/// themselves may be merged in).
#[test]
fn holt_format_merge_keys_apply_explicit_keys_win() {
    let r = Registry::parse(
        r#"
version: "1.0"
x-base: &base
  image: "agent:latest"
  mode: ""
x-more: &more
  Docs: {image: d}
agents:
  <<: *more
  Reviewer:
    <<: *base
    bidding_strategy: review
  Coder:
    <<: *base
"#,
    )
    .unwrap();
    assert_eq!(
        agents(&r),
        [
            ("Coder", "Coder"),
            ("Docs", "Docs"),
            ("Reviewer", "Reviewer")
        ]
    );
    // A merged controller agent is refused as a written one is.
    let e = err("version: '1.0'\nx: &c {mode: controller}\nagents:\n  A: {<<: *c}\n");
    assert!(e.contains("agent 'A' has mode: controller"), "{e}");
}

/// Sett's format: the role may come from a merge; a role written in the
/// mapping wins; in a list of merges the earlier mapping wins; the version
/// and orchestrator settings may be merged too.
#[test]
fn sett_format_merge_keys_give_the_roles_yaml_tools_give() {
    let r = Registry::parse(
        "
top: &top
  version: '1.0'
  orchestrator: {max_review_iterations: 5}
reviewer: &reviewer
  role: Reviewer
  image: r
coder: &coder
  role: Coder
<<: *top
agents:
  reviewer-1: {<<: *reviewer}
  reviewer-2:
    <<: *reviewer
    role: Lead
  go-coder:
    <<: [*coder, *reviewer]
  mixed:
    <<: [*reviewer, *coder]
  nested:
    <<: {<<: *coder, image: n}
",
    )
    .unwrap();
    assert_eq!(
        agents(&r),
        [
            ("go-coder", "Coder"),
            ("mixed", "Reviewer"),
            ("nested", "Coder"),
            ("reviewer-1", "Reviewer"),
            ("reviewer-2", "Lead"),
        ]
    );
    assert_eq!(r.max_review_iterations, 5);
}

#[test]
fn merge_keys_that_are_not_mappings_are_refused_in_one_line() {
    assert_eq!(
        err("version: '1.0'\nagents:\n  A: {<<: 1}\n"),
        "merge key (<<): expected a mapping or list of mappings for merging, but found scalar"
    );
    assert_eq!(
        err("version: '1.0'\nagents:\n  A: {<<: [1]}\n"),
        "merge key (<<): expected a mapping for merging, but found scalar"
    );
}
