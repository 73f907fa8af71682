//! The host's Go and protoc as plans check them: is the module tidy (`go mod tidy -diff`, with
//! the build's module resolution), is protoc the pinned one. Below the commands (tidy, proto,
//! test and every build plan these checks) and the executor (which only runs them).

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{bail, Context, Result};

use crate::plan::shell::{env_words, quote};
use crate::plan::{Action, ActionCx};
use crate::settings::{self, Config};

/// What `tidy`'s messages name as the fix.
pub const TIDY_FIX: &str = "run `cargo xtask tidy`";

/// GOPROXY, GOPRIVATE and GONOSUMDB as set: the module download of the build and the host's
/// `go mod tidy` resolve modules the same way (a private module never goes to the public proxy).
pub fn module_proxy_settings(config: &Config) -> Vec<(&'static str, String)> {
    [
        ("GOPROXY", &settings::GOPROXY),
        ("GOPRIVATE", &settings::GOPRIVATE),
        ("GONOSUMDB", &settings::GONOSUMDB),
    ]
    .into_iter()
    .map(|(name, spec)| (name, config.text(spec).to_string()))
    .filter(|(_, value)| !value.is_empty())
    .collect()
}

/// How the host's Go resolves modules: as the build's module download does (proxy settings),
/// with the build's netrc.
pub fn module_env(config: &Config) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = module_proxy_settings(config)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let netrc = config.text(&settings::NETRC);
    if !netrc.is_empty() {
        env.push(("NETRC".into(), netrc.to_string()));
    }
    env
}

/// Fails with the diff and the fix when `go mod tidy` would change `module`'s go.mod/go.sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTidy {
    pub go: PathBuf,
    pub module: PathBuf,
    /// The module's folder as messages name it: `core`, `plugins/thumbnailer`.
    pub dir: String,
    /// How Go resolves modules (the build's proxy settings and netrc).
    pub env: Vec<(String, String)>,
    /// Before a build: where the host's Go cannot resolve the modules (offline, or a private
    /// module only the build can reach) that is said and the build goes on; it resolves them
    /// itself. (`tidy --check` fails instead.)
    pub before_build: bool,
}

impl Action for CheckTidy {
    fn shell_line(&self) -> String {
        format!(
            "(cd {} && {}{} mod tidy -diff)",
            quote(&self.module.to_string_lossy()),
            env_words(&self.env),
            quote(&self.go.to_string_lossy())
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        match tidy_diff(&self.go, &self.module, &self.env) {
            Ok(None) => Ok(()),
            Ok(Some(diff)) => {
                crate::ui::note(diff.trim_end());
                bail!(
                    "{}/go.mod or go.sum is not tidy (the diff above is what `go mod tidy` would change); {TIDY_FIX}",
                    self.dir
                )
            }
            Err(e) if self.before_build => {
                crate::ui::note(format_args!(
                    "xtask: {}/go.mod not checked for tidiness on this host ({e:#}); the build resolves modules itself",
                    self.dir
                ));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// What `go mod tidy` would change (`None`: nothing), or why Go could not tell.
fn tidy_diff(go: &Path, module: &Path, env: &[(String, String)]) -> Result<Option<String>> {
    let out = Process::new(go)
        .args(["mod", "tidy", "-diff"])
        .current_dir(module)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", go.display()))?;
    if out.status.success() {
        return Ok(None);
    }
    let diff = String::from_utf8_lossy(&out.stdout);
    if diff.trim().is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        bail!(
            "`go mod tidy -diff` failed in {}: {}",
            module.display(),
            last.unwrap_or("no output").trim()
        );
    }
    Ok(Some(diff.into_owned()))
}

/// Fails with the fix unless `protoc --version` says `version` (the generated headers record it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckProtoc {
    pub version: &'static str,
}

impl Action for CheckProtoc {
    fn shell_line(&self) -> String {
        format!(
            "protoc --version  # (xtask) fail unless it says libprotoc {}",
            self.version
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        let version = self.version;
        let fix =
            format!("install protoc {version} (`apt-get install protobuf-compiler` on Debian 12)");
        let output = Process::new("protoc")
            .arg("--version")
            .output()
            .map_err(|_| anyhow::anyhow!("protoc is not installed; {fix}"))?;
        let says = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if says != format!("libprotoc {version}") {
            bail!(
                "protoc says `{says}`, but the committed code was generated with {version}; {fix}"
            );
        }
        Ok(())
    }
}
