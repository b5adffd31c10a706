//! The container list read as it streams (src/docker/list.rs), against a
//! daemon that answers what the test says (support/fake_docker.rs): lists of
//! thousands of entries, sent with a length or in chunks cut anywhere, and
//! every way a list fails whole. No Docker engine is needed; the workers'
//! tests list real containers.

use sett_test_support as support;

use std::time::Duration;

use sett_orchestrator::docker::{Docker, ErrorKind, Timeouts};
use support::fake_docker::*;

/// One entry of a container list as Docker writes it, about 2 KB: nested
/// objects and arrays, and strings holding braces, brackets, commas and
/// escaped quotes.
fn entry(i: usize, pad: usize) -> String {
    format!(
        r#"{{"Id":"{i:064x}","Names":["/w-{i}"],"Image":"img","Command":"sh -c \"echo }}]{{[, \\\\\"\"","Created":{i},"State":"exited","Status":"Exited (0)","Ports":[],"Labels":{{"holt.instance.name":"x","n":"{i}"}},"Mounts":[{{"Type":"bind","Source":"/w","Destination":"/workspace"}}],"NetworkSettings":{{"Networks":{{"bridge":{{"IPAddress":""}}}}}},"Pad":"{}"}}"#,
        "p".repeat(pad)
    )
}

fn list_of(entries: &[String]) -> Vec<u8> {
    format!("[{}]", entries.join(",")).into_bytes()
}

/// A client whose calls may take long enough to stream megabytes (the
/// test binary's code is unoptimised).
fn patient(fake: &FakeDocker) -> Docker {
    let t = timeouts();
    Docker::new(
        &fake.socket,
        Timeouts {
            call: Duration::from_secs(20),
            ..t
        },
    )
}

/// A list of 3,000 containers (about 6 MB, six times the bound of a JSON
/// answer read whole) is read entry by entry, sent with a length or in
/// chunks cut anywhere.
#[test]
fn a_container_list_of_thousands_is_read_entry_by_entry() {
    let entries: Vec<String> = (0..3000).map(|i| entry(i, 1700)).collect();
    let body = list_of(&entries);
    assert!(body.len() > 5_000_000);
    let whole = json("200 OK", std::str::from_utf8(&body).unwrap());
    let mut pieces = vec![chunked_head("application/json")];
    for (n, piece) in body.chunks(4093).enumerate() {
        // Chunks of every size, cut inside strings and escapes.
        pieces.push(chunk(&piece[..piece.len().min(1 + n % 4093)]));
        if piece.len() > 1 + n % 4093 {
            pieces.push(chunk(&piece[1 + n % 4093..]));
        }
    }
    pieces.push(b"0\r\n\r\n".to_vec());
    let chunked: Vec<u8> = pieces.concat();
    for answer in [whole, chunked] {
        let fake = FakeDocker::start(pinging("1.41", move |_| Answer::Bytes(answer.clone())));
        let list = smol::block_on(patient(&fake).list(true, &[])).unwrap();
        assert_eq!(list.len(), 3000);
        for (i, c) in [0, 1234, 2999].map(|i| (i, &list[i])) {
            assert_eq!(c.id, format!("{i:064x}"));
            assert_eq!(c.names, vec![format!("w-{i}")]);
            assert_eq!(c.state, "exited");
            assert_eq!(c.created, i as i64);
            assert_eq!(c.labels["n"], i.to_string());
        }
    }
}

/// A list that cannot be read whole fails whole (a list missing an entry
/// would make a running worker look gone): an entry over 64 KiB, more than
/// 20,000 entries, an array never closed, anything but one array of objects.
#[test]
fn a_container_list_that_cannot_be_read_whole_fails_whole() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            list_of(&[entry(1, 10), entry(2, 70_000), entry(3, 10)]),
            "garbage from Docker: a container list entry over 64 KiB",
        ),
        (
            list_of(&vec![r#"{"Id":"a"}"#.to_string(); 20_001]),
            "garbage from Docker: a container list of more than 20,000 entries",
        ),
        (
            format!("[{}", entry(1, 10)).into_bytes(),
            "garbage from Docker: container list JSON (not one array of objects)",
        ),
        (
            br#"{"Id":"a"}"#.to_vec(),
            "garbage from Docker: bytes around a JSON array's objects that are not its brackets or commas",
        ),
        (
            br#"["a"]"#.to_vec(),
            "garbage from Docker: bytes around a JSON array's objects that are not its brackets or commas",
        ),
        (
            br#"[{"Names":["/a"]}]"#.to_vec(),
            "garbage from Docker: container list entry JSON (Data error at line 1 column 16)",
        ),
    ];
    for (body, want) in cases {
        let answer = json("200 OK", std::str::from_utf8(&body).unwrap());
        let fake = FakeDocker::start(pinging("1.41", move |_| Answer::Bytes(answer.clone())));
        let msg = expect(
            smol::block_on(patient(&fake).list(true, &[])),
            ErrorKind::Transient,
        );
        assert_eq!(msg, want);
    }
    // Exactly 20,000 entries are a list, and so is an empty one.
    for (body, n) in [
        (list_of(&vec![r#"{"Id":"a"}"#.to_string(); 20_000]), 20_000),
        (b" [ ] ".to_vec(), 0),
    ] {
        let answer = json("200 OK", std::str::from_utf8(&body).unwrap());
        let fake = FakeDocker::start(pinging("1.41", move |_| Answer::Bytes(answer.clone())));
        assert_eq!(
            smol::block_on(patient(&fake).list(true, &[]))
                .unwrap()
                .len(),
            n
        );
    }
}
