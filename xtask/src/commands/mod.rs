//! One module per command. Each turns its flags and the [`Ctx`] into a [`crate::plan::Plan`].

pub mod bench;
pub mod build;
pub mod clean;
pub mod doctor;
pub mod proto;
pub mod run;
pub mod test;
pub mod vendor;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;

use crate::config::Config;
use crate::engine::{BuildRoute, DockerCli, Engine};
use crate::exec::Ui;
use crate::workspace::Workspace;

/// What every command gets: where it runs, the effective config, the engine, the UI.
pub struct Ctx {
    pub ws: Workspace,
    pub config: Config,
    pub engine: Engine,
    pub ui: Ui,
    pub dry_run: bool,
    /// Plain BuildKit progress: logs read better than the TTY animation when not on a terminal.
    pub plain_progress: bool,
}

impl Ctx {
    pub fn new(ws: Workspace, config: Config, ui: Ui, dry_run: bool) -> Result<Ctx> {
        let engine = match Engine::detect() {
            Ok(engine) => engine,
            // A dry run must still print its plan on a machine without Docker.
            Err(e) if dry_run => Engine::placeholder(format!("{e:#}")),
            Err(e) => return Err(e),
        };
        let plain_progress = std::env::var_os("CI").is_some() || !std::io::stdout().is_terminal();
        Ok(Ctx {
            ws,
            config,
            engine,
            ui,
            dry_run,
            plain_progress,
        })
    }

    pub fn cli(&self) -> &DockerCli {
        &self.engine.cli
    }

    /// The line that says which docker CLI and BuildKit route this run uses.
    pub fn engine_note(&self) -> String {
        let cli = self.cli();
        if let Some(problem) = &self.engine.problem {
            return format!(
                "docker CLI not detected ({problem}); showing the plan for `docker` with buildx"
            );
        }
        let route = match cli.route {
            BuildRoute::Buildx => "buildx plugin",
            BuildRoute::BuiltIn => "built-in BuildKit (DOCKER_BUILDKIT=1)",
        };
        let mut note = format!(
            "docker CLI: {} ({}), BuildKit route: {route}",
            cli.path.display(),
            cli.version
        );
        for probe in self.engine.probes.iter().filter(|p| p.path != cli.path) {
            if let Err(why) = probe.route() {
                note.push_str(&format!("; skipped {}: {why}", probe.path.display()));
            }
        }
        note
    }

    /// Prints the plan on `--dry-run`, else runs it.
    pub fn execute(&self, plan: &crate::plan::Plan) -> Result<()> {
        if self.dry_run {
            print!("{plan}");
            return Ok(());
        }
        crate::exec::run(plan, &self.ui)?;
        Ok(())
    }

    /// Environment every docker/compose child gets.
    pub fn docker_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DOCKER_BUILDKIT".to_string(), "1".to_string()),
            ("COMPOSE_DOCKER_CLI_BUILD".to_string(), "1".to_string()),
        ];
        if self.plain_progress {
            env.push(("BUILDKIT_PROGRESS".to_string(), "plain".to_string()));
        }
        env
    }

    /// Folder holding a `docker` link to the chosen CLI; put first on PATH so that compose v1,
    /// which runs whatever `docker` it finds, uses the same CLI as the xtask.
    pub fn shim_dir(&self) -> PathBuf {
        self.ws.path("target/xtask/docker-cli")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Overrides;

    /// A context on the real workspace with a fake engine, for plan tests (no Docker needed).
    pub fn ctx_with(route: BuildRoute, env: &[(&str, &str)], flags: Overrides) -> Ctx {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
        let config = Config::resolve_text("", &lookup, &flags).unwrap();
        let cli = DockerCli {
            path: "/usr/bin/docker".into(),
            version: "20.10.24+dfsg1".into(),
            route,
        };
        Ctx {
            ws: Workspace { root },
            config,
            engine: Engine {
                cli,
                probes: Vec::new(),
                problem: None,
            },
            ui: Ui {
                quiet: true,
                verbose: false,
            },
            dry_run: true,
            plain_progress: true,
        }
    }
}
