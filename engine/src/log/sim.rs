//! # SimStorage: a disk that forgets what was not fsynced
//!
//! The test double for [`Storage`]. Every file keeps two images: what the
//! process sees (`data`) and what would survive a power cut (`durable`).
//! `sync` copies one to the other; `sync_dir` makes the set of names durable.
//! [`SimStorage::crash`] returns the disk as a machine would find it after
//! power returns, chosen by a [`CrashMode`]:
//!
//! - `DropUnsynced`: exactly the durable images.
//! - `TearLastWrite { keep_bytes }`: as above, plus the first `keep_bytes`
//!   of each file's last unsynced write — a torn write.
//! - `Random { seed }`: every unsynced write independently vanishes, lands
//!   whole, or lands torn (page cache writeback has no order), with holes
//!   filled by zeros. Seeded, so a failure replays.
//!
//! Faults on demand: [`SimStorage::fail_syncs_after`] makes fsync fail (the
//! log must then stop acknowledging), [`SimStorage::flip_byte`] damages
//! durable bytes (bit rot or tampering), and [`SimStorage::set_sync_delay`]
//! makes fsync slow so group commit has something to group.
//!
//! Simplification, on purpose: `remove` and `truncate` are durable at once
//! (recovery syncs right after them anyway).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};

use super::storage::Storage;

/// What survives a simulated crash.
#[derive(Debug, Clone, Copy)]
pub enum CrashMode {
    /// Only synced bytes.
    DropUnsynced,
    /// Synced bytes plus a prefix of each file's last unsynced write.
    TearLastWrite { keep_bytes: usize },
    /// Each unsynced write vanishes, lands whole or lands torn.
    Random { seed: u64 },
}

#[derive(Default, Clone)]
struct SimFile {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Writes since the last sync, oldest first.
    unsynced: Vec<(u64, Vec<u8>)>,
}

#[derive(Default)]
struct SimState {
    files: BTreeMap<String, SimFile>,
    /// Names that survive a crash.
    durable_names: BTreeSet<String>,
    /// Syncs left before every sync fails; `None` = never fail.
    syncs_left: Option<u64>,
    sync_delay: Duration,
    syncs: u64,
}

/// An in-memory [`Storage`] with crash and fault injection. Clones share
/// the same disk.
#[derive(Clone, Default)]
pub struct SimStorage {
    state: Arc<Mutex<SimState>>,
}

fn put(target: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let offset = offset as usize;
    if target.len() < offset + bytes.len() {
        target.resize(offset + bytes.len(), 0);
    }
    target[offset..offset + bytes.len()].copy_from_slice(bytes);
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file {name}"))
}

impl SimStorage {
    /// An empty disk.
    pub fn new() -> SimStorage {
        SimStorage::default()
    }

    /// The disk after a power cut: a new, independent `SimStorage`.
    pub fn crash(&self, mode: CrashMode) -> SimStorage {
        let state = self.state.lock();
        let mut rng = match mode {
            CrashMode::Random { seed } => Some(rand::rngs::StdRng::seed_from_u64(seed)),
            _ => None,
        };
        let mut files = BTreeMap::new();
        for name in &state.durable_names {
            let Some(file) = state.files.get(name) else {
                continue;
            };
            let mut image = file.durable.clone();
            match mode {
                CrashMode::DropUnsynced => {}
                CrashMode::TearLastWrite { keep_bytes } => {
                    if let Some((offset, bytes)) = file.unsynced.last() {
                        put(&mut image, *offset, &bytes[..keep_bytes.min(bytes.len())]);
                    }
                }
                CrashMode::Random { .. } => {
                    let rng = rng.as_mut().expect("seeded above");
                    for (offset, bytes) in &file.unsynced {
                        match rng.gen_range(0..3) {
                            0 => {}
                            1 => put(&mut image, *offset, bytes),
                            _ => {
                                let keep = rng.gen_range(0..=bytes.len());
                                put(&mut image, *offset, &bytes[..keep]);
                            }
                        }
                    }
                }
            }
            files.insert(
                name.clone(),
                SimFile {
                    data: image.clone(),
                    durable: image,
                    unsynced: Vec::new(),
                },
            );
        }
        SimStorage {
            state: Arc::new(Mutex::new(SimState {
                files,
                durable_names: state.durable_names.clone(),
                ..Default::default()
            })),
        }
    }

    /// After `count` more successful syncs, every sync fails.
    pub fn fail_syncs_after(&self, count: u64) {
        self.state.lock().syncs_left = Some(count);
    }

    /// Makes every sync take `delay` (outside the disk's lock).
    pub fn set_sync_delay(&self, delay: Duration) {
        self.state.lock().sync_delay = delay;
    }

    /// Number of successful syncs of files.
    pub fn syncs(&self) -> u64 {
        self.state.lock().syncs
    }

    /// XORs `mask` into the byte at `offset` of `name`, durably.
    pub fn flip_byte(&self, name: &str, offset: usize, mask: u8) {
        let mut state = self.state.lock();
        let file = state.files.get_mut(name).expect("flip_byte: no such file");
        file.data[offset] ^= mask;
        file.durable[offset] ^= mask;
    }

    /// Replaces the whole content of `name`, durably (for forged files).
    pub fn replace(&self, name: &str, bytes: Vec<u8>) {
        let mut state = self.state.lock();
        state.durable_names.insert(name.to_string());
        state.files.insert(
            name.to_string(),
            SimFile {
                data: bytes.clone(),
                durable: bytes,
                unsynced: Vec::new(),
            },
        );
    }

    /// The process-visible content of `name`, if it exists.
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        self.state.lock().files.get(name).map(|f| f.data.clone())
    }
}

impl Storage for SimStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.state.lock().files.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.contents(name).ok_or_else(|| not_found(name))
    }

    fn create(&self, name: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        if state.files.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name} exists"),
            ));
        }
        state.files.insert(name.to_string(), SimFile::default());
        Ok(())
    }

    fn write_at(&self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        let file = state.files.get_mut(name).ok_or_else(|| not_found(name))?;
        put(&mut file.data, offset, bytes);
        file.unsynced.push((offset, bytes.to_vec()));
        Ok(())
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        let delay = self.state.lock().sync_delay;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut state = self.state.lock();
        if let Some(left) = state.syncs_left.as_mut() {
            if *left == 0 {
                return Err(io::Error::other("simulated fsync failure"));
            }
            *left -= 1;
        }
        state.syncs += 1;
        let file = state.files.get_mut(name).ok_or_else(|| not_found(name))?;
        file.durable = file.data.clone();
        file.unsynced.clear();
        Ok(())
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut state = self.state.lock();
        let file = state.files.get_mut(name).ok_or_else(|| not_found(name))?;
        file.data.truncate(len as usize);
        file.durable.truncate(len as usize);
        file.unsynced.clear();
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        state.files.remove(name).ok_or_else(|| not_found(name))?;
        state.durable_names.remove(name);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut state = self.state.lock();
        state.durable_names = state.files.keys().cloned().collect();
        Ok(())
    }

    fn describe(&self) -> String {
        "simulated disk".into()
    }
}
