//! A token store in a directory of this host, shared by its processes.
//!
//! Each entry is a file `<name>.token` written atomically (a temporary file
//! in the directory, fsynced, then renamed over it), beside `<name>.lock`,
//! the key's lock: an exclusive `flock`, which the kernel releases when its
//! holder dies, so a `kill -9` never leaves a key locked. Saves and deletes
//! of one entry are serialised by a second, short-held lock `<name>.write`,
//! so that a delete removes the entry only while it is the blob it names.
//!
//! Like ssh with a key file, the store refuses a directory that another user
//! owns or may write to: such a user could plant or swap entries. It creates
//! its directory 0700 and its files 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::errors::{Error, Result};
use crate::store::{SharedStore, StoreLock};

/// How long a lock waiter sleeps between attempts, at most.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// A directory of sealed token entries.
#[derive(Debug)]
pub struct DirectoryStore {
    path: PathBuf,
}

impl DirectoryStore {
    /// The store in `path`, created (0700) if missing. A path that is not a
    /// directory, or a directory owned by another user or writable by
    /// others, is a `ValueError` (nothing is sent).
    pub fn open(path: &Path) -> Result<Self> {
        if path.as_os_str().is_empty() {
            return Err(Error::value(
                "token_cache is an empty path; pass a directory, a redis:// URL or None",
            ));
        }
        create_private_dir(path).map_err(|error| {
            Error::value(format!(
                "token_cache directory {} cannot be created: {error}",
                path.display()
            ))
        })?;
        let path = fs::canonicalize(path).map_err(|error| {
            Error::value(format!("token_cache directory {}: {error}", path.display()))
        })?;
        check_private(&path)?;
        Ok(DirectoryStore { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn file(&self, key: &str, suffix: &str) -> io::Result<PathBuf> {
        // Keys are druva's hex entry names; anything else is refused rather
        // than joined to the path.
        if key.is_empty() || !key.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a token store key must be letters and digits",
            ));
        }
        Ok(self.path.join(format!("{key}.{suffix}")))
    }

    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let mut file = match File::open(self.file(key, "token")?) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let mut blob = Vec::new();
        // An entry is a few hundred bytes: a huge file is not one of ours.
        Read::by_ref(&mut file)
            .take(MAX_ENTRY_BYTES)
            .read_to_end(&mut blob)?;
        Ok(Some(blob))
    }
}

/// The largest entry read; a sealed token is well under a kilobyte.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

impl SharedStore for DirectoryStore {
    fn load(&self, key: &str, _timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        self.read(key)
    }

    fn save(&self, key: &str, blob: &[u8], _ttl: Duration, timeout: Duration) -> io::Result<()> {
        let target = self.file(key, "token")?;
        let _writing = lock_file(&self.file(key, "write")?, timeout)?;
        let temporary = self.path.join(format!(
            "{key}.{}.{}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = write_synced(&temporary, blob).and_then(|()| fs::rename(&temporary, &target));
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    fn delete(&self, key: &str, blob: &[u8], timeout: Duration) -> io::Result<()> {
        let _writing = lock_file(&self.file(key, "write")?, timeout)?;
        if self.read(key)?.as_deref() == Some(blob) {
            fs::remove_file(self.file(key, "token")?)?;
        }
        Ok(())
    }

    fn lock(&self, key: &str, timeout: Duration) -> io::Result<Option<StoreLock>> {
        match lock_file(&self.file(key, "lock")?, timeout) {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(error) if error.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn identity(&self) -> String {
        format!("directory {}", self.path.display())
    }

    fn describe(&self) -> String {
        self.identity()
    }
}

fn write_synced(path: &Path, blob: &[u8]) -> io::Result<()> {
    let mut file = private_options().create_new(true).open(path)?;
    file.write_all(blob)?;
    file.sync_all()
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// `path` opened (created 0600) and locked exclusively, waiting at most
/// `timeout` (an error of kind `TimedOut` then). Closing the file unlocks.
fn lock_file(path: &Path, timeout: Duration) -> io::Result<File> {
    let file = private_options().create(true).truncate(false).open(path)?;
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if try_lock(&file)? {
            return Ok(file);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the token store lock is held by another process",
            ));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(LOCK_POLL);
    }
}

/// One attempt at an exclusive `flock`: whether it was taken.
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this function's caller owns and keeps open.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK | libc::EINTR) => Ok(false),
        _ => Err(error),
    }
}

/// Elsewhere, std's file lock (`LockFileEx` on Windows).
#[cfg(not(unix))]
fn try_lock(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(error)) => Err(error),
    }
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Refuses a directory that another user owns or may write to.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = fs::metadata(path).map_err(|error| {
        Error::value(format!("token_cache directory {}: {error}", path.display()))
    })?;
    if !metadata.is_dir() {
        return Err(Error::value(format!(
            "token_cache {} is not a directory",
            path.display()
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    if metadata.uid() != user {
        return Err(Error::value(format!(
            "token_cache directory {} belongs to another user (uid {}); tokens are kept only \
             in a directory of your own: pass another directory",
            path.display(),
            metadata.uid()
        )));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(Error::value(format!(
            "token_cache directory {} is writable by other users (mode {:o}); make it private \
             with `chmod 700 {}`",
            path.display(),
            metadata.mode() & 0o777,
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(path: &Path) -> Result<()> {
    if fs::metadata(path).is_ok_and(|metadata| metadata.is_dir()) {
        return Ok(());
    }
    Err(Error::value(format!(
        "token_cache {} is not a directory",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn directory(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "druva-store-test-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn entries_are_private_files_and_a_delete_needs_the_same_blob() {
        let path = directory("entries");
        let store = DirectoryStore::open(&path).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700);
        let second = Duration::from_secs(1);
        assert_eq!(store.load("abc", second).unwrap(), None);
        store.save("abc", b"first", second, second).unwrap();
        assert_eq!(mode(&path.join("abc.token")), 0o600);
        assert_eq!(store.load("abc", second).unwrap().unwrap(), b"first");
        store.delete("abc", b"other", second).unwrap();
        assert_eq!(store.load("abc", second).unwrap().unwrap(), b"first");
        store.delete("abc", b"first", second).unwrap();
        assert_eq!(store.load("abc", second).unwrap(), None);
        assert!(store.load("../etc", second).is_err());
        let leftovers: Vec<_> = fs::read_dir(&path)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_held_lock_makes_another_waiter_give_up_at_its_timeout() {
        let path = directory("lock");
        let store = DirectoryStore::open(&path).unwrap();
        let held = store.lock("abc", Duration::from_secs(1)).unwrap();
        assert!(held.is_some());
        let started = Instant::now();
        assert!(store
            .lock("abc", Duration::from_millis(50))
            .unwrap()
            .is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(store
            .lock("abc", Duration::from_millis(50))
            .unwrap()
            .is_some());
        fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn a_directory_others_may_write_to_is_refused() {
        let path = directory("open");
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).unwrap();
        let error = DirectoryStore::open(&path).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
        assert!(error.to_string().contains("chmod 700"), "{error}");
        fs::remove_dir_all(&path).unwrap();
    }
}
