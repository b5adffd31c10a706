//! Unit tests of the parsers and decoders, each fed every cut of its input.

mod errors;
mod framing;
mod logs;
mod scanner;
mod spec;

use super::error::{DockerError, ErrorKind};
use super::{ContainerSpec, Docker, EventFilter, LogOptions, Timeouts};

fn assert_send<T: Send>(_: &T) {}

/// The orchestrator spawns its tasks on smol's global executor: every call
/// must be a `Send` future (and the client shareable).
#[test]
fn every_call_is_a_send_future() {
    let d = Docker::new("/nowhere", Timeouts::default());
    let spec = ContainerSpec::new("ab", "img", vec![]);
    assert_send(&d);
    assert_send(&d.ping());
    assert_send(&d.version());
    assert_send(&d.image_inspect("img"));
    assert_send(&d.create(&spec));
    assert_send(&d.start("ab"));
    assert_send(&d.inspect("ab"));
    assert_send(&d.list(true, &[]));
    assert_send(&d.logs("ab", LogOptions::default()));
    assert_send(&d.stop("ab", std::time::Duration::ZERO));
    assert_send(&d.remove("ab"));
    let filter = EventFilter::default();
    assert_send(&d.events(&filter, None));
}

/// Calls `f` with `input` cut at every byte boundary into two pieces, and once
/// byte by byte.
pub(super) fn every_cut(input: &[u8], mut f: impl FnMut(&[&[u8]])) {
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        f(&[a, b]);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    f(&bytes);
}

pub(super) fn assert_kind<T: std::fmt::Debug>(
    r: Result<T, DockerError>,
    kind: ErrorKind,
) -> String {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), kind, "{e}");
            e.message().to_string()
        }
        Ok(v) => panic!("expected a {kind:?} error, got Ok({v:?})"),
    }
}
