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
use crate::docker::bake::Bake;
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
    about: "Build the production image of every Go module with one, or of each --module NAME (deployments/docker/core.Dockerfile, target NAME; context: the repo root filtered by .dockerignore).",
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
            .action(ArgAction::Append)
            .help("Build this module's image only (repeatable; core, thumbnailer: go.work's modules with a cmd/pixie-NAME main package)."),
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
    /// The modules whose images to build; every module's when empty.
    pub modules: Vec<String>,
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
            modules: matches
                .get_many::<String>("module")
                .map(|m| m.cloned().collect())
                .unwrap_or_default(),
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
    let images = match (target, &args.export_binary) {
        (Target::Dev, _) => return Ok(vec![image_build(ctx, target)]),
        (Target::Prod, Some(_)) => match args.modules.iter().find(|name| *name != "core") {
            Some(name) => bail!(
                "--export-binary writes core's binary (the Dockerfile's `binary` stage); drop --module {name}"
            ),
            None => vec![ModuleImage::core()],
        },
        (Target::Prod, None) => ModuleImage::selected(&ctx.ws, &args.modules)?,
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
    // The builds as this command makes them, then what follows them (pushes, signing).
    let mut ready = Vec::new();
    let mut after = Plan::default();
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
        ready.push(build);
        if args.push && ctx.cli().route.pushes_separately() {
            for tag in pushed_tags(&image, args) {
                after.push(push_step(&ctx.docker(), &tag));
            }
        }
        if let Some(sign) = signing {
            after.push(action("sign the pushed digest with cosign", sign));
        }
    }
    // One BuildKit run for every image where the route has one (buildx bake), else one build
    // after the other on the engine's shared cache.
    let site = ctx.docker();
    if Bake::fits(&ready, &site) {
        plan.append(Bake { builds: ready }.plan(&site)?);
    } else {
        for build in &ready {
            plan.append(build.plan(&site)?);
        }
    }
    plan.append(after);
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

/// With `build.vendor` set, what makes vendor/ current before a prod build: vendor's own
/// plan, included (its lock, its steps, its cleanup), unless the fingerprint says nothing
/// changed since the last refresh; otherwise nothing.
pub fn vendoring(ctx: &Ctx, target: Target) -> Result<Plan> {
    let mut plan = Plan::default();
    if !vendored(ctx, target) {
        return Ok(plan);
    }
    if vendor::is_current(&ctx.ws) {
        plan.notes.push(
            "vendor/ is current (go.work, the modules' go.mod and go.sum, and vendor/modules.txt unchanged since the last `cargo xtask vendor`): no refresh".into(),
        );
    } else {
        plan.include(
            "refresh vendor/ (what `cargo xtask vendor` runs)",
            vendor::plan(ctx, false)?,
        );
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
mod tests;
