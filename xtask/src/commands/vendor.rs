//! `vendor`: `go work vendor` (Go's rule for a workspace: one vendor/ at its root, for every
//! module of go.work; `go mod vendor` refuses to run in workspace mode) into a staging copy of
//! this run's own, then one atomic swap into vendor/, so an interrupted run leaves the old
//! vendor/ intact; one run at a time per checkout (the plan's lock). `--check` compares instead
//! of writing. A refresh records a fingerprint of its inputs and output, so a vendored build can
//! skip an unneeded one.

use std::path::PathBuf;

use anyhow::Result;

use super::common::{switch, Command, Live, Parsed, Registration};
use crate::ctx::{Ctx, Needs};
use crate::files::{self, CompareTrees, RecordFingerprint, RemoveTree, SwapTree};
use crate::fsutil::staging_path;
use crate::plan::{action, Lock, Plan, Step};
use crate::workspace::{Workspace, GO_WORK};

pub const COMMAND: Registration = Registration {
    name: "vendor",
    about: "Refresh vendor/ (`go work vendor`: every module of go.work) atomically; --check only compares.",
    example: "cargo xtask vendor --check",
    settings: &[],
    arguments: |command| {
        command.arg(switch(
            "check",
            "Fail when vendor/ differs from what the modules' go.mod and go.sum give; writes nothing.",
        ))
    },
    parse: |matches| {
        Parsed::Plan(Box::new(Vendor {
            check: matches.get_flag("check"),
        }))
    },
};

#[derive(Debug)]
pub struct Vendor {
    /// Fail when vendor/ differs from what the modules' go.mod and go.sum give; writes nothing.
    pub check: bool,
}

/// The workspace's vendor/ tree, which `go work vendor` writes and vendored builds compile.
pub const VENDOR_DIR: &str = "vendor";

/// The files whose fingerprint says whether vendor/ is current: go.work, go.work.sum, every
/// module's go.mod and go.sum, vendor/modules.txt.
fn fingerprinted(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let mut files = vec![ws.path(GO_WORK), ws.path("go.work.sum")];
    for module in ws.go_modules()? {
        files.extend(["go.mod", "go.sum"].map(|f| ws.path(&module.dir).join(f)));
    }
    files.push(ws.path(VENDOR_DIR).join("modules.txt"));
    Ok(files)
}

fn stamp_path(ws: &Workspace) -> PathBuf {
    ws.path("target/xtask/vendor.stamp")
}

/// Whether vendor/ was refreshed by the xtask since go.work, the modules' go.mod and go.sum and
/// modules.txt last changed (a refresh costs about a second and makes BuildKit resend 14.5 MB
/// of context).
pub fn is_current(ws: &Workspace) -> bool {
    fingerprinted(ws).is_ok_and(|files| files::is_recorded(&files, &stamp_path(ws)))
}

impl Command for Vendor {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        plan(ctx, self.check)
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        ctx.ui.info(if self.check {
            "vendor/ matches the modules' go.mod and go.sum"
        } else {
            "vendor/ refreshed"
        });
        Ok(())
    }
}

/// What `vendor` runs, holding the checkout's vendor lock; a vendored build includes it.
pub fn plan(ctx: &Ctx, check: bool) -> Result<Plan> {
    let go = ctx.go("vendor modules")?;
    let vendor = ctx.ws.path(VENDOR_DIR);
    let staging = staging_path(&vendor)?;
    let staged = staging.file_name().unwrap().to_string_lossy().into_owned();
    let finish = if check {
        action(
            format!("compare {staged} with vendor/"),
            CompareTrees {
                fresh: staging.clone(),
                committed: vendor.clone(),
                name: "vendor/".into(),
                fix: "run `cargo xtask vendor`".into(),
            },
        )
    } else {
        action(
            format!("swap {staged} into vendor/"),
            SwapTree {
                staging: staging.clone(),
                target: vendor,
            },
        )
    };
    Ok(Plan {
        locks: vec![Lock {
            path: ctx.ws.path("target/xtask/vendor.lock"),
            holder: "another `cargo xtask vendor` in this checkout".into(),
        }],
        steps: vec![
            action("remove a stale staging tree", RemoveTree(staging.clone())),
            Step::new(format!("go work vendor into {staged}"), go, &ctx.ws.root)
                .args(["work", "vendor", "-o", &staged])
            .streamed()
            .into(),
            finish,
            action(
                "record what vendor/ was made from",
                RecordFingerprint {
                    files: fingerprinted(&ctx.ws)?,
                    into: stamp_path(&ctx.ws),
                },
            ),
        ],
        cleanup: vec![action(
            format!("remove {staged}"),
            RemoveTree(staging),
        )],
        notes: Vec::new(),
        ..Plan::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::BuildRoute;
    use crate::settings::Flags;

    #[test]
    fn vendors_into_staging_then_swaps_or_compares_holding_the_lock_and_always_removes_staging() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let staged = format!(".vendor.new-{}", std::process::id());
        let staging = ctx.ws.root.join(&staged);
        let refresh = plan(&ctx, false).unwrap();
        assert_eq!(
            refresh.locks,
            [Lock {
                path: ctx.ws.path("target/xtask/vendor.lock"),
                holder: "another `cargo xtask vendor` in this checkout".into(),
            }]
        );
        assert_eq!(
            refresh.commands()[0].args,
            ["work", "vendor", "-o", staged.as_str()]
        );
        assert_eq!(
            refresh.actions::<SwapTree>(),
            [&SwapTree {
                staging: staging.clone(),
                target: ctx.ws.path(VENDOR_DIR)
            }]
        );
        assert_eq!(
            refresh.actions::<RecordFingerprint>()[0].into,
            ctx.ws.path("target/xtask/vendor.stamp")
        );
        assert_eq!(
            refresh.cleanup,
            [action(format!("remove {staged}"), RemoveTree(staging))]
        );
        assert!(refresh
            .to_string()
            .contains("exec 9>>") && refresh.to_string().contains("vendor.lock && flock 9"));
        let check = plan(&ctx, true).unwrap();
        assert_eq!(
            check.actions::<CompareTrees>()[0].fix,
            "run `cargo xtask vendor`"
        );
        let mut no_go = ctx;
        no_go.host.go = None;
        let message = plan(&no_go, false).unwrap_err().to_string();
        assert!(
            message.starts_with("Go is not installed (no `go` on PATH)"),
            "{message}"
        );
    }
}
