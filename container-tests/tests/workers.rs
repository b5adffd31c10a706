//! A controller registry under the orchestrator's own FROM-scratch image,
//! started as `holt up` starts it (`common::holt_up`): the controller wins
//! a goal's claim, and the orchestrator in its container starts the worker
//! (`sett-test-worker` in a FROM-scratch image) through the mounted Docker
//! socket, on the instance's network, with the workspace bind-mounted from
//! `HOST_WORKSPACE_PATH`; the worker's artefact completes the claim and the
//! orchestrator removes the container.

mod common;

use std::collections::BTreeMap;

use common::holt_up::{worker_bin_or_skip, HoltUp};
use common::*;
use sett_sim::{Artefact, Keys, SimAgent, Spec, Work};

/// What the worker's payload is read from (`payload_file=`), on the host.
const NOTE: &str = "written on the host, read by the worker\n";

#[test]
fn under_holt_up_a_controller_claim_runs_in_a_worker_container() {
    let test = "under_holt_up_a_controller_claim_runs_in_a_worker_container";
    if !docker_or_skip(test) {
        return;
    }
    let Some(bin) = worker_bin_or_skip(test) else {
        return;
    };
    let instance = format!("ctw-{}", suffix());
    let tag = format!("sett-ct-worker:{instance}");
    // The worker waits for /workspace/go (written below, once it has been
    // inspected), then writes note.txt's text as its artefact.
    let command =
        r#"["wait_file=/workspace/go","payload_file=/workspace/note.txt","type=CodeCommit"]"#;
    let holt_yml = format!(
        "version: '1.0'\nagents:\n  Coder:\n    mode: controller\n    image: coder:latest\n    \
         bidding_strategy: exclusive\n    worker:\n      image: '{tag}'\n      \
         command: {command}\n      max_concurrent: 1\n      workspace: {{mode: ro}}\n"
    );
    let mut holt = HoltUp::new(&instance, &holt_yml, &[("note.txt", NOTE)]);
    let image_id = holt.worker_image(&bin, &tag);
    holt.up();
    let startup = &holt.events("orchestrator_startup")[0];
    assert_eq!(
        startup["controllers"],
        serde_json::json!({"Coder": {"role": "Coder", "image": tag, "max_concurrent": 1}}),
        "{startup}"
    );

    let url = format!("redis://127.0.0.1:{}", holt.redis_port());
    let prefix = format!("holt:{instance}");
    let keys = Keys::new(&prefix);
    let coder = SimAgent::start(
        url.as_str(),
        &prefix,
        Spec::new("Coder", "exclusive", Work::new("Standard", "Never", "")),
    );
    let mut conn = connect(holt.redis_port());
    let goal = Artefact::new("Standard", "GoalDefined", "build it", "user");
    let mut write = redis::pipe();
    goal.write(&keys, &mut write);
    write.query::<()>(&mut conn).unwrap();

    let mut claim = None;
    assert!(wait_until(PATIENCE, || {
        claim = redis::cmd("GET")
            .arg(format!("{prefix}:claim_by_artefact:{}", goal.id))
            .query::<Option<String>>(&mut conn)
            .unwrap();
        claim.is_some()
    }));
    let claim = claim.unwrap();
    let name = format!("holt-{instance}-Coder-worker-{}", &claim[..8]);
    assert!(
        wait_until(PATIENCE, || docker(&[
            "inspect",
            "-f",
            "{{.State.Status}}",
            &name
        ])
        .1 == "running"),
        "no running {name}; orchestrator: {:?}",
        holt.events("worker_error")
    );

    // The container as the orchestrator asked the host's engine for it.
    let (ok, json, err) = docker(&["inspect", &name]);
    assert!(ok, "{err}");
    let c: serde_json::Value =
        serde_json::from_str::<Vec<serde_json::Value>>(&json).unwrap()[0].clone();
    assert_eq!(c["Name"], format!("/{name}"));
    assert_eq!(c["Image"], image_id);
    assert_eq!(c["Config"]["Image"], tag);
    assert_eq!(
        c["Config"]["Cmd"],
        serde_json::json!(["--execute-claim", claim])
    );
    let env: Vec<&str> = (c["Config"]["Env"].as_array().unwrap().iter())
        .filter_map(|v| v.as_str())
        .filter(|v| !v.starts_with("PATH="))
        .collect();
    let redis_url = format!("REDIS_URL=redis://holt-redis-{instance}:6379");
    let agent_command = format!("HOLT_AGENT_COMMAND={command}");
    assert_eq!(
        env,
        [
            format!("HOLT_INSTANCE_NAME={instance}").as_str(),
            "HOLT_AGENT_NAME=Coder",
            redis_url.as_str(),
            "HOLT_BIDDING_STRATEGY=exclusive",
            agent_command.as_str(),
        ]
    );
    let labels: BTreeMap<String, String> =
        serde_json::from_value(c["Config"]["Labels"].clone()).unwrap();
    let run_id = labels["holt.instance.run_id"].clone();
    assert!(
        uuid::Uuid::try_parse(&run_id).is_ok() && run_id != holt.run_id,
        "the orchestrator's own run id: {run_id}"
    );
    let workspace = holt.workspace.to_str().unwrap().to_string();
    let want: BTreeMap<String, String> = [
        ("holt.project", "true"),
        ("holt.instance.name", instance.as_str()),
        ("holt.instance.run_id", run_id.as_str()),
        ("holt.workspace.path", workspace.as_str()),
        ("holt.component", "worker"),
        ("holt.claim.id", claim.as_str()),
        ("holt.agent.role", "Coder"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, want);
    let host = &c["HostConfig"];
    assert_eq!(host["NetworkMode"], holt.network);
    assert_eq!(host["Privileged"], false);
    let networks: Vec<&String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(networks, [&holt.network]);
    let mounts: Vec<(String, String, String, bool)> = (c["Mounts"].as_array().unwrap().iter())
        .map(|m| {
            let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (s("Type"), s("Source"), s("Destination"), m["RW"] == true)
        })
        .collect();
    assert_eq!(
        mounts,
        [("bind".into(), workspace.clone(), "/workspace".into(), false)]
    );

    // Let it go: it writes its artefact, which completes the claim.
    std::fs::write(holt.workspace.join("go"), "").unwrap();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    assert!(
        wait_until(PATIENCE, || {
            fields = redis::cmd("HGETALL")
                .arg(keys.claim(&claim))
                .query(&mut conn)
                .unwrap();
            fields.get("status").map(String::as_str) == Some("complete")
        }),
        "claim {claim}: {fields:?}"
    );
    assert_eq!(fields["granted_exclusive_agent"], "Coder");
    assert_eq!(fields["granted_agent_image_id"], image_id);
    assert_eq!(fields["grant_queue"], "");
    let artefact_keys: Vec<String> = redis::cmd("KEYS")
        .arg(keys.artefact("*"))
        .query(&mut conn)
        .unwrap();
    let work: Vec<BTreeMap<String, String>> = artefact_keys
        .iter()
        .map(|k| redis::cmd("HGETALL").arg(k).query(&mut conn).unwrap())
        .filter(|a: &BTreeMap<String, String>| a["produced_by_role"] == "Coder")
        .collect();
    assert_eq!(work.len(), 1, "{work:?}");
    assert_eq!(work[0]["structural_type"], "Standard");
    assert_eq!(work[0]["type"], "CodeCommit");
    assert_eq!(work[0]["payload"], NOTE);
    assert_eq!(work[0]["source_artefacts"], format!("[\"{}\"]", goal.id));

    // Recorded, then removed; the orchestrator and Redis are left alone.
    assert!(
        wait_until(PATIENCE, || holt.containers("worker").is_empty()),
        "left: {:?}",
        holt.containers("worker")
    );
    for event in ["worker_launched", "worker_completed", "worker_cleanup"] {
        let lines: Vec<_> = (holt.events(event).into_iter())
            .filter(|l| l["claim_id"] == claim.as_str())
            .collect();
        assert_eq!(lines.len(), 1, "{event}: {lines:?}");
        assert_eq!(lines[0]["role"], "Coder", "{event}");
    }
    assert_eq!(
        holt.events("worker_launched")[0]["container_name"],
        name.as_str()
    );
    assert_eq!(
        holt.containers("orchestrator"),
        [format!("holt-orchestrator-{instance}")]
    );
    assert_eq!(holt.containers("redis"), [format!("holt-redis-{instance}")]);
    assert_eq!(coder.grants_for(&claim), 0, "a controller gets no grant");
}
