//! `bench`: measures the build and reload times the design notes only described in words, for
//! four setups on the same machine in one run: `before` (deployments/bench/before.Dockerfile,
//! the slow shape we replaced), `prod` (the xtask's own production build step), `dev` (the dev
//! image and air hot reload) and `limit` (host `go build` with a warm cache), plus `registry`
//! (a shared remote builder with a registry cache, see bench/registry.rs) where its tooling is
//! there. Everything happens on a copy of the workspace in target/bench/work; the user's tree is
//! never modified.

mod measure;
mod registry;
mod report;
mod stats;
mod work;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use super::build::{build_step, Target};
use super::Ctx;
use crate::config::{Config, Setting, Source};
use crate::exec::{self, Interrupted, Ui};
use crate::plan::Step;
use crate::workspace::{Workspace, BENCH_DOCKERFILE as BEFORE_DOCKERFILE};
use measure::{timed, with_build_flags};
use registry::{RegistryBench, Tooling};
use report::{GogcSamples, Results, Scenario, Setup};
use work::{DependencyBump, ProtoRegen, WorkCopy};

/// GOGC values of the sweep; empty is Go's default (unset).
const GOGC_VALUES: [&str; 5] = ["", "100", "200", "400", "off"];
const HELP_RUNS: usize = 20;
const CARGO_HELP_RUNS: usize = 5;
/// Slow first answers: the dev container's first start downloads modules and compiles everything.
const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(900);
const RELOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Args, Debug)]
#[command(after_long_help = "\
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

Output: a markdown table (printed, and target/bench/bench.md) and target/bench/bench.json:
  {\"before\"|\"prod\"|\"dev\"|\"limit\": {SCENARIO: {\"median_s\", \"min_s\", \"max_s\", \"p95_s\", \"n\"}},
   \"registry\": {\"cold\"|\"warm_from_registry\": {\"median_s\", \"min_s\", \"max_s\", \"p95_s\", \"n\"}},
   \"sizes\": {\"binary_unstripped_bytes\", \"binary_stripped_bytes\", \"prod_binary_bytes\",
             \"runtime_base_image_bytes\", \"before_image_bytes\", \"prod_image_bytes\",
             \"prod_scratch_image_bytes\", \"dev_image_bytes\"},
   \"gogc_sweep\": {\"default\"|\"100\"|\"200\"|\"400\"|\"off\": {\"median_s\", \"min_s\", \"max_s\", \"p95_s\",
                  \"n\", \"peak_rss_mib\"}},
   \"xtask\": {\"cold_compile\"|\"help_binary\"|\"help_cargo\": {\"median_s\", \"min_s\", \"max_s\", \"p95_s\", \"n\"}},
   \"meta\": {\"runs\", \"quick\", \"notes\": {...}}}
Only what was measured appears; any failed measurement fails the command (exit 1).")]
pub struct BenchArgs {
    /// Runs per setup and scenario (round-robin over the setups, to spread machine noise).
    #[arg(short = 'n', long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// One run of a subset, to prove the bench works (CI): prod cold/no_change/code_change,
    /// limit code_change, dev hot_reload with 3 edits, registry cold/warm_from_registry; no before,
    /// sizes, GOGC sweep or xtask figures.
    #[arg(long)]
    pub quick: bool,
}

/// One setup's scenarios in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Turn {
    run: u32,
    setup: Setup,
    scenarios: &'static [Scenario],
}

fn scenarios(setup: Setup, quick: bool) -> &'static [Scenario] {
    use Scenario::*;
    match (setup, quick) {
        (Setup::Before | Setup::Prod | Setup::Limit, false) => {
            &[Cold, NoChange, CodeChange, DepChange, ProtoChange]
        }
        (Setup::Dev, false) => &[Cold, NoChange, HotReload],
        (Setup::Before, true) => &[],
        (Setup::Prod, true) => &[Cold, NoChange, CodeChange],
        (Setup::Dev, true) => &[HotReload],
        (Setup::Limit, true) => &[CodeChange],
        (Setup::Registry, _) => &[Cold, WarmFromRegistry],
    }
}

/// Round-robin: every setup once per run, so slow drifts of the machine hit them all alike.
/// `registry`: whether the registry setup's tooling is there.
fn schedule(runs: u32, quick: bool, registry: bool) -> Vec<Turn> {
    // Quick: dev first, so its image builds from the warm cache before prod's cold build prunes it.
    let order: &[Setup] = if quick {
        &[Setup::Dev, Setup::Prod, Setup::Limit, Setup::Registry]
    } else {
        &Setup::ALL
    };
    (1..=runs)
        .flat_map(|run| {
            let order = order
                .iter()
                .filter(move |&&s| registry || s != Setup::Registry);
            order.map(move |&setup| Turn {
                run,
                setup,
                scenarios: scenarios(setup, quick),
            })
        })
        .filter(|turn| !turn.scenarios.is_empty())
        .collect()
}

fn describe_schedule(turns: &[Turn], quick: bool) -> String {
    let mut text = String::new();
    if !quick {
        text.push_str("first: xtask cold compile (each run) and --help latency\n");
    }
    for turn in turns {
        let names: Vec<&str> = turn.scenarios.iter().map(|s| s.key()).collect();
        text.push_str(&format!(
            "run {}: {}: {}\n",
            turn.run,
            turn.setup.key(),
            names.join(", ")
        ));
    }
    if !quick {
        text.push_str(
            "then: sizes (binaries, images), GOGC sweep (default, 100, 200, 400, off; each run)\n",
        );
    }
    text
}

pub fn run(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    let runs = if args.quick { 1 } else { args.runs };
    let tooling = match Tooling::detect() {
        Ok(tooling) => Some(tooling),
        Err(missing) => {
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
            let line = registry::skip_or_fail(&missing, args.quick, ci && !ctx.dry_run)?;
            eprintln!("xtask: {line}");
            None
        }
    };
    let turns = schedule(runs, args.quick, tooling.is_some());
    if ctx.dry_run {
        print!(
            "# cargo xtask bench: measurements in order (nothing is run in a dry run)\n{}",
            describe_schedule(&turns, args.quick)
        );
        return Ok(());
    }
    ctx.engine.daemon_version()?;
    let started = Instant::now();
    let mut bench = Bench::prepare(ctx, runs, args.quick, &turns)?;
    if let Some(tooling) = tooling {
        bench.prepare_registry(tooling)?;
    }
    if !args.quick {
        bench.measure_xtask(runs)?;
    }
    for turn in &turns {
        bench.measure_turn(turn, runs)?;
    }
    if !args.quick {
        bench.measure_sizes()?;
        bench.measure_gogc(runs)?;
    }
    let took = started.elapsed();
    bench.results.notes.push((
        "duration",
        format!("this bench took {:.1} min", took.as_secs_f64() / 60.0),
    ));
    let results = std::mem::take(&mut bench.results);
    let dir = bench.dir.clone();
    drop(bench); // removes the bench's containers, images and volumes before reporting
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

/// The dev container the hot-reload measurements talk to.
struct DevContainer {
    name: String,
    port: u16,
    build_volume: String,
    module_volume: String,
    running: bool,
}

struct Bench<'a> {
    ctx: &'a Ctx,
    /// The same settings with the copy as workspace and pixie-bench-* image tags.
    copy: Ctx,
    work: WorkCopy,
    /// target/bench
    dir: PathBuf,
    /// For the inner one-step plans: silent unless -v, errors always shown.
    ui: Ui,
    before_image: String,
    dev: DevContainer,
    bump: Option<DependencyBump>,
    proto: ProtoRegen,
    /// Setups that have built at least once (the others need a warm-up before a warm scenario).
    warm: BTreeSet<Setup>,
    hot_reload_edits: u32,
    /// The registry setup's registry and base images, when its tooling is there.
    registry: Option<RegistryBench>,
    results: Results,
}

impl<'a> Bench<'a> {
    fn prepare(ctx: &'a Ctx, runs: u32, quick: bool, turns: &[Turn]) -> Result<Bench<'a>> {
        let dir = ctx.ws.path("target/bench");
        std::fs::create_dir_all(&dir)?;
        // build_info() asks git about the workspace; the copy lives inside this repository, and a
        // stamp that follows its dirty state would make "no change" rebuilds recompile. Stop git
        // at target/bench: the copy has no repository, so the stamp is a constant.
        std::env::set_var("GIT_CEILING_DIRECTORIES", &dir);
        let work = WorkCopy::create(&ctx.ws.root, dir.join("work"))?;
        for output in ["limit", "unstripped", "gogc"] {
            std::fs::create_dir_all(dir.join("out").join(output))?;
        }
        let id = std::process::id();
        let copy = Ctx {
            ws: Workspace {
                root: work.root.clone(),
            },
            config: bench_config(&ctx.config),
            engine: ctx.engine.clone(),
            ui: ctx.ui,
            dry_run: false,
            plain_progress: true,
        };
        let dev = DevContainer {
            name: format!("pixie-bench-dev-{id}"),
            port: measure::free_port()?,
            build_volume: format!("pixie-bench-go-build-{id}"),
            module_volume: format!("pixie-bench-go-mod-{id}"),
            running: false,
        };
        let needs = |scenario: Scenario| turns.iter().any(|t| t.scenarios.contains(&scenario));
        let mut bench = Bench {
            ctx,
            copy,
            dir,
            ui: Ui {
                quiet: !ctx.ui.verbose,
                verbose: ctx.ui.verbose,
            },
            before_image: bench_tag("before"),
            dev,
            bump: None,
            proto: ProtoRegen::CommentEdit,
            warm: BTreeSet::new(),
            hot_reload_edits: if quick { 3 } else { 10 },
            registry: None,
            results: Results {
                runs,
                quick,
                ..Results::default()
            },
            work,
        };
        bench.note_setup();
        if needs(Scenario::DepChange) {
            bench.prepare_dependency_bump()?;
        }
        if needs(Scenario::ProtoChange) {
            bench.prepare_proto_regen()?;
        }
        Ok(bench)
    }

    fn note_setup(&mut self) {
        let ctx = self.ctx;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kib: u64 = m.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
                Some(format!("{:.1} GiB RAM", kib as f64 / 1024.0 / 1024.0))
            })
            .unwrap_or_default();
        let gogc = &ctx.config.gogc.value.0;
        let notes = &mut self.results.notes;
        notes.push((
            "machine",
            format!(
                "{cores} cores, {memory}; {}; docker engine {}",
                ctx.engine_note(),
                ctx.engine.daemon_version().unwrap_or_default()
            ),
        ));
        notes.push((
            "base images",
            format!(
                "GO_IMAGE={}, RUNTIME_IMAGE={} (passed to every docker build)",
                ctx.config.go_image.value, ctx.config.runtime_image.value
            ),
        ));
        notes.push(("cold", "docker setups: `docker builder prune -af` (the whole engine's BuildKit cache, cache mounts included), then --no-cache; limit: a fresh GOCACHE, the host module cache stays warm".into()));
        notes.push(("code change", "one line of core/internal/buildinfo/buildinfo.go (`Version = \"bench-N\"`), the value /version serves".into()));
        notes.push(("dev", "cold = dev image build with no cache + first start with empty Go cache volumes until /version answers; no_change = cached image rebuild + restart with warm volumes until it answers; hot reload = the code change saved on the host (bind mount, as compose.dev.yaml) until /version serves the new value, polled every 20 ms".into()));
        notes.push(("limit", "host `go build -trimpath -ldflags \"-s -w -buildid=\"` (the production flags), CGO_ENABLED=0, the bench's own GOCACHE in target/bench/gocache".into()));
        notes.push((
            "prod GOGC",
            if gogc.is_empty() {
                "unset (Go's default), as configured".into()
            } else {
                format!("{gogc}, as configured")
            },
        ));
        notes.push(("noise", "other users of this Docker engine and machine (CI runs, tests) are not paused; their load shows up as spread".into()));
    }

    fn prepare_registry(&mut self, tooling: Tooling) -> Result<()> {
        self.ctx
            .ui
            .info("bench: starting docker-registry, pushing the base images to it");
        let registry = RegistryBench::prepare(self.ctx, tooling, &self.ui)?;
        self.results.notes.push(("registry", registry.note()));
        self.registry = Some(registry);
        Ok(())
    }

    fn prepare_dependency_bump(&mut self) -> Result<()> {
        let core = self.work.core();
        let go = |args: &[&str]| -> Result<String> {
            let out = duct::cmd("go", args)
                .dir(&core)
                .env("GOFLAGS", "-mod=mod")
                .env("GOWORK", "off")
                .env("GOTOOLCHAIN", "local")
                .stderr_capture()
                .stdout_capture()
                .unchecked()
                .run()?;
            if !out.status.success() {
                bail!(
                    "`go {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let used = go(&[
            "list",
            "-deps",
            "-f",
            "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}",
            "./cmd/pixie-core",
        ])?;
        let mut modules: Vec<&str> = used.lines().filter(|l| !l.is_empty()).collect();
        modules.sort_unstable();
        modules.dedup();
        let mut args = vec![
            "list",
            "-m",
            "-u",
            "-f",
            "{{.Indirect}} {{.Path}} {{.Version}}{{with .Update}} {{.Version}}{{end}}",
        ];
        args.extend(&modules);
        let listed = go(&args)?;
        // Prefer a direct requirement ("false" sorts before "true").
        let mut candidates: Vec<Vec<&str>> = listed
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|fields| fields.len() == 4)
            .collect();
        candidates.sort();
        let Some(chosen) = candidates.first() else {
            bail!("no module the build uses has a newer version on the proxy, so the dep-change scenario has nothing to bump; run with --quick, or add a module that has one");
        };
        let bump = self.work.prepare_bump(chosen[1], chosen[2], chosen[3])?;
        let lines = work::changed_requirements(&bump);
        self.results.notes.push(("dependency change", format!(
            "{} {} ⇄ {}, alternating (go.mod lines that change: {}); docker setups download it inside the build, limit finds it in the host module cache (`go get` fetched it beforehand)",
            bump.module, bump.from, bump.to, lines.join("; ")
        )));
        self.bump = Some(bump);
        Ok(())
    }

    /// protoc with the protoc-gen-go of go.mod's protobuf version when possible, else the comment
    /// stand-in; either way the report says which.
    fn prepare_proto_regen(&mut self) -> Result<()> {
        let tools = self.dir.join("tools");
        let installed = which::which("protoc").is_ok()
            && duct::cmd!(
                "go",
                "install",
                "google.golang.org/protobuf/cmd/protoc-gen-go"
            )
            .dir(self.work.core())
            .env("GOBIN", &tools)
            .env("GOFLAGS", "-mod=mod")
            .env("GOWORK", "off")
            .stderr_capture()
            .stdout_capture()
            .unchecked()
            .run()
            .is_ok_and(|o| o.status.success());
        let note = if installed {
            self.proto = ProtoRegen::Protoc {
                plugin: tools.join("protoc-gen-go"),
            };
            "a string field added to message Photo in proto/photo/v1/photo.proto and core/gen/photo/v1/photo.pb.go regenerated with protoc + protoc-gen-go (go.mod's version)"
        } else {
            "a string field added to message Photo in proto/photo/v1/photo.proto; protoc or protoc-gen-go is not available here, so a comment appended to core/gen/photo/v1/photo.pb.go stands in for regeneration"
        };
        self.results.notes.push(("proto change", note.into()));
        Ok(())
    }

    fn measure_turn(&mut self, turn: &Turn, runs: u32) -> Result<()> {
        let outcome = self.run_turn(turn, runs);
        // The dev container must not rebuild in the background while other setups are timed.
        let stopped = self.stop_dev();
        outcome.and(stopped)
    }

    fn run_turn(&mut self, turn: &Turn, runs: u32) -> Result<()> {
        for &scenario in turn.scenarios {
            if exec::interrupted() {
                return Err(Interrupted.into());
            }
            if turn.setup == Setup::Dev && scenario == Scenario::HotReload {
                self.measure_hot_reload(turn.run, runs)?;
                continue;
            }
            let needs_warm_up = !matches!(scenario, Scenario::Cold | Scenario::WarmFromRegistry);
            if needs_warm_up && !self.warm.contains(&turn.setup) {
                self.warm_up(turn.setup)?;
            }
            let seconds = match turn.setup {
                Setup::Dev => self.dev_start(scenario == Scenario::Cold)?,
                Setup::Registry => {
                    let registry = self.registry.as_ref().context("no registry prepared")?;
                    let cold = scenario == Scenario::Cold;
                    registry.build(&self.copy.ws.root, turn.run, cold, &self.ui)?
                }
                setup => {
                    self.apply_change(scenario)?;
                    self.build(setup, scenario == Scenario::Cold)?
                }
            };
            self.warm.insert(turn.setup);
            self.results.record(turn.setup, scenario, seconds);
            self.ctx.ui.info(format_args!(
                "bench: run {}/{runs} {} {}: {seconds:.2} s",
                turn.run,
                turn.setup.key(),
                scenario.key()
            ));
        }
        Ok(())
    }

    fn apply_change(&mut self, scenario: Scenario) -> Result<()> {
        match scenario {
            Scenario::CodeChange => {
                self.work.edit_code()?;
            }
            Scenario::DepChange => {
                let bump = self.bump.as_mut().context("no dependency bump prepared")?;
                self.work.toggle_dependency(bump)?;
            }
            Scenario::ProtoChange => self.work.edit_proto(&self.proto)?,
            Scenario::Cold
            | Scenario::NoChange
            | Scenario::HotReload
            | Scenario::WarmFromRegistry => {}
        }
        Ok(())
    }

    /// An untimed build (dev: a running container) so the first warm scenario has a cache.
    fn warm_up(&mut self, setup: Setup) -> Result<()> {
        self.ctx.ui.info(format_args!(
            "bench: warming up {} (not timed)",
            setup.key()
        ));
        match setup {
            Setup::Dev => {
                self.dev_start(false)?;
            }
            setup => {
                self.build(setup, false)?;
            }
        }
        self.warm.insert(setup);
        Ok(())
    }

    /// One timed build of a build setup; `cold` first empties its caches (not timed).
    fn build(&self, setup: Setup, cold: bool) -> Result<f64> {
        if cold {
            self.empty_caches(setup)?;
        }
        let step = match setup {
            Setup::Before => {
                measure::docker_build(&self.copy, BEFORE_DOCKERFILE, &self.before_image)
            }
            Setup::Prod => build_step(&self.copy, Target::Prod)?,
            Setup::Limit => self.limit_step(),
            Setup::Dev => unreachable!("dev builds its image in dev_start"),
            Setup::Registry => unreachable!("registry builds through RegistryBench::build"),
        };
        let step = match setup {
            Setup::Limit => step,
            _ if cold => with_build_flags(step, &["--no-cache"]),
            _ => with_build_flags(step, &[]),
        };
        timed(step, &self.ui)
    }

    fn empty_caches(&self, setup: Setup) -> Result<()> {
        if setup == Setup::Limit {
            let cache = self.dir.join("gocache");
            if cache.exists() {
                std::fs::remove_dir_all(&cache)?;
            }
            return Ok(());
        }
        let prune = Step::new(
            "prune the BuildKit cache",
            &self.ctx.cli().path,
            &self.copy.ws.root,
        )
        .args(["builder", "prune", "-af"])
        .envs(self.ctx.docker_env());
        timed(prune, &self.ui).map(drop)
    }

    /// Host `go build` with the production flags, into target/bench/out.
    fn limit_step(&self) -> Step {
        Step::new("host go build", "go", self.work.core())
            .args(["build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o"])
            .arg(self.dir.join("out/limit/pixie-core").display().to_string())
            .arg("./cmd/pixie-core")
            .envs(host_go_env(&self.dir.join("gocache")))
    }

    /// (Re)starts the dev container and waits for its first answer; returns the seconds taken by
    /// the image build plus the start. `cold` empties every cache first (not timed).
    fn dev_start(&mut self, cold: bool) -> Result<f64> {
        self.stop_dev()?;
        if cold {
            self.empty_caches(Setup::Dev)?;
            for volume in [&self.dev.build_volume, &self.dev.module_volume] {
                let remove = Step::new(
                    "remove a dev cache volume",
                    &self.ctx.cli().path,
                    &self.copy.ws.root,
                )
                .args(["volume", "rm", "-f", volume]);
                timed(remove, &self.ui)?;
            }
        }
        let flags: &[&str] = if cold { &["--no-cache"] } else { &[] };
        let image = with_build_flags(build_step(&self.copy, Target::Dev)?, flags);
        let build_seconds = timed(image, &self.ui)?;
        let started = Instant::now();
        timed(self.dev_run_step(), &self.ui)?;
        self.dev.running = true;
        let start_seconds = measure::wait_for_answer(
            self.dev.port,
            "/version",
            started,
            FIRST_ANSWER_TIMEOUT,
            |_| true,
        )?;
        Ok(build_seconds + start_seconds)
    }

    /// `docker run` of the dev image with the mounts of compose.dev.yaml (the copy's core/ and
    /// proto/, Go caches in volumes); /data stays in the container, the bench needs no state.
    fn dev_run_step(&self) -> Step {
        let dev = &self.dev;
        let root = &self.copy.ws.root;
        Step::new("start the dev container", &self.ctx.cli().path, root)
            .args(["run", "--detach", "--init", "--name", &dev.name])
            .args(["--publish", &format!("127.0.0.1:{}:8080", dev.port)])
            .args([
                "--volume",
                &format!("{}:/src/core", root.join("core").display()),
            ])
            .args([
                "--volume",
                &format!("{}:/src/proto:ro", root.join("proto").display()),
            ])
            .args([
                "--volume",
                &format!("{}:/root/.cache/go-build", dev.build_volume),
            ])
            .args(["--volume", &format!("{}:/go/pkg/mod", dev.module_volume)])
            .args(["--env", "PIXIE_LOG_LEVEL=info"])
            .arg(self.copy.config.dev_image.value.clone())
    }

    fn stop_dev(&mut self) -> Result<()> {
        if !self.dev.running {
            return Ok(());
        }
        let remove = Step::new(
            "remove the dev container",
            &self.ctx.cli().path,
            &self.copy.ws.root,
        )
        .args(["rm", "-f", &self.dev.name]);
        timed(remove, &self.ui)?;
        self.dev.running = false;
        Ok(())
    }

    /// Saves one-line edits on the host and times each until /version serves the new value.
    fn measure_hot_reload(&mut self, run: u32, runs: u32) -> Result<()> {
        if !self.dev.running {
            self.warm_up(Setup::Dev)?;
        }
        let mut seconds = Vec::new();
        for _ in 0..self.hot_reload_edits {
            // Let air settle after the previous restart, so each edit is a reload of its own.
            std::thread::sleep(Duration::from_millis(500));
            let marker = self.work.edit_code()?;
            let saved = Instant::now();
            let expected = format!("\"version\":\"{marker}\"");
            let took = measure::wait_for_answer(
                self.dev.port,
                "/version",
                saved,
                RELOAD_TIMEOUT,
                |body| body.contains(&expected),
            )
            .with_context(|| {
                format!(
                    "the dev container did not serve {marker} after the edit; see `docker logs {}`",
                    self.dev.name
                )
            })?;
            self.results.record(Setup::Dev, Scenario::HotReload, took);
            seconds.push(format!("{took:.2}"));
        }
        self.ctx.ui.info(format_args!(
            "bench: run {run}/{runs} dev hot_reload: {} s",
            seconds.join(", ")
        ));
        Ok(())
    }

    fn measure_sizes(&mut self) -> Result<()> {
        self.ctx.ui.info("bench: sizes");
        let out = self.dir.join("out");
        let engine = &self.ctx.engine;
        // The limit binary is the stripped one; a plain `go build` is what before and air produce.
        let unstripped = out.join("unstripped/pixie-core");
        timed(
            Step::new("host go build (no flags)", "go", self.work.core())
                .args(["build", "-o"])
                .arg(unstripped.display().to_string())
                .arg("./cmd/pixie-core")
                .envs(host_go_env(&self.dir.join("gocache"))),
            &self.ui,
        )?;
        self.results.sizes.binary_unstripped = Some(measure::file_size(&unstripped)?);
        self.results.sizes.binary_stripped =
            Some(measure::file_size(&out.join("limit/pixie-core"))?);
        let exported = out.join("prod-binary");
        let dest = format!("type=local,dest={}", exported.display());
        timed(
            measure::exporting(build_step(&self.copy, Target::Prod)?, "binary", &dest),
            &self.ui,
        )?;
        self.results.sizes.prod_binary = Some(measure::file_size(&exported.join("pixie-core"))?);
        let mut scratch = self.copy.config.clone();
        scratch.runtime_image = bench_setting("scratch".into());
        scratch.prod_image = bench_setting(bench_tag("prod-scratch"));
        let scratch_ctx = Ctx {
            ws: self.copy.ws.clone(),
            config: scratch,
            engine: engine.clone(),
            ui: self.copy.ui,
            dry_run: false,
            plain_progress: true,
        };
        timed(
            with_build_flags(build_step(&scratch_ctx, Target::Prod)?, &[]),
            &self.ui,
        )?;
        let size = |image: &str| {
            engine
                .image_size(image)
                .with_context(|| format!("cannot read the size of image {image}"))
        };
        let sizes = &mut self.results.sizes;
        sizes.prod_scratch_image = Some(size(&scratch_ctx.config.prod_image.value)?);
        sizes.prod_image = Some(size(&self.copy.config.prod_image.value)?);
        sizes.before_image = Some(size(&self.before_image)?);
        sizes.dev_image = Some(size(&self.copy.config.dev_image.value)?);
        sizes.runtime_base_image = Some(size(&self.ctx.config.runtime_image.value)?);
        Ok(())
    }

    /// The host compile with each GOGC value, a fresh GOCACHE every time so the compiler works.
    fn measure_gogc(&mut self, runs: u32) -> Result<()> {
        let cache = self.dir.join("gocache-gogc");
        let mut sweep: Vec<GogcSamples> = GOGC_VALUES
            .iter()
            .map(|v| GogcSamples {
                value: v.to_string(),
                seconds: Vec::new(),
                peak_rss_kib: Vec::new(),
            })
            .collect();
        for run in 1..=runs {
            for samples in &mut sweep {
                if cache.exists() {
                    std::fs::remove_dir_all(&cache)?;
                }
                let mut command = Command::new("go");
                command
                    .current_dir(self.work.core())
                    .args(["build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o"])
                    .arg(self.dir.join("out/gogc/pixie-core"))
                    .arg("./cmd/pixie-core")
                    .envs(host_go_env(&cache))
                    .env_remove("GOGC")
                    .env_remove("GOMEMLIMIT");
                if !samples.value.is_empty() {
                    command.env("GOGC", &samples.value);
                }
                let usage = measure::run_with_usage(command, "go build (GOGC sweep)")?;
                self.ctx.ui.info(format_args!(
                    "bench: run {run}/{runs} GOGC={}: {:.2} s, peak RSS {} MiB",
                    if samples.value.is_empty() {
                        "(default)"
                    } else {
                        &samples.value
                    },
                    usage.seconds,
                    usage.peak_rss_kib / 1024
                ));
                samples.seconds.push(usage.seconds);
                samples.peak_rss_kib.push(usage.peak_rss_kib);
            }
        }
        self.results.gogc = sweep;
        Ok(())
    }

    /// Cold compile of the xtask crate into its own target folder, then `--help` latencies.
    fn measure_xtask(&mut self, runs: u32) -> Result<()> {
        let target = self.dir.join("xtask-target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target_env = [("CARGO_TARGET_DIR", target.display().to_string())];
        for run in 1..=runs {
            if target.exists() {
                std::fs::remove_dir_all(&target)?;
            }
            let step = Step::new("cargo build -p xtask (cold)", &cargo, &self.ctx.ws.root)
                .args(["build", "--package", "xtask"])
                .envs(target_env.clone());
            let seconds = timed(step, &self.ui)?;
            self.ctx.ui.info(format_args!(
                "bench: run {run}/{runs} xtask cold compile: {seconds:.1} s"
            ));
            self.results.xtask.cold_compile.push(seconds);
        }
        let binary = target.join("debug/xtask");
        let mut help = Command::new(&binary);
        help.arg("--help");
        self.results.xtask.help_binary = time_repeatedly(help, HELP_RUNS)?;
        let mut cargo_help = Command::new(&cargo);
        cargo_help
            .current_dir(&self.ctx.ws.root)
            .args(["xtask", "--help"])
            .envs(target_env);
        self.results.xtask.help_cargo = time_repeatedly(cargo_help, CARGO_HELP_RUNS)?;
        Ok(())
    }
}

/// Removes what the bench created in the engine on every exit path: success, a failed
/// measurement, Ctrl-C (the error unwinds through here) or a panic. Plain commands rather than
/// a plan: after Ctrl-C, `exec::run` would skip them.
impl Drop for Bench<'_> {
    fn drop(&mut self) {
        self.ctx
            .ui
            .info("bench: removing its container, pixie-bench-* images and volumes");
        // Removal is attempted blindly: "no such" is the normal case, anything else (the daemon
        // restarting, say) is reported with the command to finish the job by hand.
        let remove = |args: &[&str]| {
            let output = Command::new(&self.ctx.cli().path)
                .args(args)
                .stdin(std::process::Stdio::null())
                .output();
            let gone = output.as_ref().is_ok_and(|o| {
                o.status.success()
                    || String::from_utf8_lossy(&o.stderr)
                        .to_lowercase()
                        .contains("no such")
            });
            if !gone {
                eprintln!(
                    "xtask: bench: cleanup failed; run `docker {}`",
                    args.join(" ")
                );
            }
        };
        // The container first: it holds the image and the volumes.
        remove(&["rm", "-f", &self.dev.name]);
        for image in [
            &self.before_image,
            &self.copy.config.prod_image.value,
            &self.copy.config.dev_image.value,
            &bench_tag("prod-scratch"),
        ] {
            remove(&["rmi", image]);
        }
        remove(&[
            "volume",
            "rm",
            &self.dev.build_volume,
            &self.dev.module_volume,
        ]);
    }
}

/// Wall time of each of `times` runs of a short command that must succeed.
fn time_repeatedly(mut command: Command, times: usize) -> Result<Vec<f64>> {
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let mut seconds = Vec::with_capacity(times);
    // One untimed run first: "warm" means caches and any rebuild cargo decides on are done.
    for run in 0..=times {
        if exec::interrupted() {
            return Err(Interrupted.into());
        }
        let started = Instant::now();
        let output = command.output().context("cannot run the xtask binary")?;
        if run > 0 {
            seconds.push(started.elapsed().as_secs_f64());
        }
        if !output.status.success() {
            bail!(
                "{:?} failed: {}",
                command,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    Ok(seconds)
}

/// Environment of every host `go build` the bench times.
fn host_go_env(cache: &Path) -> Vec<(String, String)> {
    vec![
        ("GOCACHE".into(), cache.display().to_string()),
        ("CGO_ENABLED".into(), "0".into()),
        ("GOFLAGS".into(), "-buildvcs=false".into()),
        ("GOTOOLCHAIN".into(), "local".into()),
        ("GOWORK".into(), "off".into()),
    ]
}

fn bench_setting(value: String) -> Setting<String> {
    Setting {
        value,
        source: Source::Default,
    }
}

/// A tag unique to this bench process, so concurrent runs and the user's images never collide.
fn bench_tag(what: &str) -> String {
    format!("pixie-bench-{what}:{}", std::process::id())
}

/// The user's settings (base images, GOGC...) with the bench's own image tags.
fn bench_config(config: &Config) -> Config {
    let mut config = config.clone();
    config.prod_image = bench_setting(bench_tag("prod"));
    config.dev_image = bench_setting(bench_tag("dev"));
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_alternate_setups_round_robin() {
        let turns = schedule(2, false, false);
        let order: Vec<(u32, &str)> = turns.iter().map(|t| (t.run, t.setup.key())).collect();
        assert_eq!(
            order,
            [
                (1, "before"),
                (1, "prod"),
                (1, "dev"),
                (1, "limit"),
                (2, "before"),
                (2, "prod"),
                (2, "dev"),
                (2, "limit")
            ]
        );
        assert_eq!(
            turns[0].scenarios[0],
            Scenario::Cold,
            "every setup starts cold in every run"
        );
        assert!(turns[2].scenarios.contains(&Scenario::HotReload));
    }

    #[test]
    fn quick_is_one_run_of_a_subset_without_before() {
        let turns = schedule(1, true, false);
        let text = describe_schedule(&turns, true);
        assert_eq!(
            text,
            "run 1: dev: hot_reload\nrun 1: prod: cold, no_change, code_change\nrun 1: limit: code_change\n"
        );
    }

    #[test]
    fn registry_runs_last_in_each_round_when_its_tooling_is_there() {
        let quick = describe_schedule(&schedule(1, true, true), true);
        assert!(
            quick.ends_with(
                "run 1: limit: code_change\nrun 1: registry: cold, warm_from_registry\n"
            ),
            "{quick}"
        );
        let full: Vec<(u32, &str)> = schedule(2, false, true)
            .iter()
            .map(|t| (t.run, t.setup.key()))
            .filter(|(_, key)| *key == "limit" || *key == "registry")
            .collect();
        assert_eq!(
            full,
            [(1, "limit"), (1, "registry"), (2, "limit"), (2, "registry")]
        );
    }

    #[test]
    fn bench_builds_use_the_configured_base_images_with_bench_tags() {
        let ctx = crate::commands::tests::ctx_with(
            crate::engine::BuildRoute::BuiltIn,
            &[("PIXIE_GO_IMAGE", "pixie-base/go:1.26.8")],
            crate::config::Overrides::default(),
        );
        let copy = Ctx {
            ws: ctx.ws.clone(),
            config: bench_config(&ctx.config),
            engine: ctx.engine.clone(),
            ui: ctx.ui,
            dry_run: true,
            plain_progress: true,
        };
        let step = with_build_flags(build_step(&copy, Target::Prod).unwrap(), &["--no-cache"]);
        assert_eq!(step.flag_value("--tag"), Some(bench_tag("prod").as_str()));
        assert!(step
            .flag_values("--build-arg")
            .any(|a| a == "GO_IMAGE=pixie-base/go:1.26.8"));
        assert_eq!(&step.args[step.args.len() - 2..], ["--no-cache", "."]);
    }
}
