//! HTTP basics of the probe responder: status codes, `Allow`, HEAD, bad and
//! oversized heads, JSON bodies ending in `\n` as the Go original's do.
//! (Abuse and floods are tested elsewhere.)

use sett_test_support as support;

use support::*;

/// Status code and headers (lowercased names) of a raw response.
fn head_of(response: &str) -> (u16, Vec<(String, String)>, &str) {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head end: {response:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .map(|l| {
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {l:?}"));
            (k.to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn probe_endpoints_answer_with_exact_statuses() {
    let redis = RedisServer::start();
    let orch = Orchestrator::start(&redis, "web");
    let port = orch.http_port;
    assert!(orch.wait_status("/healthz", 200));

    assert_eq!(
        orch.get("/livez"),
        (200, "{\"status\":\"alive\"}\n".to_string())
    );
    assert_eq!(
        orch.get("/healthz"),
        (
            200,
            "{\"status\":\"healthy\",\"redis\":\"connected\"}\n".to_string()
        )
    );
    assert_eq!(
        orch.get("/readyz"),
        (
            200,
            "{\"status\":\"healthy\",\"redis\":\"connected\"}\n".to_string()
        )
    );
    assert_eq!(
        orch.get("/nope"),
        (404, "{\"error\":\"not found\"}\n".to_string())
    );
    assert_eq!(orch.get("/healthz/extra").0, 404);

    let (status, metrics) = orch.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("\nsett_orchestrator_redis_up 1\n"),
        "{metrics}"
    );

    let post = http_exchange(
        port,
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    let (status, headers, body) = head_of(&post);
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "allow"), Some("GET, HEAD"));
    assert_eq!(body, "{\"error\":\"method not allowed\"}\n");

    // HEAD: the GET head (same Content-Length), no body.
    let head = http_exchange(port, b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    let (status, headers, body) = head_of(&head);
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-length"), Some("41"));
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(body, "");
    assert!(head.ends_with("\r\n\r\n"));

    let garbage = http_exchange(port, b"\x16\x03\x01\x00\xa5 definitely not http\r\n\r\n");
    let (status, _, body) = head_of(&garbage);
    assert_eq!(status, 400);
    assert_eq!(body, "{\"error\":\"bad request\"}\n");
    assert_eq!(
        head_of(&http_exchange(port, b"NOT HTTP AT ALL\r\n\r\n")).0,
        400
    );

    let mut big = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: ".to_vec();
    big.resize(9 * 1024, b'a');
    big.extend_from_slice(b"\r\n\r\n");
    let too_large = http_exchange(port, &big);
    let (status, _, body) = head_of(&too_large);
    assert_eq!(status, 431);
    assert_eq!(body, "{\"error\":\"request head too large\"}\n");

    // Still serving after all of that.
    assert_eq!(orch.get("/livez").0, 200);
    assert_all_json(&orch);
}

/// A client that sends no complete head within 1 s gets 408 and is closed.
#[test]
fn a_head_not_sent_within_1s_gets_408() {
    let redis = RedisServer::start();
    let orch = Orchestrator::start(&redis, "web408");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", orch.http_port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let t = std::time::Instant::now();
    std::io::Write::write_all(&mut s, b"GET /healthz HTTP/1.1\r\nHost:").unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
    let waited = t.elapsed();
    let (status, _, body) = head_of(&answer);
    assert_eq!(status, 408);
    assert_eq!(
        body,
        "{\"error\":\"request head not received within 1s\"}\n"
    );
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "closed after {waited:?}"
    );
}
