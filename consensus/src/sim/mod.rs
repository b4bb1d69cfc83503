//! # The simulator (our VOPR)
//!
//! Runs a whole cluster in one thread from a seed: the replicas (the same
//! code the server runs), a simulated network ([`network`]), simulated disks
//! ([`journal`]) and client sessions driving a key-value register
//! ([`workload`]). The seed decides the cluster size, the fault rates, every
//! delay, loss, duplication, corruption, partition, crash, restart and clock
//! drift, so a seed reproduces a run exactly.
//!
//! A run has two phases. During the fault phase faults fire and clients keep
//! issuing requests. Then faults stop: partitions heal, crashed replicas
//! restart, the network stops losing packets, and every outstanding request
//! must complete, and every replica must converge on the same commit, within
//! [`Options::liveness_ticks`]. The checkers ([`checker`]) run on every
//! step; the client history is checked for linearizability
//! ([`linearizability`]) at the end.

pub mod canary;
pub mod checker;
pub mod journal;
pub mod linearizability;
pub mod network;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::vsr::{encode, Address, Body, Config, Message, Outbox, Replica, Status, Variant};
use checker::Checker;
use journal::SimJournal;
use linearizability::{Kind, Operation};
use network::{Network, NetworkFaults, Packet};
use workload::{decode_result, Client, Kv, KvOp, Outstanding};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Cluster size; drawn from the seed (1, 3 or 5) when `None`.
    pub replicas: Option<u8>,
    /// Length of the fault phase.
    pub ticks: u64,
    /// After faults stop, outstanding requests must complete within this.
    pub liveness_ticks: u64,
    /// Keep a readable trace (the last [`TRACE_LINES`] events).
    pub trace: bool,
    /// Stop adding to the trace after this tick (to show the events up to
    /// a violation found only at the end of the run).
    pub trace_until: Option<u64>,
}

impl Options {
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            replicas: None,
            ticks: 2_000,
            liveness_ticks: 3_000,
            trace: false,
            trace_until: None,
        }
    }
}

/// Lines of trace kept.
pub const TRACE_LINES: usize = 400;

/// What one run did and found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub replicas: u8,
    pub violations: Vec<String>,
    /// Faults injected: packets dropped, duplicated, corrupted, misaddressed
    /// or blocked, plus partitions and crashes.
    pub faults: u64,
    pub partitions: u64,
    pub crashes: u64,
    /// View changes completed (a new primary started its view).
    pub view_changes: u64,
    /// Ops committed.
    pub commits: u64,
    /// Client requests completed.
    pub requests: u64,
    /// Ticks simulated.
    pub ticks: u64,
    /// Messages the replicas ignored as corrupt.
    pub corrupt_ignored: u64,
    /// The tick of the (first) violation.
    pub violation_tick: Option<u64>,
    pub trace: Vec<String>,
}

type SimReplica<V> = Replica<SimJournal, Kv, V>;

enum Node<V: Variant> {
    Up(Box<SimReplica<V>>),
    Down {
        journal: SimJournal,
        restart_at: u64,
    },
}

/// Per-run fault probabilities (per tick unless noted).
#[derive(Debug, Clone, Copy)]
struct Rates {
    crash: f64,
    partition: f64,
    flush: f64,
}

struct Sim<V: Variant> {
    options: Options,
    rng: ChaCha8Rng,
    config: Config,
    nodes: Vec<Node<V>>,
    drift: Vec<f64>,
    clock: Vec<f64>,
    network: Network,
    clients: Vec<Client>,
    checker: Checker,
    history: Vec<(u8, Operation)>,
    /// Who issued each history entry, and when it completed (for reports).
    issued: Vec<(u64, u64, KvOp, Option<u64>)>,
    rates: Rates,
    now: u64,
    event: u64,
    accepting: bool,
    partition_until: u64,
    restarts: u64,
    report: Report,
    trace: Option<VecDeque<String>>,
    views: Vec<(Status, u32)>,
}

/// Runs one seed with protocol variant `V`.
pub fn run<V: Variant>(options: &Options) -> Report {
    let mut sim = Sim::<V>::new(options.clone());
    sim.run();
    sim.finish()
}

impl<V: Variant> Sim<V> {
    fn new(options: Options) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let replicas = options.replicas.unwrap_or_else(|| {
            let sizes: &[u8] = if V::NAME == "correct" {
                &[1, 3, 3, 5, 5]
            } else {
                &[3, 5]
            };
            *sizes.choose(&mut rng).expect("sizes")
        });
        let mut config = Config::new(0x6b69_6d62 ^ options.seed, replicas);
        if replicas == 1 {
            // As the server runs it: no backup ever needs old entries.
            config.log_retained = 0;
        }
        let faults = NetworkFaults {
            loss: rng.gen_range(0.0..0.15),
            duplicate: rng.gen_range(0.0..0.05),
            corrupt: rng.gen_range(0.0..0.02),
            misaddress: rng.gen_range(0.0..0.01),
            delay_max: rng.gen_range(1..=12),
        };
        let rates = Rates {
            crash: rng.gen_range(0.0..0.004),
            partition: rng.gen_range(0.0..0.01),
            flush: rng.gen_range(0.2..0.9),
        };
        let clients = (1..=rng.gen_range(1..=4u64)).map(Client::new).collect();
        let drift = (0..replicas).map(|_| rng.gen_range(0.8..1.2)).collect();
        let mut sim = Sim {
            report: Report {
                seed: options.seed,
                replicas,
                ..Report::default()
            },
            trace: options.trace.then(VecDeque::new),
            options,
            config,
            nodes: Vec::new(),
            drift,
            clock: vec![0.0; replicas as usize],
            network: Network::new(replicas, faults),
            clients,
            checker: Checker::new(config.quorum()),
            history: Vec::new(),
            issued: Vec::new(),
            rates,
            now: 0,
            event: 0,
            accepting: true,
            partition_until: 0,
            restarts: 0,
            views: vec![(Status::Normal, 0); replicas as usize],
            rng,
        };
        for index in 0..replicas {
            let replica = sim.open(index, SimJournal::default());
            sim.nodes.push(Node::Up(Box::new(replica)));
        }
        sim.log(format!(
            "seed {}: {replicas} replicas, {} clients, loss {:.3} dup {:.3} corrupt {:.3} \
             misaddress {:.3} delay<={} crash/tick {:.4} partition/tick {:.4} flush/tick {:.2}",
            sim.options.seed,
            sim.clients.len(),
            faults.loss,
            faults.duplicate,
            faults.corrupt,
            faults.misaddress,
            faults.delay_max,
            rates.crash,
            rates.partition,
            rates.flush
        ));
        sim
    }

    fn open(&mut self, index: u8, journal: SimJournal) -> SimReplica<V> {
        self.restarts += 1;
        let seed = self.options.seed ^ (self.restarts << 32) ^ index as u64;
        Replica::open(self.config, index, journal, Kv::default(), 0, seed)
    }

    fn log(&mut self, line: String) {
        if self
            .options
            .trace_until
            .is_some_and(|until| self.now > until)
        {
            return;
        }
        if let Some(trace) = &mut self.trace {
            if trace.len() == TRACE_LINES {
                trace.pop_front();
            }
            trace.push_back(format!("t={:>5} {line}", self.now));
        }
    }

    fn run(&mut self) {
        let fault_end = self.options.ticks;
        let end = fault_end + self.options.liveness_ticks;
        while self.now < end {
            self.now += 1;
            if self.now == fault_end {
                self.stop_faults();
            }
            self.step();
            if !self.checker.violations.is_empty() {
                self.report.violation_tick = Some(self.now);
                break;
            }
            if self.now > fault_end && self.quiescent() {
                break;
            }
        }
        if self.checker.violations.is_empty() && !self.quiescent() {
            let outstanding = self
                .clients
                .iter()
                .filter(|c| c.outstanding.is_some())
                .count();
            let commits: Vec<String> = self
                .nodes
                .iter()
                .map(|n| match n {
                    Node::Up(r) => format!(
                        "{:?} v{} commit {} last {} (ignored: {} stale, {} not primary, {} pipeline full)",
                        r.status(),
                        r.view(),
                        r.commit_min(),
                        r.last_op(),
                        r.stats().stale,
                        r.stats().not_primary,
                        r.stats().pipeline_full
                    ),
                    Node::Down { .. } => "down".into(),
                })
                .collect();
            self.checker.violations.push(format!(
                "liveness: {} ticks after faults stopped, {outstanding} requests outstanding, \
                 replicas [{}]",
                self.options.liveness_ticks,
                commits.join(", ")
            ));
        }
    }

    /// Every client done and every replica normal in one view, applied
    /// through the highest commit.
    fn quiescent(&self) -> bool {
        if self.accepting || self.clients.iter().any(|c| c.outstanding.is_some()) {
            return false;
        }
        let top = self.checker.commits();
        let mut view = None;
        self.nodes.iter().all(|n| match n {
            Node::Up(r) => {
                let same_view = *view.get_or_insert(r.view()) == r.view();
                same_view && r.status() == Status::Normal && r.commit_min() == top
            }
            Node::Down { .. } => false,
        })
    }

    fn stop_faults(&mut self) {
        self.log("faults stop: heal, restart all, no packet faults".into());
        self.accepting = false;
        self.network.heal();
        self.network.faults = NetworkFaults {
            delay_max: self.network.faults.delay_max,
            ..NetworkFaults::default()
        };
        for i in 0..self.nodes.len() {
            if let Node::Down { .. } = self.nodes[i] {
                self.restart(i);
            }
        }
    }

    fn step(&mut self) {
        // Time: each replica's clock runs at its own rate.
        for i in 0..self.nodes.len() {
            self.clock[i] += self.drift[i];
            while self.clock[i] >= 1.0 {
                self.clock[i] -= 1.0;
                if let Node::Up(replica) = &mut self.nodes[i] {
                    let mut out = Outbox::default();
                    replica.tick(&mut out);
                    self.process(i, out);
                }
            }
        }
        // The network.
        while let Some(packet) = self.network.deliver(self.now) {
            self.deliver(packet);
        }
        // The disks.
        for i in 0..self.nodes.len() {
            let flush = self.rng.gen_bool(self.rates.flush);
            let Node::Up(replica) = &mut self.nodes[i] else {
                continue;
            };
            if !flush || !replica.journal().has_pending() {
                continue;
            }
            let flushed = replica.journal_mut().flush();
            let mut out = Outbox::default();
            replica.on_flushed(flushed.last_op, &mut out);
            if let Some(op) = flushed.truncated_above {
                let journals = Self::journals(&self.nodes);
                self.checker.on_truncate(op, &journals);
            }
            self.process(i, out);
        }
        self.clients_step();
        if self.now < self.options.ticks {
            self.faults_step();
        }
    }

    fn journals(nodes: &[Node<V>]) -> Vec<&SimJournal> {
        nodes
            .iter()
            .map(|n| match n {
                Node::Up(r) => r.journal(),
                Node::Down { journal, .. } => journal,
            })
            .collect()
    }

    fn deliver(&mut self, packet: Packet) {
        match packet.to {
            Address::Replica(i) => {
                let Node::Up(replica) = &mut self.nodes[i as usize] else {
                    return;
                };
                let mut out = Outbox::default();
                replica.on_message(&packet.bytes, &mut out);
                self.process(i as usize, out);
            }
            Address::Client(id) => self.on_reply(id, &packet.bytes),
        }
    }

    /// Routes a replica's outbox and checks its commits.
    fn process(&mut self, i: usize, out: Outbox) {
        if let Node::Up(replica) = &self.nodes[i] {
            let now = (replica.status(), replica.view());
            if now != self.views[i] {
                self.views[i] = now;
                self.log(format!("r{i} {:?} view {}", now.0, now.1));
            }
        }
        for commit in &out.commits {
            let h = commit.entry.header;
            let journals = Self::journals(&self.nodes);
            self.checker
                .on_commit(i, h.op, commit.entry.checksum, h.parent, &journals);
        }
        if let Some(op) = out.last_commit() {
            self.log(format!("r{i} committed through op {op}"));
        }
        for message in out.messages {
            self.send(message);
        }
    }

    fn send(&mut self, message: Message) {
        if self.trace.is_some() && !matches!(message.body, Body::Commit { .. }) {
            let line = describe(&message);
            self.log(line);
        }
        let packet = Packet {
            from: message.from,
            to: message.to,
            bytes: encode(&message),
        };
        self.network.send(&mut self.rng, self.now, packet);
    }

    fn clients_step(&mut self) {
        let keys = 3u8;
        for c in 0..self.clients.len() {
            let client = &self.clients[c];
            match &client.outstanding {
                None if self.accepting => {
                    let key = self.rng.gen_range(0..keys);
                    let request = client.request + 1;
                    let op = if self.rng.gen_bool(0.5) {
                        KvOp::Write {
                            key,
                            value: client.id << 32 | request,
                        }
                    } else {
                        KvOp::Read { key }
                    };
                    self.event += 1;
                    let kind = match op {
                        KvOp::Write { value, .. } => Kind::Write(value),
                        KvOp::Read { .. } => Kind::Read(None),
                    };
                    self.history.push((
                        key,
                        Operation {
                            kind,
                            invoked: self.event,
                            completed: None,
                        },
                    ));
                    self.issued.push((client.id, request, op, None));
                    let body = postcard::to_allocvec(&op).expect("encodes");
                    let client = &mut self.clients[c];
                    client.request = request;
                    client.outstanding = Some(Outstanding {
                        request,
                        op,
                        body,
                        sent_at: self.now,
                        history: self.history.len() - 1,
                    });
                    let to = self.config.primary(client.view);
                    self.send_request(c, &[to]);
                }
                Some(o) if self.now - o.sent_at >= 50 => {
                    // No answer: try every replica.
                    let all: Vec<u8> = (0..self.config.replica_count).collect();
                    self.clients[c]
                        .outstanding
                        .as_mut()
                        .expect("outstanding")
                        .sent_at = self.now;
                    self.send_request(c, &all);
                }
                _ => {}
            }
        }
    }

    fn send_request(&mut self, c: usize, to: &[u8]) {
        let client = &self.clients[c];
        let o = client.outstanding.as_ref().expect("outstanding");
        let messages: Vec<Message> = to
            .iter()
            .map(|&r| Message {
                cluster: self.config.cluster,
                from: Address::Client(client.id),
                to: Address::Replica(r),
                view: client.view,
                body: Body::Request {
                    client: client.id,
                    request: o.request,
                    timestamp_ns: self.now,
                    tenant: 1,
                    kind: 1,
                    body: o.body.clone(),
                },
            })
            .collect();
        for message in messages {
            self.send(message);
        }
    }

    fn on_reply(&mut self, id: u64, bytes: &[u8]) {
        let Ok(message) = crate::vsr::message::decode(bytes) else {
            return;
        };
        let Body::Reply {
            client,
            request,
            result,
        } = message.body
        else {
            return;
        };
        let Some(c) = self.clients.iter().position(|c| c.id == id) else {
            return;
        };
        if client != id || message.cluster != self.config.cluster {
            return;
        }
        let Some(o) = &self.clients[c].outstanding else {
            return;
        };
        if o.request != request {
            return;
        }
        let Some(value) = decode_result(&result) else {
            self.checker
                .violations
                .push(format!("client {id} got an unreadable reply to {request}"));
            return;
        };
        self.event += 1;
        let entry = &mut self.history[o.history].1;
        entry.completed = Some(self.event);
        self.issued[o.history].3 = Some(self.now);
        if let Kind::Read(seen) = &mut entry.kind {
            *seen = value;
        }
        let line = match o.op {
            KvOp::Read { .. } => format!(
                "client {id} request {request} {} -> {}",
                describe_op(&o.op),
                describe_value(value)
            ),
            KvOp::Write { .. } => {
                format!("client {id} request {request} {} done", describe_op(&o.op))
            }
        };
        self.clients[c].outstanding = None;
        self.clients[c].view = message.view;
        self.report.requests += 1;
        self.log(line);
    }

    fn faults_step(&mut self) {
        let n = self.nodes.len();
        // Restarts that are due.
        for i in 0..n {
            if let Node::Down { restart_at, .. } = self.nodes[i] {
                if self.now >= restart_at {
                    self.restart(i);
                }
            }
        }
        // A crash: at most a minority down at once, so the cluster can
        // still make progress between faults.
        let down = self
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Down { .. }))
            .count();
        if self.rng.gen_bool(self.rates.crash) && (down < n / 2 || n == 1) && down < n {
            let i = self.rng.gen_range(0..n);
            if matches!(self.nodes[i], Node::Up(_)) {
                self.crash(i);
            }
        }
        // Partitions.
        if self.network.is_partitioned() && self.now >= self.partition_until {
            self.network.heal();
            self.log("partition heals".into());
        } else if n > 1 && !self.network.is_partitioned() && self.rng.gen_bool(self.rates.partition)
        {
            self.partition();
        }
    }

    fn crash(&mut self, i: usize) {
        let restart_at = self.now + self.rng.gen_range(10..=300);
        let node = std::mem::replace(
            &mut self.nodes[i],
            Node::Down {
                journal: SimJournal::default(),
                restart_at,
            },
        );
        let Node::Up(replica) = node else {
            unreachable!("crashing a replica that is up")
        };
        self.report.view_changes += replica.stats().views_led;
        self.report.corrupt_ignored += replica.stats().corrupt;
        let mut journal = replica.into_journal();
        journal.crash();
        self.nodes[i] = Node::Down {
            journal,
            restart_at,
        };
        self.report.crashes += 1;
        self.log(format!("r{i} crashes (restarts at {restart_at})"));
    }

    fn restart(&mut self, i: usize) {
        let node = std::mem::replace(
            &mut self.nodes[i],
            Node::Down {
                journal: SimJournal::default(),
                restart_at: 0,
            },
        );
        let Node::Down { journal, .. } = node else {
            unreachable!("restarting a replica that is down")
        };
        let replica = self.open(i as u8, journal);
        self.views[i] = (replica.status(), replica.view());
        self.log(format!(
            "r{i} restarts: {:?} view {} log to op {}",
            replica.status(),
            replica.view(),
            replica.last_op()
        ));
        self.nodes[i] = Node::Up(Box::new(replica));
    }

    fn partition(&mut self) {
        let n = self.config.replica_count;
        let mut blocked = BTreeSet::new();
        let symmetric = self.rng.gen_bool(0.6);
        if symmetric {
            let mut order: Vec<u8> = (0..n).collect();
            order.shuffle(&mut self.rng);
            let split = self.rng.gen_range(1..n as usize);
            let (a, b) = order.split_at(split);
            for &x in a {
                for &y in b {
                    blocked.insert((x, y));
                    blocked.insert((y, x));
                }
            }
        } else {
            for x in 0..n {
                for y in 0..n {
                    if x != y && self.rng.gen_bool(0.3) {
                        blocked.insert((x, y));
                    }
                }
            }
        }
        if blocked.is_empty() {
            return;
        }
        self.partition_until = self.now + self.rng.gen_range(20..=300);
        self.report.partitions += 1;
        self.log(format!(
            "{} partition until {}: blocked {:?}",
            if symmetric { "symmetric" } else { "asymmetric" },
            self.partition_until,
            blocked
        ));
        self.network.partition(blocked);
    }

    fn finish(mut self) -> Report {
        // The client history must be linearizable, register by register.
        if self.checker.violations.is_empty() {
            let mut by_key: BTreeMap<u8, Vec<(Operation, usize)>> = BTreeMap::new();
            for (i, (key, op)) in self.history.iter().enumerate() {
                by_key.entry(*key).or_default().push((*op, i));
            }
            for (key, entries) in by_key {
                let ops: Vec<Operation> = entries.iter().map(|(o, _)| *o).collect();
                if let Err(why) = linearizability::check(&ops) {
                    let culprit = linearizability::first_violation(&ops)
                        .map(|at| {
                            let (client, request, op, tick) = self.issued[entries[at].1];
                            let result = match ops[at].kind {
                                Kind::Read(seen) => {
                                    format!(" returned {}", describe_value(seen))
                                }
                                Kind::Write(_) => String::new(),
                            };
                            self.report.violation_tick =
                                self.report.violation_tick.min(tick).or(tick);
                            format!(
                                "; first at client {client} request {request} {}{result}, \
                                 completed t={}",
                                describe_op(&op),
                                tick.unwrap_or(0)
                            )
                        })
                        .unwrap_or_default();
                    self.checker.violations.push(format!(
                        "history of key {key} is not linearizable: {why}{culprit}"
                    ));
                }
            }
        }
        for node in &self.nodes {
            if let Node::Up(replica) = node {
                self.report.view_changes += replica.stats().views_led;
                self.report.corrupt_ignored += replica.stats().corrupt;
            }
        }
        let s = self.network.stats;
        self.report.faults = s.dropped
            + s.duplicated
            + s.corrupted
            + s.misaddressed
            + s.partitioned
            + self.report.partitions
            + self.report.crashes;
        self.report.commits = self.checker.commits();
        self.report.ticks = self.now;
        self.report.violations = std::mem::take(&mut self.checker.violations);
        self.report.trace = self.trace.take().map(Vec::from).unwrap_or_default();
        self.report
    }
}

/// A register value names the write that produced it.
fn describe_value(value: Option<u64>) -> String {
    match value {
        None => "nothing (never written)".into(),
        Some(v) => format!(
            "the write of client {} request {}",
            v >> 32,
            v & 0xffff_ffff
        ),
    }
}

fn describe_op(op: &KvOp) -> String {
    match op {
        KvOp::Write { key, value } => format!(
            "write key {key} (as client {} request {})",
            value >> 32,
            value & 0xffff_ffff
        ),
        KvOp::Read { key } => format!("read key {key}"),
    }
}

/// One line per message for the trace.
fn describe(m: &Message) -> String {
    let who = |a: Address| match a {
        Address::Replica(r) => format!("r{r}"),
        Address::Client(c) => format!("c{c}"),
    };
    let detail = match &m.body {
        Body::Prepare { entry, commit, .. } => format!("op {} commit {commit}", entry.header.op),
        Body::PrepareOk { op, .. } => format!("op {op}"),
        Body::Request {
            client, request, ..
        }
        | Body::Reply {
            client, request, ..
        } => format!("client {client} request {request}"),
        Body::RequestPrepare { op } => format!("from op {op}"),
        Body::DoViewChange {
            log_view,
            commit,
            log,
        } => format!(
            "log_view {log_view} commit {commit} ops {}..={}",
            log.first_op(),
            log.head_op
        ),
        Body::StartView { commit, log } => {
            format!("commit {commit} ops {}..={}", log.first_op(), log.head_op)
        }
        _ => String::new(),
    };
    format!(
        "{} -> {} {} v{} {detail}",
        who(m.from),
        who(m.to),
        m.body.name(),
        m.view
    )
}
