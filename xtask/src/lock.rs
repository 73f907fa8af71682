//! Locks between xtask processes: an exclusive flock(2) on a file, waited for in a way Ctrl-C
//! still ends. Plans name the locks they hold ([`crate::plan::Lock`]); the runner takes them.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::fsutil;
use crate::signals::{interrupted, Interrupted};
use crate::ui::Ui;

/// An exclusive flock(2) on a file; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FileLock(std::fs::File);

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own open file descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Waits for the lock, polling so that Ctrl-C still ends the wait; `holder` names who else may
/// hold it, for the one line printed while waiting.
pub fn acquire(path: &Path, holder: &str, ui: &Ui) -> Result<FileLock> {
    let mut told = false;
    loop {
        if let Some(held) = try_acquire(path)? {
            return Ok(held);
        }
        if interrupted() {
            return Err(Interrupted.into());
        }
        if !told {
            ui.info(format_args!(
                "waiting for {holder} to finish (lock {})",
                path.display()
            ));
            told = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Like [`acquire`], but after Ctrl-C (a cleanup step's wait cannot be interrupted) and bounded:
/// `None` once `within` has passed.
pub fn acquire_within(path: &Path, within: Duration) -> Result<Option<FileLock>> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(held) = try_acquire(path)? {
            return Ok(Some(held));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The lock if nobody holds it, else `None` at once.
pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
    let file = fsutil::open_lock_file(path)?;
    // SAFETY: flock on a descriptor we own; LOCK_NB makes it return at once.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(FileLock(file)));
    }
    Ok(None)
}
