//! run-prod's migrations, skipped when they cannot change anything: a production image carries
//! its migrations, so once this very image (by ID) has migrated this very Postgres volume (by
//! name and creation time), running them again applies nothing, and on compose v1 it costs a
//! second of `compose run` on every warm start. Core's own start applies missing migrations
//! anyway (`pgmeta.Migrate` under its advisory lock), so a wrong skip could only delay the
//! failure of a bad migration to core's start, never serve an old schema. `cargo xtask migrate`
//! and run-dev (whose source is mounted, not in the image) always run them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::oneshot;
use crate::ctx::Ctx;
use crate::docker::compose::Project;
use crate::docker::engine::Compose;
use crate::plan::shell::quote;
use crate::plan::{action, Action, ActionCx, Task};

/// What the last successful migration of a project ran with, and where the skip is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub cli: PathBuf,
    /// Core's production image, which runs the migrations.
    pub image: String,
    /// Postgres's data volume.
    pub volume: String,
    /// Holds `IMAGE-ID VOLUME-CREATED` of the last successful run.
    pub stamp: PathBuf,
    /// Exists while this run skips the migrations (the one-shot's `unless_exists`).
    pub skip: PathBuf,
}

impl Migrated {
    /// The image's ID and the volume's creation time, asked side by side; `None` when either is
    /// missing (then the migrations run).
    fn key(&self) -> Option<String> {
        let ask = |args: &[&str]| {
            let out = Command::new(&self.cli).args(args).output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        };
        let (image, volume) = std::thread::scope(|s| {
            let image = s.spawn(|| ask(&["image", "inspect", "--format", "{{.Id}}", &self.image]));
            let volume = ask(&[
                "volume",
                "inspect",
                "--format",
                "{{.CreatedAt}}",
                &self.volume,
            ]);
            (image.join().expect("inspect thread"), volume)
        });
        Some(format!("{} {}", image?, volume?))
    }
}

/// The migrate one-shot between the decision and the record.
pub fn unless_done(
    ctx: &Ctx,
    compose: &Compose,
    project: &Project,
    migrated: Migrated,
) -> Vec<Task> {
    let mut tasks = vec![action(
        "skip the migrations if this image already migrated this volume",
        Decide(migrated.clone()),
    )];
    tasks.extend(oneshot::run(
        ctx,
        compose,
        project,
        "migrate",
        "apply core's migrations (pixie-core migrate)".into(),
        Some(migrated.skip.clone()),
    ));
    tasks.push(action("remember what migrated", Record(migrated)));
    tasks
}

/// Creates the skip file when the stamp matches, else removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decide(pub Migrated);

impl Action for Decide {
    fn shell_line(&self) -> String {
        let m = &self.0;
        format!(
            "rm -f {skip}  # (xtask) then creates it when {stamp} holds the ID of {image} and the creation time of volume {volume}",
            skip = quote(&m.skip.to_string_lossy()),
            stamp = m.stamp.display(),
            image = m.image,
            volume = m.volume
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        let m = &self.0;
        let _ = std::fs::remove_file(&m.skip);
        let stamp = std::fs::read_to_string(&m.stamp).ok();
        if stamp.is_some() && stamp == m.key() {
            std::fs::write(&m.skip, "")?;
            cx.ui.info(format_args!(
                "migrations: {} already migrated volume {}; not run again (core applies any missing at its start)",
                m.image, m.volume
            ));
        }
        Ok(())
    }
}

/// After a successful run, writes the stamp; after a skip, removes the skip file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record(pub Migrated);

impl Action for Record {
    fn shell_line(&self) -> String {
        let m = &self.0;
        format!(
            "rm -f {}  # (xtask) after a run: the ID of {} and the creation time of volume {} into {}",
            quote(&m.skip.to_string_lossy()),
            m.image,
            m.volume,
            m.stamp.display()
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        let m = &self.0;
        if m.skip.exists() {
            std::fs::remove_file(&m.skip)?;
            return Ok(());
        }
        if let Some(key) = m.key() {
            write_whole(&m.stamp, &key)?;
        }
        Ok(())
    }
}

/// Written beside, then renamed over: a stamp is whole or absent.
fn write_whole(path: &Path, text: &str) -> Result<()> {
    let temp = path.with_extension(format!("new-{}", std::process::id()));
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::Ui;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in CLI answering the two inspects from files of `dir`, which the test changes.
    fn fake_cli(dir: &Path) -> PathBuf {
        let cli = dir.join("docker");
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in image) cat {0}/image-id ;; volume) cat {0}/volume-created ;; esac\n",
            dir.display()
        );
        std::fs::write(&cli, script).unwrap();
        std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();
        cli
    }

    #[test]
    fn skips_only_when_the_same_image_migrated_the_same_volume() {
        let dir = std::env::temp_dir().join(format!("xtask-migrated-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let m = Migrated {
            cli: fake_cli(&dir),
            image: "pixie-core:latest".into(),
            volume: "p_postgres-15".into(),
            stamp: dir.join("migrated"),
            skip: dir.join("migrate.skip"),
        };
        let cx = ActionCx {
            ui: Ui::default().inner(),
            since: std::time::Instant::now(),
        };
        let set = |file: &str, text: &str| std::fs::write(dir.join(file), text).unwrap();
        // Decide, then (the one-shot runs unless the skip file exists) record: whether it ran.
        let ran = || {
            Decide(m.clone()).run(&cx).unwrap();
            let ran = !m.skip.exists();
            Record(m.clone()).run(&cx).unwrap();
            assert!(!m.skip.exists(), "the skip file outlived the run");
            ran
        };
        set("image-id", "sha256:one");
        set("volume-created", "2026-12-06T03:00:00Z");
        assert!(ran(), "first run: no stamp");
        assert!(!ran(), "same image, same volume");
        set("image-id", "sha256:two");
        assert!(ran(), "a rebuilt image");
        assert!(!ran());
        set("volume-created", "2026-12-06T04:00:00Z");
        assert!(ran(), "a volume made again");
        // Unknown (the volume is gone): they run, and no stamp is written.
        std::fs::remove_file(dir.join("volume-created")).unwrap();
        assert!(ran());
        assert!(ran());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
