//! A script call's arguments and their encoding as one FCALL or EVALSHA
//! command (the call itself, script and all, is `scripts::Call`).
//!
//! The lifecycle's and the workers' decisions all start their ARGV with the
//! same few arguments (prefix, registry size, review limit), then a fresh
//! seed, and end it with the whole registry. Those are the same text for
//! every call of a session: a call holds them once, shared ([`Frame`]), and
//! they are written straight into the command when it is encoded, instead
//! of being copied into new `String`s for every call (about a dozen
//! allocations per call, several calls per claim; docs/performance.md,
//! "Issue 15 §6").

use std::fmt::Write;
use std::sync::Arc;

use uuid::Uuid;

/// The arguments a call shares with the others of its kind, and its seed.
pub struct Framed {
    pub frame: Arc<Frame>,
    pub seed: Uuid,
}

/// Arguments that are the same for many calls: `head` starts their ARGV
/// (before the seed), `tail` ends it.
///
/// A frame made `for_registry` also has the registry's tag: its library
/// calls send the tag instead of the registry (`tail`), and the registry only
/// when the library answers [`NO_REGISTRY`] ([`Registry`]).
#[derive(Debug, Default)]
pub struct Frame {
    pub head: Vec<String>,
    pub tail: Vec<String>,
    /// ARGV[2] of a library call: `@<tag>` (the registry not sent), and
    /// `<count>@<tag>` (sent, to be kept under the tag).
    tagged: Option<(String, String)>,
}

/// The error code of a library call that found no registry kept under its
/// tag (lib.lua's `begin`): nothing ran; it is sent again with the registry.
pub const NO_REGISTRY: &str = "NOREGISTRY";

/// How a call carries the registry (lib.lua's `ARGV[2]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registry {
    /// Sent, for this call only (a script: nothing outlives a call).
    Sent,
    /// Named by its tag only (a library call).
    Tagged,
    /// Sent with its tag, for the library to keep (a library call again
    /// after [`NO_REGISTRY`], or after the library was loaded).
    Kept,
}

impl Frame {
    /// The frame every lifecycle and worker script call shares (lib.lua's
    /// ARGV): the key prefix, the registry's size and the review limit
    /// first; the registry itself last. The tag is 16 hex digits of the
    /// SHA1 of the size and every registry argument, each with its length:
    /// another registry has another tag (docs/performance.md, "The registry
    /// sent once").
    pub fn for_registry(prefix: &str, registry: &crate::config::registry::Registry) -> Frame {
        let (agents, tail) = registry.script_args();
        let mut text = agents.clone();
        for arg in &tail {
            let _ = write!(text, "\n{}:{arg}", arg.len());
        }
        let tag = redis::Script::new(&text).get_hash()[..16].to_string();
        let tagged = Some((format!("@{tag}"), format!("{agents}@{tag}")));
        let head = vec![
            prefix.to_string(),
            agents,
            registry.max_review_iterations.to_string(),
        ];
        Frame { head, tail, tagged }
    }
}

/// The command `verb name numkeys KEYS… ARGV…` (verb FCALL or EVALSHA,
/// name the function or the SHA), ARGV being, in order: the frame's
/// `head`, the seed (both only with a frame), `args`, the frame's `tail`;
/// with a tagged frame and `registry` not [`Registry::Sent`], `ARGV[2]` is the
/// tag and, when [`Registry::Tagged`], the tail is left out.
pub fn command(
    verb: &str,
    name: &str,
    keys: &[String],
    frame: Option<&Framed>,
    args: &[String],
    registry: Registry,
) -> redis::Cmd {
    let (head, mut tail): (&[String], &[String]) = match frame {
        Some(f) => (&f.frame.head, &f.frame.tail),
        None => (&[], &[]),
    };
    let tagged = frame.and_then(|f| f.frame.tagged.as_ref());
    // ARGV[2] in place of the head's own.
    let spec = match (tagged, registry) {
        (Some((tag, _)), Registry::Tagged) => {
            tail = &[];
            Some(tag.as_str())
        }
        (Some((_, kept)), Registry::Kept) => Some(kept.as_str()),
        _ => None,
    };
    let seeds = usize::from(frame.is_some());
    let texts = || keys.iter().chain(head).chain(args).chain(tail);
    // Sized up front: growing the command's buffers argument by argument
    // cost several reallocations per call.
    let count = 3 + keys.len() + head.len() + seeds + args.len() + tail.len();
    let bytes = verb.len()
        + name.len()
        + 4
        + 36 * seeds
        + spec.map_or(0, str::len)
        + texts().map(String::len).sum::<usize>();
    let mut cmd = redis::Cmd::with_capacity(count, bytes);
    cmd.arg(verb).arg(name).arg(keys.len());
    for arg in keys {
        cmd.arg(arg.as_str());
    }
    for (i, arg) in head.iter().enumerate() {
        match spec {
            Some(spec) if i == 1 => cmd.arg(spec),
            _ => cmd.arg(arg.as_str()),
        };
    }
    if let Some(f) = frame {
        let mut seed = [0u8; 36];
        cmd.arg(&*f.seed.hyphenated().encode_lower(&mut seed));
    }
    for arg in args.iter().chain(tail) {
        cmd.arg(arg.as_str());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command's arguments, as text.
    fn args(cmd: &redis::Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8(b.to_vec()).unwrap(),
                _ => "<not simple>".to_string(),
            })
            .collect()
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_framed_call_sends_head_seed_args_tail_after_its_keys() {
        let seed = Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef);
        let frame = Framed {
            frame: Arc::new(Frame {
                head: strings(&["p:", "3", "2"]),
                tail: strings(&["Coder", "Docs", "coder", "docs"]),
                tagged: None,
            }),
            seed,
        };
        let keys = strings(&["k1", "k2"]);
        let cmd = command(
            "FCALL",
            "f",
            &keys,
            Some(&frame),
            &strings(&["a", "b"]),
            Registry::Sent,
        );
        let seed = "01234567-89ab-4def-8123-456789abcdef";
        assert_eq!(
            args(&cmd),
            strings(&[
                "FCALL", "f", "2", "k1", "k2", "p:", "3", "2", seed, "a", "b", "Coder", "Docs",
                "coder", "docs"
            ])
        );
    }

    #[test]
    fn an_unframed_call_sends_its_keys_and_args() {
        let cmd = command(
            "EVALSHA",
            "abc",
            &strings(&["k"]),
            None,
            &strings(&["x", ""]),
            Registry::Tagged,
        );
        assert_eq!(args(&cmd), strings(&["EVALSHA", "abc", "1", "k", "x", ""]));
    }

    /// A library call names its registry by tag, and sends it only to be
    /// kept; another registry has another tag.
    #[test]
    fn a_tagged_call_sends_the_registry_only_to_be_kept() {
        use crate::config::registry::Registry as Agents;
        let yaml = "version: \"1.0\"\nagents:\n  Coder: {}\n  Docs: {}\n";
        let registry = Agents::parse(yaml).unwrap();
        let frame = Arc::new(Frame::for_registry("p:", &registry));
        let (tag, kept) = frame.tagged.clone().unwrap();
        assert_eq!(tag.len(), 17);
        assert_eq!(kept, format!("2{tag}"));
        let framed = Framed {
            frame,
            seed: Uuid::nil(),
        };
        let seed = "00000000-0000-0000-0000-000000000000";
        let call = |registry| {
            args(&command(
                "FCALL",
                "f",
                &[],
                Some(&framed),
                &strings(&["a"]),
                registry,
            ))
        };
        let head = |spec: &str| strings(&["FCALL", "f", "0", "p:", spec, "3", seed, "a"]);
        assert_eq!(call(Registry::Tagged), head(&tag));
        let tail = strings(&["Coder", "Docs", "Coder", "Docs"]);
        assert_eq!(call(Registry::Kept), [head(&kept), tail.clone()].concat());
        assert_eq!(call(Registry::Sent), [head("2"), tail].concat());
        let other = Agents::parse("version: \"1.0\"\nagents:\n  Coder: {}\n  Lint: {}\n").unwrap();
        let other = Frame::for_registry("p:", &other);
        assert_ne!(other.tagged.unwrap().0, tag);
    }
}
