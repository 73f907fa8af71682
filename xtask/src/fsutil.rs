//! Directory helpers for commands that regenerate a tree (vendor/, gen/): build it beside the
//! old one, then swap it in with one atomic rename, so an interruption never leaves half a tree.
//! The plans of those commands remove the staging tree in their cleanup, whatever happened.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The staging directory next to `target` (same filesystem, so the swap's rename is atomic):
/// `core/vendor` → `core/.vendor.new`.
pub fn staging_path(target: &Path) -> Result<PathBuf> {
    let name = format!(
        ".{}.new",
        target
            .file_name()
            .context("target has no name")?
            .to_string_lossy()
    );
    Ok(target.with_file_name(name))
}

/// Removes a tree, making read-only directories (Go's module cache) writable first.
pub fn remove_tree(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    if std::fs::remove_dir_all(path).is_err() {
        let _ = std::process::Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(path)
            .status();
        std::fs::remove_dir_all(path)
            .with_context(|| format!("cannot remove {}", path.display()))?;
    }
    Ok(())
}

/// Puts `staging` in place of `target` atomically: with RENAME_EXCHANGE when `target` exists
/// (readers see the old tree or the new one, never neither), else a plain rename.
/// Afterwards `staging` holds the old tree, for the plan's cleanup to remove.
pub fn swap_in(staging: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return std::fs::rename(staging, target)
            .with_context(|| format!("cannot move {} to {}", staging.display(), target.display()));
    }
    let from = CString::new(staging.as_os_str().as_bytes())?;
    let to = CString::new(target.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated paths for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!(
                "cannot swap {} into {}",
                staging.display(),
                target.display()
            )
        });
    }
    Ok(())
}

/// The first difference between two trees (relative path and what differs), or `None`.
pub fn first_difference(expected: &Path, actual: &Path) -> Result<Option<String>> {
    let want = files(expected)?;
    let have = files(actual)?;
    for (path, content) in &want {
        match have.get(path) {
            None => return Ok(Some(format!("{} is missing", path.display()))),
            Some(other) if other != content => {
                return Ok(Some(format!("{} differs", path.display())))
            }
            Some(_) => {}
        }
    }
    Ok(have
        .keys()
        .find(|p| !want.contains_key(*p))
        .map(|p| format!("{} is extra", p.display())))
}

fn files(root: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for path in walk(root)? {
        let content = std::fs::read(&path)?;
        out.insert(path.strip_prefix(root)?.to_path_buf(), content);
    }
    Ok(out)
}

/// Every file below `root` (not directories), in no particular order.
pub fn walk(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path, files: &[(&str, &str)]) {
        for (path, content) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
    }

    #[test]
    fn swap_replaces_the_tree_and_leaves_the_old_one_in_staging() {
        let base = std::env::temp_dir().join(format!("xtask-fsutil-{}", std::process::id()));
        let target = base.join("vendor");
        tree(&target, &[("old.txt", "old")]);
        let staging = staging_path(&target).unwrap();
        assert_eq!(staging, base.join(".vendor.new"));
        tree(&staging, &[("a/new.txt", "new")]);
        swap_in(&staging, &target).unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("a/new.txt")).unwrap(),
            "new"
        );
        assert!(!target.join("old.txt").exists());
        assert_eq!(
            std::fs::read_to_string(staging.join("old.txt")).unwrap(),
            "old"
        );
        remove_tree(&staging).unwrap();
        assert!(!staging.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn reports_the_first_difference() {
        let base = std::env::temp_dir().join(format!("xtask-fsdiff-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        tree(&a, &[("x/1", "one"), ("2", "two")]);
        tree(&b, &[("x/1", "one"), ("2", "two")]);
        assert_eq!(first_difference(&a, &b).unwrap(), None);
        std::fs::write(b.join("2"), "changed").unwrap();
        assert_eq!(
            first_difference(&a, &b).unwrap().as_deref(),
            Some("2 differs")
        );
        std::fs::write(b.join("3"), "").unwrap();
        std::fs::write(b.join("2"), "two").unwrap();
        assert_eq!(
            first_difference(&a, &b).unwrap().as_deref(),
            Some("3 is extra")
        );
        std::fs::remove_file(a.join("x/1")).unwrap();
        std::fs::remove_file(b.join("3")).unwrap();
        assert_eq!(
            first_difference(&b, &a).unwrap().as_deref(),
            Some("x/1 is missing")
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
