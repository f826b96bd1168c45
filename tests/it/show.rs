//! `leasesim::show` on real counterexamples: the traces of bug runs found by a small seed search
//! are drawn, and the SVG is parsed as XML and counted: one lifeline per member and client, one
//! arrow per message in the window (counted from the raw trace lines, not by the drawing code),
//! one violation marker naming the property, labels and deadline marks present.

use leasesim::bugs::{Bug, Bugs};
use leasesim::show::{self, Request};
use leasesim::sim::{SimOptions, run, run_traced};
use leasesim::time::Duration;
use roxmltree::{Document, Node};

/// Short runs (30 s of faults, the shortest healing phase) so a search is quick.
fn options(bug: Bug) -> SimOptions {
    SimOptions {
        bugs: Bugs::only(bug),
        duration: Duration::from_secs(30),
        heal: Duration::from_secs(20),
        ..SimOptions::short()
    }
}

/// The first seed whose run breaks the property `bug` is known to break, and its trace.
fn counterexample(bug: Bug) -> (SimOptions, String) {
    let options = options(bug);
    let seed = (0..200)
        .find(|&seed| run(seed, &options).violation.is_some_and(|v| v.property == bug.breaks()))
        .unwrap_or_else(|| panic!("{bug}: no seed in 0..200 broke {}", bug.breaks()));
    let mut out = Vec::new();
    let report = run_traced(seed, &options, &mut out).expect("writing to memory");
    assert_eq!(report.violation.map(|v| v.property), Some(bug.breaks()), "{bug} seed {seed} traced differently");
    (options, String::from_utf8(out).expect("utf-8"))
}

fn has_class(node: &Node, class: &str) -> bool {
    node.attribute("class").is_some_and(|c| c.split_whitespace().any(|w| w == class))
}

fn all_with<'a, 'i>(doc: &'a Document<'i>, class: &str) -> Vec<Node<'a, 'i>> {
    doc.descendants().filter(|n| has_class(n, class)).collect()
}

fn text_of(node: &Node) -> String {
    node.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect()
}

/// Messages in flight during `from..=to`, read straight from the trace lines: deliveries (sent at
/// `sent_ms`, delivered at `t_ms`) and drops (at `t_ms`).
fn messages_in_window(trace: &str, from: u64, to: u64, lease: Option<i64>) -> usize {
    trace
        .lines()
        .skip(1)
        .filter(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let at = v["t_ms"].as_u64().unwrap();
            let (text, start) = if let Some(e) = v["event"].as_str().and_then(|e| e.strip_prefix("deliver ")) {
                (e, v["sent_ms"].as_u64().expect("deliveries carry their send time"))
            } else if let Some(d) = v["drop"].as_str() {
                (d, at)
            } else {
                return false;
            };
            let about_lease = lease.is_none_or(|l| {
                text.contains(&format!("id: {l} "))
                    || text.contains(&format!("id: {l},"))
                    || text.contains(&format!("lease: {l} "))
            });
            at >= from && start <= to && about_lease
        })
        .count()
}

/// Draws the trace and checks the picture; returns the lease the violation names, if any.
fn check_picture(bug: Bug, options: &SimOptions, trace: &str) -> Option<i64> {
    let picture = show::render(trace, &Request::default()).expect("a real trace renders");
    let doc = Document::parse(&picture.svg).unwrap_or_else(|e| panic!("{bug}: the SVG is not XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let from: u64 = root.attribute("data-from-ms").unwrap().parse().unwrap();
    let to: u64 = root.attribute("data-to-ms").unwrap().parse().unwrap();
    assert!(from < to, "{bug}: window {from}..{to}");

    let title = doc.descendants().find(|n| n.has_tag_name("title")).map(|n| text_of(&n)).unwrap();
    assert!(title.contains(&format!("window {from}..{to} ms")), "{bug}: the title does not say the window: {title}");
    assert!(title.contains(bug.breaks()), "{bug}: {title}");

    let lifelines = all_with(&doc, "lifeline");
    assert_eq!(lifelines.len(), options.members + options.clients, "{bug}: lifelines");
    let names: Vec<String> =
        (1..=options.members).map(|m| format!("m{m}")).chain((0..options.clients).map(|c| format!("c{c}"))).collect();
    for name in &names {
        let line = lifelines.iter().find(|l| l.attribute("data-node") == Some(name)).expect("a lifeline per node");
        assert!(
            line.descendants().any(|n| has_class(&n, "lifeline-label") && text_of(&n) == *name),
            "{bug}: lifeline {name} has no label"
        );
    }

    let arrows = all_with(&doc, "msg");
    let expected = messages_in_window(trace, from, to, None);
    assert!(expected > 0, "{bug}: no message in the window");
    assert_eq!(arrows.len(), expected, "{bug}: arrows drawn vs messages in the window");
    assert_eq!(arrows.len(), picture.messages);
    for arrow in &arrows {
        assert!(arrow.children().any(|n| n.has_tag_name("line")), "{bug}: an arrow without a line");
    }
    assert!(all_with(&doc, "request").len() + all_with(&doc, "reply").len() > 0, "{bug}: no client traffic drawn");
    assert!(all_with(&doc, "tick-label").len() >= 3, "{bug}: the time axis has too few labels");
    assert!(!all_with(&doc, "deadline").is_empty(), "{bug}: no promised deadline marked");
    assert!(!all_with(&doc, "lease-mark").is_empty(), "{bug}: no lease grant/renew/revoke marked");

    let violations = all_with(&doc, "violation");
    assert_eq!(violations.len(), 1, "{bug}: violation markers");
    assert_eq!(violations[0].attribute("data-property"), Some(bug.breaks()));
    assert!(text_of(&violations[0]).contains(bug.breaks()), "{bug}: the marker does not name the property");

    let detail = text_of(&violations[0]);
    let at = detail.find("lease ")? + "lease ".len();
    detail[at..].split(|c: char| c != '-' && !c.is_ascii_digit()).next()?.parse().ok()
}

/// `--lease ID` draws only that lease's messages and marks.
fn check_lease_picture(bug: Bug, trace: &str, lease: i64) {
    let picture = show::render(trace, &Request { lease: Some(lease), ..Request::default() }).expect("renders");
    let doc = Document::parse(&picture.svg).expect("XML");
    let root = doc.root_element();
    let from: u64 = root.attribute("data-from-ms").unwrap().parse().unwrap();
    let to: u64 = root.attribute("data-to-ms").unwrap().parse().unwrap();
    let arrows = all_with(&doc, "msg");
    assert!(!arrows.is_empty(), "{bug}: lease {lease} has no message");
    assert_eq!(arrows.len(), messages_in_window(trace, from, to, Some(lease)), "{bug}: lease {lease} arrows");
    for mark in all_with(&doc, "lease-mark").iter().chain(&all_with(&doc, "deadline")) {
        assert_eq!(mark.attribute("data-lease"), Some(lease.to_string().as_str()));
    }
}

#[test]
fn the_counterexample_of_etcd_6570_draws_as_a_checked_svg() {
    let (options, trace) = counterexample(Bug::Etcd6570);
    let lease = check_picture(Bug::Etcd6570, &options, &trace).expect("the violation names its lease");
    check_lease_picture(Bug::Etcd6570, &trace, lease);
}

#[test]
fn the_counterexample_of_etcd_20590_draws_as_a_checked_svg() {
    let (options, trace) = counterexample(Bug::Etcd20590);
    let lease = check_picture(Bug::Etcd20590, &options, &trace).expect("the violation names its lease");
    check_lease_picture(Bug::Etcd20590, &trace, lease);
}

#[test]
fn bad_traces_are_errors_that_say_where() {
    let err = show::render("", &Request::default()).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    let err = show::render("{\"seed\":1}\n{\"t_ms\":1,\"event\":\"tick m1\"}\nnot json\n", &Request::default());
    assert!(err.unwrap_err().to_string().starts_with("line 3:"));
    let one = "{\"t_ms\":1,\"event\":\"deliver m1->m2 MsgHeartbeat term=1 index=0 commit=0 entries=0\",\"sent_ms\":0}";
    let err = show::render(one, &Request { from_ms: Some(9), to_ms: Some(3), lease: None }).unwrap_err();
    assert!(err.to_string().contains("--from must be before --to"), "{err}");
    let err = show::render(one, &Request { lease: Some(42), ..Request::default() }).unwrap_err();
    assert!(err.to_string().contains("lease 42 does not occur"), "{err}");
}
