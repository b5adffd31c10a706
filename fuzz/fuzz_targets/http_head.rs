//! Fuzzes the HTTP request head parser (`http::parse_head`): no panic, and
//! answers that do not depend on how the head was split into reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sett_orchestrator::http::{parse_head, HeadError, MAX_HEAD_BYTES};

fuzz_target!(|data: &[u8]| {
    // The responder never hands the parser more than MAX_HEAD_BYTES.
    let buf = &data[..data.len().min(MAX_HEAD_BYTES)];
    let whole = parse_head(buf);
    match &whole {
        Ok(Some(head)) => {
            assert!(head.path.starts_with('/'), "{head:?}");
            assert!(!head.path.contains(['?', '#']), "{head:?}");
            assert!(!head.method.is_empty(), "{head:?}");
            // Whatever follows a complete head (a body, a pipelined request) is ignored.
            let mut longer = buf.to_vec();
            longer.extend_from_slice(b"GET /other HTTP/1.1\r\n\r\n");
            longer.truncate(MAX_HEAD_BYTES);
            assert_eq!(parse_head(&longer), whole);
        }
        Ok(None) => assert!(
            buf.len() < MAX_HEAD_BYTES,
            "a full buffer must be an answer"
        ),
        Err(HeadError::TooLarge) | Err(HeadError::Malformed) => {}
    }
    // The server parses after every read: a prefix of a head that will be
    // accepted must never have been refused (sampled prefixes keep it fast).
    if matches!(whole, Ok(Some(_))) {
        let step = (buf.len() / 64).max(1);
        let cuts = (0..buf.len())
            .step_by(step)
            .chain(buf.len().saturating_sub(16)..buf.len());
        for cut in cuts {
            assert!(
                parse_head(&buf[..cut]).is_ok(),
                "prefix of {cut} bytes refused: {:?}",
                parse_head(&buf[..cut])
            );
        }
    }
});
