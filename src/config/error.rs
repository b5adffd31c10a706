//! What is wrong with the configuration: one [`ConfigError`] per variable or
//! registry file, worded for the operator, and [`printable`], how a bad value
//! is shown in one. Apart from `Config` because the file readers (`ca_file`,
//! `registry_file`) and the registry give these errors too.

use std::fmt;

/// What is wrong with the environment (or the registry it points to).
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    Missing(&'static str),
    Invalid {
        var: &'static str,
        reason: String,
    },
    /// Not set, though what `by` says needs it.
    Needed {
        var: &'static str,
        by: String,
    },
    /// Two variables that exclude each other are both set.
    Conflict(&'static str, &'static str),
    /// The registry file cannot be read or is invalid. `named`: its path came
    /// from `SETT_CONFIG_FILE`; `path` is printable already.
    Registry {
        named: bool,
        path: String,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing(var) => write!(f, "{var} is not set (it is required)"),
            ConfigError::Invalid { var, reason } => write!(f, "{var} is invalid: {reason}"),
            ConfigError::Needed { var, by } => write!(f, "{var} is not set, and {by}"),
            ConfigError::Conflict(a, b) => {
                write!(
                    f,
                    "{a} and {b} are both set (set one: it picks the namespace)"
                )
            }
            ConfigError::Registry {
                named: true,
                path,
                reason,
            } => write!(f, "SETT_CONFIG_FILE is invalid: {path}: {reason}"),
            ConfigError::Registry {
                named: false,
                path,
                reason,
            } => write!(f, "the agent registry {path} is invalid: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

pub(super) fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

/// `s` for a one-line message: control characters escaped (`\n`, `\u{1b}`),
/// cut after about `max` bytes.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        if out.len() >= max {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
