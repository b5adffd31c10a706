//! Unit tests of the parsers and decoders, each fed every cut of its input.

mod errors;
mod framing;
mod logs;
mod scanner;
mod spec;

use super::error::{DockerError, ErrorKind};

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
