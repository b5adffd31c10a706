//! `SETT_REDIS_CA_FILE`: the private CA trusted for `rediss://`, read and
//! checked with the rest of the configuration, before the runtime starts.
//!
//! A CA file that cannot be used is a configuration error like any other:
//! one stderr line naming the variable and what to do, exit 1, nothing on
//! stdout. Checked here, not when the first connection is made, so that a
//! missing, empty or unparsable file never reaches the start-up of the
//! runtime (and its `startup_failed` line). Read once: every reconnect uses
//! the certificates read here.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use super::error::{invalid, printable, ConfigError};

const VAR: &str = "SETT_REDIS_CA_FILE";

/// What to do about a CA file that cannot be used.
const FIX: &str = "set it to a readable file of PEM CA certificate(s), or unset it to trust the built-in web PKI roots";

/// The CA certificates of `SETT_REDIS_CA_FILE`, as read at start-up.
#[derive(Clone, Debug)]
pub struct RedisCa {
    pub path: PathBuf,
    /// The file's bytes (PEM), for the command connection's client.
    pub pem: Vec<u8>,
    /// Every certificate in it (at least one), for the subscription's TLS.
    pub roots: RootCertStore,
}

impl RedisCa {
    /// Reads `path` and checks that it holds at least one usable PEM certificate.
    pub fn load(path: &Path) -> Result<RedisCa, ConfigError> {
        let shown = printable(&path.to_string_lossy(), 200);
        let pem = std::fs::read(path)
            .map_err(|e| invalid(VAR, format!("cannot read {shown}: {e}; {FIX}")))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| invalid(VAR, format!("{shown}: bad PEM ({e}); {FIX}")))?;
            roots
                .add(cert)
                .map_err(|e| invalid(VAR, format!("{shown}: unusable certificate ({e}); {FIX}")))?;
        }
        if roots.is_empty() {
            let what = if pem.is_empty() {
                "is empty"
            } else {
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            };
            return Err(invalid(VAR, format!("{shown} {what}; {FIX}")));
        }
        Ok(RedisCa {
            path: path.to_path_buf(),
            pem,
            roots,
        })
    }
}

/// `SETT_REDIS_CA_FILE` is only for `rediss://`: with any other scheme it
/// would be silently unused (or refused by the Redis client at connect time).
pub(super) fn check_scheme(redis_url: &str) -> Result<(), ConfigError> {
    let scheme = url::Url::parse(redis_url).map_or_else(|_| String::new(), |u| u.scheme().into());
    if scheme == "rediss" {
        return Ok(());
    }
    Err(invalid(
        VAR,
        format!("it is only used with rediss:// and REDIS_URL is {scheme}://; use a rediss:// URL, or unset {VAR}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(e: ConfigError) -> String {
        match e {
            ConfigError::Invalid { var, reason } => {
                assert_eq!(var, VAR);
                reason
            }
            other => panic!("not Invalid: {other}"),
        }
    }

    #[test]
    fn only_rediss_takes_a_ca_file() {
        assert!(check_scheme("rediss://h:6380").is_ok());
        for (url, scheme) in [
            ("redis://:pw@h:6379", "redis"),
            ("unix:///tmp/r.sock", "unix"),
            ("redis+unix:///tmp/r.sock?pass=pw", "redis+unix"),
        ] {
            let why = reason(check_scheme(url).unwrap_err());
            assert_eq!(
                why,
                format!("it is only used with rediss:// and REDIS_URL is {scheme}://; use a rediss:// URL, or unset SETT_REDIS_CA_FILE")
            );
            assert!(!why.contains("pw"), "{why}");
        }
    }

    #[test]
    fn missing_empty_and_certificate_less_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("sett-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let why = reason(RedisCa::load(&missing).unwrap_err());
        assert_eq!(
            why,
            format!(
                "cannot read {}: No such file or directory (os error 2); {FIX}",
                missing.display()
            )
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let why = reason(RedisCa::load(&empty).unwrap_err());
        assert_eq!(why, format!("{} is empty; {FIX}", empty.display()));
        let text = dir.join("text.pem");
        std::fs::write(&text, "not a certificate\n").unwrap();
        let why = reason(RedisCa::load(&text).unwrap_err());
        assert_eq!(
            why,
            format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----); {FIX}",
                text.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
