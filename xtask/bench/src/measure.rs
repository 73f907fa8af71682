//! How the bench times things: one-step plans through the xtask's `exec` (so failures, Ctrl-C
//! and output capture behave as in every other command), and a `wait4` runner where peak memory
//! matters.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xtask::exec;
use xtask::plan::{Mode, Plan, Step};
use xtask::signals::{self, Interrupted};
use xtask::ui::Ui;

/// Runs one step with its output captured (shown only if it fails); returns its wall time.
pub fn timed(step: Step, ui: &Ui) -> Result<f64> {
    let step = Step {
        mode: Mode::Captured,
        ..step
    };
    let plan = Plan {
        steps: vec![step.into()],
        ..Plan::default()
    };
    let timings = exec::run(&plan, ui)?;
    Ok(timings.total().as_secs_f64())
}

/// Wall time and peak resident memory of one process tree.
pub struct Usage {
    pub seconds: f64,
    /// Largest RSS of the child or any descendant it waited for (Linux `wait4` ru_maxrss), KiB.
    pub peak_rss_kib: u64,
}

/// Runs `command` and reads its resource usage with `wait4`, as `/usr/bin/time -v` does.
pub fn run_with_usage(mut command: Command, what: &str) -> Result<Usage> {
    let started = Instant::now();
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.context("no stderr pipe")?;
    // Drained on a thread so a chatty failure cannot fill the pipe and stall the child.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut status: libc::c_int = 0;
    // SAFETY: plain-data out-parameter, zero-initialised as the C API expects.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut signalled = false;
    loop {
        // SAFETY: wait4 on our own child with valid pointers to locals.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        if done < 0 {
            bail!(
                "waiting for {what} failed: {}",
                std::io::Error::last_os_error()
            );
        }
        if signals::interrupted() && !signalled {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGINT) };
            signalled = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let seconds = started.elapsed().as_secs_f64();
    let stderr = reader.join().unwrap_or_default();
    if signalled {
        return Err(Interrupted.into());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        eprint!("{stderr}");
        bail!("{what} failed (wait status {status})");
    }
    Ok(Usage {
        seconds,
        peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

pub fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} was not produced", path.display()))?
        .len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_runner_reports_time_memory_and_failure() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "sleep 0.1"]);
        let usage = run_with_usage(ok, "sleep").unwrap();
        assert!(usage.seconds >= 0.1, "{}", usage.seconds);
        assert!(usage.peak_rss_kib > 0);
        let mut failing = Command::new("sh");
        failing.args(["-c", "exit 3"]);
        assert!(run_with_usage(failing, "exit").is_err());
    }

    #[test]
    fn timed_steps_are_captured_and_report_failures() {
        let ui = Ui {
            quiet: true,
            verbose: false,
        };
        let seconds = timed(
            Step::new("sleep", "sh", "/")
                .args(["-c", "sleep 0.1"])
                .streamed(),
            &ui,
        )
        .unwrap();
        assert!(seconds >= 0.1);
        let err = timed(
            Step::new("fail", "sh", "/").args(["-c", "echo why >&2; exit 2"]),
            &ui,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "fail failed (exit 2): why");
    }
}
