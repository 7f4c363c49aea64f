//! What `std` would otherwise provide on wasm32: a global allocator, the
//! canonical ABI's `cabi_realloc`, and a panic handler.
//!
//! The allocator is a bump allocator: first over a 64 KiB arena in static
//! memory, then over `memory.grow`. Every decision runs in a fresh instance
//! that is thrown away afterwards, so freeing memory buys nothing. A typical
//! decision never leaves the arena, so it never grows memory, which costs
//! the host a page-protection change per call and a larger reset afterwards.
//! The host caps how far memory may grow, and when it refuses,
//! allocation fails, the allocation error handler panics, and the panic
//! handler traps: the host sees a clean trap, not a corrupted guest.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::{Cell, UnsafeCell};
use core::ptr;

// The compiler lowers slice comparisons to `memcmp` (and, without bulk
// memory, copies to `memcpy`), which `compiler_builtins` leaves to the C
// library on this target. wasi-libc's string functions are plain wasm and
// import nothing; linking its static `libc.a` (shipped with the target) keeps
// them from turning into imports from `env`.
#[link(name = "c")]
unsafe extern "C" {}

const PAGE: usize = 64 * 1024;

/// Room for the allocations of a typical decision, in static memory: part
/// of the module's initial memory, so using it needs no `memory.grow`.
const ARENA_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: single-threaded, as for `Bump`; only `Bump` hands out its bytes.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));

/// `[next, end)` is the free part of the heap: memory this allocator grew
/// and has not handed out yet.
struct Bump {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: guests are single-threaded (no wasm threads in the component
// model's sync ABI), so the cells are never accessed concurrently.
unsafe impl Sync for Bump {}

#[global_allocator]
static HEAP: Bump = Bump {
    next: Cell::new(0),
    end: Cell::new(0),
};

impl Bump {
    /// Grows linear memory by at least `bytes`. The first growth starts a
    /// heap past the arena (whose rest is abandoned); later ones extend it
    /// in place, since nothing else grows memory.
    fn grow(&self, bytes: usize) -> bool {
        let pages = bytes.div_ceil(PAGE);
        let previous = wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return false;
        }
        let (Some(base), Some(len)) = (previous.checked_mul(PAGE), pages.checked_mul(PAGE)) else {
            return false;
        };
        let Some(end) = base.checked_add(len) else {
            return false;
        };
        if base != self.end.get() {
            self.next.set(base);
        }
        self.end.set(end);
        true
    }

    fn bump(&self, size: usize, align: usize) -> *mut u8 {
        if self.end.get() == 0 {
            // The first allocation opens the arena.
            let start = ARENA.0.get() as usize;
            self.next.set(start);
            self.end.set(start + ARENA_BYTES);
        }
        loop {
            let Some(start) = self.next.get().checked_next_multiple_of(align) else {
                return ptr::null_mut();
            };
            let Some(stop) = start.checked_add(size) else {
                return ptr::null_mut();
            };
            if stop <= self.end.get() {
                self.next.set(stop);
                return start as *mut u8;
            }
            if !self.grow(stop - self.end.get()) {
                return ptr::null_mut();
            }
        }
    }

    fn is_last(&self, ptr: *mut u8, size: usize) -> bool {
        ptr as usize + size == self.next.get()
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.bump(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Only the last block can be given back, and that for free: it
        // makes temporary strings and buffers cost nothing.
        if self.is_last(ptr, layout.size()) {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The last block grows (or shrinks) in place, so a growing `Vec` or
        // `String` does not leave a trail of copies behind.
        if self.is_last(ptr, layout.size()) {
            let Some(stop) = (ptr as usize).checked_add(new_size) else {
                return ptr::null_mut();
            };
            if stop <= self.end.get()
                || (self.grow(stop - self.end.get())
                    && self.is_last(ptr, layout.size())
                    && stop <= self.end.get())
            {
                self.next.set(stop);
                return ptr;
            }
        }
        let new = self.bump(new_size, layout.align());
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size, and a
            // fresh block never overlaps a live one.
            unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

/// The canonical ABI's allocation entry point: the host calls it to pass
/// strings and lists into the guest. (wasi-libc would provide it; a no_std
/// guest links no libc.) Failure traps instead of handing the host a null
/// pointer to write through.
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two alignment, and
    // `old_ptr`/`old_len` describe a block this allocator handed out.
    let new = unsafe {
        if old_len == 0 {
            HEAP.alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            HEAP.realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if new.is_null() {
        wasm32::unreachable();
    }
    new
}

/// A panic ends the decision with a trap; the host reports it. Formatting
/// the message would pull in `core::fmt` for nothing the host could read.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wasm32::unreachable()
}
