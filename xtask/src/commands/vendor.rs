//! `vendor`: `go mod vendor` into a staging copy of this run's own, then one atomic swap into
//! core/vendor, so an interrupted run leaves the old vendor/ intact; one run at a time per
//! checkout (a lock). `--check` compares instead of writing. A refresh records a fingerprint of
//! its inputs and output, so `build-prod --vendor` can skip an unneeded one.

use std::cell::OnceCell;
use std::hash::{Hash, Hasher};

use anyhow::{Context, Result};

use super::{Command, Live};
use crate::ctx::{Ctx, Needs};
use crate::exec::{acquire, FileLock};
use crate::fsutil::staging_path;
use crate::plan::{action, Action, Plan, Step};
use crate::workspace::Workspace;

pub struct Vendor {
    /// Fail when core/vendor differs from what core/go.mod and go.sum give; writes nothing.
    pub check: bool,
    /// The checkout's vendor lock, held from preflight until the command ends.
    held: OnceCell<FileLock>,
}

impl Vendor {
    pub fn new(check: bool) -> Vendor {
        Vendor {
            check,
            held: OnceCell::new(),
        }
    }
}

/// Held by every `vendor` run of a checkout, so two never swap trees at once.
pub fn lock_path(ws: &Workspace) -> std::path::PathBuf {
    ws.path("target/xtask/vendor.lock")
}

fn stamp_path(ws: &Workspace) -> std::path::PathBuf {
    ws.path("target/xtask/vendor.stamp")
}

/// A digest of core/go.mod, core/go.sum and core/vendor/modules.txt; `None` when one is missing.
fn fingerprint(ws: &Workspace) -> Option<String> {
    let mut hasher = std::hash::DefaultHasher::new();
    for file in ["core/go.mod", "core/go.sum", "core/vendor/modules.txt"] {
        std::fs::read(ws.path(file)).ok()?.hash(&mut hasher);
    }
    Some(format!("{:016x}", hasher.finish()))
}

/// Whether core/vendor was refreshed by the xtask since go.mod, go.sum and modules.txt last
/// changed (a refresh costs about a second and makes BuildKit resend 14.5 MB of context).
pub fn is_current(ws: &Workspace) -> bool {
    fingerprint(ws).is_some_and(|now| {
        std::fs::read_to_string(stamp_path(ws)).is_ok_and(|then| then.trim() == now)
    })
}

impl Command for Vendor {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        let held = acquire(
            &lock_path(&ctx.ws),
            "another `cargo xtask vendor` in this checkout",
            &ctx.ui,
        )?;
        let _ = self.held.set(held);
        Ok(Live::default())
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        let go = ctx.go("vendor modules")?;
        let vendor = ctx.ws.path("core/vendor");
        let staging = staging_path(&vendor)?;
        let staged = staging.file_name().unwrap().to_string_lossy().into_owned();
        let finish = if self.check {
            action(
                format!("compare core/{staged} with core/vendor"),
                Action::CompareTrees {
                    fresh: staging.clone(),
                    committed: vendor.clone(),
                    name: "core/vendor".into(),
                    fix: "run `cargo xtask vendor`".into(),
                },
            )
        } else {
            action(
                format!("swap core/{staged} into core/vendor"),
                Action::SwapTree {
                    staging: staging.clone(),
                    target: vendor,
                },
            )
        };
        Ok(Plan {
            steps: vec![
                action(
                    "remove a stale staging tree",
                    Action::RemoveTree(staging.clone()),
                ),
                Step::new(
                    format!("go mod vendor into core/{staged}"),
                    go,
                    ctx.ws.path("core"),
                )
                .args(["mod", "vendor", "-o", &staged])
                .streamed()
                .into(),
                finish,
            ],
            cleanup: vec![action(
                format!("remove core/{staged}"),
                Action::RemoveTree(staging),
            )],
            notes: vec![format!(
                "one run at a time: the steps hold {}",
                lock_path(&ctx.ws).display()
            )],
        })
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        if let Some(now) = fingerprint(&ctx.ws) {
            let stamp = stamp_path(&ctx.ws);
            std::fs::create_dir_all(stamp.parent().unwrap())
                .and_then(|()| std::fs::write(&stamp, now))
                .with_context(|| format!("cannot write {}", stamp.display()))?;
        }
        ctx.ui.info(if self.check {
            "core/vendor matches core/go.mod and go.sum"
        } else {
            "core/vendor refreshed"
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::BuildRoute;
    use crate::settings::Flags;

    #[test]
    fn vendors_into_staging_then_swaps_or_compares_and_always_removes_staging() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let staged = format!(".vendor.new-{}", std::process::id());
        let staging = ctx.ws.path("core").join(&staged);
        let refresh = Vendor::new(false).plan(&ctx, &Live::default()).unwrap();
        assert_eq!(
            refresh.commands()[0].args,
            ["mod", "vendor", "-o", staged.as_str()]
        );
        assert_eq!(
            refresh.actions().last(),
            Some(&&Action::SwapTree {
                staging: staging.clone(),
                target: ctx.ws.path("core/vendor")
            })
        );
        assert_eq!(
            refresh.cleanup,
            [action(
                format!("remove core/{staged}"),
                Action::RemoveTree(staging)
            )]
        );
        let check = Vendor::new(true).plan(&ctx, &Live::default()).unwrap();
        assert!(matches!(
            check.actions().last(),
            Some(Action::CompareTrees { fix, .. }) if fix == "run `cargo xtask vendor`"
        ));
        let mut no_go = ctx;
        no_go.host.go = None;
        let message = Vendor::new(false)
            .plan(&no_go, &Live::default())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("Go is not installed (no `go` on PATH)"),
            "{message}"
        );
    }
}
