//! What every command plans from: the workspace, the effective settings, the engine and the host,
//! all read once here. Planning reads only [`Ctx`], so a plan is a function of these facts and
//! unit tests hand them in directly.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;

use crate::docker::engine::{DockerCli, Engine};
use crate::settings::{self, Config};
use crate::ui::Ui;
use crate::workspace::{Workspace, DEV_COMPOSE, DEV_DOCKERFILE, PROD_COMPOSE, PROD_DOCKERFILE};

/// What a command needs detected before it can plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    /// A docker CLI that can run BuildKit builds.
    Engine,
    /// That, and compose.
    Compose,
}

/// Facts about the machine outside Docker, read from the environment once.
#[derive(Debug, Clone)]
pub struct Host {
    /// This very binary: plans that re-run the xtask (vendor before a vendored build) use it.
    pub xtask: PathBuf,
    /// The cargo that runs us (`CARGO`), so toolchain overrides carry over.
    pub cargo: PathBuf,
    pub go: Option<PathBuf>,
    pub temp_dir: PathBuf,
    /// Plain BuildKit progress: logs read better than the TTY animation when not on a terminal.
    pub plain_progress: bool,
    pub no_color: bool,
    /// GitHub Actions' cache service is reachable (`ACTIONS_RUNTIME_TOKEN` set).
    pub actions_cache: bool,
    /// `PIXIE_API_TOKEN` is set (its value is read only when run-prod copies it into a file).
    pub api_token_var: bool,
    /// `PIXIE_API_TOKEN_FILE`.
    pub api_token_file: Option<PathBuf>,
    /// `PIXIE_ENGINE_*` variables (`.ci/provision-engines` prints them): further engines that
    /// `cargo xtask test` runs the engine tests on.
    pub engines: Vec<(String, String)>,
    /// The stack's servers for core's stack suite, or what is missing and how to get it.
    pub stack: Result<crate::teststack::Binaries, String>,
}

impl Host {
    pub fn read() -> Host {
        Host {
            xtask: std::env::current_exe().unwrap_or_else(|_| "cargo-xtask".into()),
            cargo: std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from),
            go: which::which("go").ok(),
            temp_dir: std::env::temp_dir(),
            plain_progress: std::env::var_os("CI").is_some() || !std::io::stdout().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some(),
            actions_cache: std::env::var_os("ACTIONS_RUNTIME_TOKEN").is_some(),
            api_token_var: std::env::var_os("PIXIE_API_TOKEN").is_some_and(|v| !v.is_empty()),
            api_token_file: std::env::var_os("PIXIE_API_TOKEN_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            engines: std::env::vars()
                .filter(|(k, v)| k.starts_with("PIXIE_ENGINE_") && !v.is_empty())
                .collect(),
            stack: crate::teststack::Binaries::locate(|var| {
                std::env::var(var).ok().filter(|v| !v.is_empty())
            }),
        }
    }
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
        self.host.go.clone().ok_or_else(|| {
            anyhow::anyhow!("Go is not installed (no `go` on PATH), which is needed to {purpose}; install Go 1.26 from https://go.dev/dl/")
        })
    }

    /// Environment every docker/compose child gets.
    pub fn docker_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DOCKER_BUILDKIT".to_string(), "1".to_string()),
            ("COMPOSE_DOCKER_CLI_BUILD".to_string(), "1".to_string()),
        ];
        if self.host.plain_progress {
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

/// The two images the workspace builds and runs.
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

    pub fn compose_file(self) -> &'static str {
        match self {
            Target::Prod => PROD_COMPOSE,
            Target::Dev => DEV_COMPOSE,
        }
    }

    pub fn image(self, config: &Config) -> String {
        config
            .text(match self {
                Target::Prod => &settings::PROD_IMAGE,
                Target::Dev => &settings::DEV_IMAGE,
            })
            .to_string()
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
                },
            },
            config,
            host: Host {
                xtask: root.join("target/debug/xtask"),
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
