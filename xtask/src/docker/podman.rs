//! What an interrupted `podman build` (4.x) leaves behind, and its removal: working containers
//! in Podman's store, state Storage. Every build through Podman holds the Podman build lock
//! (`docker::build`), so while we hold it no other build's working container exists.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::lock;
use crate::plan::shell::quote;
use crate::plan::{Action, ActionCx};
use crate::signals::interrupted;

/// After Ctrl-C only: removes the working containers an interrupted `podman build` leaves,
/// holding `lock` (which every podman build holds) so that no other build's are among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveBuildahLeftovers {
    pub podman: PathBuf,
    pub lock: PathBuf,
}

impl Action for RemoveBuildahLeftovers {
    fn shell_line(&self) -> String {
        let podman = quote(&self.podman.to_string_lossy());
        format!(
            "# (xtask) after Ctrl-C: {podman} rm -f each *-working-container that `{podman} ps -a --external` lists as Storage"
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        if interrupted() {
            self.remove()?;
        }
        Ok(())
    }
}

impl RemoveBuildahLeftovers {
    fn remove(&self) -> Result<()> {
        let podman = &self.podman;
        // Another build may have taken the lock as ours ended: wait for it (Ctrl-C was pressed
        // already, so this wait cannot be interrupted), bounded.
        let Some(_held) = lock::acquire_within(&self.lock, Duration::from_secs(300))? else {
            anyhow::bail!(
                "another podman build still holds {} after 5 minutes; once it ends, remove what this \
                 build left: `{} ps -a --external` and `{1} rm -f` each *-working-container",
                self.lock.display(),
                podman.display()
            );
        };
        let listing = std::process::Command::new(podman)
            .args([
                "ps",
                "-a",
                "--external",
                "--format",
                "{{.ID}} {{.Status}} {{.Names}}",
            ])
            .output()
            .with_context(|| format!("cannot run {}", podman.display()))?;
        let leftovers = leftovers(&String::from_utf8_lossy(&listing.stdout));
        if leftovers.is_empty() {
            return Ok(());
        }
        let removed = std::process::Command::new(podman)
            .args(["rm", "-f"])
            .args(&leftovers)
            .output()
            .with_context(|| format!("cannot run {}", podman.display()))?;
        anyhow::ensure!(
            removed.status.success(),
            "cannot remove the interrupted build's containers {}; run `{} rm -f {0}`",
            leftovers.join(" "),
            podman.display()
        );
        Ok(())
    }
}

/// The IDs of working containers in state Storage, from `ps -a --external` lines.
fn leftovers(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [id, "Storage", name] if name.contains("-working-container") => {
                    Some(id.to_string())
                }
                _ => None,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_working_containers_in_storage_are_leftovers() {
        let listing = "a1 Storage pixie-base-working-container\n\
                       b2 Up pixie-core\n\
                       c3 Storage other\n\
                       d4 Storage x-working-container-1\n";
        assert_eq!(leftovers(listing), ["a1", "d4"]);
    }
}
