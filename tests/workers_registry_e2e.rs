//! A controller agent removed from the registry across a restart while its
//! worker runs (or after it exited or delivered, or before its container
//! was made). The lifecycle terminates the claim with Holt's recovery
//! reason, as for any agent the registry lost (unless the worker delivered:
//! its artefact, replayed first, completes it); the workers side then ends
//! the worker: the container is stopped and removed, its end recorded under
//! the role its label names so the role's slot count in Redis is released
//! (a later registry with the role again is not blocked by it), no worker
//! is ever launched for the terminated claim, and the worker's late
//! artefact does not revive it. The shipped binary, a real Redis and the
//! machine's real Docker engine (see `support::workers`).

use sett_test_support as support;

use sett_sim::{Spec, Work};
use support::e2e::*;
use support::fake_docker::{Answer, FakeDocker};
use support::workers::*;
use support::*;

const RECOVERY: &str = "Recovery failed: granted agent 'Coder' no longer in config";

/// `Coder` (a controller whose worker runs `words`, one at a time) and
/// `Docs`, a second controller that bids `ignore`.
fn both(words: &str) -> String {
    controller(words, 1) + &docs()
}

/// The registry without `Coder`: `Docs` only (a controller, so the
/// orchestrator still talks to Docker).
fn docs() -> String {
    "  Docs:\n    mode: controller\n    image: docs:latest\n    bidding_strategy: exclusive\n    \
     worker:\n      image: '{IMAGE}'\n      command: ['type=Doc']\n"
        .to_string()
}

fn without_coder() -> String {
    "version: '1.0'\nagents:\n".to_string() + &docs()
}

/// Writes `yaml` (with `{IMAGE}`) as the lab's registry file.
fn set_registry(lab: &WorkerLab, yaml: &str) {
    std::fs::write(&lab.stack.registry, yaml.replace("{IMAGE}", &lab.image)).unwrap();
}

fn docs_bidder(lab: &WorkerLab) -> sett_sim::SimAgent {
    lab.stack.agent(Spec::new(
        "Docs",
        "ignore",
        Work::new("Standard", "Never", ""),
    ))
}

fn num(lab: &mut WorkerLab, cmd: &str, key: &str) -> u64 {
    let key = lab.stack.key(key);
    redis::cmd(cmd).arg(key).query(&mut lab.stack.conn).unwrap()
}

fn record(lab: &mut WorkerLab, claim: &str) -> Option<String> {
    let key = lab.stack.key(&format!("orchestrator:worker:{claim}"));
    redis::cmd("GET")
        .arg(key)
        .query(&mut lab.stack.conn)
        .unwrap()
}

/// No slot of `Coder` held, nothing queued for it.
fn coder_slots_free(lab: &mut WorkerLab) {
    assert_eq!(num(lab, "SCARD", "orchestrator:workers:Coder"), 0, "slots");
    assert_eq!(num(lab, "ZCARD", "grant_queue:Coder"), 0, "queue");
}

/// The registry gets `Coder` back: a new claim gets its worker at once
/// (the old claim holds no slot: when its record says it was never
/// created, the pass releases it first, `worker_not_launched`) and
/// completes; the old claim stays as it is (`status`) and gets no worker.
/// `made`: the old claim's container was made (the first one since `since`).
fn coder_comes_back(lab: &mut WorkerLab, old: &str, since: u64, made: bool, status: &str) {
    set_registry(lab, &both("'type=CodeCommit'"));
    let third = lab.orchestrator(&[]);
    third.wait_for_event("orchestrator_startup");
    let released = if made { 0 } else { 1 };
    if !made {
        wait_one_line(&third, "worker_not_launched", old);
    }
    let claim = lab.stack.goal();
    lab.wait_status(&claim, "complete");
    wait_one_line(&third, "worker_cleanup", &claim);
    assert!(lines_for(&third, "worker_limit_reached", &claim).is_empty());
    for event in ["worker_launching", "worker_error", "claim_terminated"] {
        assert!(lines_for(&third, event, old).is_empty(), "{event}");
    }
    let not_launched = lines_for(&third, "worker_not_launched", old);
    assert_eq!(not_launched.len(), released, "{not_launched:?}");
    let fields = lab.stack.claim(old);
    assert_eq!(fields["status"], status);
    if status == "terminated" {
        assert_eq!(fields["termination_reason"], RECOVERY);
    }
    let mut names = vec![lab.worker_name(&claim)];
    if made {
        names.insert(0, lab.worker_name(old));
    }
    assert_eq!(
        lab.created_since(since),
        names,
        "one container per claim ever"
    );
    coder_slots_free(lab);
    no_containers_left(lab);
}

/// The worker waits on a Redis list; the orchestrator is stopped (`kill`),
/// restarted without `Coder`: the claim is terminated once with the
/// recovery reason; its worker is stopped, and released meanwhile writes
/// its artefact, which changes nothing; the worker is recorded and removed
/// and its slot freed. Then `Coder` comes back and works as new.
fn removed_while_running(test: &str, kill: fn(&mut Orchestrator)) {
    let release = format!("w16-release-{}", &uuid()[..8]);
    let words = format!("'wait_key={release}'");
    let Some(mut lab) = WorkerLab::new(test, &both(&words)) else {
        return;
    };
    let _docs = docs_bidder(&lab);
    let since = unix_now();
    let mut first = lab.orchestrator(&[]);
    let claim = lab.stack.goal();
    wait_one_line(&first, "worker_launched", &claim);
    kill(&mut first);
    assert_eq!(lab.running(), 1, "the worker outlives the orchestrator");
    set_registry(&lab, &without_coder());
    let second = lab.orchestrator(&[]);
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(fields["termination_reason"], RECOVERY);
    assert_eq!(fields["granted_exclusive_agent"], "Coder");
    wait_one_line(&second, "worker_stopping", &claim);
    // Released during the stop's grace: the worker writes its artefact late.
    let _: () = redis::cmd("LPUSH")
        .arg(&release)
        .arg("go")
        .query(&mut lab.stack.conn)
        .unwrap();
    wait_one_line(&second, "worker_cleanup", &claim);
    no_containers_left(&lab);
    let work = lab.artefacts_by("Coder");
    assert_eq!(work.len(), 1, "the late artefact only: {work:?}");
    assert_eq!(work[0]["structural_type"], "Standard");
    let fields = lab.stack.claim(&claim);
    assert_eq!(fields["status"], "terminated", "not revived");
    assert_eq!(fields["termination_reason"], RECOVERY);
    let ended = lines_for(&second, "claim_terminated", &claim);
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["cause"], "missing_agent");
    assert_eq!(lines_for(&second, "worker_completed", &claim).len(), 1);
    assert!(lines_for(&second, "worker_launching", &claim).is_empty());
    assert_eq!(record(&mut lab, &claim).as_deref(), Some("ended"));
    coder_slots_free(&mut lab);
    assert_eq!(lab.created_since(since), [lab.worker_name(&claim)]);
    drop(second);
    coder_comes_back(&mut lab, &claim, since, true, "terminated");
}

#[test]
fn a_controller_removed_while_its_worker_runs_sigterm() {
    removed_while_running("a_controller_removed_sigterm", |o| {
        o.signal(libc::SIGTERM);
        assert!(o.wait_exit(PATIENCE).is_some(), "no exit on SIGTERM");
    });
}

#[test]
fn a_controller_removed_while_its_worker_runs_kill_9() {
    removed_while_running("a_controller_removed_kill_9", Orchestrator::kill9);
}

/// The worker exits 3 while no orchestrator runs; the restart without
/// `Coder` terminates the claim with the recovery reason (no Failure: the
/// claim no longer waits when the exit is recorded), records the exit, frees
/// the slot and removes the container.
#[test]
fn a_controller_removed_after_its_worker_exited() {
    let Some(mut lab) = WorkerLab::new(
        "a_controller_removed_after_exit",
        &both("'sleep_ms=1500', 'exit=3'"),
    ) else {
        return;
    };
    let _docs = docs_bidder(&lab);
    let since = unix_now();
    let claim = lab.worker_exits_while_down();
    set_registry(&lab, &without_coder());
    let second = lab.orchestrator(&[]);
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(fields["termination_reason"], RECOVERY);
    wait_one_line(&second, "worker_cleanup", &claim);
    no_containers_left(&lab);
    assert!(lab.artefacts_by("Coder").is_empty(), "no Failure");
    assert_eq!(lines_for(&second, "claim_terminated", &claim).len(), 1);
    let failed = lines_for(&second, "worker_failed", &claim);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["exit_code"], 3);
    assert_eq!(record(&mut lab, &claim).as_deref(), Some("ended"));
    coder_slots_free(&mut lab);
    drop(second);
    coder_comes_back(&mut lab, &claim, since, true, "terminated");
}

/// The worker delivers and exits 0 while no orchestrator runs; the restart
/// without `Coder` replays its artefact first, so the claim completes (the
/// work was done; no recovery termination), and the exited worker, whose
/// claim is complete, is recorded, its slot freed, and removed.
#[test]
fn a_controller_removed_after_its_worker_delivered() {
    let Some(mut lab) = WorkerLab::new(
        "a_controller_removed_after_delivery",
        &both("'sleep_ms=1500', 'type=CodeCommit'"),
    ) else {
        return;
    };
    let _docs = docs_bidder(&lab);
    let since = unix_now();
    let claim = lab.worker_exits_while_down();
    assert_eq!(lab.stack.claim(&claim)["status"], "pending_exclusive");
    set_registry(&lab, &without_coder());
    let second = lab.orchestrator(&[]);
    let fields = lab.wait_status(&claim, "complete");
    assert_eq!(fields["termination_reason"], "");
    wait_one_line(&second, "worker_cleanup", &claim);
    no_containers_left(&lab);
    assert!(lines_for(&second, "claim_terminated", &claim).is_empty());
    assert_eq!(lines_for(&second, "worker_completed", &claim).len(), 1);
    let work = lab.artefacts_by("Coder");
    assert_eq!(work.len(), 1, "{work:?}");
    assert_eq!(work[0]["type"], "CodeCommit");
    assert_eq!(record(&mut lab, &claim).as_deref(), Some("ended"));
    coder_slots_free(&mut lab);
    drop(second);
    coder_comes_back(&mut lab, &claim, since, true, "complete");
}

/// The claim got its slot but its container was never made (Docker never
/// answered the create, then the orchestrator was killed); the restart
/// without `Coder` terminates it. When `Coder` comes back, no worker is
/// launched for the terminated claim: its slot is released instead.
#[test]
fn a_controller_removed_before_its_worker_was_created() {
    let Some(mut lab) = WorkerLab::new("a_controller_removed_before_create", &both("'x=1'")) else {
        return;
    };
    let _docs = docs_bidder(&lab);
    let since = unix_now();
    // Answers the ping and the image inspects; never anything else.
    let daemon = FakeDocker::with_an_image(|_| Answer::Hang);
    let host = format!("unix://{}", daemon.socket.display());
    let mut first = lab.orchestrator(&[("DOCKER_HOST", host.as_str())]);
    let claim = lab.stack.goal();
    assert!(wait_until(PATIENCE, || record(&mut lab, &claim).as_deref()
        == Some("launching")));
    first.kill9();
    set_registry(&lab, &without_coder());
    let second = lab.orchestrator(&[]);
    let fields = lab.wait_status(&claim, "terminated");
    assert_eq!(fields["termination_reason"], RECOVERY);
    assert_eq!(record(&mut lab, &claim).as_deref(), Some("launching"));
    drop(second);
    coder_comes_back(&mut lab, &claim, since, false, "terminated");
    assert_eq!(record(&mut lab, &claim).as_deref(), Some("ended"));
}
