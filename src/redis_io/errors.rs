//! Which Redis errors end a session: the connection is gone, or the server
//! stopped being a writable primary. Everything else a decision meets (OOM,
//! MISCONF, NOREPLICAS, BUSY…) is that decision's failure alone.

use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

/// True when the connection itself is gone.
pub fn is_connection_lost(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// True when an error must end the session: the connection is gone, or the
/// server stopped being a writable primary (`READONLY` after a failover,
/// `MASTERDOWN`), so reconnecting may reach the new primary. Other error
/// replies (OOM, MISCONF, NOREPLICAS, BUSY…) leave the session up.
pub fn ends_session(e: &RedisError) -> bool {
    is_connection_lost(e)
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// The error an error reply's text names (`OOM command not allowed…`), as
/// if Redis had answered it to a command of its own: its code read into the
/// same kind. Line breaks in the text become spaces.
pub fn error_from_reply(text: &str) -> RedisError {
    let line: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    match redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).and_then(Value::extract_error)
    {
        Err(e) => e,
        Ok(_) => RedisError::from((ErrorKind::Client, "error reply", line)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_and_masterdown_end_the_session_other_refusals_do_not() {
        let reply = error_from_reply;
        for text in [
            "READONLY You can't write against a read only replica.",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        ] {
            assert!(ends_session(&reply(text)), "{text}");
        }
        for text in [
            "NOREPLICAS Not enough good replicas to write.",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "BUSY Redis is busy running a script.",
            "ERR unknown command",
        ] {
            assert!(!ends_session(&reply(text)), "{text}");
        }
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(ends_session(&io) && is_connection_lost(&io));
    }
}
