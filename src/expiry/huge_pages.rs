//! `advise_huge_pages`: asks Linux to back a large array with transparent huge pages.
//!
//! Owns one hint for the expiry index's arrays of tens to hundreds of megabytes (the entry slab and
//! the ID table): each renew, revoke or scan step reads one random line of them, and with 4 KiB
//! pages nearly every such read also misses the TLB and walks the page table (itself a cache miss
//! at 10 M leases). `MADV_HUGEPAGE` makes 2 MiB pages eligible where the system leaves that to the
//! program (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`). It changes no contents and
//! nothing observable; elsewhere, or when the kernel declines, it does nothing.
//!
//! Advice only helps memory not yet touched: pages already faulted in as 4 KiB pages stay so, and a
//! `realloc` of a large block moves its pages by `mremap` to an address that need not be 2 MiB
//! aligned, which splits the huge pages it had. So a large array grows with
//! [`reserve_exact_huge`], which moves it into a fresh allocation advised before it is written.
//!
//! The same advice makes a bulk operation's scratch arrays cheap to touch the first time
//! ([`vec_with_capacity_huge`]): on the development VM a first write faults in a 4 KiB page for
//! about 5 µs (an 8 MiB array: about 11 ms) and a 2 MiB page for far less per byte (the same array:
//! 0.3–2.4 ms), which is most of what a promote of a million leases spent on its arrays.

/// Arrays smaller than this are left alone: no whole huge page can lie inside them. From one huge
/// page up: promote's per-lease arrays of a million 4-byte items are just under 4 MiB, and advising
/// them too took a promote of 1M leases from 87–90 to 76–87 ms (criterion, three alternating runs).
const MIN_BYTES: usize = 2 << 20;
/// The huge page size on x86-64 and most arm64 kernels.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Advises huge pages for the whole 2 MiB pages inside `v`'s allocated capacity.
pub(crate) fn advise_huge_pages<T>(v: &Vec<T>) {
    let bytes = v.capacity() * size_of::<T>();
    if bytes < MIN_BYTES {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let start = v.as_ptr() as usize;
        let first = start.next_multiple_of(HUGE_PAGE_BYTES);
        let end = (start + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if end > first {
            // SAFETY: `[first, end)` lies inside `v`'s live allocation; MADV_HUGEPAGE is advice
            // only (no contents change, no memory is freed). A failure is ignored: it only means
            // no huge pages.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// `Vec::with_capacity(capacity)`, advised for huge pages when large (see the header): for arrays
/// written once in full right after, such as a promote's per-lease scratch arrays.
pub(crate) fn vec_with_capacity_huge<T>(capacity: usize) -> Vec<T> {
    let v = Vec::with_capacity(capacity);
    advise_huge_pages(&v);
    v
}

/// A copy of `v`, advised for huge pages when large (see the header): the copy is its first touch,
/// so a clone of a table read at random keeps the huge pages the original has.
pub(crate) fn clone_huge<T: Copy>(v: &[T]) -> Vec<T> {
    let mut copy = vec_with_capacity_huge(v.len());
    copy.extend_from_slice(v);
    copy
}

/// `v.reserve_exact(additional)`, except that a vector that will be large afterwards moves to a
/// fresh allocation advised for huge pages before its contents are copied in (see the header).
/// Amortized O(1) per element as long as callers grow by a fixed fraction.
pub(crate) fn reserve_exact_huge<T: Copy>(v: &mut Vec<T>, additional: usize) {
    let wanted = v.len().saturating_add(additional);
    if wanted <= v.capacity() {
        return;
    }
    if wanted.saturating_mul(size_of::<T>()) < MIN_BYTES {
        v.reserve_exact(additional);
        return;
    }
    let mut grown = Vec::with_capacity(wanted);
    advise_huge_pages(&grown);
    grown.extend_from_slice(v);
    *v = grown;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_with_capacity_huge_has_the_capacity_and_no_contents() {
        for capacity in [0usize, 10, MIN_BYTES / 8, MIN_BYTES / 8 + 12_345] {
            let v: Vec<u64> = vec_with_capacity_huge(capacity);
            assert!(v.is_empty() && v.capacity() >= capacity, "{capacity}: capacity {}", v.capacity());
        }
    }

    #[test]
    fn reserve_exact_huge_keeps_the_contents_at_every_size() {
        for (len, additional) in
            [(0usize, 0usize), (3, 5), (1000, 10), (MIN_BYTES / 8, 1), (MIN_BYTES / 8 + 5, 100_000)]
        {
            let mut v: Vec<u64> = (0..len as u64).collect();
            reserve_exact_huge(&mut v, additional);
            assert!(v.capacity() >= len + additional, "{len} + {additional}: capacity {}", v.capacity());
            assert!(v.iter().copied().eq(0..len as u64), "{len} + {additional}: contents changed");
        }
    }
}
