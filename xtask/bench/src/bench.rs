//! The bench's state for one run: the workspace copy, the user's settings with the bench's own
//! image tags, the results; and the build setups' turns (before, prod, limit, registry).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use xtask::ctx::Ctx;
use xtask::docker::untagged::MadeImages;
use xtask::host::Host;
use xtask::settings::{self, Config, Value};
use xtask::signals::{self, Interrupted};
use xtask::target::Target;
use xtask::testkit::free_port;
use xtask::ui::Ui;
use xtask::workspace::Workspace;

use crate::builds::before_tag;
use crate::dev::DevContainer;
use crate::floor::NullModule;
use crate::registry::{RegistryBench, Tooling};
use crate::report::{Results, Scenario, Setup};
use crate::schedule::Turn;
use crate::work::{DependencyBump, ProtoRegen, WorkCopy};

pub struct Bench<'a> {
    pub(crate) ctx: &'a Ctx,
    /// The same settings with the copy as workspace and pixie-bench-* image tags.
    pub(crate) copy: Ctx,
    pub(crate) work: WorkCopy,
    /// target/bench
    pub(crate) dir: PathBuf,
    /// For the inner one-step plans: silent unless -v, errors always shown.
    pub(crate) ui: Ui,
    /// The images the bench's builds made, for the untagged ones' removal at the end.
    pub(crate) made_images: MadeImages,
    pub(crate) dev: DevContainer,
    pub(crate) bump: Option<DependencyBump>,
    pub(crate) proto: ProtoRegen,
    /// Setups that have built at least once (the others need a warm-up before a warm scenario).
    pub(crate) warm: BTreeSet<Setup>,
    pub(crate) hot_reload_edits: u32,
    /// The registry setup's registry and base images, when its tooling is there.
    pub(crate) registry: Option<RegistryBench>,
    /// What go-build.sh said the last prod build's compile took (none when it did not compile).
    pub(crate) last_compile: Option<f64>,
    pub(crate) results: Results,
}

impl<'a> Bench<'a> {
    pub(crate) fn prepare(
        ctx: &'a Ctx,
        runs: u32,
        quick: bool,
        turns: &[Turn],
    ) -> Result<Bench<'a>> {
        let dir = ctx.ws.path("target/bench");
        std::fs::create_dir_all(&dir)?;
        // The stamp comes from git; the copy lives inside this repository, and a stamp that
        // follows its dirty state would make "no change" rebuilds recompile. Stop git at
        // target/bench: the copy has no repository, so the stamp is a constant.
        std::env::set_var("GIT_CEILING_DIRECTORIES", &dir);
        let work = WorkCopy::create(&ctx.ws.root, dir.join("work"))?;
        for output in ["limit", "unstripped", "gogc"] {
            std::fs::create_dir_all(dir.join("out").join(output))?;
        }
        let id = std::process::id();
        let copy = Ctx {
            ws: Workspace::at(work.root.clone()),
            config: bench_config(&ctx.config),
            host: Host {
                plain_progress: true,
                ..ctx.host.clone()
            },
            engine: ctx.engine.clone(),
            ui: ctx.ui,
            dry_run: false,
        };
        let dev = DevContainer {
            name: format!("pixie-bench-dev-{id}"),
            port: free_port(),
            build_volume: format!("pixie-bench-go-build-{id}"),
            module_volume: format!("pixie-bench-go-mod-{id}"),
            running: false,
        };
        let needs = |scenario: Scenario| turns.iter().any(|t| t.scenarios.contains(&scenario));
        let mut bench = Bench {
            ctx,
            copy,
            dir,
            ui: ctx.ui.inner(),
            made_images: MadeImages::default(),
            dev,
            bump: None,
            proto: ProtoRegen::CommentEdit,
            warm: BTreeSet::new(),
            hot_reload_edits: if quick { 3 } else { 10 },
            registry: None,
            last_compile: None,
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

    pub(crate) fn note_setup(&mut self) {
        let ctx = self.ctx;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kib: u64 = m.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
                Some(format!("{:.1} GiB RAM", kib as f64 / 1024.0 / 1024.0))
            })
            .unwrap_or_default();
        let gogc = &ctx.config.gogc(&settings::GOGC).0;
        let notes = &mut self.results.notes;
        notes.push((
            "machine",
            format!(
                "{cores} cores, {memory}; {}; docker engine {}",
                ctx.engine().note(),
                ctx.engine().daemon_version().unwrap_or_default()
            ),
        ));
        notes.push((
            "base images",
            format!(
                "GO_IMAGE={}, RUNTIME_IMAGE={} (passed to every docker build)",
                ctx.config.text(&settings::GO_IMAGE),
                ctx.config.text(&settings::RUNTIME_IMAGE)
            ),
        ));
        notes.push(("cold", "docker setups: `docker builder prune -af` (the whole engine's BuildKit cache, cache mounts included), then --no-cache; limit: a fresh GOCACHE, the host module cache stays warm".into()));
        notes.push(("code change", "one line of core/internal/buildinfo/buildinfo.go (`Version = \"bench-<copy>-N\"`, unique to this bench so no build cache already holds it), the value /version serves".into()));
        notes.push(("dev", "cold = dev image build with no cache + first start with empty Go cache volumes until /version answers; no_change = cached image rebuild + restart with warm volumes until it answers; hot reload = the code change saved on the host (bind mount, as compose.dev.yaml) until /version serves the new value, polled every 20 ms".into()));
        notes.push(("before", "before_2fb3e22: pixie's Dockerfile at its HEAD (2fb3e22), the headline baseline; before_fc0ed04: at fc0ed04, the shape the seed quotes (deployments/bench/before-*.Dockerfile, each file says what was adapted); both built with the same base images and the engine's own build route (on Podman < 5.4 that is --layers=false, which also reruns 2fb3e22's module download layer)".into()));
        notes.push(("prod_command", "the whole `cargo xtask build-prod` typed in this checkout (cargo's freshness check of the xtask, the checks before the build: tidy, daemon, base images; then the build), building the bench's copy (PIXIE_WORKSPACE) under the bench's tag; prod is its build step alone".into()));
        notes.push(("plugin", "the thumbnailer plugin's one-line change: `Version = \"bench-<copy>-N\"` in plugins/thumbnailer/internal/buildinfo/buildinfo.go, which only the plugin compiles; plugin_prod is build-prod's build step of its image (`--module thumbnailer`), plugin_limit the host `go build` of ./cmd/pixie-thumbnailer with the limit's flags and cache; plugin_compile and plugin_null break its build step down as prod_compile and prod_null do core's".into()));
        notes.push(("modules from cold", "after `docker builder prune -af` each: modules_together is one `cargo xtask build-prod` of both images (one bake on buildx, one build after the other elsewhere), modules_in_turn `build-prod --module core` then `--module thumbnailer` (their sum)".into()));
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

    pub(crate) fn prepare_registry(&mut self, tooling: Tooling, xtask: PathBuf) -> Result<()> {
        self.ctx
            .ui
            .info("bench: starting docker-registry, pushing the base images to it");
        let registry = RegistryBench::prepare(self.ctx, tooling, xtask)?;
        self.results.notes.push(("registry", registry.note()));
        self.registry = Some(registry);
        Ok(())
    }

    pub(crate) fn measure_turn(&mut self, turn: &Turn, runs: u32) -> Result<()> {
        let outcome = self.run_turn(turn, runs);
        // The dev container must not rebuild in the background while other setups are timed.
        let stopped = self.stop_dev();
        outcome.and(stopped)
    }

    pub(crate) fn run_turn(&mut self, turn: &Turn, runs: u32) -> Result<()> {
        for &scenario in turn.scenarios {
            if signals::interrupted() {
                return Err(Interrupted.into());
            }
            if turn.setup == Setup::Dev && scenario == Scenario::HotReload {
                self.measure_hot_reload(turn.run, runs)?;
                continue;
            }
            // fc0ed04's shape copies the whole source first: after any edit no layer of a
            // previous build is reused, so it needs no untimed warm-up build (minutes).
            let needs_warm_up = !matches!(scenario, Scenario::Cold | Scenario::WarmFromRegistry)
                && turn.setup != Setup::BeforeFc0ed04;
            if needs_warm_up && !self.warm.contains(&turn.setup) {
                self.warm_up(turn.setup)?;
            }
            let seconds = match turn.setup {
                Setup::Dev => self.dev_start(scenario == Scenario::Cold)?,
                Setup::Registry => {
                    let registry = self.registry.as_ref().context("no registry prepared")?;
                    let cold = scenario == Scenario::Cold;
                    registry.build(&self.copy, turn.run, cold, &self.ui)?
                }
                setup => {
                    self.apply_change(setup, scenario)?;
                    self.build(setup, scenario == Scenario::Cold)?
                }
            };
            self.warm.insert(turn.setup);
            self.results.record(turn.setup, scenario, seconds);
            let compile_setup = match turn.setup {
                Setup::Prod => Some(Setup::ProdCompile),
                Setup::PluginProd => Some(Setup::PluginCompile),
                _ => None,
            };
            if let (Some(compile_setup), Scenario::CodeChange) = (compile_setup, scenario) {
                let compile = self.last_compile.take().with_context(|| format!(
                    "{}'s one-line change printed no `go-build.sh: compile took` line: did its compile run?",
                    turn.setup.key()
                ))?;
                self.results
                    .record(compile_setup, Scenario::CodeChange, compile);
            }
            self.ctx.ui.info(format_args!(
                "bench: run {}/{runs} {} {}: {seconds:.2} s",
                turn.run,
                turn.setup.key(),
                scenario.key()
            ));
        }
        Ok(())
    }

    /// The change `scenario` makes before `setup` builds: the plugin's setups change the
    /// plugin's line, every other one core's.
    pub(crate) fn apply_change(&mut self, setup: Setup, scenario: Scenario) -> Result<()> {
        match scenario {
            Scenario::CodeChange
                if matches!(
                    setup,
                    Setup::PluginProd | Setup::PluginLimit | Setup::PluginNull
                ) =>
            {
                self.work.edit_plugin_code()?;
            }
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
    pub(crate) fn warm_up(&mut self, setup: Setup) -> Result<()> {
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
            // Docker says "No such image", Podman "image not known".
            let gone = output.as_ref().is_ok_and(|o| {
                let stderr = String::from_utf8_lossy(&o.stderr).to_lowercase();
                o.status.success() || stderr.contains("no such") || stderr.contains("not known")
            });
            if !gone {
                eprintln!(
                    "xtask: bench: cleanup failed; run `{} {}`",
                    self.ctx.cli().path.display(),
                    args.join(" ")
                );
            }
        };
        // The container first: it holds the image and the volumes.
        remove(&["rm", "-f", &self.dev.name]);
        let null_changes = NullModule::ALL.map(NullModule::image);
        for image in [
            before_tag(Setup::BeforeFc0ed04),
            before_tag(Setup::Before2fb3e22),
            Target::Prod.image(&self.copy.config),
            Target::Dev.image(&self.copy.config),
            self.copy
                .config
                .text(&settings::THUMBNAILER_IMAGE)
                .to_string(),
            bench_tag("prod-scratch"),
        ]
        .into_iter()
        .chain(null_changes)
        {
            remove(&["rmi", &image]);
        }
        // What rebuilds of a tag left untagged (`<none>`): on Docker 20.10 every one.
        for command in self.made_images.remove_untagged(&self.ctx.cli().path) {
            eprintln!("xtask: bench: cleanup failed; run `{command}`");
        }
        // On Podman < 5.4, the builder container of the bench's copy.
        if let Some(out) = Command::new(&self.ctx.cli().path)
            .args(["ps", "--all", "--quiet", "--filter"])
            .arg(format!(
                "label=pixie.builder.workspace={}",
                self.copy.ws.root.display()
            ))
            .stdin(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                remove(&["rm", "--force", id]);
            }
        }
        remove(&[
            "volume",
            "rm",
            &self.dev.build_volume,
            &self.dev.module_volume,
        ]);
    }
}

/// Environment of every host `go build` the bench times.
pub(crate) fn host_go_env(cache: &Path) -> Vec<(String, String)> {
    vec![
        ("GOCACHE".into(), cache.display().to_string()),
        ("CGO_ENABLED".into(), "0".into()),
        ("GOFLAGS".into(), "-buildvcs=false".into()),
        ("GOTOOLCHAIN".into(), "local".into()),
        ("GOWORK".into(), "off".into()),
    ]
}

/// A tag unique to this bench process, so concurrent runs and the user's images never collide.
pub(crate) fn bench_tag(what: &str) -> String {
    format!("pixie-bench-{what}:{}", std::process::id())
}

/// The user's settings (base images, GOGC...) with the bench's own image tags.
pub(crate) fn bench_config(config: &Config) -> Config {
    config
        .clone()
        .with(&settings::PROD_IMAGE, Value::Text(bench_tag("prod")))
        .with(&settings::DEV_IMAGE, Value::Text(bench_tag("dev")))
        .with(
            &settings::THUMBNAILER_IMAGE,
            Value::Text(bench_tag("thumbnailer")),
        )
}
