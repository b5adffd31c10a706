//! A worker whose `die` event came but which Docker says is running again
//! when asked (restarted by someone, or an event older than its state): the
//! pass that the event wakes asks it (inspect), finds it running, and records
//! nothing; its slot and its claim stay as they are. A daemon that can say
//! that on cue is a fake one (`support::fake_docker`), behind the shipped
//! binary and a real Redis.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sett_test_support as support;

use support::e2e::*;
use support::fake_docker::{chunk, chunked_head, json, Answer, FakeDocker, Seen};
use support::workers::*;
use support::*;

const ID: &str = "c0ffee0123456789";

/// The fake's one container, once created: its labels (as the create asked)
/// and whether it was started.
#[derive(Default)]
struct Container {
    labels: Mutex<Option<serde_json::Value>>,
    started: AtomicBool,
}

impl Container {
    fn answer(&self, seen: &Seen) -> Answer {
        let path = seen.path();
        let labels = self.labels.lock().unwrap().clone();
        if path.contains("/images/") {
            Answer::Bytes(json("200 OK", r#"{"Id":"sha256:feed","RepoDigests":[]}"#))
        } else if path.contains("/containers/create") {
            let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
            *self.labels.lock().unwrap() = Some(body["Labels"].clone());
            Answer::Bytes(json(
                "201 Created",
                &format!(r#"{{"Id":"{ID}","Warnings":[]}}"#),
            ))
        } else if path.ends_with("/start") {
            self.started.store(true, Ordering::SeqCst);
            Answer::Bytes(b"HTTP/1.1 204 No Content\r\nApi-Version: 1.41\r\n\r\n".to_vec())
        } else if path.contains("/containers/json") {
            // Created now: never "left created" by a stop (30 s), which a
            // pass would start again.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let list = match (&labels, self.started.load(Ordering::SeqCst)) {
                (Some(l), started) => serde_json::json!([{
                    "Id": ID, "Names": ["/w0"], "Created": now,
                    "State": if started { "running" } else { "created" }, "Labels": l,
                }]),
                (None, _) => serde_json::json!([]),
            };
            Answer::Bytes(json("200 OK", &list.to_string()))
        } else if path.contains(&format!("/containers/{ID}/json")) {
            let info = serde_json::json!({
                "Id": ID, "Name": "/w0", "Image": "sha256:feed",
                "Config": { "Labels": labels, "Tty": false },
                "State": { "Status": "running", "Running": true, "ExitCode": 0, "Error": "",
                    "OOMKilled": false, "StartedAt": "2026-12-05T08:00:00Z",
                    "FinishedAt": "0001-01-01T00:00:00Z" },
            });
            Answer::Bytes(json("200 OK", &info.to_string()))
        } else if path.starts_with("/v1.41/events") || path.starts_with("/events") {
            // The die comes once the container runs: a stream opened before
            // that waits for it (well within the client's 10 s for an
            // answer), or fails, and the client opens another.
            let since = Instant::now();
            while !self.started.load(Ordering::SeqCst) {
                if since.elapsed() > Duration::from_secs(5) {
                    return Answer::Bytes(json(
                        "500 Internal Server Error",
                        r#"{"message":"later"}"#,
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let die = format!(
                r#"{{"Type":"container","Action":"die","Actor":{{"ID":"{ID}","Attributes":{{"exitCode":"0","name":"w0"}}}},"time":2,"timeNano":2000000002}}"#
            );
            Answer::PiecesThenHang(vec![
                chunked_head("application/json"),
                chunk(format!("{die}\n").as_bytes()),
            ])
        } else {
            Answer::Bytes(json("404 Not Found", r#"{"message":"no such thing"}"#))
        }
    }
}

#[test]
fn a_die_event_for_a_worker_docker_says_is_running_records_nothing() {
    let container = Arc::new(Container::default());
    let fake = {
        let c = container.clone();
        FakeDocker::start(support::fake_docker::pinging("1.41", move |seen| {
            c.answer(seen)
        }))
    };
    let (mut stack, orch, claim, _coder) = fake_stack(&fake);
    wait_one_line(&orch, "worker_launched", &claim);
    // The die event wakes a pass, which asks the container.
    let inspect = format!("/containers/{ID}/json");
    assert!(wait_until(PATIENCE, || fake
        .paths()
        .iter()
        .any(|p| p.ends_with(&inspect))));
    // Two periodic passes more (every 2 s) list it running as before.
    let lists = |f: &FakeDocker| {
        f.paths()
            .iter()
            .filter(|p| p.contains("/containers/json"))
            .count()
    };
    let listed = lists(&fake);
    assert!(wait_until(PATIENCE, || lists(&fake) >= listed + 2));
    for event in ["worker_completed", "worker_failed", "worker_cleanup"] {
        assert_eq!(
            lines_for(&orch, event, &claim),
            Vec::<serde_json::Value>::new()
        );
    }
    assert_eq!(stack.claim(&claim)["status"], "pending_exclusive");
    let slots: Vec<String> = redis::cmd("SMEMBERS")
        .arg(stack.key("orchestrator:workers:Coder"))
        .query(&mut stack.conn)
        .unwrap();
    assert_eq!(slots, std::slice::from_ref(&claim));
    assert_eq!(metric(&orch, "workers_completed_total"), 0);
}
