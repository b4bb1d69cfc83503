//! Sequences: what the catalog records of `CREATE SEQUENCE` (and of the
//! sequences SERIAL and identity columns own).
//!
//! The definition lives in the catalog; the *value* does not — it changes
//! on every `nextval` and is never rolled back, so the kernel keeps it
//! apart from the catalog's history (see the engine's `sequences` module).

use serde::{Deserialize, Serialize};

use crate::{SqlType, TableId};

/// Sequences and tables share one id space (as they share PostgreSQL's
/// relation namespace).
pub type SequenceId = u64;

/// A sequence definition.
///
/// Invariants: `increment != 0`; `min_value <= start <= max_value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceDef {
    pub id: SequenceId,
    pub name: String,
    /// `smallint`, `integer` or `bigint` (the default).
    pub data_type: SqlType,
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cycle: bool,
    /// The column that owns it (`OWNED BY t.c`, SERIAL, identity): the
    /// sequence is dropped with its table.
    pub owned_by: Option<(TableId, usize)>,
}

/// A sequence's state: the last value handed out, and whether `nextval`
/// has been called since it was set (if not, the next call returns
/// `last_value` itself) — PostgreSQL's `last_value` and `is_called`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceValue {
    pub last_value: i64,
    pub is_called: bool,
}

impl SequenceDef {
    /// The state of a sequence nobody has called yet.
    pub fn initial_value(&self) -> SequenceValue {
        SequenceValue {
            last_value: self.start,
            is_called: false,
        }
    }

    /// The value after `current`, or `None` at the end of a sequence that
    /// does not cycle.
    pub fn next_after(&self, current: SequenceValue) -> Option<i64> {
        if !current.is_called {
            return Some(current.last_value);
        }
        match current.last_value.checked_add(self.increment) {
            Some(next) if (self.min_value..=self.max_value).contains(&next) => Some(next),
            _ if self.cycle => Some(if self.increment > 0 {
                self.min_value
            } else {
                self.max_value
            }),
            _ => None,
        }
    }

    /// The bounds a column type allows.
    pub fn type_bounds(data_type: SqlType) -> (i64, i64) {
        match data_type {
            SqlType::Int2 => (i16::MIN.into(), i16::MAX.into()),
            SqlType::Int4 => (i32::MIN.into(), i32::MAX.into()),
            _ => (i64::MIN, i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(increment: i64, cycle: bool) -> SequenceDef {
        SequenceDef {
            id: 1,
            name: "s".into(),
            data_type: SqlType::Int8,
            start: 1,
            increment,
            min_value: 1,
            max_value: 3,
            cycle,
            owned_by: None,
        }
    }

    #[test]
    fn next_after_starts_at_start_then_steps_and_stops_or_cycles() {
        let s = def(1, false);
        let mut v = s.initial_value();
        let mut seen = vec![];
        while let Some(next) = s.next_after(v) {
            seen.push(next);
            v = SequenceValue {
                last_value: next,
                is_called: true,
            };
        }
        assert_eq!(seen, [1, 2, 3]);
        let c = def(1, true);
        let at_max = SequenceValue {
            last_value: 3,
            is_called: true,
        };
        assert_eq!(c.next_after(at_max), Some(1));
        let down = SequenceDef {
            start: 3,
            ..def(-2, true)
        };
        let v = SequenceValue {
            last_value: 1,
            is_called: true,
        };
        assert_eq!(down.next_after(v), Some(3));
    }
}
