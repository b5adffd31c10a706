//! Redis commands built at their final size: sett-bench's agents build
//! hundreds of thousands a run, and a command grown argument by argument
//! reallocates several times (half of the agents' allocations, measured).

use crate::keys::Keys;
use crate::wire::Msg;

/// `name args…`, allocated once.
pub fn command(name: &str, args: &[&[u8]]) -> redis::Cmd {
    let bytes = name.len() + args.iter().map(|a| a.len()).sum::<usize>();
    let mut cmd = redis::Cmd::with_capacity(args.len() + 1, bytes);
    cmd.arg(name);
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

/// `PUBLISH {prefix}:{channel} payload`.
pub fn publish(keys: &Keys, msg: &Msg) -> redis::Cmd {
    let channel = keys.channel(&msg.channel);
    command("PUBLISH", &[channel.as_bytes(), msg.payload.as_bytes()])
}

/// `HMGET key fields…`: one value (or nil) per field.
pub fn hmget(key: &str, fields: &[&str]) -> redis::Cmd {
    let mut args = vec![key.as_bytes()];
    args.extend(fields.iter().map(|f| f.as_bytes()));
    command("HMGET", &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_hold_their_arguments() {
        let keys = Keys::new("sett:x");
        let cmd = publish(&keys, &Msg::new("claim_events", "{}"));
        let args: Vec<&[u8]> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(a) => a,
                _ => b"?",
            })
            .collect();
        assert_eq!(args, [&b"PUBLISH"[..], b"sett:x:claim_events", b"{}"]);
        assert_eq!(hmget("k", &["a", "b"]).args_iter().count(), 4);
    }
}
