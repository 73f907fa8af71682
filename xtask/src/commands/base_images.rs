//! The base images a build starts from must be on the engine or pullable, checked before the
//! build so a missing one is one line naming the fix, not BuildKit's `failed to do request:
//! Head "https://…": no such host` deep in a build. "Pullable" is asked of the registry itself
//! with `docker manifest inspect` (one request; fails at once where no registry is reachable).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ctx::Target;
use crate::docker::engine::Engine;
use crate::settings::{self, Config, Spec};

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
pub fn check(engine: &Engine, spec: &Spec, image: &str) -> Result<&'static str, String> {
    if engine.image_exists(image) {
        return Ok("on the engine");
    }
    if pullable(engine, image) {
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

/// Fails with the first base image of `targets` the build could not start from. A buildx
/// builder of its own (`build.builder`) resolves base images itself: not checked here.
pub fn require(engine: &Engine, config: &Config, targets: &[Target]) -> anyhow::Result<()> {
    if !config.text(&settings::BUILDER).is_empty() {
        return Ok(());
    }
    for target in targets {
        for (spec, image) in of(config, *target) {
            check(engine, spec, &image).map_err(anyhow::Error::msg)?;
        }
    }
    Ok(())
}

fn pullable(engine: &Engine, image: &str) -> bool {
    let Ok(mut child) = Command::new(&engine.cli.path)
        // --insecure: a plain-HTTP registry (a loopback one in tests) answers too; read-only probe.
        .args(["manifest", "inspect", "--insecure", image])
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
            Ok(None) if started.elapsed() < PULLABLE_TIMEOUT => {
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
