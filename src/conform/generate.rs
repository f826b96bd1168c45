//! Seeded random traces for the differential check: grants with chosen IDs (negative ones, clashes,
//! ID 0 for an etcd-chosen one), TTLs around the minimum and above the maximum, puts with and
//! without leases, keys moved between leases, deletes, gets, revokes, keep-alive-once of live and
//! revoked leases, TimeToLive with and without keys, Leases, short advances, and now and then a
//! restart.
//!
//! Owns the command mix. The same seed gives the same trace (one `ChaCha8Rng` per trace, nothing
//! else random). Every advance is chosen so the trace stays judgeable on the wall clock (see
//! `timing`), using a replayer to know each lease's expiry; it never produces a command that a live
//! etcd refuses.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use super::timing::step_hazard;
use crate::lease::{LeaseId, MAX_LEASE_TTL_S};
use crate::time::Duration;
use crate::trace::{Command, Replayer, TraceConfig};

/// Lease IDs the traces choose from: negative ones, the extremes, and positive ones far from the
/// replayer's own picks for `grant 0` (1, 2, …) so the two never clash.
const LEASE_IDS: [LeaseId; 7] = [-1, -2, -7, i64::MIN + 1, 100, 101, i64::MAX];
const KEYS: [&str; 4] = ["a", "b", "c", "d"];
/// Commands per trace.
const TRACE_LEN: usize = 24;
/// The most trace time one trace may spend in advances (real time spent sleeping).
const ADVANCE_BUDGET_MS: u64 = 4000;

struct Gen {
    rng: ChaCha8Rng,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.next_u64() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A random trace for `seed`, judgeable against an etcd whose minimum TTL is `config`'s.
/// `allow_restart` permits `restart` (only an etcd the runner started can do it).
pub fn generate_trace(seed: u64, config: &TraceConfig, allow_restart: bool) -> Vec<(usize, Command)> {
    let mut g = Gen { rng: ChaCha8Rng::seed_from_u64(seed) };
    let mut replayer = Replayer::new(config.clone());
    let mut commands = Vec::with_capacity(TRACE_LEN);
    let mut advanced_ms = 0;
    let mut restarted = false;
    let min_ttl = config.lessor.min_ttl_s;
    while commands.len() < TRACE_LEN {
        let roll = g.below(100);
        let command = match roll {
            0..=21 => {
                let id = if g.chance(8) { 0 } else { g.pick(&LEASE_IDS) };
                let ttl_s = g.pick(&[
                    -1,
                    0,
                    min_ttl,
                    min_ttl + 1,
                    min_ttl + 2,
                    min_ttl + 4,
                    MAX_LEASE_TTL_S,
                    MAX_LEASE_TTL_S + 1,
                ]);
                Command::Grant { id, ttl_s }
            }
            22..=41 => {
                let lease = if g.chance(35) { 0 } else { g.pick(&LEASE_IDS) };
                let value = format!("v{}", g.below(10));
                Command::Put { key: g.pick(&KEYS).to_owned(), value, lease }
            }
            42..=46 => Command::Delete { key: g.pick(&KEYS).to_owned() },
            47..=53 => Command::Get { key: g.pick(&KEYS).to_owned() },
            54..=61 => Command::Revoke { id: g.pick(&LEASE_IDS) },
            62..=71 => Command::Renew { id: g.pick(&LEASE_IDS) },
            72..=81 => Command::Ttl { id: g.pick(&LEASE_IDS), keys: g.chance(50) },
            82..=86 => Command::Leases,
            87..=97 => match pick_advance(&mut g, &replayer, ADVANCE_BUDGET_MS.saturating_sub(advanced_ms)) {
                Some(by) => {
                    advanced_ms += by.as_ms();
                    Command::Advance { by }
                }
                None => continue,
            },
            _ if allow_restart && !restarted => {
                restarted = true;
                Command::Restart
            }
            _ => continue,
        };
        if step_hazard(&mut replayer.clone(), &command).is_some() {
            continue; // e.g. a restart that would leave some lease too close to expiry
        }
        // Only the replayer's state matters here; its verdicts are judged when the trace is checked.
        let (_reply, _verdict) = replayer.execute(&command).expect("generated commands are never step commands");
        commands.push((commands.len() + 2, command)); // line 1 is the config line
    }
    commands
}

/// An advance (a multiple of 100 ms, at most `budget_ms`) after which every lease is clearly alive
/// or clearly revoked; `None` if a few tries find none.
fn pick_advance(g: &mut Gen, replayer: &Replayer, budget_ms: u64) -> Option<Duration> {
    let steps = budget_ms / 100;
    for _ in 0..12 {
        if steps == 0 {
            return None;
        }
        let by = Duration::from_ms(100 * (1 + g.below(steps.min(30))));
        if step_hazard(&mut replayer.clone(), &Command::Advance { by }).is_none() {
            return Some(by);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::timing::timing_hazard;

    #[test]
    fn same_seed_same_trace_and_every_trace_is_judgeable() {
        let config = TraceConfig::default();
        for seed in 0..40 {
            let trace = generate_trace(seed, &config, true);
            assert_eq!(trace, generate_trace(seed, &config, true), "seed {seed}");
            assert_eq!(trace.len(), TRACE_LEN);
            assert_eq!(timing_hazard(&config, &trace), None, "seed {seed}");
            assert!(trace.iter().all(|(_, c)| crate::conform::refusal(c, true).is_none()), "seed {seed}");
        }
        assert_ne!(generate_trace(1, &config, true), generate_trace(2, &config, true));
    }
}
