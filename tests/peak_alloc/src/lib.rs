//! A global allocator over [`System`] that counts live and peak heap bytes.
//!
//! The main crate forbids `unsafe` code, in its tests too; `GlobalAlloc` is an unsafe trait, so
//! the counter lives here. Install it in a test binary or fuzz target:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;
//! let (grew, out) = peak_alloc::peak_growth(|| work());
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts every allocation of every thread.
#[derive(Debug, Clone, Copy)]
pub struct PeakAlloc;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed).wrapping_add(n);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn sub(n: usize) {
    CURRENT.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            return p;
        }
        if p != ptr {
            // Moved: the old and the new block were both held for a moment.
            let both = current().wrapping_add(new_size);
            PEAK.fetch_max(both, Ordering::Relaxed);
        }
        add(new_size);
        sub(layout.size());
        p
    }
}

/// Live heap bytes now.
pub fn current() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

/// Runs `f` and returns the peak heap growth above the live bytes when it started.
pub fn peak_growth<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = current();
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (PEAK.load(Ordering::Relaxed).saturating_sub(base), out)
}
