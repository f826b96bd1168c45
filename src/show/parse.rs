//! Reads a run's JSON-lines event trace (`leasesim sim --trace`, see `sim::trace`) into what a
//! sequence diagram draws: nodes, messages (send → delivery, or dropped), leader / down / stalled
//! periods of members, lease marks with promised deadlines, fault notes and the violation.
//!
//! Owns the reading of trace lines only; it decides nothing about windows or pictures. It is
//! tolerant: unknown fields, event kinds and notes are kept as notes or skipped, never errors; a
//! line that is not a JSON object, or an event without a time, is an error naming its line.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A node of the run: a member (1-based, as the trace names it: `m1`) or a client (`c0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    Member(usize),
    Client(usize),
}

impl Node {
    /// Parses `m3` or `c0`.
    pub fn parse(text: &str) -> Option<Node> {
        let (kind, number) = text.split_at_checked(1)?;
        let n: usize = number.parse().ok()?;
        match kind {
            "m" if n >= 1 => Some(Node::Member(n)),
            "c" => Some(Node::Client(n)),
            _ => None,
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Member(n) => write!(f, "m{n}"),
            Node::Client(n) => write!(f, "c{n}"),
        }
    }
}

/// What a message carries, for colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Raft,
    Request,
    Reply,
}

/// One message: delivered at `at_ms`, or dropped at its send time (`dropped` says why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: Node,
    pub to: Node,
    /// The send time; `None` when the trace does not say (then it is drawn as sent on delivery).
    pub sent_ms: Option<u64>,
    /// The delivery time, or the send time of a dropped message.
    pub at_ms: u64,
    pub kind: MessageKind,
    /// A short label (`Append (1)`, `KeepAlive 2000001 ttl=5`).
    pub label: String,
    /// The lease it is about, if it names one.
    pub lease: Option<i64>,
    /// `Some("partition" | "loss")` when the network dropped it.
    pub dropped: Option<String>,
}

impl Message {
    pub fn start_ms(&self) -> u64 {
        self.sent_ms.unwrap_or(self.at_ms).min(self.at_ms)
    }
}

/// A state of a member over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeriodKind {
    Leader,
    Down,
    Stalled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub member: Node,
    pub kind: PeriodKind,
    pub from_ms: u64,
    /// `None`: still open at the end of the trace.
    pub to_ms: Option<u64>,
}

/// Something that happened to a lease, with its promised deadline (true time) after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseMark {
    pub lease: i64,
    /// `grant`, `renew`, `revoke`, `expire` (or whatever a newer trace says).
    pub op: String,
    pub at_ms: u64,
    pub ttl_s: i64,
    pub deadline_ms: Option<u64>,
}

/// A note for the margin: a fault, a leadership transfer, the healing phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub at_ms: u64,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViolationMark {
    pub at_ms: u64,
    pub property: String,
    pub detail: String,
}

/// A trace, read.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub seed: Option<u64>,
    /// The options line (`--seed 10 --members 3 …`), if the header has one.
    pub options: Option<String>,
    /// Every node named by the options or seen in a line, in order (members, then clients).
    pub nodes: Vec<Node>,
    pub messages: Vec<Message>,
    pub periods: Vec<Period>,
    pub leases: Vec<LeaseMark>,
    /// The client that first asked for each lease.
    pub owners: BTreeMap<i64, Node>,
    pub notes: Vec<Note>,
    pub violation: Option<ViolationMark>,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// A trace that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No lines at all.
    Empty,
    /// Lines, but no event.
    NoEvents,
    /// Line `line` (1-based) is malformed.
    Line { line: usize, message: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("the trace is empty"),
            ParseError::NoEvents => f.write_str("the trace has no events (only a header?)"),
            ParseError::Line { line, message } => write!(f, "line {line}: {message}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Reads a whole trace.
pub fn parse(text: &str) -> Result<Trace, ParseError> {
    let mut reader = Reader::default();
    let mut any_line = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        any_line = true;
        let error = |message: String| ParseError::Line { line: i + 1, message };
        let value: Value = serde_json::from_str(line).map_err(|e| error(format!("not JSON: {e}")))?;
        let Value::Object(fields) = value else { return Err(error("not a JSON object".to_owned())) };
        reader.line(&fields).map_err(error)?;
    }
    if !any_line {
        return Err(ParseError::Empty);
    }
    reader.finish()
}

#[derive(Default)]
struct Reader {
    trace: Trace,
    events: usize,
    open: BTreeMap<(Node, PeriodKind), u64>,
    members: usize,
    clients: usize,
    seen: std::collections::BTreeSet<Node>,
}

type Fields = serde_json::Map<String, Value>;

fn u64_field(fields: &Fields, name: &str) -> Result<Option<u64>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("`{name}` is not a non-negative integer: {v}")),
    }
}

fn str_field<'f>(fields: &'f Fields, name: &str) -> Result<Option<&'f str>, String> {
    match fields.get(name) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| format!("`{name}` is not a string: {v}")),
    }
}

/// The value after `--name ` in an options line.
fn option_value(options: &str, name: &str) -> Option<usize> {
    let mut words = options.split_whitespace();
    words.find(|w| *w == name)?;
    words.next()?.parse().ok()
}

/// The first integer after `key` in `text` (`id: -2000005` → -2000005).
pub(super) fn number_after(text: &str, key: &str) -> Option<i64> {
    let start = text.find(key)? + key.len();
    let rest = &text[start..];
    let end = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

/// `Msg`-less raft type with entry count and rejection, or a request/reply without its braces.
fn short_label(kind: MessageKind, body: &str) -> String {
    match kind {
        MessageKind::Raft => {
            let mut words = body.split_whitespace();
            let name = words.next().unwrap_or("?").trim_start_matches("Msg");
            let entries = number_after(body, "entries=").unwrap_or(0);
            let mut label = name.to_owned();
            if entries > 0 {
                label.push_str(&format!(" ({entries})"));
            }
            if body.ends_with(" reject") {
                label.push_str(" reject");
            }
            label
        }
        MessageKind::Request | MessageKind::Reply => {
            // `req#52 KeepAlive { id: -2000005 }` → `KeepAlive -2000005`
            let text = body.split_once(' ').map_or(body, |(_, rest)| rest);
            let text =
                text.replace(" { ", " ").replace(" }", "").replace("id: ", "").replace(": ", "=").replace(", ", " ");
            text.replace("ttl_s=", "ttl=")
        }
    }
}

impl Reader {
    fn node(&mut self, node: Node) {
        self.seen.insert(node);
    }

    fn open(&mut self, member: Node, kind: PeriodKind, at: u64) {
        self.open.entry((member, kind)).or_insert(at);
    }

    fn close(&mut self, member: Node, kind: PeriodKind, at: u64) {
        if let Some(from_ms) = self.open.remove(&(member, kind)) {
            self.trace.periods.push(Period { member, kind, from_ms, to_ms: Some(at) });
        }
    }

    fn line(&mut self, fields: &Fields) -> Result<(), String> {
        let at = u64_field(fields, "t_ms")?;
        let Some(at) = at else {
            // The header (seed, options) or a line this reader does not know: only the header matters.
            if let Some(options) = str_field(fields, "options")? {
                self.members = option_value(options, "--members").unwrap_or(0);
                self.clients = option_value(options, "--clients").unwrap_or(0);
                self.trace.options = Some(options.to_owned());
            }
            if let Some(seed) = u64_field(fields, "seed")? {
                self.trace.seed = Some(seed);
            }
            if fields.contains_key("event") || fields.contains_key("note") {
                return Err("an event without `t_ms`".to_owned());
            }
            return Ok(());
        };
        if self.events == 0 {
            self.trace.first_ms = at;
        }
        self.events += 1;
        self.trace.last_ms = self.trace.last_ms.max(at);
        if let Some(text) = str_field(fields, "event")? {
            self.event(at, u64_field(fields, "sent_ms")?, text);
        } else if let Some(text) = str_field(fields, "note")? {
            self.note(at, text);
        } else if let Some(text) = str_field(fields, "drop")? {
            let why = str_field(fields, "why")?.unwrap_or("dropped");
            self.message(at, None, text, Some(why));
        } else if let Some(lease) = fields.get("lease") {
            let lease = lease.as_i64().ok_or_else(|| format!("`lease` is not an integer: {lease}"))?;
            let op = str_field(fields, "op")?.unwrap_or("?").to_owned();
            let ttl_s = fields.get("ttl_s").and_then(Value::as_i64).unwrap_or(0);
            let deadline_ms = u64_field(fields, "deadline_ms")?;
            self.trace.leases.push(LeaseMark { lease, op, at_ms: at, ttl_s, deadline_ms });
        } else if let Some(property) = str_field(fields, "violation")? {
            let detail = str_field(fields, "detail")?.unwrap_or("").to_owned();
            self.trace.violation = Some(ViolationMark { at_ms: at, property: property.to_owned(), detail });
        }
        Ok(())
    }

    /// `from->to body`: a message (delivered, or dropped when `dropped` says why).
    fn message(&mut self, at: u64, sent: Option<u64>, text: &str, dropped: Option<&str>) {
        let Some((route, body)) = text.split_once(' ') else { return };
        let Some((from, to)) = route.split_once("->") else { return };
        let (Some(from), Some(to)) = (Node::parse(from), Node::parse(to)) else { return };
        self.node(from);
        self.node(to);
        let kind = if body.starts_with("req#") {
            MessageKind::Request
        } else if body.starts_with("reply#") {
            MessageKind::Reply
        } else {
            MessageKind::Raft
        };
        let lease = match kind {
            MessageKind::Raft => None,
            _ => number_after(body, "id: ").or_else(|| number_after(body, "lease: ")),
        };
        if let (Some(lease), Node::Client(_), MessageKind::Request) = (lease, from, kind) {
            self.trace.owners.entry(lease).or_insert(from);
        }
        self.trace.messages.push(Message {
            from,
            to,
            sent_ms: if dropped.is_some() { Some(at) } else { sent },
            at_ms: at,
            kind,
            label: short_label(kind, body),
            lease,
            dropped: dropped.map(str::to_owned),
        });
    }

    fn event(&mut self, at: u64, sent: Option<u64>, text: &str) {
        if let Some(rest) = text.strip_prefix("deliver ") {
            self.message(at, sent, rest, None);
        } else if let Some(member) = text.strip_prefix("restart ").and_then(Node::parse) {
            self.close(member, PeriodKind::Down, at);
        } else if let Some(member) = text.strip_prefix("stall end ").and_then(Node::parse) {
            self.close(member, PeriodKind::Stalled, at);
        } else if text == "healing phase begins" {
            let open: Vec<(Node, PeriodKind)> =
                self.open.keys().copied().filter(|(_, k)| *k != PeriodKind::Leader).collect();
            for (member, kind) in open {
                self.close(member, kind, at);
            }
            self.trace.notes.push(Note { at_ms: at, text: text.to_owned() });
        }
    }

    fn note(&mut self, at: u64, text: &str) {
        let mut words = text.split_whitespace();
        let verb = words.next().unwrap_or("");
        let member = words.next().and_then(Node::parse);
        match (verb, member) {
            ("promote", Some(m)) => {
                self.node(m);
                self.open(m, PeriodKind::Leader, at);
            }
            ("demote", Some(m)) => {
                self.node(m);
                self.close(m, PeriodKind::Leader, at);
            }
            ("crash", Some(m)) => {
                self.node(m);
                self.open(m, PeriodKind::Down, at);
                self.trace.notes.push(Note { at_ms: at, text: text.to_owned() });
            }
            ("stall", Some(m)) => {
                self.node(m);
                self.open(m, PeriodKind::Stalled, at);
                self.trace.notes.push(Note { at_ms: at, text: text.to_owned() });
            }
            ("history", _) => {} // lease lines say the same, with deadlines
            ("partition", _) => self.trace.notes.push(Note { at_ms: at, text: partition_note(text) }),
            _ => self.trace.notes.push(Note { at_ms: at, text: text.to_owned() }),
        }
    }

    fn finish(mut self) -> Result<Trace, ParseError> {
        if self.events == 0 {
            return Err(ParseError::NoEvents);
        }
        for (&(member, kind), &from_ms) in &self.open {
            self.trace.periods.push(Period { member, kind, from_ms, to_ms: None });
        }
        for m in 1..=self.members {
            self.seen.insert(Node::Member(m));
        }
        for c in 0..self.clients {
            self.seen.insert(Node::Client(c));
        }
        self.trace.nodes = self.seen.into_iter().collect();
        Ok(self.trace)
    }
}

/// `partition [(Member(1), Member(0)), …] for 900ms` → `partition: m2 cut off from m1 m3 c0 (900ms)`.
fn partition_note(text: &str) -> String {
    let length = text.rsplit_once(" for ").map_or("", |(_, l)| l);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in text.split("), (").map(|p| p.trim_start_matches("partition [(").trim_end_matches(|c| c != ')')) {
        let names: Vec<String> = pair
            .split(", ")
            .filter_map(|a| {
                let (kind, rest) = a.trim().split_once('(')?;
                let n: usize = rest.trim_end_matches(')').parse().ok()?;
                match kind {
                    "Member" => Some(format!("m{}", n + 1)),
                    "Client" => Some(format!("c{n}")),
                    _ => None,
                }
            })
            .collect();
        if let [a, b] = names.as_slice() {
            pairs.push((a.clone(), b.clone()));
        }
    }
    let Some((a, b)) = pairs.first().cloned() else { return text.to_owned() };
    let victim = [a, b].into_iter().find(|v| pairs.iter().all(|(x, y)| x == v || y == v));
    let Some(victim) = victim else { return format!("partition of {} links ({length})", pairs.len()) };
    let mut others: Vec<&str> = pairs.iter().map(|(x, y)| if *x == victim { y.as_str() } else { x.as_str() }).collect();
    others.sort_unstable();
    others.dedup();
    let one_way = pairs.iter().any(|(x, y)| !pairs.contains(&(y.clone(), x.clone())));
    let direction = if one_way { " one way" } else { "" };
    format!("partition: {victim} cut off{direction} from {} ({length})", others.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_labels_and_partitions_read() {
        assert_eq!(Node::parse("m3"), Some(Node::Member(3)));
        assert_eq!(Node::parse("c0"), Some(Node::Client(0)));
        assert_eq!(Node::parse("m0"), None);
        assert_eq!(Node::parse("x1"), None);
        assert_eq!(short_label(MessageKind::Raft, "MsgAppend term=1 index=40 commit=40 entries=2"), "Append (2)");
        assert_eq!(
            short_label(MessageKind::Reply, "reply#41 KeepAlive { id: 3000004, ttl_s: 5 }"),
            "KeepAlive 3000004 ttl=5"
        );
        assert_eq!(number_after("KeepAlive { id: -2000005 }", "id: "), Some(-2000005));
        let note = partition_note(
            "partition [(Member(1), Member(0)), (Member(0), Member(1)), (Member(1), Client(0)), (Client(0), Member(1))] for 900ms",
        );
        assert_eq!(note, "partition: m2 cut off from c0 m1 (900ms)");
    }

    #[test]
    fn bad_lines_name_their_line_and_unknown_ones_are_skipped() {
        assert_eq!(parse("").unwrap_err(), ParseError::Empty);
        assert_eq!(parse("{\"seed\":1}\n").unwrap_err(), ParseError::NoEvents);
        let err = parse("{\"seed\":1}\n{\"t_ms\":5,\"event\":\"tick m1\"}\n{oops\n").unwrap_err();
        assert!(matches!(err, ParseError::Line { line: 3, .. }), "{err}");
        let err = parse("{\"t_ms\":\"soon\",\"event\":\"tick m1\"}").unwrap_err();
        assert!(err.to_string().starts_with("line 1: `t_ms`"), "{err}");
        let trace = parse(
            "{\"t_ms\":5,\"whatever\":1}\n{\"t_ms\":7,\"event\":\"deliver m1->c0 reply#1 Unavailable\",\"sent_ms\":3}",
        )
        .expect("tolerant");
        assert_eq!(trace.messages.len(), 1);
        assert_eq!(trace.messages[0].start_ms(), 3);
        assert_eq!(trace.nodes, vec![Node::Member(1), Node::Client(0)]);
    }
}
