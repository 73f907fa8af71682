//! `bench --stack`'s plugin hot reload: a one-line change saved in the thumbnailer plugin
//! while `run-dev --stack full` runs, timed until the plugin's new build consumes again, and
//! the plugin's own limit (host `go build` of the same change) after each edit.
//!
//! The plugin publishes no port, so the signal is its log: the engine's `logs --follow` of its
//! container, where each process it starts says `consuming events` once it consumes (what its
//! /readyz and the stack's health check report). The reload ends at that line's own time (the
//! plugin's clock, the host's kernel clock), not when the follower delivers it: `podman logs
//! --follow` polls its log file, and delivered lines 0.01–0.23 s late on engine C. After each
//! reload, `pixie-thumbnailer version` inside the container must print the saved edit: the
//! process that became ready runs the new build.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use xtask::signals::{self, Interrupted};
use xtask::ui::Ui;
use xtask::workspace::parse_rfc3339_utc;

use crate::builds::{limit_build, LIMIT_OUT, PLUGIN, PLUGIN_DIR};
use crate::measure::timed;
use crate::report::{Results, Scenario, Setup};
use crate::stack::{FIRST_READY, RELOAD};
use crate::work::WorkCopy;

/// What the plugin logs when a process of it consumes (service.go's bootstrap).
const CONSUMING: &str = r#""msg":"consuming events""#;

/// The time, in seconds since the epoch, of the `n`-th (0-based) line of the plugin's log `text`
/// that says it consumes, as the plugin wrote it (slog's JSON `time`).
fn consumed_at(text: &str, n: usize) -> Result<f64> {
    let line = text
        .lines()
        .filter(|line| line.contains(CONSUMING))
        .nth(n)
        .with_context(|| {
            format!(
                "the {PLUGIN} plugin's log has no consuming line number {}",
                n + 1
            )
        })?;
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|entry| parse_rfc3339_utc(entry["time"].as_str()?))
        .with_context(|| {
            format!("the {PLUGIN} plugin's log line has no RFC 3339 UTC \"time\": {line}")
        })
}
/// Where air puts the plugin's build in its dev container (air.thumbnailer.toml).
const DEV_BINARY: &str = "/var/tmp/air/pixie-thumbnailer";

/// The engine's own CLI, pointed at the engine (its environment), for the plugin's container.
pub(crate) struct EngineCli {
    pub path: PathBuf,
    pub env: Vec<(String, String)>,
}

impl EngineCli {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.path);
        command.args(args).envs(self.env.iter().cloned());
        command.stdin(Stdio::null());
        command
    }

    fn output(&self, args: &[&str]) -> Result<String> {
        let output = self
            .command(args)
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        if !output.status.success() {
            bail!(
                "`{} {}` failed: {}",
                self.path.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }
}

/// The plugin's container of compose project `project`, its log followed into a file.
struct PluginLog<'a> {
    cli: &'a EngineCli,
    container: String,
    path: PathBuf,
    follower: Child,
}

impl<'a> PluginLog<'a> {
    fn follow(cli: &'a EngineCli, project: &str, path: PathBuf) -> Result<PluginLog<'a>> {
        let container = cli.output(&[
            "ps",
            "--quiet",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            &format!("label=com.docker.compose.service={PLUGIN}"),
        ])?;
        let Some(container) = container.lines().next().map(str::to_string) else {
            bail!("run-dev --stack full runs no {PLUGIN} container in project {project}; see `cargo xtask ps dev --stack full`");
        };
        let log = File::create(&path)?;
        let follower = cli
            .command(&["logs", "--follow", &container])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", cli.path.display()))?;
        Ok(PluginLog {
            cli,
            container,
            path,
            follower,
        })
    }

    /// How many of the plugin's processes have said they consume so far.
    fn ready_count(&self) -> usize {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .matches(CONSUMING)
            .count()
    }

    /// Waits up to `timeout` until more than `before` processes have said they consume; then
    /// the seconds from `since` (since the epoch) to the time the next one said it.
    fn ready_after(&self, before: usize, since: f64, timeout: Duration) -> Result<f64> {
        let waiting = Instant::now();
        while waiting.elapsed() < timeout {
            if signals::interrupted() {
                return Err(Interrupted.into());
            }
            if self.ready_count() > before {
                let text = std::fs::read_to_string(&self.path)?;
                return Ok(consumed_at(&text, before)? - since);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        bail!(
            "the {PLUGIN} plugin did not consume again within {} s of the save; its last log lines:\n{}",
            timeout.as_secs(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    /// The version the plugin's build in the container carries.
    fn version(&self) -> Result<String> {
        self.cli
            .output(&["exec", &self.container, DEV_BINARY, "version"])
    }
}

impl Drop for PluginLog<'_> {
    fn drop(&mut self) {
        let _ = self.follower.kill();
        let _ = self.follower.wait();
    }
}

/// With `run-dev --stack full` up (project `project`): waits until the plugin consumes, then
/// `edits` saved one-line changes in the plugin, each timed to the new build consuming, each
/// followed by the plugin's limit of the same change. Samples as plugin_dev hot_reload and
/// plugin_limit code_change.
pub(crate) fn measure(
    cli: &EngineCli,
    project: &str,
    work: &mut WorkCopy,
    bench: &Path,
    log: PathBuf,
    edits: u32,
    ui: &Ui,
) -> Result<Results> {
    let plugin = PluginLog::follow(cli, project, log)?;
    plugin.ready_after(0, now(), FIRST_READY)?;
    std::fs::create_dir_all(bench.join(LIMIT_OUT))?;
    // Untimed: the limit's cache holds the plugin's build before the first timed one.
    timed(limit_build(&work.root, PLUGIN_DIR, bench), ui)?;
    let mut results = Results {
        runs: 1,
        ..Results::default()
    };
    for _ in 0..edits {
        // Let air settle after the previous restart, so each edit is a reload of its own.
        std::thread::sleep(Duration::from_millis(500));
        let before = plugin.ready_count();
        let marker = work.edit_plugin_code()?;
        let saved = now();
        let seconds = plugin.ready_after(before, saved, RELOAD)?;
        let version = plugin.version()?;
        if !version.contains(&marker) {
            bail!("the {PLUGIN} plugin consumed again after the save, but its build says {version}, not the saved {marker}");
        }
        results.record(Setup::PluginDev, Scenario::HotReload, seconds);
        let limit = timed(limit_build(&work.root, PLUGIN_DIR, bench), ui)?;
        results.record(Setup::PluginLimit, Scenario::CodeChange, limit);
    }
    Ok(results)
}

/// Seconds since the epoch, as the plugin's log times are.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_ends_at_the_consuming_lines_own_time() {
        let log = "{\"time\":\"2026-12-06T07:26:30.25Z\",\"level\":\"INFO\",\"msg\":\"consuming events\"}\n\
                   {\"time\":\"2026-12-06T07:26:40Z\",\"level\":\"INFO\",\"msg\":\"stopping\"}\n\
                   {\"time\":\"2026-12-06T07:26:41.5Z\",\"level\":\"INFO\",\"msg\":\"consuming events\"}\n";
        assert_eq!(consumed_at(log, 0).unwrap(), 1_796_541_990.25);
        assert_eq!(consumed_at(log, 1).unwrap(), 1_796_542_001.5);
        assert_eq!(
            consumed_at(log, 2).unwrap_err().to_string(),
            "the thumbnailer plugin's log has no consuming line number 3"
        );
        assert!(consumed_at(r#"{"msg":"consuming events"}"#, 0)
            .unwrap_err()
            .to_string()
            .starts_with("the thumbnailer plugin's log line has no RFC 3339 UTC \"time\""));
    }
}
