//! `run-prod` and `run-dev`: compose up in the foreground under a per-checkout project name,
//! building the image first when it is missing; `down --remove-orphans` always follows, so
//! Ctrl-C leaves no container or network behind.

use anyhow::Result;

use super::build::image_build;
use super::{Command, Live};
use crate::ctx::{Ctx, Needs, Target};
use crate::docker::compose::{self, Compose, Project};
use crate::plan::{action, Action, Plan};
use crate::settings;

pub struct Run {
    pub target: Target,
}

impl Command for Run {
    fn needs(&self) -> Needs {
        Needs::Compose
    }

    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        Live::compose_and_images(ctx, &[self.target])
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan> {
        plan(ctx, self.target, live)
    }
}

/// The detected compose, or (dry run on a machine without one) the plugin as a stand-in.
pub fn compose_or_stand_in(ctx: &Ctx) -> Compose {
    ctx.engine()
        .compose()
        .cloned()
        .unwrap_or_else(|_| Compose::Plugin {
            version: "(not detected)".into(),
        })
}

/// `target`'s compose project: file, per-checkout name, and what the file interpolates.
pub fn project(ctx: &Ctx, target: Target) -> Project {
    let cfg = &ctx.config;
    Project {
        file: target.compose_file(),
        name: ctx
            .ws
            .project_name(cfg.text(&settings::PROJECT), target.name()),
        env: vec![
            ("PIXIE_IMAGE".into(), target.image(cfg)),
            ("PIXIE_BIND".into(), cfg.text(&settings::BIND).to_string()),
            (
                "PIXIE_HTTP_PORT".into(),
                cfg.port(&settings::HTTP_PORT).to_string(),
            ),
            (
                "PIXIE_GRPC_PORT".into(),
                cfg.port(&settings::GRPC_PORT).to_string(),
            ),
        ],
    }
}

pub fn plan(ctx: &Ctx, target: Target, live: &Live) -> Result<Plan> {
    ctx.ws.require(target.compose_file())?;
    let compose = compose_or_stand_in(ctx);
    let project = project(ctx, target);
    let cfg = &ctx.config;
    let image = target.image(cfg);
    let mut plan = Plan {
        notes: vec![
            ctx.engine().note(),
            format!("compose: {}", compose.note()),
            format!("compose project: {}", project.name),
        ],
        ..Plan::default()
    };
    let bind = cfg.text(&settings::BIND).to_string();
    plan.push(action(
        format!("check that the ports on {bind} are free"),
        Action::PortsFree {
            bind,
            ports: vec![
                (cfg.port(&settings::HTTP_PORT), "--http-port"),
                (cfg.port(&settings::GRPC_PORT), "--grpc-port"),
            ],
        },
    ));
    plan.push(compose::link_docker(ctx));
    match live.image_present(&image) {
        Some(true) => plan
            .notes
            .push(format!("image {image} is present; not rebuilding")),
        Some(false) => plan.push(image_build(ctx, target).step(ctx)?),
        None => {
            plan.notes.push(format!(
                "the build step runs only if image {image} is missing"
            ));
            plan.push(image_build(ctx, target).step(ctx)?);
        }
    }
    plan.push(compose::step(
        ctx,
        &compose,
        &project,
        format!(
            "run pixie-core ({}) on http://{}:{}",
            target.name(),
            cfg.text(&settings::BIND),
            cfg.port(&settings::HTTP_PORT)
        ),
        &["up", "--remove-orphans"],
    ));
    plan.cleanup.push(
        compose::step(
            ctx,
            &compose,
            &project,
            format!("remove the {} containers and network", project.name),
            &["down", "--remove-orphans"],
        )
        .into(),
    );
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::BuildRoute;
    use crate::plan::Step;
    use crate::settings::{Flags, Value};
    use crate::workspace::{DEV_COMPOSE, PROD_DOCKERFILE};

    fn v1() -> Compose {
        Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }
    }

    fn with_compose(mut ctx: Ctx, compose: Compose) -> Ctx {
        ctx.engine.as_mut().unwrap().compose = Some(Ok(compose));
        ctx
    }

    fn live(ctx: &Ctx, target: Target, present: bool) -> Live {
        Live {
            images: [(target.image(&ctx.config), present)].into(),
        }
    }

    fn commands(plan: &Plan) -> Vec<Step> {
        plan.commands().into_iter().cloned().collect()
    }

    #[test]
    fn builds_only_when_the_image_is_missing() {
        let ctx = with_compose(ctx_with(BuildRoute::BuiltIn, &[], Flags::new()), v1());
        let present = plan(&ctx, Target::Prod, &live(&ctx, Target::Prod, true)).unwrap();
        assert_eq!(present.commands().len(), 1);
        let missing = plan(&ctx, Target::Prod, &live(&ctx, Target::Prod, false)).unwrap();
        assert_eq!(missing.commands().len(), 2);
        assert_eq!(
            missing.commands()[0].flag_value("--file"),
            Some(PROD_DOCKERFILE)
        );
        // A dry run does not know: it shows the build.
        let unknown = plan(&ctx, Target::Prod, &Live::default()).unwrap();
        assert_eq!(unknown.commands().len(), 2);
    }

    #[test]
    fn port_check_and_docker_link_are_steps_before_anything_runs() {
        let ctx = with_compose(ctx_with(BuildRoute::BuiltIn, &[], Flags::new()), v1());
        let plan = plan(&ctx, Target::Prod, &Live::default()).unwrap();
        assert_eq!(
            plan.actions(),
            [
                &Action::PortsFree {
                    bind: "127.0.0.1".into(),
                    ports: vec![(8080, "--http-port"), (9090, "--grpc-port")],
                },
                &Action::LinkDocker {
                    cli: "/usr/bin/docker".into(),
                    dir: ctx.shim_dir(),
                }
            ]
        );
        assert!(plan.steps[0].step().is_none() && plan.steps[1].step().is_none());
        let text = plan.to_string();
        assert!(
            text.contains(
                "# (xtask) fail unless nothing listens on 127.0.0.1:8080, 127.0.0.1:9090"
            ),
            "{text}"
        );
        assert!(text.contains("ln -sfn /usr/bin/docker"), "{text}");
    }

    #[test]
    fn compose_up_then_down_always_under_one_project() {
        let ctx = with_compose(
            ctx_with(
                BuildRoute::BuiltIn,
                &[("PIXIE_PROJECT", "t1")],
                Flags::new(),
            ),
            v1(),
        );
        let plan = plan(&ctx, Target::Dev, &live(&ctx, Target::Dev, true)).unwrap();
        let up = commands(&plan).pop().unwrap();
        let down = plan.cleanup[0].step().unwrap();
        assert_eq!(
            up.program,
            std::path::PathBuf::from("/usr/bin/docker-compose")
        );
        assert_eq!(up.flag_value("--project-name"), Some("t1-dev"));
        assert_eq!(up.flag_value("--file"), Some(DEV_COMPOSE));
        assert!(
            up.args
                .join(" ")
                .ends_with("up --remove-orphans --no-color"),
            "{:?}",
            up.args
        );
        assert_eq!(down.flag_value("--project-name"), Some("t1-dev"));
        assert!(down
            .args
            .ends_with(&["down".to_string(), "--remove-orphans".to_string()]));
    }

    #[test]
    fn compose_v1_finds_the_chosen_docker_first_on_path() {
        let ctx = with_compose(ctx_with(BuildRoute::BuiltIn, &[], Flags::new()), v1());
        let plan = plan(&ctx, Target::Prod, &live(&ctx, Target::Prod, true)).unwrap();
        let path = plan.commands()[0].env_value("PATH").unwrap().to_string();
        assert_eq!(path, format!("{}:$PATH", ctx.shim_dir().display()));
    }

    #[test]
    fn compose_plugin_runs_through_the_chosen_cli() {
        let ctx = with_compose(
            ctx_with(BuildRoute::Buildx, &[], Flags::new()),
            Compose::Plugin {
                version: "2.29.0".into(),
            },
        );
        let plan = plan(&ctx, Target::Prod, &live(&ctx, Target::Prod, true)).unwrap();
        let up = &commands(&plan)[0];
        assert_eq!(up.program, ctx.cli().path);
        assert_eq!(up.args[0], "compose");
    }

    #[test]
    fn ports_and_image_reach_compose_interpolation() {
        let flags = vec![(&settings::HTTP_PORT, Value::Port(18080))];
        let ctx = with_compose(
            ctx_with(BuildRoute::BuiltIn, &[("PIXIE_GRPC_PORT", "19090")], flags),
            v1(),
        );
        let plan = plan(&ctx, Target::Prod, &live(&ctx, Target::Prod, true)).unwrap();
        let up = &commands(&plan)[0];
        assert_eq!(up.env_value("PIXIE_HTTP_PORT"), Some("18080"));
        assert_eq!(up.env_value("PIXIE_GRPC_PORT"), Some("19090"));
        assert_eq!(up.env_value("PIXIE_IMAGE"), Some("pixie-core:latest"));
        assert_eq!(up.env_value("PIXIE_BIND"), Some("127.0.0.1"));
    }
}
