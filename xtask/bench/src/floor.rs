//! `bench --engine`'s breakdown of a module's one-line change into parts that add up: the `go
//! build` inside its build (go-build.sh says how long it took), the engine's own floor (a "null
//! change": the module's build with its compile replaced by writing a binary-sized file), and,
//! for core's whole command, cargo's and the xtask's start-up and the checks before the build.

use anyhow::{anyhow, Context, Result};
use xtask::commands::{configured, vendoring};
use xtask::exec;
use xtask::plan::{Plan, Step, Task};
use xtask::target::Target;
use xtask::workspace::GO_BUILD_SCRIPT;

use crate::bench::{bench_tag, Bench};
use crate::builds::{plugin_build, prod_build, timed_build, LIMIT_OUT};
use crate::measure::{self, timed_plan};
use crate::report::Setup;
use crate::work::{CODE_FILE, PLUGIN_CODE_FILE};

/// The null change's Dockerfile in the bench's copy: prod's, with one compile line replaced.
const NULL_DOCKERFILE: &str = "deployments/docker/core.null-change.Dockerfile";

/// The module whose compile a null change replaces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NullModule {
    /// The Dockerfile stage that compiles it.
    stage: &'static str,
    /// Its binary, as go-build.sh and the limit name it.
    binary: &'static str,
    /// The file its one-line change edits.
    code_file: &'static str,
    /// The null change's image tag.
    tag: &'static str,
}

impl NullModule {
    pub(crate) const CORE: NullModule = NullModule {
        stage: "build-core",
        binary: "pixie-core",
        code_file: CODE_FILE,
        tag: "prod-null",
    };
    pub(crate) const PLUGIN: NullModule = NullModule {
        stage: "build-thumbnailer",
        binary: "pixie-thumbnailer",
        code_file: PLUGIN_CODE_FILE,
        tag: "plugin-null",
    };
    pub(crate) const ALL: [NullModule; 2] = [NullModule::CORE, NullModule::PLUGIN];

    /// The image tag its null change builds.
    pub(crate) fn image(self) -> String {
        bench_tag(self.tag)
    }
}

/// What go-build.sh prints after its compile (`go-build.sh: compile took 0.95 s`).
const COMPILE_TOOK: &str = "go-build.sh: compile took ";

/// The null change's stand-in for `module`'s compile: a file of `size` bytes of real machine
/// code (the Go toolchain's own tools) where the binary goes, then the edited source file, so
/// that every null change makes a layer no build made before (an identical one would be reused,
/// and then not exported at all). Shell for both routes: a Dockerfile RUN and the builder's
/// `exec`.
fn null_compile(module: NullModule, size: u64) -> String {
    let NullModule {
        binary, code_file, ..
    } = module;
    format!(
        r#"mkdir -p "${{OUT:-/out}}/rootfs/usr/local/bin" && {{ cat "$(dirname "$(command -v go)")"/../pkg/tool/*/* | head -c {size}; cat /src/{code_file}; }} >"${{OUT:-/out}}/rootfs/usr/local/bin/{binary}""#
    )
}

/// prod's Dockerfile with `module`'s compile (`sh …/go-build.sh compile`, the RUN of its
/// stage) replaced by [`null_compile`]: every stage, mount, build argument and the export
/// unchanged.
pub(crate) fn null_dockerfile(prod: &str, module: NullModule, size: u64) -> Result<String> {
    let compile = format!("sh /src/{GO_BUILD_SCRIPT} compile");
    let stale = || {
        anyhow!("core.Dockerfile's {} stage no longer runs `{compile}`; update the bench's null change (xtask/bench/src/floor.rs)", module.stage)
    };
    let stage = prod
        .find(&format!(" AS {}\n", module.stage))
        .ok_or_else(stale)?;
    let at = stage + prod[stage..].find(&compile).ok_or_else(stale)?;
    Ok(format!(
        "{}{}{}",
        &prod[..at],
        null_compile(module, size),
        &prod[at + compile.len()..]
    ))
}

/// The builder route's plan with its `exec` of go-build.sh's steps ending in [`null_compile`]
/// instead of `compile`: the same builder, environment, output folder and assembly.
pub(crate) fn null_in_builder(mut plan: Plan, module: NullModule, size: u64) -> Result<Plan> {
    let script = format!("/src/{GO_BUILD_SCRIPT}");
    let tail = [script.as_str(), "rootfs", "modules", "compile"];
    let exec = plan
        .steps
        .iter_mut()
        .find_map(|task| match task {
            Task::Run(step) if step.args.ends_with(&tail.map(String::from)) => Some(step),
            _ => None,
        })
        .context("the builder route no longer runs go-build.sh's rootfs, modules and compile; update the bench's null change (xtask/bench/src/floor.rs)")?;
    exec.args.truncate(exec.args.len() - tail.len());
    exec.args.push("-c".into());
    exec.args.push(format!(
        "sh {script} rootfs modules && {}",
        null_compile(module, size)
    ));
    Ok(plan)
}

/// The compile's seconds in a build's output, as go-build.sh printed them.
pub(crate) fn compile_seconds(output: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        let (_, rest) = line.split_once(COMPILE_TOOK)?;
        rest.strip_suffix(" s")?.trim().parse().ok()
    })
}

impl Bench<'_> {
    /// The null change's build step: `module`'s build (its route, stages, mounts and export,
    /// under a tag of its own) with its compile replaced by [`null_compile`]; the one-line
    /// change before it makes the compile stage run, as in the module's build.
    pub(crate) fn null_build(&mut self, module: NullModule) -> Result<f64> {
        exec::run(&vendoring(&self.copy, Target::Prod)?, &self.ui)?;
        let limit = self.dir.join(LIMIT_OUT).join(module.binary);
        let size = measure::file_size(&limit)
            .with_context(|| format!("the null change is the size of the limit's binary, {}, which the limit's build makes first", limit.display()))?;
        let tag = module.image();
        let mut build = if module == NullModule::CORE {
            prod_build(&self.copy, Setup::Prod)
        } else {
            plugin_build(&self.copy)?
        };
        build.tags = vec![tag.clone()];
        let plan = if self.results.old_podman {
            let plan = timed_build(build, false).plan(&self.copy.docker())?;
            null_in_builder(plan, module, size)?
        } else {
            let prod = self.copy.ws.path(&build.dockerfile);
            let text = std::fs::read_to_string(&prod)
                .with_context(|| format!("cannot read {}", prod.display()))?;
            std::fs::write(
                self.copy.ws.path(NULL_DOCKERFILE),
                null_dockerfile(&text, module, size)?,
            )?;
            build.dockerfile = NULL_DOCKERFILE.into();
            timed_build(build, false).plan(&self.copy.docker())?
        };
        let seconds = timed_plan(plan, &self.ui)?;
        self.remember_image(&tag);
        Ok(seconds)
    }

    /// `cargo xtask build-prod --dry-run`: cargo's freshness check, the xtask's start-up, its
    /// engine detection and plan, and nothing run.
    pub(crate) fn command_start_step(&self) -> Step {
        self.prod_command_step().arg("--dry-run")
    }

    /// The checks build-prod runs before its build, one after another as it runs them, in
    /// this process; each one's time is shown, the sum returned.
    pub(crate) fn time_checks(&self) -> Result<f64> {
        let before = configured(&self.copy, Target::Prod)?.before;
        let mut total = 0.0;
        for task in before.steps {
            let label = match &task {
                Task::Run(step) => step.label.clone(),
                Task::Do { label, .. } | Task::Include { label, .. } => label.clone(),
            };
            let seconds = timed_plan(
                Plan {
                    steps: vec![task],
                    ..Plan::default()
                },
                &self.ui,
            )?;
            self.ctx
                .ui
                .info(format_args!("bench:   {label}: {seconds:.3} s"));
            total += seconds;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::bench_config;
    use xtask::ctx::fake::ctx_with;
    use xtask::ctx::Ctx;
    use xtask::docker::engine::BuildRoute;
    use xtask::settings::Flags;

    #[test]
    fn the_compile_time_is_read_from_buildkit_and_podman_output() {
        let buildkit = "#10 [build 1/1] RUN sh go-build.sh compile\n#10 1.278 go-build.sh: compile took 1.10 s\n#10 DONE 1.3s\n";
        assert_eq!(compile_seconds(buildkit), Some(1.1));
        assert_eq!(
            compile_seconds("go: downloading x\ngo-build.sh: compile took 0.95 s\n"),
            Some(0.95)
        );
        assert_eq!(compile_seconds("#10 CACHED\n"), None);
    }

    #[test]
    fn the_null_dockerfile_differs_from_prods_in_its_compile_line_only() {
        let prod = std::fs::read_to_string(
            xtask::testkit::repo_root().join("deployments/docker/core.Dockerfile"),
        )
        .unwrap();
        let null = null_dockerfile(&prod, NullModule::CORE, 27_000_000).unwrap();
        let changed: Vec<(&str, &str)> = prod
            .lines()
            .zip(null.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(prod.lines().count(), null.lines().count());
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(
            changed[0].0.trim(),
            "sh /src/deployments/docker/go-build.sh compile"
        );
        assert!(
            changed[0].1.contains("head -c 27000000"),
            "{}",
            changed[0].1
        );
        assert!(changed[0].1.contains(&format!("cat /src/{CODE_FILE}")));
        let error = null_dockerfile("FROM x\nRUN true\n", NullModule::CORE, 1).unwrap_err();
        assert!(error.to_string().starts_with(
            "core.Dockerfile's build-core stage no longer runs `sh /src/deployments/docker/go-build.sh compile`"
        ));
        let thumbnailer = null.find(" AS build-thumbnailer\n").unwrap();
        assert!(
            null[thumbnailer..].contains("go-build.sh compile"),
            "only core's compile is replaced"
        );
        let plugin = null_dockerfile(&prod, NullModule::PLUGIN, 12_000_000).unwrap();
        let changed: Vec<(&str, &str)> = prod
            .lines()
            .zip(plugin.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        let (_, line) = changed[0];
        assert!(line.contains("head -c 12000000"), "{line}");
        assert!(
            line.contains(&format!("cat /src/{PLUGIN_CODE_FILE}")),
            "{line}"
        );
        assert!(
            line.ends_with("/usr/local/bin/pixie-thumbnailer\""),
            "{line}"
        );
        let plugin_stage = plugin.find(" AS build-thumbnailer\n").unwrap();
        assert!(
            plugin[..plugin_stage].contains("go-build.sh compile"),
            "core's compile stays"
        );
    }

    #[test]
    fn on_old_podman_the_null_change_keeps_the_builder_exec_and_the_assembly() {
        let ctx = ctx_with(
            BuildRoute::Buildah { layer_cache: false },
            &[],
            Flags::new(),
        );
        let copy = Ctx {
            config: bench_config(&ctx.config),
            ..ctx
        };
        let prod = prod_build(&copy, Setup::Prod).plan(&copy.docker()).unwrap();
        let null = null_in_builder(prod.clone(), NullModule::CORE, 5).unwrap();
        let (before, after) = (prod.commands(), null.commands());
        assert_eq!(before.len(), after.len());
        assert_eq!(before[1], after[1], "the same `podman build` assembles");
        let script = format!("/src/{GO_BUILD_SCRIPT}");
        assert_eq!(
            after[0].args[..after[0].args.len() - 2],
            before[0].args[..before[0].args.len() - 4],
            "the same builder, environment and output folder"
        );
        assert!(after[0]
            .args
            .last()
            .unwrap()
            .starts_with(&format!("sh {script} rootfs modules && mkdir -p")));
        let plugin = plugin_build(&copy).unwrap().plan(&copy.docker()).unwrap();
        let null = null_in_builder(plugin, NullModule::PLUGIN, 5).unwrap();
        let exec = null.commands()[0].args.last().unwrap().clone();
        assert!(
            exec.ends_with(&format!(
                "cat /src/{PLUGIN_CODE_FILE}; }} >\"${{OUT:-/out}}/rootfs/usr/local/bin/pixie-thumbnailer\""
            )),
            "{exec}"
        );
        let on_docker = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let single = prod_build(&on_docker, Setup::Prod)
            .plan(&on_docker.docker())
            .unwrap();
        assert!(null_in_builder(single, NullModule::CORE, 5)
            .unwrap_err()
            .to_string()
            .starts_with("the builder route no longer runs go-build.sh's"));
    }
}
