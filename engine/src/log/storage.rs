//! # Storage: the only door between the log and the disk
//!
//! The log never touches `std::fs` directly. It reads and writes named files
//! in one directory through [`Storage`], so that a test double
//! ([`super::sim::SimStorage`]) can stand in for the disk and do what
//! `SIGKILL` cannot: forget every byte that was written but not fsynced, and
//! tear the last write in half. A crash test on the real file system keeps
//! the page cache, so it cannot catch a missing fsync; one on the double can.
//!
//! The operations are the ones the log needs and no more:
//!
//! - `write_at` puts bytes in a file; they are **not durable** until `sync`
//!   of that file returns.
//! - `create` makes an empty file; its *name* is not durable until
//!   `sync_dir` returns (a new segment is lost on a crash otherwise).
//! - `truncate` and `remove` are used by recovery only, which syncs after.
//!
//! Names are plain file names inside the directory (no separators).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// Named files in one directory with explicit durability.
///
/// Invariant every implementation keeps: after `sync(name)` returns, the
/// bytes of `name` as they were when `sync` was called survive a crash; after
/// `sync_dir` returns, every file that existed then survives a crash.
pub trait Storage: Send + Sync + 'static {
    /// Names of the files in the directory, sorted.
    fn list(&self) -> io::Result<Vec<String>>;
    /// The whole content of `name`.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Creates an empty file; fails if it exists.
    fn create(&self, name: &str) -> io::Result<()>;
    /// Writes `bytes` at `offset`, extending the file if needed.
    fn write_at(&self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Makes the content of `name` durable.
    fn sync(&self, name: &str) -> io::Result<()>;
    /// Cuts `name` to `len` bytes (durable after `sync`).
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Removes `name` (durable after `sync_dir`).
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the set of names in the directory durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Where the files live, for messages (`segment 0001.klog in /data/log`).
    fn describe(&self) -> String;
}

/// [`Storage`] on a real directory.
pub struct DirStorage {
    dir: PathBuf,
    /// Open handles, so appends do not reopen the file every group commit.
    handles: Mutex<HashMap<String, File>>,
}

impl DirStorage {
    /// Uses (and creates) `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<DirStorage> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(DirStorage {
            dir,
            handles: Mutex::new(HashMap::new()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        assert!(
            !name.contains('/') && !name.is_empty(),
            "storage names are plain file names"
        );
        self.dir.join(name)
    }

    fn with_handle<T>(&self, name: &str, f: impl FnOnce(&File) -> io::Result<T>) -> io::Result<T> {
        let mut handles = self.handles.lock();
        if !handles.contains_key(name) {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.path(name))?;
            handles.insert(name.to_string(), file);
        }
        f(&handles[name])
    }
}

impl Storage for DirStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(name))
    }

    fn create(&self, name: &str) -> io::Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.path(name))?;
        self.handles.lock().insert(name.to_string(), file);
        Ok(())
    }

    fn write_at(&self, name: &str, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.with_handle(name, |file| file.write_all_at(bytes, offset))
    }

    fn sync(&self, name: &str) -> io::Result<()> {
        self.with_handle(name, |file| file.sync_data())
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        self.with_handle(name, |file| file.set_len(len))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.handles.lock().remove(name);
        fs::remove_file(self.path(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}
