//! The process's allocator as the shipped binary has it (the global one):
//! giving its kept blocks back must not allocate while a class is locked.
//! Unit tests run on the system allocator, where that cannot show.

use std::sync::mpsc;
use std::time::Duration;

use sett_orchestrator::alloc_cache::{self, Cached};

#[global_allocator]
static ALLOCATOR: Cached = Cached;

#[test]
fn release_with_full_classes_returns() {
    // Fill the smallest class (and the others) with freed blocks: a list of
    // 32 addresses is itself a block of the smallest class.
    let blocks: Vec<Vec<u8>> = (0..64)
        .flat_map(|_| [200usize, 1000, 5000].map(|n| vec![1u8; n]))
        .collect();
    drop(blocks);
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let bytes = alloc_cache::release();
        let again = alloc_cache::release();
        let _ = done.send((bytes, again));
    });
    // Never returned: it locked a class twice, and the lock is held for
    // good; a panic's message would need that class too, so abort.
    let Ok((bytes, again)) = finished.recv_timeout(Duration::from_secs(20)) else {
        std::process::abort()
    };
    // 32 blocks of 256 B, 32 of 1 KiB, 4 of 8 KiB were kept at least, less
    // what other threads of the test harness took back meanwhile.
    assert!(bytes >= 16 * 1024, "{bytes}");
    assert!(again < bytes, "{again} {bytes}");
}
