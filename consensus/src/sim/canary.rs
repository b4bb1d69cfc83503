//! Canaries: replicas broken on purpose, one known way each. Running them
//! proves the checkers can see that class of bug — a checker that passes a
//! canary is blind. They exist only here, in the simulator; the server names
//! only [`Correct`].

use super::{run, Options, Report};
use crate::vsr::{Correct, Variant};

/// Commits an op as soon as the primary prepared it. Caught by the
/// durability check (a committed op on fewer than a quorum of disks) and by
/// lost or conflicting commits after a view change.
pub struct CommitWithoutQuorum;
impl Variant for CommitWithoutQuorum {
    const NAME: &'static str = "commit-without-quorum";
    const COMMIT_WITHOUT_QUORUM: bool = true;
}

/// The new primary keeps its own log instead of the quorum's best. Caught
/// when a committed op the new primary lacked is truncated or replaced.
pub struct SkipLogComparison;
impl Variant for SkipLogComparison {
    const NAME: &'static str = "skip-log-comparison";
    const SKIP_LOG_COMPARISON: bool = true;
}

/// Acknowledges prepares (and view changes) before they are durable.
/// Caught by the durability check when a commit outruns the disks.
pub struct AckBeforePersist;
impl Variant for AckBeforePersist {
    const NAME: &'static str = "ack-before-persist";
    const ACK_BEFORE_PERSIST: bool = true;
}

/// A primary answers reads from its own state, off the log. Every log
/// invariant holds; only the linearizability checker catches a deposed
/// primary serving a value that a newer view already overwrote.
pub struct StaleRead;
impl Variant for StaleRead {
    const NAME: &'static str = "stale-read";
    const STALE_READS: bool = true;
}

/// Ignores the client table: retries (and duplicated packets) execute
/// again. Caught by linearizability when a late duplicate of a write
/// overwrites a newer value.
pub struct NoClientTable;
impl Variant for NoClientTable {
    const NAME: &'static str = "no-client-table";
    const SKIP_CLIENT_TABLE: bool = true;
}

/// The canaries' names, as `vopr --list-canaries` prints them.
pub const CANARIES: &[&str] = &[
    CommitWithoutQuorum::NAME,
    SkipLogComparison::NAME,
    AckBeforePersist::NAME,
    StaleRead::NAME,
    NoClientTable::NAME,
];

/// Runs `options` with the named canary (`None`: the correct protocol).
/// `None` back when the name is unknown.
pub fn run_named(canary: Option<&str>, options: &Options) -> Option<Report> {
    Some(match canary {
        None => run::<Correct>(options),
        Some(CommitWithoutQuorum::NAME) => run::<CommitWithoutQuorum>(options),
        Some(SkipLogComparison::NAME) => run::<SkipLogComparison>(options),
        Some(AckBeforePersist::NAME) => run::<AckBeforePersist>(options),
        Some(StaleRead::NAME) => run::<StaleRead>(options),
        Some(NoClientTable::NAME) => run::<NoClientTable>(options),
        Some(_) => return None,
    })
}
