//! `tidy`: `go mod tidy` on the host, where it belongs (the image builds bind-mount go.mod and
//! go.sum read-only and cannot fix them). It tidies copies in `core/.tidy.new` (`-modfile`), then
//! installs go.mod and go.sum together: both or neither. `--check` is `go mod tidy -diff`; builds
//! run the same check first, so an untidy module fails before BuildKit with the fix.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{bail, Context, Result};

use super::{Command, Live};
use crate::ctx::{Ctx, Needs};
use crate::plan::{action, Action, Plan, Step};

/// The module files `go mod tidy` may rewrite, in the order they are installed.
pub const MODULE_FILES: [&str; 2] = ["go.mod", "go.sum"];

pub const FIX: &str = "run `cargo xtask tidy`";

pub struct Tidy {
    pub check: bool,
}

impl Command for Tidy {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        let go = ctx.go("tidy core/go.mod")?;
        let module = ctx.ws.path("core");
        if self.check {
            return Ok(Plan {
                steps: vec![action(
                    "check that core/go.mod and go.sum are tidy",
                    Action::CheckTidy {
                        go,
                        module,
                        env: module_env(ctx),
                    },
                )],
                ..Plan::default()
            });
        }
        let staging = module.join(".tidy.new");
        let files = |dir: &Path| MODULE_FILES.map(|f| dir.join(f)).to_vec();
        Ok(Plan {
            steps: vec![
                action(
                    "copy core/go.mod and go.sum into core/.tidy.new",
                    Action::CopyFiles {
                        files: files(&module),
                        to: staging.clone(),
                    },
                ),
                Step::new("go mod tidy on the copies", go, &module)
                    .args(["mod", "tidy", "-modfile=.tidy.new/go.mod"])
                    .envs(module_env(ctx))
                    .into(),
                action(
                    "install the tidied go.mod and go.sum together",
                    Action::InstallFiles {
                        from: staging.clone(),
                        to: module,
                        names: MODULE_FILES.to_vec(),
                    },
                ),
            ],
            cleanup: vec![action("remove core/.tidy.new", Action::RemoveTree(staging))],
            notes: Vec::new(),
        })
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        ctx.ui.info(if self.check {
            "core/go.mod and go.sum are tidy"
        } else {
            "core/go.mod and go.sum tidied"
        });
        Ok(())
    }
}

/// `go mod tidy -diff` in `module`: Ok when tidy, else the diff on stderr and one line naming
/// the fix.
pub fn check(go: &Path, module: &Path, env: &[(String, String)]) -> Result<()> {
    match tidy_diff(go, module, env)? {
        None => Ok(()),
        Some(diff) => Err(untidy(&diff)),
    }
}

/// Shows `diff` and names the fix.
fn untidy(diff: &str) -> anyhow::Error {
    crate::ui::note(diff.trim_end());
    anyhow::anyhow!("core/go.mod or go.sum is not tidy (the diff above is what `go mod tidy` would change); {FIX}")
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

/// How the host's Go resolves modules: as the build's module download does (proxy settings),
/// with the build's netrc.
pub fn module_env(ctx: &Ctx) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = super::build::module_proxy_settings(&ctx.config)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let netrc = ctx.config.text(&crate::settings::NETRC);
    if !netrc.is_empty() {
        env.push(("NETRC".into(), netrc.to_string()));
    }
    env
}

/// The builds' preflight: an untidy module fails here, before BuildKit, which could not tidy it.
/// Where the host's Go cannot resolve the modules (offline, or a private module only the build
/// can reach), that is said and the build goes on: it resolves them itself. Without Go on the
/// host the check is skipped: the build itself does not need it.
pub fn require_before_build(ctx: &Ctx) -> Result<()> {
    let Some(go) = &ctx.host.go else {
        ctx.ui
            .detail("no `go` on PATH: core/go.mod is not checked for tidiness");
        return Ok(());
    };
    match tidy_diff(go, &ctx.ws.path("core"), &module_env(ctx)) {
        Ok(None) => Ok(()),
        Ok(Some(diff)) => Err(untidy(&diff)),
        Err(e) => {
            crate::ui::note(format_args!(
                "xtask: core/go.mod not checked for tidiness on this host ({e:#}); the build resolves modules itself"
            ));
            Ok(())
        }
    }
}

/// Copies each of `files` that exists into `to` (created afresh).
pub fn copy_files(files: &[PathBuf], to: &Path) -> Result<()> {
    crate::fsutil::remove_tree(to)?;
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for file in files.iter().filter(|f| f.exists()) {
        let dest = to.join(file.file_name().context("file has no name")?);
        std::fs::copy(file, &dest)
            .with_context(|| format!("cannot copy {} to {}", file.display(), dest.display()))?;
    }
    Ok(())
}

/// Moves `names` from `from` into `to` as one unit: each is renamed into place (atomic per file)
/// with the old one kept aside; if any rename fails, the ones already moved are put back.
pub fn install_files(from: &Path, to: &Path, names: &[&str]) -> Result<()> {
    let mut installed: Vec<(PathBuf, PathBuf)> = Vec::new();
    for name in names.iter().filter(|n| from.join(n).exists()) {
        let target = to.join(name);
        let old = from.join(format!("{name}.old"));
        let result = (|| -> Result<()> {
            if target.exists() {
                std::fs::hard_link(&target, &old)
                    .with_context(|| format!("cannot keep {} aside", target.display()))?;
            }
            std::fs::rename(from.join(name), &target)
                .with_context(|| format!("cannot replace {}", target.display()))
        })();
        if let Err(e) = result {
            for (target, old) in installed.iter().rev() {
                let _ = std::fs::rename(old, target);
            }
            return Err(e);
        }
        installed.push((target, old));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_puts_back_what_it_moved_when_a_later_file_fails() {
        let dir = std::env::temp_dir().join(format!("xtask-install-{}", std::process::id()));
        let (from, to) = (dir.join("from"), dir.join("to"));
        for d in [&from, &to] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(to.join("go.mod"), "old mod").unwrap();
        std::fs::write(from.join("go.mod"), "new mod").unwrap();
        // go.sum in place is a non-empty folder: renaming a file over it fails.
        std::fs::create_dir_all(to.join("go.sum/x")).unwrap();
        std::fs::write(from.join("go.sum"), "new sum").unwrap();
        let err = install_files(&from, &to, &MODULE_FILES).unwrap_err();
        assert!(format!("{err:#}").starts_with("cannot "), "{err:#}");
        assert_eq!(
            std::fs::read_to_string(to.join("go.mod")).unwrap(),
            "old mod"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
