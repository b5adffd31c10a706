//! Response heads and body framing: Content-Length, chunked, until close.

use super::super::error::{DockerError, ErrorKind};
use super::super::framing::{Chunked, Framing};
use super::super::wire::{collect, parse_head, MAX_HEAD_BYTES};
use super::{assert_kind, every_cut};

/// The body `framing` yields from `pieces`, and whether it is complete.
fn decode(mut framing: Framing, pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), DockerError> {
    let mut out = Vec::new();
    for piece in pieces {
        framing.feed(piece, &mut |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        })?;
    }
    Ok((out, framing.is_done()))
}

fn chunked() -> Framing {
    Framing::Chunked(Chunked::default())
}

#[test]
fn chunked_bodies_decode_the_same_however_they_are_cut() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
        // Upper- and lower-case hex, an extension, blanks before it, a trailer.
        (
            b"A\r\n0123456789\r\na;x=y\r\nabcdefghij\r\n0\r\n\r\n",
            b"0123456789abcdefghij",
        ),
        (
            b"3 ;ext\r\nabc\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n",
            b"abc",
        ),
        (b"0\r\n\r\n", b""),
        // A body with CRLFs and zero bytes of its own.
        (b"4\r\n\r\n\0\n\r\n0\r\n\r\n", b"\r\n\0\n"),
    ];
    for (wire, body) in cases {
        every_cut(wire, |pieces| {
            let (out, done) = decode(chunked(), pieces).unwrap();
            assert_eq!(out, *body, "{:?}", String::from_utf8_lossy(wire));
            assert!(done);
        });
    }
}

#[test]
fn bytes_after_the_last_chunk_or_the_length_are_ignored() {
    let (out, done) = decode(chunked(), &[b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"]).unwrap();
    assert_eq!((out.as_slice(), done), (&b"ok"[..], true));
    every_cut(b"hello, and more", |pieces| {
        let (out, done) = decode(Framing::Length(5), pieces).unwrap();
        assert_eq!((out.as_slice(), done), (&b"hello"[..], true));
    });
}

#[test]
fn malformed_chunks_are_transient_garbage() {
    let bad: &[&[u8]] = &[
        b"zz\r\n",
        b"\r\n",
        b"5\r\nhelloXX",
        b"5\nhello\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"1000000000000000\r\n",
        b"-1\r\n",
        b"0\r\n\rX",
    ];
    for wire in bad {
        every_cut(wire, |pieces| {
            let msg = assert_kind(decode(chunked(), pieces), ErrorKind::Transient);
            assert!(msg.starts_with("garbage from Docker"), "{msg}");
        });
    }
    let long_ext = [b"1;".as_slice(), &[b'x'; 5000]].concat();
    assert_kind(decode(chunked(), &[&long_ext]), ErrorKind::Transient);
    let long_trailer = [b"0\r\n".as_slice(), &[b'x'; 5000]].concat();
    assert_kind(decode(chunked(), &[&long_trailer]), ErrorKind::Transient);
}

#[test]
fn a_close_mid_body_is_transient_and_a_close_after_it_is_fine() {
    let (mut f, _) = (chunked(), ());
    f.feed(b"5\r\nhel", &mut |_| Ok(())).unwrap();
    let msg = assert_kind(f.at_eof(), ErrorKind::Transient);
    assert!(msg.contains("closed the connection in the middle"), "{msg}");
    let mut f = Framing::Length(10);
    f.feed(b"12345", &mut |_| Ok(())).unwrap();
    assert_kind(f.at_eof(), ErrorKind::Transient);
    let mut f = Framing::UntilClose;
    f.feed(b"anything", &mut |_| Ok(())).unwrap();
    assert_eq!(f.at_eof(), Ok(()));
    assert_eq!(Framing::Done.at_eof(), Ok(()));
}

#[test]
fn a_sink_limit_stops_the_body() {
    let mut out = Vec::new();
    let mut f = chunked();
    let r = f.feed(
        b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
        &mut collect(&mut out, 8),
    );
    let msg = assert_kind(r, ErrorKind::Transient);
    assert!(msg.contains("body over 0 KiB"), "{msg}");
    assert_eq!(out, b"hello");
}

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

#[test]
fn a_head_is_found_at_its_end_and_never_before() {
    let end = HEAD.len() - 2;
    for at in 0..end {
        assert!(
            parse_head(&HEAD[..at], false).unwrap().is_none(),
            "prefix of {at}"
        );
    }
    for at in end..=HEAD.len() {
        let (len, head) = parse_head(&HEAD[..at], false).unwrap().unwrap();
        assert_eq!(len, end);
        assert_eq!(head.status, 200);
        assert_eq!(head.api_version.as_deref(), Some("1.41"));
        assert_eq!(head.content_type.as_deref(), Some("application/json"));
        assert!(matches!(head.framing, Framing::Length(2)));
    }
}

#[test]
fn framing_follows_the_headers() {
    let framing = |head: &str, bodiless: bool| {
        parse_head(head.as_bytes(), bodiless)
            .unwrap()
            .unwrap()
            .1
            .framing
    };
    let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(matches!(framing(chunked, false), Framing::Chunked(_)));
    let both = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(matches!(framing(both, false), Framing::Chunked(_)));
    assert!(matches!(
        framing("HTTP/1.1 200 OK\r\n\r\n", false),
        Framing::UntilClose
    ));
    assert!(matches!(
        framing("HTTP/1.1 204 No Content\r\n\r\n", false),
        Framing::Done
    ));
    assert!(matches!(
        framing("HTTP/1.1 304 Not Modified\r\n\r\n", false),
        Framing::Done
    ));
    assert!(matches!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        Framing::Done
    ));
    assert!(matches!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
        Framing::Done
    ));
    let same_twice = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n";
    assert!(matches!(framing(same_twice, false), Framing::Length(5)));
}

#[test]
fn malformed_heads_are_transient_garbage() {
    let bad = [
        "garbage\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 999 What\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        "\0\0\0\0",
    ];
    for head in bad {
        let msg = assert_kind(parse_head(head.as_bytes(), false), ErrorKind::Transient);
        assert!(msg.starts_with("garbage from Docker"), "{head:?}: {msg}");
    }
    let many: String = (0..70).map(|i| format!("X-{i}: y\r\n")).collect();
    let head = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
    assert_kind(parse_head(head.as_bytes(), false), ErrorKind::Transient);
    let endless = [
        b"HTTP/1.1 200 OK\r\nX: ".as_slice(),
        &vec![b'y'; MAX_HEAD_BYTES],
    ]
    .concat();
    let msg = assert_kind(
        parse_head(&endless[..MAX_HEAD_BYTES], false),
        ErrorKind::Transient,
    );
    assert!(msg.contains("over 16 KiB"), "{msg}");
}
