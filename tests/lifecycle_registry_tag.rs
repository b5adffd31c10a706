//! Which registry a lifecycle decision decides by (issue 15 §6): a library
//! call names its registry by a tag instead of sending it; the library keeps
//! the registries it was sent, so each call decides by its own registry
//! (replicas with different registries sharing one Redis), and a library
//! that lost them (loaded again, flushed) answers NOREGISTRY having done
//! nothing, and the call is sent again with the registry.

use sett_test_support as support;

use std::collections::BTreeMap;

use sett_orchestrator::blackboard::effects::Effect;
use support::lifecycle::*;

#[test]
fn each_call_decides_by_its_own_registry() {
    let two = [("A", "A"), ("B", "B")];
    let mut lab = Lab::new(&two, 3);
    let claims: Vec<String> = (0..3)
        .map(|_| {
            let goal = Art::goal();
            lab.write(&goal);
            lab.new_claim(&goal)
        })
        .collect();
    for claim in &claims {
        lab.bid(claim, "A", "review");
        lab.bid(claim, "B", "ignore");
    }
    lab.set_registry(&[("A", "A"), ("C", "C")], 3);
    let waiting = |claim: &str| Effect::Waiting {
        claim: cid(claim),
        missing: 1,
    };
    assert_eq!(lab.on_bids(&claims[0], None), vec![waiting(&claims[0])]);
    lab.set_registry(&two, 3);
    let out = lab.on_bids(&claims[0], None);
    assert!(
        matches!(out.as_slice(), [Effect::Granted { agents, .. }] if agents == &["A"]),
        "{out:?}"
    );
    lab.set_registry(&[("A", "A"), ("B", "B"), ("C", "C")], 3);
    assert_eq!(lab.on_bids(&claims[1], None), vec![waiting(&claims[1])]);
    lab.set_registry(&[("A", "A")], 3);
    let out = lab.on_bids(&claims[1], None);
    assert!(
        matches!(
            out.as_slice(),
            [Effect::UnknownBidder { .. }, Effect::Granted { .. }]
        ),
        "{out:?}"
    );
    lab.set_registry(&[("A", "A"), ("C", "C")], 3);
    assert_eq!(lab.on_bids(&claims[2], None), vec![waiting(&claims[2])]);
}

/// `INFO errorstats`: error code -> count.
fn errors(conn: &mut redis::Connection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("errorstats").query(conn).unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("errorstat_")?.split_once(":count=")?;
            Some((name.to_string(), rest.trim().parse().ok()?))
        })
        .collect()
}

/// A library call names its registry by tag; the library keeps the
/// registries it was sent. A library loaded again (FUNCTION LOAD REPLACE at
/// another replica's start, FUNCTION FLUSH) holds none: the next call
/// answers NOREGISTRY having done nothing, and is sent again with its
/// registry, once; the calls after it send the tag only.
#[test]
fn the_registry_is_sent_again_only_when_the_library_lost_it() {
    let agents = [("A", "A"), ("B", "B")];
    let mut lab = Lab::new(&agents, 3);
    let goal = Art::goal();
    let claim = lab.new_claim(&goal);
    lab.bid(&claim, "A", "review");
    // The first call found no library: loaded, then sent with the registry.
    assert_eq!(errors(&mut lab.sync).get("NOREGISTRY"), None);
    let waiting = vec![Effect::Waiting {
        claim: cid(&claim),
        missing: 1,
    }];
    assert_eq!(lab.on_bids(&claim, None), waiting);
    assert_eq!(errors(&mut lab.sync).get("NOREGISTRY"), None);
    let lib = sett_orchestrator::lifecycle::library::LIBRARY.text();
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(&lib)
        .query::<String>(&mut lab.sync)
        .unwrap();
    assert_eq!(lab.on_bids(&claim, None), waiting);
    assert_eq!(errors(&mut lab.sync).get("NOREGISTRY"), Some(&1));
    assert_eq!(lab.on_bids(&claim, None), waiting);
    lab.bid(&claim, "B", "ignore");
    let out = lab.on_bids(&claim, None);
    assert!(
        matches!(out.as_slice(), [Effect::Granted { agents, .. }] if agents == &["A"]),
        "{out:?}"
    );
    assert_eq!(errors(&mut lab.sync).get("NOREGISTRY"), Some(&1));
    // Called with a tag it does not hold, a function does nothing.
    let f = format!(
        "{}_bids",
        sett_orchestrator::lifecycle::library::LIBRARY.name
    );
    lab.published();
    let other = Art::goal();
    let second = lab.new_claim(&other);
    lab.bid(&second, "A", "review");
    lab.bid(&second, "B", "ignore");
    lab.assert_noop("a call with a tag the library does not hold", |lab| {
        let err = redis::cmd("FCALL")
            .arg(&f)
            .arg(2)
            .arg(format!("{P}claim:{second}"))
            .arg(format!("{P}claim:{second}:bids"))
            .arg(P)
            .arg("@0123456789abcdef")
            .arg(3)
            .arg("11111111-2222-4333-8444-555555555555")
            .arg(&second)
            .arg(0)
            .query::<redis::Value>(&mut lab.sync)
            .unwrap_err();
        assert_eq!(err.code(), Some("NOREGISTRY"), "{err}");
    });
}
