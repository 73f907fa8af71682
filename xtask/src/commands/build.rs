//! `build-prod` and `build-dev`: one BuildKit build of an image, with the workspace root as
//! context (the allow-list `.dockerignore` there decides what reaches the daemon). Also the one
//! place every other command's builds are made ([`configured`]): run-prod, run-dev and the
//! bench's "prod" build with every build setting, exactly as build-prod does.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Arg, ArgAction, ArgMatches};

use super::common::{switch, Command, Live, Parsed, Registration};
use super::vendor;
use crate::ctx::{Ctx, Needs};
use crate::docker::build::{push_step, Attestations, CacheSpec, DockerBuild, Output, Secret};
use crate::docker::engine::BuildRoute;
use crate::docker::checks::{CheckBaseImages, CheckDaemon};
use crate::docker::sign::{self, SignPushed};
use crate::files::RemoveTree;
use crate::plan::{action, Plan};
use crate::settings::{self, FlagOf};
use crate::target::{ModuleImage, Target};
use crate::toolchain::{self, CheckTidy};

pub const PROD: Registration = Registration {
    name: "build-prod",
    about: "Build the production image of every Go module with one, or of --module NAME (deployments/docker/core.Dockerfile, target NAME; context: the repo root filtered by .dockerignore).",
    example: "cargo xtask build-prod --platform linux/arm64",
    settings: &[FlagOf::BuildProd],
    arguments: prod_arguments,
    parse: |matches| {
        Parsed::Plan(Box::new(Build {
            target: Target::Prod,
            args: BuildArgs::from_matches(matches),
        }))
    },
};

pub const DEV: Registration = Registration {
    name: "build-dev",
    about: "Build the development image (deployments/docker/core.dev.Dockerfile: Go + air).",
    example: "cargo xtask build-dev",
    settings: &[],
    arguments: |command| command,
    parse: |_| {
        Parsed::Plan(Box::new(Build {
            target: Target::Dev,
            args: BuildArgs::default(),
        }))
    },
};

fn prod_arguments(command: clap::Command) -> clap::Command {
    command.args([
        Arg::new("module")
            .long("module")
            .value_name("NAME")
            .help("Build this module's image only (core, thumbnailer: go.work's modules with a cmd/pixie-NAME main package)."),
        switch("no-cache", "Ignore every cached layer."),
        Arg::new("export-binary")
            .long("export-binary")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .conflicts_with("push")
            .help("Write only the binary into DIR (the Dockerfile's `binary` stage) instead of an image."),
        Arg::new("tag")
            .long("tag")
            .value_name("IMAGE")
            .action(ArgAction::Append)
            .help("Extra image tag (repeatable); with --push, the tags pushed."),
        switch("push", "Push the image (with --tag) to its registry; on the buildx route with an SBOM and max-mode provenance."),
        Arg::new("sign")
            .long("sign")
            .value_name("KEY")
            .value_parser(clap::value_parser!(PathBuf))
            .requires("push")
            .help("Sign the pushed digest with this cosign key (password from COSIGN_PASSWORD); buildx route."),
        switch("no-attest", "Push without SBOM and provenance (the only way to push from the built-in BuildKit route).")
            .requires("push"),
    ])
}

/// `build-prod`'s flags that are not settings (those are in `settings::ALL`).
#[derive(Debug, Default, Clone)]
pub struct BuildArgs {
    /// The one module whose image to build; every module's when `None`.
    pub module: Option<String>,
    pub no_cache: bool,
    /// Write only the binary into DIR (the Dockerfile's `binary` stage) instead of an image.
    pub export_binary: Option<PathBuf>,
    /// Extra image tags; with `push`, the tags pushed.
    pub tags: Vec<String>,
    pub push: bool,
    /// Push without SBOM and provenance.
    pub no_attest: bool,
    /// A cosign key: sign the pushed digest.
    pub sign: Option<PathBuf>,
}

impl BuildArgs {
    fn from_matches(matches: &ArgMatches) -> BuildArgs {
        BuildArgs {
            module: matches.get_one::<String>("module").cloned(),
            no_cache: matches.get_flag("no-cache"),
            export_binary: matches.get_one::<PathBuf>("export-binary").cloned(),
            tags: matches
                .get_many::<String>("tag")
                .map(|t| t.cloned().collect())
                .unwrap_or_default(),
            push: matches.get_flag("push"),
            no_attest: matches.get_flag("no-attest"),
            sign: matches.get_one::<PathBuf>("sign").cloned(),
        }
    }
}

#[derive(Debug)]
pub struct Build {
    pub target: Target,
    pub args: BuildArgs,
}

impl Command for Build {
    fn needs(&self) -> Needs {
        Needs::Engine
    }

    /// Nothing: the checks are the plan's first steps (`configured`).
    fn preflight(&self, _ctx: &Ctx) -> Result<Live> {
        Ok(Live::default())
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        plan(ctx, self.target, &self.args)
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        if self.args.push {
            let tags = pushed_tags(&self.target.image(&ctx.config), &self.args);
            ctx.ui.info(format_args!("pushed {}", tags.join(", ")));
        } else if let Some(dir) = &self.args.export_binary {
            ctx.ui
                .info(format_args!("binary written to {}", dir.display()));
        } else {
            for build in builds(ctx, self.target, &self.args)? {
                let image = &build.tags[0];
                if let Some(bytes) = ctx.engine().image_size(image) {
                    ctx.ui
                        .info(format_args!("image {image}: {:.1} MB", bytes as f64 / 1e6));
                }
            }
        }
        Ok(())
    }
}

/// The builds a `build-*` command makes: build-dev's one; build-prod's one per module image
/// (`--module`: that one; `--export-binary`: core's `binary` stage).
fn builds(ctx: &Ctx, target: Target, args: &BuildArgs) -> Result<Vec<DockerBuild>> {
    let images = match (target, &args.export_binary, args.module.as_deref()) {
        (Target::Dev, ..) => return Ok(vec![image_build(ctx, target)]),
        (Target::Prod, Some(_), Some(name)) if name != "core" => bail!(
            "--export-binary writes core's binary (the Dockerfile's `binary` stage); drop --module {name}"
        ),
        (Target::Prod, Some(_), _) => vec![ModuleImage::core()],
        (Target::Prod, None, name) => ModuleImage::selected(&ctx.ws, name)?,
    };
    if images.len() > 1 && (args.push || !args.tags.is_empty()) {
        bail!(
            "--tag and --push name one image; add --module NAME (one of: {})",
            images.iter().map(ModuleImage::name).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(images.iter().map(|image| module_build(ctx, image)).collect())
}

pub fn plan(ctx: &Ctx, target: Target, args: &BuildArgs) -> Result<Plan> {
    let mut plan = Plan {
        notes: vec![ctx.engine().note()],
        ..Plan::default()
    };
    let builds = builds(ctx, target, args)?;
    let modules: Vec<&str> = builds.iter().map(module_of).collect();
    plan.append(checks(ctx, target, &modules)?);
    for mut build in builds {
        let image = build.tags[0].clone();
        build.no_cache = args.no_cache;
        if let Some(dir) = &args.export_binary {
            build.stage = Some("binary".into());
            build.output = Output::Local(dir.clone());
        } else if args.push {
            build.output = Output::Push;
            if !args.no_attest {
                build.attestations = Some(Attestations {
                    sbom_generator: Some(ctx.config.text(&settings::SBOM_GENERATOR))
                        .filter(|g| !g.is_empty())
                        .map(String::from),
                });
            }
        }
        // When pushing, only the named tags: buildx pushes every tag, and the local name
        // (pixie-core:latest) would go to Docker Hub.
        build.tags = if args.push {
            pushed_tags(&image, args)
        } else {
            [build.tags.clone(), args.tags.clone()].concat()
        };
        let on_buildx = ctx.cli().route == BuildRoute::Buildx;
        let signing = match &args.sign {
            Some(_) if !on_buildx => bail!(
                "--sign signs the digest buildx reports for its push, but {} {}; \
                 install docker-buildx-plugin, or push with --no-attest and run `cosign sign --key KEY IMAGE@DIGEST`",
                ctx.cli().path.display(),
                crate::docker::build::builds_with(ctx.cli().route)
            ),
            Some(key) => {
                // In the temp folder, not target/xtask: `clean` empties that, a push may be running.
                let metadata =
                    std::env::temp_dir().join(format!("pixie-push-{}.json", std::process::id()));
                build.metadata_file = Some(metadata.clone());
                plan.cleanup.push(action(
                    "remove the push metadata",
                    RemoveTree(metadata.clone()),
                ));
                Some(SignPushed {
                    cosign: sign::cosign()?,
                    key: std::path::absolute(key)?,
                    metadata,
                    repositories: pushed_tags(&image, args)
                        .iter()
                        .map(|tag| sign::repository_of(tag).to_string())
                        .collect(),
                })
            }
            None => None,
        };
        plan.append(build.plan(&ctx.docker())?);
        if args.push && ctx.cli().route.pushes_separately() {
            for tag in pushed_tags(&image, args) {
                plan.push(push_step(&ctx.docker(), &tag));
            }
        }
        if let Some(sign) = signing {
            plan.push(action("sign the pushed digest with cosign", sign));
        }
    }
    Ok(plan)
}

fn pushed_tags(image: &str, args: &BuildArgs) -> Vec<String> {
    if args.tags.is_empty() {
        vec![image.to_string()]
    } else {
        args.tags.clone()
    }
}

/// The Go module a build compiles (its `MODULE` build argument; core's for build-dev).
fn module_of(build: &DockerBuild) -> &str {
    build
        .build_args
        .iter()
        .find(|(key, _)| key == "MODULE")
        .map_or("core", |(_, dir)| dir.as_str())
}

/// A build of `target` as the settings make it, before it becomes steps: what every command
/// that builds starts from. A command may change `build` (build-prod's `--push`, say), never
/// drop a setting.
pub struct Configured {
    /// What runs before the build: the checks a user would make first (a tidy module, first of
    /// all, since it needs no engine; the daemon; base images the engine has or can pull), then
    /// vendor's own plan when `build.vendor` needs it.
    pub before: Plan,
    pub build: DockerBuild,
}

impl Configured {
    /// `before`, the build step, and what runs after it whatever happened.
    pub fn finish(self, ctx: &Ctx) -> Result<Plan> {
        let mut plan = self.before;
        plan.append(self.build.plan(&ctx.docker())?);
        Ok(plan)
    }
}

/// The build of `target` with every build setting applied (prod: core's image), and what must
/// run before it.
pub fn configured(ctx: &Ctx, target: Target) -> Result<Configured> {
    Ok(Configured {
        before: checks(ctx, target, &["core"])?,
        build: image_build(ctx, target),
    })
}

/// What runs before builds of `target` compiling `modules` (their folders).
fn checks(ctx: &Ctx, target: Target, modules: &[&str]) -> Result<Plan> {
    let mut before = Plan::default();
    for dir in modules {
        match &ctx.host.go {
            Some(go) => before.push(action(
                format!("check that {dir}/go.mod and go.sum are tidy"),
                CheckTidy {
                    go: go.clone(),
                    module: ctx.ws.path(dir),
                    dir: dir.to_string(),
                    env: toolchain::module_env(&ctx.config),
                    before_build: true,
                },
            )),
            None => before.notes.push(format!(
                "no `go` on PATH: {dir}/go.mod is not checked for tidiness"
            )),
        }
    }
    before.push(action(
        "check that the daemon answers",
        CheckDaemon(ctx.cli().clone()),
    ));
    if let Some(check) = CheckBaseImages::of(&ctx.cli().path, &ctx.config, &[target]) {
        before.push(action(
            "check that the base images are on the engine or pullable",
            check,
        ));
    }
    before.append(vendoring(ctx, target)?);
    Ok(before)
}

/// With `build.vendor` set, what makes core/vendor current before a prod build: vendor's own
/// plan, included (its lock, its steps, its cleanup), unless the fingerprint says nothing
/// changed since the last refresh; otherwise nothing.
pub fn vendoring(ctx: &Ctx, target: Target) -> Result<Plan> {
    let mut plan = Plan::default();
    if !vendored(ctx, target) {
        return Ok(plan);
    }
    if vendor::is_current(&ctx.ws) {
        plan.notes.push(
            "core/vendor is current (go.mod, go.sum and vendor/modules.txt unchanged since the last `cargo xtask vendor`): no refresh".into(),
        );
    } else {
        plan.include("refresh core/vendor (what `cargo xtask vendor` runs)", vendor::plan(ctx, false)?);
    }
    Ok(plan)
}

fn vendored(ctx: &Ctx, target: Target) -> bool {
    target == Target::Prod && ctx.config.flag(&settings::VENDOR)
}

/// The image build of `target` with every build setting applied (prod: core's image).
pub fn image_build(ctx: &Ctx, target: Target) -> DockerBuild {
    match target {
        Target::Prod => module_build(ctx, &ModuleImage::core()),
        Target::Dev => {
            let cfg = &ctx.config;
            let image = target.image(cfg);
            let mut build = DockerBuild::new(format!("build dev image {image}"), target.dockerfile())
                .build_arg("GO_IMAGE", cfg.text(&settings::GO_IMAGE));
            build.tags = vec![image];
            with_cache_settings(ctx, build)
        }
    }
}

/// The production image build of one module with every build setting applied (vendored: from
/// the workspace's vendor/ with no network). Every prod build a command makes starts here; a
/// command changes what it must (the bench its tags), never drops a setting.
pub fn module_build(ctx: &Ctx, module: &ModuleImage) -> DockerBuild {
    let cfg = &ctx.config;
    let image = module.image(cfg);
    let mut build = DockerBuild::new(
        format!("build prod image {image}"),
        Target::Prod.dockerfile(),
    )
    .build_arg("GO_IMAGE", cfg.text(&settings::GO_IMAGE));
    build.tags = vec![image];
    build.stage = Some(module.stage().to_string());
    build.compile_stage = Some(module.compile_stage());
    build.timestamp = Some(ctx.ws.stamp.epoch);
    let mut build = with_cache_settings(ctx, build);
    let text = |spec| Some(cfg.text(spec)).filter(|v| !v.is_empty());
    build.secrets = text(&settings::NETRC)
        .map(|src| Secret {
            id: "netrc".into(),
            src: src.into(),
        })
        .into_iter()
        .collect();
    let stamp = &ctx.ws.stamp;
    // MODULE and BINARY are the stage's own defaults; passed for the Podman builder route,
    // which runs go-build.sh with the build arguments as its environment.
    build = build
        .build_arg("MODULE", &module.module.dir)
        .build_arg("BINARY", module.binary())
        .build_arg("RUNTIME_IMAGE", cfg.text(&settings::RUNTIME_IMAGE))
        .build_arg("VERSION", &stamp.version)
        .build_arg("COMMIT", &stamp.commit)
        .build_arg("BUILD_DATE", &stamp.date);
    let gogc = &cfg.gogc(&settings::GOGC).0;
    if !gogc.is_empty() {
        build = build.build_arg("GOGC", gogc);
    }
    // Module download only (the Dockerfile scopes them to that stage); the netrc is a secret.
    for (name, value) in toolchain::module_proxy_settings(cfg) {
        build = build.build_arg(name, value);
    }
    let goflags = cfg.text(&settings::GOFLAGS);
    if !goflags.is_empty() {
        build = build.build_arg("GOFLAGS", goflags);
    }
    if vendored(ctx, Target::Prod) {
        // The proof that vendoring is complete: the build gets no network at all.
        build.offline = true;
        build = build.build_arg("GO_MOD_MODE", "vendor");
    }
    build
}

/// The builder, cache and platform settings, which every build takes.
fn with_cache_settings(ctx: &Ctx, mut build: DockerBuild) -> DockerBuild {
    let cfg = &ctx.config;
    let text = |spec| Some(cfg.text(spec)).filter(|v| !v.is_empty());
    build.builder = text(&settings::BUILDER).map(String::from);
    build.cache_from = cfg
        .words(&settings::CACHE_FROM)
        .iter()
        .map(|s| CacheSpec::parse(s))
        .collect();
    build.cache_to = text(&settings::CACHE_TO).map(CacheSpec::parse);
    build.platform = text(&settings::PLATFORM).map(String::from);
    build
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::build::builtin_buildkit_lock;
    use crate::files::RecordFingerprint;
    use crate::plan::{Action, ActionCx, Step, Task};
    use crate::settings::{Flags, Value};
    use crate::ui::Ui;
    use crate::workspace::{DEV_DOCKERFILE, PROD_DOCKERFILE};

    /// The build steps (the commands) of a plan.
    fn commands(plan: &Plan) -> Vec<Step> {
        plan.commands().into_iter().cloned().collect()
    }

    fn first(route: BuildRoute, env: &[(&str, &str)], flags: Flags, target: Target) -> Step {
        let ctx = ctx_with(route, env, flags);
        commands(&plan(&ctx, target, &BuildArgs::default()).unwrap()).remove(0)
    }

    #[test]
    fn prod_build_passes_base_images_and_stamp_as_build_args() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let plan = plan(&ctx, Target::Prod, &BuildArgs::default()).unwrap();
        let step = &commands(&plan)[0];
        assert_eq!(step.args[0], "build");
        assert_eq!(step.flag_value("--file"), Some(PROD_DOCKERFILE));
        assert_eq!(step.flag_value("--tag"), Some("pixie-core:latest"));
        let args: Vec<&str> = step.flag_values("--build-arg").collect();
        assert!(
            args.contains(&"GO_IMAGE=golang:1.26.8-alpine3.23"),
            "{args:?}"
        );
        assert!(args.contains(&"RUNTIME_IMAGE=alpine:3.23.0"), "{args:?}");
        assert!(args.contains(&"COMMIT=0123abc"), "{args:?}");
        assert!(
            args.contains(&"BUILD_DATE=2026-11-25T14:44:05Z"),
            "{args:?}"
        );
        assert!(
            !args.iter().any(|a| a.starts_with("GOGC=")),
            "GOGC unset means Go's default: {args:?}"
        );
        assert_eq!(step.args.last().map(String::as_str), Some("."));
        assert_eq!(step.env_value("DOCKER_BUILDKIT"), Some("1"));
        assert_eq!(step.cwd, ctx.ws.root);
    }

    #[test]
    fn built_in_route_builds_one_at_a_time_and_buildx_does_not_wait() {
        let built_in = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let step = first(BuildRoute::BuiltIn, &[], Flags::new(), Target::Dev);
        assert_eq!(step.lock, Some(builtin_buildkit_lock(&built_in.docker())));
        let step = first(BuildRoute::Buildx, &[], Flags::new(), Target::Dev);
        assert_eq!(step.lock, None);
    }

    #[test]
    fn buildx_route_loads_the_result_into_the_engine() {
        let step = first(BuildRoute::Buildx, &[], Flags::new(), Target::Prod);
        assert_eq!(&step.args[..2], ["buildx", "build"]);
        assert!(step.args.contains(&"--load".to_string()), "{:?}", step.args);
    }

    fn prod_plan(
        route: BuildRoute,
        env: &[(&str, &str)],
        flags: Flags,
        args: BuildArgs,
    ) -> Result<Plan> {
        let ctx = ctx_with(route, env, flags);
        plan(&ctx, Target::Prod, &args)
    }

    fn text(spec: &'static settings::Spec, value: &str) -> (&'static settings::Spec, Value) {
        (spec, Value::parse(spec.kind, value).unwrap())
    }

    #[test]
    fn buildx_passes_builder_and_cache_specs_through() {
        let flags = vec![
            text(&settings::BUILDER, "remote1"),
            text(
                &settings::CACHE_FROM,
                "type=local,src=/cache reg.example/pixie:cache",
            ),
            text(
                &settings::CACHE_TO,
                "type=registry,ref=reg.example/pixie:cache,mode=max",
            ),
        ];
        let plan = prod_plan(BuildRoute::Buildx, &[], flags, BuildArgs::default()).unwrap();
        let step = &commands(&plan)[0];
        assert_eq!(step.flag_value("--builder"), Some("remote1"));
        assert_eq!(
            step.flag_values("--cache-from").collect::<Vec<_>>(),
            [
                "type=local,src=/cache",
                "type=registry,ref=reg.example/pixie:cache"
            ]
        );
        assert_eq!(
            step.flag_value("--cache-to"),
            Some("type=registry,ref=reg.example/pixie:cache,mode=max")
        );
    }

    #[test]
    fn built_in_route_maps_inline_cache_and_image_refs() {
        let flags = vec![
            text(
                &settings::CACHE_FROM,
                "type=registry,ref=127.0.0.1:5000/pixie:cache",
            ),
            text(&settings::CACHE_TO, "type=inline"),
        ];
        let plan = prod_plan(BuildRoute::BuiltIn, &[], flags, BuildArgs::default()).unwrap();
        let step = &commands(&plan)[0];
        assert_eq!(
            step.flag_value("--cache-from"),
            Some("127.0.0.1:5000/pixie:cache")
        );
        assert!(step
            .flag_values("--build-arg")
            .any(|a| a == "BUILDKIT_INLINE_CACHE=1"));
        assert!(!step.args.iter().any(|a| a == "--cache-to"));
    }

    #[test]
    fn built_in_route_refuses_what_it_cannot_do_before_running() {
        let refuse = |flags: Flags| {
            format!(
                "{:#}",
                prod_plan(BuildRoute::BuiltIn, &[], flags, BuildArgs::default()).unwrap_err()
            )
        };
        let message = refuse(vec![text(
            &settings::CACHE_TO,
            "type=registry,ref=r/p:c,mode=max",
        )]);
        assert!(
            message.starts_with(
                "--cache-to `type=registry,ref=r/p:c,mode=max` needs the buildx plugin"
            ),
            "{message}"
        );
        let message = refuse(vec![text(&settings::CACHE_FROM, "type=local,src=/cache")]);
        assert!(
            message.contains("install docker-buildx-plugin"),
            "{message}"
        );
        let message = refuse(vec![text(&settings::BUILDER, "k8s")]);
        assert!(
            message.starts_with("--builder k8s needs the buildx plugin"),
            "{message}"
        );
    }

    #[test]
    fn gha_cache_without_the_actions_runtime_is_refused_up_front() {
        let message = format!(
            "{:#}",
            prod_plan(
                BuildRoute::Buildx,
                &[],
                vec![text(&settings::CACHE_TO, "type=gha,mode=max")],
                BuildArgs::default()
            )
            .unwrap_err()
        );
        assert!(
            message.contains("ACTIONS_RUNTIME_TOKEN is unset")
                && message.contains("crazy-max/ghaction-github-runtime"),
            "{message}"
        );
        let explicit = vec![text(
            &settings::CACHE_FROM,
            "type=gha,url=http://cache,token=t",
        )];
        assert!(prod_plan(BuildRoute::Buildx, &[], explicit, BuildArgs::default()).is_ok());
        let mut ctx = ctx_with(
            BuildRoute::Buildx,
            &[],
            vec![text(&settings::CACHE_TO, "type=gha,mode=max")],
        );
        ctx.host.actions_cache = true;
        assert!(plan(&ctx, Target::Prod, &BuildArgs::default()).is_ok());
    }

    #[test]
    fn push_is_a_buildx_flag_or_push_steps_on_the_built_in_route() {
        let args = || BuildArgs {
            module: Some("core".into()),
            push: true,
            tags: vec!["reg/pixie-core:v1".into(), "reg/pixie-core:latest".into()],
            ..BuildArgs::default()
        };
        let buildx = prod_plan(BuildRoute::Buildx, &[], Flags::new(), args()).unwrap();
        let buildx = commands(&buildx);
        assert_eq!(buildx.len(), 1);
        assert!(buildx[0].args.contains(&"--push".to_string()));
        assert!(!buildx[0].args.contains(&"--load".to_string()));
        // The built-in route cannot attest: pushing from it takes an explicit --no-attest.
        let unattested = BuildArgs {
            no_attest: true,
            ..args()
        };
        let built_in = prod_plan(BuildRoute::BuiltIn, &[], Flags::new(), unattested).unwrap();
        let built_in = commands(&built_in);
        let pushes: Vec<String> = built_in[1..].iter().map(|s| s.args.join(" ")).collect();
        assert_eq!(
            pushes,
            ["push reg/pixie-core:v1", "push reg/pixie-core:latest"]
        );
        // Only the named tags: buildx would push the local name to Docker Hub too.
        for steps in [&buildx, &built_in] {
            assert_eq!(
                steps[0].flag_values("--tag").collect::<Vec<_>>(),
                ["reg/pixie-core:v1", "reg/pixie-core:latest"]
            );
        }
    }

    #[test]
    fn buildx_pushes_attest_with_an_sbom_and_max_provenance_and_built_in_refuses() {
        let push = || BuildArgs {
            module: Some("core".into()),
            push: true,
            tags: vec!["reg/pixie-core:v1".into()],
            ..BuildArgs::default()
        };
        let step = &commands(&prod_plan(BuildRoute::Buildx, &[], Flags::new(), push()).unwrap())[0];
        assert!(
            step.args
                .windows(3)
                .any(|w| w == ["--push", "--sbom=true", "--provenance=mode=max"]),
            "{:?}",
            step.args
        );
        let generator = vec![text(&settings::SBOM_GENERATOR, "reg/sbom-generator:1")];
        let step = &commands(&prod_plan(BuildRoute::Buildx, &[], generator, push()).unwrap())[0];
        assert_eq!(
            step.flag_value("--attest"),
            Some("type=sbom,generator=reg/sbom-generator:1")
        );
        assert!(!step.args.contains(&"--sbom=true".to_string()));
        let unattested = BuildArgs {
            no_attest: true,
            ..push()
        };
        let step =
            &commands(&prod_plan(BuildRoute::Buildx, &[], Flags::new(), unattested).unwrap())[0];
        assert!(!step
            .args
            .iter()
            .any(|a| a.starts_with("--sbom") || a.starts_with("--provenance")));
        let message = prod_plan(BuildRoute::BuiltIn, &[], Flags::new(), push())
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "--push cannot attest (SBOM, provenance) through the engine's built-in BuildKit (/usr/bin/docker); \
             install docker-buildx-plugin to push attested images, or add --no-attest to push without"
        );
    }

    #[test]
    fn sign_takes_the_digest_buildx_reports_and_the_built_in_route_refuses() {
        let args = || BuildArgs {
            module: Some("core".into()),
            push: true,
            sign: Some("/keys/cosign.key".into()),
            tags: vec!["127.0.0.1:5000/pixie-core:v1".into()],
            ..BuildArgs::default()
        };
        let Ok(cosign) = sign::cosign() else {
            // No cosign here: the one-line refusal is what the plan gives.
            let message = prod_plan(BuildRoute::Buildx, &[], Flags::new(), args())
                .unwrap_err()
                .to_string();
            assert!(message.starts_with("--sign "), "{message}");
            return;
        };
        let plan = prod_plan(BuildRoute::Buildx, &[], Flags::new(), args()).unwrap();
        let metadata = commands(&plan)[0]
            .flag_value("--metadata-file")
            .unwrap()
            .to_string();
        assert_eq!(
            plan.actions::<SignPushed>(),
            [&SignPushed {
                cosign,
                key: "/keys/cosign.key".into(),
                metadata: metadata.into(),
                repositories: vec!["127.0.0.1:5000/pixie-core".into()],
            }]
        );
        let message = prod_plan(
            BuildRoute::BuiltIn,
            &[],
            Flags::new(),
            BuildArgs {
                no_attest: true,
                ..args()
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            message,
            "--sign signs the digest buildx reports for its push, but /usr/bin/docker uses the engine's built-in \
             BuildKit; install docker-buildx-plugin, or push with --no-attest and run `cosign sign --key KEY IMAGE@DIGEST`"
        );
    }

    #[test]
    fn a_multi_platform_list_is_pushed_through_buildx_only() {
        let both = || vec![text(&settings::PLATFORM, "linux/amd64,linux/arm64")];
        let push = BuildArgs {
            module: Some("core".into()),
            push: true,
            tags: vec!["reg/pixie-core:v1".into()],
            ..BuildArgs::default()
        };
        let step = &commands(&prod_plan(BuildRoute::Buildx, &[], both(), push.clone()).unwrap())[0];
        assert_eq!(
            step.flag_value("--platform"),
            Some("linux/amd64,linux/arm64")
        );
        let message = prod_plan(BuildRoute::BuiltIn, &[], both(), push)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "--platform linux/amd64,linux/arm64 needs the buildx route: /usr/bin/docker uses the engine's built-in \
             BuildKit, which cannot make a manifest list; install docker-buildx-plugin (or point DOCKER at a CLI with buildx)"
        );
        let message = prod_plan(BuildRoute::Buildx, &[], both(), BuildArgs::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "--platform linux/amd64,linux/arm64 makes a manifest list, which the engine's image store cannot load; \
             add --push (with --tag REGISTRY/IMAGE), or build one platform"
        );
    }

    #[test]
    fn vendor_includes_vendors_own_plan_then_builds_without_network() {
        let flags = vec![(&settings::VENDOR, Value::Bool(true))];
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], flags.clone());
        let plan = plan(&ctx, Target::Prod, &BuildArgs::default()).unwrap();
        // Vendor's very plan (its lock, steps and cleanup), not the xtask started again.
        let included = plan
            .steps
            .iter()
            .find_map(|task| match task {
                Task::Include { plan, .. } => Some(plan),
                _ => None,
            })
            .expect("vendor's plan is included");
        assert_eq!(**included, vendor::plan(&ctx, false).unwrap());
        let steps = commands(&plan);
        assert_eq!(steps[0].args[..2], ["mod", "vendor"]);
        assert!(!steps.iter().any(|s| s.program.ends_with("xtask")), "{plan}");
        let build = &steps[1];
        assert!(build.args.contains(&"--network=none".to_string()));
        assert!(build
            .flag_values("--build-arg")
            .any(|a| a == "GO_MOD_MODE=vendor"));
        let text = plan.to_string();
        assert!(
            text.contains("# refresh core/vendor (what `cargo xtask vendor` runs):\n")
                && text.contains("vendor.lock && flock 9\n"),
            "{text}"
        );
        // Config and env reach the same switch.
        let from_env = prod_plan(
            BuildRoute::BuiltIn,
            &[("PIXIE_VENDOR", "true")],
            Flags::new(),
            BuildArgs::default(),
        )
        .unwrap();
        // Vendoring, then one build per module image.
        assert_eq!(from_env.commands().len(), 3);
    }

    #[test]
    fn vendor_refresh_is_skipped_while_its_inputs_and_output_are_unchanged() {
        let mut ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[],
            vec![(&settings::VENDOR, Value::Bool(true))],
        );
        let root = std::env::temp_dir().join(format!("xtask-vendor-skip-{}", std::process::id()));
        for file in [
            "core/go.mod",
            "core/go.sum",
            "core/vendor/modules.txt",
            "core/cmd/pixie-core/main.go",
            PROD_DOCKERFILE,
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        std::fs::write(root.join("go.work"), "go 1.26.0\nuse ./core\n").unwrap();
        ctx.ws.root = root.clone();
        let refreshes = |ctx: &Ctx| {
            commands(&plan(ctx, Target::Prod, &BuildArgs::default()).unwrap())[0].args[..2]
                == ["mod", "vendor"]
        };
        assert!(refreshes(&ctx), "no fingerprint yet");
        // What a refresh records as its last step.
        let cx = ActionCx {
            ui: Ui::default(),
            since: std::time::Instant::now(),
        };
        vendor::plan(&ctx, false).unwrap().actions::<RecordFingerprint>()[0]
            .run(&cx)
            .unwrap();
        assert!(!refreshes(&ctx));
        let skipped = plan(&ctx, Target::Prod, &BuildArgs::default()).unwrap();
        assert!(
            skipped.notes[1].starts_with("core/vendor is current"),
            "{:?}",
            skipped.notes
        );
        std::fs::write(root.join("core/go.sum"), "changed").unwrap();
        assert!(refreshes(&ctx), "go.sum changed");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn export_binary_targets_the_binary_stage_into_a_local_dir() {
        for route in [BuildRoute::BuiltIn, BuildRoute::Buildx] {
            let args = BuildArgs {
                export_binary: Some("/tmp/out".into()),
                no_cache: true,
                ..BuildArgs::default()
            };
            let plan = prod_plan(route, &[], Flags::new(), args).unwrap();
            let step = &commands(&plan)[0];
            assert_eq!(step.flag_value("--target"), Some("binary"));
            assert_eq!(
                step.flag_value("--output"),
                Some("type=local,dest=/tmp/out")
            );
            assert!(step.args.contains(&"--no-cache".to_string()));
            assert!(!step.args.contains(&"--load".to_string()));
        }
    }

    #[test]
    fn platform_gogc_and_netrc_settings_reach_the_build() {
        let flags = vec![
            text(&settings::PLATFORM, "linux/arm64"),
            text(&settings::GOGC, "off"),
            text(&settings::NETRC, "/home/u/.netrc"),
            text(
                &settings::GOPROXY,
                "http://goproxy.corp,https://proxy.golang.org",
            ),
            text(&settings::GONOSUMDB, "corp.example/*"),
        ];
        let step = first(BuildRoute::BuiltIn, &[], flags, Target::Prod);
        assert_eq!(step.flag_value("--platform"), Some("linux/arm64"));
        assert!(step.flag_values("--build-arg").any(|a| a == "GOGC=off"));
        assert_eq!(
            step.flag_value("--secret"),
            Some("id=netrc,src=/home/u/.netrc")
        );
        let args: Vec<&str> = step.flag_values("--build-arg").collect();
        assert!(
            args.contains(&"GOPROXY=http://goproxy.corp,https://proxy.golang.org")
                && args.contains(&"GONOSUMDB=corp.example/*")
                && !args
                    .iter()
                    .any(|a| a.starts_with("GOPRIVATE=") || a.contains("netrc")),
            "{args:?}"
        );
    }

    #[test]
    fn env_overrides_base_images() {
        let step = first(
            BuildRoute::BuiltIn,
            &[("PIXIE_GO_IMAGE", "pixie-base/go:1.26.8")],
            Flags::new(),
            Target::Dev,
        );
        assert_eq!(step.flag_value("--file"), Some(DEV_DOCKERFILE));
        assert_eq!(step.flag_value("--tag"), Some("pixie-core-dev:latest"));
        assert_eq!(
            step.flag_values("--build-arg").collect::<Vec<_>>(),
            ["GO_IMAGE=pixie-base/go:1.26.8"]
        );
    }
}
