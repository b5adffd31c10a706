//! Fresh random (version 4) ids for the claims and artefacts we mint.
//!
//! One is drawn per claim on the hot path, so random bytes come from the
//! kernel 4 KiB at a time rather than with one `getrandom` call per id.

use uuid::Uuid;

/// A random (version 4) UUID.
pub fn new_v4() -> Uuid {
    thread_local! {
        static POOL: std::cell::RefCell<(usize, [u8; 4096])> = const { std::cell::RefCell::new((4096, [0; 4096])) };
    }
    POOL.with(|pool| {
        let (used, bytes) = &mut *pool.borrow_mut();
        if *used + 16 > bytes.len() {
            if !fill_random(bytes) {
                return Uuid::new_v4();
            }
            *used = 0;
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[*used..*used + 16]);
        *used += 16;
        uuid::Builder::from_random_bytes(id).into_uuid()
    })
}

fn fill_random(buf: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the kernel writes at most rest.len() bytes into rest.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_v4_uuids() {
        let ids: std::collections::HashSet<Uuid> = (0..1000).map(|_| new_v4()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        assert!(ids
            .iter()
            .all(|id| id.get_variant() == uuid::Variant::RFC4122));
    }
}
