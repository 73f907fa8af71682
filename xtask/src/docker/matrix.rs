//! The engine matrix: engine A (whatever the xtask detects here) and the further engines the
//! environment configures with the `PIXIE_ENGINE_*` lines `.ci/provision-engines` prints — B, a
//! second Docker engine, and C, Podman. `cargo xtask test` runs the engine tests on each, and
//! `cargo xtask bench --engine` measures each; both take the child environment from here.

use std::path::Path;

use anyhow::{bail, Result};

use super::engine::Engine;
use crate::host::Host;
use crate::settings::UsageError;

/// One engine of the matrix and how a child process is pointed at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixEngine {
    /// "A", "B" or "C".
    pub name: &'static str,
    /// One line: which CLI drives it.
    pub what: String,
    /// What a child process needs on top of the inherited environment to use this engine
    /// (nothing for A).
    pub env: Vec<(String, String)>,
}

/// How `--engine` names every configured engine.
pub const ALL: &str = "all";

/// A, then B and C where the environment configures them.
pub fn configured(host: &Host, engine: &Engine) -> Vec<MatrixEngine> {
    let var = |key: &str| {
        host.engines
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let mut engines = vec![MatrixEngine {
        name: "A",
        what: engine.note(),
        env: Vec::new(),
    }];
    if let Some(docker) = var("PIXIE_ENGINE_B_DOCKER") {
        let mut env = vec![("DOCKER".to_string(), docker.clone())];
        for (from, to) in [
            ("PIXIE_ENGINE_B_HOST", "DOCKER_HOST"),
            ("PIXIE_ENGINE_B_CONFIG", "DOCKER_CONFIG"),
            ("PIXIE_ENGINE_B_ADDR", "PIXIE_TEST_PUBLISHED_ADDR"),
            ("PIXIE_ENGINE_B_ADDR", "PIXIE_PUBLISHED_HOST"),
            ("PIXIE_ENGINE_B_HOST_ADDR", "PIXIE_TEST_HOST_ADDR"),
        ] {
            env.extend(var(from).map(|v| (to.to_string(), v)));
        }
        engines.push(MatrixEngine {
            name: "B",
            what: format!("docker CLI {docker}"),
            env,
        });
    }
    if let Some(podman) = var("PIXIE_ENGINE_C_PODMAN") {
        let mut env = vec![("DOCKER".to_string(), podman.clone())];
        env.extend(var("PIXIE_ENGINE_C_SOCKET").map(|v| ("DOCKER_HOST".to_string(), v)));
        env.extend(
            var("PIXIE_ENGINE_C_HOST_ADDR").map(|v| ("PIXIE_TEST_HOST_ADDR".to_string(), v)),
        );
        // The xtask runs the first docker-compose on PATH for Podman (after the plugin
        // folders): put the named one first. Not DOCKER_CONFIG: podman reads its config.json.
        if let Some(dir) = var("PIXIE_ENGINE_C_COMPOSE")
            .as_deref()
            .map(Path::new)
            .and_then(Path::parent)
        {
            env.push(("PATH".into(), format!("{}:$PATH", dir.display())));
        }
        engines.push(MatrixEngine {
            name: "C",
            what: format!("Podman CLI {podman}"),
            env,
        });
    }
    engines
}

/// The engines a flag (`flag`, for the error) names: a comma-separated list of a, b, c, or `all`.
pub fn select(host: &Host, engine: &Engine, flag: &str, names: &str) -> Result<Vec<MatrixEngine>> {
    let configured = configured(host, engine);
    if names.trim().eq_ignore_ascii_case(ALL) {
        return Ok(configured);
    }
    let mut chosen: Vec<MatrixEngine> = Vec::new();
    for name in names.split(',').map(str::trim) {
        let upper = name.to_ascii_uppercase();
        if !["A", "B", "C"].contains(&upper.as_str()) {
            return Err(UsageError(format!(
                "{flag} {name}: no such engine; name a, b, c or all (comma-separated)"
            ))
            .into());
        }
        let Some(engine) = configured.iter().find(|e| e.name == upper) else {
            let key = if upper == "B" {
                "PIXIE_ENGINE_B_DOCKER"
            } else {
                "PIXIE_ENGINE_C_PODMAN"
            };
            bail!("engine {upper} is not configured ({key} is unset); export the lines `bash .ci/provision-engines` prints");
        };
        if !chosen.iter().any(|e| e.name == engine.name) {
            chosen.push(engine.clone());
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::ctx::Ctx;
    use crate::docker::engine::BuildRoute;
    use crate::settings::Flags;

    fn ctx(engines: &[(&str, &str)]) -> Ctx {
        let mut ctx = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        ctx.host.engines = engines
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ctx
    }

    fn provisioned() -> Ctx {
        ctx(&[
            ("PIXIE_ENGINE_B_DOCKER", "/opt/d26/docker"),
            ("PIXIE_ENGINE_B_HOST", "unix:///run/d26.sock"),
            ("PIXIE_ENGINE_B_CONFIG", "/opt/d26-config"),
            ("PIXIE_ENGINE_B_ADDR", "10.203.26.2"),
            ("PIXIE_ENGINE_B_HOST_ADDR", "10.203.26.1"),
            ("PIXIE_ENGINE_C_PODMAN", "/usr/bin/podman"),
            ("PIXIE_ENGINE_C_SOCKET", "unix:///run/podman.sock"),
            ("PIXIE_ENGINE_C_HOST_ADDR", "172.17.0.1"),
            ("PIXIE_ENGINE_C_COMPOSE", "/opt/d26/plugins/docker-compose"),
        ])
    }

    #[test]
    fn a_alone_without_engine_variables() {
        let engines = {
            let ctx = ctx(&[]);
            configured(&ctx.host, ctx.engine())
        };
        assert_eq!(engines.len(), 1);
        assert_eq!(engines[0].name, "A");
        assert!(engines[0].env.is_empty());
    }

    #[test]
    fn b_and_c_get_their_cli_socket_and_addresses() {
        let engines = {
            let ctx = provisioned();
            configured(&ctx.host, ctx.engine())
        };
        let names: Vec<&str> = engines.iter().map(|e| e.name).collect();
        assert_eq!(names, ["A", "B", "C"]);
        let env = |i: usize| -> Vec<(&str, &str)> {
            engines[i]
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        };
        assert_eq!(
            env(1),
            [
                ("DOCKER", "/opt/d26/docker"),
                ("DOCKER_HOST", "unix:///run/d26.sock"),
                ("DOCKER_CONFIG", "/opt/d26-config"),
                ("PIXIE_TEST_PUBLISHED_ADDR", "10.203.26.2"),
                ("PIXIE_PUBLISHED_HOST", "10.203.26.2"),
                ("PIXIE_TEST_HOST_ADDR", "10.203.26.1"),
            ]
        );
        assert_eq!(
            env(2),
            [
                ("DOCKER", "/usr/bin/podman"),
                ("DOCKER_HOST", "unix:///run/podman.sock"),
                ("PIXIE_TEST_HOST_ADDR", "172.17.0.1"),
                ("PATH", "/opt/d26/plugins:$PATH"),
            ]
        );
    }

    #[test]
    fn select_takes_names_in_order_any_case_and_all() {
        let ctx = provisioned();
        let names = |list: &str| -> Vec<&'static str> {
            select(&ctx.host, ctx.engine(), "--engine", list)
                .unwrap()
                .iter()
                .map(|e| e.name)
                .collect()
        };
        assert_eq!(names("c,a"), ["C", "A"]);
        assert_eq!(names("B, b"), ["B"]);
        assert_eq!(names("all"), ["A", "B", "C"]);
    }

    #[test]
    fn select_refuses_unknown_and_unconfigured_engines_in_one_line() {
        let ctx = ctx(&[]);
        assert_eq!(
            select(&ctx.host, ctx.engine(), "--stack", "d")
                .unwrap_err()
                .to_string(),
            "--stack d: no such engine; name a, b, c or all (comma-separated)"
        );
        assert_eq!(
            select(&ctx.host, ctx.engine(), "--engine", "a,c").unwrap_err().to_string(),
            "engine C is not configured (PIXIE_ENGINE_C_PODMAN is unset); export the lines `bash .ci/provision-engines` prints"
        );
        assert_eq!(
            select(&ctx.host, ctx.engine(), "--engine", "b").unwrap_err().to_string(),
            "engine B is not configured (PIXIE_ENGINE_B_DOCKER is unset); export the lines `bash .ci/provision-engines` prints"
        );
    }
}
