//! The container spec: its exact create body and what it refuses.

use serde_json::json;

use super::super::error::ErrorKind;
use super::super::spec::{Access, ContainerSpec};
use super::assert_kind;

const SECRET: &str = "redis://:hunter2-password@redis:6379";

fn worker() -> ContainerSpec {
    ContainerSpec::new(
        "holt-prod-Coder-worker-0f2c9a1b",
        "coder:latest",
        vec![
            "--execute-claim".to_string(),
            "0f2c9a1b-0000-4000-8000-000000000000".to_string(),
        ],
    )
    .env("HOLT_INSTANCE_NAME", "prod")
    .env("REDIS_URL", SECRET)
    .env("HOLT_AGENT_COMMAND", r#"["/app/run.sh"]"#)
    .label("holt.project", "true")
    .label("holt.component", "worker")
    .network("holt-network-prod")
}

#[test]
fn the_create_body_is_exactly_the_spec() {
    let spec = worker().workspace("/home/me/project", Access::ReadOnly);
    let body: serde_json::Value = serde_json::from_slice(&spec.body()).unwrap();
    assert_eq!(
        body,
        json!({
            "Image": "coder:latest",
            "Cmd": ["--execute-claim", "0f2c9a1b-0000-4000-8000-000000000000"],
            "Env": ["HOLT_INSTANCE_NAME=prod", format!("REDIS_URL={SECRET}"), r#"HOLT_AGENT_COMMAND=["/app/run.sh"]"#],
            "Labels": {"holt.component": "worker", "holt.project": "true"},
            "HostConfig": {
                "NetworkMode": "holt-network-prod",
                "Mounts": [{"Type": "bind", "Source": "/home/me/project", "Target": "/workspace", "ReadOnly": true}],
            },
        })
    );
    let rw = worker().workspace("/w", Access::ReadWrite);
    let body: serde_json::Value = serde_json::from_slice(&rw.body()).unwrap();
    assert_eq!(body["HostConfig"]["Mounts"][0]["ReadOnly"], json!(false));
    let bare = ContainerSpec::new("ab", "img", vec![]);
    let body: serde_json::Value = serde_json::from_slice(&bare.body()).unwrap();
    assert_eq!(
        body,
        json!({"Image": "img", "Cmd": [], "Env": [], "Labels": {}, "HostConfig": {"Mounts": []}})
    );
}

#[test]
fn every_string_in_the_body_is_escaped() {
    let odd = "q\"b\\n\nt\tc\u{1}u\u{e9}\u{2028}e";
    let spec = ContainerSpec::new("ab", odd, vec![odd.to_string(), String::new()])
        .env("K", odd)
        .label(odd, odd)
        .network("net")
        .workspace(&format!("/w/{odd}"), Access::ReadWrite);
    let body: serde_json::Value = serde_json::from_slice(&spec.body()).unwrap();
    assert_eq!(
        body,
        json!({
            "Image": odd,
            "Cmd": [odd, ""],
            "Env": [format!("K={odd}")],
            "Labels": {odd: odd},
            "HostConfig": {
                "NetworkMode": "net",
                "Mounts": [{"Type": "bind", "Source": format!("/w/{odd}"), "Target": "/workspace", "ReadOnly": false}],
            },
        })
    );
}

#[test]
fn debug_shows_variable_names_never_values() {
    let text = format!("{:?}", worker());
    assert!(
        text.contains("REDIS_URL") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn specs_that_could_escape_are_refused_without_echoing_secrets() {
    assert_eq!(worker().validate(), Ok(()));
    assert_eq!(
        worker().workspace("/srv/a:b", Access::ReadWrite).validate(),
        Ok(())
    );
    let refused = [
        ContainerSpec::new("/leading-slash", "img", vec![]),
        ContainerSpec::new("x", "img", vec![]),
        ContainerSpec::new("a b", "img", vec![]),
        ContainerSpec::new("ok-name", "", vec![]),
        ContainerSpec::new("ok-name", "img with space", vec![]),
        ContainerSpec::new("ok-name", "img", vec!["a\0b".to_string()]),
        worker().network("host"),
        worker().network("HOST"),
        worker().network("container:abc123"),
        worker().network(""),
        worker().workspace("relative/path", Access::ReadOnly),
        worker().workspace("/", Access::ReadOnly),
        worker().workspace("//", Access::ReadOnly),
        worker().workspace("/srv/../etc", Access::ReadWrite),
        worker().env("BAD=KEY", SECRET),
        worker().env("", SECRET),
        worker().env("NUL", "a\0b"),
        worker().label("", "x"),
    ];
    for spec in refused {
        let msg = assert_kind(spec.validate(), ErrorKind::Permanent);
        assert!(msg.starts_with("invalid container spec: "), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }
}
