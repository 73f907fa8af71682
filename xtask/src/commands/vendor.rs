//! `vendor`: `go mod vendor` into a staging copy, then one atomic swap into core/vendor, so an
//! interrupted run leaves the old vendor/ intact. `--check` compares instead of writing.

use anyhow::Result;

use super::{Command, Live};
use crate::ctx::{Ctx, Needs};
use crate::fsutil::staging_path;
use crate::plan::{action, Action, Plan, Step};

pub struct Vendor {
    /// Fail when core/vendor differs from what core/go.mod and go.sum give; writes nothing.
    pub check: bool,
}

impl Command for Vendor {
    fn needs(&self) -> Needs {
        Needs::Nothing
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
            notes: Vec::new(),
        })
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
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
        let staging = ctx.ws.path("core/.vendor.new");
        let refresh = Vendor { check: false }
            .plan(&ctx, &Live::default())
            .unwrap();
        assert_eq!(
            refresh.commands()[0].args,
            ["mod", "vendor", "-o", ".vendor.new"]
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
                "remove core/.vendor.new",
                Action::RemoveTree(staging)
            )]
        );
        let check = Vendor { check: true }.plan(&ctx, &Live::default()).unwrap();
        assert!(matches!(
            check.actions().last(),
            Some(Action::CompareTrees { fix, .. }) if fix == "run `cargo xtask vendor`"
        ));
        let mut no_go = ctx;
        no_go.host.go = None;
        let message = Vendor { check: false }
            .plan(&no_go, &Live::default())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("Go is not installed (no `go` on PATH)"),
            "{message}"
        );
    }
}
