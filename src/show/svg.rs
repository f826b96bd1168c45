//! Writes a parsed trace, in a chosen window, as a standalone SVG sequence diagram: lifelines
//! (members, then clients) with leader / down / stalled periods, messages as arrows from send to
//! delivery (dropped ones end in an x), a labelled true-time axis, lease marks with their promised
//! deadlines (dashed ticks) on the owning client's lifeline, fault notes in a margin, and the
//! violation as a red line with its property.
//!
//! Owns markup, colours and label placement. Every drawn element carries a `class` (`lifeline`,
//! `msg`, `deadline`, `violation`, …) so tests can count them with an XML parser.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::layout::{BOTTOM_PX, COLUMN_PX, LEFT_PX, NOTES_PX, Scale, TOP_PX, Window, column_x};
use super::parse::{Message, MessageKind, Node, PeriodKind, Trace, number_after};

const CHAR_PX: f64 = 6.7;
const LINE_PX: f64 = 13.0;
/// Lifeline labels repeat this far apart, so a tall picture stays readable when scrolled.
const LABEL_EVERY_PX: f64 = 1_500.0;

/// Escapes text for XML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `text` to `max` characters with an ellipsis.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Splits `text` into lines of at most `max` characters at spaces.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("never empty");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > max {
            lines.push(word.to_owned());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// Keeps labels in one column from overlapping: each goes at its y or just below the last one.
#[derive(Default)]
struct Stack {
    next: BTreeMap<u64, f64>,
}

impl Stack {
    fn place(&mut self, column: f64, y: f64) -> f64 {
        let next = self.next.entry(column.to_bits()).or_insert(f64::MIN);
        let at = y.max(*next);
        *next = at + LINE_PX - 1.0;
        at
    }
}

/// The picture's title (also its `<title>`).
pub fn title(trace: &Trace, window: &Window) -> String {
    let seed = trace.seed.map_or_else(|| "leasesim trace".to_owned(), |s| format!("leasesim seed {s}"));
    let outcome = match &trace.violation {
        Some(v) => format!("VIOLATION of {} at {} ms", v.property, v.at_ms),
        None => "no violation".to_owned(),
    };
    format!("{seed}: {outcome}; window {}..{} ms ({})", window.from_ms, window.to_ms, window.description)
}

/// The whole SVG document.
pub fn render(trace: &Trace, window: &Window) -> String {
    let scale = Scale::new(window);
    let nodes = &trace.nodes;
    let notes_x = LEFT_PX + COLUMN_PX * nodes.len() as f64 + 10.0;
    let width = notes_x + NOTES_PX;
    let height = TOP_PX + scale.axis_px() + BOTTOM_PX;
    let bottom = TOP_PX + scale.axis_px();
    let title = title(trace, window);
    let mut s = String::with_capacity(64 * 1024);
    let mut stack = Stack::default();
    let _ = writeln!(s, r##"<?xml version="1.0" encoding="UTF-8"?>"##);
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="monospace" font-size="11" data-from-ms="{}" data-to-ms="{}">"##,
        window.from_ms, window.to_ms
    );
    let _ = writeln!(s, "<title>{}</title>", esc(&title));
    let _ = writeln!(
        s,
        r##"<defs>
<marker id="head-raft" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#999"/></marker>
<marker id="head-request" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f5fbf"/></marker>
<marker id="head-reply" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1d8a3a"/></marker>
</defs>
<rect class="background" x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"##
    );
    // The heading: title, options, legend.
    let _ =
        writeln!(s, r##"<text class="title" x="10" y="20" font-size="14" font-weight="bold">{}</text>"##, esc(&title));
    if let Some(options) = &trace.options {
        let max = ((width - 20.0) / CHAR_PX) as usize;
        let _ = writeln!(s, r##"<text class="options" x="10" y="38" fill="#555">{}</text>"##, esc(&clip(options, max)));
    }
    let _ = writeln!(
        s,
        r##"<g class="legend" font-size="10"><text x="10" y="56"><tspan fill="#999">— raft</tspan>  <tspan fill="#1f5fbf">— request</tspan>  <tspan fill="#1d8a3a">— reply</tspan>  <tspan fill="#d4551b">—x dropped</tspan>  <tspan fill="#c9a400">▮ leader</tspan>  <tspan fill="#888">▮ down</tspan>  <tspan fill="#9b59b6">▮ stalled</tspan>  <tspan fill="#1f5fbf">- - promised deadline</tspan>  <tspan fill="#d00">— violation</tspan>  (time runs down, true ms)</text></g>"##
    );
    axis(&mut s, &scale, width);
    periods(&mut s, trace, &scale);
    lifelines(&mut s, nodes, &scale, bottom);
    let _ = writeln!(s, r##"<g class="messages">"##);
    for message in trace.messages.iter().filter(|m| window.shows(m)) {
        self::message(&mut s, nodes, &scale, message);
    }
    let _ = writeln!(s, "</g>");
    leases(&mut s, trace, window, &scale, &mut stack, notes_x);
    notes(&mut s, trace, &scale, &mut stack, notes_x);
    violation(&mut s, trace, &scale, width);
    let _ = writeln!(s, "</svg>");
    s
}

fn axis(s: &mut String, scale: &Scale, width: f64) {
    let step = scale.tick_ms();
    let _ = writeln!(s, r##"<g class="axis" fill="#444" font-size="10">"##);
    let _ = writeln!(
        s,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#444"/>"##,
        scale.y(scale.from_ms),
        scale.y(scale.to_ms),
        x = LEFT_PX - 10.0
    );
    let first = scale.from_ms.div_ceil(step) * step;
    for t in (first..=scale.to_ms).step_by(step as usize) {
        let y = scale.y(t);
        let _ = writeln!(
            s,
            r##"<line class="tick" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text class="tick-label" x="{:.1}" y="{:.1}" text-anchor="end">{t} ms</text>"##,
            LEFT_PX - 14.0,
            width - 10.0,
            LEFT_PX - 16.0,
            y + 3.5
        );
    }
    let _ = writeln!(s, "</g>");
}

fn periods(s: &mut String, trace: &Trace, scale: &Scale) {
    let _ = writeln!(s, r##"<g class="periods">"##);
    for period in &trace.periods {
        let to = period.to_ms.unwrap_or(u64::MAX);
        if to < scale.from_ms || period.from_ms > scale.to_ms {
            continue;
        }
        let Some(x) = column_x(&trace.nodes, period.member) else { continue };
        let (class, fill, dx) = match period.kind {
            PeriodKind::Leader => ("leader", "#f5d000", 9.0),
            PeriodKind::Down => ("down", "#aaa", 6.0),
            PeriodKind::Stalled => ("stalled", "#c39bd3", 6.0),
        };
        let (y1, y2) = (scale.y(period.from_ms), scale.y(to));
        let _ = writeln!(
            s,
            r##"<rect class="period {class}" x="{:.1}" y="{y1:.1}" width="{:.1}" height="{:.1}" fill="{fill}" fill-opacity="0.6"><title>{} {class} {}..{} ms</title></rect>"##,
            x - dx,
            2.0 * dx,
            (y2 - y1).max(1.0),
            period.member,
            period.from_ms,
            period.to_ms.map_or_else(|| "end".to_owned(), |t| t.to_string())
        );
        if scale.contains(period.from_ms) {
            let _ = writeln!(
                s,
                r##"<text class="period-label" x="{:.1}" y="{:.1}" font-size="9" fill="#555">{class}</text>"##,
                x - dx - 2.0,
                y1 + 9.0
            );
        }
    }
    let _ = writeln!(s, "</g>");
}

fn lifelines(s: &mut String, nodes: &[Node], scale: &Scale, bottom: f64) {
    let _ = writeln!(s, r##"<g class="lifelines">"##);
    let labels = ((bottom - TOP_PX) / LABEL_EVERY_PX).floor() as usize;
    for &node in nodes {
        let x = column_x(nodes, node).expect("a node of the trace");
        let colour = if matches!(node, Node::Member(_)) { "#333" } else { "#1f5fbf" };
        let kind = if matches!(node, Node::Member(_)) { "member" } else { "client" };
        let _ = writeln!(s, r##"<g class="lifeline {kind}" data-node="{node}">"##);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="{colour}" stroke-width="1.2"/>"##,
            scale.y(scale.from_ms) - 14.0
        );
        let label = |s: &mut String, y: f64| {
            let _ = writeln!(
                s,
                r##"<text class="lifeline-label" x="{x:.1}" y="{y:.1}" text-anchor="middle" font-size="13" font-weight="bold" fill="{colour}">{node}</text>"##
            );
        };
        label(s, TOP_PX - 18.0);
        for i in 1..=labels {
            label(s, TOP_PX + LABEL_EVERY_PX * i as f64);
        }
        label(s, bottom + 20.0);
        let _ = writeln!(s, "</g>");
    }
    let _ = writeln!(s, "</g>");
}

fn message(s: &mut String, nodes: &[Node], scale: &Scale, m: &Message) {
    let (Some(x1), Some(x2)) = (column_x(nodes, m.from), column_x(nodes, m.to)) else { return };
    let (y1, y2) = (scale.y(m.start_ms()), scale.y(m.at_ms));
    let sent = m.sent_ms.map_or_else(|| "?".to_owned(), |t| t.to_string());
    let tip = format!(
        "{}->{} {} sent {sent} ms, {}",
        m.from,
        m.to,
        m.label,
        match &m.dropped {
            Some(why) => format!("dropped ({why})"),
            None => format!("delivered {} ms", m.at_ms),
        }
    );
    if let Some(why) = &m.dropped {
        // Towards the receiver, ending in an x short of it.
        let x_end = x1 + (x2 - x1) * 0.45;
        let y_end = y1 + 6.0;
        let _ = writeln!(
            s,
            r##"<g class="msg dropped" stroke="#d4551b"><title>{}</title><line x1="{x1:.1}" y1="{y1:.1}" x2="{x_end:.1}" y2="{y_end:.1}" stroke-dasharray="3,2"/><path class="drop-x" d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="8" fill="#d4551b" stroke="none">{} ({why})</text></g>"##,
            esc(&tip),
            x_end - 4.0,
            y_end - 4.0,
            x_end + 6.0,
            y_end + 3.0,
            esc(&m.label)
        );
        return;
    }
    let (class, colour, font, text_colour) = match m.kind {
        MessageKind::Raft => ("raft", "#999", 8, "#999"),
        MessageKind::Request => ("request", "#1f5fbf", 9, "#1f5fbf"),
        MessageKind::Reply => ("reply", "#1d8a3a", 9, "#1d8a3a"),
    };
    let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let anchor = "middle";
    let _ = writeln!(
        s,
        r##"<g class="msg {class}"><title>{}</title><line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{colour}" marker-end="url(#head-{class})"/><text x="{mx:.1}" y="{:.1}" text-anchor="{anchor}" font-size="{font}" fill="{text_colour}">{}</text></g>"##,
        esc(&tip),
        my - 2.0,
        esc(&m.label)
    );
}

fn leases(s: &mut String, trace: &Trace, window: &Window, scale: &Scale, stack: &mut Stack, notes_x: f64) {
    let _ = writeln!(s, r##"<g class="leases">"##);
    let mut last_deadline: BTreeMap<i64, u64> = BTreeMap::new();
    for mark in &trace.leases {
        if window.lease.is_some_and(|l| l != mark.lease) {
            continue;
        }
        let owner = trace.owners.get(&mark.lease).copied();
        let x = owner.and_then(|o| column_x(&trace.nodes, o));
        let colour = match mark.op.as_str() {
            "grant" => "#1d8a3a",
            "renew" => "#1f5fbf",
            _ => "#000",
        };
        if scale.contains(mark.at_ms) {
            let deadline = mark.deadline_ms.map_or_else(String::new, |d| format!(" → {d} ms"));
            let ttl = if mark.ttl_s > 0 { format!(" ttl={}s", mark.ttl_s) } else { String::new() };
            let text = format!("{} {}{ttl}{deadline}", mark.op, mark.lease);
            let y = scale.y(mark.at_ms);
            let (cx, tx) = match x {
                Some(x) => (x, x + 8.0),
                None => (notes_x - 4.0, notes_x + 4.0),
            };
            let ty = stack.place(tx, y + 4.0);
            let _ = writeln!(
                s,
                r##"<g class="lease-mark {}" data-lease="{}"><circle cx="{cx:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/><text x="{tx:.1}" y="{ty:.1}" font-size="9" fill="{colour}">{}</text></g>"##,
                esc(&mark.op),
                mark.lease,
                esc(&text)
            );
        }
        let Some(deadline) = mark.deadline_ms else { continue };
        if last_deadline.insert(mark.lease, deadline) == Some(deadline) || !scale.contains(deadline) {
            continue;
        }
        let Some(x) = x else { continue };
        let y = scale.y(deadline);
        let _ = writeln!(
            s,
            r##"<g class="deadline" data-lease="{}"><line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="4,3"/><text x="{:.1}" y="{:.1}" font-size="8" fill="{colour}" text-anchor="end">deadline {} ({} ms)</text></g>"##,
            mark.lease,
            x - 30.0,
            x + 30.0,
            x - 32.0,
            y + 3.0,
            mark.lease,
            deadline
        );
    }
    let _ = writeln!(s, "</g>");
}

fn notes(s: &mut String, trace: &Trace, scale: &Scale, stack: &mut Stack, notes_x: f64) {
    let _ = writeln!(s, r##"<g class="notes" font-size="10" fill="#7a4b00">"##);
    let max = (NOTES_PX / CHAR_PX) as usize - 2;
    for note in trace.notes.iter().filter(|n| scale.contains(n.at_ms)) {
        let y = scale.y(note.at_ms);
        let ty = stack.place(notes_x, y + 3.5);
        let _ = writeln!(
            s,
            r##"<g class="note"><line x1="{:.1}" y1="{y:.1}" x2="{notes_x:.1}" y2="{y:.1}" stroke="#e0c080" stroke-dasharray="1,3"/><text x="{:.1}" y="{ty:.1}">{} ms {}</text></g>"##,
            LEFT_PX,
            notes_x + 4.0,
            note.at_ms,
            esc(&clip(&note.text, max))
        );
    }
    let _ = writeln!(s, "</g>");
}

fn violation(s: &mut String, trace: &Trace, scale: &Scale, width: f64) {
    let Some(v) = &trace.violation else { return };
    if !scale.contains(v.at_ms) {
        return;
    }
    let y = scale.y(v.at_ms);
    let _ = writeln!(s, r##"<g class="violation" fill="#d00" data-property="{}">"##, esc(&v.property));
    let _ = writeln!(
        s,
        r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#d00" stroke-width="2.5"/>"##,
        LEFT_PX - 10.0,
        width - 10.0
    );
    let owner = number_after(&v.detail, "lease ").and_then(|l| trace.owners.get(&l)).copied();
    if let Some(x) = owner.and_then(|o| column_x(&trace.nodes, o)) {
        let _ =
            writeln!(s, r##"<circle cx="{x:.1}" cy="{y:.1}" r="7" fill="none" stroke="#d00" stroke-width="2.5"/>"##);
    }
    // The property and the detail, above the line (the window ends shortly after it).
    let max = ((width - LEFT_PX - 20.0) / CHAR_PX) as usize;
    let detail = wrap(&v.detail, max);
    let top = y - 6.0 - LINE_PX * detail.len() as f64;
    let _ = writeln!(
        s,
        r##"<text class="violation-label" x="{:.1}" y="{:.1}" font-size="12" font-weight="bold" stroke="white" stroke-width="3" paint-order="stroke">✗ {} at {} ms</text>"##,
        LEFT_PX,
        top - 2.0,
        esc(&v.property),
        v.at_ms
    );
    for (i, line) in detail.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text class="violation-detail" x="{:.1}" y="{:.1}" font-size="10" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"##,
            LEFT_PX,
            top + LINE_PX * (i + 1) as f64,
            esc(line)
        );
    }
    let _ = writeln!(s, "</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_clipped_and_wrapped() {
        assert_eq!(esc(r##"a<b & "c"'"##), "a&lt;b &amp; &quot;c&quot;&apos;");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    }
}
