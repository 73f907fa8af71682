//! The docker side: which engine this machine has ([`engine`]), the only writers of `docker
//! build`/`buildx build`/`podman build` argv ([`build`]) and of `buildx bake` ([`bake`]), of the Podman < 5.4 builder container's
//! ([`builder`]) and of compose argv ([`compose`]), what
//! a build needs of the engine before it starts ([`checks`]), what an interrupted Podman build leaves
//! ([`podman`]), cosign signing of pushed images ([`sign`]), the engine matrix of tests and
//! bench ([`matrix`]) and the images a process's rebuilds left untagged ([`untagged`]). Everything here takes a [`Site`], never the whole command context.

pub mod bake;
pub mod build;
pub mod builder;
pub mod checks;
pub mod compose;
pub mod engine;
pub mod inputs;
pub mod matrix;
pub mod podman;
mod probe;
pub mod sign;
pub mod untagged;
mod version_cache;

use std::path::PathBuf;

use engine::{DockerCli, Engine};

use crate::host::Host;
use crate::workspace::Workspace;

/// The engine as this checkout and this host use it: what the argv writers need.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub engine: &'a Engine,
    pub ws: &'a Workspace,
    pub host: &'a Host,
}

impl Site<'_> {
    pub fn cli(&self) -> &DockerCli {
        &self.engine.cli
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
