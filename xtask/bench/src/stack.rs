//! `bench --stack ENGINES`: the stack (`--stack full`) on each named engine, timed as its user
//! sees it, through the xtask's own commands on a copy of the workspace: cold start to ready
//! (images built, volumes and secrets empty: `run-prod --stack full --detach`), warm start to
//! ready (the same after `stop`), `restart core` to ready, and the run-dev hot reload (a saved Go
//! edit to the new answer on /version) with the stack up, and the thumbnailer plugin's hot reload
//! against its own limit (stack_plugin.rs). `--quick` (CI, every engine): only the two hot
//! reloads, three edits each. Everything runs under a compose project of its own
//! (`pixie-bench-stack-*`) and bench image tags; its containers, volumes and secrets go at the
//! end, also after a failure or Ctrl-C. Writes target/bench/stack.{md,json}.

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xtask::ctx::Ctx;
use xtask::docker::matrix::{self, MatrixEngine};
use xtask::plan::expand_path;
use xtask::signals::{self, Interrupted};
use xtask::target::Target;
use xtask::testkit::{free_port, RemoveDir};
use xtask::workspace::Workspace;

use crate::builds::{limit_build, CORE_DIR, LIMIT_OUT};
use crate::measure::timed;
use crate::report::{
    checks_json, engines_check_failures, verdict_cell, Check, Results, Scenario, Setup,
};
use crate::stack_plugin::{self, EngineCli};
use crate::stats::Stats;
use crate::work::WorkCopy;

/// Saved edits per engine for each hot-reload figure (core's, the plugin's); `--quick`'s.
const EDITS: u32 = 5;
const QUICK_EDITS: u32 = 3;
/// run-dev's first start builds the dev image and compiles core with empty caches.
pub(crate) const FIRST_READY: Duration = Duration::from_secs(900);
pub(crate) const RELOAD: Duration = Duration::from_secs(120);

/// The figures of one engine, in seconds.
#[derive(Default)]
struct Figures {
    cold: Vec<f64>,
    warm: Vec<f64>,
    restart: Vec<f64>,
    /// Core's hot reload (dev) and its limit, the plugin's (plugin_dev) and its limit.
    reloads: Results,
}

impl Figures {
    /// Core's and the plugin's hot-reload targets, each against its own limit.
    fn targets(&self) -> Vec<Check> {
        self.reloads.stack_targets()
    }
}

/// The xtask on the copy, pointed at one engine and at the bench's own stack project.
struct StackRun {
    xtask: PathBuf,
    env: Vec<(String, String)>,
    http: SocketAddr,
    log: PathBuf,
    state: PathBuf,
    /// The engine's CLI, for the plugin's container.
    cli: EngineCli,
    /// run-dev --stack full's compose project.
    dev_project: String,
}

impl StackRun {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.xtask);
        command
            .args(args)
            .args(["--stack", "full"])
            // `$PATH` in a matrix value stands for this process's PATH (engine C's compose).
            .envs(self.env.iter().map(|(k, v)| (k, expand_path(v))))
            .stdin(Stdio::null());
        command
    }

    /// Runs `cargo xtask ARGS --stack full`; its wall time in seconds.
    fn timed(&self, args: &[&str]) -> Result<f64> {
        if signals::interrupted() {
            return Err(Interrupted.into());
        }
        let started = Instant::now();
        let output = self
            .command(args)
            .output()
            .with_context(|| format!("cannot run {}", self.xtask.display()))?;
        let seconds = started.elapsed().as_secs_f64();
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr.trim_end().lines().last().unwrap_or("").to_string();
            bail!("cargo xtask {} --stack full failed: {last}", args.join(" "));
        }
        Ok(seconds)
    }

    /// Removes everything of the bench's stack projects: containers, volumes, secrets, and
    /// the bench's images of core.
    fn remove_all(&self) {
        let _ = self.command(&["clean", "--volumes", "--images"]).output();
        let _ = std::fs::remove_dir_all(&self.state);
    }

    /// `run-dev --stack full` in the foreground, its output in the log file.
    fn spawn_dev(&self) -> Result<Child> {
        let log = File::create(&self.log)?;
        Ok(self
            .command(&["run-dev"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until GET `path` answers 200 with a body `accept` takes; seconds since `since`.
    fn answer(
        &self,
        path: &str,
        since: Instant,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> Result<f64> {
        while since.elapsed() < timeout {
            if signals::interrupted() {
                return Err(Interrupted.into());
            }
            if let Ok(response) = xtask::http::request(self.http, "GET", path, &[], &[]) {
                if response.status == 200 && accept(&response.text()) {
                    return Ok(since.elapsed().as_secs_f64());
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!(
            "no answer on http://{}{path} within {} s; run-dev said:\n{}",
            self.http,
            timeout.as_secs(),
            self.log_text()
        )
    }
}

impl Drop for StackRun {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// Measures the stack on each engine `names` selects; prints and writes the table. `quick`:
/// the hot reloads only. With `check`, fails on the targets it selects that an engine missed
/// beyond the run's noise.
pub fn measure(
    ctx: &Ctx,
    names: &str,
    runs: u32,
    quick: bool,
    check: Option<&[String]>,
) -> Result<()> {
    let engines = matrix::select(&ctx.host, ctx.engine(), "--stack", names)?;
    let edits = if quick { QUICK_EDITS } else { EDITS };
    if ctx.dry_run {
        for engine in &engines {
            println!(
                "# engine {} ({}): {}",
                engine.name,
                engine.what,
                describe(runs, quick)
            );
        }
        return Ok(());
    }
    let xtask = crate::xtask_binary(ctx)?;
    let dir = ctx.ws.path("target/bench");
    std::fs::create_dir_all(&dir)?;
    let mut measured = Vec::new();
    for engine in &engines {
        ctx.ui.info(format_args!(
            "bench --stack: engine {}: {}",
            engine.name, engine.what
        ));
        let figures = measure_engine(ctx, &xtask, &dir, engine, runs, edits, quick)?;
        measured.push((engine, figures));
    }
    let markdown = markdown(&measured, runs, edits);
    std::fs::write(dir.join("stack.md"), &markdown)?;
    std::fs::write(dir.join("stack.json"), json(&measured))?;
    print!("{markdown}");
    ctx.ui.info(format_args!(
        "wrote {} and {}",
        dir.join("stack.md").display(),
        dir.join("stack.json").display()
    ));
    let Some(ids) = check else {
        return Ok(());
    };
    let targets: Vec<(&str, Vec<Check>)> = measured
        .iter()
        .map(|(engine, figures)| (engine.name, figures.targets()))
        .collect();
    crate::fail_on(&engines_check_failures(&targets, ids))
}

/// What one engine's measurement does, as a dry run shows it.
fn describe(runs: u32, quick: bool) -> String {
    let edits = if quick { QUICK_EDITS } else { EDITS };
    let reloads = format!("run-dev --stack full, {edits} saved edits in core, each followed by its host `go build` [hot_reload, limit], then {edits} in the thumbnailer plugin, each followed by its host `go build` [plugin_hot_reload, plugin_limit]");
    if quick {
        reloads
    } else {
        format!("{runs} × (clean --volumes; run-prod --stack full --detach [cold]; restart core [restart]; stop; run-prod --stack full --detach [warm]; stop), then {reloads}")
    }
}

fn measure_engine(
    ctx: &Ctx,
    xtask: &Path,
    dir: &Path,
    engine: &MatrixEngine,
    runs: u32,
    edits: u32,
    quick: bool,
) -> Result<Figures> {
    // The copy lives under target/bench: stop git there, so the stamp (and the image) stays.
    std::env::set_var("GIT_CEILING_DIRECTORIES", dir);
    let mut work = WorkCopy::create(
        &ctx.ws.root,
        dir.join(format!("stack-work-{}", engine.name)),
    )?;
    // Gone at the end, also after a failure: then the copy's builder container (Podman < 5.4)
    // stops by itself too.
    let _copy_goes = RemoveDir(work.root.clone());
    let id = std::process::id();
    let state = dir.join(format!("stack-state-{}", engine.name));
    let http_port = free_port();
    let mut env = engine.env.clone();
    let published = env
        .iter()
        .find(|(k, _)| k == "PIXIE_PUBLISHED_HOST")
        .and_then(|(_, v)| v.parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    env.extend(
        [
            ("PIXIE_WORKSPACE", work.root.display().to_string()),
            ("PIXIE_PROJECT", format!("pixie-bench-stack-{id}")),
            ("PIXIE_PROD_IMAGE", format!("pixie-bench-stack-prod:{id}")),
            ("PIXIE_DEV_IMAGE", format!("pixie-bench-stack-dev:{id}")),
            // The plugin's, which run-prod --stack full builds with core's.
            (
                "PIXIE_THUMBNAILER_IMAGE",
                format!("pixie-bench-stack-thumbnailer:{id}"),
            ),
            ("PIXIE_HTTP_PORT", http_port.to_string()),
            ("PIXIE_GRPC_PORT", free_port().to_string()),
            ("XDG_STATE_HOME", state.display().to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let cli = EngineCli {
        path: env
            .iter()
            .find(|(k, _)| k == "DOCKER")
            .map_or_else(|| ctx.cli().path.clone(), |(_, v)| v.into()),
        env: env
            .iter()
            .map(|(k, v)| (k.clone(), expand_path(v)))
            .collect(),
    };
    let dev_project = Workspace::at(work.root.clone()).project_name(
        &format!("pixie-bench-stack-{id}"),
        &format!("{}-stack", Target::Dev.name()),
    );
    let run = StackRun {
        xtask: xtask.to_path_buf(),
        env,
        http: SocketAddr::new(published, http_port),
        log: dir.join(format!("stack-run-dev-{}.log", engine.name)),
        state,
        cli,
        dev_project,
    };
    let say = |what: &str, seconds: f64| {
        ctx.ui.info(format_args!(
            "bench --stack: engine {} {what}: {seconds:.2} s",
            engine.name
        ))
    };
    let mut figures = Figures::default();
    // Untimed: core's image built once, as "images built" means.
    if !quick {
        run.timed(&["run-prod", "--detach"])?;
        run.timed(&["stop"])?;
    }
    for _ in 0..if quick { 0 } else { runs } {
        run.timed(&["clean", "--volumes"])?;
        let cold = run.timed(&["run-prod", "--detach"])?;
        say("cold start to ready", cold);
        let restart = run.timed(&["restart", "core"])?;
        say("restart core to ready", restart);
        run.timed(&["stop"])?;
        let warm = run.timed(&["run-prod", "--detach"])?;
        say("warm start to ready", warm);
        run.timed(&["stop"])?;
        figures.cold.push(cold);
        figures.restart.push(restart);
        figures.warm.push(warm);
    }
    figures.reloads = hot_reload(ctx, &run, &mut work, dir, engine, edits)?;
    let show = |setup, scenario| {
        let shown: Vec<String> = figures
            .reloads
            .samples
            .get(&(setup, scenario))
            .into_iter()
            .flatten()
            .map(|s| format!("{s:.2}"))
            .collect();
        shown.join(", ")
    };
    ctx.ui.info(format_args!(
        "bench --stack: engine {} hot reload with the stack up: core {} s (its limit {} s); plugin {} s (its limit {} s)",
        engine.name,
        show(Setup::Dev, Scenario::HotReload),
        show(Setup::Limit, Scenario::CodeChange),
        show(Setup::PluginDev, Scenario::HotReload),
        show(Setup::PluginLimit, Scenario::CodeChange)
    ));
    Ok(figures)
}

/// run-dev --stack full up, then each saved edit in core timed to the new answer on /version
/// and followed by core's limit (a host `go build` of the same change), then the plugin's
/// (stack_plugin.rs).
fn hot_reload(
    ctx: &Ctx,
    run: &StackRun,
    work: &mut WorkCopy,
    dir: &Path,
    engine: &MatrixEngine,
    edits: u32,
) -> Result<Results> {
    let mut child = run.spawn_dev()?;
    let result = (|| {
        let started = Instant::now();
        run.answer("/readyz", started, FIRST_READY, |_| true)?;
        std::fs::create_dir_all(dir.join(LIMIT_OUT))?;
        // Untimed: the limit's cache holds core's build before the first timed one.
        timed(limit_build(&work.root, CORE_DIR, dir), &ctx.ui.inner())?;
        let mut reloads = Results {
            runs: 1,
            ..Results::default()
        };
        for _ in 0..edits {
            // Let air settle after the previous restart, so each edit is a reload of its own.
            std::thread::sleep(Duration::from_millis(500));
            let marker = work.edit_code()?;
            let expected = format!("\"version\":\"{marker}\"");
            let saved = Instant::now();
            let reload = run.answer("/version", saved, RELOAD, |body| body.contains(&expected))?;
            reloads.record(Setup::Dev, Scenario::HotReload, reload);
            let limit = timed(limit_build(&work.root, CORE_DIR, dir), &ctx.ui.inner())?;
            reloads.record(Setup::Limit, Scenario::CodeChange, limit);
        }
        let plugin = stack_plugin::measure(
            &run.cli,
            &run.dev_project,
            work,
            dir,
            dir.join(format!("stack-plugin-{}.log", engine.name)),
            edits,
            &ctx.ui.inner(),
        )?;
        // The plugin's setups (plugin_dev, plugin_limit) are its own keys.
        reloads.samples.extend(plugin.samples);
        Ok(reloads)
    })();
    // Ctrl-C, as a user ends it: the foreground run removes its containers.
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn p50(samples: &[f64]) -> String {
    Stats::of(samples).map_or("—".into(), |s| format!("{:.2}", s.median))
}

fn markdown(measured: &[(&MatrixEngine, Figures)], runs: u32, edits: u32) -> String {
    let mut text = format!(
        "## The stack (`--stack full`), median of {runs} run(s); hot reloads: {edits} edits each\n\n\
         | engine | cold start to ready (s) | warm start to ready (s) | `restart core` to ready (s) | core hot reload p50 / p95 (s) | core limit: host `go build` (s) | plugin (thumbnailer) hot reload p50 / p95 (s) | plugin limit: host `go build` (s) |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for (engine, f) in measured {
        let reload = |setup| {
            f.reloads
                .stats(setup, Scenario::HotReload)
                .map_or("—".into(), |s| format!("{:.2} / {:.2}", s.median, s.p95))
        };
        let limit = |setup| {
            f.reloads
                .stats(setup, Scenario::CodeChange)
                .map_or("—".into(), |s| format!("{:.2}", s.median))
        };
        text.push_str(&format!(
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} |\n",
            engine.name,
            engine.what,
            p50(&f.cold),
            p50(&f.warm),
            p50(&f.restart),
            reload(Setup::Dev),
            limit(Setup::Limit),
            reload(Setup::PluginDev),
            limit(Setup::PluginLimit),
        ));
    }
    for (engine, f) in measured {
        for check in f.targets() {
            text.push_str(&format!(
                "\n- engine {}: {}: {}",
                engine.name,
                check.target,
                verdict_cell(check.verdict.as_ref())
            ));
        }
    }
    text.push_str("\n\nTargets: warm start ≤ 5 s; `restart core` ≤ 1.5 s; core's and the plugin's hot reload p50 ≤ its limit + 0.2 s and p95 ≤ its limit + 0.5 s, each limit a host `go build` of the same change in the same run (core: the new answer on /version; the plugin: its new build consuming again, as its log says; `--check stack-reload-p50,stack-reload-p95,plugin-reload-p50,plugin-reload-p95`).\n");
    text
}

fn json(measured: &[(&MatrixEngine, Figures)]) -> String {
    let list = |samples: &[f64]| {
        let items: Vec<String> = samples.iter().map(|s| format!("{s:.3}")).collect();
        format!("[{}]", items.join(", "))
    };
    let engines: Vec<String> = measured
        .iter()
        .map(|(engine, f)| {
            let samples = |setup, scenario| {
                f.reloads
                    .samples
                    .get(&(setup, scenario))
                    .map_or(&[][..], Vec::as_slice)
            };
            format!(
                "  {{\"engine\": \"{}\", \"cold_start_s\": {}, \"warm_start_s\": {}, \"restart_core_s\": {}, \"hot_reload_s\": {}, \"limit_s\": {}, \"plugin_hot_reload_s\": {}, \"plugin_limit_s\": {}, \"targets\": {}}}",
                engine.name,
                list(&f.cold),
                list(&f.warm),
                list(&f.restart),
                list(samples(Setup::Dev, Scenario::HotReload)),
                list(samples(Setup::Limit, Scenario::CodeChange)),
                list(samples(Setup::PluginDev, Scenario::HotReload)),
                list(samples(Setup::PluginLimit, Scenario::CodeChange)),
                checks_json(&f.targets())
            )
        })
        .collect();
    format!("[\n{}\n]\n", engines.join(",\n"))
}

#[cfg(test)]
mod tests;
