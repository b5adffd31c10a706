//! The multiplexed log stream, the bounded tail and the Failure text.

use super::super::error::{DockerError, ErrorKind};
use super::super::logs::{failure_text, Demux, Stream, Tail, FAILURE_BYTES};
use super::{assert_kind, every_cut};

fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// stdout, stderr, and both in order.
type Demuxed = (Vec<u8>, Vec<u8>, Vec<u8>);

/// What `pieces` hold, demultiplexed.
fn demux(pieces: &[&[u8]]) -> Result<Demuxed, DockerError> {
    let (mut out, mut err, mut all) = (Vec::new(), Vec::new(), Vec::new());
    let mut d = Demux::default();
    for piece in pieces {
        d.feed(piece, &mut |stream, bytes| {
            match stream {
                Stream::Stdout => out.extend_from_slice(bytes),
                Stream::Stderr => err.extend_from_slice(bytes),
                Stream::Stdin => panic!("no stdin frames here"),
            }
            all.extend_from_slice(bytes);
        })?;
    }
    d.finish()?;
    Ok((out, err, all))
}

#[test]
fn frames_are_demultiplexed_however_the_stream_is_cut() {
    let wire = [
        frame(1, b"out 1\n"),
        frame(2, b"err 1\n"),
        frame(1, b""),
        frame(1, "out \u{e9}\u{20ac}\n".as_bytes()),
        frame(2, b"err 2 \0\x01\x02\n"),
    ]
    .concat();
    every_cut(&wire, |pieces| {
        let (out, err, all) = demux(pieces).unwrap();
        assert_eq!(out, "out 1\nout \u{e9}\u{20ac}\n".as_bytes());
        assert_eq!(err, b"err 1\nerr 2 \0\x01\x02\n");
        assert_eq!(
            all,
            [
                b"out 1\nerr 1\n".as_slice(),
                "out \u{e9}\u{20ac}\n".as_bytes(),
                b"err 2 \0\x01\x02\n"
            ]
            .concat()
        );
    });
}

#[test]
fn a_large_frame_is_streamed_through() {
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let wire = frame(1, &payload);
    let pieces: Vec<&[u8]> = wire.chunks(8192).collect();
    assert_eq!(demux(&pieces).unwrap().0, payload);
}

#[test]
fn bad_headers_and_a_cut_frame_are_garbage() {
    for wire in [
        vec![1, 1, 0, 0, 0, 0, 0, 1, b'x'],
        vec![4, 0, 0, 0, 0, 0, 0, 1, b'x'],
        b"out 1\n".to_vec(),
    ] {
        let msg = assert_kind(demux(&[&wire]), ErrorKind::Transient);
        assert!(msg.starts_with("garbage from Docker"), "{msg}");
    }
    let cut = frame(1, b"hello");
    every_cut(&cut[..cut.len() - 1], |pieces| {
        let msg = assert_kind(demux(pieces), ErrorKind::Transient);
        assert!(msg.contains("ends inside a frame"), "{msg}");
    });
}

#[test]
fn a_daemon_error_frame_is_transient_with_its_text() {
    let wire = [
        frame(1, b"out\n"),
        frame(3, b"error from daemon in stream: boom"),
    ]
    .concat();
    every_cut(&wire, |pieces| {
        let msg = assert_kind(demux(pieces), ErrorKind::Transient);
        assert_eq!(
            msg,
            "Docker failed while sending the logs: error from daemon in stream: boom"
        );
    });
}

#[test]
fn the_tail_keeps_the_last_bytes() {
    let mut t = Tail::new(10);
    t.push(b"0123");
    t.push(b"4567");
    let logs = Tail::into_logs(t);
    assert_eq!(
        (logs.text.as_slice(), logs.truncated),
        (&b"01234567"[..], false)
    );
    let mut t = Tail::new(10);
    for piece in [b"0123".as_slice(), b"4567", b"89ab", b"c"] {
        t.push(piece);
    }
    let logs = t.into_logs();
    assert_eq!(
        (logs.text.as_slice(), logs.truncated),
        (&b"3456789abc"[..], true)
    );
    let mut t = Tail::new(4);
    t.push(b"0123456789");
    assert_eq!(t.into_logs().text, b"6789");
    let mut t = Tail::new(4);
    t.push(b"0123");
    let logs = t.into_logs();
    assert_eq!(
        (logs.text.as_slice(), logs.truncated),
        (&b"0123"[..], false)
    );
}

fn lines(range: std::ops::RangeInclusive<u32>) -> String {
    range.map(|i| format!("line {i}\n")).collect()
}

#[test]
fn the_failure_text_is_the_last_100_lines() {
    assert_eq!(failure_text(lines(1..=150).as_bytes()), lines(51..=150));
    assert_eq!(failure_text(lines(1..=100).as_bytes()), lines(1..=100));
    assert_eq!(failure_text(lines(1..=7).as_bytes()), lines(1..=7));
    // No final newline: the last line still counts as one.
    let unterminated = format!("{}line 151", lines(1..=150));
    assert_eq!(
        failure_text(unterminated.as_bytes()),
        format!("{}line 151", lines(52..=150))
    );
    // Empty lines are lines.
    assert_eq!(failure_text(&[b'\n'; 150]), "\n".repeat(100));
    assert_eq!(failure_text(b""), "");
}

#[test]
fn the_failure_text_is_at_most_64_kib_cut_on_a_character_boundary() {
    // One 100 KiB line of 1-, 2-, 3- and 4-byte characters; the cut is
    // counted from the end, so a varying tail moves it across every byte of
    // the 10-byte pattern: it must always land before a whole character.
    for tail in 0..10 {
        let text: String =
            "a\u{e9}\u{20ac}\u{1d11e}".repeat(10_000) + &"x".repeat(tail) + "\nend\n";
        let out = failure_text(text.as_bytes());
        assert!(
            out.len() <= FAILURE_BYTES && out.len() > FAILURE_BYTES - 4,
            "{}",
            out.len()
        );
        assert!(
            text.ends_with(&out),
            "the cut keeps the end, whole characters only"
        );
    }
    // Bytes that are not UTF-8 become U+FFFD, and the result still fits.
    let invalid = vec![0xFF; 70_000];
    let out = failure_text(&invalid);
    assert!(out.len() <= FAILURE_BYTES, "{}", out.len());
    assert!(out.chars().all(|c| c == '\u{fffd}'));
    // A cut in the middle of a character never leaves half of it.
    let mut bytes = "\u{20ac}".repeat(30_000).into_bytes();
    bytes.push(b'\n');
    let out = failure_text(&bytes);
    assert!(
        out.chars().all(|c| c == '\u{20ac}' || c == '\n'),
        "no U+FFFD from a cut"
    );
}
