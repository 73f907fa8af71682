//! `clean`: removes what run-prod/run-dev left (containers, networks; with flags, volumes and
//! images), e.g. after the xtask was killed. Caches under target/ are `cargo clean`'s business.

use anyhow::Result;
use clap::Args;

use super::build::Target;
use super::run::compose_step;
use super::Ctx;
use crate::engine::Compose;
use crate::exec;
use crate::plan::{Plan, Step};

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// Also delete the named volumes: photo data and the dev Go caches.
    #[arg(long)]
    pub volumes: bool,
    /// Also remove the images build-prod and build-dev made.
    #[arg(long)]
    pub images: bool,
}

pub fn run(ctx: &Ctx, args: &CleanArgs) -> Result<()> {
    if ctx.dry_run {
        let compose = ctx.engine.compose().unwrap_or_else(|_| Compose::Plugin {
            version: "(not detected)".into(),
        });
        print!(
            "{}",
            plan(ctx, &compose, args, &[Target::Prod, Target::Dev])
        );
        return Ok(());
    }
    ctx.engine.daemon_version()?;
    let compose = ctx.engine.compose()?;
    let built: Vec<Target> = [Target::Prod, Target::Dev]
        .into_iter()
        .filter(|t| ctx.engine.image_exists(&t.image(ctx)))
        .collect();
    exec::run(&plan(ctx, &compose, args, &built), &ctx.ui)?;
    Ok(())
}

/// `built`: the targets whose images exist (removing a missing image would fail).
fn plan(ctx: &Ctx, compose: &Compose, args: &CleanArgs, built: &[Target]) -> Plan {
    let mut plan = Plan {
        notes: vec![ctx.engine_note()],
        ..Plan::default()
    };
    for target in [Target::Prod, Target::Dev] {
        let mut down = vec!["down", "--remove-orphans"];
        if args.volumes {
            down.push("--volumes");
        }
        plan.steps.push(compose_step(
            ctx,
            target,
            compose,
            format!("remove the {} project", target.name()),
            &down,
        ));
    }
    if args.images {
        for target in built {
            plan.steps.push(
                Step::new(
                    format!("remove image {}", target.image(ctx)),
                    &ctx.cli().path,
                    &ctx.ws.root,
                )
                .args(["image", "rm", &target.image(ctx)]),
            );
        }
    }
    let scratch = ctx.ws.path("target/xtask");
    plan.steps.push(
        Step::new("remove target/xtask", "rm", &ctx.ws.root)
            .args(["-rf", &scratch.display().to_string()]),
    );
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::ctx_with;
    use crate::config::Overrides;
    use crate::engine::BuildRoute;

    #[test]
    fn downs_both_projects_and_only_removes_volumes_and_images_when_asked() {
        let ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[("PIXIE_PROJECT", "c1")],
            Overrides::default(),
        );
        let compose = Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        };
        let lines = |args: CleanArgs| {
            plan(&ctx, &compose, &args, &[Target::Prod])
                .steps
                .iter()
                .map(|s| s.args.join(" "))
                .collect::<Vec<_>>()
        };
        let plain = lines(CleanArgs {
            volumes: false,
            images: false,
        });
        assert!(
            plain[0].contains("--project-name c1-prod")
                && plain[0].ends_with("down --remove-orphans"),
            "{plain:?}"
        );
        assert!(plain[1].contains("--project-name c1-dev"), "{plain:?}");
        assert!(!plain
            .iter()
            .any(|l| l.contains("--volumes") || l.starts_with("image rm")));
        let all = lines(CleanArgs {
            volumes: true,
            images: true,
        });
        assert!(all[0].ends_with("down --remove-orphans --volumes"));
        assert!(
            all.contains(&"image rm pixie-core:latest".to_string()),
            "{all:?}"
        );
        assert!(
            !all.iter()
                .any(|l| l.contains("pixie-core-dev") && l.starts_with("image rm")),
            "dev image was not built: {all:?}"
        );
    }
}
