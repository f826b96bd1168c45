//! The event trace of a run: one JSON line per event (and per history note), and a running FNV-1a
//! hash (over bytes, and over whole words for integers) of the same content (time, sequence number,
//! and the line's fields as they are, before formatting), so two runs can be compared by hash
//! without keeping or even formatting their traces, and a traced run hashes exactly as an untraced
//! one.
//!
//! For readers (`leasesim show` draws the trace) a written trace also carries facts that follow
//! from the hashed events but are not in their text: a delivery's send time (`sent_ms`), messages
//! the network dropped (`drop` lines), each lease's promised deadline after a grant or renew
//! (`lease` lines) and the violation that stopped the run (a `violation` line). They are produced
//! only when a writer is set and are not hashed, so tracing never changes a run or its hash.
//!
//! Owns the line format and the hash. It never decides what happened (the runner describes events)
//! and never opens files (the CLI hands it a writer).

use std::fmt::Display;
use std::hash::{Hash, Hasher};
use std::io::Write;

use super::options::{Resolved, SimOptions};
use crate::time::Instant;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a as a `Hasher`, continuing from a running hash; an integer is one step, not one a byte.
struct Fnv(u64);

impl Fnv {
    fn step(&mut self, word: u64) {
        self.0 ^= word;
        self.0 = self.0.wrapping_mul(FNV_PRIME);
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.step(u64::from(byte));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.step(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.step(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.step(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.step(value as u64);
    }

    fn write_i32(&mut self, value: i32) {
        self.step(value as u64);
    }

    fn write_i64(&mut self, value: i64) {
        self.step(value as u64);
    }

    fn write_isize(&mut self, value: isize) {
        self.step(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Where a run's trace goes: always into the hash, and to a writer when one is given.
pub struct TraceSink<'t> {
    out: Option<&'t mut dyn Write>,
    hash: u64,
    error: Option<std::io::Error>,
}

impl<'t> TraceSink<'t> {
    pub fn hash_only() -> TraceSink<'t> {
        TraceSink { out: None, hash: FNV_OFFSET, error: None }
    }

    pub fn writing(out: &'t mut dyn Write) -> TraceSink<'t> {
        TraceSink { out: Some(out), hash: FNV_OFFSET, error: None }
    }

    fn hash_text(&mut self, parts: &[&[u8]]) {
        let mut hasher = Fnv(self.hash);
        for part in parts {
            hasher.write(part);
        }
        self.hash = hasher.0;
    }

    fn write(&mut self, line: &serde_json::Value) {
        if let Some(out) = self.out.as_mut()
            && self.error.is_none()
            && let Err(e) = writeln!(out, "{line}")
        {
            self.error = Some(e);
        }
    }

    /// The first line: the seed and the options, as given and as the seed resolved them.
    pub fn header(&mut self, seed: u64, options: &SimOptions, resolved: &Resolved) {
        let args = options.to_args(seed);
        let resolved = resolved.to_string();
        self.hash_text(&[args.as_bytes(), b"\n", resolved.as_bytes(), b"\n"]);
        if self.out.is_some() {
            self.write(&serde_json::json!({ "seed": seed, "options": args, "resolved": resolved }));
        }
    }

    /// Whether lines are written (facts for readers are worth computing only then).
    pub fn is_writing(&self) -> bool {
        self.out.is_some()
    }

    /// One event (`seq` is the queue's sequence number; `u64::MAX` marks a note about history).
    /// The hash covers the time, the sequence number and the line's fields (`what`), whether or not
    /// a writer is set; the text (`what` displayed) is made only for a writer. `sent` (a delivery's
    /// send time) is written but not hashed.
    pub fn event(&mut self, at: Instant, seq: u64, what: &(impl Hash + Display), sent: Option<Instant>) {
        let mut hasher = Fnv(self.hash);
        at.as_ms().hash(&mut hasher);
        seq.hash(&mut hasher);
        what.hash(&mut hasher);
        self.hash = hasher.0;
        if self.out.is_none() {
            return;
        }
        let text = what.to_string();
        let mut line = if seq == u64::MAX {
            serde_json::json!({ "t_ms": at.as_ms(), "note": text })
        } else {
            serde_json::json!({ "t_ms": at.as_ms(), "seq": seq, "event": text })
        };
        if let Some(sent) = sent {
            line["sent_ms"] = sent.as_ms().into();
        }
        self.write(&line);
    }

    /// A fact for readers at `at` (see the module header): written with `t_ms` added when a writer
    /// is set, never hashed. `fields` must be a JSON object.
    pub fn fact(&mut self, at: Instant, fields: serde_json::Value) {
        if self.out.is_none() {
            return;
        }
        let mut line = fields;
        line["t_ms"] = at.as_ms().into();
        self.write(&line);
    }

    /// The FNV-1a hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Flushes the writer and reports the first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}
