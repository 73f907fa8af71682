//! The file and tree work of plans (vendor/, gen/, go.mod and go.sum, the vendor fingerprint),
//! each an [`Action`]: its shell form beside its implementation, the helpers in
//! [`crate::fsutil`].

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::fsutil;
use crate::plan::shell::quote;
use crate::plan::{Action, ActionCx};

fn q(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDir(pub PathBuf);

impl Action for CreateDir {
    fn shell_line(&self) -> String {
        format!("mkdir -p {}", q(&self.0))
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        std::fs::create_dir_all(&self.0)
            .with_context(|| format!("cannot create {}", self.0.display()))
    }
}

/// Removes a file if it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveFile(pub PathBuf);

impl Action for RemoveFile {
    fn shell_line(&self) -> String {
        format!("rm -f {}", q(&self.0))
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        match std::fs::remove_file(&self.0) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", self.0.display()))
            }
            _ => Ok(()),
        }
    }
}

/// Removes a tree, making read-only directories (Go's module cache) writable first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveTree(pub PathBuf);

impl Action for RemoveTree {
    fn shell_line(&self) -> String {
        format!("rm -rf {}", q(&self.0))
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        fsutil::remove_tree(&self.0)
    }
}

/// Puts `staging` in place of `target` with one atomic rename (see [`fsutil::swap_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapTree {
    pub staging: PathBuf,
    pub target: PathBuf,
}

impl Action for SwapTree {
    fn shell_line(&self) -> String {
        format!(
            "# (xtask) swap {} into {} with one atomic rename (renameat2 RENAME_EXCHANGE)",
            q(&self.staging),
            q(&self.target)
        )
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        fsutil::swap_in(&self.staging, &self.target)
    }
}

/// Moves each new or changed file of `staging` into `target`, then removes the files it
/// lacks; `target`'s folders stay (see [`fsutil::sync_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTree {
    pub staging: PathBuf,
    pub target: PathBuf,
}

impl Action for SyncTree {
    fn shell_line(&self) -> String {
        format!(
            "# (xtask) move each new or changed file of {} into {} with a rename of its own, then remove the files it lacks",
            q(&self.staging),
            q(&self.target)
        )
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        fsutil::sync_in(&self.staging, &self.target)
    }
}

/// Writes the files ending in `.{extension}` under `dir`, relative to `relative_to` and
/// sorted, one per line into `into` (a protoc argument file), when the step runs: a file
/// added since the plan was made is in it. None is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFiles {
    pub dir: PathBuf,
    pub extension: &'static str,
    pub relative_to: PathBuf,
    pub into: PathBuf,
}

impl Action for ListFiles {
    fn shell_line(&self) -> String {
        let dir = self
            .dir
            .strip_prefix(&self.relative_to)
            .unwrap_or(&self.dir);
        format!(
            "(cd {} && find {} -name '*.{}' | sort) > {}",
            q(&self.relative_to),
            q(dir),
            self.extension,
            q(&self.into)
        )
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        fsutil::write_file_list(&self.dir, self.extension, &self.relative_to, &self.into)
    }
}

/// Copies each of `files` that exists into `to`, created afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFiles {
    pub files: Vec<PathBuf>,
    pub to: PathBuf,
}

impl Action for CopyFiles {
    fn shell_line(&self) -> String {
        let files: Vec<String> = self.files.iter().map(|f| q(f)).collect();
        format!(
            "mkdir -p {} && cp {} {}",
            q(&self.to),
            files.join(" "),
            q(&self.to)
        )
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        fsutil::remove_tree(&self.to)?;
        std::fs::create_dir_all(&self.to)
            .with_context(|| format!("cannot create {}", self.to.display()))?;
        for file in self.files.iter().filter(|f| f.exists()) {
            let dest = self.to.join(file.file_name().context("file has no name")?);
            std::fs::copy(file, &dest)
                .with_context(|| format!("cannot copy {} to {}", file.display(), dest.display()))?;
        }
        Ok(())
    }
}

/// Moves `names` from `from` into `to` as one unit: each is renamed into place (atomic per
/// file) with the old one kept aside; if any rename fails, the ones already moved are put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFiles {
    pub from: PathBuf,
    pub to: PathBuf,
    pub names: Vec<&'static str>,
}

impl Action for InstallFiles {
    fn shell_line(&self) -> String {
        format!(
            "# (xtask) move {} from {} into {}, all or none",
            self.names.join(" "),
            q(&self.from),
            q(&self.to)
        )
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        let mut installed: Vec<(PathBuf, PathBuf)> = Vec::new();
        for name in self.names.iter().filter(|n| self.from.join(n).exists()) {
            let target = self.to.join(name);
            let old = self.from.join(format!("{name}.old"));
            let result = (|| -> Result<()> {
                if target.exists() {
                    std::fs::hard_link(&target, &old)
                        .with_context(|| format!("cannot keep {} aside", target.display()))?;
                }
                std::fs::rename(self.from.join(name), &target)
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
}

/// Fails with `fix` when `committed` differs from the freshly made `fresh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareTrees {
    pub fresh: PathBuf,
    pub committed: PathBuf,
    /// How the committed tree is named in messages (`vendor/`).
    pub name: String,
    pub fix: String,
}

impl Action for CompareTrees {
    fn shell_line(&self) -> String {
        format!("diff -r {} {}", q(&self.fresh), q(&self.committed))
    }
    fn run(&self, cx: &ActionCx) -> Result<()> {
        let (name, fix) = (&self.name, &self.fix);
        if !self.committed.exists() {
            bail!("{name} does not exist; {fix}");
        }
        if let Some(difference) = fsutil::first_difference(&self.fresh, &self.committed)? {
            bail!("{name} is stale ({difference}); {fix}");
        }
        cx.ui.detail(format_args!("{name} is up to date"));
        Ok(())
    }
}

/// A digest of `files`' contents; `None` when one is missing.
pub fn fingerprint(files: &[PathBuf]) -> Option<String> {
    let mut hasher = std::hash::DefaultHasher::new();
    for file in files {
        std::fs::read(file).ok()?.hash(&mut hasher);
    }
    Some(format!("{:016x}", hasher.finish()))
}

/// Writes the [`fingerprint`] of `files` into `into` when the step runs (after what it
/// fingerprints was made), so a later plan can tell that nothing changed since; nothing when a
/// file is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFingerprint {
    pub files: Vec<PathBuf>,
    pub into: PathBuf,
}

impl Action for RecordFingerprint {
    fn shell_line(&self) -> String {
        let files: Vec<String> = self.files.iter().map(|f| q(f)).collect();
        format!("cat {} | cksum > {}", files.join(" "), q(&self.into))
    }
    fn run(&self, _cx: &ActionCx) -> Result<()> {
        let Some(now) = fingerprint(&self.files) else {
            return Ok(());
        };
        if let Some(folder) = self.into.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        std::fs::write(&self.into, now)
            .with_context(|| format!("cannot write {}", self.into.display()))
    }
}

/// Whether `stamp` holds the current [`fingerprint`] of `files`.
pub fn is_recorded(files: &[PathBuf], stamp: &Path) -> bool {
    fingerprint(files)
        .is_some_and(|now| std::fs::read_to_string(stamp).is_ok_and(|then| then.trim() == now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Ui;

    fn cx() -> ActionCx {
        ActionCx {
            ui: Ui::default(),
            since: std::time::Instant::now(),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn install_puts_back_what_it_moved_when_a_later_file_fails() {
        let dir = temp("install");
        let (from, to) = (dir.join("from"), dir.join("to"));
        for d in [&from, &to] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(to.join("go.mod"), "old mod").unwrap();
        std::fs::write(from.join("go.mod"), "new mod").unwrap();
        // go.sum in place is a non-empty folder: renaming a file over it fails.
        std::fs::create_dir_all(to.join("go.sum/x")).unwrap();
        std::fs::write(from.join("go.sum"), "new sum").unwrap();
        let install = InstallFiles {
            from,
            to: to.clone(),
            names: vec!["go.mod", "go.sum"],
        };
        let err = install.run(&cx()).unwrap_err();
        assert!(format!("{err:#}").starts_with("cannot "), "{err:#}");
        assert_eq!(
            std::fs::read_to_string(to.join("go.mod")).unwrap(),
            "old mod"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn listed_files_are_relative_sorted_and_none_is_an_error() {
        let dir = temp("list");
        for file in ["proto/b/y.proto", "proto/a.proto", "proto/a.txt"] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let list = |sub: &str| ListFiles {
            dir: dir.join(sub),
            extension: "proto",
            relative_to: dir.clone(),
            into: dir.join("out/files.txt"),
        };
        list("proto").run(&cx()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("out/files.txt")).unwrap(),
            "proto/a.proto\nproto/b/y.proto\n"
        );
        assert!(list("proto/b/none").run(&cx()).is_err());
        std::fs::create_dir_all(dir.join("proto/b/none")).unwrap();
        let empty = list("proto/b/none").run(&cx()).unwrap_err();
        assert_eq!(
            empty.to_string(),
            format!(
                "no .proto files under {}",
                dir.join("proto/b/none").display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_recorded_fingerprint_holds_until_a_file_changes() {
        let dir = temp("fingerprint");
        let files = vec![dir.join("go.mod"), dir.join("go.sum")];
        let stamp = dir.join("stamp/vendor.stamp");
        std::fs::write(&files[0], "module x").unwrap();
        let record = RecordFingerprint {
            files: files.clone(),
            into: stamp.clone(),
        };
        record.run(&cx()).unwrap();
        assert!(!stamp.exists(), "a missing file records nothing");
        std::fs::write(&files[1], "sums").unwrap();
        assert!(!is_recorded(&files, &stamp));
        record.run(&cx()).unwrap();
        assert!(is_recorded(&files, &stamp));
        std::fs::write(&files[1], "other sums").unwrap();
        assert!(!is_recorded(&files, &stamp));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
