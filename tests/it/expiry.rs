//! The expiry-index contract, checked by property: every `ExpiryQueue` implementation and a naive
//! model (a `Vec` scanned linearly) are driven by the same random operation sequences and must
//! answer every operation identically — the same due leases in the same order, the same peeks,
//! lengths and deadlines. Fixed seed: a failure reproduces on every run. The handle-based calls are
//! driven as the lessor drives them (the handle last returned for the lease), and also with stale or
//! foreign handles, which must change nothing but speed.

use std::collections::BTreeMap;

use leasesim::expiry::{BTreeQueue, BucketQueue, DueCheck, EtcdHeap, ExpiryHandle, ExpiryQueue, LazyHeap};
use leasesim::lease::LeaseId;
use leasesim::time::Instant;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// What the test's settle step adds to every third deadline of a bulk registration.
const SETTLE_DELAY: leasesim::time::Duration = leasesim::time::Duration::from_secs(1);

#[derive(Clone, Debug)]
enum Op {
    Upsert(LeaseId, Instant),
    Remove(LeaseId),
    /// `upsert_at` with the handle last returned for lease `handle_of` (usually `id` itself).
    UpsertAt {
        id: LeaseId,
        deadline: Instant,
        handle_of: LeaseId,
    },
    /// `remove_at` with the handle last returned for lease `handle_of`.
    RemoveAt {
        id: LeaseId,
        handle_of: LeaseId,
    },
    UpsertMany(Vec<(LeaseId, Instant)>),
    Peek,
    /// `verdict_salt` picks each due lease's `DueCheck` as a pure function of (salt, id).
    TakeDue {
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        verdict_salt: u64,
    },
    Clear,
    Len,
    DeadlineOf(LeaseId),
}

/// What one operation answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    None,
    Peek(Option<(LeaseId, Instant)>),
    Due(Vec<LeaseId>, Vec<(LeaseId, DueCheck)>),
    Len(usize),
    Deadline(Option<Instant>),
}

/// The naive model: one `(id, deadline)` per lease, every query a linear scan.
#[derive(Clone, Default)]
struct NaiveQueue {
    entries: Vec<(LeaseId, Instant)>,
}

impl NaiveQueue {
    fn position(&self, id: LeaseId) -> Option<usize> {
        self.entries.iter().position(|&(e, _)| e == id)
    }
    /// The earliest `(deadline, id)` at or before `now` not in `skip`.
    fn first_due(&self, now: Instant, skip: &[LeaseId]) -> Option<(Instant, LeaseId)> {
        self.entries.iter().filter(|&&(id, d)| d <= now && !skip.contains(&id)).map(|&(id, d)| (d, id)).min()
    }
}

impl ExpiryQueue for NaiveQueue {
    fn upsert(&mut self, id: LeaseId, deadline: Instant) {
        match self.position(id) {
            Some(i) => self.entries[i].1 = deadline,
            None => self.entries.push((id, deadline)),
        }
    }
    fn remove(&mut self, id: LeaseId) {
        if let Some(i) = self.position(id) {
            self.entries.remove(i);
        }
    }
    fn peek(&self) -> Option<(LeaseId, Instant)> {
        self.entries.iter().map(|&(id, d)| (d, id)).min().map(|(d, id)| (id, d))
    }
    fn take_due<F: FnMut(LeaseId) -> DueCheck>(
        &mut self,
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        mut check: F,
        out: &mut Vec<LeaseId>,
    ) {
        let mut visited: Vec<LeaseId> = Vec::new();
        let mut reported = 0;
        while reported < limit {
            let Some((_, id)) = self.first_due(now, &visited) else { break };
            visited.push(id);
            match check(id) {
                DueCheck::Gone => self.remove(id),
                DueCheck::Alive => {}
                DueCheck::Expired => {
                    out.push(id);
                    reported += 1;
                }
            }
        }
        for id in visited {
            if let Some(i) = self.position(id) {
                self.entries[i].1 = rearm_at;
            }
        }
    }
    fn clear(&mut self) {
        self.entries.clear();
    }
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn deadline_of(&self, id: LeaseId) -> Option<Instant> {
        self.position(id).map(|i| self.entries[i].1)
    }
}

fn verdict(salt: u64, id: LeaseId) -> DueCheck {
    let mixed = (salt ^ id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    match mixed % 4 {
        0 => DueCheck::Gone,
        1 => DueCheck::Alive,
        _ => DueCheck::Expired,
    }
}

fn run<Q: ExpiryQueue>(ops: &[Op]) -> Vec<Answer> {
    let mut queue = Q::default();
    // What a lessor keeps in its lease records: the handle last returned per lease.
    let mut handles: BTreeMap<LeaseId, ExpiryHandle> = BTreeMap::new();
    let mut returned = Vec::new();
    ops.iter()
        .map(|op| match *op {
            Op::Upsert(id, deadline) => {
                queue.upsert(id, deadline);
                Answer::None
            }
            Op::Remove(id) => {
                queue.remove(id);
                Answer::None
            }
            Op::UpsertAt { id, deadline, handle_of } => {
                let handle = handles.get(&handle_of).copied().unwrap_or_default();
                let new = queue.upsert_at(handle, id, deadline);
                handles.insert(id, new);
                Answer::None
            }
            Op::RemoveAt { id, handle_of } => {
                queue.remove_at(handles.get(&handle_of).copied().unwrap_or_default(), id);
                Answer::None
            }
            Op::UpsertMany(ref entries) => {
                let ids: Vec<LeaseId> = entries.iter().map(|&(id, _)| id).collect();
                let mut deadlines: Vec<Instant> = entries.iter().map(|&(_, deadline)| deadline).collect();
                // A settle step, as promote's pile-up pass is one: every third deadline a second later.
                let settle = |deadlines: &mut [Instant]| {
                    deadlines.iter_mut().step_by(3).map(|deadline| *deadline = *deadline + SETTLE_DELAY).count()
                };
                let delayed = queue.upsert_many(&ids, &mut deadlines, settle, &mut returned);
                assert_eq!(delayed, entries.len().div_ceil(3), "upsert_many answers what settle answers");
                assert_eq!(returned.len(), entries.len(), "one handle per entry");
                for (&(id, _), &handle) in entries.iter().zip(&returned) {
                    handles.insert(id, handle);
                }
                Answer::None
            }
            Op::Peek => Answer::Peek(queue.peek()),
            Op::TakeDue { now, limit, rearm_at, verdict_salt } => {
                let mut asked = Vec::new();
                let mut out = Vec::new();
                let check = |id| {
                    let v = verdict(verdict_salt, id);
                    asked.push((id, v));
                    v
                };
                queue.take_due(now, limit, rearm_at, check, &mut out);
                Answer::Due(out, asked)
            }
            Op::Clear => {
                queue.clear();
                Answer::None
            }
            Op::Len => Answer::Len(queue.len()),
            Op::DeadlineOf(id) => Answer::Deadline(queue.deadline_of(id)),
        })
        .collect()
}

fn lease_id() -> impl Strategy<Value = LeaseId> {
    prop_oneof![
        8 => -20i64..40,
        1 => Just(LeaseId::MIN),
        1 => Just(LeaseId::MAX),
        1 => any::<i64>(),
    ]
}

/// Mostly a few seconds of deadlines (many ties, many per bucket), some at or near FOREVER.
fn instant() -> impl Strategy<Value = Instant> {
    prop_oneof![
        12 => (0u64..4_000).prop_map(Instant),
        4 => (0u64..40).prop_map(|t| Instant(t * 100)),
        1 => Just(Instant::FOREVER),
        1 => (u64::MAX - 1_000..u64::MAX).prop_map(Instant),
        1 => any::<u64>().prop_map(Instant),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (lease_id(), instant()).prop_map(|(id, d)| Op::Upsert(id, d)),
        3 => lease_id().prop_map(Op::Remove),
        5 => (lease_id(), instant(), prop::option::weighted(0.8, Just(())), lease_id()).prop_map(
            |(id, deadline, own, other)| Op::UpsertAt { id, deadline, handle_of: if own.is_some() { id } else { other } }
        ),
        2 => (lease_id(), prop::option::weighted(0.8, Just(())), lease_id())
            .prop_map(|(id, own, other)| Op::RemoveAt { id, handle_of: if own.is_some() { id } else { other } }),
        1 => prop::collection::vec((lease_id(), instant()), 0..12).prop_map(Op::UpsertMany),
        2 => Just(Op::Peek),
        5 => (instant(), 0usize..12, prop_oneof![3 => 1u64..5_000, 1 => Just(0u64)], any::<u64>(), any::<bool>())
            .prop_map(|(now, limit, retry_ms, verdict_salt, rearm_in_past)| {
                // Re-arms are usually in the future, as in etcd; sometimes at or before `now`.
                let rearm_at = if rearm_in_past { Instant(now.as_ms() / 2) } else { now + leasesim::time::Duration(retry_ms) };
                Op::TakeDue { now, limit, rearm_at, verdict_salt }
            }),
        1 => Just(Op::Clear),
        2 => Just(Op::Len),
        2 => lease_id().prop_map(Op::DeadlineOf),
    ]
}

fn config() -> Config {
    Config { cases: 256, rng_seed: RngSeed::Fixed(0x1ea5_e51a), failure_persistence: None, ..Config::default() }
}

#[track_caller]
fn assert_same_answers(name: &str, expected: &[Answer], actual: &[Answer], ops: &[Op]) {
    if let Some(i) = (0..expected.len()).find(|&i| expected[i] != actual[i]) {
        panic!(
            "{name} differs from the reference at op {i} {:?}:\n  reference: {:?}\n  {name}: {:?}\nthe ops before it: {:?}",
            ops[i],
            expected[i],
            actual[i],
            &ops[i.saturating_sub(30)..i]
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_expiry_queue_answers_like_the_naive_model(ops in prop::collection::vec(op(), 1..200)) {
        let model = run::<NaiveQueue>(&ops);
        assert_same_answers("BTreeQueue", &model, &run::<BTreeQueue>(&ops), &ops);
        assert_same_answers("EtcdHeap", &model, &run::<EtcdHeap>(&ops), &ops);
        assert_same_answers("LazyHeap", &model, &run::<LazyHeap>(&ops), &ops);
        assert_same_answers("BucketQueue", &model, &run::<BucketQueue>(&ops), &ops);
    }
}

/// Thousands of leases in few buckets: long probe runs, table growth, partly taken buckets, and
/// enough pushes that `BucketQueue` switches to its bucket ring, with deadlines outside its window.
#[test]
fn bucket_queue_matches_the_btree_queue_at_scale() {
    let mut ops = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for step in 0..60_000u64 {
        let r = next();
        let id = (r >> 20) as i64 % 5_000;
        let now = Instant(step / 20 * 100);
        if step % 15_000 == 0 {
            // A promote after a demote: bulk registration into a cleared queue (past the ring
            // threshold), with repeated IDs and some deadlines hours ahead; every other batch has
            // some FOREVER (deadlines too far apart to be sorted by bucket).
            ops.push(Op::Clear);
            let forever = step % 30_000 == 0;
            let entries: Vec<(LeaseId, Instant)> = (0..20_000)
                .map(|_| {
                    let r = next();
                    let deadline = match r % 500 {
                        0 if forever => Instant::FOREVER,
                        0 | 1 => now + leasesim::time::Duration(7_000_000 + (r >> 40) % 9_000_000),
                        _ => now + leasesim::time::Duration(2_000 + (r >> 40) % 30_000),
                    };
                    ((r >> 20) as i64 % 8_000, deadline)
                })
                .collect();
            // Every other batch as the lessor's promote passes it: distinct IDs in ascending order.
            let entries = if step % 30_000 == 0 {
                entries
            } else {
                let mut by_id: BTreeMap<LeaseId, Instant> = BTreeMap::new();
                by_id.extend(entries);
                by_id.into_iter().collect()
            };
            ops.push(Op::UpsertMany(entries));
        }
        ops.push(match r % 16 {
            0..=3 => Op::Upsert(id, now + leasesim::time::Duration(2_000 + (r >> 40) % 30_000)),
            // As the lessor renews: by the handle it kept.
            4..=7 => {
                Op::UpsertAt { id, deadline: now + leasesim::time::Duration(2_000 + (r >> 40) % 30_000), handle_of: id }
            }
            // Outside BucketQueue's ring window: hours ahead, or already past.
            8 if r & (1 << 20) == 0 => {
                Op::Upsert(id, now + leasesim::time::Duration(7_000_000 + (r >> 40) % 9_000_000))
            }
            8 => Op::Upsert(id, Instant(now.as_ms().saturating_sub((r >> 40) % 20_000))),
            9 => Op::Remove(id),
            10 => Op::RemoveAt { id, handle_of: id },
            11 => Op::Peek,
            _ => Op::TakeDue {
                now,
                limit: 1 + (r >> 33) as usize % 700,
                rearm_at: now + leasesim::time::Duration(3_000),
                verdict_salt: r,
            },
        });
    }
    let model = run::<BTreeQueue>(&ops);
    assert_same_answers("BucketQueue", &model, &run::<BucketQueue>(&ops), &ops);
    assert_same_answers("EtcdHeap", &model, &run::<EtcdHeap>(&ops), &ops);
    assert_same_answers("LazyHeap", &model, &run::<LazyHeap>(&ops), &ops);
}
