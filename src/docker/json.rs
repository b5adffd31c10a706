//! Reading the daemon's small JSON answers (version, inspects, create, one
//! event) as a `serde_json::Value` with typed accessors, rather than one
//! `#[derive(Deserialize)]` struct each: the binary already holds the
//! `Value` decoder, and every derived decoder costs kilobytes of a 2.75 MB
//! budget. (The container list, which can be long, keeps a derived decoder:
//! it skips the fields we do not read instead of building them.)
//!
//! A field we need that is absent or of the wrong type makes the answer
//! garbage; an optional one falls back to its default. Errors say where,
//! never what: an inspect holds the container's environment.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::DockerError;

/// Decodes a JSON answer; one that does not decode is garbage (transient).
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, DockerError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| DockerError::garbage(&format!("{what} JSON (not UTF-8)")))?;
    serde_json::from_str(text).map_err(|e| {
        DockerError::garbage(&format!(
            "{what} JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// A decoded answer, named for its errors.
pub(crate) struct Answer<'a> {
    pub value: &'a Value,
    pub what: &'a str,
}

impl Answer<'_> {
    fn at(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self.value, |v, key| v.get(key))
    }

    fn missing(&self, path: &[&str]) -> DockerError {
        DockerError::garbage(&format!("{} without a valid {}", self.what, path.join(".")))
    }

    /// A string that must be there.
    pub(crate) fn string(&self, path: &[&str]) -> Result<String, DockerError> {
        match self.at(path) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(self.missing(path)),
        }
    }

    /// A string, or `""` when absent or null.
    pub(crate) fn opt_string(&self, path: &[&str]) -> Result<String, DockerError> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(_) => self.string(path),
        }
    }

    /// An integer, or 0 when absent.
    pub(crate) fn int(&self, path: &[&str]) -> Result<i64, DockerError> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v.as_i64().ok_or_else(|| self.missing(path)),
        }
    }

    /// A boolean, or false when absent.
    pub(crate) fn flag(&self, path: &[&str]) -> Result<bool, DockerError> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(false),
            Some(v) => v.as_bool().ok_or_else(|| self.missing(path)),
        }
    }

    /// An array of strings, or none when absent or null.
    pub(crate) fn strings(&self, path: &[&str]) -> Result<Vec<String>, DockerError> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.missing(path))
                })
                .collect(),
            Some(_) => Err(self.missing(path)),
        }
    }

    /// An object of strings (labels, event attributes), or empty when absent or null.
    pub(crate) fn map(&self, path: &[&str]) -> Result<BTreeMap<String, String>, DockerError> {
        match self.at(path) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(fields)) => fields
                .iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        v.as_str().ok_or_else(|| self.missing(path))?.to_string(),
                    ))
                })
                .collect(),
            Some(_) => Err(self.missing(path)),
        }
    }
}
