//! The subscription: every artefact event is cut down to its id inside the
//! connection's own reader, the moment it is parsed.
//!
//! Payloads may be megabytes and a burst may be thousands of them; Redis
//! disconnects a subscriber that falls behind, and a queue of whole messages
//! costs memory in proportion to the burst. So the subscription is a RESP3
//! connection whose push messages go to a synchronous callback that decodes
//! the id and drops the message before the next one is read. Only ids (32
//! bytes each) are queued for the claim workers.

use std::convert::Infallible;
use std::time::Instant;

use redis::{PushInfo, PushKind, Value};
use smol::channel::{Receiver, Sender};

use crate::blackboard::{decode_event, safe_sample};
use crate::ids::ArtefactId;

/// Ids waiting for a worker at most; beyond that they are left to catch-up.
pub const MAX_QUEUED: usize = 100_000;

/// An artefact id waiting for a claim worker.
pub struct Pending {
    pub artefact_id: ArtefactId,
    pub received: Instant,
}

/// What the subscription reports besides ids (rare; the engine logs them).
pub enum Notice {
    Malformed {
        reason: &'static str,
        bytes: usize,
        sample: String,
    },
    /// The work queue was full; catch-up will claim this one.
    Dropped(ArtefactId),
    /// The connection under the subscription is gone.
    Disconnected,
}

/// The receiving ends the engine consumes.
pub struct Inbox {
    pub work: Receiver<Pending>,
    pub notices: Receiver<Notice>,
}

/// The push callback for a new subscription connection, and its inbox.
pub fn channel() -> (
    impl Fn(PushInfo) -> Result<(), Infallible> + Send + Sync + 'static,
    Inbox,
) {
    let (work_tx, work) = smol::channel::unbounded();
    let (notice_tx, notices) = smol::channel::unbounded();
    let handler = move |push: PushInfo| {
        on_push(push, &work_tx, &notice_tx);
        Ok(())
    };
    (handler, Inbox { work, notices })
}

fn on_push(push: PushInfo, work: &Sender<Pending>, notices: &Sender<Notice>) {
    match push.kind {
        PushKind::Message => {
            // data = [channel, payload]
            let payload = match push.data.get(1) {
                Some(Value::BulkString(bytes)) => bytes.as_slice(),
                Some(Value::SimpleString(s)) => s.as_bytes(),
                _ => &[],
            };
            let _ = match accept(payload, work) {
                Ok(None) => return,
                Ok(Some(dropped)) => notices.try_send(Notice::Dropped(dropped)),
                Err(notice) => notices.try_send(notice),
            };
        }
        PushKind::Disconnection => {
            let _ = notices.try_send(Notice::Disconnected);
        }
        _ => {}
    }
}

/// Queues the id of one event; `Ok(Some(id))` when the queue was full.
fn accept(message: &[u8], work: &Sender<Pending>) -> Result<Option<ArtefactId>, Notice> {
    let received = Instant::now();
    let artefact_id = decode_event(message).map_err(|why| Notice::Malformed {
        reason: why.reason(),
        bytes: message.len(),
        sample: safe_sample(message),
    })?;
    if work.len() >= MAX_QUEUED
        || work
            .try_send(Pending {
                artefact_id,
                received,
            })
            .is_err()
    {
        return Ok(Some(artefact_id));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> PushInfo {
        PushInfo {
            kind: PushKind::Message,
            data: vec![
                Value::BulkString(b"sett:t:artefact_events".to_vec()),
                Value::BulkString(payload.to_vec()),
            ],
        }
    }

    #[test]
    fn ids_are_queued_and_bad_messages_noticed() {
        let (handler, inbox) = channel();
        let id = "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";
        handler(message(
            format!(r#"{{"id":"{id}","payload":"x"}}"#).as_bytes(),
        ))
        .unwrap();
        handler(message(b"{\"id\":\"../x\",\"payload\":\"secret\"}")).unwrap();
        handler(PushInfo {
            kind: PushKind::Subscribe,
            data: vec![],
        })
        .unwrap();
        handler(PushInfo {
            kind: PushKind::Disconnection,
            data: vec![],
        })
        .unwrap();
        assert_eq!(inbox.work.try_recv().unwrap().artefact_id.to_string(), id);
        assert!(inbox.work.try_recv().is_err());
        match inbox.notices.try_recv().unwrap() {
            Notice::Malformed {
                reason,
                bytes,
                sample,
            } => {
                assert_eq!(reason, "id is not a UUID in a form the Go client accepts");
                assert_eq!(bytes, 32);
                assert_eq!(sample, r#"{"id":"../x","payload""#);
            }
            _ => panic!("expected a malformed notice"),
        }
        assert!(matches!(
            inbox.notices.try_recv().unwrap(),
            Notice::Disconnected
        ));
        assert!(inbox.notices.try_recv().is_err());
    }
}
