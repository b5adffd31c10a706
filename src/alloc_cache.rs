//! The process's allocator: musl's, with a few freed mid-size blocks kept
//! for the next allocation of their size.
//!
//! Why: every claim batch allocates and frees the same few buffers of 2 to
//! 32 KiB (its pipeline, its log lines, the redis client's encodings). musl's
//! allocator (mallocng) gives such a block's pages back to the kernel as soon
//! as it is free and maps new ones for the next batch: an `mmap` and a
//! `munmap` (with a TLB shootdown across threads) and page faults per block.
//! Measured with `perf record` during a 10k Phase-1 burst, that was a fifth
//! of the orchestrator's CPU time (docs/performance.md). Keeping up to
//! [`SLOTS`] freed blocks per power-of-two size class makes the next batch
//! reuse them: at most 4 x (2 + 4 + 8 + 16 + 32) KiB = 248 KiB held.
//!
//! Blocks of those sizes are allocated rounded up to their class, so any
//! block of a class fits any request of it. Everything else (smaller, larger,
//! over-aligned) goes straight to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::{self, null_mut};
use std::sync::atomic::{AtomicPtr, Ordering::AcqRel};

/// The smallest class: 2 KiB (requests of 1 KiB + 1 byte and up).
const MIN_SHIFT: u32 = 11;
/// Classes of 2, 4, 8, 16 and 32 KiB.
const CLASSES: usize = 5;
/// Freed blocks kept per class at most.
pub const SLOTS: usize = 4;
/// Alignment the system allocator gives every block (musl: 16).
const MAX_ALIGN: usize = 16;

/// The allocator (see the module doc); `#[global_allocator]` in `main.rs`.
pub struct Cached;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicPtr<u8> = AtomicPtr::new(null_mut());
#[allow(clippy::declare_interior_mutable_const)]
const CLASS: [AtomicPtr<u8>; SLOTS] = [EMPTY; SLOTS];
static FREE: [[AtomicPtr<u8>; SLOTS]; CLASSES] = [CLASS; CLASSES];

/// The class of a request, if it has one.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if layout.align() > MAX_ALIGN || size <= 1 << (MIN_SHIFT - 1) || size > 1 << (MIN_SHIFT + 4) {
        return None;
    }
    Some((size.next_power_of_two().trailing_zeros() - MIN_SHIFT) as usize)
}

/// The layout a block of class `c` really has.
fn class_layout(c: usize, align: usize) -> Layout {
    // A power of two up to 32 KiB with an alignment of at most 16: always valid.
    Layout::from_size_align(1 << (MIN_SHIFT as usize + c), align).unwrap_or(Layout::new::<u8>())
}

// SAFETY: every block handed out is either the system allocator's for the
// layout asked for, or (classes) one of at least that size and alignment that
// no one else holds: a kept block sits in exactly one slot, and `swap` takes it
// out for exactly one caller.
unsafe impl GlobalAlloc for Cached {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else {
            return System.alloc(layout);
        };
        for slot in &FREE[c] {
            let p = slot.swap(null_mut(), AcqRel);
            if !p.is_null() {
                return p;
            }
        }
        System.alloc(class_layout(c, layout.align()))
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else {
            return System.dealloc(p, layout);
        };
        for slot in &FREE[c] {
            if slot
                .compare_exchange(null_mut(), p, AcqRel, std::sync::atomic::Ordering::Relaxed)
                .is_ok()
            {
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
    fn classes_are_powers_of_two_from_2_to_32_kib() {
        let l = |size| Layout::from_size_align(size, 8).unwrap();
        assert_eq!(class(l(1024)), None);
        assert_eq!(class(l(1025)), Some(0));
        assert_eq!(class(l(2048)), Some(0));
        assert_eq!(class(l(2049)), Some(1));
        assert_eq!(class(l(32 * 1024)), Some(4));
        assert_eq!(class(l(32 * 1024 + 1)), None);
        assert_eq!(class(Layout::from_size_align(4096, 64).unwrap()), None);
        assert_eq!(class_layout(4, 8).size(), 32 * 1024);
    }

    #[test]
    fn a_freed_block_is_reused_and_keeps_its_contents_through_realloc() {
        let a = Cached;
        let small = Layout::from_size_align(1500, 8).unwrap();
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
