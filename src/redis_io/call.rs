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

use std::sync::Arc;

use uuid::Uuid;

use crate::config::registry::Registry;

/// The arguments a call shares with the others of its kind, and its seed.
pub struct Framed {
    pub frame: Arc<Frame>,
    pub seed: Uuid,
}

/// Arguments that are the same for many calls: `head` starts their ARGV
/// (before the seed), `tail` ends it.
#[derive(Debug, Default)]
pub struct Frame {
    pub head: Vec<String>,
    pub tail: Vec<String>,
}

impl Frame {
    /// The frame every lifecycle and worker script call shares (lib.lua's
    /// ARGV): the key prefix, the registry's size and the review limit
    /// first; the registry itself last.
    pub fn for_registry(prefix: &str, registry: &Registry) -> Frame {
        let (agents, tail) = registry.script_args();
        let head = vec![
            prefix.to_string(),
            agents,
            registry.max_review_iterations.to_string(),
        ];
        Frame { head, tail }
    }
}

/// The command `verb name numkeys KEYS… ARGV…` (verb FCALL or EVALSHA,
/// name the function or the SHA), ARGV being, in order: the frame's
/// `head`, the seed (both only with a frame), `args`, the frame's `tail`.
pub fn command(
    verb: &str,
    name: &str,
    keys: &[String],
    frame: Option<&Framed>,
    args: &[String],
) -> redis::Cmd {
    let (head, tail): (&[String], &[String]) = match frame {
        Some(f) => (&f.frame.head, &f.frame.tail),
        None => (&[], &[]),
    };
    let seeds = usize::from(frame.is_some());
    let texts = || keys.iter().chain(head).chain(args).chain(tail);
    // Sized up front: growing the command's buffers argument by argument
    // cost several reallocations per call.
    let count = 3 + keys.len() + head.len() + seeds + args.len() + tail.len();
    let bytes = verb.len() + name.len() + 4 + 36 * seeds + texts().map(String::len).sum::<usize>();
    let mut cmd = redis::Cmd::with_capacity(count, bytes);
    cmd.arg(verb).arg(name).arg(keys.len());
    for arg in keys.iter().chain(head) {
        cmd.arg(arg.as_str());
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
            }),
            seed,
        };
        let keys = strings(&["k1", "k2"]);
        let cmd = command("FCALL", "f", &keys, Some(&frame), &strings(&["a", "b"]));
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
        );
        assert_eq!(args(&cmd), strings(&["EVALSHA", "abc", "1", "k", "x", ""]));
    }
}
