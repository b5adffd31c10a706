//! The events stream's object scanner and event decoding.

use super::super::error::{DockerError, ErrorKind};
use super::super::scanner::{Scanner, MAX_EVENT_BYTES};
use super::{assert_kind, every_cut};

/// What Docker 20.10 sent for a container's exit (copied from this machine).
const DIE: &str = r#"{"status":"die","id":"80b7378499465e395bfc6861283abc527d108e172ea2733d4973e93eb3aa56b3","from":"dkexp:1","Type":"container","Action":"die","Actor":{"ID":"80b7378499465e395bfc6861283abc527d108e172ea2733d4973e93eb3aa56b3","Attributes":{"dkexp":"1","exitCode":"3","image":"dkexp:1","name":"dkexp4"}},"scope":"local","time":1796223265,"timeNano":1796223265203895133}"#;

/// The objects (or skip reasons) `pieces` hold.
fn scan(pieces: &[&[u8]]) -> Result<Vec<Result<String, &'static str>>, DockerError> {
    let mut s = Scanner::default();
    let mut out = Vec::new();
    for piece in pieces {
        s.feed(piece, &mut |item| {
            out.push(item.map(|b| String::from_utf8(b.to_vec()).unwrap()))
        })?;
    }
    assert!(!s.in_object());
    Ok(out)
}

#[test]
fn objects_are_cut_out_however_the_stream_is_cut() {
    let tricky = r#"{"a":"}{\"}","b":[{"c":"]"}],"d":"\\"}"#;
    let wire = format!("{DIE}\n{tricky}\r\n  {{}}{DIE}\n");
    every_cut(wire.as_bytes(), |pieces| {
        let got = scan(pieces).unwrap();
        assert_eq!(
            got,
            vec![
                Ok(DIE.to_string()),
                Ok(tricky.to_string()),
                Ok("{}".to_string()),
                Ok(DIE.to_string())
            ]
        );
    });
}

#[test]
fn an_oversized_object_is_skipped_and_the_next_one_read() {
    let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(MAX_EVENT_BYTES));
    let wire = format!("{big}\n{DIE}\n");
    let pieces: Vec<&[u8]> = wire.as_bytes().chunks(8192).collect();
    assert_eq!(
        scan(&pieces).unwrap(),
        vec![Err("an event over 64 KiB"), Ok(DIE.to_string())]
    );
    // Exactly the limit still fits.
    let fits = format!(r#"{{"x":"{}"}}"#, "y".repeat(MAX_EVENT_BYTES - 8));
    assert_eq!(fits.len(), MAX_EVENT_BYTES);
    assert_eq!(scan(&[fits.as_bytes()]).unwrap(), vec![Ok(fits.clone())]);
}

#[test]
fn bytes_between_objects_are_garbage() {
    for wire in ["garbage", "{}x{}", "[1]", "\"s\"", "HTTP/1.1 200 OK"] {
        let msg = assert_kind(scan(&[wire.as_bytes()]), ErrorKind::Transient);
        assert!(msg.starts_with("garbage from Docker"), "{wire}: {msg}");
    }
    let deep = "{\"a\":".to_string() + &"[".repeat(300);
    assert_kind(scan(&[deep.as_bytes()]), ErrorKind::Transient);
}

#[test]
fn a_die_event_decodes_with_its_exit_code() {
    let e = super::super::events::decode(DIE.as_bytes()).unwrap();
    assert_eq!(e.action, "die");
    assert_eq!(
        e.id,
        "80b7378499465e395bfc6861283abc527d108e172ea2733d4973e93eb3aa56b3"
    );
    assert_eq!(e.exit_code(), Some(3));
    assert_eq!(e.attribute("name"), Some("dkexp4"));
    assert_eq!(e.attribute("dkexp"), Some("1"));
    assert_eq!(e.time_nano, 1796223265203895133);
    let start = DIE
        .replace("\"die\"", "\"start\"")
        .replace(",\"exitCode\":\"3\"", "");
    assert_eq!(
        super::super::events::decode(start.as_bytes())
            .unwrap()
            .exit_code(),
        None
    );
    for not_event in [
        "{}",
        r#"{"Action":"die"}"#,
        r#"{"Action":1,"Actor":{"ID":"x"}}"#,
        "{]",
    ] {
        assert!(
            super::super::events::decode(not_event.as_bytes()).is_err(),
            "{not_event}"
        );
    }
}

#[test]
fn timestamps_are_written_as_seconds_dot_nanoseconds() {
    use super::super::events::seconds;
    assert_eq!(seconds(1796223265203895133), "1796223265.203895133");
    assert_eq!(seconds(1_000_000_007), "1.000000007");
    assert_eq!(seconds(0), "0.000000000");
}
