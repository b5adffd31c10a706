//! The machine's real Docker engine for the client tests, and a worker image
//! built for them: no registry, so a tiny static C program compiled with
//! `musl-gcc -static` goes `FROM scratch`. It prints its first argument's
//! count of `out N` lines to stdout and its second's of `err N` to stderr
//! (interleaved), sleeps its third in milliseconds, exits with its fourth;
//! SIGTERM makes it exit 7 (so a stop is told from a kill, 137).
//!
//! Everything made here is labelled `sett.test.suite=docker_client` and, per
//! test, `sett.test.run=<uuid>`: a test's containers go when its [`Engine`]
//! drops, the image when the last test using it ends, and leftovers of an
//! earlier run that crashed (older than 10 minutes, so another worktree's
//! running tests are never touched) once per process.
//!
//! Without a reachable engine (or the `docker` CLI, or `musl-gcc`) the suite
//! records one skip (see `skip`) and each test returns; with `CI=true` each
//! test fails instead.

use std::process::Command;
use std::sync::{Arc, Mutex, Once, Weak};

use sett_orchestrator::docker::{ContainerInfo, ContainerSpec, Docker};

use super::{skip, uuid, wait_until, TempDir, PATIENCE};

pub const SUITE: &str = "sett.test.suite=docker_client";

const WORKER_C: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void on_term(int s) { (void)s; _exit(7); }
int main(int argc, char **argv) {
    signal(SIGTERM, on_term);
    int out = argc > 1 ? atoi(argv[1]) : 0, err = argc > 2 ? atoi(argv[2]) : 0;
    int ms = argc > 3 ? atoi(argv[3]) : 0, code = argc > 4 ? atoi(argv[4]) : 0;
    char b[64];
    for (int i = 1; i <= out || i <= err; i++) {
        if (i <= out) { int n = snprintf(b, sizeof b, "out %d\n", i); write(1, b, n); }
        if (i <= err) { int n = snprintf(b, sizeof b, "err %d\n", i); write(2, b, n); }
    }
    while (ms > 0) { int step = ms > 100000 ? 100000 : ms; usleep(step * 1000); ms -= step; }
    return code;
}
"#;

/// The test image: removed when the last test holding it ends.
pub struct Image {
    pub tag: String,
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.tag])
            .output();
    }
}

/// One test's view of the engine; its containers are removed on drop.
pub struct Engine {
    pub docker: Docker,
    /// This test's `sett.test.run` value.
    pub run: String,
    pub image: Arc<Image>,
}

impl Engine {
    /// The engine, or `None` after recording why the suite is skipped (one
    /// `SKIPPED:` line per process; `test` is named in the CI=true failure).
    pub fn get(test: &str) -> Option<Engine> {
        let docker = match Docker::from_env() {
            Ok(d) => d,
            Err(e) => return skipped(test, &e),
        };
        if let Err(e) = smol::block_on(docker.ping()) {
            return skipped(
                test,
                &format!(
                    "no Docker engine answers at {}: {e}",
                    docker.socket().display()
                ),
            );
        }
        let image = match image() {
            Ok(image) => image,
            Err(why) => return skipped(test, &why),
        };
        Some(Engine {
            docker,
            run: uuid(),
            image,
        })
    }

    /// The label that marks this test's containers.
    pub fn run_label(&self) -> String {
        format!("sett.test.run={}", self.run)
    }

    /// A unique container name ending in `suffix`.
    pub fn name(&self, suffix: &str) -> String {
        format!("sett-dc-{}-{suffix}", &self.run[..8])
    }

    /// A worker running the test program with `args`, labelled as this test's.
    pub fn spec(&self, suffix: &str, args: [u32; 4]) -> ContainerSpec {
        ContainerSpec::new(
            &self.name(suffix),
            &self.image.tag,
            args.iter().map(u32::to_string).collect(),
        )
        .label("sett.test.suite", "docker_client")
        .label("sett.test.run", &self.run)
    }

    pub fn block_on<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        smol::block_on(f)
    }

    /// Polls inspect until the container has exited (bounded).
    pub fn exited(&self, id: &str) -> ContainerInfo {
        let mut last = None;
        let done = wait_until(PATIENCE, || {
            let info = self.block_on(self.docker.inspect(id)).unwrap();
            let exited = info.state.status == "exited";
            last = Some(info);
            exited
        });
        assert!(done, "not exited: {last:?}");
        last.unwrap()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        remove_containers(&self.run_label());
    }
}

fn skipped(test: &str, why: &str) -> Option<Engine> {
    static ONCE: Once = Once::new();
    if std::env::var("CI").as_deref() == Ok("true") {
        skip(test, why); // fails the test
    }
    ONCE.call_once(|| skip("docker_client", why));
    None
}

pub use sett_sim::worker_image::{docker_cli, remove_containers};

/// The shared test image, built if no live test holds it.
fn image() -> Result<Arc<Image>, String> {
    static CURRENT: Mutex<Weak<Image>> = Mutex::new(Weak::new());
    static LEFTOVERS: Once = Once::new();
    LEFTOVERS.call_once(|| {
        let filter = format!("label={SUITE}");
        let _ = docker_cli(&[
            "container",
            "prune",
            "-f",
            "--filter",
            &filter,
            "--filter",
            "until=10m",
        ]);
        let _ = docker_cli(&[
            "image",
            "prune",
            "-a",
            "-f",
            "--filter",
            &filter,
            "--filter",
            "until=10m",
        ]);
    });
    let mut current = CURRENT.lock().unwrap();
    if let Some(image) = current.upgrade() {
        return Ok(image);
    }
    let image = Arc::new(build()?);
    *current = Arc::downgrade(&image);
    Ok(image)
}

fn build() -> Result<Image, String> {
    let dir = TempDir::new();
    let source = dir.file("worker.c", WORKER_C);
    let binary = dir.path().join("worker");
    let cc = Command::new("musl-gcc")
        .args(["-static", "-Os", "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .map_err(|e| {
            format!(
                "musl-gcc is needed to build the test worker (make deps installs musl-tools): {e}"
            )
        })?;
    if !cc.status.success() {
        return Err(format!(
            "musl-gcc failed: {}",
            String::from_utf8_lossy(&cc.stderr)
        ));
    }
    dir.file(
        "Dockerfile",
        &format!("FROM scratch\nCOPY worker /worker\nLABEL {SUITE}\nENTRYPOINT [\"/worker\"]\n"),
    );
    let tag = format!("sett-docker-client-test:{}", &uuid()[..8]);
    docker_cli(&["build", "-q", "-t", &tag, dir.path().to_str().unwrap()])?;
    Ok(Image { tag })
}
