//! `build-prod` and `build-dev`: one BuildKit build of an image, with the workspace root as
//! context (the allow-list `.dockerignore` there decides what reaches the daemon).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::Ctx;
use crate::config::{Gogc, Overrides};
use crate::engine::BuildRoute;
use crate::exec;
use crate::plan::{Plan, Step};
use crate::workspace::{DEV_DOCKERFILE, PROD_DOCKERFILE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Prod,
    Dev,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Prod => "prod",
            Target::Dev => "dev",
        }
    }

    pub fn dockerfile(self) -> &'static str {
        match self {
            Target::Prod => PROD_DOCKERFILE,
            Target::Dev => DEV_DOCKERFILE,
        }
    }

    pub fn image(self, ctx: &Ctx) -> String {
        match self {
            Target::Prod => ctx.config.prod_image.value.clone(),
            Target::Dev => ctx.config.dev_image.value.clone(),
        }
    }
}

/// `build-prod` flags; settings among them (platform, gogc, vendor, builder, caches) can also
/// come from PIXIE_* env or deployments/pixie.yaml.
#[derive(Args, Debug, Default)]
pub struct BuildArgs {
    /// Target platform, e.g. linux/arm64 (cross-compiled by the native Go toolchain, no emulation).
    #[arg(long)]
    pub platform: Option<String>,
    /// GOGC for the compile step only: off, or a percentage. Default: unset, Go's own heap sizing,
    /// the fastest setting that keeps memory low in our sweep (20.7 s, 299 MiB vs off 19.2 s,
    /// 669 MiB, GOGC=100 24.5 s; README "GOGC").
    #[arg(long, value_parser = |v: &str| v.parse::<Gogc>())]
    pub gogc: Option<Gogc>,
    /// Refresh core/vendor (`cargo xtask vendor`), then build from it with no network at all.
    #[arg(long)]
    pub vendor: bool,
    /// Ignore every cached layer.
    #[arg(long)]
    pub no_cache: bool,
    /// Write only the binary into DIR (the Dockerfile's `binary` stage) instead of an image.
    #[arg(long, value_name = "DIR", conflicts_with = "push")]
    pub export_binary: Option<PathBuf>,
    /// Extra image tag (repeatable); with --push, the tags pushed.
    #[arg(long = "tag", value_name = "IMAGE")]
    pub tags: Vec<String>,
    /// Push the image (with --tag) to its registry.
    #[arg(long)]
    pub push: bool,
    /// buildx builder to build on (remote, kubernetes, docker-container drivers). buildx only.
    #[arg(long)]
    pub builder: Option<String>,
    /// Cache to import, in buildx syntax (type=registry,ref=R / type=gha / type=local,src=D) or a
    /// bare image ref (repeatable).
    #[arg(long, value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// Cache to export (type=registry,ref=R,mode=max / type=gha / type=local,dest=D / type=inline).
    #[arg(long, value_name = "SPEC")]
    pub cache_to: Option<String>,
}

impl BuildArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            platform: self.platform.clone(),
            gogc: self.gogc.clone(),
            vendor: self.vendor.then_some(true),
            builder: self.builder.clone(),
            cache_from: (!self.cache_from.is_empty()).then(|| self.cache_from.join(" ")),
            cache_to: self.cache_to.clone(),
            ..Overrides::default()
        }
    }
}

pub fn run(ctx: &Ctx, target: Target, args: &BuildArgs) -> Result<()> {
    let plan = plan(ctx, target, args)?;
    if ctx.dry_run {
        print!("{plan}");
        return Ok(());
    }
    ctx.engine.daemon_version()?;
    exec::run(&plan, &ctx.ui)?;
    if args.push {
        ctx.ui.info(format_args!(
            "pushed {}",
            pushed_tags(ctx, target, args).join(", ")
        ));
    } else if let Some(dir) = &args.export_binary {
        ctx.ui
            .info(format_args!("binary written to {}", dir.display()));
    } else {
        let image = target.image(ctx);
        if let Some(bytes) = ctx.engine.image_size(&image) {
            ctx.ui
                .info(format_args!("image {image}: {:.1} MB", bytes as f64 / 1e6));
        }
    }
    Ok(())
}

pub fn plan(ctx: &Ctx, target: Target, args: &BuildArgs) -> Result<Plan> {
    let mut plan = Plan {
        notes: vec![ctx.engine_note()],
        ..Plan::default()
    };
    let vendored = target == Target::Prod && ctx.config.vendor.value;
    if vendored {
        let xtask = std::env::current_exe().context("cannot locate the xtask binary")?;
        plan.steps
            .push(Step::new("refresh core/vendor", xtask, &ctx.ws.root).arg("vendor"));
    }
    plan.steps.push(docker_build(ctx, target, args, vendored)?);
    if args.push && ctx.cli().route == BuildRoute::BuiltIn {
        for tag in pushed_tags(ctx, target, args) {
            plan.steps.push(
                Step::new(format!("push {tag}"), &ctx.cli().path, &ctx.ws.root)
                    .args(["push", &tag])
                    .streamed(),
            );
        }
    }
    Ok(plan)
}

fn pushed_tags(ctx: &Ctx, target: Target, args: &BuildArgs) -> Vec<String> {
    if args.tags.is_empty() {
        vec![target.image(ctx)]
    } else {
        args.tags.clone()
    }
}

/// The plain local build of `target` that `run-*` use when the image is missing.
pub fn build_step(ctx: &Ctx, target: Target) -> Result<Step> {
    docker_build(ctx, target, &BuildArgs::default(), false)
}

fn docker_build(ctx: &Ctx, target: Target, args: &BuildArgs, vendored: bool) -> Result<Step> {
    ctx.ws.require(target.dockerfile())?;
    let cli = ctx.cli();
    let cfg = &ctx.config;
    let caches = CacheFlags::for_route(
        cli.route,
        &cfg.cache_from.value,
        &cfg.cache_to.value,
        &cli.path,
    )?;
    let mut step = Step::new(
        format!("build {} image {}", target.name(), target.image(ctx)),
        &cli.path,
        &ctx.ws.root,
    );
    match cli.route {
        BuildRoute::Buildx => {
            step = step.args(["buildx", "build"]);
            if !cfg.builder.value.is_empty() {
                step = step.args(["--builder", &cfg.builder.value]);
            }
        }
        BuildRoute::BuiltIn => {
            if !cfg.builder.value.is_empty() {
                bail!(
                    "--builder {} needs the buildx plugin, but {} uses the engine's built-in BuildKit; \
                     install docker-buildx-plugin (or point DOCKER at a CLI with buildx), or drop --builder",
                    cfg.builder.value,
                    cli.path.display()
                );
            }
            step = step.arg("build");
        }
    }
    if let Some(dir) = &args.export_binary {
        let dir = std::path::absolute(dir)?;
        step = step
            .args(["--target", "binary", "--output"])
            .arg(format!("type=local,dest={}", dir.display()));
    } else if cli.route == BuildRoute::Buildx {
        step = step.arg(if args.push { "--push" } else { "--load" });
    }
    step = step.args(["--file", target.dockerfile()]);
    // When pushing, only the named tags: buildx pushes every tag, and the local name
    // (pixie-core:latest) would go to Docker Hub.
    let tags = if args.push {
        pushed_tags(ctx, target, args)
    } else {
        [vec![target.image(ctx)], args.tags.clone()].concat()
    };
    for tag in &tags {
        step = step.args(["--tag", tag]);
    }
    let mut build_args = vec![("GO_IMAGE", cfg.go_image.value.clone())];
    if target == Target::Prod {
        let info = ctx.ws.build_info();
        build_args.extend([
            ("RUNTIME_IMAGE", cfg.runtime_image.value.clone()),
            ("VERSION", info.version),
            ("COMMIT", info.commit),
            ("BUILD_DATE", info.date),
        ]);
        if !cfg.gogc.value.0.is_empty() {
            build_args.push(("GOGC", cfg.gogc.value.0.clone()));
        }
        if !cfg.goflags.value.is_empty() {
            build_args.push(("GOFLAGS", cfg.goflags.value.clone()));
        }
        if vendored {
            build_args.push(("GO_MOD_MODE", "vendor".to_string()));
        }
    }
    build_args.extend(caches.build_args);
    for (key, value) in build_args {
        step = step.arg("--build-arg").arg(format!("{key}={value}"));
    }
    step = step.args(caches.flags);
    if vendored {
        // The proof that vendoring is complete: RUN steps get no network at all.
        step = step.arg("--network=none");
    }
    if args.no_cache {
        step = step.arg("--no-cache");
    }
    if !cfg.platform.value.is_empty() {
        step = step.arg("--platform").arg(&cfg.platform.value);
    }
    let step = step.arg(".").envs(ctx.docker_env()).streamed();
    Ok(match cli.route {
        // The 20.10 engine's BuildKit (0.8) can crash the whole daemon when builds that share
        // steps run at once ("panic: failed to get edge", moby/moby#42414): one at a time.
        BuildRoute::BuiltIn => step.serialized(builtin_buildkit_lock()),
        BuildRoute::Buildx => step,
    })
}

/// One lock per machine for builds through an engine's built-in BuildKit.
pub fn builtin_buildkit_lock() -> PathBuf {
    std::env::temp_dir().join("pixie-xtask-builtin-buildkit.lock")
}

/// Cache import/export as the BuildKit route can express it.
#[derive(Debug, Default, PartialEq, Eq)]
struct CacheFlags {
    flags: Vec<String>,
    build_args: Vec<(&'static str, String)>,
}

impl CacheFlags {
    /// buildx takes every spec as is; the built-in route of pre-23 CLIs knows only inline cache
    /// (export) and image refs (import), so anything else is refused before anything runs.
    fn for_route(
        route: BuildRoute,
        from: &str,
        to: &str,
        cli: &std::path::Path,
    ) -> Result<CacheFlags> {
        let mut cache = CacheFlags::default();
        let refuse = |spec: &str, what: &str| -> anyhow::Error {
            anyhow::anyhow!(
                "{what} `{spec}` needs the buildx plugin: {} uses the engine's built-in BuildKit, which can only \
                 export inline cache (--cache-to type=inline) and import it from an image (--cache-from IMAGE); \
                 install docker-buildx-plugin for registry, gha and local caches",
                cli.display()
            )
        };
        for spec in from
            .split_whitespace()
            .chain(Some(to).filter(|t| !t.is_empty()))
        {
            let gha = spec.split(',').any(|f| f == "type=gha");
            if gha
                && !spec.contains("token=")
                && std::env::var_os("ACTIONS_RUNTIME_TOKEN").is_none()
            {
                bail!(
                    "`{spec}` needs GitHub Actions' cache service, but ACTIONS_RUNTIME_TOKEN is unset; in a workflow \
                     add crazy-max/ghaction-github-runtime before this step, elsewhere use type=registry or type=local"
                );
            }
        }
        for spec in from.split_whitespace() {
            match (route, CacheSpec::parse(spec)) {
                (BuildRoute::Buildx, parsed) => {
                    cache.flags.extend(["--cache-from".into(), parsed.buildx()])
                }
                (BuildRoute::BuiltIn, CacheSpec::Registry(image)) => {
                    cache.flags.extend(["--cache-from".into(), image])
                }
                (BuildRoute::BuiltIn, _) => return Err(refuse(spec, "--cache-from")),
            }
        }
        if !to.is_empty() {
            match (route, CacheSpec::parse(to)) {
                (BuildRoute::Buildx, parsed) => {
                    cache.flags.extend(["--cache-to".into(), parsed.buildx()])
                }
                (BuildRoute::BuiltIn, CacheSpec::Inline) => {
                    cache.build_args.push(("BUILDKIT_INLINE_CACHE", "1".into()))
                }
                (BuildRoute::BuiltIn, _) => return Err(refuse(to, "--cache-to")),
            }
        }
        Ok(cache)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum CacheSpec {
    Inline,
    /// `type=registry,ref=IMAGE` without further options, or a bare image ref.
    Registry(String),
    /// Any other buildx spec, kept verbatim.
    Other(String),
}

impl CacheSpec {
    fn parse(spec: &str) -> CacheSpec {
        if !spec.contains('=') {
            return CacheSpec::Registry(spec.to_string());
        }
        let fields: Vec<(&str, &str)> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
        match fields.as_slice() {
            [("type", "inline")] => CacheSpec::Inline,
            [("type", "registry"), ("ref", image)] | [("ref", image), ("type", "registry")] => {
                CacheSpec::Registry(image.to_string())
            }
            _ => CacheSpec::Other(spec.to_string()),
        }
    }

    fn buildx(&self) -> String {
        match self {
            CacheSpec::Inline => "type=inline".into(),
            CacheSpec::Registry(image) => format!("type=registry,ref={image}"),
            CacheSpec::Other(spec) => spec.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::ctx_with;

    #[test]
    fn prod_build_passes_base_images_and_stamp_as_build_args() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Overrides::default());
        let plan = plan(&ctx, Target::Prod, &BuildArgs::default()).unwrap();
        let step = &plan.steps[0];
        assert_eq!(step.args[0], "build");
        assert_eq!(step.flag_value("--file"), Some(PROD_DOCKERFILE));
        assert_eq!(step.flag_value("--tag"), Some("pixie-core:latest"));
        let args: Vec<&str> = step.flag_values("--build-arg").collect();
        assert!(
            args.contains(&"GO_IMAGE=golang:1.26.8-alpine3.23"),
            "{args:?}"
        );
        assert!(args.contains(&"RUNTIME_IMAGE=alpine:3.23.0"), "{args:?}");
        assert!(args.iter().any(|a| a.starts_with("COMMIT=")), "{args:?}");
        assert!(
            args.iter().any(|a| a.starts_with("BUILD_DATE=")),
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
        let built_in = ctx_with(BuildRoute::BuiltIn, &[], Overrides::default());
        let step = &plan(&built_in, Target::Dev, &BuildArgs::default())
            .unwrap()
            .steps[0];
        assert_eq!(step.lock, Some(builtin_buildkit_lock()));
        let buildx = ctx_with(BuildRoute::Buildx, &[], Overrides::default());
        assert_eq!(
            plan(&buildx, Target::Dev, &BuildArgs::default())
                .unwrap()
                .steps[0]
                .lock,
            None
        );
    }

    #[test]
    fn buildx_route_loads_the_result_into_the_engine() {
        let ctx = ctx_with(BuildRoute::Buildx, &[], Overrides::default());
        let step = &plan(&ctx, Target::Prod, &BuildArgs::default())
            .unwrap()
            .steps[0];
        assert_eq!(&step.args[..3], ["buildx", "build", "--load"]);
    }

    fn prod_plan(route: BuildRoute, env: &[(&str, &str)], args: BuildArgs) -> Result<Plan> {
        let ctx = ctx_with(route, env, args.overrides());
        plan(&ctx, Target::Prod, &args)
    }

    #[test]
    fn buildx_passes_builder_and_cache_specs_through() {
        let args = BuildArgs {
            builder: Some("remote1".into()),
            cache_from: vec![
                "type=local,src=/cache".into(),
                "reg.example/pixie:cache".into(),
            ],
            cache_to: Some("type=registry,ref=reg.example/pixie:cache,mode=max".into()),
            ..BuildArgs::default()
        };
        let plan = prod_plan(BuildRoute::Buildx, &[], args).unwrap();
        let step = &plan.steps[0];
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
        let args = BuildArgs {
            cache_from: vec!["type=registry,ref=127.0.0.1:5000/pixie:cache".into()],
            cache_to: Some("type=inline".into()),
            ..BuildArgs::default()
        };
        let step = &prod_plan(BuildRoute::BuiltIn, &[], args).unwrap().steps[0];
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
        let refuse = |args: BuildArgs| {
            format!(
                "{:#}",
                prod_plan(BuildRoute::BuiltIn, &[], args).unwrap_err()
            )
        };
        let message = refuse(BuildArgs {
            cache_to: Some("type=registry,ref=r/p:c,mode=max".into()),
            ..BuildArgs::default()
        });
        assert!(
            message.starts_with(
                "--cache-to `type=registry,ref=r/p:c,mode=max` needs the buildx plugin"
            ),
            "{message}"
        );
        let message = refuse(BuildArgs {
            cache_from: vec!["type=local,src=/cache".into()],
            ..BuildArgs::default()
        });
        assert!(
            message.contains("install docker-buildx-plugin"),
            "{message}"
        );
        let message = refuse(BuildArgs {
            builder: Some("k8s".into()),
            ..BuildArgs::default()
        });
        assert!(
            message.starts_with("--builder k8s needs the buildx plugin"),
            "{message}"
        );
    }

    #[test]
    fn gha_cache_without_the_actions_runtime_is_refused_up_front() {
        assert!(
            std::env::var_os("ACTIONS_RUNTIME_TOKEN").is_none(),
            "test assumes no Actions cache service"
        );
        let args = BuildArgs {
            cache_to: Some("type=gha,mode=max".into()),
            ..BuildArgs::default()
        };
        let message = format!(
            "{:#}",
            prod_plan(BuildRoute::Buildx, &[], args).unwrap_err()
        );
        assert!(
            message.contains("ACTIONS_RUNTIME_TOKEN is unset")
                && message.contains("crazy-max/ghaction-github-runtime"),
            "{message}"
        );
        let explicit = BuildArgs {
            cache_from: vec!["type=gha,url=http://cache,token=t".into()],
            ..BuildArgs::default()
        };
        assert!(prod_plan(BuildRoute::Buildx, &[], explicit).is_ok());
    }

    #[test]
    fn push_is_a_buildx_flag_or_push_steps_on_the_built_in_route() {
        let args = || BuildArgs {
            push: true,
            tags: vec!["reg/pixie-core:v1".into(), "reg/pixie-core:latest".into()],
            ..BuildArgs::default()
        };
        let buildx = prod_plan(BuildRoute::Buildx, &[], args()).unwrap();
        assert_eq!(buildx.steps.len(), 1);
        assert!(buildx.steps[0].args.contains(&"--push".to_string()));
        assert!(!buildx.steps[0].args.contains(&"--load".to_string()));
        let built_in = prod_plan(BuildRoute::BuiltIn, &[], args()).unwrap();
        let pushes: Vec<String> = built_in.steps[1..]
            .iter()
            .map(|s| s.args.join(" "))
            .collect();
        assert_eq!(
            pushes,
            ["push reg/pixie-core:v1", "push reg/pixie-core:latest"]
        );
        // Only the named tags: buildx would push the local name to Docker Hub too.
        for plan in [&buildx, &built_in] {
            assert_eq!(
                plan.steps[0].flag_values("--tag").collect::<Vec<_>>(),
                ["reg/pixie-core:v1", "reg/pixie-core:latest"]
            );
        }
    }

    #[test]
    fn vendor_refreshes_first_then_builds_without_network() {
        let plan = prod_plan(
            BuildRoute::BuiltIn,
            &[],
            BuildArgs {
                vendor: true,
                ..BuildArgs::default()
            },
        )
        .unwrap();
        assert_eq!(plan.steps[0].args, ["vendor"]);
        let build = &plan.steps[1];
        assert!(build.args.contains(&"--network=none".to_string()));
        assert!(build
            .flag_values("--build-arg")
            .any(|a| a == "GO_MOD_MODE=vendor"));
        // Config and env reach the same switch.
        let from_env = prod_plan(
            BuildRoute::BuiltIn,
            &[("PIXIE_VENDOR", "true")],
            BuildArgs::default(),
        )
        .unwrap();
        assert_eq!(from_env.steps.len(), 2);
    }

    #[test]
    fn export_binary_targets_the_binary_stage_into_a_local_dir() {
        for route in [BuildRoute::BuiltIn, BuildRoute::Buildx] {
            let args = BuildArgs {
                export_binary: Some("/tmp/out".into()),
                no_cache: true,
                ..BuildArgs::default()
            };
            let step = &prod_plan(route, &[], args).unwrap().steps[0];
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
    fn platform_and_gogc_flags_reach_the_build() {
        let flags = Overrides {
            platform: Some("linux/arm64".into()),
            gogc: Some("off".parse().unwrap()),
            ..Default::default()
        };
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], flags);
        let step = &plan(&ctx, Target::Prod, &BuildArgs::default())
            .unwrap()
            .steps[0];
        assert_eq!(step.flag_value("--platform"), Some("linux/arm64"));
        assert!(step.flag_values("--build-arg").any(|a| a == "GOGC=off"));
    }

    #[test]
    fn env_overrides_base_images() {
        let ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[("PIXIE_GO_IMAGE", "pixie-base/go:1.26.8")],
            Overrides::default(),
        );
        let step = &plan(&ctx, Target::Dev, &BuildArgs::default())
            .unwrap()
            .steps[0];
        assert_eq!(step.flag_value("--file"), Some(DEV_DOCKERFILE));
        assert_eq!(step.flag_value("--tag"), Some("pixie-core-dev:latest"));
        assert_eq!(
            step.flag_values("--build-arg").collect::<Vec<_>>(),
            ["GO_IMAGE=pixie-base/go:1.26.8"]
        );
    }
}
