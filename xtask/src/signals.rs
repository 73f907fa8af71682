//! Ctrl-C as the xtask sees it: SIGINT, SIGTERM and SIGHUP are counted instead of killing it, and
//! the runner acts on the count (forward one SIGINT per press to a streamed child, stop before
//! the next step, let cleanup run to its end). Below every layer that waits on something.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

/// Number of SIGINT/SIGTERM/SIGHUP received so far; the handler only counts.
static PRESSES: AtomicUsize = AtomicUsize::new(0);

/// The error a command returns when the user pressed Ctrl-C; `main` maps it to exit 130.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

extern "C" fn count(_signal: libc::c_int) {
    PRESSES.fetch_add(1, Ordering::SeqCst);
}

/// Counts SIGINT, SIGTERM and SIGHUP instead of dying of them; plain sigaction rather than a
/// crate, since the handler is one atomic add (async-signal-safe).
pub fn install() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = count as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .context("cannot install the Ctrl-C handler");
        }
    }
    Ok(())
}

/// Whether Ctrl-C was pressed (or SIGTERM/SIGHUP received) since the xtask started.
pub fn interrupted() -> bool {
    presses() > 0
}

/// How many times so far: a streamed child gets one SIGINT per press.
pub fn presses() -> usize {
    PRESSES.load(Ordering::SeqCst)
}
