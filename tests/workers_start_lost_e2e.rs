//! A worker's start call that Docker carries out but whose answer is lost
//! (Docker gone right after it acted): the worker runs once, its claim
//! completes, and it is counted once in `workers_launched_total`, with one
//! `worker_launched` line, by the pass that finds it started. The shipped
//! binary, a real Redis and the machine's real Docker engine behind a
//! socket proxy that drops that one answer (`support::socket_proxy`).

use sett_test_support as support;

use support::e2e::*;
use support::socket_proxy::SocketProxy;
use support::workers::*;

#[test]
fn a_start_whose_answer_is_lost_is_counted_once_when_a_pass_finds_it_started() {
    let Some(mut lab) = WorkerLab::new(
        "a_start_whose_answer_is_lost",
        &controller("'sleep_ms=1500'", 1),
    ) else {
        return;
    };
    let since = unix_now();
    let proxy = SocketProxy::start(&docker_socket());
    proxy.lose_answer_to("/start");
    let host = format!("unix://{}", proxy.path);
    let orch = lab.orchestrator(&[("DOCKER_HOST", host.as_str())]);
    let claim = lab.stack.goal();
    lab.wait_status(&claim, "complete");
    wait_one_line(&orch, "worker_cleanup", &claim);
    let unavailable = orch.events("docker_unavailable");
    assert_eq!(unavailable.len(), 1, "the lost answer: {unavailable:?}");
    assert_eq!(unavailable[0]["operation"], "start container");
    assert_eq!(lines_for(&orch, "worker_launched", &claim).len(), 1);
    assert_eq!(lines_for(&orch, "worker_completed", &claim).len(), 1);
    assert_eq!(metric(&orch, "workers_launched_total"), 1);
    assert_eq!(metric(&orch, "workers_completed_total"), 1);
    assert_eq!(lab.created_since(since).len(), 1, "one container ever");
    assert_eq!(lab.artefacts_by("Coder").len(), 1);
    no_containers_left(&lab);
}
