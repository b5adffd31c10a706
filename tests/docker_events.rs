//! The events stream against this machine's real engine: a worker's start,
//! its die with the exit code and its destroy, in order; a stream Docker ends
//! at its window, and the next one resuming from it without a gap. Skipped
//! (one `SKIPPED:` line) without an engine, except with CI=true.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::docker::{Docker, EventFilter};
use support::docker::Engine;

#[test]
fn the_events_stream_sees_start_die_with_its_code_and_destroy() {
    let Some(engine) =
        Engine::get("docker_client::the_events_stream_sees_start_die_with_its_code_and_destroy")
    else {
        return;
    };
    let d = &engine.docker;
    let filter = EventFilter {
        labels: vec![engine.run_label()],
        actions: vec!["start".into(), "die".into(), "destroy".into()],
    };
    let mut events = engine.block_on(d.events(&filter, None)).unwrap();
    let created = engine
        .block_on(d.create(&engine.spec("events", [0, 0, 0, 5])))
        .unwrap();
    engine.block_on(d.start(&created.id)).unwrap();
    engine.exited(&created.id);
    engine.block_on(d.remove(&created.id)).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = engine
            .block_on(events.next())
            .unwrap()
            .expect("the stream ended before destroy");
        assert_eq!(e.id, created.id);
        assert_eq!(e.attribute("sett.test.run"), Some(engine.run.as_str()));
        assert_eq!(e.attribute("name"), Some(engine.name("events").as_str()));
        seen.push((e.action.clone(), e.exit_code()));
    }
    assert_eq!(
        seen,
        [
            ("start".into(), None),
            ("die".into(), Some(5)),
            ("destroy".into(), None)
        ]
    );
    assert_eq!(events.skipped(), 0);
}

#[test]
fn an_events_stream_ends_at_its_window_and_resumes_without_a_gap() {
    let Some(mut engine) =
        Engine::get("docker_client::an_events_stream_ends_at_its_window_and_resumes_without_a_gap")
    else {
        return;
    };
    let mut timeouts = engine.docker.timeouts();
    timeouts.events_window = Duration::from_secs(1);
    engine.docker = Docker::new(engine.docker.socket(), timeouts);
    let d = &engine.docker;
    let filter = EventFilter {
        labels: vec![engine.run_label()],
        actions: vec!["die".into()],
    };
    let mut first = engine.block_on(d.events(&filter, None)).unwrap();
    let since = first.resume_from();
    assert_eq!(
        engine.block_on(first.next()),
        Ok(None),
        "Docker ends the stream at its window"
    );
    assert_eq!(first.resume_from(), since);
    // A container that dies while no stream is open is seen by the next one.
    let created = engine
        .block_on(d.create(&engine.spec("gap", [0, 0, 0, 4])))
        .unwrap();
    engine.block_on(d.start(&created.id)).unwrap();
    engine.exited(&created.id);
    let mut next = engine
        .block_on(d.events(&filter, Some(first.resume_from())))
        .unwrap();
    let e = engine.block_on(next.next()).unwrap().unwrap();
    assert_eq!(
        (e.id.as_str(), e.action.as_str(), e.exit_code()),
        (created.id.as_str(), "die", Some(4))
    );
}
