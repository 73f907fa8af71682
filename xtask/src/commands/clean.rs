//! `clean`: removes what run-prod/run-dev left (containers, networks; with flags, volumes and
//! images), e.g. after the xtask was killed. Caches under target/ are `cargo clean`'s business.

use anyhow::Result;

use super::common::{switch, Command, Live, Parsed, Registration};
use super::run::{compose_or_stand_in, project};
use crate::ctx::{Ctx, Needs};
use crate::docker::compose;
use crate::plan::{Plan, Step};
use crate::target::Target;

pub const COMMAND: Registration = Registration {
    name: "clean",
    about: "Remove the run-prod/run-dev containers and networks (and, on request, volumes and images).",
    example: "cargo xtask clean --volumes",
    settings: &[],
    arguments: |command| {
        command.args([
            switch(
                "volumes",
                "Also delete the named volumes: photo data and the dev Go caches.",
            ),
            switch(
                "images",
                "Also remove the images build-prod and build-dev made.",
            ),
        ])
    },
    parse: |matches| {
        Parsed::Plan(Box::new(Clean {
            volumes: matches.get_flag("volumes"),
            images: matches.get_flag("images"),
        }))
    },
};

#[derive(Debug, Default)]
pub struct Clean {
    /// Also delete the named volumes: photo data and the dev Go caches.
    pub volumes: bool,
    /// Also remove the images build-prod and build-dev made.
    pub images: bool,
}

impl Command for Clean {
    fn needs(&self) -> Needs {
        Needs::Compose
    }

    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        Live::compose_and_images(ctx, &[Target::Prod, Target::Dev])
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan> {
        plan(ctx, self, live)
    }
}

/// Removing a missing image would fail: only images present (or, in a dry run, unknown) go.
fn plan(ctx: &Ctx, args: &Clean, live: &Live) -> Result<Plan> {
    let compose = compose_or_stand_in(ctx);
    let mut plan = Plan {
        notes: vec![ctx.engine().note()],
        ..Plan::default()
    };
    for target in [Target::Prod, Target::Dev] {
        let mut down = vec!["down", "--remove-orphans"];
        if args.volumes {
            down.push("--volumes");
        }
        plan.push(compose::step(
            &ctx.docker(),
            &compose,
            &project(ctx, target)?,
            format!("remove the {} project", target.name()),
            &down,
        ));
    }
    if args.images {
        for target in [Target::Prod, Target::Dev] {
            let image = target.image(&ctx.config);
            if live.image_present(&image) != Some(false) {
                plan.push(
                    Step::new(
                        format!("remove image {image}"),
                        &ctx.cli().path,
                        &ctx.ws.root,
                    )
                    .args(["image", "rm", &image]),
                );
            }
        }
    }
    let scratch = ctx.ws.path("target/xtask");
    plan.push(
        Step::new("remove target/xtask", "rm", &ctx.ws.root)
            .args(["-rf", &scratch.display().to_string()]),
    );
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::{BuildRoute, Compose};
    use crate::settings::Flags;

    #[test]
    fn downs_both_projects_and_only_removes_volumes_and_images_when_asked() {
        let mut ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[("PIXIE_PROJECT", "c1")],
            Flags::new(),
        );
        ctx.engine.as_mut().unwrap().compose = Some(Ok(Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }));
        let live = Live {
            images: [
                ("pixie-core:latest".to_string(), true),
                ("pixie-core-dev:latest".to_string(), false),
            ]
            .into(),
        };
        let lines = |args: Clean| {
            plan(&ctx, &args, &live)
                .unwrap()
                .commands()
                .iter()
                .map(|s| s.args.join(" "))
                .collect::<Vec<_>>()
        };
        let plain = lines(Clean {
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
        let all = lines(Clean {
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
