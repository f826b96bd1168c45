//! Reply lines compared field by field: the replayer's (expected) against etcd's (actual).
//!
//! Owns the rules: the status words and every `key=value` field must be equal, except
//! - `ttl=` of a TimeToLive answer for a live lease, which comes from the wall clock and may differ
//!   by [`TTL_TOLERANCE_S`];
//! - `revoked=` of `advance` and `ids=` of `leases`, which are sets (the order within one advance
//!   is the order etcd's scan happened to find them);
//! - the `id=` of a `grant 0`, where etcd picks its own positive ID: it must be positive, and from
//!   then on etcd's ID is read as the replayer's in every later reply.
//!
//! It does not decide which traces are fair to compare (that is `timing`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::lease::LeaseId;
use crate::trace::Command;

/// How far a TimeToLive `ttl=` from etcd may be from the replayer's, in seconds (the wall clock of
/// a run lags trace time by up to the lateness budget, and both truncate to whole seconds).
pub const TTL_TOLERANCE_S: i64 = 1;

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// `status`, or the field name (`ttl`, `rev`, …).
    pub field: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: replayer {:?}, etcd {:?}", self.field, self.expected, self.actual)
    }
}

/// A reply split into its status words (`ok`, `err LeaseNotFound`, `ok none`, `blocked`) and fields.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Parsed {
    status: String,
    fields: BTreeMap<String, String>,
}

fn parse(reply: &str) -> Parsed {
    let mut status = Vec::new();
    let mut fields = BTreeMap::new();
    for word in reply.split_whitespace() {
        match word.split_once('=') {
            Some((key, value)) => {
                fields.insert(key.to_owned(), value.to_owned());
            }
            None => status.push(word),
        }
    }
    Parsed { status: status.join(" "), fields }
}

/// Compares replies of one trace in order, carrying the `grant 0` ID correspondence along.
#[derive(Clone, Debug, Default)]
pub struct Comparator {
    /// etcd's chosen ID → the replayer's, for every `grant 0`.
    chosen_ids: BTreeMap<LeaseId, LeaseId>,
}

impl Comparator {
    pub fn new() -> Comparator {
        Comparator::default()
    }

    /// Compares one reply pair; the first differing field is the mismatch.
    pub fn compare(&mut self, command: &Command, expected: &str, actual: &str) -> Result<(), Mismatch> {
        let want = parse(expected);
        let mut got = parse(actual);
        for (key, value) in got.fields.iter_mut() {
            if matches!(key.as_str(), "id" | "ids" | "revoked" | "lease") {
                *value = self.translate_ids(value);
            }
        }
        let mismatch = |field: &str, e: &str, a: &str| Mismatch {
            field: field.to_owned(),
            expected: e.to_owned(),
            actual: a.to_owned(),
        };
        if want.status != got.status {
            return Err(mismatch("status", expected, actual));
        }
        let want_keys: BTreeSet<&String> = want.fields.keys().collect();
        let got_keys: BTreeSet<&String> = got.fields.keys().collect();
        if want_keys != got_keys {
            return Err(mismatch("fields", expected, actual));
        }
        for (key, e) in &want.fields {
            let a = &got.fields[key];
            let equal = match (command, key.as_str()) {
                (Command::Grant { id: 0, .. }, "id") => self.record_chosen_id(e, a),
                (Command::Ttl { .. }, "ttl") if want.fields.contains_key("granted") => {
                    match (e.parse::<i64>(), a.parse::<i64>()) {
                        (Ok(e), Ok(a)) => (e - a).abs() <= TTL_TOLERANCE_S,
                        _ => false,
                    }
                }
                (_, "ids" | "revoked") => as_set(e) == as_set(a),
                _ => e == a,
            };
            if !equal {
                return Err(mismatch(key, e, a));
            }
        }
        Ok(())
    }

    /// A `grant 0`: etcd's ID must be positive; remember it as the replayer's from now on.
    fn record_chosen_id(&mut self, expected: &str, actual: &str) -> bool {
        // `actual` has already been translated, so a fresh etcd ID arrives unchanged.
        match (expected.parse::<LeaseId>(), actual.parse::<LeaseId>()) {
            (Ok(model), Ok(etcd)) if etcd > 0 && model > 0 => {
                self.chosen_ids.insert(etcd, model);
                true
            }
            _ => false,
        }
    }

    fn translate_ids(&self, list: &str) -> String {
        if list.is_empty() {
            return String::new();
        }
        list.split(',')
            .map(|item| match item.parse::<LeaseId>().ok().and_then(|id| self.chosen_ids.get(&id)) {
                Some(model) => model.to_string(),
                None => item.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn as_set(list: &str) -> BTreeSet<&str> {
    list.split(',').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(command: &str, expected: &str, actual: &str) -> Result<(), String> {
        let crate::trace::Line::Command(command) = crate::trace::parse_line(command).unwrap() else { panic!() };
        Comparator::new().compare(&command, expected, actual).map_err(|m| m.field)
    }

    #[test]
    fn fields_must_match_except_time_and_sets() {
        assert_eq!(check("put k v", "ok rev=2", "ok rev=2"), Ok(()));
        assert_eq!(check("put k v", "ok rev=2", "ok rev=3"), Err("rev".into()));
        assert_eq!(check("revoke 1", "ok", "err LeaseNotFound"), Err("status".into()));
        assert_eq!(check("ttl 1", "ok id=1 ttl=5 granted=5", "ok id=1 ttl=4 granted=5"), Ok(()));
        assert_eq!(check("ttl 1", "ok id=1 ttl=5 granted=5", "ok id=1 ttl=3 granted=5"), Err("ttl".into()));
        assert_eq!(check("ttl 1", "ok id=1 ttl=-1", "ok id=1 ttl=0 granted=5"), Err("fields".into()));
        assert_eq!(check("ttl 1", "ok id=1 ttl=-1", "ok id=1 ttl=-2"), Err("ttl".into()));
        assert_eq!(check("leases", "ok ids=1,2", "ok ids=2,1"), Ok(()));
        assert_eq!(check("leases", "ok ids=1,2", "ok ids=1"), Err("ids".into()));
        assert_eq!(check("grant 5 1", "ok id=5 ttl=2", "ok id=5 ttl=1"), Err("ttl".into()));
    }

    #[test]
    fn a_chosen_id_is_read_as_the_replayers_afterwards() {
        let mut comparator = Comparator::new();
        let grant = Command::Grant { id: 0, ttl_s: 5 };
        assert!(comparator.compare(&grant, "ok id=1 ttl=5", "ok id=7587 ttl=5").is_ok());
        assert!(comparator.compare(&Command::Leases, "ok ids=-3,1", "ok ids=-3,7587").is_ok());
        let get = Command::Get { key: "k".into() };
        assert!(comparator.compare(&get, "ok value=v lease=1 mod_rev=2", "ok value=v lease=7587 mod_rev=2").is_ok());
        assert!(Comparator::new().compare(&grant, "ok id=1 ttl=5", "ok id=-4 ttl=5").is_err());
    }
}
