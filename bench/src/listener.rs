//! Listens on `claim_events` in a thread of its own, stamping each message the
//! moment it arrives, so producing never delays the clock of receiving.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use futures_lite::{FutureExt as _, StreamExt as _};
use serde::Deserialize;
use uuid::Uuid;

use crate::tally::ClaimEvent;

#[derive(Deserialize)]
struct ClaimMessage {
    id: String,
    artefact_id: String,
}

#[derive(Default)]
struct Inner {
    events: Mutex<Vec<ClaimEvent>>,
    /// Distinct artefacts of this run claimed so far (for "are we done yet").
    first_claims: AtomicUsize,
}

pub struct Listener {
    inner: Arc<Inner>,
    stop: smol::channel::Sender<()>,
    thread: JoinHandle<()>,
}

impl Listener {
    /// Subscribes to `channel` and returns once the subscription is confirmed.
    pub fn start(
        url: &str,
        channel: String,
        ids: Arc<HashMap<Uuid, u32>>,
        clock: Instant,
    ) -> Result<Listener, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let inner = Arc::new(Inner::default());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let sink = inner.clone();
        let thread = std::thread::spawn(move || {
            smol::block_on(async move {
                let mut pubsub = match client.get_async_pubsub().await {
                    Ok(p) => p,
                    Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                };
                if let Err(e) = pubsub.subscribe(&channel).await {
                    return drop(ready_tx.send(Err(e.to_string())));
                }
                let _ = ready_tx.send(Ok(()));
                let mut stream = pubsub.into_on_message();
                let mut seen = vec![false; ids.len()];
                loop {
                    let next = async { stream.next().await }.or(async {
                        let _ = stopped.recv().await;
                        None
                    });
                    let Some(msg) = next.await else { break };
                    let at_ns = clock.elapsed().as_nanos() as u64;
                    let (artefact, claim_id) =
                        match serde_json::from_slice::<ClaimMessage>(msg.get_payload_bytes()) {
                            Ok(m) => (
                                Uuid::parse_str(&m.artefact_id)
                                    .ok()
                                    .and_then(|u| ids.get(&u).copied()),
                                m.id,
                            ),
                            Err(_) => (None, String::new()),
                        };
                    if let Some(i) = artefact {
                        if !std::mem::replace(&mut seen[i as usize], true) {
                            sink.first_claims.fetch_add(1, Ordering::Release);
                        }
                    }
                    sink.events.lock().unwrap().push(ClaimEvent {
                        artefact,
                        claim_id,
                        at_ns,
                    });
                }
            })
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Listener {
                inner,
                stop,
                thread,
            }),
            Ok(Err(e)) => Err(format!("subscribe to claim_events: {e}")),
            Err(_) => Err("the listener thread died".into()),
        }
    }

    pub fn first_claims(&self) -> usize {
        self.inner.first_claims.load(Ordering::Acquire)
    }

    /// Stops listening and returns every event seen.
    pub fn finish(self) -> Vec<ClaimEvent> {
        let _ = self.stop.try_send(());
        let _ = self.thread.join();
        std::mem::take(&mut *self.inner.events.lock().unwrap())
    }
}
