//! Debian's docker-registry on a free loopback port, its config and storage in a temp folder:
//! the registry of the registry-cache test and of the bench's registry setup.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{docker::docker, free_port, http, unique_name};

/// Where Debian's `docker-registry` package puts the binary.
pub const DEBIAN_BINARY: &str = "/usr/bin/docker-registry";

/// The registry binary: on PATH, else where Debian's package puts it.
pub fn binary() -> Option<PathBuf> {
    which::which("docker-registry")
        .ok()
        .or_else(|| Some(PathBuf::from(DEBIAN_BINARY)).filter(|p| p.is_file()))
}

/// A running registry; stopped (our own child, by its pid) and its folder removed when dropped.
pub struct LocalRegistry {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl LocalRegistry {
    pub fn start() -> Result<LocalRegistry> {
        let binary = binary()
            .context("docker-registry is missing; run `sudo bash .ci/provision-builders` first")?;
        let port = free_port();
        let dir = std::env::temp_dir().join(unique_name("pixie-registry"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: pixie-tests\n",
                dir.join("data").display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let spawned = Command::new(binary)
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
        http::wait_for_answer(
            port,
            "/v2/",
            Instant::now(),
            Duration::from_secs(20),
            |_| true,
        )
        .with_context(|| {
            format!(
                "docker-registry never answered on 127.0.0.1:{port}: {}",
                registry.log()
            )
        })?;
        Ok(registry)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// The registry's tag list of `repository` (JSON).
    pub fn tags(&self, repository: &str) -> Result<String> {
        let response = http::get(self.port, &format!("/v2/{repository}/tags/list"))?;
        anyhow::ensure!(response.status == 200, "{}", response.text());
        Ok(response.text())
    }

    /// Puts a local (or pullable) image into the registry — a remote builder cannot read the
    /// engine's local images — and returns its name there. `created` gets every local name this
    /// made, for the caller to untag.
    pub fn push_image(&self, image: &str, created: &mut Vec<String>) -> Result<String> {
        let run = |args: &[&str]| -> Result<()> {
            let out = docker().args(args).stdin(Stdio::null()).output()?;
            anyhow::ensure!(
                out.status.success(),
                "docker {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            Ok(())
        };
        if run(&["image", "inspect", image]).is_err() {
            created.push(image.to_string());
            run(&["pull", "-q", image])?;
        }
        let remote = format!("{}/{}", self.host(), without_registry_host(image));
        created.push(remote.clone());
        run(&["tag", image, &remote])?;
        run(&["push", "-q", &remote])?;
        Ok(remote)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The image path without a registry host of its own (docker.io/…, ghcr.io/…, host:port/…).
pub fn without_registry_host(image: &str) -> &str {
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
