//! `cargo xtask bench` (this package, so the everyday xtask never compiles it): measures the
//! build and reload times the design notes only described in words, for four setups on the same
//! machine in one run: `before` (deployments/bench/before.Dockerfile, the slow shape we replaced),
//! `prod` (the xtask's own production build), `dev` (the dev image and air hot reload) and
//! `limit` (host `go build` with a warm cache), plus `registry` (a shared remote builder with a
//! registry cache, see registry.rs) where its tooling is there. Everything happens on a copy of the
//! workspace in target/bench/work; the user's tree is never modified.

mod backends;
mod bench;
mod changes;
mod dev;
mod engines;
mod extras;
mod measure;
mod registry;
mod report;
mod schedule;
mod stack;
mod stats;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Arg, ArgAction};
use xtask::ctx::{Ctx, Needs};
use xtask::plan::Step;
use xtask::settings::{Config, Flags};
use xtask::ui::Ui;
use xtask::workspace::Workspace;

use bench::Bench;
use registry::Tooling;
use report::{Recorded, PERFORMANCE_DOC, PERFORMANCE_JSON};
use schedule::{describe_schedule, engine_schedule, hot_reload_schedule, schedule};

const AFTER_HELP: &str = "\
Setups: before (deployments/bench/before.Dockerfile, the slow shape we replaced), prod (the \
build-prod step), dev (dev image + air hot reload), limit (host `go build`, warm cache), \
registry (build-prod on the shared remote buildx builder with a registry cache: cold pushes with \
--cache-to type=registry,mode=max to a docker-registry on loopback, warm_from_registry rebuilds on \
the emptied builder with --cache-from; needs PIXIE_CI_BUILDER, PIXIE_CI_DOCKER_CONFIG and \
/usr/bin/docker-registry, i.e. `export $(sudo bash .ci/provision-builders)`; skipped without them, \
except that --quick under CI fails). It empties only that builder (`docker buildx prune --builder`).
Scenarios: cold, no_change, code_change, dep_change, proto_change; dev: cold (image build + first \
start with empty Go caches), no_change (cached image + restart), hot_reload (10 edits per run, \
file saved -> new answer on /version). Also: binary and image sizes, a GOGC sweep of the host \
compile (wall time, peak RSS), and the xtask's own cold compile and --help latency.

All builds use a copy of the workspace in target/bench/work; the working tree is never touched.
Images are tagged pixie-bench-*; they, the bench's containers and its volumes are removed at the \
end, also after a failure or Ctrl-C.

WARNING: every cold scenario runs `docker builder prune -af`, which empties the BuildKit cache of \
the whole engine (other projects' build caches included). --quick does it once (prod cold).

Output: a markdown table (printed, and target/bench/bench.md) and target/bench/bench.json, whose \
fields README \"Measured performance\" lists. Only what was measured appears; any failed measurement fails the command (exit 1).";

fn command() -> clap::Command {
    clap::Command::new("cargo xtask bench")
        .bin_name("cargo xtask bench")
        .about("Measure build and hot-reload times of the before/prod/dev/limit setups; writes target/bench/bench.json and a markdown table.")
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
            Arg::new("quick")
                .long("quick")
                .action(ArgAction::SetTrue)
                .help("One run of a subset, to prove the bench works (CI): prod cold/no_change/code_change, limit code_change, dev hot_reload with 3 edits, registry cold/warm_from_registry; no before, sizes, GOGC sweep or xtask figures."),
            Arg::new("engine")
                .long("engine")
                .value_name("ENGINES")
                .conflicts_with("hot-reload")
                .help("Engines side by side (ENGINES: a comma-separated list of a, b, c, or all): on each named engine of the matrix (a: the detected one; b, c: as PIXIE_ENGINE_* configure them, see `bash .ci/provision-engines`), prod code_change and no_change, dev hot_reload and limit code_change, N runs; no cold build, no prune. Writes target/bench/engines.{md,json}."),
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
                .conflicts_with_all(["hot-reload", "quick", "engine", "publish", "engine-set", "backends"])
                .help("Only the stack (--stack full) on each named engine (a, b, c or all; default a): cold start, warm start and `restart core` to ready, N runs, and the run-dev hot reload with the stack up. Writes target/bench/stack.{md,json}."),
            Arg::new("publish")
                .long("publish")
                .value_name("FILE")
                .num_args(0..=1)
                .default_missing_value("target/bench/bench.json")
                .conflicts_with_all(["runs", "quick", "hot-reload", "engine", "engine-set", "backends"])
                .help("Measure nothing: record FILE (a bench.json; default target/bench/bench.json) as docs/performance.json and make docs/performance.md from it."),
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
    } else {
        What::Setups
    };
    if let Some(names) = matches.get_one::<String>("stack") {
        return xtask::exit_code(stack_bench(ui, matches.get_flag("dry-run"), names, runs));
    }
    if let Some(file) = matches.get_one::<String>("publish") {
        return xtask::exit_code(publish(ui, matches.get_flag("dry-run"), file));
    }
    xtask::exit_code(run(ui, matches.get_flag("dry-run"), runs, quick, what))
}

/// `--publish FILE`: records a run's bench.json as docs/performance.json and makes
/// docs/performance.md from it (both written beside and renamed into place).
fn publish(ui: Ui, dry_run: bool, file: &str) -> Result<()> {
    let ws = Workspace::locate()?;
    let json = std::fs::read_to_string(ws.root.join(file)).with_context(|| {
        format!("cannot read {file}; run `cargo xtask bench` first, which writes target/bench/bench.json")
    })?;
    let page = report::performance_doc(Some(&json))?;
    if dry_run {
        println!(
            "# (xtask) record {file} as {PERFORMANCE_JSON} and render {PERFORMANCE_DOC} from it"
        );
        return Ok(());
    }
    for (path, text) in [(PERFORMANCE_JSON, &json), (PERFORMANCE_DOC, &page)] {
        let path = ws.root.join(path);
        let staging = path.with_extension("new");
        std::fs::write(&staging, text)
            .and_then(|()| std::fs::rename(&staging, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    ui.info(format_args!(
        "{file} recorded as {PERFORMANCE_JSON}; {PERFORMANCE_DOC} made from it"
    ));
    Ok(())
}

/// `--stack ENGINES`: the stack's start, restart and hot-reload figures (stack.rs).
fn stack_bench(ui: Ui, dry_run: bool, names: &str, runs: u32) -> Result<()> {
    xtask::signals::install()?;
    let ws = Workspace::locate()?;
    let config = Config::load(&ws.root, &Flags::new())?;
    let ctx = Ctx::new(ws, config, ui, dry_run, Needs::Engine)?;
    stack::measure(&ctx, names, runs)
}

/// What one bench process measures.
enum What {
    /// Every setup (before, prod, dev, limit, registry), sizes, GOGC and the xtask's figures.
    Setups,
    /// `--hot-reload`: dev hot reload against the limit.
    HotReload,
    /// `--engine`: the engine set on each named engine, by one child per engine.
    Engines(String),
    /// `--engine-set NAME`: such a child, measuring the engine its environment points at.
    EngineSet(String),
    /// `--backends`: pixie-core's embedded backend against the stack; no engine.
    Backends,
}

fn run(ui: Ui, dry_run: bool, runs: u32, quick: bool, what: What) -> Result<()> {
    xtask::signals::install()?;
    let ws = Workspace::locate()?;
    let config = Config::load(&ws.root, &Flags::new())?;
    if let What::Backends = what {
        return backends::compare(&Ctx::new(ws, config, ui, dry_run, Needs::Nothing)?);
    }
    let ctx = Ctx::new(ws, config, ui, dry_run, Needs::Engine)?;
    if let What::Engines(names) = &what {
        return engines::compare(&ctx, names, runs, quick);
    }
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
    let turns = match what {
        What::HotReload => hot_reload_schedule(runs),
        What::EngineSet(_) => engine_schedule(runs),
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
    Ok(())
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
