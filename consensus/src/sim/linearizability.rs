//! A linearizability checker for registers (Wing & Gong's search with
//! Lowe's memoization).
//!
//! Linearizability is local: a history of many registers is linearizable
//! when each register's is, so the simulator checks key by key. For one
//! register, search for an order of the operations that respects real time
//! (an operation that completed before another was invoked comes first) in
//! which every read returns the latest write. Operations that never
//! completed may take effect at any point after their invocation, or never.
//! The memo holds (operations placed, register value) states already known
//! to fail, which keeps the search polynomial for the few concurrent
//! clients the simulator runs.

use std::collections::HashSet;

/// What an operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Write(u64),
    /// A read and the value it returned (when it completed).
    Read(Option<u64>),
}

/// One operation on one register, with its invocation and completion on a
/// global event clock (distinct instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub kind: Kind,
    pub invoked: u64,
    pub completed: Option<u64>,
}

/// Searches bounded by this many visited states give up (and say so)
/// rather than run unbounded.
pub const STATES_MAX: usize = 2_000_000;

/// Whether the history is linearizable; `Err` explains a failure.
pub fn check(history: &[Operation]) -> Result<(), String> {
    let mut ops: Vec<Operation> = history.to_vec();
    ops.sort_by_key(|o| o.invoked);
    let mut search = Search {
        ops: &ops,
        placed: vec![0u64; ops.len().div_ceil(64)],
        failed: HashSet::new(),
    };
    let to_place = ops.iter().filter(|o| o.completed.is_some()).count();
    match search.run(None, to_place) {
        Some(true) => Ok(()),
        Some(false) => Err(format!(
            "no linearization of {} operations ({} completed)",
            ops.len(),
            to_place
        )),
        None => Err(format!(
            "search gave up after {STATES_MAX} states; history too concurrent to decide"
        )),
    }
}

/// The operation whose completion first makes `history` unlinearizable:
/// the shortest prefix (cut at a completion) that fails, found by binary
/// search (a prefix of a linearizable history is linearizable). Returns its
/// index in `history`.
pub fn first_violation(history: &[Operation]) -> Option<usize> {
    let mut cuts: Vec<(u64, usize)> = history
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.completed.map(|c| (c, i)))
        .collect();
    cuts.sort_unstable();
    let fails_at = |cut: u64| {
        let prefix: Vec<Operation> = history
            .iter()
            .filter(|o| o.invoked <= cut)
            .map(|o| Operation {
                completed: o.completed.filter(|&c| c <= cut),
                ..*o
            })
            .collect();
        check(&prefix).is_err()
    };
    let &(last, _) = cuts.last()?;
    if !fails_at(last) {
        return None;
    }
    // The smallest cut that fails: cuts below `low` pass, `high` fails.
    let (mut low, mut high) = (0, cuts.len() - 1);
    while low < high {
        let mid = (low + high) / 2;
        if fails_at(cuts[mid].0) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Some(cuts[low].1)
}

struct Search<'a> {
    ops: &'a [Operation],
    placed: Vec<u64>,
    failed: HashSet<(Vec<u64>, Option<u64>)>,
}

impl Search<'_> {
    fn is_placed(&self, i: usize) -> bool {
        self.placed[i / 64] & (1 << (i % 64)) != 0
    }
    fn flip(&mut self, i: usize) {
        self.placed[i / 64] ^= 1 << (i % 64);
    }

    /// `Some(found)`, or `None` when the state budget ran out.
    fn run(&mut self, value: Option<u64>, to_place: usize) -> Option<bool> {
        if to_place == 0 {
            return Some(true);
        }
        if self.failed.len() >= STATES_MAX {
            return None;
        }
        if self.failed.contains(&(self.placed.clone(), value)) {
            return Some(false);
        }
        // The next operation must be invoked before every unplaced
        // operation's completion.
        let horizon = (0..self.ops.len())
            .filter(|&i| !self.is_placed(i))
            .filter_map(|i| self.ops[i].completed)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..self.ops.len() {
            let op = self.ops[i];
            if op.invoked > horizon {
                break; // sorted by invocation
            }
            if self.is_placed(i) {
                continue;
            }
            let (next, ok) = match op.kind {
                Kind::Write(v) => (Some(v), true),
                Kind::Read(seen) => (value, op.completed.is_some() && seen == value),
            };
            if !ok {
                continue;
            }
            self.flip(i);
            let left = to_place - usize::from(op.completed.is_some());
            let found = self.run(next, left);
            self.flip(i);
            match found {
                Some(true) => return Some(true),
                None => return None,
                Some(false) => {}
            }
        }
        self.failed.insert((self.placed.clone(), value));
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind, invoked: u64, completed: u64) -> Operation {
        Operation {
            kind,
            invoked,
            completed: Some(completed),
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            op(Kind::Write(1), 1, 2),
            op(Kind::Read(Some(1)), 3, 4),
            op(Kind::Write(2), 5, 6),
            op(Kind::Read(Some(2)), 7, 8),
        ];
        assert!(check(&h).is_ok());
    }

    #[test]
    fn a_read_of_an_overwritten_value_is_not() {
        // write 1, then write 2 completes, then a read returns 1: stale.
        let h = [
            op(Kind::Write(1), 1, 2),
            op(Kind::Write(2), 3, 4),
            op(Kind::Read(Some(1)), 5, 6),
        ];
        assert!(check(&h).is_err());
    }

    #[test]
    fn concurrent_operations_may_take_either_order() {
        let h = [
            op(Kind::Write(1), 1, 10),
            op(Kind::Write(2), 2, 9),
            op(Kind::Read(Some(1)), 11, 12),
        ];
        assert!(check(&h).is_ok());
        let h = [
            op(Kind::Write(1), 1, 10),
            op(Kind::Read(Some(1)), 2, 3),
            op(Kind::Read(None), 4, 5),
        ];
        assert!(
            check(&h).is_err(),
            "a read cannot go back to before the write"
        );
    }

    #[test]
    fn the_first_violation_names_the_stale_read() {
        let h = [
            op(Kind::Write(1), 1, 2),
            op(Kind::Write(2), 3, 4),
            op(Kind::Read(Some(2)), 5, 6),
            op(Kind::Read(Some(1)), 7, 8),
            op(Kind::Read(Some(2)), 9, 10),
        ];
        assert_eq!(first_violation(&h), Some(3));
        assert_eq!(first_violation(&h[..3]), None);
    }

    #[test]
    fn a_pending_write_may_or_may_not_have_happened() {
        let pending = Operation {
            kind: Kind::Write(7),
            invoked: 1,
            completed: None,
        };
        assert!(check(&[pending, op(Kind::Read(Some(7)), 5, 6)]).is_ok());
        assert!(check(&[pending, op(Kind::Read(None), 5, 6)]).is_ok());
        assert!(check(&[pending, op(Kind::Read(Some(8)), 5, 6)]).is_err());
    }
}
