//! One rule for `source_artefacts`, run against both readers from one case
//! table: the scripts (`decode_list` in `json.lua`, on a live delivery) and
//! the catch-up's filter (`lifecycle::catchup::select`, which picks what a
//! replay sends to the script). Where standard JSON decides, both read the
//! string elements of a JSON array; what only Redis's cjson reads (hex
//! numbers, `nan`, deep nesting, invalid UTF-8) the catch-up leaves to the
//! script. So a deliverable counted live is never missed by a replay.

use sett_test_support as support;

use std::collections::HashSet;

use sett_orchestrator::blackboard::effects::Effect;
use sett_orchestrator::lifecycle::catchup::{select, Active};
use support::lifecycle::*;
use support::lifecycle_loop::*;

/// `{id}` stands for the reviewed artefact's id. (text, the script counts
/// it, the catch-up sends it to the script).
fn cases() -> Vec<(Vec<u8>, bool, bool)> {
    let deep = format!("[{}{},\"{{id}}\"]", "[".repeat(200), "]".repeat(200));
    let raw: Vec<(&[u8], bool, bool)> = vec![
        (br#"["{id}"]"#, true, true),
        (b" [ \"x\" ,\n \"{id}\" ] ", true, true),
        (
            br#"["x", 5, null, true, {"a": 1}, ["y"], "{id}"]"#,
            true,
            true,
        ),
        (br#"["{id}", "{id}"]"#, true, true),
        (br#"[]"#, false, false),
        (br#"null"#, false, false),
        (br#""{id}""#, false, false),
        (br#"{"1": "{id}"}"#, false, false),
        (br#"[["{id}"]]"#, false, false),
        (br#"["{ID}"]"#, false, false),
        (br#"["x"]"#, false, false),
        // cjson reads these, standard JSON does not: the script judges.
        (br#"[0x10, "{id}"]"#, true, true),
        (br#"["{id}", nan]"#, true, true),
        (b"[\"{id}\", \"\xff\"]", true, true),
        (deep.as_bytes(), true, true),
        // Not JSON to either: the script is asked, and counts nothing.
        (br#"["{id}""#, false, true),
        (b"", false, true),
        (b"not json", false, true),
    ];
    raw.into_iter()
        .map(|(t, a, b)| (t.to_vec(), a, b))
        .collect()
}

fn fill(text: &[u8], id: &str) -> Vec<u8> {
    let upper = id.to_uppercase();
    let s = String::from_utf8_lossy(text).into_owned();
    if std::str::from_utf8(text).is_err() {
        // Keep the invalid bytes: replace in the byte string.
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.windows(4).position(|w| w == b"{id}") {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(id.as_bytes());
            rest = &rest[at + 4..];
        }
        out.extend_from_slice(rest);
        return out;
    }
    s.replace("{id}", id).replace("{ID}", &upper).into_bytes()
}

#[test]
fn the_scripts_and_the_catch_up_read_source_artefacts_by_one_rule() {
    let mut lab = Lab::new(TEAM, 3);
    for (template, counts, selected) in cases() {
        let shown = String::from_utf8_lossy(&template).into_owned();
        let target = Art::work("writer", &support::uuid());
        let claim = lab.new_claim(&target);
        lab.bid_all(&claim, &[("Ann", "review"), ("Writer", "ignore")]);
        lab.published();
        let review = Art::review("ann", &target.id, b"{}");
        lab.write(&review);
        let text = fill(&template, &target.id);
        lab.hset(
            &format!("{P}artefact:{}", review.id),
            "source_artefacts",
            text,
        );
        // The catch-up's filter, with the claim active.
        let active = Active::Artefacts(HashSet::from([target.id.clone()]));
        let picked = smol::block_on(select(
            &mut lab.conn,
            &lab.keys,
            &[aid(&review.id)],
            &active,
        ))
        .unwrap();
        assert_eq!(!picked.is_empty(), selected, "catch-up, {shown:?}");
        // The script, as a live event runs it.
        let effects = lab.on_artefact(&review.id);
        let delivered = effects
            .iter()
            .any(|e| matches!(e, Effect::Delivered { .. }));
        assert_eq!(delivered, counts, "script, {shown:?}: {effects:?}");
        assert!(!counts || selected, "a replay would miss {shown:?}");
        lab.published();
    }
}
