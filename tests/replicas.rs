//! Several orchestrators on one instance: the atomic claim script makes
//! exactly one claim per artefact, however the replicas race.

use sett_test_support as support;

use std::collections::{HashMap, HashSet};

use support::verify::all_claim_events;
use support::*;

const ARTEFACTS: usize = 600;
const REPLICAS: usize = 3;

#[test]
fn three_replicas_make_exactly_one_claim_per_artefact() {
    let redis = RedisServer::start();
    let listener = ClaimListener::start(&redis, "rep");
    let orchs: Vec<Orchestrator> = (0..REPLICAS)
        .map(|_| Orchestrator::start(&redis, "rep"))
        .collect();
    for o in &orchs {
        o.wait_for_event("reconcile_complete");
    }
    let mut p = Producer::new(&redis, "rep");
    let ids: HashSet<String> = (0..ARTEFACTS)
        .map(|i| p.write("Standard", &format!("a{i}")))
        .collect();

    // Every replica sees every event: each ends as one creation somewhere and
    // a duplicate everywhere else. Once all are counted, nothing is left to come.
    // (Counted, not logged: duplicate_artefact lines are limited to 50 a second.)
    let counted = |o: &Orchestrator, name: &str| metric_value(&o.get("/metrics").1, name) as usize;
    let outcomes = |orchs: &[Orchestrator]| -> usize {
        orchs
            .iter()
            .map(|o| counted(o, "claims_created_total") + counted(o, "duplicate_events_total"))
            .sum()
    };
    let all_seen = wait_until(PATIENCE, || outcomes(&orchs) >= ARTEFACTS * REPLICAS);
    assert!(
        all_seen,
        "only {} of {} outcomes",
        outcomes(&orchs),
        ARTEFACTS * REPLICAS
    );
    assert_eq!(outcomes(&orchs), ARTEFACTS * REPLICAS);
    // Counted when the answer arrives; the line goes out after the batch.
    let created = || -> usize { orchs.iter().map(|o| o.events("claim_created").len()).sum() };
    assert!(wait_until(PATIENCE, || created() >= ARTEFACTS));
    assert_eq!(created(), ARTEFACTS);

    assert_eq!(p.claims(), ARTEFACTS);
    assert_eq!(p.index_entries(), ARTEFACTS);
    // Every claim event, complete: a sentinel published now arrives after them.
    let events = all_claim_events(&redis, "rep", &listener);
    assert_eq!(events.len(), ARTEFACTS);
    let announced: HashSet<String> = announced_artefacts(&events).into_iter().collect();
    assert_eq!(announced, ids);

    let mut claim_of: HashMap<String, String> = HashMap::new();
    for id in &ids {
        let claim_id = p
            .claim_of(id)
            .unwrap_or_else(|| panic!("no index for {id}"));
        let claim: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("sett:rep:claim:{claim_id}"))
            .query(&mut p.conn)
            .unwrap();
        assert_eq!(claim.len(), 6, "{claim:?}");
        assert_eq!(&claim["artefact_id"], id);
        assert_eq!(claim["id"], claim_id);
        claim_of.insert(id.clone(), claim_id);
    }
    // Every duplicate logged names the one claim that exists; the rest are
    // summed up per replica, so lines and summaries account for all of them.
    for o in &orchs {
        let duplicates = counted(o, "duplicate_events_total");
        let accounted = || {
            let suppressed: u64 = o
                .events("log_lines_suppressed")
                .iter()
                .filter(|l| l["kind"] == "duplicate_artefact")
                .map(|l| l["count"].as_u64().unwrap())
                .sum();
            o.events("duplicate_artefact").len() + suppressed as usize
        };
        assert!(
            wait_until(PATIENCE, || accounted() == duplicates),
            "{} duplicate lines and summaries for {duplicates} duplicates",
            accounted()
        );
        for d in o.events("duplicate_artefact") {
            let artefact = d["artefact_id"].as_str().unwrap();
            assert_eq!(d["existing_claim_id"], claim_of[artefact].as_str());
        }
        assert_all_json(o);
    }
}
