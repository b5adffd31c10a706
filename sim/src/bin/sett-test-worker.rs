//! A worker image's program for the tests: what Holt's pup does in worker
//! mode (`--execute-claim <claim id>`, `cmd/pup` + `internal/pup/worker.go`),
//! without a tool to run. It reads the claim (refusing any status but
//! `pending_exclusive` and `pending_assignment`, as the pup does), writes
//! its artefact sourced from the claim's artefact, produced by its role
//! (`HOLT_AGENT_NAME`), publishes it on `artefact_events`, and exits.
//!
//! The test says what to do through the worker's command
//! (`HOLT_AGENT_COMMAND`, a JSON array of `key=value` words):
//! `wait_file=PATH` waits (up to 10 minutes, else exit 4) until that file
//! exists before going on, so that a test can look at the running worker;
//! `sleep_ms=N` before writing, `wait_key=K` waits before writing until
//! it can pop an element from the Redis list `K` (`BLPOP`: one element
//! released per worker, e.g. by `sett-bench`), `exit=N` the exit code (no artefact when it
//! is not 0), `type=T` the artefact's type, `structural_type=S` (`Failure`
//! plays the pup's ToolExecutionFailure), `lines=N` lines printed to stdout
//! and stderr first, `payload_file=PATH` the artefact's payload read from
//! that file (`-` when it cannot be read). Keys are `holt:{HOLT_INSTANCE_NAME}:`, or
//! `sett:{SETT_INSTANCE_NAME}:` when that is set.
//!
//! Built static (musl) and put in a `FROM scratch` image by the tests.

use std::collections::HashMap;
use std::time::Duration;

use sett_sim::artefact::now_ms;
use sett_sim::{wire, Artefact, Keys};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let claim = match args.iter().position(|a| a == "--execute-claim") {
        Some(i) if i + 1 < args.len() => args[i + 1].clone(),
        _ => {
            eprintln!("usage: sett-test-worker --execute-claim <claim id>");
            std::process::exit(2);
        }
    };
    let words: Vec<String> = serde_json::from_str(&env("HOLT_AGENT_COMMAND")).unwrap_or_default();
    let opts: HashMap<String, String> = words
        .iter()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let num = |k: &str| opts.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    for i in 1..=num("lines") {
        println!("out {i}");
        eprintln!("err {i}");
    }
    println!("[Worker] Executing claim {claim}");
    let prefix = match env("SETT_INSTANCE_NAME") {
        s if !s.is_empty() => format!("sett:{s}"),
        _ => format!("holt:{}", env("HOLT_INSTANCE_NAME")),
    };
    let keys = Keys::new(&prefix);
    let role = env("HOLT_AGENT_NAME");
    let mut conn = match redis::Client::open(env("REDIS_URL")).and_then(|c| c.get_connection()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("[Worker] cannot reach Redis: {e}");
            std::process::exit(1);
        }
    };
    let fields: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(keys.claim(&claim))
        .query(&mut conn)
        .unwrap_or_default();
    let status = fields.get("status").map_or("", String::as_str);
    if status != "pending_exclusive" && status != "pending_assignment" {
        eprintln!(
            "[Worker] claim {claim} is not in valid status for worker execution (status: {status})"
        );
        std::process::exit(1);
    }
    if let Some(path) = opts.get("wait_file") {
        let deadline = std::time::Instant::now() + Duration::from_secs(600);
        while !std::path::Path::new(path).exists() {
            if std::time::Instant::now() >= deadline {
                eprintln!("[Worker] {path} never appeared");
                std::process::exit(4);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(num("sleep_ms")));
    if let Some(key) = opts.get("wait_key") {
        let popped: redis::RedisResult<Option<(String, String)>> =
            redis::cmd("BLPOP").arg(key).arg(0).query(&mut conn);
        if let Err(e) = popped {
            eprintln!("[Worker] cannot wait on {key}: {e}");
            std::process::exit(1);
        }
    }
    let code = num("exit") as i32;
    if code == 0 {
        let structural = opts
            .get("structural_type")
            .map_or("Standard", String::as_str);
        let kind = opts.get("type").map_or("WorkerResult", String::as_str);
        let payload = match opts.get("payload_file") {
            Some(path) => std::fs::read_to_string(path).unwrap_or_else(|_| "-".to_string()),
            None => format!("done {claim}"),
        };
        let mut a = Artefact::new(structural, kind, &payload, &role);
        a.sources = vec![fields.get("artefact_id").cloned().unwrap_or_default()];
        let hash = a.hash(now_ms());
        let mut hset = redis::cmd("HSET");
        hset.arg(keys.artefact(&a.id));
        for (k, v) in &hash {
            hset.arg(*k).arg(v);
        }
        let event = wire::artefact_event(&hash[..]);
        let written: redis::RedisResult<()> = redis::pipe()
            .add_command(hset)
            .ignore()
            .cmd("ZADD")
            .arg(keys.thread(&a.logical_id))
            .arg(1)
            .arg(&a.id)
            .ignore()
            .cmd("PUBLISH")
            .arg(keys.channel(&event.channel))
            .arg(&event.payload)
            .ignore()
            .query(&mut conn);
        if let Err(e) = written {
            eprintln!("[Worker] cannot write the artefact: {e}");
            std::process::exit(1);
        }
        println!("[Worker] Work execution complete, exiting");
    }
    std::process::exit(code);
}
