//! The `registry` setup: a shared (remote) buildx builder with a registry cache, as CI uses it.
//! Cold = the builder emptied, build-prod pushing with `--cache-to type=registry,…,mode=max`;
//! warm_from_registry = the builder emptied again, the same build with `--cache-from` that cache.
//! The registry is Debian's docker-registry on a free loopback port with its storage in a temp
//! folder (the recipe of xtask/tests/engine_registry.rs); the builder comes from
//! `.ci/provision-builders` (PIXIE_CI_BUILDER in the docker config PIXIE_CI_DOCKER_CONFIG).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::measure::{self, timed};
use crate::commands::Ctx;
use crate::exec::Ui;
use crate::plan::Step;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

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
            Path::new(REGISTRY_BIN).is_file(),
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
            missing.push(format!("{REGISTRY_BIN} is missing"));
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

/// A docker-registry process on a free loopback port, config and storage in a temp folder;
/// stopped (our own child) and its folder removed when dropped.
struct LocalRegistry {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl LocalRegistry {
    fn start() -> Result<LocalRegistry> {
        let port = measure::free_port()?;
        let dir = std::env::temp_dir().join(format!("pixie-bench-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: pixie-bench\n",
                dir.join("data").display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let spawned = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e).context("cannot start docker-registry");
            }
        };
        // From here on, Drop stops it and removes the folder, whatever happens.
        let registry = LocalRegistry { child, dir, port };
        measure::wait_for_answer(
            port,
            "/v2/",
            Instant::now(),
            Duration::from_secs(20),
            |_| true,
        )
        .with_context(|| {
            format!(
                "docker-registry never answered on 127.0.0.1:{port}: {}",
                std::fs::read_to_string(registry.dir.join("registry.log")).unwrap_or_default()
            )
        })?;
        Ok(registry)
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The registry setup's state for the whole bench: the registry with the base images in it.
pub struct RegistryBench {
    tooling: Tooling,
    /// The engine's docker CLI, for the base images (tag, push, pull, untag).
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
    pub fn prepare(ctx: &Ctx, tooling: Tooling, ui: &Ui) -> Result<RegistryBench> {
        let registry = LocalRegistry::start()?;
        let mut bench = RegistryBench {
            tooling,
            engine_cli: ctx.cli().path.clone(),
            go_image: String::new(),
            runtime_image: String::new(),
            created: Vec::new(),
            registry,
        };
        bench.go_image = bench.push_base_image(ctx, &ctx.config.go_image.value, ui)?;
        bench.runtime_image = bench.push_base_image(ctx, &ctx.config.runtime_image.value, ui)?;
        Ok(bench)
    }

    fn docker(&self, what: &str, args: &[&str]) -> Step {
        Step::new(what, &self.engine_cli, std::env::temp_dir()).args(args.iter().copied())
    }

    fn push_base_image(&mut self, ctx: &Ctx, image: &str, ui: &Ui) -> Result<String> {
        if !ctx.engine.image_exists(image) {
            self.created.push(image.to_string());
            timed(self.docker("pull a base image", &["pull", "-q", image]), ui)?;
        }
        let remote = format!("{}/{}", self.registry.host(), without_registry_host(image));
        self.created.push(remote.clone());
        timed(
            self.docker("tag a base image", &["tag", image, &remote]),
            ui,
        )?;
        timed(
            self.docker("push a base image", &["push", "-q", &remote]),
            ui,
        )?;
        Ok(remote)
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
    pub fn build(&self, workspace: &Path, run: u32, cold: bool, ui: &Ui) -> Result<f64> {
        self.prune_builder(ui)?;
        let t = &self.tooling;
        let (host, id) = (self.registry.host(), std::process::id());
        let cache = format!("type=registry,ref={host}/pixie-bench-cache:{id}-{run}");
        let scenario = if cold { "cold" } else { "warm" };
        let image = format!("{host}/pixie-bench-core:{id}-{run}-{scenario}");
        let xtask = std::env::current_exe().context("cannot find the xtask binary")?;
        let mut step = Step::new(
            format!("build-prod on builder {} ({scenario})", t.builder),
            xtask,
            workspace,
        )
        .args([
            "build-prod",
            "--builder",
            &t.builder,
            "--push",
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

/// The image path without a registry host of its own (docker.io/…, ghcr.io/…, host:port/…).
fn without_registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            rest
        }
        _ => image,
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

    #[test]
    fn base_images_lose_their_own_registry_host() {
        assert_eq!(
            without_registry_host("pixie-base/go:1.26.8"),
            "pixie-base/go:1.26.8"
        );
        assert_eq!(without_registry_host("golang:1.26"), "golang:1.26");
        assert_eq!(
            without_registry_host("docker.io/library/busybox"),
            "library/busybox"
        );
        assert_eq!(without_registry_host("127.0.0.1:5000/x/y:1"), "x/y:1");
    }
}
