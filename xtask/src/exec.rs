//! Runs a [`Plan`]: captured steps through xshell, streamed ones through duct in their own
//! process group with Ctrl-C forwarded, in-process actions here, cleanup steps always (and to
//! their end: a Ctrl-C is not forwarded to them), then a timing summary.

use std::fmt;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::commands::tidy;
use crate::plan::{Action, Mode, Plan, Step, Task};
use crate::ready::{Ready, PROBE_INTERVAL};
use crate::ui::{Timings, Ui};
use crate::{fsutil, secret};

/// Number of SIGINT/SIGTERM received so far; the handler only counts, the runner acts.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// The error a command returns when the user pressed Ctrl-C; `main` maps it to exit 130.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

extern "C" fn count_interrupt(_signal: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// Counts SIGINT, SIGTERM and SIGHUP instead of dying of them; plain sigaction rather than a
/// crate, since the handler is one atomic add (async-signal-safe).
pub fn install_interrupt_handler() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = count_interrupt as extern "C" fn(libc::c_int) as usize;
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

pub fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

/// Runs every step in order, stopping at the first failure or Ctrl-C, then the cleanup steps.
pub fn run(plan: &Plan, ui: &Ui) -> Result<Timings> {
    for note in &plan.notes {
        ui.info(note);
    }
    let since = Instant::now();
    let mut timings = Timings::default();
    let mut result = Ok(());
    for step in &plan.steps {
        if interrupted() {
            result = Err(Interrupted.into());
            break;
        }
        result = run_step(step, ui, &mut timings, since, Phase::Steps);
        if result.is_ok() && interrupted() {
            result = Err(Interrupted.into());
        }
        if result.is_err() {
            break;
        }
    }
    for step in &plan.cleanup {
        // Cleanup runs to the end even after Ctrl-C; a failure here must not hide the first error.
        if let Err(e) = run_step(step, ui, &mut timings, since, Phase::Cleanup) {
            crate::ui::note(format_args!("xtask: cleanup failed: {e:#}"));
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    if !ui.quiet && !timings.steps.is_empty() {
        crate::ui::note(format_args!("xtask: {}", timings.summary()));
    }
    result.map(|()| timings)
}

/// Which part of a plan a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Ctrl-C is forwarded to them, and a failure after one is the interrupt.
    Steps,
    /// They run to their end after Ctrl-C: a second press (compose's "force") that lands
    /// while `compose down` runs must not stop the very step that removes the containers.
    Cleanup,
}

/// `since`: when the plan started, which `ready … in N s` counts from.
fn run_step(
    task: &Task,
    ui: &Ui,
    timings: &mut Timings,
    since: Instant,
    phase: Phase,
) -> Result<()> {
    let step = match task {
        Task::Run(step) => step,
        Task::Do { label, action } => {
            ui.info(label);
            ui.detail(format_args!("$ {}", action.shell_line()));
            let started = Instant::now();
            let result = run_action(action, ui, since);
            timings.steps.push((label.clone(), started.elapsed()));
            return result;
        }
    };
    if let Some(there) = step.unless_exists.as_ref().filter(|p| p.exists()) {
        ui.detail(format_args!(
            "{}: skipped, {} exists",
            step.label,
            there.display()
        ));
        return Ok(());
    }
    ui.info(format_args!("{}", step.label));
    ui.detail(format_args!("$ {}", step.shell_line()));
    let started = Instant::now();
    let _held = match &step.lock {
        Some(path) => Some(acquire(path, "another build on this engine", ui)?),
        None => None,
    };
    let result = match step.mode {
        Mode::Captured => run_captured(step, ui, phase),
        Mode::Streamed => run_streamed(step, ui, since, phase),
    };
    timings.steps.push((step.label.clone(), started.elapsed()));
    result
}

/// The xtask's own steps; their errors are the product's one-line messages, passed on as they are.
fn run_action(action: &Action, ui: &Ui, since: Instant) -> Result<()> {
    match action {
        Action::PortsFree { bind, ports } => {
            for (port, flag) in ports {
                ports_free(bind, *port, flag)?;
            }
            Ok(())
        }
        Action::LinkDocker { cli, dir } => fsutil::replace_symlink(cli, &dir.join("docker")),
        Action::RemoveBuildahLeftovers { podman, lock } => {
            if interrupted() {
                remove_buildah_leftovers(podman, lock)?;
            }
            Ok(())
        }
        Action::CreateDir(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
        }
        Action::RemoveFile(file) => match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", file.display()))
            }
            _ => Ok(()),
        },
        Action::WaitReady {
            ready,
            timeout,
            fix,
        } => {
            let started = Instant::now();
            while !ready.answers() {
                if interrupted() {
                    return Err(Interrupted.into());
                }
                if started.elapsed() > *timeout {
                    anyhow::bail!(
                        "pixie-core did not answer {}{} within {} s; {fix}",
                        ready.url(),
                        ready.path,
                        timeout.as_secs()
                    );
                }
                std::thread::sleep(PROBE_INTERVAL);
            }
            ui.info(ready.message(since));
            Ok(())
        }
        Action::WriteToken { from, to } => secret::write_token(&secret::read_token(from)?, to),
        Action::RemoveTree(dir) => fsutil::remove_tree(dir),
        Action::CopyFiles { files, to } => tidy::copy_files(files, to),
        Action::InstallFiles { from, to, names } => tidy::install_files(from, to, names),
        Action::CheckTidy { go, module, env } => tidy::check(go, module, env),
        Action::SignPushed {
            cosign,
            key,
            metadata,
            repositories,
        } => crate::docker::sign::sign_pushed(cosign, key, metadata, repositories),
        Action::SwapTree { staging, target } => fsutil::swap_in(staging, target),
        Action::SyncTree { staging, target } => fsutil::sync_in(staging, target),
        Action::CheckProtoc { version } => crate::commands::proto::check_protoc(version),
        Action::StartStack(servers) => servers.start(ui),
        Action::StopStack(servers) => servers.stop(),
        Action::ListFiles {
            dir,
            extension,
            relative_to,
            into,
        } => fsutil::write_file_list(dir, extension, relative_to, into),
        Action::CompareTrees {
            fresh,
            committed,
            name,
            fix,
        } => {
            if !committed.exists() {
                anyhow::bail!("{name} does not exist; {fix}");
            }
            if let Some(difference) = fsutil::first_difference(fresh, committed)? {
                anyhow::bail!("{name} is stale ({difference}); {fix}");
            }
            ui.detail(format_args!("{name} is up to date"));
            Ok(())
        }
    }
}

/// Whether the service could publish `port` on `bind`, and if not, the real reason: "in use"
/// only when it is.
fn ports_free(bind: &str, port: u16, flag: &str) -> Result<()> {
    use std::io::ErrorKind;
    let Ok(addr) = bind.parse::<std::net::IpAddr>() else {
        anyhow::bail!("PIXIE_BIND={bind} is not an IP address; set run.bind (PIXIE_BIND) to one such as 127.0.0.1 or 0.0.0.0");
    };
    match std::net::TcpListener::bind((addr, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AddrInUse => anyhow::bail!(
            "port {port} on {bind} is already in use; stop what listens there or pick another with {flag}"
        ),
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => anyhow::bail!(
            "cannot publish on {bind}: it is not an address of this machine; set run.bind (PIXIE_BIND) to one of its addresses, such as 127.0.0.1"
        ),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => anyhow::bail!(
            "port {port} on {bind} needs privileges this user lacks; pick a port above 1023 with {flag}"
        ),
        Err(e) => anyhow::bail!("cannot publish port {port} on {bind}: {e}; pick another with {flag} or another run.bind"),
    }
}

/// Probes `ready` beside a running child until it answers or `done` is set, then says so.
fn announce_when_ready(
    ready: Ready,
    ui: Ui,
    since: Instant,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
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

/// Builds through Podman hold `lock` (see `docker::build`), so while we hold it no other
/// build's working container exists: every one left in state Storage is an interrupted build's.
fn remove_buildah_leftovers(podman: &std::path::Path, lock: &std::path::Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .with_context(|| format!("cannot open lock file {}", lock.display()))?;
    // Another build may have taken the lock as ours ended: wait for it (Ctrl-C was pressed
    // already, so this wait cannot be interrupted), bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    // SAFETY: flock on a descriptor we own; LOCK_NB returns at once.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "another podman build still holds {} after 5 minutes; once it ends, remove what this \
             build left: `{} ps -a --external` and `{1} rm -f` each *-working-container",
            lock.display(),
            podman.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _held = FileLock(file);
    let listing = std::process::Command::new(podman)
        .args([
            "ps",
            "-a",
            "--external",
            "--format",
            "{{.ID}} {{.Status}} {{.Names}}",
        ])
        .output()
        .with_context(|| format!("cannot run {}", podman.display()))?;
    let leftovers: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [id, "Storage", name] if name.contains("-working-container") => {
                    Some(id.to_string())
                }
                _ => None,
            },
        )
        .collect();
    if !leftovers.is_empty() {
        let removed = std::process::Command::new(podman)
            .args(["rm", "-f"])
            .args(&leftovers)
            .output()
            .with_context(|| format!("cannot run {}", podman.display()))?;
        anyhow::ensure!(
            removed.status.success(),
            "cannot remove the interrupted build's containers {}; run `{} rm -f {0}`",
            leftovers.join(" "),
            podman.display()
        );
    }
    Ok(())
}

/// An exclusive flock(2) on a file; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FileLock(std::fs::File);

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking our own open file descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Waits for the lock, polling so that Ctrl-C still ends the wait; `holder` names who else may
/// hold it, for the one line printed while waiting.
pub fn acquire(path: &std::path::Path, holder: &str, ui: &Ui) -> Result<FileLock> {
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

/// The lock if nobody holds it, else `None` at once.
pub fn try_acquire(path: &std::path::Path) -> Result<Option<FileLock>> {
    use std::os::fd::AsRawFd;
    let file = fsutil::open_lock_file(path)?;
    // SAFETY: flock on a descriptor we own; LOCK_NB makes it return at once.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(FileLock(file)));
    }
    Ok(None)
}

/// `$PATH` inside a planned value stands for the xtask's own PATH.
fn expand(value: &str) -> String {
    value.replace("$PATH", &std::env::var("PATH").unwrap_or_default())
}

fn run_captured(step: &Step, ui: &Ui, phase: Phase) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(&step.cwd);
    let mut cmd = sh
        .cmd(&step.program)
        .args(&step.args)
        .quiet()
        .ignore_status();
    for (key, value) in &step.env {
        cmd = cmd.env(key, expand(value));
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
    if phase == Phase::Steps && interrupted() {
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

fn run_streamed(step: &Step, ui: &Ui, since: Instant, phase: Phase) -> Result<()> {
    // An OsStr, not a Path: duct resolves a Path program against `dir`, a name through PATH.
    // A null stdin: the child runs in a background process group (below), where reading the
    // terminal or changing its modes (a tool's raw mode, `stty`) would stop it with SIGTTIN or
    // SIGTTOU and hang the xtask. No streamed step reads input.
    let mut expr = duct::cmd(step.program.as_os_str(), &step.args)
        .dir(&step.cwd)
        .stdin_null()
        .unchecked();
    for (key, value) in &step.env {
        expr = expr.env(key, expand(value));
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
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let announcer = step
        .ready
        .clone()
        .map(|ready| announce_when_ready(ready, *ui, since, done.clone()));
    let watcher = step
        .watch
        .as_ref()
        .map(|watch| crate::watch::spawn((**watch).clone(), *ui, done.clone()));
    let mut forwarded = INTERRUPTS.load(Ordering::SeqCst);
    let output = loop {
        if let Some(output) = handle.try_wait()? {
            break output.clone();
        }
        let seen = INTERRUPTS.load(Ordering::SeqCst);
        while phase == Phase::Steps && forwarded < seen {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
            unsafe { libc::kill(-group, libc::SIGINT) };
            forwarded += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    done.store(true, Ordering::SeqCst);
    for meanwhile in announcer.into_iter().chain(watcher) {
        let _ = meanwhile.join();
    }
    if output.status.success() {
        return Ok(());
    }
    if phase == Phase::Steps && interrupted() {
        return Err(Interrupted.into());
    }
    anyhow::bail!("{} failed ({})", step.label, describe(output.status))
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

    const QUIET: Ui = Ui {
        quiet: true,
        verbose: false,
    };

    fn plan_of(steps: Vec<Step>, cleanup: Vec<Step>) -> Plan {
        Plan {
            steps: steps.into_iter().map(Task::from).collect(),
            cleanup: cleanup.into_iter().map(Task::from).collect(),
            notes: vec![],
        }
    }

    #[test]
    fn runs_steps_in_order_and_cleanup_after_a_failure() {
        let dir = std::env::temp_dir().join(format!("xtask-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let sh = |label: &str, script: String| {
            Step::new(label, "sh", &dir).args(["-c".to_string(), script])
        };
        let plan = plan_of(
            vec![
                sh("first", format!("echo first >> {}", log.display())),
                sh("failing", "echo boom >&2; exit 3".to_string()).streamed(),
                sh("never", format!("echo never >> {}", log.display())),
            ],
            vec![sh("cleanup", format!("echo cleanup >> {}", log.display()))],
        );
        let err = run(&plan, &QUIET).unwrap_err();
        assert_eq!(format!("{err:#}"), "failing failed (exit 3)");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "first\ncleanup\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_step_is_skipped_when_its_result_exists_at_its_turn() {
        let dir = std::env::temp_dir().join(format!("xtask-exec-skip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = dir.join("made");
        let make = Step::new("make", "sh", &dir)
            .args(["-c", "echo once >> made"])
            .unless_exists(&made);
        // Made by the first step of the very plan: the second is skipped at its turn.
        run(&plan_of(vec![make.clone(), make], vec![]), &QUIET).unwrap();
        assert_eq!(std::fs::read_to_string(&made).unwrap(), "once\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn listed_files_are_relative_sorted_and_none_is_an_error() {
        let dir = std::env::temp_dir().join(format!("xtask-exec-list-{}", std::process::id()));
        for file in ["proto/b/y.proto", "proto/a.proto", "proto/a.txt"] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let list = |sub: &str| Action::ListFiles {
            dir: dir.join(sub),
            extension: "proto",
            relative_to: dir.clone(),
            into: dir.join("out/files.txt"),
        };
        run_action(&list("proto"), &QUIET, Instant::now()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("out/files.txt")).unwrap(),
            "proto/a.proto\nproto/b/y.proto\n"
        );
        let none = run_action(&list("proto/b/none"), &QUIET, Instant::now());
        std::fs::create_dir_all(dir.join("proto/b/none")).unwrap();
        let empty = run_action(&list("proto/b/none"), &QUIET, Instant::now()).unwrap_err();
        assert_eq!(
            empty.to_string(),
            format!(
                "no .proto files under {}",
                dir.join("proto/b/none").display()
            )
        );
        assert!(none.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn captured_failure_reports_the_last_stderr_line() {
        let step = Step::new("probe", "sh", "/")
            .args(["-c", "echo one >&2; echo 'the reason' >&2; exit 1"]);
        let err = run(&plan_of(vec![step], vec![]), &QUIET).unwrap_err();
        assert_eq!(err.to_string(), "probe failed (exit 1): the reason");
    }

    #[test]
    fn serialized_steps_never_overlap() {
        let dir = std::env::temp_dir().join(format!("xtask-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lock = dir.join("build.lock");
        let log = dir.join("log");
        // Each step appends "start", sleeps, appends "end"; overlapping runs would interleave.
        let script = format!(
            "echo start >> {0}; sleep 0.3; echo end >> {0}",
            log.display()
        );
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let step = Step::new("locked", "sh", &dir)
                    .args(["-c", &script])
                    .serialized(&lock);
                std::thread::spawn(move || run(&plan_of(vec![step], vec![]), &QUIET).unwrap())
            })
            .collect();
        for handle in runs {
            handle.join().unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "start\nend\n".repeat(3)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_taken_port_is_reported_with_the_flag_to_change_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let check = Action::PortsFree {
            bind: "127.0.0.1".into(),
            ports: vec![(port, "--http-port")],
        };
        let message = run_action(&check, &Ui::default(), Instant::now())
            .unwrap_err()
            .to_string();
        assert_eq!(message, format!("port {port} on 127.0.0.1 is already in use; stop what listens there or pick another with --http-port"));
    }

    #[test]
    fn an_address_of_no_interface_is_not_called_in_use() {
        // TEST-NET-1 (RFC 5737): never assigned to a machine.
        let check = Action::PortsFree {
            bind: "192.0.2.1".into(),
            ports: vec![(8080, "--http-port")],
        };
        let message = run_action(&check, &Ui::default(), Instant::now())
            .unwrap_err()
            .to_string();
        assert_eq!(message, "cannot publish on 192.0.2.1: it is not an address of this machine; set run.bind (PIXIE_BIND) to one of its addresses, such as 127.0.0.1");
        let check = Action::PortsFree {
            bind: "localhost:1".into(),
            ports: vec![(8080, "--http-port")],
        };
        let message = run_action(&check, &Ui::default(), Instant::now())
            .unwrap_err()
            .to_string();
        assert_eq!(message, "PIXIE_BIND=localhost:1 is not an IP address; set run.bind (PIXIE_BIND) to one such as 127.0.0.1 or 0.0.0.0");
    }

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
            "XTASK_TTY_MARKER={} {} --exact exec::tests::streamed_step_in_a_terminal --nocapture",
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
        run(&plan_of(vec![step], vec![]), &QUIET).unwrap();
    }

    #[test]
    fn step_env_is_applied_with_path_expanded() {
        let step = Step::new("env", "sh", "/")
            .args([
                "-c",
                r#"test "$GREETING" = hi && test "$PATH" = "/nowhere:$ORIGINAL_PATH""#,
            ])
            .envs([("GREETING", "hi"), ("PATH", "/nowhere:$PATH")])
            .envs([("ORIGINAL_PATH", std::env::var("PATH").unwrap())]);
        run(&plan_of(vec![step], vec![]), &QUIET).unwrap();
    }
}
