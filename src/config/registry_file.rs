//! Where the agent registry comes from, and reading it.
//!
//! Its presence picks the mode: a registry means the lifecycle runs, none
//! means Phase 1. So the only quiet case is the namespace's default path not
//! existing; a path named by `SETT_CONFIG_FILE` must exist, and any file that
//! is there must be readable and valid, or the process refuses to start (a
//! typo must not silently turn the lifecycle off).

use std::io::{ErrorKind, Read as _};
use std::path::PathBuf;

use super::error::{printable, ConfigError};
use super::registry::Registry;
use super::values::Namespace;

/// A registry larger than this is refused unread (it is a few KiB in practice).
pub const MAX_REGISTRY_BYTES: u64 = 1 << 20;

/// The registry's path, and whether `SETT_CONFIG_FILE` named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryFile {
    pub path: PathBuf,
    /// From `SETT_CONFIG_FILE` (must exist) rather than the default (may be absent).
    pub named: bool,
}

impl RegistryFile {
    /// `/workspace/sett.yml` or `/workspace/holt.yml`.
    pub fn default_for(namespace: Namespace) -> RegistryFile {
        RegistryFile {
            path: PathBuf::from(namespace.default_registry()),
            named: false,
        }
    }

    /// The path `SETT_CONFIG_FILE` gives.
    pub fn named(path: PathBuf) -> RegistryFile {
        RegistryFile { path, named: true }
    }

    /// The path for logs and errors: one line, bounded.
    pub fn display(&self) -> String {
        printable(&self.path.to_string_lossy(), 200)
    }

    /// Reads and checks the registry. `Ok(None)`: the default path does not
    /// exist (Phase 1).
    pub fn load(&self) -> Result<Option<Registry>, ConfigError> {
        let text = match self.read() {
            Ok(text) => text,
            Err(e)
                if !self.named
                    && matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) =>
            {
                return Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::InvalidData => return Err(self.error(e.to_string())),
            Err(e) => return Err(self.error(format!("cannot read it: {e}"))),
        };
        Registry::parse(&text).map(Some).map_err(|r| self.error(r))
    }

    /// The whole file as UTF-8, at most [`MAX_REGISTRY_BYTES`].
    fn read(&self) -> std::io::Result<String> {
        let file = std::fs::File::open(&self.path)?;
        let mut bytes = Vec::new();
        file.take(MAX_REGISTRY_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_REGISTRY_BYTES {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                "larger than 1 MiB",
            ));
        }
        String::from_utf8(bytes)
            .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
    }

    fn error(&self, reason: String) -> ConfigError {
        ConfigError::Registry {
            named: self.named,
            path: self.display(),
            reason: printable(&reason, 300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "sett-registry-unit-{}",
                uuid::Uuid::new_v4().simple()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str, content: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, content).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const VALID: &str = "version: '1.0'\nagents:\n  Coder: {image: x}\n";

    fn default_at(path: PathBuf) -> RegistryFile {
        RegistryFile { path, named: false }
    }

    #[test]
    fn defaults_per_namespace() {
        let sett = RegistryFile::default_for(Namespace::Sett);
        assert_eq!(sett.path, PathBuf::from("/workspace/sett.yml"));
        assert!(!sett.named);
        let holt = RegistryFile::default_for(Namespace::Holt);
        assert_eq!(holt.path, PathBuf::from("/workspace/holt.yml"));
    }

    #[test]
    fn an_absent_default_means_phase1_an_absent_named_file_is_an_error() {
        let dir = TempDir::new();
        let missing = dir.0.join("sett.yml");
        assert_eq!(default_at(missing.clone()).load(), Ok(None));
        // A parent that is a file: still "absent".
        let parent = dir.file("plain", b"x");
        assert_eq!(default_at(parent.join("sett.yml")).load(), Ok(None));
        let e = RegistryFile::named(missing.clone()).load().unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("SETT_CONFIG_FILE is invalid: "), "{text}");
        assert!(text.contains(&missing.display().to_string()), "{text}");
        assert!(text.contains("cannot read it"), "{text}");
    }

    #[test]
    fn a_present_file_must_be_readable_and_valid() {
        let dir = TempDir::new();
        let good = dir.file("good.yml", VALID.as_bytes());
        for file in [default_at(good.clone()), RegistryFile::named(good)] {
            let registry = file.load().unwrap().unwrap();
            assert_eq!(registry.roles_json(), r#"{"Coder":"Coder"}"#);
        }
        let bad = dir.file("bad.yml", b"version: 1\nagents: {Coder: {}}\n");
        let text = default_at(bad.clone()).load().unwrap_err().to_string();
        assert!(
            text.starts_with(&format!(
                "the agent registry {} is invalid: ",
                bad.display()
            )),
            "{text}"
        );
        assert!(text.contains("version"), "{text}");
        // A directory at the default path is not "absent".
        let text = default_at(dir.0.clone()).load().unwrap_err().to_string();
        assert!(text.contains("cannot read it"), "{text}");
        let binary = dir.file("binary.yml", b"version: '1.0'\n\xff\xfe\n");
        let text = default_at(binary).load().unwrap_err().to_string();
        assert!(text.ends_with("is invalid: not UTF-8 text"), "{text}");
        let mut big = VALID.as_bytes().to_vec();
        big.resize(MAX_REGISTRY_BYTES as usize + 1, b'\n');
        let big = dir.file("big.yml", &big);
        let text = default_at(big).load().unwrap_err().to_string();
        assert!(text.ends_with("is invalid: larger than 1 MiB"), "{text}");
    }

    #[test]
    fn errors_are_one_bounded_line() {
        let dir = TempDir::new();
        let odd = dir.0.join("a\nb.yml");
        let text = RegistryFile::named(odd).load().unwrap_err().to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("a\\nb.yml"), "{text}");
        let long = dir.file(
            "long.yml",
            format!("version: '{}'\n", "x".repeat(5000)).as_bytes(),
        );
        let text = default_at(long).load().unwrap_err().to_string();
        assert!(text.len() < 700, "{}", text.len());
    }
}
