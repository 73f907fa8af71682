//! Child processes of plan steps: captured ones through xshell (output shown only on failure),
//! streamed ones through duct in their own process group with Ctrl-C forwarded once per press,
//! and beside a streamed one, its readiness probe and its watch.

use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::plan::{expand_path, Again, Mode, Step};
use crate::ready::{Ready, PROBE_INTERVAL};
use crate::signals::{self, interrupted, Interrupted};
use crate::ui::Ui;

/// Runs `step`'s child; `forward`: Ctrl-C reaches it (not in cleanup, which runs to its end).
pub fn run(step: &Step, ui: &Ui, since: Instant, forward: bool) -> Result<()> {
    match step.mode {
        Mode::Captured => captured(step, ui, forward),
        Mode::Streamed => streamed(step, ui, since, forward),
    }
}

fn captured(step: &Step, ui: &Ui, forward: bool) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(&step.cwd);
    let mut cmd = sh
        .cmd(&step.program)
        .args(&step.args)
        .quiet()
        .ignore_status();
    for (key, value) in &step.env {
        cmd = cmd.env(key, expand_path(value));
    }
    let output = cmd
        .output()
        .with_context(|| format!("cannot start {}", step.program.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        if !stdout.trim().is_empty() {
            ui.detail(stdout.trim_end());
        }
        return Ok(());
    }
    if forward && interrupted() {
        return Err(Interrupted.into());
    }
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    // The error below ends with the last line: show the rest only when there is more.
    if stderr.trim() != last {
        crate::ui::note(stderr.trim_end());
    }
    anyhow::bail!(
        "{} failed ({}): {last}",
        step.label,
        describe(output.status)
    )
}

fn streamed(step: &Step, ui: &Ui, since: Instant, forward: bool) -> Result<()> {
    // Presses so far: any before the child exists means it never starts; any from here on is
    // forwarded to it, even one that lands between the spawn and the first look below (under
    // load, long enough for a whole build to run on unawares).
    let mut forwarded = signals::presses();
    if forward && forwarded > 0 {
        return Err(Interrupted.into());
    }
    let done = Arc::new(AtomicBool::new(false));
    let announcer = step
        .ready
        .clone()
        .map(|ready| announce_when_ready(ready, *ui, since, done.clone()));
    let watcher = step
        .watch
        .as_ref()
        .map(|watch| super::watch::spawn((**watch).clone(), *ui, done.clone()));
    let mut status = spawn_and_wait(step, forward, &mut forwarded);
    while status.is_ok() && !interrupted() {
        let Some(again) = step.again.as_deref().filter(|again| soon(again)) else {
            break;
        };
        ui.detail(format_args!(
            "{}: again ({})",
            step.label, again.probe.label
        ));
        status = spawn_and_wait(step, forward, &mut forwarded);
    }
    done.store(true, Ordering::SeqCst);
    for meanwhile in announcer.into_iter().chain(watcher) {
        let _ = meanwhile.join();
    }
    let status = status?;
    if status.success() {
        return Ok(());
    }
    if forward && interrupted() {
        return Err(Interrupted.into());
    }
    if let Some(code) = status.code().filter(|_| step.speaks_for_itself) {
        return Err(super::ChildReported(u8::try_from(code).unwrap_or(1)).into());
    }
    anyhow::bail!("{} failed ({})", step.label, describe(status))
}

/// Starts `step`'s child and waits for it, forwarding one SIGINT per press beyond `forwarded`.
fn spawn_and_wait(
    step: &Step,
    forward: bool,
    forwarded: &mut usize,
) -> Result<std::process::ExitStatus> {
    // An OsStr, not a Path: duct resolves a Path program against `dir`, a name through PATH.
    // A null stdin: the child runs in a background process group (below), where reading the
    // terminal or changing its modes (a tool's raw mode, `stty`) would stop it with SIGTTIN or
    // SIGTTOU and hang the xtask. No streamed step reads input.
    let mut expr = duct::cmd(step.program.as_os_str(), &step.args)
        .dir(&step.cwd)
        .stdin_null()
        .unchecked();
    for (key, value) in &step.env {
        expr = expr.env(key, expand_path(value));
    }
    // Its own process group: the terminal's Ctrl-C reaches only us, and we forward exactly one
    // SIGINT per press, so "first press stops gracefully, second forces" holds however the
    // signal arrived (terminal, `kill -INT`, CI runner).
    let expr = expr.before_spawn(|cmd| {
        cmd.process_group(0);
        Ok(())
    });
    let handle = expr
        .start()
        .with_context(|| format!("cannot start {}", step.program.display()))?;
    let group = handle.pids().first().copied().context("child has no pid")? as libc::pid_t;
    loop {
        if let Some(output) = handle.try_wait()? {
            return Ok(output.status);
        }
        let seen = signals::presses();
        while forward && *forwarded < seen {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
            unsafe { libc::kill(-group, libc::SIGINT) };
            *forwarded += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `again.probe` prints anything within `again.within` (Ctrl-C ends the wait: no).
fn soon(again: &Again) -> bool {
    let deadline = Instant::now() + again.within;
    while !interrupted() {
        if again.probe.prints() {
            return true;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Probes `ready` beside a running child until it answers or `done` is set, then says so.
fn announce_when_ready(
    ready: Ready,
    ui: Ui,
    since: Instant,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            if ready.answers() {
                ui.info(ready.message(since));
                return;
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
    })
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    const QUIET: Ui = Ui {
        quiet: true,
        verbose: false,
    };

    /// A streamed child that touches the terminal must not stop (SIGTTOU) and hang the xtask:
    /// run under a pseudo-terminal made with `script`, the child changes the terminal's modes.
    #[test]
    fn a_streamed_child_touching_the_terminal_does_not_hang() {
        let dir = std::env::temp_dir().join(format!("xtask-tty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("done");
        // The test binary itself, asked to run only the helper below in the pty.
        let me = std::env::current_exe().unwrap();
        let inner = format!(
            "XTASK_TTY_MARKER={} {} --exact exec::child::tests::streamed_step_in_a_terminal --nocapture",
            marker.display(),
            me.display()
        );
        let mut script = std::process::Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("script(1) from util-linux");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = script.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = script.kill();
                panic!("the streamed child stopped on the terminal and the run hung");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}");
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Does nothing unless started by the test above inside a pseudo-terminal.
    #[test]
    fn streamed_step_in_a_terminal() {
        let Ok(marker) = std::env::var("XTASK_TTY_MARKER") else {
            return;
        };
        // `stty sane` sets the terminal's modes: from a background process group with the
        // terminal as stdin that is SIGTTOU, which stops the child.
        let step = Step::new("touch the terminal", "sh", "/")
            .args(["-c", &format!("stty sane 2>/dev/null; echo ran > {marker}")])
            .streamed();
        let plan = Plan {
            steps: vec![step.into()],
            ..Plan::default()
        };
        super::super::run(&plan, &QUIET).unwrap();
    }

    /// A child that says why it failed (the bench, given its command line whole) keeps its exit
    /// code, and the xtask adds no line; any other streamed step's failure is one line of ours.
    #[test]
    fn a_child_speaking_for_itself_keeps_its_exit_code() {
        let exits_2 = Step::new("fails", "sh", "/")
            .args(["-c", "exit 2"])
            .streamed();
        let err = run(
            &exits_2.clone().speaking_for_itself(),
            &QUIET,
            Instant::now(),
            true,
        )
        .unwrap_err();
        assert_eq!(
            err.downcast_ref::<super::super::ChildReported>()
                .map(|c| c.0),
            Some(2)
        );
        let err = run(&exits_2, &QUIET, Instant::now(), true).unwrap_err();
        assert_eq!(err.to_string(), "fails failed (exit 2)");
    }
}
