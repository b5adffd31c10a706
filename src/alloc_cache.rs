//! The process's allocator: musl's, with a few freed mid-size blocks kept
//! for the next allocation of their size.
//!
//! Why: every claim batch allocates and frees the same buffers of 256 bytes
//! to 32 KiB (its script calls and their encoding, its log lines, the redis
//! client's replies). musl's allocator (mallocng) gives the pages of such
//! blocks back to the kernel as soon as their group is free and maps new ones
//! for the next batch: an `mmap` and a `munmap` (with a TLB shootdown across
//! threads) and page faults, several per batch. Measured with `perf record`
//! during a 10k Phase-1 burst, that was a fifth of the orchestrator's CPU time
//! (docs/performance.md). Keeping freed blocks per power-of-two size class,
//! up to 32 KiB of them per class (at most `MAX_SLOTS` blocks: one batch's
//! calls), makes the next batch reuse them: at most 216 KiB held in all.
//!
//! Blocks of those sizes are allocated rounded up to their class, so any
//! block of a class fits any request of it. Everything else (smaller, larger,
//! over-aligned) goes straight to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::{Mutex, PoisonError};

/// The smallest class: 256 bytes (requests of 129 bytes and up).
const MIN_SHIFT: u32 = 8;
/// Classes of 256 bytes to 32 KiB, each twice the one before.
const CLASSES: usize = 8;
/// Bytes of freed blocks kept per class at most (and never more than [`MAX_SLOTS`] blocks).
const KEEP_BYTES: usize = 32 * 1024;
/// Freed blocks kept per class at most: a batch's 32 script calls.
const MAX_SLOTS: usize = 32;
/// Alignment the system allocator gives every block (musl: 16).
const MAX_ALIGN: usize = 16;

/// The allocator (see the module doc); `#[global_allocator]` in `main.rs`.
pub struct Cached;

/// The freed blocks of one class (addresses; `len` of them are held).
struct Kept {
    len: usize,
    blocks: [usize; MAX_SLOTS],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Mutex<Kept> = Mutex::new(Kept {
    len: 0,
    blocks: [0; MAX_SLOTS],
});
static FREE: [Mutex<Kept>; CLASSES] = [EMPTY; CLASSES];

/// The class of a request, if it has one.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if layout.align() > MAX_ALIGN
        || size <= 1 << (MIN_SHIFT - 1)
        || size > 1 << (MIN_SHIFT as usize + CLASSES - 1)
    {
        return None;
    }
    Some((size.next_power_of_two().trailing_zeros() - MIN_SHIFT) as usize)
}

/// How many freed blocks class `c` keeps.
fn slots(c: usize) -> usize {
    (KEEP_BYTES >> (MIN_SHIFT as usize + c)).clamp(1, MAX_SLOTS)
}

/// The layout a block of class `c` really has.
fn class_layout(c: usize, align: usize) -> Layout {
    // A power of two up to 32 KiB with an alignment of at most 16: always valid.
    Layout::from_size_align(1 << (MIN_SHIFT as usize + c), align).unwrap_or(Layout::new::<u8>())
}

fn kept(c: usize) -> std::sync::MutexGuard<'static, Kept> {
    FREE[c].lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives every kept block back to the system allocator (the session does,
/// once connected: what the start-up freed is not a burst's); returns the
/// bytes given back.
pub fn release() -> usize {
    let mut bytes = 0;
    for c in 0..CLASSES {
        // Copied out on the stack: allocating while the class is locked
        // would lock it again (this is the allocator).
        let mut blocks = [0usize; MAX_SLOTS];
        let n = {
            let mut kept = kept(c);
            let n = kept.len;
            blocks[..n].copy_from_slice(&kept.blocks[..n]);
            kept.len = 0;
            n
        };
        for &p in &blocks[..n] {
            // SAFETY: a kept block is one of class `c`, held by no one else.
            unsafe { System.dealloc(p as *mut u8, class_layout(c, MAX_ALIGN)) };
            bytes += 1 << (MIN_SHIFT as usize + c);
        }
    }
    bytes
}

// SAFETY: every block handed out is either the system allocator's for the
// layout asked for, or (classes) one of at least that size and alignment that
// no one else holds: a freed block is kept in one list, under its lock, and
// leaves it for exactly one caller.
unsafe impl GlobalAlloc for Cached {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else {
            return System.alloc(layout);
        };
        {
            let mut kept = kept(c);
            if kept.len > 0 {
                kept.len -= 1;
                return kept.blocks[kept.len] as *mut u8;
            }
        }
        System.alloc(class_layout(c, layout.align()))
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else {
            return System.dealloc(p, layout);
        };
        {
            let mut kept = kept(c);
            if kept.len < slots(c) {
                let at = kept.len;
                kept.blocks[at] = p as usize;
                kept.len += 1;
                return;
            }
        }
        System.dealloc(p, class_layout(c, layout.align()));
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_none() {
            return System.alloc_zeroed(layout);
        }
        let p = self.alloc(layout);
        if !p.is_null() {
            ptr::write_bytes(p, 0, layout.size());
        }
        p
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class(layout), class(new)) {
            (None, None) => System.realloc(p, layout, new_size),
            // The block is already as large as the class.
            (Some(a), Some(b)) if a == b => p,
            _ => {
                let q = self.alloc(new);
                if !q.is_null() {
                    ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                    self.dealloc(p, layout);
                }
                q
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_powers_of_two_from_256_bytes_to_32_kib() {
        let l = |size| Layout::from_size_align(size, 8).unwrap();
        assert_eq!(class(l(128)), None);
        assert_eq!(class(l(129)), Some(0));
        assert_eq!(class(l(256)), Some(0));
        assert_eq!(class(l(257)), Some(1));
        assert_eq!(class(l(32 * 1024)), Some(7));
        assert_eq!(class(l(32 * 1024 + 1)), None);
        assert_eq!(class(Layout::from_size_align(4096, 64).unwrap()), None);
        assert_eq!(class_layout(7, 8).size(), 32 * 1024);
        // At most 32 KiB kept per class, at least one block.
        assert_eq!(
            (0..CLASSES).map(slots).collect::<Vec<_>>(),
            [32, 32, 32, 16, 8, 4, 2, 1]
        );
    }

    #[test]
    fn release_gives_the_kept_blocks_back() {
        let a = Cached;
        // The 256-byte and 32 KiB classes: no other test uses them. A full
        // 256-byte class is as large as a list of its blocks would be.
        let small = Layout::from_size_align(200, 8).unwrap();
        let large = Layout::from_size_align(20_000, 8).unwrap();
        unsafe {
            let blocks: Vec<*mut u8> = (0..MAX_SLOTS).map(|_| a.alloc(small)).collect();
            blocks.into_iter().for_each(|p| a.dealloc(p, small));
            let p = a.alloc(large);
            assert!(!p.is_null());
            a.dealloc(p, large);
        }
        assert_eq!((kept(0).len, kept(7).len), (MAX_SLOTS, 1));
        assert!(release() >= MAX_SLOTS * 256 + 32 * 1024);
        assert_eq!((kept(0).len, kept(7).len), (0, 0));
    }

    #[test]
    fn a_freed_block_is_reused_and_keeps_its_contents_through_realloc() {
        let a = Cached;
        let small = Layout::from_size_align(1500, 8).unwrap();
        // (Class of 2 KiB.)
        unsafe {
            let p = a.alloc(small);
            assert!(!p.is_null());
            p.write_bytes(7, 1500);
            // Growing within the class keeps the block.
            assert_eq!(a.realloc(p, small, 2048), p);
            let big = Layout::from_size_align(2048, 8).unwrap();
            // Growing past it moves the bytes to a block of the next class.
            let q = a.realloc(p, big, 5000);
            assert!(!q.is_null());
            assert!((0..1500).all(|i| *q.add(i) == 7));
            let q_layout = Layout::from_size_align(5000, 8).unwrap();
            // Shrinking out of the classes goes back to the system allocator.
            let r = a.realloc(q, q_layout, 100);
            assert!((0..100).all(|i| *r.add(i) == 7));
            a.dealloc(r, Layout::from_size_align(100, 8).unwrap());
            let z = a.alloc_zeroed(q_layout);
            assert!((0..5000).all(|i| *z.add(i) == 0));
            a.dealloc(z, q_layout);
        }
    }
}
