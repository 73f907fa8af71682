//! run-*'s migrations, skipped when the database's schema is already at the latest version the
//! workspace's migrations reach: `pixie-core migrate` would apply nothing (it applies the
//! versions above the schema's, as core's own start does), and on compose v1 its `compose run`
//! costs one to two seconds of every warm start. Asking costs one `docker exec` of psql in the
//! running Postgres container. A schema newer than the workspace's migrations is not skipped:
//! the run shows migrate's refusal. `cargo xtask migrate` always runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;

use crate::docker::compose::Project;
use crate::plan::shell::quote;
use crate::plan::{Action, ActionCx};

/// Where core's migrations live (embedded in its binary), relative to the workspace root.
pub const MIGRATIONS_DIR: &str = "core/pkg/meta/pgmeta/migrations";

/// The highest version among the `NNNN_name.sql` files in `dir`; `None` without any.
pub fn latest_version(dir: &Path) -> Option<u32> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let (number, _) = name.strip_suffix(".sql")?.split_once('_')?;
            number.parse().ok()
        })
        .max()
}

/// Creates the `skip` file when the running Postgres of `project` has schema version `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipCurrentSchema {
    pub cli: PathBuf,
    pub project: Project,
    pub latest: u32,
    pub skip: PathBuf,
}

/// The query psql runs: the schema's version, 0 before any migration.
const SCHEMA_VERSION: &str = "SELECT coalesce(max(version), 0) FROM schema_migrations";

impl SkipCurrentSchema {
    fn psql(&self) -> [&str; 6] {
        [
            "psql",
            "--username=pixie",
            "--dbname=pixie",
            "--tuples-only",
            "--no-align",
            "--command",
        ]
    }

    /// The schema's version, if Postgres runs and has migrated at all.
    fn schema_version(&self) -> Option<u32> {
        let output = |command: &mut Command| {
            let out = command.stdin(Stdio::null()).output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        };
        let postgres = output(
            Command::new(&self.cli)
                .args(["ps", "--quiet", "--filter=status=running"])
                .args(self.project.service_filters("postgres")),
        )?;
        let id = postgres.lines().next()?;
        output(
            Command::new(&self.cli)
                .args(["exec", id])
                .args(self.psql())
                .arg(SCHEMA_VERSION),
        )?
        .parse()
        .ok()
    }
}

impl Action for SkipCurrentSchema {
    fn shell_line(&self) -> String {
        format!(
            "rm -f {}  # (xtask) then creates it when `{} exec POSTGRES {} '{SCHEMA_VERSION}'` says {} (the latest of {MIGRATIONS_DIR})",
            quote(&self.skip.to_string_lossy()),
            self.cli.display(),
            self.psql().join(" "),
            self.latest
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        let _ = std::fs::remove_file(&self.skip);
        if self.schema_version() == Some(self.latest) {
            if let Some(dir) = self.skip.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&self.skip, "")?;
            cx.ui.info(format_args!(
                "migrations: the schema is at version {}, the latest; nothing to apply",
                self.latest
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_version_is_the_highest_numbered_sql_file() {
        let dir = std::env::temp_dir().join(format!("xtask-migrations-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(latest_version(&dir), None);
        for name in [
            "0001_photos.sql",
            "0010_albums.sql",
            "0002_x.sql",
            "README",
            "0099.txt",
        ] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        assert_eq!(latest_version(&dir), Some(10));
        std::fs::remove_dir_all(&dir).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert!(latest_version(&root.join(MIGRATIONS_DIR)).is_some());
    }
}
