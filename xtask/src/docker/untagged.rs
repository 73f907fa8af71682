//! Images a process built under its own tags, so that it can remove the ones its later builds
//! left untagged: a rebuild under the same tag leaves the old image dangling (`<none>`) on
//! Docker 20.10's built-in BuildKit, and on Podman. Only IDs noted here are ever removed, and
//! only while no tag (anyone's) names them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::engine::captured_stdout;

/// The IDs a process's tags named after its builds.
#[derive(Debug, Default)]
pub struct MadeImages {
    ids: BTreeSet<String>,
}

impl MadeImages {
    /// Notes the image `tag` names now (just built); nothing when the engine has none.
    pub fn note(&mut self, cli: &Path, tag: &str) {
        if let Some(id) = inspect(cli, &["--format", "{{.Id}}", tag]) {
            self.ids.insert(id);
        }
    }

    /// Removes every noted image that no tag names any more; the `rmi` commands that failed
    /// (to run by hand) come back.
    pub fn remove_untagged(&self, cli: &Path) -> Vec<String> {
        let mut failed = Vec::new();
        for id in &self.ids {
            let tags = inspect(cli, &["--format", "{{len .RepoTags}}", id]);
            if tags.as_deref() != Some("0") {
                continue;
            }
            let removed = Command::new(cli)
                .args(["rmi", id])
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success());
            if !removed {
                failed.push(format!("{} rmi {id}", PathBuf::from(cli).display()));
            }
        }
        failed
    }
}

/// `image inspect ARGS`'s trimmed stdout when it succeeds.
fn inspect(cli: &Path, args: &[&str]) -> Option<String> {
    captured_stdout(Command::new(cli).args(["image", "inspect"]).args(args))
}
