//! `cargo xtask bench` (this package, so the everyday xtask never compiles it): measures the
//! build and reload times the design notes only described in words, for these setups on the same
//! machine in one run: two "before" shapes (deployments/bench/before-*.Dockerfile: pixie's HEAD
//! 2fb3e22 and the seed's fc0ed04), `prod` (the xtask's own production build step) and
//! `prod_command` (the whole `cargo xtask build-prod`), `dev` (the dev image and air hot reload)
//! and `limit` (host `go build` with a warm cache), plus `registry` (a shared remote builder with
//! a registry cache, see registry.rs) where its tooling is there. Everything happens on a copy of the
//! workspace in target/bench/work; the user's tree is never modified.

mod backends;
mod bench;
mod builds;
mod changes;
mod dev;
mod engines;
mod extras;
mod floor;
mod measure;
mod registry;
mod report;
mod schedule;
mod stack;
mod stack_plugin;
mod stats;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Arg, ArgAction};
use xtask::ctx::{Ctx, Needs};
use xtask::docker::engine::BuildRoute;
use xtask::plan::Step;
use xtask::settings::{Config, Flags};
use xtask::ui::Ui;
use xtask::workspace::Workspace;

use bench::Bench;
use registry::Tooling;
use report::{
    check_failures, Recorded, PERFORMANCE_DOC, PERFORMANCE_ENGINES_JSON, PERFORMANCE_JSON,
};
use schedule::{
    cold_modules_schedule, describe_schedule, engine_schedule, hot_reload_schedule, schedule,
};

const AFTER_HELP: &str = "\
Setups: before_2fb3e22 and before_fc0ed04 (deployments/bench/before-*.Dockerfile: the shapes of \
pixie's Dockerfile at its HEAD 2fb3e22, the headline baseline, and at fc0ed04, which the seed \
quotes), prod (the build-prod build step), prod_command (the whole `cargo xtask build-prod`, as a \
person waits for it), prod_podman_build (Podman < 5.4 only, with --engine: every step in one \
`podman build`, the route before the builder container), dev (dev image + air hot reload), limit \
(host `go build`, warm cache), \
plugin_prod and plugin_limit (--engine: the thumbnailer plugin's image build step and host `go build` \
after a one-line change only it compiles), modules_together and modules_in_turn (full bench only: both \
module images from cold by one `cargo xtask build-prod`, and by `--module core` then `--module \
thumbnailer`; report only, with their ratio), \
registry (build-prod on the shared remote buildx builder with a registry cache: cold pushes with \
--cache-to type=registry,mode=max to a docker-registry on loopback, warm_from_registry rebuilds on \
the emptied builder with --cache-from; needs PIXIE_CI_BUILDER, PIXIE_CI_DOCKER_CONFIG and \
/usr/bin/docker-registry, i.e. `export $(sudo bash .ci/provision-builders)`; skipped without them, \
except that --quick under CI fails). It empties only that builder (`docker buildx prune --builder`).
Scenarios: cold, no_change, code_change, dep_change, proto_change; dev: cold (image build + first \
start with empty Go caches), no_change (cached image + restart), hot_reload (10 edits per run, \
file saved -> new answer on /version). Also: binary and image sizes, a GOGC sweep of the host \
compile (wall time, the whole build's peak memory summed over its processes), and the xtask's \
own cold compile and --help latency.

Targets are computed from the run's own limit (prod one-line change <= limit + 0.3 s, + 0.5 s on \
Podman < 5.4, and the plugin's against its own limit alike; hot reload p50 <= limit + 0.2 s, p95 <= limit + 0.5 s) and the run's baselines \
(>= 10x faster than before). --check fails on a target missed even at the run's best case: \
each timed figure's minimum over the runs.

All builds use a copy of the workspace in target/bench/work; the working tree is never touched.
Images are tagged pixie-bench-*; they, the images its rebuilds left untagged, the bench's \
containers (the builder container of its copy on Podman < 5.4) and its volumes are removed at \
the end, also after a failure or Ctrl-C.

WARNING: every cold scenario runs `docker builder prune -af`, which empties the BuildKit cache of \
the whole engine (other projects' build caches included). --quick does it once (prod cold).

--cold-modules (and the full bench) runs `docker builder prune -af` before each of its builds.

Output: a markdown table (printed, and target/bench/bench.md) and target/bench/bench.json, whose \
fields README \"Measured performance\" lists. Only what was measured appears; any failed measurement fails the command (exit 1).";

fn command() -> clap::Command {
    clap::Command::new("cargo xtask bench")
        .bin_name("cargo xtask bench")
        .about("Measure build and hot-reload times of the before/prod/dev/limit setups against targets; writes target/bench/bench.json and a markdown table.")
        .after_long_help(AFTER_HELP)
        .args(xtask::cli::global_args())
        .args([
            Arg::new("runs")
                .short('r')
                .long("runs")
                .value_name("N")
                .default_value("3")
                .value_parser(clap::value_parser!(u32).range(1..))
                .help("Runs per setup and scenario (round-robin over the setups, to spread machine noise)."),
            Arg::new("hot-reload")
                .long("hot-reload")
                .action(ArgAction::SetTrue)
                .conflicts_with("quick")
                .help("Only the dev loop against its limit: dev hot_reload (10 edits per run) and limit code_change, N runs; no cold build, no cache prune."),
            Arg::new("cold-modules")
                .long("cold-modules")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["quick", "hot-reload", "engine", "stack", "backends", "publish"])
                .help("Only both module images from cold, N runs, on the engine the environment points at: modules_together (one `cargo xtask build-prod`) and modules_in_turn (`--module core`, then `--module thumbnailer`), each after `docker builder prune -af`; reported with their ratio. Docker engines only: on Podman the prune deletes the local base images too."),
            Arg::new("quick")
                .long("quick")
                .action(ArgAction::SetTrue)
                .help("One run of a subset, to prove the bench works (CI): prod cold/no_change/code_change, limit code_change, dev hot_reload with 3 edits, registry cold/warm_from_registry; no before, sizes, GOGC sweep or xtask figures."),
            Arg::new("engine")
                .long("engine")
                .value_name("ENGINES")
                .conflicts_with("hot-reload")
                .help("Engines side by side (ENGINES: a comma-separated list of a, b, c, or all): on each named engine of the matrix (a: the detected one; b, c: as PIXIE_ENGINE_* configure them, see `bash .ci/provision-engines`), prod code_change and no_change, prod_command code_change, on Podman < 5.4 prod_podman_build code_change, dev hot_reload and limit code_change, the thumbnailer plugin's plugin_prod and plugin_limit code_change, and the one-line change's breakdown (prod_compile: the go build inside prod's build; prod_null: the engine's floor, a null change; command_start and command_checks: the whole command's start-up and checks), N runs; then, unless --quick, both before shapes' code_change once; no cold build, no prune. Writes target/bench/engines.{md,json}."),
            Arg::new("backends")
                .long("backends")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["quick", "hot-reload", "engine"])
                .help("pixie-core's embedded backend against the stack (Postgres, S3, NATS on loopback, as `cargo xtask test` starts them): start to ready, upload p50/p99 of a 1 MB JPEG, list p50; no engine. Exits 1 when the stack's upload p50 exceeds 2 x the embedded one or its start to ready 1 s. Writes target/bench/backends.{md,json}."),
            Arg::new("stack")
                .long("stack")
                .value_name("ENGINES")
                .num_args(0..=1)
                .default_missing_value("a")
                .conflicts_with_all(["hot-reload", "engine", "publish", "engine-set", "backends"])
                .help("Only the stack (--stack full) on each named engine (a, b, c or all; default a): cold start, warm start and `restart core` to ready, N runs, and the run-dev hot reloads with the stack up, each against its own limit (host `go build` of the same change, after each edit): core's (saved edit -> new answer on /version; targets stack-reload-p50/p95) and the thumbnailer plugin's (saved edit -> its new build consumes; targets plugin-reload-p50/p95). With --quick: the hot reloads only, 3 edits each (CI). Writes target/bench/stack.{md,json}."),
            Arg::new("publish")
                .long("publish")
                .value_name("FILE")
                .num_args(0..=1)
                .default_missing_value("target/bench/bench.json")
                .conflicts_with_all(["runs", "quick", "hot-reload", "engine", "engine-set", "check", "backends"])
                .help("Measure nothing: record FILE (a bench.json, default target/bench/bench.json, as docs/performance.json; an engines.json of --engine as docs/performance-engines.json; several engines.json, comma-separated, of --engine runs on some engines each, side by side as one) and make docs/performance.md from what docs/ records."),
            Arg::new("check")
                .long("check")
                .value_name("TARGETS")
                .num_args(0..=1)
                .default_missing_value("")
                .help("Exit 1 when a target is missed beyond this run's noise: missed even at the run's best case, each timed figure's minimum over the runs. TARGETS: comma-separated ids (e.g. before-ratio,registry-ratio; the reports list them), or none for every target the run measured; a named target the run did not measure fails too."),
            // The child that measures one engine for --engine, in that engine's environment.
            Arg::new("engine-set")
                .long("engine-set")
                .value_name("NAME")
                .hide(true)
                .conflicts_with_all(["engine", "hot-reload"]),
        ])
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let ui = Ui {
        quiet: matches.get_flag("quiet"),
        verbose: matches.get_flag("verbose"),
    };
    let quick = matches.get_flag("quick");
    let runs = if quick {
        1
    } else {
        *matches.get_one::<u32>("runs").expect("defaulted")
    };
    let what = if matches.get_flag("backends") {
        What::Backends
    } else if let Some(names) = matches.get_one::<String>("engine") {
        What::Engines(names.clone())
    } else if let Some(name) = matches.get_one::<String>("engine-set") {
        What::EngineSet(name.clone())
    } else if matches.get_flag("hot-reload") {
        What::HotReload
    } else if matches.get_flag("cold-modules") {
        What::ColdModules
    } else {
        What::Setups
    };
    let check: Option<Vec<String>> = matches.get_one::<String>("check").map(|ids| {
        ids.split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(String::from)
            .collect()
    });
    if let Some(names) = matches.get_one::<String>("stack") {
        return xtask::exit_code(stack_bench(
            ui,
            matches.get_flag("dry-run"),
            names,
            runs,
            quick,
            check.as_deref(),
        ));
    }
    if let Some(file) = matches.get_one::<String>("publish") {
        return xtask::exit_code(publish(ui, matches.get_flag("dry-run"), file));
    }
    xtask::exit_code(run(
        ui,
        matches.get_flag("dry-run"),
        runs,
        quick,
        what,
        check,
    ))
}

/// `--publish FILE`: records a run's bench.json as docs/performance.json, or an engines.json as
/// docs/performance-engines.json, and makes docs/performance.md from what docs/ then records
/// (each written beside and renamed into place).
fn publish(ui: Ui, dry_run: bool, file: &str) -> Result<()> {
    let ws = Workspace::locate()?;
    let read = |file: &str| {
        std::fs::read_to_string(ws.root.join(file)).with_context(|| {
            format!("cannot read {file}; run `cargo xtask bench` (or `bench --engine all`) first, which writes target/bench/bench.json (engines.json)")
        })
    };
    // Several engines.json, of runs on some engines each, are recorded as one.
    let json = if file.contains(',') {
        let runs = file
            .split(',')
            .map(|f| Ok((f.to_string(), read(f)?)))
            .collect::<Result<Vec<_>>>()?;
        report::merge_engines_json(&runs)?
    } else {
        read(file)?
    };
    let engines = serde_json::from_str::<serde_json::Value>(&json)
        .with_context(|| {
            format!("{file} is not JSON; name a bench.json or engines.json the bench wrote")
        })?
        .get("engines")
        .is_some();
    let recorded = if engines {
        PERFORMANCE_ENGINES_JSON
    } else {
        PERFORMANCE_JSON
    };
    let other = if engines {
        PERFORMANCE_JSON
    } else {
        PERFORMANCE_ENGINES_JSON
    };
    let other_json = std::fs::read_to_string(ws.root.join(other)).ok();
    let (bench, engines_json) = if engines {
        (other_json.as_deref(), Some(json.as_str()))
    } else {
        (Some(json.as_str()), other_json.as_deref())
    };
    let page = report::performance_doc(bench, engines_json)?;
    if dry_run {
        println!("# (xtask) record {file} as {recorded} and render {PERFORMANCE_DOC} from it and {other}");
        return Ok(());
    }
    for (path, text) in [(recorded, &json), (PERFORMANCE_DOC, &page)] {
        let path = ws.root.join(path);
        let staging = path.with_extension("new");
        std::fs::write(&staging, text)
            .and_then(|()| std::fs::rename(&staging, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    ui.info(format_args!(
        "{file} recorded as {recorded}; {PERFORMANCE_DOC} made from it and {other}"
    ));
    Ok(())
}

/// The `--check` verdict: nothing, or one line per failure and exit 1.
pub(crate) fn fail_on(failures: &[String]) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    for line in failures {
        eprintln!("xtask: bench --check: {line}");
    }
    anyhow::bail!(
        "bench --check: {} target(s) failed (above): missed beyond this run's noise, or not measured; see the Targets table",
        failures.len()
    )
}

/// `--stack ENGINES`: the stack's start, restart and hot-reload figures (stack.rs).
fn stack_bench(
    ui: Ui,
    dry_run: bool,
    names: &str,
    runs: u32,
    quick: bool,
    check: Option<&[String]>,
) -> Result<()> {
    xtask::signals::install()?;
    let ws = Workspace::locate()?;
    let config = Config::load(&ws.root, &Flags::new())?;
    let ctx = Ctx::new(ws, config, ui, dry_run, Needs::Engine)?;
    stack::measure(&ctx, names, runs, quick, check)
}

/// What one bench process measures.
enum What {
    /// Every setup (before, prod, dev, limit, registry), sizes, GOGC and the xtask's figures.
    Setups,
    /// `--hot-reload`: dev hot reload against the limit.
    HotReload,
    /// `--cold-modules`: both module images from cold, one run against one after the other.
    ColdModules,
    /// `--engine`: the engine set on each named engine, by one child per engine.
    Engines(String),
    /// `--engine-set NAME`: such a child, measuring the engine its environment points at.
    EngineSet(String),
    /// `--backends`: pixie-core's embedded backend against the stack; no engine.
    Backends,
}

fn run(
    ui: Ui,
    dry_run: bool,
    runs: u32,
    quick: bool,
    what: What,
    check: Option<Vec<String>>,
) -> Result<()> {
    xtask::signals::install()?;
    let ws = Workspace::locate()?;
    let config = Config::load(&ws.root, &Flags::new())?;
    if let What::Backends = what {
        return backends::compare(&Ctx::new(ws, config, ui, dry_run, Needs::Nothing)?);
    }
    let ctx = Ctx::new(ws, config, ui, dry_run, Needs::Engine)?;
    if let What::Engines(names) = &what {
        return engines::compare(&ctx, names, runs, quick, check.as_deref());
    }
    // Podman < 5.4 builds the production image through the builder route.
    let old_podman = ctx.engine().cli.route == BuildRoute::Buildah { layer_cache: false };
    // Only the setups run measures the registry round trip (and the extras below).
    let setups = matches!(what, What::Setups);
    let tooling = match Tooling::detect() {
        Ok(tooling) if setups => Some(tooling),
        Err(missing) if setups => {
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            let line = registry::skip_or_fail(&missing, quick, ci && !ctx.dry_run)?;
            eprintln!("xtask: {line}");
            None
        }
        _ => None,
    };
    if matches!(what, What::ColdModules) && ctx.cli().is_podman() {
        anyhow::bail!("bench --cold-modules empties the engine's build cache with `builder prune -af`, which on Podman deletes the local base images too (they cannot be pulled here); run it on a Docker engine (A or B)");
    }
    let turns = match what {
        What::HotReload => hot_reload_schedule(runs),
        What::ColdModules => cold_modules_schedule(runs),
        What::EngineSet(_) => engine_schedule(runs, quick, old_podman),
        _ => schedule(runs, quick, tooling.is_some()),
    };
    // Only the full bench measures the xtask, sizes and the GOGC sweep.
    let extras = !quick && setups;
    if ctx.dry_run {
        print!(
            "# cargo xtask bench: measurements in order (nothing is run in a dry run)\n{}",
            describe_schedule(&turns, !extras)
        );
        return Ok(());
    }
    ctx.engine().daemon_version()?;
    let started = Instant::now();
    let mut bench = Bench::prepare(&ctx, runs, quick, &turns)?;
    bench.results.old_podman = old_podman;
    if let Some(tooling) = tooling {
        // The registry setup times `xtask build-prod`: the xtask's binary, not this one.
        bench.prepare_registry(tooling, xtask_binary(&ctx)?)?;
    }
    if extras {
        bench.measure_xtask(runs)?;
    }
    for turn in &turns {
        bench.measure_turn(turn, runs)?;
    }
    if extras {
        bench.measure_sizes()?;
        bench.measure_gogc(runs)?;
    }
    let took = started.elapsed();
    bench.results.notes.push((
        "duration",
        format!("this bench took {:.1} min", took.as_secs_f64() / 60.0),
    ));
    let mut results = std::mem::take(&mut bench.results);
    let dir = bench.dir.clone();
    drop(bench); // removes the bench's containers, images and volumes before reporting
    let engine = format!(
        "{}; daemon {}",
        ctx.engine().note(),
        ctx.engine().daemon_version()?
    );
    if let What::EngineSet(name) = &what {
        let samples = engines::samples_path(&dir, name);
        // Whole or absent: the parent reads it once this process has exited.
        let partial = samples.with_extension("partial");
        std::fs::write(&partial, results.samples_text(&engine))?;
        std::fs::rename(&partial, &samples)?;
        ctx.ui.info(format_args!(
            "bench: engine {name} took {:.1} min",
            took.as_secs_f64() / 60.0
        ));
        return Ok(());
    }
    results.recorded = Some(Recorded::now(engine));
    let markdown = results.markdown();
    std::fs::write(dir.join("bench.json"), results.json())?;
    std::fs::write(dir.join("bench.md"), &markdown)?;
    print!("{markdown}");
    ctx.ui.info(format_args!(
        "bench took {:.1} min; wrote {} and {}",
        took.as_secs_f64() / 60.0,
        dir.join("bench.md").display(),
        dir.join("bench.json").display()
    ));
    match check {
        Some(ids) => fail_on(&check_failures(&results.targets(), &ids)),
        None => Ok(()),
    }
}

/// The xtask binary beside this one, built (untimed) if cargo has not built it yet.
fn xtask_binary(ctx: &Ctx) -> Result<PathBuf> {
    let step = Step::new("build the xtask", &ctx.host.cargo, &ctx.ws.root).args([
        "build",
        "--quiet",
        "--package",
        "xtask",
    ]);
    measure::timed(step, &ctx.ui.inner())?;
    let dir = std::env::current_exe()?;
    let binary = dir.with_file_name("xtask");
    anyhow::ensure!(
        binary.is_file(),
        "{} is missing after `cargo build --package xtask`",
        binary.display()
    );
    Ok(binary)
}
