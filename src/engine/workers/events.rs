//! The one Docker events stream: this instance's workers' `die` events wake
//! the reconciliation pass, which records the exit (each event's container
//! is asked by that pass: Docker's list may not show the exit yet). A broken stream marks
//! Docker down and is opened again after a pause, from where it stopped.

use std::time::Duration;

use crate::docker::EventFilter;
use crate::engine::workers_shared::Workers;
use crate::shutdown::Shutdown;
use crate::workers::spec::{LABEL_COMPONENT, LABEL_INSTANCE};

/// Pause before opening the stream again after an error.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

pub async fn run(w: &Workers, stop: Shutdown) {
    let filter = EventFilter {
        labels: vec![
            format!("{LABEL_INSTANCE}={}", w.settings.instance),
            format!("{LABEL_COMPONENT}=worker"),
        ],
        actions: vec!["die".to_string()],
    };
    let mut since = None;
    while !stop.is_triggered() {
        let mut events = match stop.unless_triggered(w.docker.events(&filter, since)).await {
            None => return,
            Some(Ok(events)) => events,
            Some(Err(e)) => {
                w.docker_failed("events", &e);
                let _ = stop
                    .unless_triggered(smol::Timer::after(REOPEN_AFTER))
                    .await;
                continue;
            }
        };
        loop {
            match stop.unless_triggered(events.next()).await {
                None => return,
                Some(Ok(Some(event))) => w.died(&event.id),
                Some(Ok(None)) => break,
                Some(Err(e)) => {
                    w.docker_failed("events", &e);
                    // The pass finds what happened while the stream was down.
                    w.wake();
                    let _ = stop
                        .unless_triggered(smol::Timer::after(REOPEN_AFTER))
                        .await;
                    break;
                }
            }
        }
        since = Some(events.resume_from());
    }
}
