//! `advise_huge_pages`: asks Linux to back a large array with transparent huge pages.
//!
//! Owns one hint for the expiry index's arrays of tens to hundreds of megabytes (the entry slab and
//! the ID table): each renew, revoke or scan step reads one random line of them, and with 4 KiB
//! pages nearly every such read also misses the TLB and walks the page table (itself a cache miss
//! at 10 M leases). `MADV_HUGEPAGE` makes 2 MiB pages eligible where the system leaves that to the
//! program (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`). It changes no contents and
//! nothing observable; elsewhere, or when the kernel declines, it does nothing.

/// Arrays smaller than this are left alone (they may share pages with other allocations).
const MIN_BYTES: usize = 4 << 20;
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
