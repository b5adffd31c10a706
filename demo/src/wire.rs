//! The blackboard as a client sees it: key and channel names, artefacts read
//! from their hash or their event, and written the way Sett's producers and
//! agents write them (HSET the hash, ZADD the thread, then PUBLISH the event:
//! `lifecycle-contract.md` section 8).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use serde_json::Value;

/// Names under one instance: `{p}:{i}:…`.
#[derive(Clone, Debug)]
pub struct Keys {
    /// `sett:demo` (no trailing colon).
    pub prefix: String,
}

impl Keys {
    pub fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    pub fn artefact(&self, id: &str) -> String {
        format!("{}:artefact:{id}", self.prefix)
    }

    pub fn claim(&self, id: &str) -> String {
        format!("{}:claim:{id}", self.prefix)
    }

    pub fn bids(&self, claim: &str) -> String {
        format!("{}:claim:{claim}:bids", self.prefix)
    }

    pub fn thread(&self, logical_id: &str) -> String {
        format!("{}:thread:{logical_id}", self.prefix)
    }
}

/// One artefact, with the fields agents and the timeline look at.
#[derive(Clone, Debug, Default)]
pub struct Artefact {
    pub id: String,
    pub logical_id: String,
    pub version: i64,
    pub structural_type: String,
    /// The domain `type` (`GoalDefined`, `Patch`, …).
    pub kind: String,
    pub payload: String,
    pub sources: Vec<String>,
    pub role: String,
}

impl Artefact {
    /// New work: a fresh id that is also its logical id, version 1.
    pub fn new(structural_type: &str, kind: &str, payload: &str, role: &str) -> Artefact {
        let id = uuid::Uuid::new_v4().to_string();
        Artefact {
            logical_id: id.clone(),
            id,
            version: 1,
            structural_type: structural_type.into(),
            kind: kind.into(),
            payload: payload.into(),
            sources: Vec::new(),
            role: role.into(),
        }
    }

    /// The hash as the Go agent decodes it: `None` (no bid at all) when it is
    /// missing, `version` is no integer or `source_artefacts` no JSON array.
    pub fn from_hash(h: &HashMap<String, String>) -> Option<Artefact> {
        let sources: Option<Vec<String>> = serde_json::from_str(h.get("source_artefacts")?).ok()?;
        let field = |k: &str| h.get(k).cloned().unwrap_or_default();
        Some(Artefact {
            id: field("id"),
            logical_id: field("logical_id"),
            version: h.get("version")?.parse().ok()?,
            structural_type: field("structural_type"),
            kind: field("type"),
            payload: field("payload"),
            sources: sources.unwrap_or_default(),
            role: field("produced_by_role"),
        })
    }

    /// An `artefact_events` message.
    pub fn from_event(v: &Value) -> Option<Artefact> {
        let text = |k: &str| v[k].as_str().map(String::from);
        Some(Artefact {
            id: text("id")?,
            logical_id: text("logical_id").unwrap_or_default(),
            version: v["version"].as_i64().unwrap_or(0),
            structural_type: text("structural_type").unwrap_or_default(),
            kind: text("type").unwrap_or_default(),
            payload: text("payload").unwrap_or_default(),
            sources: serde_json::from_value(v["source_artefacts"].clone()).unwrap_or_default(),
            role: text("produced_by_role").unwrap_or_default(),
        })
    }

    pub async fn read(
        conn: &mut MultiplexedConnection,
        keys: &Keys,
        id: &str,
    ) -> redis::RedisResult<Option<Artefact>> {
        let h: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(keys.artefact(id))
            .query_async(conn)
            .await?;
        Ok(Artefact::from_hash(&h))
    }

    /// HSET the hash (with `created_at_ms`), ZADD its thread, then publish
    /// the event (Go's `Artefact` struct: fields in this order).
    pub async fn write(
        &self,
        conn: &mut MultiplexedConnection,
        keys: &Keys,
    ) -> redis::RedisResult<()> {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let sources = serde_json::to_string(&self.sources).unwrap_or_else(|_| "[]".into());
        let version = self.version.to_string();
        let created_text = created.to_string();
        redis::cmd("HSET")
            .arg(keys.artefact(&self.id))
            .arg(&[
                ("id", self.id.as_str()),
                ("logical_id", &self.logical_id),
                ("version", &version),
                ("structural_type", &self.structural_type),
                ("type", &self.kind),
                ("payload", &self.payload),
                ("source_artefacts", &sources),
                ("produced_by_role", &self.role),
                ("created_at_ms", &created_text),
            ])
            .query_async::<()>(conn)
            .await?;
        redis::cmd("ZADD")
            .arg(keys.thread(&self.logical_id))
            .arg(self.version)
            .arg(&self.id)
            .query_async::<()>(conn)
            .await?;
        let event = format!(
            r#"{{"id":{},"logical_id":{},"version":{},"structural_type":{},"type":{},"payload":{},"source_artefacts":{sources},"produced_by_role":{},"created_at_ms":{created}}}"#,
            go_str(&self.id),
            go_str(&self.logical_id),
            self.version,
            go_str(&self.structural_type),
            go_str(&self.kind),
            go_str(&self.payload),
            go_str(&self.role),
        );
        publish(conn, keys, "artefact_events", &event).await
    }
}

/// `{"event":…,"data":{…}}` on `workflow_events`, as the Go agents send it
/// (`data` is a Go map: keys sorted, so callers list them sorted).
pub async fn workflow_event(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    event: &str,
    data: &[(&str, Value)],
) -> redis::RedisResult<()> {
    let fields: Vec<String> = data
        .iter()
        .map(|(k, v)| format!("{}:{}", go_str(k), go_json(v)))
        .collect();
    let message = format!(
        r#"{{"event":{},"data":{{{}}}}}"#,
        go_str(event),
        fields.join(",")
    );
    publish(conn, keys, "workflow_events", &message).await
}

pub async fn publish(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    channel: &str,
    message: &str,
) -> redis::RedisResult<()> {
    redis::cmd("PUBLISH")
        .arg(keys.channel(channel))
        .arg(message)
        .query_async::<i64>(conn)
        .await
        .map(drop)
}

/// A JSON string as Go's encoder writes it (`<`, `>`, `&` escaped).
pub fn go_str(s: &str) -> String {
    go_json(&Value::from(s))
}

fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `3f2a1b…`: the first six characters of an id.
pub fn short(id: &str) -> String {
    format!("{}…", id.get(..6).unwrap_or(id))
}

/// `text` with every UUID in it shortened (reasons and Failure payloads name ids).
pub fn shorten_ids(text: &str) -> String {
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let mut out = String::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.get(..36).filter(|s| is_uuid(s)) {
            Some(id) => {
                out.push_str(&short(id));
                rest = &rest[36..];
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shortened_inside_text() {
        let id = "3f2a1b00-0000-4000-8000-000000000001";
        assert_eq!(
            shorten_ids(&format!("See artefacts: [{id} {id}]")),
            "See artefacts: [3f2a1b… 3f2a1b…]"
        );
        assert_eq!(shorten_ids("no ids, naïve"), "no ids, naïve");
    }

    #[test]
    fn strings_are_escaped_as_go_does() {
        assert_eq!(go_str("a<b>&\"c"), r#""a\u003cb\u003e\u0026\"c""#);
    }

    #[test]
    fn a_hash_the_go_agent_cannot_decode_is_none() {
        let mut h: HashMap<String, String> = [
            ("id", "a"),
            ("version", "2"),
            ("source_artefacts", "null"),
            ("type", "Patch"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let a = Artefact::from_hash(&h).unwrap();
        assert_eq!(
            (a.version, a.sources.len(), a.kind.as_str()),
            (2, 0, "Patch")
        );
        h.insert("version".into(), "two".into());
        assert!(Artefact::from_hash(&h).is_none());
        h.insert("version".into(), "2".into());
        h.insert("source_artefacts".into(), "[".into());
        assert!(Artefact::from_hash(&h).is_none());
    }
}
