//! Minimization of a failing simulator run: the seed's schedule (`schedule`) shrunk by delta
//! debugging over its items, then a smaller cluster, fewer clients, no loss/duplication/reordering,
//! exact clocks and a shorter faulty phase, each change kept only if a deterministic re-run still
//! violates the same property, round after round until nothing more can go (1-minimal within the
//! run budget). The result is written as the JSON-lines event trace of the minimized run and,
//! where the violating member's lessor shows the violation by itself, as a `leasesim replay` trace
//! of that lessor's operations shrunk by the same ddmin until it replays to the same violation.
//!
//! Owns the search and its before/after numbers. It does not run anything itself (`runner::replay`
//! does) and does not define "fails" beyond "the same property is violated".

use std::fmt::Write as _;

use super::faults::Faults;
use super::options::SimOptions;
use super::report::Report;
use super::runner::{replay, replay_logged, replay_traced, run_recorded};
use super::schedule::{Item, Schedule};
use crate::ddmin::{Trial, ddmin};
use crate::time::{Duration, Instant};
use crate::trace::{Command, Replayer, TraceConfig, replay_trace};

/// How hard to look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// At most this many re-runs in all.
    pub max_runs: usize,
    /// At most this many rounds of all the reductions.
    pub max_rounds: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget { max_runs: 600, max_rounds: 4 }
    }
}

/// The size of a failing run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Schedule items (faults and client operations).
    pub items: usize,
    pub fault_items: usize,
    /// Events until the violation stopped the run.
    pub events: u64,
    /// Simulated time until the violation.
    pub sim_time: Duration,
    pub members: usize,
    /// Clients with at least one operation.
    pub clients: usize,
    /// Commands of the `leasesim replay` trace (lessor-level violations only).
    pub trace_commands: Option<usize>,
}

impl Size {
    fn of(schedule: &Schedule, report: &Report) -> Size {
        Size {
            items: schedule.items.len(),
            fault_items: schedule.items.iter().filter(|i| matches!(i, Item::Fault { .. })).count(),
            events: report.stats.events,
            sim_time: report.stopped_at.saturating_since(Instant::EPOCH),
            members: schedule.options.members,
            clients: schedule.active_clients(),
            trace_commands: None,
        }
    }
}

/// A minimized counterexample.
#[derive(Clone, Debug)]
pub struct Minimized {
    pub seed: u64,
    /// The property the seed's run violated, and the minimized run still does.
    pub property: &'static str,
    pub before: Size,
    pub after: Size,
    /// The minimized schedule and its run.
    pub schedule: Schedule,
    pub report: Report,
    /// The minimized run's event trace, JSON lines (as `leasesim sim --trace` writes them).
    pub jsonl: String,
    /// The minimized schedule's items, one per line.
    pub schedule_text: String,
    /// The violating member's lessor operations as a shrunk `leasesim replay` trace, when the
    /// violation is lessor-level.
    pub replay_trace: Option<String>,
    /// Re-runs the search made.
    pub runs: usize,
}

impl Minimized {
    /// The before/after table.
    pub fn table(&self) -> String {
        let (b, a) = (&self.before, &self.after);
        let mut s = String::new();
        let _ = writeln!(s, "{:<28} {:>10} {:>10} {:>8}", "", "before", "after", "removed");
        let mut row = |name: &str, before: u64, after: u64| {
            let removed = if before == 0 { 0.0 } else { 100.0 * (before.saturating_sub(after)) as f64 / before as f64 };
            let _ = writeln!(s, "{name:<28} {before:>10} {after:>10} {removed:>7.0}%");
        };
        row("schedule items", b.items as u64, a.items as u64);
        row("  of which faults", b.fault_items as u64, a.fault_items as u64);
        row("events until the violation", b.events, a.events);
        row("simulated ms", b.sim_time.as_ms(), a.sim_time.as_ms());
        row("members", b.members as u64, a.members as u64);
        row("clients with operations", b.clients as u64, a.clients as u64);
        if let (Some(before), Some(after)) = (b.trace_commands, a.trace_commands) {
            row("replay-trace commands", before as u64, after as u64);
        }
        s
    }
}

/// Minimizes the failing run of `seed` under `options` with the default budget.
pub fn minimize(seed: u64, options: &SimOptions) -> Result<Minimized, String> {
    minimize_with(seed, options, Budget::default())
}

/// As `minimize`, with a budget.
pub fn minimize_with(seed: u64, options: &SimOptions, budget: Budget) -> Result<Minimized, String> {
    options.validate()?;
    let (report, schedule) = run_recorded(seed, options);
    let Some(violation) = &report.violation else {
        return Err(format!("seed {seed} violates no property under these options: nothing to minimize"));
    };
    let mut search = Search { property: violation.property, runs: 0, budget };
    let mut before = Size::of(&schedule, &report);
    let replayed = search.run(&schedule);
    if replayed.trace_hash != report.trace_hash {
        return Err(format!("seed {seed}: its recorded schedule did not replay to the same run (a simulator bug)"));
    }
    let (schedule, report) = search.shrink(schedule, report);
    let mut jsonl = Vec::new();
    let traced = replay_traced(&schedule, &mut jsonl).map_err(|e| format!("writing the event trace: {e}"))?;
    debug_assert_eq!(traced.trace_hash, report.trace_hash);
    let jsonl = String::from_utf8(jsonl).map_err(|e| format!("the event trace is not UTF-8: {e}"))?;
    let mut after = Size::of(&schedule, &report);
    let replay_trace = lessor_trace(&mut search, &schedule).map(|(commands, text)| {
        before.trace_commands = Some(commands);
        after.trace_commands = Some(trace_commands(&text));
        text
    });
    Ok(Minimized {
        seed,
        property: search.property,
        before,
        after,
        schedule_text: schedule.item_lines(),
        schedule,
        report,
        jsonl,
        replay_trace,
        runs: search.runs,
    })
}

struct Search {
    property: &'static str,
    runs: usize,
    budget: Budget,
}

impl Search {
    fn run(&mut self, schedule: &Schedule) -> Report {
        self.runs += 1;
        replay(schedule)
    }

    fn spent(&self) -> bool {
        self.runs >= self.budget.max_runs
    }

    /// The candidate's run, if it still violates the property.
    fn fails(&mut self, candidate: &Schedule) -> Option<Report> {
        if self.spent() {
            return None;
        }
        let report = self.run(candidate);
        report.violation.as_ref().is_some_and(|v| v.property == self.property).then_some(report)
    }

    /// Rounds of every reduction until one changes nothing.
    fn shrink(&mut self, mut best: Schedule, mut report: Report) -> (Schedule, Report) {
        for _ in 0..self.budget.max_rounds {
            let start = best.clone();
            for reduce in [Search::cut, Search::items, Search::members, Search::clients, Search::rates, Search::span] {
                if let Some((s, r)) = reduce(self, &best, &report) {
                    best = s;
                    report = r;
                }
            }
            if best == start || self.spent() {
                break;
            }
        }
        (best, report)
    }

    /// Ends the faulty phase just after an online violation (the run up to it is unchanged) and
    /// drops the items after it.
    fn cut(&mut self, best: &Schedule, report: &Report) -> Option<(Schedule, Report)> {
        let stop = report.stopped_at;
        let mut s = best.clone();
        if stop < Instant::EPOCH + s.options.duration {
            s.options.duration = stop.saturating_since(Instant::EPOCH) + Duration::from_ms(1);
        }
        s.items.retain(|i| i.at() <= stop);
        if s == *best {
            return None;
        }
        self.fails(&s).map(|r| (s, r))
    }

    /// ddmin over the items (after trying none at all).
    fn items(&mut self, best: &Schedule, _: &Report) -> Option<(Schedule, Report)> {
        if best.items.is_empty() {
            return None;
        }
        let none = best.with_items(Vec::new());
        if let Some(r) = self.fails(&none) {
            return Some((none, r));
        }
        let mut found: Option<(Schedule, Report)> = None;
        let max_runs = self.budget.max_runs.saturating_sub(self.runs);
        let items = ddmin(best.items.clone(), max_runs, |candidate: &[Item]| {
            let s = best.with_items(candidate.to_vec());
            Ok::<_, ()>(match self.fails(&s) {
                Some(r) => {
                    // Items after the (maybe earlier) violation cannot matter.
                    let kept: Vec<Item> = candidate.iter().filter(|i| i.at() <= r.stopped_at).cloned().collect();
                    found = Some((s, r));
                    Trial::Fails(kept)
                }
                None => Trial::Passes,
            })
        })
        .expect("the test never errs");
        let found = found?;
        // The last failing candidate was cut after its violation (which cannot change the run up
        // to it); the cut list's own run is the result.
        let s = best.with_items(items);
        self.fails(&s).map(|r| (s, r)).or(Some(found))
    }

    /// A smaller cluster: 1 member, else 3.
    fn members(&mut self, best: &Schedule, _: &Report) -> Option<(Schedule, Report)> {
        for members in [1, 3] {
            if members < best.options.members {
                let s = best.with_members(members);
                if let Some(r) = self.fails(&s) {
                    return Some((s, r));
                }
            }
        }
        None
    }

    /// Fewer clients: each one tried without, the last first.
    fn clients(&mut self, best: &Schedule, _: &Report) -> Option<(Schedule, Report)> {
        let mut current: Option<(Schedule, Report)> = None;
        let mut client = best.options.clients;
        while client > 0 {
            client -= 1;
            let base = current.as_ref().map_or(best, |(s, _)| s);
            if base.options.clients <= 1 {
                break;
            }
            let s = base.without_client(client);
            if let Some(r) = self.fails(&s) {
                current = Some((s, r));
            }
        }
        current
    }

    /// No loss, no duplication, no reordering, short delays, exact clocks, no apply lag: each tried
    /// alone.
    fn rates(&mut self, best: &Schedule, _: &Report) -> Option<(Schedule, Report)> {
        let healthy = Faults::none();
        let edits: [fn(&mut Schedule, &Faults); 6] = [
            |s, _| s.resolved.faults.loss_ppm = 0,
            |s, _| s.resolved.faults.duplicate_ppm = 0,
            |s, _| s.resolved.faults.reorder_ppm = 0,
            |s, h| (s.resolved.faults.delay_min_ms, s.resolved.faults.delay_max_ms) = (h.delay_min_ms, h.delay_max_ms),
            |s, _| {
                s.resolved.faults.clock_drift_ppm = 0;
                for clock in s.member_clocks.iter_mut().chain(&mut s.client_clocks) {
                    clock.drift_ppm = 0;
                }
            },
            |s, _| s.resolved.apply_lag_ms.fill(0),
        ];
        let mut current: Option<(Schedule, Report)> = None;
        for edit in edits {
            let base = current.as_ref().map_or(best, |(s, _)| s);
            let mut s = base.clone();
            edit(&mut s, &healthy);
            if s == *base {
                continue;
            }
            if let Some(r) = self.fails(&s) {
                current = Some((s, r));
            }
        }
        current
    }

    /// A shorter faulty phase, by binary search on its end (to 100 ms).
    fn span(&mut self, best: &Schedule, _: &Report) -> Option<(Schedule, Report)> {
        let mut current: Option<(Schedule, Report)> = None;
        let (mut lo, mut hi) = (0, best.options.duration.as_ms());
        while hi - lo > 100 && !self.spent() {
            let mid = lo + (hi - lo) / 2;
            let mut s = best.clone();
            s.options.duration = Duration::from_ms(mid);
            match self.fails(&s) {
                Some(r) => {
                    hi = mid;
                    current = Some((s, r));
                }
                None => lo = mid,
            }
        }
        current
    }
}

/// The violating member's lessor operations as a `leasesim replay` trace that replays to the same
/// violation, shrunk: `(commands before shrinking, the trace text)`.
fn lessor_trace(search: &mut Search, schedule: &Schedule) -> Option<(usize, String)> {
    let (_, log) = replay_logged(schedule);
    search.runs += 1;
    let log = log?;
    let config = log.config.clone().with_bugs(schedule.options.bugs);
    let property = search.property;
    // A member starts as a follower; time moves in the member's own clock.
    let mut plain = vec![Command::Demote];
    let mut last = log.commands.first()?.0;
    for (at, command) in log.commands {
        if at > last {
            plain.push(Command::Advance { by: at.saturating_since(last) });
            last = at;
        }
        plain.push(command);
    }
    // The replayer's scans revoke at once what the cluster revoked later (or never, when a revoke
    // was lost): a second reading lets any scan lose its revokes, and shrinking keeps the losses
    // that matter.
    let lossy: Vec<Command> = plain
        .iter()
        .flat_map(|c| match c {
            Command::Advance { .. } => vec![Command::LoseRevokes { count: 1 }, c.clone()],
            _ => vec![c.clone()],
        })
        .collect();
    let (before, start) = [plain, lossy].into_iter().find_map(|commands| {
        let commands = sanitize(&config, commands);
        let len = commands.len();
        match judge(&config, &commands, property) {
            Trial::Fails(cut) => Some((len, cut)),
            _ => None,
        }
    })?;
    let mut current = merge_advances(start);
    loop {
        let shrunk = ddmin(current.clone(), 20_000, |c: &[Command]| Ok::<_, ()>(judge(&config, c, property)))
            .expect("the test never errs");
        let next = fuse_renews(&config, drop_renews(&config, merge_advances(shrunk), property), property);
        if next == current {
            break;
        }
        current = next;
    }
    let mut text =
        format!("# {property}: the lessor operations of the violating member, shrunk\n{}\n", log.config.to_line());
    for command in &current {
        text.push_str(&format!("{command}\n"));
    }
    // The text itself must replay to the violation.
    let outcome = replay_trace(&text, schedule.options.bugs).ok()?;
    outcome.violation.filter(|(_, v)| v.property == property)?;
    Some((before, text))
}

/// The commands of a trace text (not its config line or comments).
pub fn trace_commands(text: &str) -> usize {
    crate::trace::parse_trace(text).map_or(0, |(_, commands)| commands.len())
}

/// Whether `commands` replay to a violation of `property` (cut just after it); a misused step
/// command cannot be judged.
fn judge(config: &TraceConfig, commands: &[Command], property: &str) -> Trial<Command> {
    let mut replayer = Replayer::new(config.clone());
    for (i, command) in commands.iter().enumerate() {
        match replayer.execute(command) {
            Err(_) => return Trial::Skipped,
            Ok((_, Err(v))) if v.property == property => return Trial::Fails(commands[..=i].to_vec()),
            Ok((_, Err(_))) => return Trial::Passes,
            Ok((_, Ok(()))) => {}
        }
    }
    Trial::Passes
}

/// Drops the commands the replayer refuses as misused (a renew step of a renew it never began:
/// the cluster can have two keep-alives of one lease in flight, the replayer one), up to the first
/// violation.
fn sanitize(config: &TraceConfig, commands: Vec<Command>) -> Vec<Command> {
    let mut replayer = Replayer::new(config.clone());
    let mut kept = Vec::with_capacity(commands.len());
    for command in commands {
        match replayer.execute(&command) {
            Err(_) => continue,
            Ok((_, verdict)) => {
                kept.push(command);
                if verdict.is_err() {
                    break;
                }
            }
        }
    }
    kept
}

/// Adjacent advances as one (the same scans run either way).
fn merge_advances(commands: Vec<Command>) -> Vec<Command> {
    let mut merged: Vec<Command> = Vec::with_capacity(commands.len());
    for command in commands {
        if let (Some(Command::Advance { by: previous }), Command::Advance { by }) = (merged.last_mut(), &command) {
            *previous = *previous + *by;
            continue;
        }
        merged.push(command);
    }
    merged
}

/// `renew-begin X` right before its `renew-end X` (with or without `renew-checkpoint X` between)
/// as one `renew X`, where the violation stays.
fn fuse_renews(config: &TraceConfig, mut commands: Vec<Command>, property: &str) -> Vec<Command> {
    let mut i = 0;
    while i < commands.len() {
        if let Command::RenewBegin { id } = commands[i] {
            let steps = [Command::RenewCheckpoint { id }, Command::RenewEnd { id }];
            let len = match commands.get(i + 1..i + 3) {
                Some(next) if next == steps => 3,
                _ if commands.get(i + 1) == Some(&steps[1]) => 2,
                _ => 0,
            };
            if len > 0 {
                let mut fused = commands.clone();
                fused.splice(i..i + len, [Command::Renew { id }]);
                if let Trial::Fails(cut) = judge(config, &fused, property) {
                    commands = cut;
                    continue;
                }
            }
        }
        i += 1;
    }
    commands
}

/// Each renew removed whole (its begin, checkpoint and end: ddmin cannot drop one step alone),
/// where the violation stays.
fn drop_renews(config: &TraceConfig, mut commands: Vec<Command>, property: &str) -> Vec<Command> {
    let mut i = 0;
    while i < commands.len() {
        if let Command::RenewBegin { id } = commands[i] {
            let mut candidate = commands.clone();
            candidate.remove(i);
            for step in [Command::RenewCheckpoint { id }, Command::RenewEnd { id }] {
                if let Some(j) = candidate[i..].iter().position(|c| *c == step) {
                    candidate.remove(i + j);
                }
            }
            if let Trial::Fails(cut) = judge(config, &merge_advances(candidate), property) {
                commands = cut;
                continue;
            }
        }
        i += 1;
    }
    commands
}
