//! The image's `org.opencontainers.image.source` label comes from the
//! checkout's git remote (scripts/oci-source.sh, used by
//! scripts/docker-build.sh): a web address for every remote form git takes,
//! credentials and ssh ports dropped, and nothing at all (so no label) for a
//! remote that is not a web repository. The container tests check the label
//! on the built image against the same script.

use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/oci-source.sh");

fn source_of(remote: &str) -> String {
    let out = Command::new(SCRIPT).arg(remote).output().unwrap();
    assert!(out.status.success(), "{remote}: {out:?}");
    assert_eq!(out.stderr, b"", "{remote}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_remote_form_gives_its_web_address_and_local_ones_nothing() {
    let cases = [
        ("git@github.com:o/r.git", "https://github.com/o/r\n"),
        ("ssh://git@github.com:22/o/r", "https://github.com/o/r\n"),
        (
            "git+ssh://git@github.com/o/r.git",
            "https://github.com/o/r\n",
        ),
        ("git://github.com/o/r", "https://github.com/o/r\n"),
        ("https://github.com/o/r.git", "https://github.com/o/r\n"),
        (
            "https://user:s3cret@github.com/o/r.git",
            "https://github.com/o/r\n",
        ),
        (
            "https://git.example.com:8443/g/p/",
            "https://git.example.com:8443/g/p\n",
        ),
        ("http://git.lan/x", "http://git.lan/x\n"),
        ("/srv/repo.git", ""),
        ("../repo", ""),
        ("./a:b", ""),
        ("file:///srv/r.git", ""),
        ("git@host:", ""),
        ("https://github.com", ""),
    ];
    for (remote, want) in cases {
        assert_eq!(source_of(remote), want, "{remote}");
    }
}

#[test]
fn without_an_argument_it_reads_the_origin_remote_or_prints_nothing() {
    let dir = std::env::temp_dir().join(format!("sett-oci-{}", std::process::id()));
    let repo = dir.join("repo");
    let scripts = repo.join("scripts");
    std::fs::create_dir_all(&scripts).unwrap();
    // A copy in a fresh repository, so the checkout's own remote does not count.
    std::fs::copy(SCRIPT, scripts.join("oci-source.sh")).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    let run = || {
        let out = Command::new(scripts.join("oci-source.sh"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stderr, b"");
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(), "");
    git(&["remote", "add", "origin", "git@example.org:team/sett.git"]);
    assert_eq!(run(), "https://example.org/team/sett\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
