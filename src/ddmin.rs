//! Delta debugging (Zeller and Hildebrandt's ddmin, complement variant): shrinks a failing list of
//! items by removing chunks of it, halving the chunk size when no chunk can go, until removing any
//! single item makes the failure disappear (1-minimal) or a run budget is spent.
//!
//! Owns the algorithm only; what "fails" means is the caller's test (a conformance disagreement,
//! a simulator violation of the same property, a replay trace's violation). Used by
//! `conform::shrink` and `sim::minimize`.

/// What a test says about one candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trial<T> {
    /// The candidate still fails; the test may hand back a smaller list that fails the same way
    /// (for example the candidate cut just after its failure), which then replaces it.
    Fails(Vec<T>),
    /// The failure is gone.
    Passes,
    /// The candidate cannot be judged; it is not run and does not count against the budget.
    Skipped,
}

/// Shrinks `items` (which must fail) by ddmin. At most `max_runs` judged candidates; the smallest
/// failing list found is returned. An error from the test stops the search.
pub fn ddmin<T: Clone, E>(
    items: Vec<T>,
    max_runs: usize,
    mut test: impl FnMut(&[T]) -> Result<Trial<T>, E>,
) -> Result<Vec<T>, E> {
    let mut current = items;
    let mut runs = 0;
    let mut granularity = 2;
    while current.len() >= 2 && runs < max_runs {
        let chunk = current.len().div_ceil(granularity);
        let mut reduced = false;
        let mut start = 0;
        while start < current.len() && runs < max_runs {
            let candidate: Vec<T> =
                current[..start].iter().chain(&current[(start + chunk).min(current.len())..]).cloned().collect();
            start += chunk;
            if candidate.is_empty() {
                continue;
            }
            match test(&candidate)? {
                Trial::Skipped => continue,
                Trial::Passes => runs += 1,
                Trial::Fails(smaller) => {
                    runs += 1;
                    current = smaller;
                    granularity = (granularity - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if granularity >= current.len() {
                break;
            }
            granularity = (granularity * 2).min(current.len());
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails_if_contains(needed: &'static [u32]) -> impl FnMut(&[u32]) -> Result<Trial<u32>, ()> {
        move |c: &[u32]| Ok(if needed.iter().all(|n| c.contains(n)) { Trial::Fails(c.to_vec()) } else { Trial::Passes })
    }

    #[test]
    fn shrinks_to_the_items_the_failure_needs() {
        let items: Vec<u32> = (0..40).collect();
        assert_eq!(ddmin(items.clone(), 1000, fails_if_contains(&[7, 23, 31])), Ok(vec![7, 23, 31]));
        assert_eq!(ddmin(items, 1000, fails_if_contains(&[0])), Ok(vec![0]));
    }

    #[test]
    fn the_budget_and_skips_are_respected() {
        let items: Vec<u32> = (0..64).collect();
        let mut runs = 0;
        let shrunk = ddmin(items.clone(), 3, |c: &[u32]| {
            runs += 1;
            Ok::<_, ()>(if c.contains(&5) { Trial::Fails(c.to_vec()) } else { Trial::Passes })
        })
        .unwrap();
        assert_eq!(runs, 3);
        assert!(shrunk.contains(&5) && shrunk.len() < 64);
        // Skipped candidates are never taken, so nothing shrinks.
        assert_eq!(ddmin(items.clone(), 1000, |_: &[u32]| Ok::<_, ()>(Trial::Skipped)), Ok(items));
    }

    #[test]
    fn a_test_may_hand_back_a_smaller_failing_list() {
        // The failure is "contains 9"; the test cuts everything after the 9.
        let shrunk = ddmin((0..20).collect(), 1000, |c: &[u32]| {
            Ok::<_, ()>(match c.iter().position(|&x| x == 9) {
                Some(i) => Trial::Fails(c[..=i].to_vec()),
                None => Trial::Passes,
            })
        });
        assert_eq!(shrunk, Ok(vec![9]));
    }
}
