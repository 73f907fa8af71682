//! What a build needs of the engine before it starts, checked as plan steps so a dry run shows
//! them and a failure is one line naming the fix: the daemon answers ([`CheckDaemon`]), and the
//! base images are on the engine or pullable ([`CheckBaseImages`]), not BuildKit's `failed to
//! do request: Head "https://…": no such host` deep in a build. "Pullable" is asked of the
//! registry itself with `docker manifest inspect` (one request; fails at once where no registry
//! is reachable).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::engine::{image_exists, DockerCli};
use crate::plan::shell::quote;
use crate::plan::{Action, ActionCx};
use crate::settings::{self, Config, Spec};
use crate::target::Target;

/// How long a registry may take to answer whether it has an image.
const PULLABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings naming `target`'s base images, with their values.
pub fn of(config: &Config, target: Target) -> Vec<(&'static Spec, String)> {
    let specs: &[&'static Spec] = match target {
        Target::Prod => &[&settings::GO_IMAGE, &settings::RUNTIME_IMAGE],
        Target::Dev => &[&settings::GO_IMAGE],
    };
    specs
        .iter()
        .map(|spec| (*spec, config.text(spec).to_string()))
        .filter(|(_, image)| image != "scratch")
        .collect()
}

/// `Ok(how it is reachable)`, or the one-line problem with its fix.
pub fn check(cli: &Path, spec: &Spec, image: &str) -> Result<&'static str, String> {
    if image_exists(cli, image) {
        return Ok("on the engine");
    }
    if pullable(cli, image) {
        return Ok("pullable");
    }
    Err(missing(spec, image))
}

/// The message for a base image neither on the engine nor pullable.
pub fn missing(spec: &Spec, image: &str) -> String {
    format!(
        "base image {image} ({}) is not on the engine and cannot be pulled; run `bash .ci/provision` \
         to make local base images, or set {} (env {}) to an image the engine has",
        spec.key, spec.key, spec.env
    )
}

/// Fails with how to start the daemon unless it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDaemon(pub DockerCli);

impl Action for CheckDaemon {
    fn shell_line(&self) -> String {
        format!(
            "{} version --format '{{{{.Server.Version}}}}'",
            quote(&self.0.path.to_string_lossy())
        )
    }

    fn run(&self, _cx: &ActionCx) -> anyhow::Result<()> {
        self.0.daemon_version().map(drop)
    }
}

/// Fails with the first of `images` the build could not start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckBaseImages {
    pub cli: PathBuf,
    pub images: Vec<(&'static Spec, String)>,
}

impl CheckBaseImages {
    /// The check of every base image of `targets`, or `None` when there is nothing to check: a
    /// buildx builder of its own (`build.builder`) resolves base images itself.
    pub fn of(cli: &Path, config: &Config, targets: &[Target]) -> Option<CheckBaseImages> {
        let mut images: Vec<(&'static Spec, String)> = Vec::new();
        for target in targets {
            for image in of(config, *target) {
                if !images.contains(&image) {
                    images.push(image);
                }
            }
        }
        (config.text(&settings::BUILDER).is_empty() && !images.is_empty()).then(|| {
            CheckBaseImages {
                cli: cli.to_path_buf(),
                images,
            }
        })
    }
}

impl Action for CheckBaseImages {
    fn shell_line(&self) -> String {
        let cli = quote(&self.cli.to_string_lossy());
        self.images
            .iter()
            .map(|(_, image)| {
                let image = quote(image);
                format!(
                    "{cli} image inspect {image} >/dev/null || {cli} manifest inspect --insecure {image} >/dev/null"
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn run(&self, _cx: &ActionCx) -> anyhow::Result<()> {
        for (spec, image) in &self.images {
            check(&self.cli, spec, image).map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }
}

fn pullable(cli: &Path, image: &str) -> bool {
    // --insecure: a plain-HTTP registry (a loopback one in tests) answers too; read-only probe.
    let mut probe = Command::new(cli);
    probe.args(["manifest", "inspect", "--insecure", image]);
    succeeds_within(&mut probe, PULLABLE_TIMEOUT)
}

/// Whether `command` (its output discarded) exits 0 within `timeout`; killed when it does not.
pub fn succeeds_within(command: &mut Command, timeout: Duration) -> bool {
    let Ok(mut child) = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}
