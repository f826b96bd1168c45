//! The global allocator of the `leasesim` binary and of the states bench: mimalloc, entered by its
//! plain entry points whenever the alignment asked for is one every mimalloc block has.
//!
//! Why not `mimalloc::MiMalloc`: it calls `mi_malloc_aligned` for every allocation, and mimalloc 3
//! serves an aligned request above 1 KB by over-allocating and aligning inside the block. The
//! model checker allocates one boxed member (about 1.3 KB) per generated state, and that path cost
//! about 350 instructions per state (callgrind on `check lessor`). Every mimalloc block is aligned
//! to a word (its block sizes are whole words); larger alignments go through the aligned entry
//! points, as before. The allocator decides no outcome.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment of every mimalloc block: a word.
const BLOCK_ALIGN: usize = std::mem::size_of::<usize>();

pub struct Allocator;

/// Whether a plain (unaligned) mimalloc call satisfies an alignment.
fn plain(align: usize) -> bool {
    align <= BLOCK_ALIGN
}

// SAFETY: every method forwards to the mimalloc function for the same request, aligned whenever
// `plain` says a plain block might not be; mimalloc's blocks are freed by `mi_free` either way.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as they are; mimalloc returns null on failure, as `alloc` must.
        unsafe {
            if plain(layout.align()) {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe {
            if plain(layout.align()) {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _: Layout) {
        // SAFETY: `ptr` came from this allocator, hence from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator; the new block has `layout`'s alignment.
        unsafe {
            if plain(layout.align()) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alignment is honoured on both paths, and realloc keeps the contents and the alignment.
    #[test]
    fn blocks_are_aligned_and_realloc_keeps_contents() {
        for align in [1, 8, 16, 64, 4096] {
            for size in [1, 8, 24, 1320, 70_000] {
                let layout = Layout::from_size_align(size, align).expect("a valid layout");
                // SAFETY: a non-zero size; every block is freed with the layout it was made with.
                unsafe {
                    let block = Allocator.alloc(layout);
                    assert!(!block.is_null() && (block as usize).is_multiple_of(align), "size {size}, align {align}");
                    std::ptr::write_bytes(block, 0xa5, size);
                    let grown = Allocator.realloc(block, layout, size * 3);
                    assert!(
                        !grown.is_null() && (grown as usize).is_multiple_of(align),
                        "realloc: size {size}, align {align}"
                    );
                    assert!((0..size).all(|i| *grown.add(i) == 0xa5), "realloc lost contents: size {size}");
                    Allocator.dealloc(grown, Layout::from_size_align(size * 3, align).expect("a valid layout"));
                    let zeroed = Allocator.alloc_zeroed(layout);
                    assert!((zeroed as usize).is_multiple_of(align) && (0..size).all(|i| *zeroed.add(i) == 0));
                    Allocator.dealloc(zeroed, layout);
                }
            }
        }
    }
}
