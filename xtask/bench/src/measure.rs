//! How the bench times things: one-step plans through the xtask's `exec` (so failures, Ctrl-C
//! and output capture behave as in every other command), and a `wait4` runner where peak memory
//! matters.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xtask::exec;
use xtask::plan::{Mode, Plan, Step, Task};
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

/// Runs a plan (a build route's steps and actions, and its cleanup) with its steps' output
/// captured; returns its wall time, actions and cleanup included.
pub fn timed_plan(plan: Plan, ui: &Ui) -> Result<f64> {
    let steps = plan
        .steps
        .into_iter()
        .map(|task| match task {
            Task::Run(step) => Task::Run(Step {
                mode: Mode::Captured,
                ..step
            }),
            other => other,
        })
        .collect();
    let started = Instant::now();
    exec::run(&Plan { steps, ..plan }, ui)?;
    Ok(started.elapsed().as_secs_f64())
}

/// Wall time and peak resident memory of one process tree.
pub struct Usage {
    pub seconds: f64,
    /// Largest RSS of any one process: the child or a descendant it waited for (Linux `wait4`
    /// ru_maxrss, as `/usr/bin/time -v` reports), KiB.
    pub largest_process_kib: u64,
    /// Peak of the RSS summed over the child and all its descendants alive at once (a `go build`
    /// runs several compiles side by side), sampled every [`TREE_SAMPLE`], KiB.
    pub tree_peak_kib: u64,
}

/// How often the process tree's memory is summed: a Go compile of one package lives for tens
/// of milliseconds to seconds.
const TREE_SAMPLE: Duration = Duration::from_millis(10);

/// Runs `command`; its wall time, its largest process's peak (`wait4`) and the peak of its whole
/// process tree (sampled from /proc).
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
    let mut tree_peak_kib = 0;
    let mut next_sample = Instant::now();
    loop {
        if Instant::now() >= next_sample {
            tree_peak_kib = tree_peak_kib.max(tree_rss_kib(pid));
            next_sample += TREE_SAMPLE;
        }
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
        std::thread::sleep(Duration::from_millis(2));
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
    let largest_process_kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok(Usage {
        seconds,
        largest_process_kib,
        // A tree's peak is at least its largest process's, which a sample may have missed.
        tree_peak_kib: tree_peak_kib.max(largest_process_kib),
    })
}

/// RSS of `root` and every process descending from it, summed, KiB (from /proc; a process that
/// ends while it is read counts as nothing).
fn tree_rss_kib(root: libc::pid_t) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    // (pid, parent, rss pages) of every process; `stat`'s fields after the command's `)`.
    let processes: Vec<(i64, i64, u64)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
            // state ppid ... rss is field 24 of stat, the 22nd after the command.
            Some((
                pid,
                fields.get(1)?.parse().ok()?,
                fields.get(21)?.parse().ok()?,
            ))
        })
        .collect();
    // SAFETY: sysconf has no preconditions.
    let page_kib =
        u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096) / 1024;
    let mut tree = vec![i64::from(root)];
    let mut total = 0;
    while let Some(pid) = tree.pop() {
        for &(child, parent, rss) in &processes {
            if child == pid {
                total += rss * page_kib;
            }
            if parent == pid {
                tree.push(child);
            }
        }
    }
    total
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
        assert!(usage.largest_process_kib > 0);
        let mut failing = Command::new("sh");
        failing.args(["-c", "exit 3"]);
        assert!(run_with_usage(failing, "exit").is_err());
    }

    #[test]
    fn the_tree_peak_sums_processes_that_run_side_by_side() {
        // Four shells each holding a 40 MB string for a second, at the same time (each peaks
        // at about twice that while it reads the string).
        let mut four = Command::new("sh");
        four.args([
            "-c",
            r#"for i in 1 2 3 4; do sh -c 'x=$(head -c 40000000 /dev/zero | tr "\0" a); sleep 1' & done; wait"#,
        ]);
        let usage = run_with_usage(four, "four holders").unwrap();
        let (largest, tree) = (usage.largest_process_kib, usage.tree_peak_kib);
        assert!(largest >= 40_000, "largest process {largest} KiB");
        assert!(
            tree >= largest * 3 / 2,
            "tree {tree} KiB, largest {largest} KiB"
        );
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
