//! `EtcdHeap`: a faithful port of etcd's `LeaseExpiredNotifier` — the baseline the benches compare
//! against.
//!
//! etcd keeps a binary min-heap of `*LeaseWithTime{id, time, index}` (`LeaseQueue`, driven by Go's
//! `container/heap`) plus `m map[LeaseID]*LeaseWithTime`; `RegisterOrUpdate` updates an existing
//! item in place and calls `heap.Fix`, a new one is `heap.Push`ed. Here the items live in a slab
//! (a handle stands for Go's pointer), the heap holds handles and every item knows its heap index,
//! exactly as in Go. The one deliberate difference: ties are broken by lease ID (the trait's
//! contract), where etcd's heap compares times only.
//!
//! The scan re-arms an expired top in place (`item.time = now + retry; RegisterOrUpdate`), as
//! etcd's `expireExists` does. It does not try to be faster than etcd's structure.

use std::collections::HashMap;

use super::id_hash::IdBuildHasher;
use super::{DueCheck, ExpiryQueue};
use crate::lease::LeaseId;
use crate::time::Instant;

/// etcd's `LeaseWithTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct LeaseWithTime {
    id: LeaseId,
    time: Instant,
    /// Position in `heap`.
    index: u32,
}

type Handle = u32;

#[derive(Clone, Debug, Default)]
pub struct EtcdHeap {
    /// The items (Go: heap-allocated `LeaseWithTime`s); freed slots are reused.
    items: Vec<LeaseWithTime>,
    free: Vec<Handle>,
    /// `LeaseQueue`: a binary min-heap of items by `(time, id)`.
    heap: Vec<Handle>,
    /// `m map[LeaseID]*LeaseWithTime`.
    m: HashMap<LeaseId, Handle, IdBuildHasher>,
}

impl EtcdHeap {
    fn key(&self, position: usize) -> (Instant, LeaseId) {
        let item = &self.items[self.heap[position] as usize];
        (item.time, item.id)
    }

    fn less(&self, i: usize, j: usize) -> bool {
        self.key(i) < self.key(j)
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.heap.swap(i, j);
        self.items[self.heap[i] as usize].index = i as u32;
        self.items[self.heap[j] as usize].index = j as u32;
    }

    /// `container/heap`'s `up`.
    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let parent = (j - 1) / 2;
            if !self.less(j, parent) {
                break;
            }
            self.swap(parent, j);
            j = parent;
        }
    }

    /// `container/heap`'s `down`; true if the element moved.
    fn down(&mut self, start: usize) -> bool {
        let n = self.heap.len();
        let mut i = start;
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let mut child = left;
            if left + 1 < n && self.less(left + 1, left) {
                child = left + 1;
            }
            if !self.less(child, i) {
                break;
            }
            self.swap(i, child);
            i = child;
        }
        i > start
    }

    /// `heap.Fix`.
    fn fix(&mut self, position: usize) {
        if !self.down(position) {
            self.up(position);
        }
    }

    /// `heap.Push` of a new item.
    fn push(&mut self, id: LeaseId, time: Instant) -> Handle {
        let index = self.heap.len() as u32;
        let item = LeaseWithTime { id, time, index };
        let handle = match self.free.pop() {
            Some(handle) => {
                self.items[handle as usize] = item;
                handle
            }
            None => {
                self.items.push(item);
                u32::try_from(self.items.len() - 1).expect("EtcdHeap holds at most 2^32 items")
            }
        };
        self.heap.push(handle);
        self.up(index as usize);
        handle
    }

    /// `heap.Remove` at a heap position; frees the item.
    fn remove_at(&mut self, position: usize) {
        let last = self.heap.len() - 1;
        if position != last {
            self.swap(position, last);
        }
        let handle = self.heap.pop().expect("remove_at on a non-empty heap");
        if position != last {
            self.fix(position);
        }
        self.free.push(handle);
    }

    /// `RegisterOrUpdate`.
    fn register_or_update(&mut self, id: LeaseId, time: Instant) {
        match self.m.get(&id) {
            Some(&handle) => {
                let item = &mut self.items[handle as usize];
                item.time = time;
                let position = item.index as usize;
                self.fix(position);
            }
            None => {
                let handle = self.push(id, time);
                self.m.insert(id, handle);
            }
        }
    }
}

impl ExpiryQueue for EtcdHeap {
    fn upsert(&mut self, id: LeaseId, deadline: Instant) {
        self.register_or_update(id, deadline);
    }

    fn remove(&mut self, id: LeaseId) {
        if let Some(handle) = self.m.remove(&id) {
            let position = self.items[handle as usize].index as usize;
            self.remove_at(position);
        }
    }

    fn peek(&self) -> Option<(LeaseId, Instant)> {
        self.heap.first().map(|&handle| {
            let item = &self.items[handle as usize];
            (item.id, item.time)
        })
    }

    fn take_due<F: FnMut(LeaseId) -> DueCheck>(
        &mut self,
        now: Instant,
        limit: usize,
        rearm_at: Instant,
        mut check: F,
        out: &mut Vec<LeaseId>,
    ) {
        // etcd re-arms in place (`RegisterOrUpdate` of the top) since its retry time is in the
        // future; a re-arm at or before `now` is deferred so the walk cannot loop.
        let rearm_in_place = rearm_at > now;
        let mut deferred = Vec::new();
        let mut reported = 0;
        while reported < limit {
            let Some((id, time)) = self.peek() else { break };
            if time > now {
                break;
            }
            match check(id) {
                DueCheck::Gone => {
                    // etcd's `Unregister`: pop the top and forget it.
                    self.m.remove(&id);
                    self.remove_at(0);
                }
                verdict => {
                    if rearm_in_place {
                        self.items[self.heap[0] as usize].time = rearm_at;
                        self.fix(0);
                    } else {
                        self.m.remove(&id);
                        self.remove_at(0);
                        deferred.push(id);
                    }
                    if verdict == DueCheck::Expired {
                        out.push(id);
                        reported += 1;
                    }
                }
            }
        }
        for id in deferred {
            self.register_or_update(id, rearm_at);
        }
    }

    fn clear(&mut self) {
        self.items.clear();
        self.free.clear();
        self.heap.clear();
        self.m.clear();
    }

    fn len(&self) -> usize {
        self.m.len()
    }

    fn deadline_of(&self, id: LeaseId) -> Option<Instant> {
        self.m.get(&id).map(|&handle| self.items[handle as usize].time)
    }
}
