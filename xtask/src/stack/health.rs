//! "Is each service ready?": the xtask runs every server's (and plugin's) own health check itself
//! while it starts, the same way on every engine (compose v1 has no `up --wait`): Podman without
//! systemd never runs a health check on its own, so there `podman healthcheck run`; Docker runs its
//! first one an interval after the start, and compose.stack.yaml's interval is long (each check is
//! an exec, which costs CPU all the time the stack is up), so there the check's command through
//! `docker exec`, which is what Docker's check runs. Each service is watched by a thread of its
//! own and reported as it becomes healthy; one that exits, restarts, turns unhealthy or stays
//! starting too long fails the run with its last log lines.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::ctx::Ctx;
use crate::docker::checks::succeeds_within;
use crate::docker::compose::{self, Project};
use crate::docker::engine::Compose;
use crate::plan::{Action, ActionCx, Step};
use crate::signals::{interrupted, Interrupted};

/// How often a server's state is read (and, on Podman, its check run).
const POLL: Duration = Duration::from_millis(100);
/// How many of a failed server's last log lines its error shows.
const LOG_LINES: usize = 5;
/// How long one health check the xtask runs may take, as compose.stack.yaml's `timeout`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// A service the xtask waits for through its container's health check: a server, or a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    pub service: &'static str,
    /// What an unhealthy one most likely needs, for the failure line.
    pub hint: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitHealthy {
    pub servers: Vec<Watched>,
    pub project: Project,
    /// The engine's CLI (docker, or podman).
    pub cli: PathBuf,
    pub podman: bool,
    pub timeout: Duration,
    /// `compose logs` of the project, for a failed server's last lines (its name is appended).
    pub logs: Step,
}

impl WaitHealthy {
    pub fn new(
        ctx: &Ctx,
        compose: &Compose,
        project: &Project,
        servers: &[Watched],
        timeout: Duration,
    ) -> WaitHealthy {
        let tail = LOG_LINES.to_string();
        let logs = compose::step(
            &ctx.docker(),
            compose,
            project,
            "logs".into(),
            &["logs", "--no-color", "--tail", &tail],
        );
        WaitHealthy {
            servers: servers.to_vec(),
            project: project.clone(),
            cli: ctx.cli().path.clone(),
            podman: ctx.cli().is_podman(),
            timeout,
            logs,
        }
    }
}

impl Action for WaitHealthy {
    fn shell_line(&self) -> String {
        let names: Vec<&str> = self.servers.iter().map(|s| s.service).collect();
        let how = if self.podman {
            "`podman healthcheck run`: no systemd runs them here"
        } else {
            "`docker exec` of its command: Docker runs its first one an interval after the start"
        };
        format!(
            "# (xtask) wait up to {} s until {} are healthy, running each one's health check ({how}); print `NAME ready in N s` for each (counted from here)",
            self.timeout.as_secs(),
            names.join(", ")
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        // Counted from here, just after the servers were started (`ready on …` counts the
        // whole command).
        let since = Instant::now();
        let failed = AtomicBool::new(false);
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let watchers: Vec<_> = self
                .servers
                .iter()
                .map(|server| {
                    let failed = &failed;
                    scope.spawn(move || {
                        let result = self.watch(server, failed);
                        match &result {
                            Ok(()) => cx.ui.info(format_args!(
                                "{} ready in {:.1} s",
                                server.service,
                                since.elapsed().as_secs_f64()
                            )),
                            Err(_) => failed.store(true, Ordering::SeqCst),
                        }
                        result
                    })
                })
                .collect();
            watchers
                .into_iter()
                .map(|w| w.join().expect("a watcher panicked"))
                .collect()
        });
        // The failure itself, not a watcher that stopped because of it.
        let mut errors: Vec<anyhow::Error> = results.into_iter().filter_map(Result::err).collect();
        match errors.iter().position(|e| !e.is::<Stopped>()) {
            Some(first) => Err(errors.swap_remove(first)),
            None => errors.into_iter().next().map_or(Ok(()), Err),
        }
    }
}

/// A watcher that stopped because another server failed.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped waiting: another server failed")
    }
}

impl std::error::Error for Stopped {}

/// A container's state as its health check sees it.
#[derive(Debug, PartialEq, Eq)]
enum State {
    Healthy,
    /// Still starting (or not created yet): wait.
    Pending,
    /// Why it will not become healthy.
    Failed(String),
}

impl WaitHealthy {
    /// Waits for one server; stops early when another failed (`failed`) or on Ctrl-C.
    fn watch(&self, server: &Watched, failed: &AtomicBool) -> Result<()> {
        let started = Instant::now();
        loop {
            if interrupted() {
                return Err(Interrupted.into());
            }
            if failed.load(Ordering::SeqCst) {
                return Err(Stopped.into());
            }
            let id = self.container(server.service);
            let state = match &id {
                Some(id) => self.state(id),
                None => State::Pending,
            };
            match state {
                State::Healthy => return Ok(()),
                State::Failed(why) => return Err(self.failure(server, &why)),
                State::Pending if started.elapsed() > self.timeout => {
                    let why = format!("still not healthy after {} s", self.timeout.as_secs());
                    return Err(self.failure(server, &why));
                }
                State::Pending => {}
            }
            match (&id, self.podman) {
                // Records the result, which the next read sees.
                (Some(id), true) => {
                    let _ = Command::new(&self.cli)
                        .args(["healthcheck", "run", id])
                        .output();
                }
                (Some(id), false) if self.check_passes(id) => return Ok(()),
                _ => std::thread::sleep(POLL),
            }
        }
    }

    /// Runs the container's own health check (`CMD` or `CMD-SHELL`) in it, as Docker does.
    fn check_passes(&self, id: &str) -> bool {
        let Ok(output) = Command::new(&self.cli)
            .args(["inspect", "--type", "container", "--format"])
            .arg("{{range .Config.Healthcheck.Test}}{{println .}}{{end}}")
            .arg(id)
            .output()
        else {
            return false;
        };
        let test = String::from_utf8_lossy(&output.stdout);
        let Some(argv) = check_argv(&test) else {
            return false;
        };
        let mut exec = Command::new(&self.cli);
        exec.args(["exec", id]).args(argv);
        succeeds_within(&mut exec, CHECK_TIMEOUT)
    }

    /// The ID of the service's container in this project, if it exists.
    fn container(&self, service: &str) -> Option<String> {
        let output = Command::new(&self.cli)
            .args(["ps", "--all", "--quiet"])
            .args(self.project.service_filters(service))
            .output()
            .ok()?;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .map(str::to_string)
    }

    fn state(&self, id: &str) -> State {
        let format = "{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
        let Ok(output) = Command::new(&self.cli)
            .args(["inspect", "--type", "container", "--format", format, id])
            .output()
        else {
            return State::Pending;
        };
        parse_state(&String::from_utf8_lossy(&output.stdout))
    }

    /// One line: the server, why, its last log lines, the likely fix.
    fn failure(&self, server: &Watched, why: &str) -> anyhow::Error {
        let mut logs = self.logs.clone();
        logs.args.push(server.service.to_string());
        let output = logs.command().output();
        let lines = output.map_or_else(
            |e| vec![format!("(no logs: {e})")],
            |o| last_lines(&String::from_utf8_lossy(&o.stdout), server.service),
        );
        anyhow!(
            "{} did not become healthy: {why}; its last log lines: {}; {}; `cargo xtask logs {} --stack full` shows more",
            server.service,
            lines.join(" | "),
            server.hint,
            server.service
        )
    }
}

/// `STATUS EXITCODE HEALTH` as `inspect` prints it.
fn parse_state(text: &str) -> State {
    let mut words = text.split_whitespace();
    let (Some(status), Some(code), Some(health)) = (words.next(), words.next(), words.next())
    else {
        return State::Pending;
    };
    match (status, health) {
        ("running", "healthy") => State::Healthy,
        ("running", "unhealthy") => State::Failed("its health check fails".into()),
        ("running", "none") => {
            State::Failed("its image has no health check and compose.stack.yaml gave none".into())
        }
        ("created" | "running", _) => State::Pending,
        ("restarting", _) => State::Failed(format!("it keeps restarting (last exit code {code})")),
        ("exited" | "dead" | "stopped", _) => State::Failed(format!("it exited with code {code}")),
        (other, _) => State::Failed(format!("it is {other}")),
    }
}

/// The argv a health check's `Test` (one word a line, as `inspect` prints it, with the CLI's
/// own newline after the last) runs in the container; `None` for no check (`NONE`, or none).
fn check_argv(test: &str) -> Option<Vec<String>> {
    let mut words = test.trim_end_matches('\n').lines();
    match words.next()? {
        "CMD" => Some(words.map(str::to_string).collect()),
        "CMD-SHELL" => Some(vec!["/bin/sh".into(), "-c".into(), words.collect()]),
        _ => None,
    }
}

/// The last lines of a service's logs, without compose's `service-1  | ` prefixes.
fn last_lines(logs: &str, service: &str) -> Vec<String> {
    let lines: Vec<String> = logs
        .lines()
        .map(
            |line| match line.split_once(" | ").or_else(|| line.split_once("| ")) {
                Some((prefix, rest)) if prefix.contains(service) => rest.trim().to_string(),
                _ => line.trim().to_string(),
            },
        )
        .filter(|line| !line.is_empty())
        .map(|line| line.chars().take(200).collect())
        .collect();
    let from = lines.len().saturating_sub(LOG_LINES);
    match lines.len() {
        0 => vec!["(none)".into()],
        _ => lines[from..].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_as_docker_and_podman_print_them() {
        assert_eq!(parse_state("running 0 healthy\n"), State::Healthy);
        assert_eq!(parse_state("running 0 starting"), State::Pending);
        assert_eq!(parse_state("created 0 starting"), State::Pending);
        assert_eq!(parse_state(""), State::Pending);
        assert_eq!(
            parse_state("exited 1 unhealthy"),
            State::Failed("it exited with code 1".into())
        );
        assert_eq!(
            parse_state("restarting 127 starting"),
            State::Failed("it keeps restarting (last exit code 127)".into())
        );
        assert_eq!(
            parse_state("running 0 unhealthy"),
            State::Failed("its health check fails".into())
        );
    }

    #[test]
    fn a_health_check_runs_its_command_or_its_shell_line() {
        assert_eq!(
            check_argv("CMD\n/pixie/stackhelper\nprobe\nhttp://127.0.0.1:7070/health\n\n"),
            Some(vec![
                "/pixie/stackhelper".to_string(),
                "probe".into(),
                "http://127.0.0.1:7070/health".into()
            ])
        );
        assert_eq!(
            check_argv("CMD-SHELL\npg_isready -q\n\n"),
            Some(vec![
                "/bin/sh".to_string(),
                "-c".into(),
                "pg_isready -q".into()
            ])
        );
        assert_eq!(check_argv("NONE\n"), None);
        assert_eq!(check_argv(""), None);
    }

    #[test]
    fn log_lines_lose_compose_prefixes_and_keep_the_last_five() {
        let logs = "s3-1  | one\ns3-1  | two\npixie_s3_1  | three\n\ns3-1  | four\ns3-1  | five\ns3-1  | six\n";
        assert_eq!(
            last_lines(logs, "s3"),
            ["two", "three", "four", "five", "six"]
        );
        assert_eq!(last_lines("", "s3"), ["(none)"]);
    }
}
