//! `BucketQueue`: leasesim's own expiry index — deadline buckets with lazy renew.
//!
//! Owns the design chosen for 1–10 M leases. Three parts:
//! - an [`EntrySlab`] holding each lease's `(id, deadline)` (the truth) at a position that never
//!   moves while the entry lives — the entry's [`ExpiryHandle`], kept by the lessor in its lease record;
//! - an [`IdTable`] from lease ID to that position, for callers that come with an ID only (it keeps
//!   a tag and the position per lease and reads the ID from the slab, so each ID is stored once); and
//! - *hints*: per time bucket (deadlines rounded **up** to a multiple of [`BUCKET_MS`]), a plain
//!   `Vec` of positions whose entry may be due in that bucket.
//!
//! Invariant: every entry has a hint in a bucket at or before its deadline's bucket. A grant pushes
//! one hint; a renew to a later deadline only rewrites the deadline in the slab (no bucket is
//! touched; by handle, no ID lookup either); a renew to an earlier bucket pushes a new hint; a remove
//! frees the entry. Stale hints are sorted out by the scan that reaches their bucket: a hint whose
//! entry is free is dropped, one whose deadline moved later is moved to that bucket, and the rest —
//! read with prefetches, so the reads overlap — are sorted by `(deadline, id)` (a counting sort,
//! `due_sort.rs`), deduplicated and walked exactly as etcd's `findExpiredLeases` walks its heap (a
//! scan that stops at its limit keeps the bucket's sorted remainder and the next one walks on from
//! there). The walk only asks the lessor and collects; the writes it implies (dropping gone entries,
//! re-arming the rest) follow in loops that prefetch ahead. Rounding up means a bucket never holds
//! a deadline later than its end, and the sort inside a bucket means nothing is reported early or out
//! of order. A position may be reused by another lease after a remove; a hint then speaks for that
//! lease, which is harmless (an extra hint is sorted out like any stale one).
//!
//! It deliberately does not keep hints in order, count stale hints, or shrink buckets it has not
//! scanned: memory for a revoked or renewed lease's old hint (4 bytes) is reclaimed when the scan
//! passes its bucket. Equality, hashing and `Debug` see only the `(id, deadline)` entries, never
//! positions.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::bucket_ring::BucketRing;
use super::due_sort::DueSorter;
use super::entry_slab::{Entry, EntrySlab, FREE_ID};
use super::huge_pages::vec_with_capacity_huge;
use super::id_table::IdTable;
use super::{DueCheck, ExpiryHandle, ExpiryQueue, TWO_THREADS_MIN, two_threads};
use crate::lease::LeaseId;
use crate::time::Instant;

/// The width of a bucket. A fifth of etcd's 500 ms scan period: a scan then takes whole buckets
/// and re-reads at most one partly taken bucket per call.
pub const BUCKET_MS: u64 = 100;
/// A bulk build hints by runs when its entries' runs of one bucket average at least this many.
const SORTED_RUN_MIN: usize = 8;
/// How many entry reads a scan starts before it waits for the first.
const PREFETCH_AHEAD: usize = 16;

/// A due entry as a scan sorts it: `(deadline, id)` decide the order, the position comes along.
pub(crate) type Due = (Instant, LeaseId, u32);

/// The bucket of a deadline: its milliseconds rounded up to a multiple of [`BUCKET_MS`].
#[inline]
fn bucket_of(deadline: Instant) -> u64 {
    deadline.as_ms().div_ceil(BUCKET_MS)
}

/// The bucket of the entry at `position` (a freed entry's is FOREVER's; past the end, 0).
#[inline]
fn bucket_at(entries: &EntrySlab, position: u32) -> u64 {
    entries.get(position).map_or(0, |entry| bucket_of(entry.deadline))
}

#[derive(Clone, Default)]
pub struct BucketQueue {
    entries: EntrySlab,
    /// lease ID → position in `entries`.
    ids: IdTable,
    /// bucket → hints (positions whose entry may be due in it).
    buckets: BucketRing,
    /// The sorted, not yet walked due entries of the bucket a scan stopped in at its limit
    /// (`ready_bucket`), so the next scan resumes without sorting them again. They count as hints
    /// of that bucket; an upsert into or out of that bucket spills them back to plain hints.
    /// The ready entries are `ready[ready_start..]` (a resumed scan walks on without copying them).
    ready: Vec<Due>,
    ready_start: usize,
    ready_bucket: Option<u64>,
    /// Whether an entry may have been removed since the ready entries were read (only `remove`
    /// can do that unseen: every deadline change into or out of their bucket spills them), so a
    /// scan must read each ready entry again before it trusts it.
    ready_stale: bool,
    /// Scratch for the scan (no state between calls).
    due_scratch: Vec<Due>,
    merge_scratch: Vec<Due>,
    rearm_scratch: Vec<u32>,
    gone_scratch: Vec<(LeaseId, u32)>,
    sorter: DueSorter,
}

impl BucketQueue {
    /// The live entry at `position`, if there is one.
    #[inline]
    fn live_entry(&self, position: u32) -> Option<Entry> {
        let entry = self.entries.get(position)?;
        // Only an entry reading as FREE_ID needs the lookup that tells a free entry from the lease
        // with that ID (so a renew by handle does no ID-table probe).
        if entry.id != FREE_ID {
            return Some(entry);
        }
        let free_id_position = self.ids.get(FREE_ID, |p| self.entries.id_at(p));
        EntrySlab::is_live(entry, position, free_id_position).then_some(entry)
    }

    /// `handle` if it is where `id`'s entry lives.
    #[inline]
    fn position_at(&self, handle: ExpiryHandle, id: LeaseId) -> Option<u32> {
        self.live_entry(handle.0).filter(|entry| entry.id == id).map(|_| handle.0)
    }

    /// Turns the ready entries back into plain hints of their bucket.
    fn spill_ready(&mut self) {
        if let Some(bucket) = self.ready_bucket.take() {
            for &(_, _, position) in &self.ready[self.ready_start..] {
                self.buckets.push(bucket, position);
            }
            self.ready.clear();
            self.ready_start = 0;
            self.ready_stale = false;
        }
    }

    /// Spills the ready entries if a deadline moves into or out of their bucket.
    #[inline]
    fn spill_ready_if_touched(&mut self, bucket: u64, old_bucket: Option<u64>) {
        if let Some(ready_bucket) = self.ready_bucket
            && (bucket == ready_bucket || old_bucket == Some(ready_bucket))
        {
            self.spill_ready();
        }
    }

    /// Sets the deadline of the live entry at `position`.
    #[inline]
    fn set_deadline(&mut self, position: u32, deadline: Instant) {
        let old = self.entries.set_deadline(position, deadline);
        let (bucket, old_bucket) = (bucket_of(deadline), bucket_of(old));
        self.spill_ready_if_touched(bucket, Some(old_bucket));
        // Lazy renew: the old hint is at or before the old bucket, hence before a later one.
        if bucket < old_bucket {
            self.buckets.push(bucket, position);
        }
    }

    /// Hints a new entry at `position`.
    #[inline]
    fn hint_new(&mut self, position: u32, deadline: Instant) {
        let bucket = bucket_of(deadline);
        self.spill_ready_if_touched(bucket, None);
        self.buckets.push(bucket, position);
    }

    /// `id`'s entry set to `deadline`, or a new entry for it; answers its position and whether it
    /// is new (a new entry has no hint yet: the caller adds it).
    #[inline]
    fn set_or_alloc(&mut self, id: LeaseId, deadline: Instant) -> (u32, bool) {
        match self.ids.lookup(id, |p| self.entries.id_at(p)) {
            Ok(position) => {
                self.set_deadline(position, deadline);
                (position, false)
            }
            Err(vacant) => {
                let position = self.entries.alloc(id, deadline);
                self.ids.insert(id, position, vacant);
                (position, true)
            }
        }
    }

    /// Hints the new entries at `positions` (each at its deadline's bucket) in bulk: a counting
    /// sort by bucket gathers each bucket's hints into one run, which goes into its bucket at once
    /// (one allocation of the final size, a sequential copy), instead of a push per hint into a
    /// random one of tens of thousands of bucket vectors.
    fn hint_new_in_bulk(&mut self, positions: impl ExactSizeIterator<Item = u32> + Clone) {
        let (mut first, mut last) = (u64::MAX, 0);
        for position in positions.clone() {
            let bucket = bucket_at(&self.entries, position);
            (first, last) = (first.min(bucket), last.max(bucket));
        }
        self.hint_new_in_buckets(positions, first..=last);
    }

    /// [`BucketQueue::hint_new_in_bulk`] of entries whose buckets all lie in `buckets` (the caller
    /// has seen every deadline).
    fn hint_new_in_buckets(
        &mut self,
        positions: impl ExactSizeIterator<Item = u32> + Clone,
        buckets: std::ops::RangeInclusive<u64>,
    ) {
        self.spill_ready();
        let count = positions.len();
        if count == 0 {
            return;
        }
        let (first, last) = buckets.into_inner();
        // Counters for every bucket in `first..=last`, unless the deadlines are too sparse for that
        // (FOREVER among them, say): then a push per hint.
        let span = last - first + 1;
        if span > (count as u64).max(1 << 16) {
            for position in positions {
                self.buckets.push(bucket_at(&self.entries, position), position);
            }
            return;
        }
        // Per position its bucket's offset from `first`; per offset first the count, then where
        // its run starts in `by_bucket`, then where it ends.
        let mut offsets: Vec<u32> = vec_with_capacity_huge(count);
        let mut run_ends = vec![0u32; span as usize + 1];
        for position in positions.clone() {
            let offset = (bucket_at(&self.entries, position) - first) as u32;
            offsets.push(offset);
            run_ends[offset as usize + 1] += 1;
        }
        for offset in 1..run_ends.len() {
            run_ends[offset] += run_ends[offset - 1];
        }
        let mut by_bucket: Vec<u32> = vec_with_capacity_huge(count);
        by_bucket.resize(count, 0);
        for (position, &offset) in positions.zip(&offsets) {
            let next = &mut run_ends[offset as usize];
            by_bucket[*next as usize] = position;
            *next += 1;
        }
        // Each offset's counter moved from its run's start to its end, the next run's start.
        self.buckets.prepare_bulk(first, count);
        let mut run_start = 0;
        for (bucket, &run_end) in (first..).zip(&run_ends[..span as usize]) {
            let run = &by_bucket[run_start..run_end as usize];
            if !run.is_empty() {
                self.buckets.extend(bucket, run.iter().copied());
            }
            run_start = run_end as usize;
        }
    }

    /// Hints the new entries at `positions`, whose deadlines are `deadlines`, in place order: each
    /// run of entries with one bucket goes into it at once. For entries (nearly) sorted by
    /// deadline, as a promote passes them, that is one sequential pass with one copy per bucket.
    /// `first_bucket` is the earliest of their buckets.
    fn hint_new_in_runs(&mut self, positions: std::ops::Range<u32>, deadlines: &[Instant], first_bucket: u64) {
        self.spill_ready();
        self.buckets.prepare_bulk(first_bucket, deadlines.len());
        let mut run_start = 0;
        while let Some(&deadline) = deadlines.get(run_start) {
            let bucket = bucket_of(deadline);
            let run_len = deadlines[run_start..].iter().take_while(|&&d| bucket_of(d) == bucket).count();
            let run_first = positions.start + run_start as u32;
            self.buckets.extend(bucket, run_first..run_first + run_len as u32);
            run_start += run_len;
        }
    }

    /// [`ExpiryQueue::upsert_many`] into a queue with no entries (a promote after a demote): once
    /// `settle` has set the deadlines, the entries go into a cleared slab in input order with one
    /// sequential copy, the IDs into the ID table in one bulk insert, and the hints in bulk: by
    /// runs when the entries come (nearly) sorted by deadline, as a promote passes them, else by a
    /// counting sort. A repeated ID keeps its first position and takes the later deadline, as one
    /// upsert after another would; its extra position is freed.
    fn build<R>(
        &mut self,
        ids: &[LeaseId],
        deadlines: &mut [Instant],
        settle: impl FnOnce(&mut [Instant]) -> R,
        handles: &mut Vec<ExpiryHandle>,
    ) -> R {
        self.clear();
        // The slab is empty, so the `i`th entry goes to position `i`. The ID table fills from the
        // IDs alone, so with many entries it fills in a thread of its own while this one settles
        // the deadlines, copies the entries into the slab, hints them and writes their handles.
        let insert_ids = |table: &mut IdTable| {
            // `(position, earlier)`: the entry at `position` repeats the ID of the one at `earlier`.
            let mut repeats: Vec<(u32, u32)> = Vec::new();
            table.insert_all_unless_present(
                ids.iter().copied(),
                0,
                |p| ids[p as usize],
                |position, earlier| repeats.push((position, earlier)),
            );
            repeats
        };
        let settle_and_append =
            |queue: &mut BucketQueue, deadlines: &mut [Instant], handles: &mut Vec<ExpiryHandle>| {
                let settled = settle(deadlines);
                let positions = queue.append_and_hint(ids, deadlines);
                handles.clear();
                handles.reserve(ids.len());
                handles.extend(positions.map(ExpiryHandle));
                settled
            };
        let (repeats, settled) = if ids.len() >= TWO_THREADS_MIN {
            let mut table = std::mem::take(&mut self.ids);
            let answers = two_threads(|| insert_ids(&mut table), || settle_and_append(self, deadlines, handles));
            self.ids = table;
            answers
        } else {
            let settled = settle_and_append(self, deadlines, handles);
            (insert_ids(&mut self.ids), settled)
        };
        // A repeat's entry is freed (its hint is then a stale one); the earlier entry takes its
        // deadline and, since that may be an earlier bucket, a hint there (an extra hint is harmless).
        for &(position, earlier) in &repeats {
            let deadline = deadlines[position as usize];
            self.entries.set_deadline(earlier, deadline);
            self.entries.free(position);
            self.buckets.push(bucket_of(deadline), earlier);
            handles[position as usize] = ExpiryHandle(earlier);
        }
        settled
    }

    /// Stores `(ids[i], deadlines[i])` in the empty slab at position `i` and hints every one of
    /// them: by runs when they come (nearly) sorted by deadline, as a promote passes them, else by
    /// a counting sort. Answers their positions.
    fn append_and_hint(&mut self, ids: &[LeaseId], deadlines: &[Instant]) -> std::ops::Range<u32> {
        let first = self.entries.append(ids, deadlines);
        debug_assert_eq!(first, 0, "a bulk build into a slab that is not empty");
        let (mut first_bucket, mut last_bucket) = (u64::MAX, 0);
        // How many times the bucket changes from one entry to the next.
        let (mut bucket_changes, mut previous_bucket) = (0, None);
        for &deadline in deadlines {
            let bucket = bucket_of(deadline);
            (first_bucket, last_bucket) = (first_bucket.min(bucket), last_bucket.max(bucket));
            bucket_changes += usize::from(previous_bucket.replace(bucket) != Some(bucket));
        }
        let positions = first..first + deadlines.len() as u32;
        if bucket_changes <= deadlines.len() / SORTED_RUN_MIN {
            self.hint_new_in_runs(positions.clone(), deadlines, first_bucket);
        } else {
            self.hint_new_in_buckets(positions.clone(), first_bucket..=last_bucket);
        }
        positions
    }

    /// The entries in `(deadline, id)` order: what equality, hashing and `Debug` compare.
    fn sorted_entries(&self) -> Vec<(Instant, LeaseId)> {
        let mut entries: Vec<(Instant, LeaseId)> = self.entries_unordered().map(|(id, d)| (d, id)).collect();
        entries.sort_unstable();
        entries
    }

    /// Every `(id, deadline)`, in no particular order.
    fn entries_unordered(&self) -> impl Iterator<Item = (LeaseId, Instant)> + '_ {
        self.ids.positions().filter_map(|position| self.entries.get(position).map(|entry| (entry.id, entry.deadline)))
    }

    /// Drops the entries a scan found gone (`(id, position)`, each live): from the ID table and
    /// the slab, with the reads of the one a few ahead started early.
    fn drop_gone(&mut self, gone: &[(LeaseId, u32)]) {
        for (i, &(id, position)) in gone.iter().enumerate() {
            if let Some(&(ahead, ahead_position)) = gone.get(i + PREFETCH_AHEAD) {
                self.entries.prefetch(ahead_position);
                self.ids.prefetch_removal(ahead);
            }
            self.ids.remove_at(id, position);
            self.entries.free(position);
        }
    }

    /// Sorts out the hints of `bucket`: drops those of free entries and redundant ones, moves those
    /// whose deadline is later to that bucket, collects the entries due by `now` in `due` (unsorted,
    /// maybe repeated) and returns the rest (in this bucket, not yet due).
    fn sort_out_hints(&mut self, bucket: u64, mut hints: Vec<u32>, now: Instant, due: &mut Vec<Due>) -> Vec<u32> {
        let mut kept = 0;
        let free_id_position = self.ids.get(FREE_ID, |p| self.entries.id_at(p));
        // The deadlines of this bucket: `first_ms..=last_ms` (bucket 0 holds deadline 0 only).
        let first_ms = if bucket == 0 { 0 } else { (bucket - 1) * BUCKET_MS + 1 };
        let last_ms = bucket.saturating_mul(BUCKET_MS);
        debug_assert!(
            bucket_of(Instant::from_ms(first_ms)) == bucket && bucket_of(Instant::from_ms(last_ms)) == bucket
        );
        for &position in hints.iter().take(PREFETCH_AHEAD) {
            self.entries.prefetch(position);
        }
        for i in 0..hints.len() {
            if let Some(&ahead) = hints.get(i + PREFETCH_AHEAD) {
                self.entries.prefetch(ahead);
            }
            let position = hints[i];
            let Some(entry) = self.entries.get(position) else { continue };
            if !EntrySlab::is_live(entry, position, free_id_position) {
                continue;
            }
            // Whether the entry's bucket is this one, a later one or an earlier one, by its
            // deadline's place among this bucket's (no division per hint).
            if entry.deadline.as_ms() > last_ms {
                self.buckets.push(bucket_of(entry.deadline), position);
            } else if entry.deadline.as_ms() >= first_ms {
                if entry.deadline <= now {
                    due.push((entry.deadline, entry.id, position));
                } else {
                    hints[kept] = position;
                    kept += 1;
                }
            }
            // An earlier bucket: an earlier hint exists for this deadline; this one is redundant.
        }
        hints.truncate(kept);
        hints
    }
}

impl ExpiryQueue for BucketQueue {
    #[inline]
    fn upsert(&mut self, id: LeaseId, deadline: Instant) {
        self.upsert_handle(id, deadline);
    }

    #[inline]
    fn upsert_handle(&mut self, id: LeaseId, deadline: Instant) -> ExpiryHandle {
        let (position, new) = self.set_or_alloc(id, deadline);
        if new {
            self.hint_new(position, deadline);
        }
        ExpiryHandle(position)
    }

    #[inline]
    fn upsert_at(&mut self, handle: ExpiryHandle, id: LeaseId, deadline: Instant) -> ExpiryHandle {
        match self.position_at(handle, id) {
            Some(position) => {
                self.set_deadline(position, deadline);
                handle
            }
            None => self.upsert_handle(id, deadline),
        }
    }

    fn remove(&mut self, id: LeaseId) {
        let entries = &self.entries;
        if let Some(position) = self.ids.remove(id, |p| entries.id_at(p)) {
            self.ready_stale |= self.ready_bucket.is_some();
            self.entries.free(position);
        }
    }

    fn upsert_many<R>(
        &mut self,
        ids: &[LeaseId],
        deadlines: &mut [Instant],
        settle: impl FnOnce(&mut [Instant]) -> R,
        handles: &mut Vec<ExpiryHandle>,
    ) -> R {
        assert_eq!(ids.len(), deadlines.len(), "upsert_many: one deadline per ID");
        if self.is_empty() {
            return self.build(ids, deadlines, settle, handles);
        }
        let settled = settle(deadlines);
        self.ids.reserve(ids.len());
        self.entries.reserve(ids.len());
        handles.clear();
        // The ID table's slot of the entry a few ahead is prefetched, so the inserts' reads into a
        // table of tens of megabytes overlap instead of waiting one after the other; new entries
        // are hinted a bucket at a time at the end.
        let mut new_positions = vec_with_capacity_huge(ids.len());
        for (i, (&id, &deadline)) in ids.iter().zip(deadlines.iter()).enumerate() {
            if let Some(&ahead) = ids.get(i + PREFETCH_AHEAD) {
                self.ids.prefetch(ahead);
            }
            // A registered or repeated ID is set as `upsert` sets it (a new entry's hint follows
            // from its final deadline; an extra hint is harmless).
            let (position, new) = self.set_or_alloc(id, deadline);
            if new {
                new_positions.push(position);
            }
            handles.push(ExpiryHandle(position));
        }
        self.hint_new_in_bulk(new_positions.iter().copied());
        settled
    }

    fn peek(&self) -> Option<(LeaseId, Instant)> {
        // Every entry has a hint at or before its bucket, so once the buckets pass the best
        // deadline's bucket nothing earlier can remain.
        let mut best: Option<(Instant, LeaseId)> = self.ready[self.ready_start..]
            .iter()
            .filter(|&&(d, id, position)| self.live_entry(position) == Some(Entry { id, deadline: d }))
            .map(|&(d, id, _)| (d, id))
            .min();
        for (bucket, hints) in self.buckets.iter_in_order() {
            if best.is_some_and(|(deadline, _)| bucket > bucket_of(deadline)) {
                break;
            }
            for &position in hints {
                if let Some(entry) = self.live_entry(position)
                    && best.is_none_or(|b| (entry.deadline, entry.id) < b)
                {
                    best = Some((entry.deadline, entry.id));
                }
            }
        }
        best.map(|(deadline, id)| (id, deadline))
    }

    fn take_due<F: FnMut(LeaseId) -> DueCheck>(
        &mut self,
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        mut check: F,
        out: &mut Vec<LeaseId>,
    ) {
        if limit == 0 {
            return;
        }
        let last_bucket = bucket_of(now);
        let mut due = std::mem::take(&mut self.due_scratch);
        let mut merged = std::mem::take(&mut self.merge_scratch);
        let mut rearmed = std::mem::take(&mut self.rearm_scratch);
        let mut gone = std::mem::take(&mut self.gone_scratch);
        let mut reported = 0;
        let mut cursor = 0;
        while reported < limit {
            let next_hinted = self.buckets.next_bucket(cursor, last_bucket);
            let ready = self.ready_bucket.filter(|&b| b >= cursor && b <= last_bucket);
            let Some(bucket) = next_hinted.into_iter().chain(ready).min() else { break };
            let hints = self.buckets.take(bucket);
            due.clear();
            let rest = self.sort_out_hints(bucket, hints, now, &mut due);
            self.sorter.sort_due_of_bucket(&mut due);
            due.dedup();
            // What to walk: this bucket's due entries, or a bucket left at the limit resumed where
            // it stopped (its sorted remainder as it lies, or merged with new entries).
            let resumed = self.ready_bucket == Some(bucket);
            let validate = resumed && self.ready_stale;
            let (mut walk, origin) = if !resumed {
                (std::mem::take(&mut due), Origin::Due)
            } else if due.is_empty() {
                self.ready_bucket = None;
                (std::mem::take(&mut self.ready), Origin::Ready)
            } else {
                self.ready_bucket = None;
                merged.clear();
                merge_sorted(&self.ready[self.ready_start..], &due, &mut merged);
                merged.dedup();
                self.ready.clear();
                self.ready_start = 0;
                (std::mem::take(&mut merged), Origin::Merged)
            };
            let walk_start = if origin == Origin::Ready { std::mem::take(&mut self.ready_start) } else { 0 };
            let mut walked = walk_start;
            while let Some(&(deadline, id, position)) = walk.get(walked) {
                // Resumed entries were due by an earlier scan's `now`, which may be later than this
                // one's; sorted, so the rest are not due either and stay ready.
                if deadline > now {
                    break;
                }
                walked += 1;
                // A resumed entry may have been removed since it was read (then its position may
                // even hold another lease); anything else read in this call is as read.
                if validate {
                    match self.live_entry(position) {
                        Some(current) if current.id == id && current.deadline == deadline => {}
                        Some(current) if current.id == id && bucket_of(current.deadline) > bucket => {
                            self.buckets.push(bucket_of(current.deadline), position);
                            continue;
                        }
                        _ => continue,
                    }
                }
                // The walk only collects what to do: the writes it implies (dropping gone entries,
                // re-arming the others) touch a random slab line and table slot each, and run
                // afterwards as plain loops that start their reads ahead.
                match check(id) {
                    DueCheck::Gone => gone.push((id, position)),
                    verdict => {
                        rearmed.push(position);
                        if verdict == DueCheck::Expired {
                            out.push(id);
                            reported += 1;
                            if reported == limit {
                                break;
                            }
                        }
                    }
                }
            }
            self.drop_gone(&gone);
            gone.clear();
            if walked < walk.len() {
                // Another bucket's ready entries (a later bucket, left by an earlier scan with a
                // later `now`) go back to plain hints: only one bucket is ever ready.
                self.spill_ready();
                let emptied = std::mem::replace(&mut self.ready, walk);
                self.ready_start = walked;
                self.ready_bucket = Some(bucket);
                // Entries read in this call are current; resumed ones keep their doubt.
                self.ready_stale = validate;
                walk = emptied;
            } else if resumed {
                self.ready_stale = false;
            }
            walk.clear();
            match origin {
                Origin::Due => due = walk,
                Origin::Merged => merged = walk,
                // Back unless it became the ready list (then `walk` is the empty one it replaced).
                Origin::Ready if self.ready.capacity() == 0 => self.ready = walk,
                Origin::Ready => {}
            }
            self.buckets.put_back(bucket, rest);
            cursor = bucket + 1;
        }
        // Every bucket before the last one taken is empty now; if the walk ran out (rather than
        // stopping at the limit), every bucket before `now`'s is empty too.
        self.buckets.advance_low(if reported == limit { cursor - 1 } else { last_bucket });
        // Re-armed entries get their hints after the walk (and, for a `rearm_at <= now`, their
        // deadline too), so such a re-arm cannot loop forever. Their old hints were consumed by the
        // walk, so each gets a new one.
        let rearm_bucket = bucket_of(rearm_at);
        if self.ready_bucket == Some(rearm_bucket) && !rearmed.is_empty() {
            self.spill_ready();
        }
        for (i, &position) in rearmed.iter().enumerate() {
            if let Some(&ahead) = rearmed.get(i + PREFETCH_AHEAD) {
                self.entries.prefetch(ahead);
            }
            self.entries.set_deadline(position, rearm_at);
        }
        self.buckets.extend(rearm_bucket, rearmed.iter().copied());
        rearmed.clear();
        self.due_scratch = due;
        self.merge_scratch = merged;
        self.rearm_scratch = rearmed;
        self.gone_scratch = gone;
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.entries.clear();
        self.buckets.clear();
        self.ready.clear();
        self.ready_start = 0;
        self.ready_bucket = None;
        self.ready_stale = false;
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn deadline_of(&self, id: LeaseId) -> Option<Instant> {
        self.ids
            .get(id, |p| self.entries.id_at(p))
            .and_then(|position| self.entries.get(position))
            .map(|entry| entry.deadline)
    }
}

impl PartialEq for BucketQueue {
    fn eq(&self, other: &BucketQueue) -> bool {
        self.len() == other.len() && self.entries_unordered().all(|(id, d)| other.deadline_of(id) == Some(d))
    }
}

impl Eq for BucketQueue {}

impl Hash for BucketQueue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.sorted_entries().hash(state);
    }
}

impl fmt::Debug for BucketQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.sorted_entries().into_iter().map(|(d, id)| (id, d))).finish()
    }
}

/// Which of the scan's lists a walk borrowed (it goes back there afterwards).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Due,
    Merged,
    Ready,
}

/// Merges two sorted runs into `out`.
fn merge_sorted(a: &[Due], b: &[Due], out: &mut Vec<Due>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}
