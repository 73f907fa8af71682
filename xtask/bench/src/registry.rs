//! The `registry` setup: a shared (remote) buildx builder with a registry cache, as CI uses it.
//! Cold = the builder emptied, build-prod pushing with `--cache-to type=registry,…,mode=max`;
//! warm_from_registry = the builder emptied again, the same build with `--cache-from` that cache.
//! The registry is the testkit's docker-registry on a free loopback port (the registry-cache
//! test uses the same); the builder comes from `.ci/provision-builders` (PIXIE_CI_BUILDER in the
//! docker config PIXIE_CI_DOCKER_CONFIG).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Result};
use xtask::ctx::Ctx;
use xtask::plan::Step;
use xtask::settings;
use xtask::testkit::registry::{self, LocalRegistry};
use xtask::ui::Ui;

use crate::measure::timed;

/// The shared-builder tooling `.ci/provision-builders` sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tooling {
    pub builder: String,
    pub docker_config: PathBuf,
    /// The docker CLI first on PATH: with the dedicated DOCKER_CONFIG it loads buildx from there.
    pub cli: PathBuf,
}

impl Tooling {
    /// The tooling, or what is missing.
    pub fn detect() -> Result<Tooling, String> {
        Tooling::from_parts(
            std::env::var("PIXIE_CI_BUILDER").ok(),
            std::env::var_os("PIXIE_CI_DOCKER_CONFIG").map(PathBuf::from),
            registry::binary().is_some(),
            which::which("docker").ok(),
        )
    }

    fn from_parts(
        builder: Option<String>,
        docker_config: Option<PathBuf>,
        registry: bool,
        cli: Option<PathBuf>,
    ) -> Result<Tooling, String> {
        let mut missing = Vec::new();
        let builder = builder.filter(|b| !b.is_empty());
        let docker_config = docker_config.filter(|d| !d.as_os_str().is_empty());
        if builder.is_none() {
            missing.push("PIXIE_CI_BUILDER is not set".to_string());
        }
        if docker_config.is_none() {
            missing.push("PIXIE_CI_DOCKER_CONFIG is not set".to_string());
        }
        if !registry {
            missing.push(format!("{} is missing", registry::DEBIAN_BINARY));
        }
        if cli.is_none() {
            missing.push("no docker CLI on PATH".to_string());
        }
        match (builder, docker_config, cli) {
            (Some(builder), Some(docker_config), Some(cli)) if missing.is_empty() => Ok(Tooling {
                builder,
                docker_config,
                cli,
            }),
            _ => Err(missing.join(", ")),
        }
    }
}

/// The line printed when the tooling is missing, or the error when it must be there: CI
/// provisions it, so `--quick` under CI (env CI set) fails without it.
pub fn skip_or_fail(missing: &str, quick: bool, ci: bool) -> Result<String> {
    const ENABLE: &str = "run `export $(sudo bash .ci/provision-builders)` first";
    if quick && ci {
        bail!(
            "bench --quick under CI measures the registry setup, but its tooling is missing \
             ({missing}); CI provisions it: {ENABLE}"
        );
    }
    Ok(format!(
        "bench: registry setup skipped ({missing}); to measure it, {ENABLE}"
    ))
}

/// The registry setup's state for the whole bench: the registry with the base images in it.
pub struct RegistryBench {
    tooling: Tooling,
    /// The xtask binary (not this one) whose `build-prod` is timed.
    xtask: PathBuf,
    /// The engine's docker CLI, to untag what this setup created.
    engine_cli: PathBuf,
    go_image: String,
    runtime_image: String,
    /// Local image names this setup created (registry tags, pulled base images), removed on drop.
    created: Vec<String>,
    // Last: dropped after the images are untagged.
    registry: LocalRegistry,
}

impl RegistryBench {
    /// Starts the registry and pushes the configured base images there (a remote builder cannot
    /// read the engine's local images).
    pub fn prepare(ctx: &Ctx, tooling: Tooling, xtask: PathBuf) -> Result<RegistryBench> {
        let mut bench = RegistryBench {
            tooling,
            xtask,
            engine_cli: ctx.cli().path.clone(),
            go_image: String::new(),
            runtime_image: String::new(),
            created: Vec::new(),
            registry: LocalRegistry::start()?,
        };
        // On failure, dropping `bench` untags what was created so far.
        let registry = &bench.registry;
        bench.go_image =
            registry.push_image(ctx.config.text(&settings::GO_IMAGE), &mut bench.created)?;
        bench.runtime_image = registry.push_image(
            ctx.config.text(&settings::RUNTIME_IMAGE),
            &mut bench.created,
        )?;
        Ok(bench)
    }

    /// Empties the remote builder (layers and cache mounts); never the engine's own cache.
    pub fn prune_builder(&self, ui: &Ui) -> Result<()> {
        let t = &self.tooling;
        let step = Step::new("empty the remote builder", &t.cli, std::env::temp_dir())
            .args([
                "buildx",
                "prune",
                "--builder",
                &t.builder,
                "--all",
                "--force",
            ])
            .envs([("DOCKER_CONFIG", t.docker_config.display().to_string())]);
        timed(step, ui).map(|_| ())
    }

    /// One timed `xtask build-prod` on the emptied remote builder, pushing to the registry:
    /// `cold` exports the cache of this run, otherwise it imports it.
    pub fn build(&self, copy: &Ctx, run: u32, cold: bool, ui: &Ui) -> Result<f64> {
        let workspace = &copy.ws.root;
        self.prune_builder(ui)?;
        let t = &self.tooling;
        let (host, id) = (self.registry.host(), std::process::id());
        let cache = format!("type=registry,ref={host}/pixie-bench-cache:{id}-{run}");
        let scenario = if cold { "cold" } else { "warm" };
        let image = format!("{host}/pixie-bench-core:{id}-{run}-{scenario}");
        let xtask = &self.xtask;
        let mut step = Step::new(
            format!("build-prod on builder {} ({scenario})", t.builder),
            xtask,
            workspace,
        )
        .args([
            "build-prod",
            "--module",
            "core",
            "--builder",
            &t.builder,
            "--push",
            // The bench times the cache, not attestations (and cannot pull BuildKit's scanner).
            "--no-attest",
            "--tag",
            &image,
        ]);
        step = if cold {
            step.args(["--cache-to", &format!("{cache},mode=max")])
        } else {
            step.args(["--cache-from", &cache])
        };
        let step = step.envs([
            ("DOCKER", t.cli.display().to_string()),
            ("DOCKER_CONFIG", t.docker_config.display().to_string()),
            ("PIXIE_WORKSPACE", workspace.display().to_string()),
            ("PIXIE_GO_IMAGE", self.go_image.clone()),
            ("PIXIE_RUNTIME_IMAGE", self.runtime_image.clone()),
            ("PIXIE_PROD_IMAGE", image.clone()),
            ("BUILDKIT_PROGRESS", "plain".into()),
        ]);
        timed(step, ui)
    }

    pub fn note(&self) -> String {
        format!(
            "buildx builder {} (remote driver, DOCKER_CONFIG={}) and docker-registry on {}; both \
             scenarios empty the builder first (`docker buildx prune --builder {} --all --force`) and \
             run `xtask build-prod --push`: cold with `--cache-to type=registry,…,mode=max` (a \
             cache tag of its own per run), warm_from_registry with `--cache-from` that cache",
            self.tooling.builder,
            self.tooling.docker_config.display(),
            self.registry.host(),
            self.tooling.builder
        )
    }
}

impl Drop for RegistryBench {
    fn drop(&mut self) {
        // Plain commands, not plans: after Ctrl-C, `exec::run` would skip them.
        for name in &self.created {
            let _ = Command::new(&self.engine_cli)
                .args(["image", "rm", name])
                .stdin(Stdio::null())
                .output();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tooling_needs_builder_config_registry_and_cli() {
        let ok = Tooling::from_parts(
            Some("pixie-remote".into()),
            Some("/opt/pixie-ci/docker-config".into()),
            true,
            Some("/usr/local/bin/docker".into()),
        )
        .unwrap();
        assert_eq!(ok.builder, "pixie-remote");
        let missing = Tooling::from_parts(Some(String::new()), None, false, Some("d".into()));
        assert_eq!(
            missing.unwrap_err(),
            "PIXIE_CI_BUILDER is not set, PIXIE_CI_DOCKER_CONFIG is not set, \
             /usr/bin/docker-registry is missing"
        );
    }

    #[test]
    fn missing_tooling_is_skipped_except_quick_under_ci() {
        let line = skip_or_fail("PIXIE_CI_BUILDER is not set", true, false).unwrap();
        assert!(line.contains("registry setup skipped (PIXIE_CI_BUILDER is not set)"));
        assert!(line.contains(".ci/provision-builders"));
        assert!(skip_or_fail("x", false, true).is_ok());
        let error = skip_or_fail("x", true, true).unwrap_err().to_string();
        assert!(
            error.contains("tooling is missing (x); CI provisions it"),
            "{error}"
        );
    }
}
