//! The API token for `run-prod`: read from where the user keeps it, checked, and copied into a
//! file compose mounts as a secret ([`WriteToken`]). Errors never show the token.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::plan::shell::quote;
use crate::plan::{Action, ActionCx};

/// Where the API token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFrom {
    /// An environment variable holding the token itself.
    Var(&'static str),
    /// A file holding it (named by `PIXIE_API_TOKEN_FILE`).
    File(PathBuf),
}

impl fmt::Display for TokenFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenFrom::Var(var) => write!(f, "${var}"),
            TokenFrom::File(path) => write!(f, "{}", quote(&path.to_string_lossy())),
        }
    }
}

/// Copies the API token from where the user keeps it into `to`, mode 0444 inside a 0700
/// folder, so the container's non-root user can read the bind-mounted secret. The plan holds
/// where the token comes from, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteToken {
    pub from: TokenFrom,
    pub to: PathBuf,
}

impl Action for WriteToken {
    fn shell_line(&self) -> String {
        let to = quote(&self.to.to_string_lossy());
        let dir = self
            .to
            .parent()
            .map(|d| quote(&d.to_string_lossy()))
            .unwrap_or_default();
        let source = match &self.from {
            TokenFrom::Var(_) => format!("printf '%s\\n' \"{}\"", self.from),
            TokenFrom::File(_) => format!("cat {}", self.from),
        };
        format!("mkdir -p {dir} && chmod 700 {dir} && {source} > {to} && chmod 444 {to}")
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        write_token(&read_token(&self.from)?, &self.to)
    }
}

/// The token, checked: at least 16 characters, no whitespace (one trailing newline is fine).
pub fn read_token(from: &TokenFrom) -> Result<String> {
    let (raw, name) = match from {
        TokenFrom::Var(var) => (std::env::var(var).unwrap_or_default(), var.to_string()),
        TokenFrom::File(path) => {
            let raw = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read PIXIE_API_TOKEN_FILE={}: {e}; name a readable file that holds the token",
                    path.display()
                )
            })?;
            (raw, format!("PIXIE_API_TOKEN_FILE={}", path.display()))
        }
    };
    let token = raw
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&raw);
    if token.chars().count() < 16 || token.chars().any(char::is_whitespace) {
        bail!("the API token in {name} must be at least 16 characters with no whitespace; make one with `openssl rand -hex 32`");
    }
    Ok(token.to_string())
}

/// Writes `token` to `to`: mode 0444, because compose bind-mounts file secrets with the host's
/// owner and mode and the container runs as uid 65532; inside a 0700 folder, so no other host
/// user can reach it. Written beside and renamed into place, so a reader never sees half a token.
pub fn write_token(token: &str, to: &Path) -> Result<()> {
    let dir = to.parent().context("the token file has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    let staging = dir.join(".api_token.new");
    let _ = std::fs::remove_file(&staging);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    writeln!(file, "{token}").with_context(|| format!("cannot write {}", staging.display()))?;
    // The umask may have narrowed the mode given at creation.
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o444))?;
    std::fs::rename(&staging, to).with_context(|| format!("cannot write {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_token_file_is_0444_in_a_0700_folder_and_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("xtask-secret-{}", std::process::id()));
        let to = dir.join("prod/api_token");
        write_token("first-token-0123456789", &to).unwrap();
        write_token("second-token-0123456789", &to).unwrap();
        assert_eq!(
            std::fs::read_to_string(&to).unwrap(),
            "second-token-0123456789\n"
        );
        assert_eq!(std::fs::metadata(&to).unwrap().mode() & 0o777, 0o444);
        assert_eq!(
            std::fs::metadata(to.parent().unwrap()).unwrap().mode() & 0o777,
            0o700
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_or_spaced_tokens_are_refused_without_showing_them() {
        let dir = std::env::temp_dir().join(format!("xtask-secret-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "0123456789abcdef\n").unwrap();
        assert_eq!(
            read_token(&TokenFrom::File(file.clone())).unwrap(),
            "0123456789abcdef"
        );
        for bad in ["short\n", "0123456789 abcdef-with-space"] {
            std::fs::write(&file, bad).unwrap();
            let message = read_token(&TokenFrom::File(file.clone()))
                .unwrap_err()
                .to_string();
            assert_eq!(
                message,
                format!("the API token in PIXIE_API_TOKEN_FILE={} must be at least 16 characters with no whitespace; make one with `openssl rand -hex 32`", file.display())
            );
        }
        let missing = dir.join("missing");
        let message = read_token(&TokenFrom::File(missing.clone()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            format!("cannot read PIXIE_API_TOKEN_FILE={}: No such file or directory (os error 2); name a readable file that holds the token", missing.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
