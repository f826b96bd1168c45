//! Which part of a trace a picture shows and where things go: the time window (the last few
//! seconds before the violation by default, capped at a number of messages so the picture stays
//! readable), the vertical scale from true milliseconds to pixels with its tick step, and the
//! columns of the lifelines.
//!
//! Owns geometry only; it reads the parsed trace and writes nothing.

use super::parse::{Message, Node, Trace};

/// The default window: this much true time before the violation (or the end of the run).
pub const DEFAULT_SPAN_MS: u64 = 4_000;
/// At most this many messages are drawn; a longer window is cut at its start.
pub const MAX_MESSAGES: usize = 600;
/// Time shown after the violation (or the last event).
const TAIL_MS: u64 = 100;
/// Around a lease's first and last appearance, with `--lease`.
const LEASE_MARGIN_MS: u64 = 200;
/// The tallest the time axis gets, and the most pixels a millisecond gets.
const MAX_AXIS_PX: f64 = 8_000.0;
const MAX_PX_PER_MS: f64 = 4.0;
const MIN_AXIS_PX: f64 = 300.0;

pub const TOP_PX: f64 = 110.0;
pub const BOTTOM_PX: f64 = 60.0;
pub const LEFT_PX: f64 = 110.0;
pub const COLUMN_PX: f64 = 150.0;
pub const NOTES_PX: f64 = 420.0;

/// What the user asked for (`--from`, `--to`, `--lease`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    pub lease: Option<i64>,
}

/// The window shown, and why (for the title).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ms: u64,
    pub to_ms: u64,
    pub lease: Option<i64>,
    pub description: String,
}

impl Window {
    /// Whether a message is drawn: it is (or was) in flight during the window and is about the
    /// lease asked for, if any.
    pub fn shows(&self, message: &Message) -> bool {
        message.at_ms >= self.from_ms
            && message.start_ms() <= self.to_ms
            && self.lease.is_none_or(|l| message.lease == Some(l))
    }
}

/// Picks the window for `request`; the error says what is wrong with the request.
pub fn choose(trace: &Trace, request: &Request) -> Result<Window, String> {
    let end = trace.violation.as_ref().map_or(trace.last_ms, |v| v.at_ms);
    let (mut from, mut to, mut why) = match request.lease {
        Some(lease) => {
            let times: Vec<u64> = trace
                .leases
                .iter()
                .filter(|m| m.lease == lease)
                .map(|m| m.at_ms)
                .chain(trace.messages.iter().filter(|m| m.lease == Some(lease)).flat_map(|m| [m.start_ms(), m.at_ms]))
                .collect();
            let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
                return Err(format!("lease {lease} does not occur in the trace"));
            };
            let about_it = trace.violation.as_ref().filter(|v| v.detail.contains(&lease.to_string()));
            let last = about_it.map_or(last, |v| last.max(v.at_ms));
            (first.saturating_sub(LEASE_MARGIN_MS), last + LEASE_MARGIN_MS, format!("lease {lease} only"))
        }
        None => {
            let to = end + TAIL_MS;
            let from = end.saturating_sub(DEFAULT_SPAN_MS).max(trace.first_ms);
            let whole = from == trace.first_ms;
            let why = match (&trace.violation, whole) {
                (_, true) => "the whole run".to_owned(),
                (Some(_), false) => format!("the last {} s before the violation", DEFAULT_SPAN_MS / 1000),
                (None, false) => format!("the last {} s of the run", DEFAULT_SPAN_MS / 1000),
            };
            (from, to, why)
        }
    };
    if request.from_ms.is_some() || request.to_ms.is_some() {
        from = request.from_ms.unwrap_or(from);
        to = request.to_ms.unwrap_or(to);
        why = match request.lease {
            Some(lease) => format!("as asked, lease {lease} only"),
            None => "as asked".to_owned(),
        };
    }
    if from >= to {
        return Err(format!("the window {from}..{to} ms is empty: --from must be before --to"));
    }
    let mut window = Window { from_ms: from, to_ms: to, lease: request.lease, description: why };
    let mut shown: Vec<u64> = trace.messages.iter().filter(|m| window.shows(m)).map(|m| m.at_ms).collect();
    if shown.len() > MAX_MESSAGES {
        shown.sort_unstable();
        window.from_ms = shown[shown.len() - MAX_MESSAGES];
        window.description.push_str(&format!(", cut to its last {MAX_MESSAGES} messages"));
    }
    Ok(window)
}

/// True time to pixels, top to bottom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub from_ms: u64,
    pub to_ms: u64,
    pub px_per_ms: f64,
}

impl Scale {
    pub fn new(window: &Window) -> Scale {
        let span = (window.to_ms - window.from_ms) as f64;
        let px_per_ms = (MAX_AXIS_PX / span).min(MAX_PX_PER_MS).max(MIN_AXIS_PX / span);
        Scale { from_ms: window.from_ms, to_ms: window.to_ms, px_per_ms }
    }

    /// The height of the time axis in pixels.
    pub fn axis_px(&self) -> f64 {
        (self.to_ms - self.from_ms) as f64 * self.px_per_ms
    }

    /// Where `t_ms` is drawn (clamped to the window).
    pub fn y(&self, t_ms: u64) -> f64 {
        TOP_PX + (t_ms.clamp(self.from_ms, self.to_ms) - self.from_ms) as f64 * self.px_per_ms
    }

    pub fn contains(&self, t_ms: u64) -> bool {
        (self.from_ms..=self.to_ms).contains(&t_ms)
    }

    /// A round tick step (1, 2 or 5 times a power of ten ms) about 80 px apart.
    pub fn tick_ms(&self) -> u64 {
        let want = 80.0 / self.px_per_ms;
        let mut step = 1u64;
        loop {
            for factor in [1, 2, 5] {
                if (step * factor) as f64 >= want {
                    return step * factor;
                }
            }
            step *= 10;
        }
    }
}

/// The x of each lifeline: members, then clients, in the trace's order.
pub fn column_x(nodes: &[Node], node: Node) -> Option<f64> {
    nodes.iter().position(|&n| n == node).map(|i| LEFT_PX + COLUMN_PX * (i as f64 + 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_y_is_clamped() {
        let window = Window { from_ms: 1_000, to_ms: 5_000, lease: None, description: String::new() };
        let scale = Scale::new(&window);
        assert_eq!(scale.px_per_ms, 2.0);
        assert_eq!(scale.tick_ms(), 50);
        assert_eq!(scale.y(0), TOP_PX);
        assert_eq!(scale.y(9_000), TOP_PX + 8_000.0);
    }
}
