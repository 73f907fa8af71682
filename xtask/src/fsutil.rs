//! Directory helpers for commands that regenerate a tree (vendor/, gen/): build it beside the
//! old one, then swap it in with one atomic rename, so an interruption never leaves half a tree.
//! The plans of those commands remove the staging tree in their cleanup, whatever happened.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The staging directory next to `target` (same filesystem, so the swap's rename is atomic),
/// unique to this process so that two runs never write into one tree:
/// `vendor` → `.vendor.new-PID`, beside it.
pub fn staging_path(target: &Path) -> Result<PathBuf> {
    let name = format!(
        ".{}.new-{}",
        target
            .file_name()
            .context("target has no name")?
            .to_string_lossy(),
        std::process::id()
    );
    Ok(target.with_file_name(name))
}

/// Points `link` at `target`: made under a name unique to this call, then renamed over `link`, so
/// concurrent runs never see the link missing and never fail on each other's half-made one.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = link.parent().context("link has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!(".link-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp)
        .with_context(|| format!("cannot link {}", link.display()))?;
    std::fs::rename(&temp, link).with_context(|| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot link {}", link.display())
    })
}

/// Opens a lock file for flock(2), never through a symbolic link (O_NOFOLLOW), and so that any
/// user can share it: an existing file is opened read-only (flock needs no write access), a new
/// one is created with mode 0666 whatever the umask.
pub fn open_lock_file(path: &Path) -> Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let symlink = |e: std::io::Error| -> anyhow::Error {
        if e.raw_os_error() == Some(libc::ELOOP) {
            anyhow::anyhow!(
                "lock file {} is a symbolic link; remove it (the xtask never follows links to its locks)",
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot open lock file {}", path.display()))
        }
    };
    loop {
        match OpenOptions::new().read(true).custom_flags(flags).open(path) {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(symlink(e)),
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(flags)
            .open(path)
        {
            Ok(file) => {
                file.set_permissions(std::fs::Permissions::from_mode(0o666))
                    .with_context(|| format!("cannot share lock file {}", path.display()))?;
                return Ok(file);
            }
            // Another process created it in between: open theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(symlink(e)),
        }
    }
}

/// Removes a tree (or a file), making read-only directories (Go's module cache) writable first.
pub fn remove_tree(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    if path.is_file() {
        return std::fs::remove_file(path)
            .with_context(|| format!("cannot remove {}", path.display()));
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

/// Puts `staging`'s files in place of `target`'s one by one: each new or changed file with a
/// rename of its own, then the files `staging` lacks (and folders left empty) go. Unlike
/// [`swap_in`], `target`'s folders stay the very same folders. That is what a watcher needs:
/// air in the dev container watches the folders of the bind-mounted core/ with inotify, and a
/// folder renamed into place is a new one it never watched (tried: after a swap of proto/gen,
/// no rebuild ever came; after a file renamed in, one within 1.5 s). Unchanged files are not
/// touched, so they make no event. Each file is replaced atomically, not the tree: a reader
/// may see some files new and some old for the microseconds this takes (the next event
/// rebuilds again), and Ctrl-C lands between plan steps, never inside this one.
/// Afterwards `staging` holds the unchanged files, for the plan's cleanup to remove.
pub fn sync_in(staging: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return swap_in(staging, target);
    }
    let mut fresh = std::collections::BTreeSet::new();
    for from in walk(staging)? {
        let relative = from.strip_prefix(staging)?.to_path_buf();
        let to = target.join(&relative);
        fresh.insert(relative);
        let content = std::fs::read(&from)?;
        if std::fs::read(&to).is_ok_and(|old| old == content) {
            continue;
        }
        if let Some(folder) = to.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        std::fs::rename(&from, &to)
            .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
    }
    for old in walk(target)? {
        if !fresh.contains(old.strip_prefix(target)?) {
            std::fs::remove_file(&old)
                .with_context(|| format!("cannot remove {}", old.display()))?;
        }
    }
    remove_empty_folders(target)?;
    Ok(())
}

/// Removes the empty folders below `dir` (not `dir` itself); true when `dir` ends up empty.
fn remove_empty_folders(dir: &Path) -> Result<bool> {
    let mut empty = true;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() && !path.is_symlink() && remove_empty_folders(&path)? {
            std::fs::remove_dir(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        } else {
            empty = false;
        }
    }
    Ok(empty)
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

/// The files ending in `.{extension}` under `dir`, relative to `relative_to`, sorted.
pub fn files_with_extension(
    dir: &Path,
    extension: &str,
    relative_to: &Path,
) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in walk(dir)? {
        if path.extension().is_some_and(|e| e == extension) {
            found.push(path.strip_prefix(relative_to)?.to_path_buf());
        }
    }
    found.sort();
    Ok(found)
}

/// Writes [`files_with_extension`] one per line into `into` (a protoc argument file); none is
/// an error.
pub fn write_file_list(dir: &Path, extension: &str, relative_to: &Path, into: &Path) -> Result<()> {
    let files = files_with_extension(dir, extension, relative_to)?;
    if files.is_empty() {
        bail!("no .{extension} files under {}", dir.display());
    }
    let lines: String = files.iter().map(|f| format!("{}\n", f.display())).collect();
    if let Some(folder) = into.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(into, lines).with_context(|| format!("cannot write {}", into.display()))
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
        assert_eq!(
            staging,
            base.join(format!(".vendor.new-{}", std::process::id()))
        );
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
    fn sync_moves_in_only_changed_files_keeps_the_folders_and_removes_what_is_gone() {
        use std::os::unix::fs::MetadataExt;
        let base = std::env::temp_dir().join(format!("xtask-fssync-{}", std::process::id()));
        let target = base.join("gen");
        tree(
            &target,
            &[
                ("v1/a.go", "old a"),
                ("v1/same.go", "same"),
                ("gone/x.go", "x"),
            ],
        );
        let folder = std::fs::metadata(target.join("v1")).unwrap().ino();
        let same = std::fs::metadata(target.join("v1/same.go")).unwrap().ino();
        let staging = staging_path(&target).unwrap();
        tree(
            &staging,
            &[
                ("v1/a.go", "new a"),
                ("v1/same.go", "same"),
                ("v2/b.go", "b"),
            ],
        );
        sync_in(&staging, &target).unwrap();
        assert_eq!(
            first_difference(&target, &{
                let expected = base.join("expected");
                tree(
                    &expected,
                    &[
                        ("v1/a.go", "new a"),
                        ("v1/same.go", "same"),
                        ("v2/b.go", "b"),
                    ],
                );
                expected
            })
            .unwrap(),
            None
        );
        assert!(!target.join("gone").exists(), "an emptied folder stays");
        let meta = |p: &str| std::fs::metadata(target.join(p)).unwrap().ino();
        assert_eq!(meta("v1"), folder, "the watched folder was replaced");
        assert_eq!(meta("v1/same.go"), same, "an unchanged file was replaced");
        // What stays in staging is what was not moved: the unchanged file.
        assert_eq!(walk(&staging).unwrap(), [staging.join("v1/same.go")]);
        remove_tree(&staging).unwrap();
        // No target yet: the staging tree becomes it.
        let fresh = base.join("fresh");
        tree(&staging, &[("c.go", "c")]);
        sync_in(&staging, &fresh).unwrap();
        assert_eq!(std::fs::read_to_string(fresh.join("c.go")).unwrap(), "c");
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

    #[test]
    fn lock_files_are_shared_with_every_user_and_never_followed() {
        let base = std::env::temp_dir().join(format!("xtask-lockfile-{}", std::process::id()));
        let lock = base.join("sub/build.lock");
        drop(open_lock_file(&lock).unwrap());
        let mode = std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        // A read-only file (another user's, as far as we can tell) can still be locked.
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o444)).unwrap();
        let file = open_lock_file(&lock).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        let link = base.join("link.lock");
        std::os::unix::fs::symlink(&lock, &link).unwrap();
        assert_eq!(
            open_lock_file(&link).unwrap_err().to_string(),
            format!(
                "lock file {} is a symbolic link; remove it (the xtask never follows links to its locks)",
                link.display()
            )
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn concurrent_symlink_replacements_never_fail_or_leave_temp_links() {
        let base = std::env::temp_dir().join(format!("xtask-symlink-{}", std::process::id()));
        let link = base.join("shim/docker");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let link = link.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        replace_symlink(Path::new("/usr/bin/docker"), &link).unwrap();
                        assert_eq!(
                            std::fs::read_link(&link).unwrap(),
                            Path::new("/usr/bin/docker")
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(base.join("shim"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["docker"]);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
