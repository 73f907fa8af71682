//! A standalone compose's version, remembered per binary: `docker-compose version --short` is a
//! whole Python start-up on compose v1 (0.4–0.9 s on our machines), which every command that
//! needs compose would otherwise pay before its first real step. Keyed by the binary's identity
//! (device, inode, size, modification time), so an upgrade or reinstall asks again. A cache
//! only: a file that cannot be read or written costs the question, never the command.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

/// The cache file: one line per binary, `IDENTITY<TAB>PATH<TAB>VERSION`.
#[derive(Debug, Clone)]
pub struct VersionCache {
    pub file: PathBuf,
}

impl VersionCache {
    /// The user's: `$XDG_CACHE_HOME/pixie/compose-versions` (else `~/.cache/...`).
    pub fn user() -> Option<VersionCache> {
        crate::host::cache_home().map(|dir| VersionCache {
            file: dir.join("pixie/compose-versions"),
        })
    }

    /// `binary`'s version: remembered if this very binary was asked before, else `ask()`ed and
    /// remembered.
    pub fn version(&self, binary: &Path, ask: impl FnOnce() -> Result<String>) -> Result<String> {
        let Some(identity) = identity(binary) else {
            return ask();
        };
        let path = binary.to_string_lossy();
        let lines = std::fs::read_to_string(&self.file).unwrap_or_default();
        let remembered = lines.lines().find_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let (id, p, version) = (fields.next()?, fields.next()?, fields.next()?);
            (id == identity && p == path).then(|| version.to_string())
        });
        if let Some(version) = remembered {
            return Ok(version);
        }
        let version = ask()?;
        let mut kept: Vec<&str> = lines
            .lines()
            .filter(|line| line.split('\t').nth(1) != Some(&path))
            .collect();
        let line = format!("{identity}\t{path}\t{version}");
        kept.push(&line);
        let _ = self.write(&(kept.join("\n") + "\n"));
        Ok(version)
    }

    /// Whole or not at all: written beside the file, then renamed over it.
    fn write(&self, text: &str) -> std::io::Result<()> {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let temp = dir.join(format!(".compose-versions.{}", std::process::id()));
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, &self.file).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }
}

fn identity(binary: &Path) -> Option<String> {
    let meta = std::fs::metadata(binary).ok()?;
    Some(format!(
        "{}:{}:{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn asks_once_per_binary_and_again_once_the_binary_changes() {
        let dir = std::env::temp_dir().join(format!("xtask-version-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cache = VersionCache {
            file: dir.join("cache/pixie/compose-versions"),
        };
        let (one, two) = (dir.join("compose-one"), dir.join("compose-two"));
        std::fs::write(&one, "v1").unwrap();
        std::fs::write(&two, "v2").unwrap();
        let asked = Cell::new(0);
        let ask = |version: &'static str| {
            let asked = &asked;
            move || {
                asked.set(asked.get() + 1);
                Ok(version.to_string())
            }
        };
        assert_eq!(cache.version(&one, ask("1.29.2")).unwrap(), "1.29.2");
        assert_eq!(cache.version(&two, ask("2.27.0")).unwrap(), "2.27.0");
        assert_eq!(cache.version(&one, ask("never asked")).unwrap(), "1.29.2");
        assert_eq!(cache.version(&two, ask("never asked")).unwrap(), "2.27.0");
        assert_eq!(asked.get(), 2);
        // Reinstalled (another size): asked again, and only its line replaced.
        std::fs::write(&one, "v1, upgraded").unwrap();
        assert_eq!(cache.version(&one, ask("1.29.3")).unwrap(), "1.29.3");
        assert_eq!(asked.get(), 3);
        let text = std::fs::read_to_string(&cache.file).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        // A failed question is not remembered; an unwritable cache still answers.
        let failing = || anyhow::bail!("docker-compose does not run");
        std::fs::write(&two, "broken").unwrap();
        assert!(cache.version(&two, failing).is_err());
        let unwritable = VersionCache {
            file: dir.join("compose-one/cannot/be/a/folder"),
        };
        assert_eq!(unwritable.version(&one, ask("1.29.3")).unwrap(), "1.29.3");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
