//! The simulated network: every packet is delayed, and may be lost,
//! duplicated, corrupted or delivered to the wrong replica; partitions
//! block chosen directions between replicas. All of it drawn from the
//! run's seed.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::vsr::{Address, ReplicaIndex};

/// Fault rates of one run (probabilities per packet).
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkFaults {
    pub loss: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    pub misaddress: f64,
    /// Delays are uniform in `1..=delay_max` ticks (reordering follows).
    pub delay_max: u64,
}

/// Counters of what the network did to packets.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkStats {
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub misaddressed: u64,
    pub partitioned: u64,
}

/// A packet in flight.
#[derive(Debug, Clone)]
pub struct Packet {
    pub from: Address,
    pub to: Address,
    pub bytes: Vec<u8>,
}

/// Packets in flight, ordered by delivery time.
#[derive(Debug, Default)]
pub struct Network {
    pub faults: NetworkFaults,
    pub stats: NetworkStats,
    replica_count: u8,
    in_flight: BTreeMap<(u64, u64), Packet>,
    sequence: u64,
    /// Blocked directions (from, to) between replicas.
    blocked: BTreeSet<(ReplicaIndex, ReplicaIndex)>,
}

/// Packets in flight at most; beyond it the network drops (bounded memory).
pub const IN_FLIGHT_MAX: usize = 100_000;

impl Network {
    pub fn new(replica_count: u8, faults: NetworkFaults) -> Network {
        Network {
            faults,
            replica_count,
            ..Network::default()
        }
    }

    /// Sends a packet at `now`.
    pub fn send(&mut self, rng: &mut ChaCha8Rng, now: u64, mut packet: Packet) {
        self.stats.sent += 1;
        if let (Address::Replica(from), Address::Replica(to)) = (packet.from, packet.to) {
            if self.blocked.contains(&(from, to)) {
                self.stats.partitioned += 1;
                return;
            }
        }
        let f = self.faults;
        if rng.gen_bool(f.loss) || self.in_flight.len() >= IN_FLIGHT_MAX {
            self.stats.dropped += 1;
            return;
        }
        if rng.gen_bool(f.corrupt) && !packet.bytes.is_empty() {
            let at = rng.gen_range(0..packet.bytes.len());
            packet.bytes[at] ^= 1 << rng.gen_range(0..8);
            self.stats.corrupted += 1;
        }
        if rng.gen_bool(f.misaddress) {
            if let Address::Replica(to) = packet.to {
                let other = rng.gen_range(0..self.replica_count);
                if other != to {
                    packet.to = Address::Replica(other);
                    self.stats.misaddressed += 1;
                }
            }
        }
        let copies = if rng.gen_bool(f.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let at = now + rng.gen_range(1..=f.delay_max.max(1));
            self.sequence += 1;
            self.in_flight.insert((at, self.sequence), packet.clone());
        }
    }

    /// The next packet due at or before `now`.
    pub fn deliver(&mut self, now: u64) -> Option<Packet> {
        let (&(at, _), _) = self.in_flight.first_key_value()?;
        if at > now {
            return None;
        }
        self.in_flight.pop_first().map(|(_, p)| p)
    }

    /// Starts a partition: blocks each (from, to) direction given.
    pub fn partition(&mut self, blocked: BTreeSet<(ReplicaIndex, ReplicaIndex)>) {
        self.blocked = blocked;
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    pub fn is_partitioned(&self) -> bool {
        !self.blocked.is_empty()
    }
}
