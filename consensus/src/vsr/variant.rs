//! Protocol variants: the correct protocol, and the hooks through which the
//! simulator's canaries break it on purpose.
//!
//! A canary is a replica that deviates in one known way; the simulator must
//! report violations for it, or its checkers are blind to that class of bug.
//! The deviations are associated constants, so the server (which only ever
//! names [`Correct`]) compiles none of them: every branch guarded by a
//! constant folds away. The broken variants themselves are defined in
//! [`crate::sim::canary`], next to the simulator that runs them.

/// How a replica deviates from the protocol. Every flag is `false` for the
/// correct protocol.
pub trait Variant: 'static {
    /// The name `vopr --canary` takes.
    const NAME: &'static str;
    /// The primary commits an op as soon as it prepared it, without a
    /// quorum of `prepare_ok`s.
    const COMMIT_WITHOUT_QUORUM: bool = false;
    /// The new primary takes its own log in a view change instead of the
    /// one with the highest (log view, op).
    const SKIP_LOG_COMPARISON: bool = false;
    /// Replicas acknowledge a prepare when they buffer it, before it is
    /// durable.
    const ACK_BEFORE_PERSIST: bool = false;
    /// The client table is ignored: a retried request is prepared and
    /// executed again.
    const SKIP_CLIENT_TABLE: bool = false;
    /// The primary answers read-only requests from its own state without
    /// going through the log (stale once a newer view exists elsewhere).
    const STALE_READS: bool = false;
}

/// Viewstamped Replication as specified.
#[derive(Debug, Clone, Copy, Default)]
pub struct Correct;

impl Variant for Correct {
    const NAME: &'static str = "correct";
}
