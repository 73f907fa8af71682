//! The only writer of compose argv: `up`/`down` on one project's file, for whichever compose
//! flavour [`super::engine`] detected, plus the `docker` link compose v1 needs on PATH.

use std::path::PathBuf;

use crate::ctx::Ctx;
use crate::plan::{action, Action, Step, Task};

/// How compose is invoked. A new flavour (Podman's, say) is a variant here, its detection in
/// `Engine::detect_compose`, and its program and leading words in [`Compose::invocation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compose {
    /// `docker compose`: the v2 plugin of the chosen CLI.
    Plugin { version: String },
    /// A standalone `docker-compose` binary (v1, or v2 installed standalone).
    Standalone { path: PathBuf, version: String },
}

impl Compose {
    pub fn note(&self) -> String {
        match self {
            Compose::Plugin { version } => format!("docker compose plugin {version}"),
            Compose::Standalone { path, version } => format!("{} {version}", path.display()),
        }
    }

    /// The program and the words before compose's own arguments.
    fn invocation(&self, ctx: &Ctx) -> (PathBuf, &'static [&'static str]) {
        match self {
            Compose::Plugin { .. } => (ctx.cli().path.clone(), &["compose"]),
            Compose::Standalone { path, .. } => (path.clone(), &[]),
        }
    }
}

/// One compose project: its files (the base, then overrides), its name and the values the files
/// interpolate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub files: Vec<&'static str>,
    pub name: String,
    pub env: Vec<(String, String)>,
}

/// A compose subcommand on `project` (`up --remove-orphans`, `down --volumes`, ...).
pub fn step(ctx: &Ctx, compose: &Compose, project: &Project, label: String, verb: &[&str]) -> Step {
    let (program, leading) = compose.invocation(ctx);
    let mut verb = verb.to_vec();
    // Compose v1 colours its output even into a pipe; keep logs readable and honour NO_COLOR.
    if matches!(verb.first(), Some(&"up" | &"logs"))
        && (ctx.host.plain_progress || ctx.host.no_color)
    {
        verb.push("--no-color");
    }
    Step::new(label, program, &ctx.ws.root)
        .args(leading.iter().copied())
        .args(["--project-name", &project.name])
        .args(project.files.iter().flat_map(|file| ["--file", file]))
        .args(verb)
        .envs(ctx.docker_env())
        // compose v1 runs whatever `docker` is first on PATH: make it the chosen CLI.
        .envs([("PATH", format!("{}:$PATH", ctx.shim_dir().display()))])
        .envs(project.env.iter().cloned())
        .streamed()
}

/// The step that makes the `docker` link [`step`]'s PATH starts with.
pub fn link_docker(ctx: &Ctx) -> Task {
    action(
        "link the chosen docker CLI for compose",
        Action::LinkDocker {
            cli: ctx.cli().path.clone(),
            dir: ctx.shim_dir(),
        },
    )
}
