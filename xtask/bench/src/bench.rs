//! The bench's state for one run: the workspace copy, the user's settings with the bench's own
//! image tags, the results; and the build setups' turns (before, prod, limit, registry).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use xtask::commands::{image_build, vendoring};
use xtask::ctx::Ctx;
use xtask::docker::build::DockerBuild;
use xtask::exec;
use xtask::host::Host;
use xtask::plan::Step;
use xtask::settings::{self, Config, Value};
use xtask::signals::{self, Interrupted};
use xtask::target::Target;
use xtask::testkit::free_port;
use xtask::ui::Ui;
use xtask::workspace::{Workspace, BENCH_DOCKERFILE as BEFORE_DOCKERFILE};

use crate::dev::DevContainer;
use crate::measure::timed;
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
    pub(crate) before_image: String,
    pub(crate) dev: DevContainer,
    pub(crate) bump: Option<DependencyBump>,
    pub(crate) proto: ProtoRegen,
    /// Setups that have built at least once (the others need a warm-up before a warm scenario).
    pub(crate) warm: BTreeSet<Setup>,
    pub(crate) hot_reload_edits: u32,
    /// The registry setup's registry and base images, when its tooling is there.
    pub(crate) registry: Option<RegistryBench>,
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
            let needs_warm_up = !matches!(scenario, Scenario::Cold | Scenario::WarmFromRegistry);
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

    pub(crate) fn apply_change(&mut self, scenario: Scenario) -> Result<()> {
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

    /// One timed build of a build setup; `cold` first empties its caches (not timed).
    pub(crate) fn build(&self, setup: Setup, cold: bool) -> Result<f64> {
        if cold {
            self.empty_caches(setup)?;
        }
        let build = match setup {
            Setup::Before => before_build(&self.copy, &self.before_image),
            Setup::Prod => {
                // Prod is build-prod's build, every build setting included: with build.vendor,
                // core/vendor is made current first (untimed; a no-op while it is).
                exec::run(&vendoring(&self.copy, Target::Prod)?, &self.ui)?;
                image_build(&self.copy, Target::Prod)
            }
            Setup::Limit => return timed(self.limit_step(), &self.ui),
            Setup::Dev => unreachable!("dev builds its image in dev_start"),
            Setup::Registry => unreachable!("registry builds through RegistryBench::build"),
        };
        timed(
            timed_build(build, cold).step(&self.copy.docker())?,
            &self.ui,
        )
    }

    pub(crate) fn empty_caches(&self, setup: Setup) -> Result<()> {
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
        .envs(self.ctx.docker().docker_env());
        timed(prune, &self.ui).map(drop)
    }

    /// Host `go build` with the production flags, into target/bench/out.
    pub(crate) fn limit_step(&self) -> Step {
        Step::new("host go build", "go", self.work.core())
            .args(["build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o"])
            .arg(self.dir.join("out/limit/pixie-core").display().to_string())
            .arg("./cmd/pixie-core")
            .envs(host_go_env(&self.dir.join("gocache")))
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
        for image in [
            &self.before_image,
            &Target::Prod.image(&self.copy.config),
            &Target::Dev.image(&self.copy.config),
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
}

/// `build` as the bench times it: plain progress, and no cache at all when `cold`.
pub(crate) fn timed_build(build: DockerBuild, cold: bool) -> DockerBuild {
    DockerBuild {
        no_cache: cold,
        plain_progress: true,
        ..build
    }
}

/// The baseline: the slow Dockerfile we replaced, with the configured base images.
fn before_build(copy: &Ctx, tag: &str) -> DockerBuild {
    let cfg = &copy.config;
    let mut build = DockerBuild::new(format!("build {tag}"), BEFORE_DOCKERFILE)
        .build_arg("GO_IMAGE", cfg.text(&settings::GO_IMAGE))
        .build_arg("RUNTIME_IMAGE", cfg.text(&settings::RUNTIME_IMAGE));
    build.tags = vec![tag.to_string()];
    build
}

#[cfg(test)]
mod tests {
    use super::*;
    use xtask::ctx::fake::ctx_with;
    use xtask::docker::engine::BuildRoute;
    use xtask::settings::Flags;

    fn bench_ctx(route: BuildRoute, env: &[(&str, &str)]) -> Ctx {
        let ctx = ctx_with(route, env, Flags::new());
        Ctx {
            config: bench_config(&ctx.config),
            ..ctx
        }
    }

    #[test]
    fn bench_builds_use_the_configured_base_images_with_bench_tags() {
        let copy = bench_ctx(
            BuildRoute::BuiltIn,
            &[("PIXIE_GO_IMAGE", "pixie-base/go:1.26.8")],
        );
        let step = timed_build(image_build(&copy, Target::Prod), true)
            .step(&copy.docker())
            .unwrap();
        assert_eq!(step.flag_value("--tag"), Some(bench_tag("prod").as_str()));
        assert!(step
            .flag_values("--build-arg")
            .any(|a| a == "GO_IMAGE=pixie-base/go:1.26.8"));
        assert_eq!(&step.args[step.args.len() - 2..], ["--no-cache", "."]);
        assert_eq!(step.env_value("BUILDKIT_PROGRESS"), Some("plain"));
        // Through the xtask's own build writer: the built-in route's lock comes with it.
        assert!(step.lock.is_some());
    }

    #[test]
    fn baseline_build_uses_the_configured_base_images_and_route() {
        let ctx = bench_ctx(
            BuildRoute::BuiltIn,
            &[
                ("PIXIE_GO_IMAGE", "local/go:1"),
                ("PIXIE_RUNTIME_IMAGE", "local/rt:1"),
            ],
        );
        let step = before_build(&ctx, "pixie-bench-x:1")
            .step(&ctx.docker())
            .unwrap();
        assert_eq!(step.args[0], "build");
        assert_eq!(
            step.flag_values("--build-arg").collect::<Vec<_>>(),
            ["GO_IMAGE=local/go:1", "RUNTIME_IMAGE=local/rt:1"]
        );
        assert_eq!(step.env_value("DOCKER_BUILDKIT"), Some("1"));
        let buildx = bench_ctx(BuildRoute::Buildx, &[]);
        assert_eq!(
            &before_build(&buildx, "t")
                .step(&buildx.docker())
                .unwrap()
                .args[..3],
            ["buildx", "build", "--load"]
        );
    }
}
