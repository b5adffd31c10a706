//! Probes get through: one peer holding idle connections well past the global
//! cap (2,048) takes at most its own 64; probes from another address answer
//! within 1 s each, and the refusals are logged rate-limited, counted exactly.

use sett_test_support as support;

use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

use support::verify::stop;
use support::*;

/// Connections the flood holds open at most (past the global cap of 2,048).
const FLOOD: usize = 3_000;
/// The global cap (src/http.rs MAX_CONNECTIONS).
const MAX_CONNECTIONS: usize = 2_048;
const FLOOD_PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[test]
fn a_flood_of_idle_connections_from_one_peer_leaves_room_for_probes() {
    raise_fd_limit(FLOOD as u64 + 256);
    let redis = RedisServer::start();
    let mut orch = Orchestrator::start(&redis, "probes");
    assert!(orch.wait_status("/readyz", 200));
    let port = orch.http_port;

    let (opened, done) = (AtomicUsize::new(0), AtomicBool::new(false));
    let probes = thread::scope(|s| {
        // Opens connections, about one a millisecond, and keeps every one open
        // (sending nothing) until told to stop. (Paced: the kernel's accept
        // queue is small, and a SYN it drops costs any client a 1 s retry.)
        s.spawn(|| {
            let mut held: Vec<TcpStream> = Vec::with_capacity(FLOOD);
            while !done.load(SeqCst) && held.len() < FLOOD {
                held.push(connect_from(FLOOD_PEER, port).expect("flood connect"));
                opened.fetch_add(1, SeqCst);
                thread::sleep(Duration::from_millis(1));
            }
            while !done.load(SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
        });
        let flooded = wait_until(PATIENCE, || opened.load(SeqCst) > MAX_CONNECTIONS);
        assert!(flooded, "only {} flood connections", opened.load(SeqCst));
        let probes: Vec<(u16, Duration)> = (0..10)
            .map(|_| {
                let t = Instant::now();
                let (status, _) = orch.get("/healthz");
                let took = t.elapsed();
                thread::sleep(Duration::from_millis(50));
                (status, took)
            })
            .collect();
        done.store(true, SeqCst);
        probes
    });
    for (status, took) in &probes {
        assert_eq!(*status, 200, "{probes:?}");
        assert!(*took < Duration::from_secs(1), "{probes:?}");
    }

    // Most of the flood was refused at once, not held against the global cap.
    let opened = opened.load(SeqCst) as u64;
    let refused = metric_value(&orch.get("/metrics").1, "http_connections_refused_total");
    assert!(
        refused >= opened / 2 && refused <= opened,
        "{refused} of {opened} refused"
    );
    // Logged at most 50 a second, the rest summed up; together exactly the count.
    let kind = "http_connection_refused";
    let summed = |orch: &Orchestrator| -> u64 {
        let logged = orch.events(kind).len() as u64;
        let suppressed: u64 = orch
            .events("log_lines_suppressed")
            .iter()
            .filter(|l| l["kind"] == kind)
            .map(|l| l["count"].as_u64().unwrap())
            .sum();
        logged + suppressed
    };
    let all = wait_until(PATIENCE, || summed(&orch) == refused);
    assert!(all, "{} lines for {refused} refusals", summed(&orch));
    let first = &orch.events(kind)[0];
    assert_eq!(first["peer"], "127.0.0.2");
    assert_eq!(first["open_limit"], 64);
    stop(&mut orch);
}
