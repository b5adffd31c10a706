//! The names under one instance (`{namespace}:{instance}:…`) that agents
//! use: the artefact, claim and bids hashes, threads, channels. The
//! orchestrator has its own; agents are other programs and spell their own.

/// Key and channel names under one prefix, e.g. `sett:lc` (no trailing colon).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix`: `{namespace}:{instance}`, e.g. `sett:lc` or `holt:prod`.
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.trim_end_matches(':').to_string(),
        }
    }

    /// `sett:lc` (no trailing colon).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}:` and `parts`, allocated once (agents name keys by the
    /// hundred thousand).
    fn name(&self, parts: &[&str]) -> String {
        let len = self.prefix.len() + 1 + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut out = String::with_capacity(len);
        out.push_str(&self.prefix);
        out.push(':');
        parts.iter().for_each(|p| out.push_str(p));
        out
    }

    /// A channel, e.g. `claim_events` or `agent:Coder:events`.
    pub fn channel(&self, name: &str) -> String {
        self.name(&[name])
    }

    /// An agent's grant channel.
    pub fn agent_events(&self, name: &str) -> String {
        self.name(&["agent:", name, ":events"])
    }

    pub fn artefact(&self, id: &str) -> String {
        self.name(&["artefact:", id])
    }

    pub fn claim(&self, id: &str) -> String {
        self.name(&["claim:", id])
    }

    pub fn bids(&self, claim: &str) -> String {
        self.name(&["claim:", claim, ":bids"])
    }

    pub fn thread(&self, logical_id: &str) -> String {
        self.name(&["thread:", logical_id])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_under_the_prefix() {
        let k = Keys::new("sett:lc:");
        assert_eq!(k.prefix(), "sett:lc");
        assert_eq!(k.channel("claim_events"), "sett:lc:claim_events");
        assert_eq!(k.agent_events("Coder"), "sett:lc:agent:Coder:events");
        assert_eq!(k.artefact("a"), "sett:lc:artefact:a");
        assert_eq!(k.claim("c"), "sett:lc:claim:c");
        assert_eq!(k.bids("c"), "sett:lc:claim:c:bids");
        assert_eq!(k.thread("l"), "sett:lc:thread:l");
    }
}
