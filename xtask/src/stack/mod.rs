//! The stack (`run.stack: full`): pixie-core on Postgres, S3 (versitygw) and NATS JetStream, each
//! in its container (`deployments/docker/compose.stack.yaml`). What the commands that start,
//! address or remove it share: its compose project (files, name, variables), where its secrets
//! live, the name of Postgres's volume, the helper its services mount, and the steps that bring
//! it up in order on every engine: secrets, servers, each one's health (`health.rs`), migrations,
//! then core.

mod health;
mod migrations;
mod oneshot;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub use health::{WaitHealthy, Watched};
pub use oneshot::Remove;

use crate::ctx::Ctx;
use crate::docker::compose::{self, Project};
use crate::docker::engine::Compose;
use crate::files::RemoveFile;
use crate::plan::shell::quote;
use crate::plan::{action, Action, ActionCx, Plan, Step, Task};
use crate::settings::{self, Config, Spec};
use crate::target::{ModuleImage, Target};
use crate::workspace::{STACK_COMPOSE, STACK_DEV_COMPOSE, STACK_SECRETS_COMPOSE};

/// What `run-*` start: pixie-core alone, or on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Embedded,
    Full,
}

impl Stack {
    pub fn of(config: &Config) -> Stack {
        match config.text(&settings::STACK) {
            "full" => Stack::Full,
            _ => Stack::Embedded,
        }
    }
}

/// A server of the stack: its compose service, its image setting and the variable the compose
/// file reads it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub service: &'static str,
    pub image: &'static Spec,
    /// What an unhealthy one most likely needs, for the failure line.
    pub hint: &'static str,
}

impl Server {
    pub const fn watched(&self) -> Watched {
        Watched {
            service: self.service,
            hint: self.hint,
        }
    }
}

/// The plugins the stack runs beside core (`compose.stack.yaml`): each starts with core, once
/// the migrations ran, and is ready when its health check (its /readyz: consuming) passes.
pub const PLUGINS: [Watched; 1] = [Watched {
    service: "thumbnailer",
    hint: "its /readyz names what it waits for (a server it cannot reach, a schema older than it knows), and a bad setting stops it with one line naming the variable",
}];

/// The production images of the [`PLUGINS`] (their modules' `images.NAME`).
pub fn plugin_images(ctx: &Ctx) -> Result<Vec<ModuleImage>> {
    let names: Vec<String> = PLUGINS.iter().map(|p| p.service.to_string()).collect();
    ModuleImage::selected(&ctx.ws, &names)
}

/// The servers, in the order they start and are reported.
pub const SERVERS: [Server; 3] = [
    Server {
        service: "postgres",
        image: &settings::POSTGRES_IMAGE,
        hint: "a data volume made by another major version or with other credentials does not open: `cargo xtask clean --stack full --volumes` deletes the stack's data",
    },
    Server {
        service: "s3",
        image: &settings::S3_IMAGE,
        hint: "service_images.s3 (PIXIE_S3_IMAGE) must name a versitygw image",
    },
    Server {
        service: "nats",
        image: &settings::NATS_IMAGE,
        hint: "service_images.nats (PIXIE_NATS_IMAGE) must name a nats-server image",
    },
];

/// How long the servers may take to become healthy: a first start initializes Postgres's volume.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

/// What project `name` keeps outside the checkout: no build context can reach it, and `cargo
/// clean` keeps it (the database password must live as long as Postgres's volume).
pub fn state_dir(ctx: &Ctx, name: &str) -> Result<PathBuf> {
    state_dir_in(ctx.host.state_home.as_deref(), name)
}

/// [`state_dir`] under the user's state folder `state_home` (`host::state_home`).
pub fn state_dir_in(state_home: Option<&std::path::Path>, name: &str) -> Result<PathBuf> {
    let Some(state) = state_home else {
        bail!("neither XDG_STATE_HOME nor HOME is set, so the stack has nowhere to keep its secrets; set HOME (or XDG_STATE_HOME)");
    };
    Ok(state.join("pixie").join(name))
}

/// The secrets' folder of project `name` (in its [`state_dir`]).
pub fn secrets_dir(ctx: &Ctx, name: &str) -> Result<PathBuf> {
    Ok(state_dir(ctx, name)?.join("secrets"))
}

/// The static helper the services mount (health probes, secret files as environment).
pub fn helper(ctx: &Ctx) -> PathBuf {
    ctx.ws.path("target/xtask/stack/stackhelper")
}

/// Postgres's volume: the data folder of one major version does not open under another.
pub fn postgres_volume(project: &str, major: &str) -> String {
    format!("{project}_postgres-{major}")
}

/// The stack's files and variables, added to `target`'s project. Postgres's `major` version is
/// unknown in a dry run, whose volume name then says where the number comes from.
pub fn add_to(project: &mut Project, ctx: &Ctx, target: Target, major: Option<&str>) -> Result<()> {
    project.files.push(STACK_COMPOSE);
    if target == Target::Dev {
        project.files.push(STACK_DEV_COMPOSE);
    }
    let major = major.unwrap_or("PG_MAJOR");
    let secrets = secrets_dir(ctx, &project.name)?;
    for server in SERVERS {
        project.env.push((
            server.image.env.into(),
            ctx.config.text(server.image).into(),
        ));
    }
    for plugin in plugin_images(ctx)? {
        let var = format!("PIXIE_{}_IMAGE", plugin.name().to_uppercase());
        project.env.push((var, plugin.image(&ctx.config)));
    }
    project.env.extend([
        (
            "PIXIE_POSTGRES_VOLUME".to_string(),
            postgres_volume(&project.name, major),
        ),
        ("PIXIE_SECRETS_DIR".into(), secrets.display().to_string()),
        (
            "PIXIE_STACKHELPER".into(),
            helper(ctx).display().to_string(),
        ),
    ]);
    Ok(())
}

/// The preflight of the stack's commands: each server image is on the engine (pulled when a
/// registry has it); returns Postgres's major version, which names its volume, read from the
/// image (`PG_MAJOR`, as the official image sets it).
pub fn preflight(ctx: &Ctx) -> Result<String> {
    let engine = ctx.engine();
    let cli = &ctx.cli().path;
    for server in SERVERS {
        let image = ctx.config.text(server.image);
        let pulled = || {
            std::process::Command::new(cli)
                .args(["pull", "--quiet", image])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !engine.image_exists(image) && !pulled() {
            bail!(
                "the {} image {image} is not on the engine and cannot be pulled; on a machine without a registry run `bash .ci/provision-stack-images`, or set {} ({}) to an image the engine has",
                server.service,
                server.image.key,
                server.image.env
            );
        }
    }
    let image = ctx.config.text(&settings::POSTGRES_IMAGE);
    let env = std::process::Command::new(cli)
        .args([
            "image",
            "inspect",
            "--format",
            "{{range .Config.Env}}{{println .}}{{end}}",
            image,
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let major = env
        .lines()
        .find_map(|line| line.strip_prefix("PG_MAJOR="))
        .filter(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string);
    let Some(major) = major else {
        bail!("the Postgres image {image} sets no PG_MAJOR, which names its data volume; set service_images.postgres (PIXIE_POSTGRES_IMAGE) to an image of the official postgres family or one built by .ci/provision-stack-images");
    };
    Ok(major)
}

/// Makes the secrets' folder, mode 0700 (its files are made in the engine: `secrets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateDir(pub PathBuf);

impl Action for PrivateDir {
    fn shell_line(&self) -> String {
        format!(
            "mkdir -p -m 0700 {0} && chmod 0700 {0}",
            quote(&self.0.to_string_lossy())
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&self.0)
            .with_context(|| format!("cannot create {}", self.0.display()))?;
        std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", self.0.display()))
    }
}

/// The steps before the servers start: the helper (static, for any image), the secrets' folder
/// and, when a secret is missing, the one-shot service that generates them in the engine.
pub fn prepare(ctx: &Ctx, compose: &Compose, project: &Project) -> Result<Plan> {
    let mut plan = Plan::default();
    let core = ctx.ws.path("core");
    let go = ctx
        .host
        .go("build the stack's helper (core/cmd/stackhelper)")?;
    plan.push(
        Step::new("build the stack's helper (stackhelper)", go, &core)
            .args(["build", "-trimpath", "-ldflags=-s -w", "-o"])
            .arg(helper(ctx).display().to_string())
            .arg("./cmd/stackhelper")
            // Static and for Linux whatever the host: it runs inside the containers.
            .envs([
                ("CGO_ENABLED", "0"),
                ("GOOS", "linux"),
                ("GOTOOLCHAIN", "local"),
                ("GOFLAGS", "-mod=readonly"),
            ]),
    );
    let secrets = secrets_dir(ctx, &project.name)?;
    plan.push(action(
        "make the stack's private secrets folder",
        PrivateDir(secrets.clone()),
    ));
    // Under the stack's name but with its own file: compose checks every secret file a project
    // names, and these do not exist yet.
    let generator = Project {
        files: vec![STACK_SECRETS_COMPOSE],
        ..project.clone()
    };
    // The database URL is written last: once it exists, every secret does.
    for task in oneshot::run(
        ctx,
        compose,
        &generator,
        "secrets",
        format!(
            "generate the stack's missing secrets in {}",
            secrets.display()
        ),
        Some(secrets.join("database_url")),
    ) {
        plan.push(task);
    }
    Ok(plan)
}

/// Starts `servers` and waits until each is healthy, saying so per server.
pub fn start_servers(
    ctx: &Ctx,
    compose: &Compose,
    project: &Project,
    servers: &[Server],
) -> Vec<Task> {
    let services: Vec<&'static str> = servers.iter().map(|s| s.service).collect();
    let watched: Vec<Watched> = servers.iter().map(Server::watched).collect();
    let mut up = vec!["up", "--detach"];
    up.extend(&services);
    vec![
        compose::step(
            &ctx.docker(),
            compose,
            project,
            format!("start {}", services.join(", ")),
            &up,
        )
        .into(),
        action(
            format!(
                "wait until {} {} healthy",
                services.join(", "),
                if services.len() == 1 { "is" } else { "are" }
            ),
            WaitHealthy::new(ctx, compose, project, &watched, HEALTH_TIMEOUT),
        ),
    ]
}

/// Starts pixie-core and the plugins alone (`--no-deps`: nothing recreates a server), then waits
/// until each plugin is healthy (consuming), saying so per plugin; `timeout` covers a dev
/// container's first build.
pub fn start_core_and_plugins(
    ctx: &Ctx,
    compose: &Compose,
    project: &Project,
    label: String,
    timeout: Duration,
) -> Vec<Task> {
    let mut up = vec!["up", "--detach", "--remove-orphans", "--no-deps", "core"];
    up.extend(PLUGINS.iter().map(|p| p.service));
    let plugins: Vec<&str> = PLUGINS.iter().map(|p| p.service).collect();
    vec![
        compose::step(&ctx.docker(), compose, project, label, &up).into(),
        action(
            format!("wait until {} consumes", plugins.join(", ")),
            WaitHealthy::new(ctx, compose, project, &PLUGINS, timeout),
        ),
    ]
}

/// run-*'s migrations: as [`migrate`], but skipped when the running database's schema is at
/// the latest version of the workspace's migrations (`migrations.rs`).
pub fn migrate_unless_current(
    ctx: &Ctx,
    compose: &Compose,
    project: &Project,
) -> Result<Vec<Task>> {
    let Some(latest) = migrations::latest_version(&ctx.ws.path(migrations::MIGRATIONS_DIR)) else {
        return Ok(migrate(ctx, compose, project));
    };
    let skip = state_dir(ctx, &project.name)?.join("migrate.skip");
    let mut tasks = vec![action(
        "skip the migrations if the schema is current",
        migrations::SkipCurrentSchema {
            cli: ctx.cli().path.clone(),
            project: project.clone(),
            latest,
            skip: skip.clone(),
        },
    )];
    tasks.extend(oneshot::run(
        ctx,
        compose,
        project,
        "migrate",
        MIGRATE_LABEL.into(),
        Some(skip.clone()),
    ));
    tasks.push(action("remove the skip file", RemoveFile(skip)));
    Ok(tasks)
}

const MIGRATE_LABEL: &str = "apply core's migrations (pixie-core migrate)";

/// Core's migrations, once, to completion (a current schema stays as it is).
pub fn migrate(ctx: &Ctx, compose: &Compose, project: &Project) -> Vec<Task> {
    oneshot::run(ctx, compose, project, "migrate", MIGRATE_LABEL.into(), None)
}
