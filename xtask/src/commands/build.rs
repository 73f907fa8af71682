//! `build-prod` and `build-dev`: one BuildKit build of an image, with the workspace root as
//! context (the allow-list `.dockerignore` there decides what reaches the daemon).

use anyhow::Result;

use super::Ctx;
use crate::engine::BuildRoute;
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

pub fn plan(ctx: &Ctx, target: Target) -> Result<Plan> {
    let mut plan = Plan {
        notes: vec![ctx.engine_note()],
        ..Plan::default()
    };
    plan.steps.push(build_step(ctx, target)?);
    Ok(plan)
}

/// The `docker build` step for `target`; `run-*` reuse it when the image is missing.
pub fn build_step(ctx: &Ctx, target: Target) -> Result<Step> {
    ctx.ws.require(target.dockerfile())?;
    let cli = ctx.cli();
    let cfg = &ctx.config;
    let mut step = Step::new(
        format!("build {} image {}", target.name(), target.image(ctx)),
        &cli.path,
        &ctx.ws.root,
    );
    step = match cli.route {
        BuildRoute::Buildx => step.args(["buildx", "build", "--load"]),
        BuildRoute::BuiltIn => step.arg("build"),
    };
    step = step
        .args(["--file", target.dockerfile(), "--tag"])
        .arg(target.image(ctx));
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
    }
    for (key, value) in build_args {
        step = step.arg("--build-arg").arg(format!("{key}={value}"));
    }
    if !cfg.platform.value.is_empty() {
        step = step.arg("--platform").arg(&cfg.platform.value);
    }
    Ok(step.arg(".").envs(ctx.docker_env()).streamed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::ctx_with;
    use crate::config::Overrides;

    #[test]
    fn prod_build_passes_base_images_and_stamp_as_build_args() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Overrides::default());
        let plan = plan(&ctx, Target::Prod).unwrap();
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
    fn buildx_route_loads_the_result_into_the_engine() {
        let ctx = ctx_with(BuildRoute::Buildx, &[], Overrides::default());
        let step = &plan(&ctx, Target::Prod).unwrap().steps[0];
        assert_eq!(&step.args[..3], ["buildx", "build", "--load"]);
    }

    #[test]
    fn platform_and_gogc_flags_reach_the_build() {
        let flags = Overrides {
            platform: Some("linux/arm64".into()),
            gogc: Some("off".parse().unwrap()),
            ..Default::default()
        };
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], flags);
        let step = &plan(&ctx, Target::Prod).unwrap().steps[0];
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
        let step = &plan(&ctx, Target::Dev).unwrap().steps[0];
        assert_eq!(step.flag_value("--file"), Some(DEV_DOCKERFILE));
        assert_eq!(step.flag_value("--tag"), Some("pixie-core-dev:latest"));
        assert_eq!(
            step.flag_values("--build-arg").collect::<Vec<_>>(),
            ["GO_IMAGE=pixie-base/go:1.26.8"]
        );
    }
}
