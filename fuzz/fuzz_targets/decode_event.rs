//! Fuzzes the artefact event decoder (`blackboard::decode_event`, the
//! streaming id scanner in one chunk) and the log sampler of bad messages
//! (`safe_sample`): no panic; the scanner gives the same verdict however the
//! message is cut into chunks; an accepted id is the one a general JSON
//! parser reads; a sample never shows a payload value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sett_orchestrator::redis_io::subscriber::event::{
    decode_event, safe_sample, MalformedEvent, SAMPLE_BYTES,
};
use sett_orchestrator::ids::ArtefactId;
use sett_orchestrator::redis_io::subscriber::json_id::IdScanner;

/// The scanner's verdict when fed `data` in chunks of `size` bytes.
fn chunked(data: &[u8], size: usize) -> Result<ArtefactId, MalformedEvent> {
    let mut scanner = IdScanner::new();
    for chunk in data.chunks(size) {
        scanner.feed(chunk);
    }
    scanner.finish()
}

fuzz_target!(|data: &[u8]| {
    let whole = decode_event(data);
    // Chunk sizes from 1 to 17 bytes, chosen by the input itself, and one
    // split at a point it chooses.
    let size = 1 + data.last().map_or(0, |b| usize::from(*b) % 17);
    assert_eq!(chunked(data, size), whole, "chunks of {size}");
    let at = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut scanner = IdScanner::new();
    scanner.feed(&data[..at]);
    scanner.feed(&data[at..]);
    assert_eq!(scanner.finish(), whole, "split at {at}");
    if let Ok(id) = whole {
        let text = id.as_str().to_string();
        assert_eq!(ArtefactId::parse(&text), Some(id));
        // serde_json::Value has a nesting limit the decoder does not need; when
        // it does parse, it must agree on the id.
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
            assert_eq!(
                value["id"].as_str(),
                Some(text.as_str()),
                "decoder and JSON disagree"
            );
        }
    }
    let sample = safe_sample(data);
    // At most SAMPLE_BYTES input bytes, each shown as at most one U+FFFD (3 bytes).
    assert!(sample.len() <= 3 * SAMPLE_BYTES, "{}", sample.len());
    let marker = "\"payload\"";
    if let Some(at) = sample.find(marker) {
        assert_eq!(
            at + marker.len(),
            sample.len(),
            "sample goes past the payload marker: {sample:?}"
        );
    }
});
