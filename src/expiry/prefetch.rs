//! `prefetch`: a hint that the CPU fetch one element's cache line before it is needed.
//!
//! Owns the one `unsafe` prefetch of the crate. Used where a loop's next accesses are known a few
//! steps ahead but land at random (a probe of the ID table, an entry of the slab), and in the
//! scatter passes of bulk sorts, whose writes go to a few hundred or thousand fronts at once:
//! the hardware prefetcher follows a handful of streams, so without a hint nearly every line a
//! front enters waits for its read from memory (on the development VM a million 8-byte writes to
//! 256 fronts took 11–15 ms, and 4–5 ms with each front's line 16 elements ahead prefetched).
//! A hint changes nothing observable; off x86-64 it does nothing.

/// Hints the CPU to fetch the cache line of `slice[index]`; nothing when `index` is out of range.
#[inline]
pub(crate) fn prefetch<T>(slice: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(element) = slice.get(index) {
        let element: *const T = element;
        // SAFETY: a prefetch is only a hint; it never faults and reads nothing observable. The
        // pointer comes from a live reference into `slice`.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(element.cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slice, index);
}

/// How far ahead of a scatter front its line is fetched, in bytes.
const FRONT_AHEAD_BYTES: usize = 128;

/// For a scatter pass about to write `slice[front]`, whose front moves forward one element per
/// write: fetches the line the front reaches a little later, so it is there when the front
/// arrives.
#[inline]
pub(crate) fn prefetch_front<T>(slice: &[T], front: usize) {
    prefetch(slice, front + FRONT_AHEAD_BYTES / size_of::<T>().max(1));
}
