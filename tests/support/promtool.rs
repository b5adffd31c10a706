//! `promtool check metrics`, for the tests that check `/metrics` text: run
//! when promtool is installed, otherwise recorded as a skip (see `skip`).

use std::io::Write;
use std::process::{Command, Stdio};

use super::skip;

/// promtool, installed by `scripts/ensure-deps.sh promtool` when CI=true; elsewhere
/// `None` (the check is skipped and recorded, see `support::skip`) when it is not installed.
fn promtool() -> Option<&'static str> {
    let present = || {
        Command::new("promtool")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present() {
        return Some("promtool");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        let script = super::repo_root().join("scripts/ensure-deps.sh");
        let status = Command::new(script)
            .arg("promtool")
            .status()
            .expect("run scripts/ensure-deps.sh promtool");
        assert!(
            status.success() && present(),
            "CI=true: promtool is required and could not be installed"
        );
        return Some("promtool");
    }
    skip(
        "promtool check",
        "promtool is not installed (scripts/ensure-deps.sh promtool installs it)",
    );
    None
}

pub fn promtool_check(text: &str) {
    let Some(tool) = promtool() else { return };
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{said}\n--- input:\n{text}"
    );
    assert_eq!(
        said.trim(),
        "",
        "promtool check metrics found problems:\n{said}"
    );
}
