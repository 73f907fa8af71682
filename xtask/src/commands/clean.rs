//! `clean`: removes what run-prod/run-dev left (containers, networks, the projects' secrets
//! under target/xtask; with flags, volumes and images), e.g. after the xtask was killed. Caches
//! under target/ (the Podman builder container's folder too) are `cargo clean`'s business.
//! With `--stack full` it addresses the stack's projects; `--volumes` then deletes the stack's
//! data (Postgres, S3, NATS volumes) and its secrets, and says which.

use anyhow::Result;

use super::common::{switch, Command, Live, Parsed, Registration};
use super::run::{compose_or_stand_in, project, token_file};
use crate::ctx::{Ctx, Needs};
use crate::docker::compose::{self, RemoveVolumes};
use crate::files::RemoveTree;
use crate::plan::{action, Plan, Step};
use crate::settings::FlagOf;
use crate::stack::{self, Stack};
use crate::target::{ModuleImage, Target};

pub const COMMAND: Registration = Registration {
    name: "clean",
    about: "Remove the run-prod/run-dev containers and networks (and, on request, volumes and images).",
    example: "cargo xtask clean --volumes",
    settings: &[FlagOf::Stack],
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

    /// Not the stack's images: what is to be removed needs none of them.
    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        Live::compose_and_images(ctx, &built_images(ctx)?)
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan> {
        plan(ctx, self, live)
    }
}

/// The images build-prod and build-dev make: every module's production image, the dev image.
fn built_images(ctx: &Ctx) -> Result<Vec<String>> {
    let mut images: Vec<String> = ModuleImage::all(&ctx.ws)?
        .iter()
        .map(|module| module.image(&ctx.config))
        .collect();
    images.push(Target::Dev.image(&ctx.config));
    Ok(images)
}

/// Removing a missing image would fail: only images present (or, in a dry run, unknown) go.
fn plan(ctx: &Ctx, args: &Clean, live: &Live) -> Result<Plan> {
    let compose = compose_or_stand_in(ctx);
    let mut plan = Plan {
        notes: vec![ctx.engine().note()],
        ..Plan::default()
    };
    let full = Stack::of(&ctx.config) == Stack::Full;
    for target in [Target::Prod, Target::Dev] {
        let project = project(ctx, target, live)?;
        plan.push(compose::step(
            &ctx.docker(),
            &compose,
            &project,
            format!("remove the {} project", project.name),
            &["down", "--remove-orphans"],
        ));
        // The copy of the API token a run made: this project's only, as the checkout's other
        // projects may be running and a build in the builder container (target/xtask/builder)
        // under way. (The stack's own secrets live with its data, below.)
        let token = token_file(ctx, &project.name);
        let copies = token.parent().expect("the token file is in a folder");
        plan.push(action(
            format!("delete the token copy of {} in target/xtask", project.name),
            RemoveTree(copies.to_path_buf()),
        ));
        if args.volumes {
            plan.push(action(
                format!("delete the volumes of {}", project.name),
                RemoveVolumes {
                    cli: ctx.cli().path.clone(),
                    project: project.name.clone(),
                },
            ));
        }
        if args.volumes && full {
            // The password was set when Postgres made its volume: they go together.
            plan.push(action(
                format!("delete the secrets of {}", project.name),
                RemoveTree(stack::state_dir(ctx, &project.name)?),
            ));
        }
    }
    if args.images {
        for image in built_images(ctx)? {
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
                ("pixie-thumbnailer:latest".to_string(), true),
                ("pixie-core-dev:latest".to_string(), false),
            ]
            .into(),
            ..Live::default()
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
        assert!(all[0].ends_with("down --remove-orphans"));
        let deleted = plan(&ctx, &Clean { volumes: true, images: false }, &live).unwrap();
        let projects: Vec<&str> = deleted
            .actions::<RemoveVolumes>()
            .iter()
            .map(|r| r.project.as_str())
            .collect();
        assert_eq!(projects, ["c1-prod", "c1-dev"]);
        // Each project's secrets, nothing else of target/xtask (a build may be using it).
        let removed: Vec<String> = deleted
            .actions::<RemoveTree>()
            .iter()
            .map(|r| r.0.strip_prefix(&ctx.ws.root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            removed,
            ["target/xtask/secrets/c1-prod", "target/xtask/secrets/c1-dev"]
        );
        // Every module's image, the plugin's too.
        for image in ["pixie-core:latest", "pixie-thumbnailer:latest"] {
            assert!(all.contains(&format!("image rm {image}")), "{all:?}");
        }
        assert!(
            !all.iter()
                .any(|l| l.contains("pixie-core-dev") && l.starts_with("image rm")),
            "dev image was not built: {all:?}"
        );
    }

    #[test]
    fn the_stacks_volumes_and_secrets_go_together_and_only_when_asked() {
        let mut ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[("PIXIE_PROJECT", "c2"), ("PIXIE_STACK", "full")],
            Flags::new(),
        );
        ctx.engine.as_mut().unwrap().compose = Some(Ok(Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }));
        let kept = plan(&ctx, &Clean { volumes: false, images: false }, &Live::default()).unwrap();
        let token_copy = |name: &str| RemoveTree(ctx.ws.path(&format!("target/xtask/secrets/{name}")));
        let token_copies = [&token_copy("c2-prod-stack"), &token_copy("c2-dev-stack")];
        assert!(kept.actions::<RemoveVolumes>().is_empty());
        assert_eq!(kept.actions::<RemoveTree>(), token_copies);
        let gone = plan(&ctx, &Clean { volumes: true, images: false }, &Live::default()).unwrap();
        assert_eq!(
            gone.actions::<RemoveVolumes>(),
            [
                &RemoveVolumes { cli: "/usr/bin/docker".into(), project: "c2-prod-stack".into() },
                &RemoveVolumes { cli: "/usr/bin/docker".into(), project: "c2-dev-stack".into() },
            ]
        );
        assert_eq!(
            gone.actions::<RemoveTree>(),
            [
                token_copies[0],
                &RemoveTree("/home/me/.local/state/pixie/c2-prod-stack".into()),
                token_copies[1],
                &RemoveTree("/home/me/.local/state/pixie/c2-dev-stack".into()),
            ]
        );
        assert!(gone.to_string().contains(
            "/usr/bin/docker volume ls --quiet --filter label=com.docker.compose.project=c2-prod-stack | xargs -r /usr/bin/docker volume rm"
        ), "{gone}");
    }
}
