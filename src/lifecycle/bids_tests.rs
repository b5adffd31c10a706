//! `bids::parse` (our scanner, serde_json for the shapes it leaves) against
//! serde_json alone (`bids::parse_with_serde`, the parse it replaced, as the
//! oracle): a corpus of tricky messages, then random workflow messages and
//! mutations of them. Each also checks that the scanner, not the fallback,
//! read the usual messages, else these tests would prove less than they seem.

use super::bids::{parse, parse_with_serde, NotABid};
use super::workflow_message::{scan, MAX_SKIP_DEPTH};

const ID: &str = "4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6";

fn check(msg: &[u8]) {
    assert_eq!(
        parse(msg),
        parse_with_serde(msg),
        "{}",
        String::from_utf8_lossy(msg)
    );
}

#[test]
fn the_messages_on_the_channel_are_read_by_the_scanner() {
    let bid = format!(
        r#"{{"event":"bid_submitted","data":{{"agent_name":"Coder","bid_type":"exclusive","claim_id":"{ID}"}}}}"#
    );
    let granted = format!(
        r#"{{"event":"claim_granted","data":{{"agent_image_id":"","agent_name":"A","claim_id":"{ID}","grant_type":"review"}}}}"#
    );
    let rejected = r#"{"event":"review_rejected","data":{"feedback":"no \"tests\"\n\u00e9","original_artefact_id":"a","reviewer_role":"r"}}"#;
    for msg in [bid.as_str(), &granted, rejected] {
        assert!(scan(msg.as_bytes()).is_some(), "{msg}");
        check(msg.as_bytes());
    }
}

#[test]
fn the_corpus_gets_serde_json_s_verdicts() {
    let corpus: &[&[u8]] = &[
        b"",
        b" ",
        b"{}",
        b"[]",
        b"null",
        b"\"bid_submitted\"",
        br#"{"event":"bid_submitted"}"#,
        br#"{"event":"bid_submitted","data":null}"#,
        br#"{"event":"bid_submitted","data":{}}"#,
        br#"{"event":"bid_submitted","data":[]}"#,
        br#"{"event":"bid_submitted","data":["4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6","A","x"]}"#,
        br#"["bid_submitted",{"claim_id":"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6"}]"#,
        br#"["bid_submitted"]"#,
        br#"["x",1]"#,
        br#"{"event":"bid_submitted","data":{"claim_id":"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6"}}"#,
        br#"{"event":"bid_submitted","data":{"claim_id":"4A7C8F1E2B3D4C5E8F90A1B2C3D4E5F6","agent_name":null}}"#,
        br#"{"event":"bid_submitted","data":{"claim_id":"urn:uuid:4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6","bid_type":7}}"#,
        br#"{"event":"bid_submitted","data":{"claim_id":"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6","claim_id":null}}"#,
        br#"{"event":"bid_submitted","data":{"claim_id":"../x"}}"#,
        br#"{"event":"bid_submitted","data":{"claim_id":5}}"#,
        br#"{"event":"bid_submitted","event":"bid_submitted","data":{}}"#,
        br#"{"event":"x","data":{},"data":{}}"#,
        br#"{"event":"x","data":5}"#,
        br#"{"event":"x","data":{"claim_id":5}}"#,
        br#"{"event":5}"#,
        br#"{"event":null,"data":{}}"#,
        br#"{"event":"x","y":01}"#,
        br#"{"event":"x","y":-}"#,
        br#"{"event":"x","y":1.}"#,
        br#"{"event":"x","y":1e}"#,
        br#"{"event":"x","y":1E+5,"z":-0.0e-0}"#,
        br#"{"event":"x","y":tru}"#,
        br#"{"event":"x","y":nulll}"#,
        br#"{"event":"x","y":"\u12"}"#,
        br#"{"event":"x","y":"\ud800"}"#,
        br#"{"event":"bid_submitted","data":{"claim_id":"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6","agent_name":"\ud800"}}"#,
        br#"{"event":"x","y":{"a":1,}}"#,
        br#"{"event":"x","y":[1 2]}"#,
        br#"{"event":"x","y":{"a" 1}}"#,
        br#"{"event":"x","y":{1:1}}"#,
        br#"{"event":"x",}"#,
        br#"{,"event":"x"}"#,
        br#"{"event":"x"}}"#,
        br#"{"event":"x"} {}"#,
        b"{\"event\":\"x\"}\x0c",
        b"\xef\xbb\xbf{\"event\":\"x\"}",
        b"{\"event\":\"x\",\"y\":\"\xff\"}",
        b"{\"event\":\"x\",\"\xff\":1}",
        b"{\"event\":\"x\",\"y\":{\"\xff\":1}}",
        b"{\"event\":\"\xc3\xa9\"}",
        b"{\"event\":\"claim_granted\",\"data\":{\"claim_id\":5,\"\xff\":1}}",
        b"{\"data\":{\"claim_id\":5,\"\xff\":1},\"event\":\"claim_granted\"}",
        b"{\"event\":\"bid_submitted\",\"data\":{\"\xff\":1}}",
        b"{\"event\":\"bid_submitted\",\"data\":{\"\xc3\xa9\":1}}",
        b"{\"event\":\"x\",\"y\":\"\x7f\"}",
        b"{\"event\":\"x\",\"y\":\"\x1f\"}",
        b"{\"event\":\"bid_submitted\",\"data\":{\"claim_id\":\"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6\",\"agent_name\":\"\xc3\xa9\xff\"}}",
        b"\t{\r\n\"event\" :\"x\" ,\"data\" : { } }\n",
        br#"{"Event":"bid_submitted"}"#,
        br#"{"\u0065vent":"bid_submitted","data":{"claim_\u0069d":"4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6"}}"#,
    ];
    for msg in corpus {
        check(msg);
    }
    for levels in [MAX_SKIP_DEPTH - 1, MAX_SKIP_DEPTH, MAX_SKIP_DEPTH + 1, 1000] {
        let msg = format!(
            r#"{{"event":"bid_submitted","x":{}{},"data":{{"claim_id":"{ID}"}}}}"#,
            "[{\"a\":".repeat(levels),
            "}]".repeat(levels)
        );
        check(msg.as_bytes());
    }
}

const KEYS: &[&str] = &[
    "event",
    "data",
    "claim_id",
    "agent_name",
    "bid_type",
    "x",
    "",
    "\\u0065vent",
    "claim_\\u0069d",
    "\u{e9}",
];
const TEXTS: &[&str] = &[
    "bid_submitted",
    "claim_granted",
    "bid_\\u0073ubmitted",
    ID,
    "{4A7C8F1E-2B3D-4C5E-8F90-A1B2C3D4E5F6}",
    "urn:uuid:4a7c8f1e-2b3d-4c5e-8f90-a1b2c3d4e5f6",
    "../x",
    "",
    "Coder",
    "exclusive",
    "\\n\\\"\\/",
    "\\ud800",
    "\u{e9}",
];
const OTHERS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1.5e3",
    "[]",
    "{}",
    "[1,{\"a\":[]}]",
    "1e400",
];

/// A deterministic generator (a 64-bit LCG), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// An object of up to `n` members with the keys above.
    fn object(&mut self, out: &mut String, n: usize, depth: usize) {
        out.push('{');
        for i in 0..self.below(n + 1) {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"{}\":", self.pick(KEYS)));
            self.value(out, depth + 1);
        }
        out.push('}');
    }

    fn value(&mut self, out: &mut String, depth: usize) {
        match self.below(if depth > 2 { 2 } else { 4 }) {
            0 => out.push_str(&format!("\"{}\"", self.pick(TEXTS))),
            1 => out.push_str(self.pick(OTHERS)),
            2 => self.object(out, 4, depth),
            _ => {
                out.push('[');
                for i in 0..self.below(3) {
                    if i > 0 {
                        out.push(',');
                    }
                    self.value(out, depth + 1);
                }
                out.push(']');
            }
        }
    }

    /// A message shaped like the channel's: `event`, then `data` (each
    /// most of the time), in either order, maybe with another member.
    fn message(&mut self) -> String {
        let name = match self.below(2) {
            0 => "bid_submitted",
            _ => self.pick(TEXTS),
        };
        let event = format!("\"event\":\"{name}\"");
        let mut data = String::from("\"data\":");
        match self.below(4) {
            0 => self.value(&mut data, 1),
            1 => self.object(&mut data, 4, 1),
            _ => {
                // A bid's data, its fields in any order, maybe one more.
                let mut fields = vec![
                    format!("\"claim_id\":\"{}\"", [ID, self.pick(TEXTS)][self.below(2)]),
                    format!("\"agent_name\":\"{}\"", self.pick(TEXTS)),
                    format!("\"bid_type\":\"{}\"", self.pick(TEXTS)),
                ];
                let mut other = format!("\"{}\":", self.pick(KEYS));
                self.value(&mut other, 2);
                fields.push(other);
                let n = fields.len();
                fields.swap(self.below(n), self.below(n));
                fields.truncate(1 + self.below(n));
                data.push_str(&format!("{{{}}}", fields.join(",")));
            }
        }
        let mut members = vec![event, data];
        if self.below(3) == 0 {
            let mut other = format!("\"{}\":", self.pick(KEYS));
            self.value(&mut other, 1);
            members.insert(self.below(3), other);
        }
        if self.below(2) == 0 {
            members.swap(0, 1);
        }
        if self.below(8) == 0 {
            members.remove(self.below(members.len()));
        }
        format!("{{{}}}", members.join(","))
    }

    fn mutate(&mut self, msg: &mut Vec<u8>) {
        const BYTES: &[u8] = b"{}[]\",:\\ \x00\x1f\xff\xc3e-.0un";
        for _ in 0..1 + self.below(2) {
            if msg.is_empty() {
                return;
            }
            let at = self.below(msg.len());
            match self.below(4) {
                0 => {
                    msg.remove(at);
                }
                1 => msg.insert(at, BYTES[self.below(BYTES.len())]),
                2 => msg[at] = BYTES[self.below(BYTES.len())],
                _ => msg.truncate(at),
            }
        }
    }
}

/// 30,000 messages, half of them mutated; every verdict is reached, and
/// the scanner reads a good share of them (the rest go to serde_json).
#[test]
fn random_messages_and_mutations_get_serde_json_s_verdicts() {
    let mut gen = Gen(0x5EED_B1D5);
    let mut verdicts = std::collections::BTreeMap::new();
    let mut scanned = 0;
    for round in 0..30_000 {
        let mut msg = gen.message().into_bytes();
        if round % 2 == 1 {
            gen.mutate(&mut msg);
        }
        let want = parse_with_serde(&msg);
        assert_eq!(parse(&msg), want, "{}", String::from_utf8_lossy(&msg));
        scanned += usize::from(scan(&msg).is_some());
        *verdicts
            .entry(format!("{:?}", want.map(|_| ())))
            .or_insert(0) += 1;
    }
    assert_eq!(verdicts.len(), 4, "{verdicts:?}");
    assert!(verdicts.values().all(|&n| n >= 100), "{verdicts:?}");
    assert!(scanned >= 5_000, "{scanned}");
}

#[test]
fn bid_events_parse() {
    let msg = format!(
        r#"{{"event":"bid_submitted","data":{{"agent_name":"Coder","bid_type":"exclusive","claim_id":"{ID}"}}}}"#
    );
    let bid = parse(msg.as_bytes()).unwrap();
    assert_eq!(bid.claim_id.as_str(), ID);
    assert_eq!(bid.agent_name, "Coder");
    assert_eq!(bid.bid_type, "exclusive");
}

#[test]
fn everything_else_is_not_a_bid() {
    let granted = format!(
        r#"{{"event":"claim_granted","data":{{"agent_image_id":"","agent_name":"A","claim_id":"{ID}","grant_type":"review"}}}}"#
    );
    assert_eq!(parse(granted.as_bytes()), Err(NotABid::OtherEvent));
    assert_eq!(parse(b"not json"), Err(NotABid::Malformed));
    // Data that does not fit a bid's shape makes only a bid malformed.
    assert_eq!(
        parse(br#"{"event":"claim_granted","data":{"claim_id":5}}"#),
        Err(NotABid::OtherEvent)
    );
    assert_eq!(
        parse(br#"{"event":"claim_granted","data":[1]}"#),
        Err(NotABid::OtherEvent)
    );
    assert_eq!(parse(b"{}"), Err(NotABid::Malformed));
    assert_eq!(
        parse(br#"{"event":"bid_submitted"}"#),
        Err(NotABid::BadClaimId)
    );
    assert_eq!(
        parse(br#"{"event":"bid_submitted","data":{"claim_id":"../x"}}"#),
        Err(NotABid::BadClaimId)
    );
    assert_eq!(
        parse(br#"{"event":"bid_submitted","data":{"claim_id":5}}"#),
        Err(NotABid::Malformed)
    );
}

/// Fields are borrowed from the message unless they hold escapes, which
/// are read as before.
#[test]
fn escaped_fields_read_as_their_text() {
    let msg = format!(
        r#"{{"event":"bid_\u0073ubmitted","data":{{"claim_id":"{ID}","agent_name":"Co\"der","bid_type":"exclu\u0073ive"}}}}"#
    );
    let bid = parse(msg.as_bytes()).unwrap();
    assert_eq!(bid.agent_name, "Co\"der");
    assert_eq!(bid.bid_type, "exclusive");
    assert_eq!(bid.claim_id.as_str(), ID);
    let other = r#"{"event":"claim_gr\u0061nted","data":{"claim_id":5}}"#;
    assert_eq!(parse(other.as_bytes()), Err(NotABid::OtherEvent));
}
