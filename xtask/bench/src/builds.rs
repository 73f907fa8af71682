//! The build setups' timed builds: the two "before" shapes, prod's build step, the whole
//! `cargo xtask build-prod`, the limit, the plugin's build step and limit, and both module
//! images from cold; and what they leave in the engine's image store.

use std::path::Path;

use anyhow::Result;
use xtask::commands::{image_build, module_build, vendoring};
use xtask::ctx::Ctx;
use xtask::docker::build::DockerBuild;
use xtask::exec;
use xtask::plan::Step;
use xtask::settings;
use xtask::target::{ModuleImage, Target};
use xtask::workspace::{BEFORE_2FB3E22_DOCKERFILE, BEFORE_FC0ED04_DOCKERFILE};

use crate::bench::{bench_tag, host_go_env, Bench};
use crate::floor::{compile_seconds, NullModule};
use crate::measure::{timed, timed_plan, timed_plan_output};
use crate::report::Setup;

impl Bench<'_> {
    /// One timed build of a build setup; `cold` first empties its caches (not timed).
    pub(crate) fn build(&mut self, setup: Setup, cold: bool) -> Result<f64> {
        if cold {
            self.empty_caches(setup)?;
        }
        let build = match setup {
            Setup::BeforeFc0ed04 | Setup::Before2fb3e22 => before_build(&self.copy, setup),
            Setup::Prod | Setup::ProdPodmanBuild => {
                // Prod is build-prod's build, every build setting included: with build.vendor,
                // vendor/ is made current first (untimed; a no-op while it is).
                exec::run(&vendoring(&self.copy, Target::Prod)?, &self.ui)?;
                prod_build(&self.copy, setup)
            }
            Setup::PluginProd => {
                exec::run(&vendoring(&self.copy, Target::Prod)?, &self.ui)?;
                plugin_build(&self.copy)?
            }
            Setup::ModulesTogether => {
                let seconds = timed(self.build_prod_step(&[]), &self.ui)?;
                self.remember_module_images();
                return Ok(seconds);
            }
            Setup::ModulesInTurn => {
                let mut seconds = 0.0;
                for module in ["core", PLUGIN] {
                    seconds += timed(self.build_prod_step(&[module]), &self.ui)?;
                }
                self.remember_module_images();
                return Ok(seconds);
            }
            Setup::PluginLimit => {
                let step = limit_build(&self.work.root, PLUGIN_DIR, &self.dir);
                return timed(step, &self.ui);
            }
            Setup::ProdNull => return self.null_build(NullModule::CORE),
            Setup::PluginNull => return self.null_build(NullModule::PLUGIN),
            Setup::CommandStart => return timed(self.command_start_step(), &self.ui),
            Setup::CommandChecks => return self.time_checks(),
            Setup::ProdCompile | Setup::PluginCompile => {
                unreachable!("read from the module's one-line change")
            }
            Setup::ProdCommand => {
                let seconds = timed(self.prod_command_step(), &self.ui)?;
                self.remember_image(&Target::Prod.image(&self.copy.config));
                return Ok(seconds);
            }
            Setup::Limit => {
                return timed(limit_build(&self.work.root, CORE_DIR, &self.dir), &self.ui)
            }
            Setup::Dev => unreachable!("dev builds its image in dev_start"),
            Setup::PluginDev => unreachable!("only the stack bench reloads the plugin"),
            Setup::Registry => unreachable!("registry builds through RegistryBench::build"),
        };
        let tag = build.tags[0].clone();
        let plan = timed_build(build, cold).plan(&self.copy.docker())?;
        // A module's output says how long its compile took (go-build.sh), for the breakdown.
        let seconds = if matches!(setup, Setup::Prod | Setup::PluginProd) {
            let log = self.dir.join(format!("{}.log", setup.key()));
            let (seconds, output) = timed_plan_output(plan, &self.ui, &log)?;
            self.last_compile = compile_seconds(&output);
            seconds
        } else {
            timed_plan(plan, &self.ui)?
        };
        self.remember_image(&tag);
        Ok(seconds)
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

    /// `cargo xtask build-prod --module core` typed in this checkout, building the bench's copy
    /// with the bench's tag: cargo's freshness check, the checks before the build and the build.
    pub(crate) fn prod_command_step(&self) -> Step {
        self.build_prod_step(&["core"])
    }

    /// `cargo xtask build-prod` of `modules` (every module's image when empty) on the bench's
    /// copy, under the bench's tags.
    pub(crate) fn build_prod_step(&self, modules: &[&str]) -> Step {
        let cfg = &self.copy.config;
        let mut step = Step::new(
            "cargo xtask build-prod",
            &self.ctx.host.cargo,
            &self.ctx.ws.root,
        )
        .args(["xtask", "build-prod"]);
        for module in modules {
            step = step.args(["--module", module]);
        }
        step.envs([
            ("PIXIE_WORKSPACE", self.copy.ws.root.display().to_string()),
            ("PIXIE_PROD_IMAGE", Target::Prod.image(cfg)),
            (
                "PIXIE_THUMBNAILER_IMAGE",
                cfg.text(&settings::THUMBNAILER_IMAGE).to_string(),
            ),
            ("BUILDKIT_PROGRESS", "plain".into()),
        ])
    }

    fn remember_module_images(&mut self) {
        let cfg = &self.copy.config;
        for tag in [
            Target::Prod.image(cfg),
            cfg.text(&settings::THUMBNAILER_IMAGE).to_string(),
        ] {
            self.remember_image(&tag);
        }
    }

    /// Notes the image `tag` names now, so that the ones a later build untags are removed at
    /// the end.
    pub(crate) fn remember_image(&mut self, tag: &str) {
        self.made_images.note(&self.ctx.cli().path, tag);
    }
}

/// Core's module folder.
pub(crate) const CORE_DIR: &str = "core";
/// The plugin the bench measures beside core: its name and its module's folder.
pub(crate) const PLUGIN: &str = "thumbnailer";
pub(crate) const PLUGIN_DIR: &str = "plugins/thumbnailer";

/// Where the limit's binaries go, under target/bench.
pub(crate) const LIMIT_OUT: &str = "out/limit";

/// Host `go build` of the module in `module` (a folder of the workspace copy `root`) with the
/// production flags and the bench's own warm GOCACHE (in `bench`, target/bench), into
/// [`LIMIT_OUT`]: the limit a container build of the same change is held to.
pub(crate) fn limit_build(root: &Path, module: &str, bench: &Path) -> Step {
    let binary = format!("pixie-{}", module.rsplit('/').next().unwrap_or(module));
    Step::new(
        format!("host go build of {module}"),
        "go",
        root.join(module),
    )
    .args(["build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o"])
    .arg(bench.join(LIMIT_OUT).join(&binary).display().to_string())
    .arg(format!("./cmd/{binary}"))
    .envs(host_go_env(&bench.join("gocache")))
}

/// build-prod's build of the plugin's image: the module go.work declares, with every build
/// setting, as `build-prod --module thumbnailer` builds it.
pub(crate) fn plugin_build(copy: &Ctx) -> Result<DockerBuild> {
    let image = ModuleImage::selected(&copy.ws, &[PLUGIN.to_string()])?.remove(0);
    Ok(module_build(copy, &image))
}

/// The tag of a "before" setup's image.
pub(crate) fn before_tag(setup: Setup) -> String {
    bench_tag(&setup.key().replace('_', "-"))
}

/// build-prod's build; for `ProdPodmanBuild` without its compile stage, so that one `podman
/// build` runs every step, as before the builder route.
pub(crate) fn prod_build(copy: &Ctx, setup: Setup) -> DockerBuild {
    let build = image_build(copy, Target::Prod);
    if setup == Setup::ProdPodmanBuild {
        DockerBuild {
            compile_stage: None,
            ..build
        }
    } else {
        build
    }
}

/// `build` as the bench times it: plain progress, and no cache at all when `cold`.
pub(crate) fn timed_build(build: DockerBuild, cold: bool) -> DockerBuild {
    DockerBuild {
        no_cache: cold,
        plain_progress: true,
        ..build
    }
}

/// A baseline: one of the slow Dockerfiles we replaced, with the configured base images.
pub(crate) fn before_build(copy: &Ctx, setup: Setup) -> DockerBuild {
    let dockerfile = if setup == Setup::BeforeFc0ed04 {
        BEFORE_FC0ED04_DOCKERFILE
    } else {
        BEFORE_2FB3E22_DOCKERFILE
    };
    let tag = before_tag(setup);
    let cfg = &copy.config;
    let mut build = DockerBuild::new(format!("build {tag}"), dockerfile)
        .build_arg("GO_IMAGE", cfg.text(&settings::GO_IMAGE))
        .build_arg("RUNTIME_IMAGE", cfg.text(&settings::RUNTIME_IMAGE));
    build.tags = vec![tag];
    build
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::bench_config;
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
    fn both_baselines_build_their_own_dockerfile_with_the_configured_base_images_and_route() {
        let ctx = bench_ctx(
            BuildRoute::BuiltIn,
            &[
                ("PIXIE_GO_IMAGE", "local/go:1"),
                ("PIXIE_RUNTIME_IMAGE", "local/rt:1"),
            ],
        );
        for (setup, dockerfile) in [
            (Setup::BeforeFc0ed04, BEFORE_FC0ED04_DOCKERFILE),
            (Setup::Before2fb3e22, BEFORE_2FB3E22_DOCKERFILE),
        ] {
            let step = before_build(&ctx, setup).step(&ctx.docker()).unwrap();
            assert_eq!(step.args[0], "build");
            assert_eq!(step.flag_value("--file"), Some(dockerfile));
            assert_eq!(step.flag_value("--tag"), Some(before_tag(setup).as_str()));
            assert_eq!(
                step.flag_values("--build-arg").collect::<Vec<_>>(),
                ["GO_IMAGE=local/go:1", "RUNTIME_IMAGE=local/rt:1"]
            );
            assert_eq!(step.env_value("DOCKER_BUILDKIT"), Some("1"));
        }
        assert_ne!(
            before_tag(Setup::BeforeFc0ed04),
            before_tag(Setup::Before2fb3e22)
        );
        let buildx = bench_ctx(BuildRoute::Buildx, &[]);
        assert_eq!(
            &before_build(&buildx, Setup::Before2fb3e22)
                .step(&buildx.docker())
                .unwrap()
                .args[..3],
            ["buildx", "build", "--load"]
        );
    }

    #[test]
    fn on_old_podman_prod_takes_the_builder_and_its_old_route_one_podman_build() {
        let ctx = bench_ctx(BuildRoute::Buildah { layer_cache: false }, &[]);
        let builder = prod_build(&ctx, Setup::Prod).plan(&ctx.docker()).unwrap();
        assert_eq!(
            builder.commands().len(),
            2,
            "podman exec, then podman build"
        );
        assert!(builder.commands()[1]
            .flag_value("--build-context")
            .is_some());
        let old = prod_build(&ctx, Setup::ProdPodmanBuild)
            .plan(&ctx.docker())
            .unwrap();
        let steps = old.commands();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].args[0], "build");
        assert!(steps[0].args.contains(&"--layers=false".to_string()));
        assert_eq!(steps[0].flag_value("--build-context"), None);
    }
}
