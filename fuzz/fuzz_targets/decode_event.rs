//! Fuzzes the artefact event decoder (`blackboard::decode_event`) and the log
//! sampler of bad messages (`safe_sample`): no panic; an accepted id is the
//! one a general JSON parser reads; a sample never shows a payload value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sett_orchestrator::blackboard::{decode_event, safe_sample, SAMPLE_BYTES};
use sett_orchestrator::ids::ArtefactId;

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = decode_event(data) {
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
