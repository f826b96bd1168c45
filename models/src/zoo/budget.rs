//! The zoo's budgets: how much each engine may spend on one row before it gives up. A budget is
//! counted in the engines' own deterministic units (cases, states, seeds), never in wall time, so
//! a matrix is the same on every machine; only its wall-time column differs.

use std::fmt;

/// How much each engine may spend on one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub name: &'static str,
    /// Proptest cases (random traces of up to [`Budget::PROPTEST_SNIPPETS`] snippets).
    pub proptest_cases: u32,
    /// States a model's breadth-first search may generate (stateright's state count, duplicates
    /// included; checked per block of 1,500 states).
    pub model_states: usize,
    /// Simulation seeds, `0..sim_seeds`, run in order until the first failing one.
    pub sim_seeds: u64,
    /// Re-runs the minimizer may make on the first failing seed (`sim::minimize`).
    pub sim_minimize_runs: usize,
}

impl Budget {
    /// The proptest runner's seed (32 copies of this byte) and case size, as in the property tests.
    pub const PROPTEST_SEED_BYTE: u8 = 11;
    pub const PROPTEST_SNIPPETS: usize = 20;

    /// For tests: every expected finding still shows, in seconds at the test profile.
    pub const SMALL: Budget =
        Budget { name: "small", proptest_cases: 500, model_states: 100_000, sim_seeds: 150, sim_minimize_runs: 30 };
    /// The whole matrix in a minute or two in release on 2 cores.
    pub const DEFAULT: Budget = Budget {
        name: "default",
        proptest_cases: 2_000,
        model_states: 400_000,
        sim_seeds: 300,
        sim_minimize_runs: 150,
    };
    /// A longer look for what the default misses.
    pub const LARGE: Budget = Budget {
        name: "large",
        proptest_cases: 20_000,
        model_states: 3_000_000,
        sim_seeds: 1_000,
        sim_minimize_runs: 600,
    };

    pub const ALL: [Budget; 3] = [Budget::SMALL, Budget::DEFAULT, Budget::LARGE];

    /// The budget in one line, for the output's header.
    pub fn describe(&self) -> String {
        format!(
            "budget `{}`: proptest ≤ {} cases per row (traces of ≤ {} snippets, seed byte {}); lessor and cluster \
             models: BFS ≤ {} states generated per row (1 thread); simulation: seeds 0..{} per row, in order, the first \
             failing one minimized in ≤ {} re-runs (length: schedule items)",
            self.name,
            self.proptest_cases,
            Budget::PROPTEST_SNIPPETS,
            Budget::PROPTEST_SEED_BYTE,
            self.model_states,
            self.sim_seeds,
            self.sim_minimize_runs
        )
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl std::str::FromStr for Budget {
    type Err = String;
    fn from_str(text: &str) -> Result<Budget, String> {
        Budget::ALL
            .into_iter()
            .find(|b| b.name == text)
            .ok_or_else(|| format!("unknown budget `{text}`; known budgets: small, default, large"))
    }
}
