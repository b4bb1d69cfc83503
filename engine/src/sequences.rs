//! # Sequences: values handed out ahead of the log
//!
//! `nextval` must never hand out a value twice — not to two sessions at
//! once, not after a rollback (it is never rolled back), not after a
//! restart. Logging every call would cost a log write per row of a SERIAL
//! table, so the allocator does what PostgreSQL does (`SEQ_LOG_VALS`): it
//! *reserves* [`RESERVE`] values at a time and logs only the reservation —
//! the position a restart resumes after. A crash loses at most the unused
//! rest of a reservation: a gap, never a repeat.
//!
//! ```text
//!   nextval → 1   reserve: log position 32 (with the next command logged)
//!   nextval → 2…32   no log writes
//!   nextval → 33  reserve: log position 64
//!   crash, restart: the kernel holds 64 → next nextval is 65
//! ```
//!
//! Reservations ride on whichever command is logged next (any session's
//! commit): the engine takes them under its state lock, so positions reach
//! the log in the order they were reserved. A query that drew values logs
//! what is still pending at the end of its result stream, and so does an
//! empty COMMIT, so a value a client saw in a completed statement is
//! durable — as PostgreSQL's nextval makes its transaction durable.

use std::collections::HashMap;
use std::sync::Arc;

use kimberlite_catalog::{SequenceDef, SequenceId, SequenceValue};

use crate::error::{EngineError, EngineResult};

/// Values reserved per log write.
pub const RESERVE: u32 = 32;

/// One sequence's in-memory position.
#[derive(Debug)]
struct Slot {
    def: Arc<SequenceDef>,
    /// The last value handed out (or set).
    value: SequenceValue,
    /// How many more values `value` may advance before the logged position
    /// is passed.
    covered: u32,
    /// A position reserved but not yet taken into a command.
    unlogged: Option<SequenceValue>,
}

/// Every sequence's position, shared by all sessions of the engine.
#[derive(Debug, Default)]
pub struct SequenceAllocator {
    slots: HashMap<SequenceId, Slot>,
}

impl SequenceAllocator {
    fn slot(&mut self, def: &Arc<SequenceDef>, durable: Option<SequenceValue>) -> &mut Slot {
        let slot = self.slots.entry(def.id).or_insert_with(|| Slot {
            def: def.clone(),
            // Resume after the logged position: every value up to it may
            // have been handed out before a restart.
            value: durable.unwrap_or_else(|| def.initial_value()),
            covered: 0,
            unlogged: None,
        });
        if *slot.def != **def {
            // ALTER SEQUENCE: reserve again under the new definition.
            slot.def = def.clone();
            slot.covered = 0;
        }
        slot
    }

    /// The next value of `def`; `durable` is the position the kernel holds
    /// (used the first time the sequence is touched since start).
    pub fn nextval(
        &mut self,
        def: &Arc<SequenceDef>,
        durable: Option<SequenceValue>,
    ) -> EngineResult<i64> {
        let slot = self.slot(def, durable);
        let Some(next) = slot.def.next_after(slot.value) else {
            let (bound, word) = if def.increment > 0 {
                (def.max_value, "maximum")
            } else {
                (def.min_value, "minimum")
            };
            return Err(EngineError::SequenceLimit(format!(
                "nextval: reached {word} value of sequence \"{}\" ({bound})",
                def.name
            )));
        };
        slot.value = SequenceValue {
            last_value: next,
            is_called: true,
        };
        if slot.covered == 0 {
            // Reserve: walk RESERVE values ahead (stopping at the end of a
            // sequence that does not cycle) and log that position.
            let mut position = slot.value;
            let mut covered = 0;
            while covered < RESERVE - 1 {
                match slot.def.next_after(position) {
                    Some(v) => {
                        position = SequenceValue {
                            last_value: v,
                            is_called: true,
                        };
                        covered += 1;
                    }
                    None => break,
                }
            }
            slot.covered = covered;
            slot.unlogged = Some(position);
        } else {
            slot.covered -= 1;
        }
        Ok(next)
    }

    /// `setval`: the position is exactly `value` from now on (logged as is).
    pub fn setval(&mut self, def: &Arc<SequenceDef>, value: SequenceValue) {
        let slot = self.slot(def, None);
        slot.value = value;
        slot.covered = 0;
        slot.unlogged = Some(value);
    }

    /// Whether any position waits to be logged.
    pub fn has_unlogged(&self) -> bool {
        self.slots.values().any(|s| s.unlogged.is_some())
    }

    /// Takes the positions reserved since the last call, for sequences that
    /// `exist` (one created by a transaction still open keeps its position
    /// until that transaction's own commit takes it).
    pub fn take_unlogged(
        &mut self,
        exists: impl Fn(SequenceId) -> bool,
    ) -> Vec<(SequenceId, SequenceValue)> {
        let mut taken: Vec<(SequenceId, SequenceValue)> = self
            .slots
            .iter_mut()
            .filter(|(id, _)| exists(**id))
            .filter_map(|(id, slot)| slot.unlogged.take().map(|v| (*id, v)))
            .collect();
        taken.sort_by_key(|(id, _)| *id);
        taken
    }

    /// Puts back positions a command that failed to log had taken.
    pub fn restore_unlogged(&mut self, positions: &[(SequenceId, SequenceValue)]) {
        for (id, value) in positions {
            if let Some(slot) = self.slots.get_mut(id) {
                slot.unlogged.get_or_insert(*value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kimberlite_catalog::{CatalogChange, SqlType};

    fn def(max: i64, cycle: bool) -> Arc<SequenceDef> {
        Arc::new(SequenceDef {
            id: 7,
            name: "s".into(),
            data_type: SqlType::Int8,
            start: 1,
            increment: 1,
            min_value: 1,
            max_value: max,
            cycle,
            owned_by: None,
        })
    }

    fn catalog(def: &SequenceDef) -> kimberlite_catalog::Catalog {
        let mut catalog = kimberlite_catalog::Catalog::default();
        catalog
            .apply(&CatalogChange::CreateSequence(def.clone()))
            .unwrap();
        catalog
    }

    #[test]
    fn reserves_once_per_chunk_and_resumes_after_the_reservation() {
        let s = def(i64::MAX, false);
        let catalog = catalog(&s);
        let mut allocator = SequenceAllocator::default();
        assert_eq!(allocator.nextval(&s, None).unwrap(), 1);
        let logged = allocator.take_unlogged(|id| catalog.sequence_by_id(id).is_some());
        assert_eq!(
            logged,
            vec![(
                7,
                SequenceValue {
                    last_value: 32,
                    is_called: true
                }
            )]
        );
        for expected in 2..=32 {
            assert_eq!(allocator.nextval(&s, None).unwrap(), expected);
        }
        assert!(allocator
            .take_unlogged(|id| catalog.sequence_by_id(id).is_some())
            .is_empty());
        assert_eq!(allocator.nextval(&s, None).unwrap(), 33);
        assert_eq!(
            allocator.take_unlogged(|id| catalog.sequence_by_id(id).is_some())[0]
                .1
                .last_value,
            64
        );
        // A restart resumes after the logged position.
        let mut restarted = SequenceAllocator::default();
        let durable = Some(SequenceValue {
            last_value: 64,
            is_called: true,
        });
        assert_eq!(restarted.nextval(&s, durable).unwrap(), 65);
    }

    #[test]
    fn stops_at_the_end_or_cycles() {
        let s = def(3, false);
        let mut allocator = SequenceAllocator::default();
        for expected in 1..=3 {
            assert_eq!(allocator.nextval(&s, None).unwrap(), expected);
        }
        let error = allocator.nextval(&s, None).unwrap_err();
        assert_eq!(error.sqlstate(), "2200H");
        let c = def(2, true);
        let mut allocator = SequenceAllocator::default();
        let values: Vec<i64> = (0..5)
            .map(|_| allocator.nextval(&c, None).unwrap())
            .collect();
        assert_eq!(values, [1, 2, 1, 2, 1]);
    }

    #[test]
    fn setval_is_logged_exactly_and_uncreated_sequences_wait() {
        let s = def(100, false);
        let mut allocator = SequenceAllocator::default();
        let value = SequenceValue {
            last_value: 50,
            is_called: false,
        };
        allocator.setval(&s, value);
        assert!(allocator.take_unlogged(|_| false).is_empty());
        assert_eq!(
            allocator.take_unlogged(|id| catalog(&s).sequence_by_id(id).is_some()),
            vec![(7, value)]
        );
        assert_eq!(allocator.nextval(&s, None).unwrap(), 50);
    }
}
