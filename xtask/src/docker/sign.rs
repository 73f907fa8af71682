//! Signing a pushed image with cosign: the digest buildx reports for the push (never a tag,
//! which can move), offline-friendly (no transparency log upload), the key's password from
//! `COSIGN_PASSWORD` as cosign itself reads it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::plan::shell::quote;
use crate::plan::{Action, ActionCx};

/// cosign: `PIXIE_CI_COSIGN` (what `.ci/provision-builders` builds), else the one on PATH.
pub fn cosign() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PIXIE_CI_COSIGN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "--sign: PIXIE_CI_COSIGN points at {}, which does not exist; run `sudo bash .ci/provision-builders` \
             (it builds cosign v2.6.5 and prints PIXIE_CI_COSIGN) or unset it to use cosign on PATH",
            path.display()
        );
    }
    which::which("cosign").map_err(|_| {
        anyhow::anyhow!(
            "--sign needs cosign, which is not on PATH; run `sudo bash .ci/provision-builders` (it builds \
             cosign v2.6.5 and prints PIXIE_CI_COSIGN) or install cosign v2"
        )
    })
}

/// Whether `repository` lives on this machine's loopback (a plain-http test registry).
fn on_loopback(repository: &str) -> bool {
    let host = repository.split('/').next().unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name == "localhost" || name.starts_with("127.") || name == "[::1]"
}

/// `cosign sign` arguments for `repository@digest`, before the reference.
fn sign_args(key: &Path, repository: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "sign",
        "--key",
        &key.display().to_string(),
        "--tlog-upload=false",
        "--yes",
    ]
    .map(String::from)
    .to_vec();
    if on_loopback(repository) {
        args.extend([
            "--allow-insecure-registry".into(),
            "--allow-http-registry".into(),
        ]);
    }
    args
}

/// The image (or manifest list) digest of a push, from buildx's `--metadata-file`.
pub fn pushed_digest(metadata: &Path) -> Result<String> {
    let text = std::fs::read_to_string(metadata)
        .with_context(|| format!("cannot read the push metadata {}", metadata.display()))?;
    let after = text
        .split("\"containerimage.digest\"")
        .nth(1)
        .with_context(|| format!("no containerimage.digest in {}", metadata.display()))?;
    let digest: String = after
        .trim_start_matches([' ', ':', '"'])
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    if !digest.starts_with("sha256:") {
        bail!("no containerimage.digest in {}", metadata.display());
    }
    Ok(digest)
}

/// Signs what a buildx push reported (`containerimage.digest` in `metadata`) under each of
/// `repositories` with cosign, offline (no transparency log upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignPushed {
    pub cosign: PathBuf,
    pub key: PathBuf,
    pub metadata: PathBuf,
    pub repositories: Vec<String>,
}

impl Action for SignPushed {
    fn shell_line(&self) -> String {
        let q = |p: &Path| quote(&p.to_string_lossy());
        self.repositories
            .iter()
            .map(|repo| {
                format!(
                    "{} {} {}@DIGEST  # DIGEST: containerimage.digest in {}",
                    q(&self.cosign),
                    sign_args(&self.key, repo).join(" "),
                    quote(repo),
                    q(&self.metadata)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs cosign for every repository the push went to, on the pushed digest.
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        let digest = pushed_digest(&self.metadata)?;
        for repository in &self.repositories {
            let reference = format!("{repository}@{digest}");
            let status = std::process::Command::new(&self.cosign)
                .args(sign_args(&self.key, repository))
                .arg(&reference)
                .stdin(std::process::Stdio::null())
                .status()
                .with_context(|| format!("cannot start {}", self.cosign.display()))?;
            if !status.success() {
                bail!(
                    "cosign could not sign {reference} ({status}); check the key and COSIGN_PASSWORD"
                );
            }
        }
        Ok(())
    }
}

/// `registry/name:tag` → `registry/name` (a port's colon is not a tag's).
pub fn repository_of(image: &str) -> &str {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_reported_digest_with_offline_flags() {
        assert_eq!(
            repository_of("127.0.0.1:5000/pixie-core:v1"),
            "127.0.0.1:5000/pixie-core"
        );
        assert_eq!(
            repository_of("127.0.0.1:5000/pixie-core"),
            "127.0.0.1:5000/pixie-core"
        );
        assert_eq!(
            sign_args(Path::new("k.key"), "ghcr.io/p/pixie-core"),
            ["sign", "--key", "k.key", "--tlog-upload=false", "--yes"]
        );
        assert!(sign_args(Path::new("k"), "127.0.0.1:5000/p")
            .contains(&"--allow-http-registry".to_string()));
        let dir = std::env::temp_dir().join(format!("xtask-sign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let metadata = dir.join("m.json");
        std::fs::write(
            &metadata,
            "{\n  \"buildx.build.ref\": \"x\",\n  \"containerimage.digest\": \"sha256:abc123\",\n  \"image.name\": \"r/p:v1\"\n}",
        )
        .unwrap();
        assert_eq!(pushed_digest(&metadata).unwrap(), "sha256:abc123");
        std::fs::write(&metadata, "{}").unwrap();
        assert_eq!(
            pushed_digest(&metadata).unwrap_err().to_string(),
            format!("no containerimage.digest in {}", metadata.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
