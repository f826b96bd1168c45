//! The breadth-first checker behind `leasesim check --strategy bfs`: level by level over any
//! stateright `Model`, on a few threads, with the same counts as stateright's own BFS and a result
//! that does not depend on the number of threads.
//!
//! Owns the search only: the models, their properties and the report are the caller's. Why not
//! stateright's `spawn_bfs`: per generated state it clones and grows the action path (a heap
//! `Vec`), looks up every property's name in a shared map and shares one queue between threads;
//! its discoveries depend on the threads' interleaving, and a later one overwrites an earlier one.
//! Here a level is expanded in fixed chunks that threads take in turn, every successor is looked
//! up in the set of earlier levels' fingerprints (read-only while the level runs) and in its
//! chunk's own, and the survivors are merged in chunk order, so the next level, the parent links
//! and the discoveries are the same on one thread or many. A successor is checked against the
//! properties not yet discovered when it is made (while it is in cache; a separate pass over the
//! level would read every state from memory again), and the merge takes the first of each
//! property's discoverers in level order. A state keeps a parent link (8 bytes) instead of a path,
//! and the states at the depth bound only their fingerprints.
//!
//! Semantics, kept equal to stateright 0.31's BFS so that counts agree (a test runs both):
//! - the initial states are at depth 1; `depth_target` is stateright's `target_max_depth`: states
//!   at that depth are generated and counted but neither checked nor expanded;
//! - `states` counts the initial states and every generated successor within the boundary,
//!   duplicates included; `unique_states` counts distinct fingerprints;
//! - an `always` property is discovered by a state where it is false, a `sometimes` one by a state
//!   where it is true; `Eventually` properties are not supported (none of our models has one).
//!
//! Differences, each on purpose: the discovery of a property is the first state in BFS order (so
//! the shortest path, and the same on every run), and a level whose discoveries complete the
//! `stop_at_first_of` set (or every property) is not expanded (stateright goes on to the end of a
//! block of states, so such a run counts fewer states here). `states_target` stops between chunks,
//! so how far past it a run goes depends on the threads' timing.
//!
//! It reads no clock; it spawns scoped threads per pass.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use stateright::{Expectation, Model, Path, Property};

/// States per chunk: small enough that two threads share a level of a few hundred states, large
/// enough that taking a chunk (one atomic add, one lock) costs nothing per state.
const CHUNK_STATES: usize = 64;

/// Room for this many new successors per state in a chunk's output, so that it rarely grows (a
/// grown output is copied; a lessor-model state offers up to about 20 actions).
const CANDIDATES_PER_STATE: usize = 16;

/// Room for this many fingerprints per state in a chunk's own set before it grows (the lessor
/// model makes about 3 successors per state, most of them new to the chunk).
const FRESH_PER_STATE: usize = 4;

/// How far a search goes.
#[derive(Clone, Debug, Default)]
pub struct Bounds {
    /// stateright's `target_max_depth`: the depth (initial states at 1) at which states are no
    /// longer checked or expanded.
    pub depth_target: Option<usize>,
    /// Stop (between chunks) once this many states are generated.
    pub states_target: Option<usize>,
    /// Stop after the level in which any of these properties is discovered (empty: after the
    /// level in which every property is).
    pub stop_at_first_of: Vec<&'static str>,
    pub threads: usize,
}

/// What a search found.
pub struct Outcome<M: Model> {
    pub states: usize,
    pub unique_states: usize,
    /// The depth of the deepest level reached (initial states at 1), as stateright reports it.
    pub depth_max: usize,
    /// Per property, in the model's order: the first discovery in BFS order.
    pub discoveries: Vec<Option<Path<M::State, M::Action>>>,
}

/// A state's parent: its index in the previous level (for an initial state, its index among the
/// initial states) and the index of the action in the parent's `actions`.
#[derive(Clone, Copy)]
struct Link {
    parent: u32,
    action: u32,
}

/// A successor that is new to the earlier levels and to its chunk; the merge decides if it is new
/// to its level.
struct Candidate<S> {
    fingerprint: u64,
    link: Link,
    /// Bit `p`: the state discovers property `p` (checked when it was made, while it is in cache).
    discovers: u64,
    state: S,
}

/// Which of the `open` properties `state` discovers, as bits by property index: an `always` where
/// it is false, a `sometimes` where it is true.
fn discoveries<M: Model>(model: &M, properties: &[Property<M>], open: &[usize], state: &M::State) -> u64 {
    let mut bits = 0;
    for &p in open {
        let property = &properties[p];
        if (property.condition)(model, state) == (property.expectation == Expectation::Sometimes) {
            bits |= 1 << p;
        }
    }
    bits
}

/// A chunk's new successors. Those at the target depth are neither checked nor expanded: only
/// their fingerprints are kept (and dropped where they were made).
enum Output<S> {
    States(Vec<Candidate<S>>),
    Fingerprints(Vec<u64>),
}

/// The fingerprints are already hashes: the set uses them as they are.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 fingerprints are hashed")
    }
    fn write_u64(&mut self, fingerprint: u64) {
        self.0 = fingerprint;
    }
}

type Seen = HashSet<u64, BuildHasherDefault<FingerprintHasher>>;

/// A state's fingerprint: ahash with stateright's fixed keys, so runs are repeatable.
fn fingerprint<S: Hash>(state: &S) -> u64 {
    ahash::RandomState::with_seeds(123_456_789_987_654_321, 98_765_432_123_456_789, 0, 0).hash_one(state)
}

/// Runs `f(chunk)` for every chunk index below `chunk_count` on `threads` threads (inline on
/// one), each index once, until `stop` is set.
fn for_each_chunk(threads: usize, chunk_count: usize, stop: &AtomicBool, f: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    let work = || {
        while !stop.load(Ordering::Relaxed) {
            let chunk = next.fetch_add(1, Ordering::Relaxed);
            if chunk >= chunk_count {
                break;
            }
            f(chunk);
        }
    };
    let helpers = threads.min(chunk_count).saturating_sub(1);
    if helpers == 0 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(work);
            }
            work();
        });
    }
}

/// Breadth-first search of `model` within `bounds`.
pub fn search<M>(model: &M, bounds: &Bounds) -> Outcome<M>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq,
{
    let properties = model.properties();
    assert!(
        properties.iter().all(|p| p.expectation != Expectation::Eventually),
        "the level-synchronous BFS does not check `eventually` properties"
    );
    assert!(properties.len() <= 64, "a model has at most 64 properties (a state's discoveries are a u64)");
    let stops: Vec<bool> = properties.iter().map(|p| bounds.stop_at_first_of.contains(&p.name)).collect();
    let threads = bounds.threads.max(1);
    let init_states: Vec<M::State> = model.init_states().into_iter().filter(|s| model.within_boundary(s)).collect();

    let mut seen = Seen::default();
    let mut states = init_states.len();
    // Level 0 keeps the first of equal initial states, as stateright's fingerprint set does.
    let mut links: Vec<Vec<Link>> = vec![Vec::new()];
    let mut frontier: Vec<Mutex<Vec<M::State>>> = Vec::new();
    let mut last = Vec::new();
    for (index, state) in init_states.iter().enumerate() {
        if seen.insert(fingerprint(state)) {
            links[0].push(Link { parent: index as u32, action: u32::MAX });
            push_chunked(&mut frontier, &mut last, state.clone());
        }
    }
    flush_chunk(&mut frontier, &mut last);

    // Per property, its first discovery in BFS order as (level, index in level). The initial states
    // are checked here; every later state when it is made (see `Candidate::discovers`).
    let mut found: Vec<Option<(usize, usize)>> = vec![None; properties.len()];
    let all: Vec<usize> = (0..properties.len()).collect();
    let mut index = 0;
    let check_init = bounds.depth_target.is_none_or(|target| target > 1);
    for chunk in frontier.iter().filter(|_| check_init) {
        for state in chunk.lock().expect("no checker thread panics").iter() {
            record_discoveries(&mut found, 0, index, discoveries(model, &properties, &all, state));
            index += 1;
        }
    }
    let mut depth_max = 0;
    let stop = AtomicBool::new(false);
    for depth in 1.. {
        if frontier.is_empty() {
            break;
        }
        depth_max = depth;
        if bounds.depth_target.is_some_and(|target| depth >= target) {
            break;
        }
        let done = if bounds.stop_at_first_of.is_empty() {
            found.iter().all(Option::is_some)
        } else {
            found.iter().zip(&stops).any(|(f, &s)| s && f.is_some())
        };
        if done {
            break;
        }
        let open: Vec<usize> = (0..properties.len()).filter(|&p| found[p].is_none()).collect();

        // Expand: every chunk's successors that earlier levels have not seen, in chunk order.
        let keep_states = bounds.depth_target.is_none_or(|target| depth + 1 < target);
        let outputs: Vec<Mutex<Output<M::State>>> =
            frontier.iter().map(|_| Mutex::new(Output::Fingerprints(Vec::new()))).collect();
        let generated = AtomicUsize::new(states);
        for_each_chunk(threads, frontier.len(), &stop, |chunk| {
            let parents = std::mem::take(&mut *frontier[chunk].lock().expect("no checker thread panics"));
            let capacity = parents.len() * CANDIDATES_PER_STATE;
            let mut out = if keep_states {
                Output::States(Vec::with_capacity(capacity))
            } else {
                Output::Fingerprints(Vec::with_capacity(capacity))
            };
            // The chunk's own new fingerprints: a duplicate within the chunk is dropped here, on
            // this thread (the merge would keep the same first one), not by the merge.
            let mut fresh = Seen::with_capacity_and_hasher(parents.len() * FRESH_PER_STATE, Default::default());
            let mut actions = Vec::new();
            let mut count = 0;
            for (offset, parent) in parents.iter().enumerate() {
                model.actions(parent, &mut actions);
                for (action_index, action) in actions.drain(..).enumerate() {
                    let Some(state) = model.next_state(parent, action) else { continue };
                    if !model.within_boundary(&state) {
                        continue;
                    }
                    count += 1;
                    let fingerprint = fingerprint(&state);
                    if !seen.contains(&fingerprint) && fresh.insert(fingerprint) {
                        match &mut out {
                            Output::States(out) => {
                                let parent = (chunk * CHUNK_STATES + offset) as u32;
                                let link = Link { parent, action: action_index as u32 };
                                let discovers = discoveries(model, &properties, &open, &state);
                                out.push(Candidate { fingerprint, link, discovers, state });
                            }
                            Output::Fingerprints(out) => out.push(fingerprint),
                        }
                    }
                }
            }
            drop(parents);
            *outputs[chunk].lock().expect("no checker thread panics") = out;
            let total = generated.fetch_add(count, Ordering::Relaxed) + count;
            if bounds.states_target.is_some_and(|target| total >= target) {
                stop.store(true, Ordering::Relaxed);
            }
        });
        states = generated.into_inner();

        // Merge: the first candidate of each fingerprint joins the next level.
        let mut next = Vec::new();
        let mut level_links = Vec::new();
        let mut last_level_len = 0;
        for output in outputs {
            match output.into_inner().expect("no checker thread panics") {
                Output::States(candidates) => {
                    for candidate in candidates {
                        if seen.insert(candidate.fingerprint) {
                            record_discoveries(&mut found, depth, level_links.len(), candidate.discovers);
                            level_links.push(candidate.link);
                            push_chunked(&mut next, &mut last, candidate.state);
                        }
                    }
                }
                Output::Fingerprints(fingerprints) => {
                    last_level_len += fingerprints.into_iter().filter(|&f| seen.insert(f)).count();
                }
            }
        }
        flush_chunk(&mut next, &mut last);
        links.push(level_links);
        frontier = next;
        if last_level_len > 0 {
            depth_max = depth + 1; // the target depth, reached but not expanded
        }
        if stop.load(Ordering::Relaxed) || !keep_states {
            break;
        }
    }

    let discoveries =
        found.iter().map(|f| f.map(|(level, index)| path_to(model, &init_states, &links, level, index))).collect();
    Outcome { states, unique_states: seen.len(), depth_max, discoveries }
}

/// Records state `index` of `level` as the discovery of each property in `bits` not found before.
fn record_discoveries(found: &mut [Option<(usize, usize)>], level: usize, index: usize, mut bits: u64) {
    while bits != 0 {
        let p = bits.trailing_zeros() as usize;
        found[p].get_or_insert((level, index));
        bits &= bits - 1;
    }
}

/// Appends `state` to the chunk being filled, starting a new one when it is full.
fn push_chunked<S>(chunks: &mut Vec<Mutex<Vec<S>>>, last: &mut Vec<S>, state: S) {
    if last.len() == CHUNK_STATES {
        flush_chunk(chunks, last);
    }
    if last.capacity() == 0 {
        last.reserve_exact(CHUNK_STATES);
    }
    last.push(state);
}

fn flush_chunk<S>(chunks: &mut Vec<Mutex<Vec<S>>>, last: &mut Vec<S>) {
    if !last.is_empty() {
        chunks.push(Mutex::new(std::mem::take(last)));
    }
}

/// The path from an initial state to state `index` of `level`, replayed through the model.
fn path_to<M>(
    model: &M,
    init_states: &[M::State],
    links: &[Vec<Link>],
    level: usize,
    index: usize,
) -> Path<M::State, M::Action>
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let mut action_indices = Vec::with_capacity(level);
    let mut index = index;
    for level_links in links[1..=level].iter().rev() {
        let link = level_links[index];
        action_indices.push(link.action as usize);
        index = link.parent as usize;
    }
    let init = init_states[links[0][index].parent as usize].clone();
    let mut state = init.clone();
    let mut actions = Vec::with_capacity(level);
    let mut offered = Vec::new();
    for &action_index in action_indices.iter().rev() {
        model.actions(&state, &mut offered);
        let action = offered.swap_remove(action_index);
        offered.clear();
        state = model.next_state(&state, action.clone()).expect("a recorded action is enabled");
        actions.push(action);
    }
    Path::from_actions(model, init, &actions).expect("a recorded path replays")
}

#[cfg(test)]
mod tests {
    use stateright::{Checker, Property};

    use super::*;

    /// Three digits 0..=4; action `i` bumps digit `i` (none past 4): 125 states, paths up to 12
    /// actions. `sum_below` is violated first at `sum_below` actions (never at 13); `all_equal_2` is
    /// found at 6.
    struct Digits {
        sum_below: u8,
    }

    /// A model whose `always` holds, so that every run explores everything.
    const HOLDS: Digits = Digits { sum_below: 13 };

    impl Model for Digits {
        type State = [u8; 3];
        type Action = usize;
        fn init_states(&self) -> Vec<[u8; 3]> {
            vec![[0; 3]]
        }
        fn actions(&self, digits: &[u8; 3], actions: &mut Vec<usize>) {
            actions.extend((0..3).filter(|&i| digits[i] < 4));
        }
        fn next_state(&self, digits: &[u8; 3], action: usize) -> Option<[u8; 3]> {
            let mut next = *digits;
            next[action] += 1;
            Some(next)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![
                Property::always("sum_below", |m: &Digits, d: &[u8; 3]| d.iter().sum::<u8>() < m.sum_below),
                Property::sometimes("all_equal_2", |_, d: &[u8; 3]| *d == [2, 2, 2]),
            ]
        }
    }

    fn stateright(depth_target: Option<usize>) -> (usize, usize, usize) {
        let mut builder = HOLDS.checker();
        if let Some(depth) = depth_target {
            builder = builder.target_max_depth(depth);
        }
        let checker = builder.spawn_bfs().join();
        (checker.state_count(), checker.unique_state_count(), checker.max_depth())
    }

    fn bounds(depth_target: Option<usize>, threads: usize) -> Bounds {
        Bounds { depth_target, states_target: None, stop_at_first_of: Vec::new(), threads }
    }

    #[test]
    fn counts_are_staterights_on_any_thread_count() {
        for depth_target in [None, Some(3), Some(6)] {
            for threads in 1..=3 {
                let outcome = search(&HOLDS, &bounds(depth_target, threads));
                let counts = (outcome.states, outcome.unique_states, outcome.depth_max);
                assert_eq!(counts, stateright(depth_target), "depth target {depth_target:?}, {threads} threads");
            }
        }
        assert_eq!(search(&HOLDS, &bounds(None, 1)).unique_states, 125);
    }

    #[test]
    fn discoveries_are_the_shortest_paths() {
        let outcome = search(&Digits { sum_below: 4 }, &bounds(None, 2));
        let lengths: Vec<Option<usize>> =
            outcome.discoveries.iter().map(|d| d.clone().map(|p| p.into_actions().len())).collect();
        assert_eq!(lengths, [Some(4), Some(6)]);
        let violation = outcome.discoveries[0].as_ref().expect("found");
        assert_eq!(violation.last_state().iter().sum::<u8>(), 4);
        assert_eq!(*outcome.discoveries[1].as_ref().expect("found").last_state(), [2, 2, 2]);
    }

    #[test]
    fn stops_after_the_first_level_with_a_named_discovery() {
        let model = Digits { sum_below: 4 };
        let all = search(&HOLDS, &bounds(None, 1));
        let first = search(&model, &Bounds { stop_at_first_of: vec!["sum_below"], ..bounds(None, 2) });
        assert!(first.discoveries[0].is_some() && first.discoveries[1].is_none());
        // Levels 1..=5 (paths of up to 4 actions) were checked, levels 1..=4 expanded.
        assert_eq!(first.depth_max, 5);
        assert!(first.states < all.states, "{} < {}", first.states, all.states);
        let capped = search(&HOLDS, &Bounds { states_target: Some(10), ..bounds(None, 1) });
        assert!(capped.states >= 10 && capped.states < all.states, "{}", capped.states);
    }
}
