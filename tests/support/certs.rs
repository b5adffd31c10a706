//! A throwaway CA and server certificates made with the openssl CLI, for the
//! TLS tests here and in container-tests (which includes this file by path).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs openssl with `args` in `dir`; it must succeed.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (scripts/ensure-deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 private key in `dir/file`.
fn make_key(dir: &Path, file: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            file,
        ],
    );
}

/// A self-signed CA, `{name}.crt` and `{name}.key` in `dir`; returns the certificate's path.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let (key, crt, subject) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN=Sett test CA {name}"),
    );
    make_key(dir, &key);
    openssl(
        dir,
        &[
            "req", "-x509", "-new", "-key", &key, "-out", &crt, "-days", "2", "-subj", &subject,
        ],
    );
    dir.join(crt)
}

/// `server.crt` and `server.key` signed by the CA `ca` (see [`make_ca`]), with
/// common name `cn` and the subject alternative names `sans` (e.g.
/// `DNS:localhost,IP:127.0.0.1`).
pub fn make_server_cert(dir: &Path, ca: &str, cn: &str, sans: &str) {
    make_key(dir, "server.key");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    let ext = format!(
        "subjectAltName={sans}\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
    );
    std::fs::write(dir.join("server.ext"), ext).unwrap();
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}
