//! What every command plans from: the workspace, the effective settings, the engine and the host,
//! all read once here. Planning reads only [`Ctx`], so a plan is a function of these facts and
//! unit tests hand them in directly.

use std::path::PathBuf;

use anyhow::Result;

use crate::docker::engine::{DockerCli, Engine};
use crate::docker::Site;
use crate::host::Host;
use crate::settings::Config;
use crate::ui::Ui;
use crate::workspace::Workspace;

/// What a command needs detected before it can plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// A docker CLI that can run BuildKit builds.
    Engine,
    /// That, and compose.
    Compose,
}

pub struct Ctx {
    pub ws: Workspace,
    pub config: Config,
    pub host: Host,
    /// Detected when the command needs it (see [`Needs`]).
    pub engine: Option<Engine>,
    pub ui: Ui,
    pub dry_run: bool,
}

impl Ctx {
    pub fn new(ws: Workspace, config: Config, ui: Ui, dry_run: bool, needs: Needs) -> Result<Ctx> {
        let engine = match needs {
            Needs::Nothing => None,
            needs => Some(match Engine::detect(needs == Needs::Compose) {
                Ok(engine) => engine,
                // A dry run must still print its plan on a machine without Docker.
                Err(e) if dry_run => Engine::placeholder(format!("{e:#}")),
                Err(e) => return Err(e),
            }),
        };
        Ok(Ctx {
            ws,
            config,
            host: Host::read(),
            engine,
            ui,
            dry_run,
        })
    }

    pub fn engine(&self) -> &Engine {
        self.engine
            .as_ref()
            .expect("the command declared Needs::Engine")
    }

    pub fn cli(&self) -> &DockerCli {
        &self.engine().cli
    }

    /// The `go` binary, or an error naming the fix; `purpose` says what needs it.
    pub fn go(&self, purpose: &str) -> Result<PathBuf> {
        self.host.go(purpose)
    }

    /// The engine as the argv writers of `docker/` take it.
    pub fn docker(&self) -> Site<'_> {
        Site {
            engine: self.engine(),
            ws: &self.ws,
            host: &self.host,
        }
    }
}

/// Contexts built from given facts, for plan tests (no Docker, no environment).
#[cfg(any(test, feature = "testkit"))]
pub mod fake {
    use super::*;
    use crate::docker::engine::BuildRoute;
    use crate::settings::Flags;
    use crate::workspace::BuildInfo;

    /// A context on the real workspace with a fake engine and host.
    pub fn ctx_with(route: BuildRoute, env: &[(&str, &str)], flags: Flags) -> Ctx {
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
        let cli = match route {
            BuildRoute::Buildah { .. } => DockerCli {
                path: "/usr/bin/podman".into(),
                version: "4.3.1".into(),
                route,
            },
            _ => DockerCli {
                path: "/usr/bin/docker".into(),
                version: "20.10.24+dfsg1".into(),
                route,
            },
        };
        Ctx {
            ws: Workspace {
                root: root.clone(),
                stamp: BuildInfo {
                    version: "v1.2.3".into(),
                    commit: "0123abc".into(),
                    date: "2026-11-25T14:44:05Z".into(),
                    epoch: 1_795_617_845,
                },
            },
            config,
            host: Host {
                cargo: "cargo".into(),
                go: Some("/usr/local/go/bin/go".into()),
                temp_dir: "/tmp".into(),
                plain_progress: true,
                no_color: false,
                actions_cache: false,
                api_token_var: false,
                api_token_file: None,
                engines: Vec::new(),
                stack: Ok(crate::teststack::Binaries {
                    postgres_bin: "/usr/lib/postgresql/15/bin".into(),
                    nats_server: "/opt/pixie-ci/stack/nats-server-v2.15.3/nats-server".into(),
                    versitygw: "/opt/pixie-ci/stack/versitygw-v1.8.0/versitygw".into(),
                }),
                state_home: Some("/home/me/.local/state".into()),
            },
            engine: Some(Engine {
                cli,
                probes: Vec::new(),
                problem: None,
                compose: None,
            }),
            ui: Ui {
                quiet: true,
                verbose: false,
            },
            dry_run: true,
        }
    }
}
