//! `vendor`: `go mod vendor` into a staging copy, then one atomic swap into core/vendor, so an
//! interrupted run leaves the old vendor/ intact. `--check` compares instead of writing.

use anyhow::{bail, Result};
use clap::Args;

use crate::exec::{self, Ui};
use crate::fsutil::{first_difference, swap_in, Staging};
use crate::plan::{Plan, Step};
use crate::workspace::Workspace;

#[derive(Args, Debug)]
pub struct VendorArgs {
    /// Fail when core/vendor differs from what core/go.mod and go.sum give; writes nothing.
    #[arg(long)]
    pub check: bool,
}

pub fn run(ws: &Workspace, ui: &Ui, dry_run: bool, args: &VendorArgs) -> Result<()> {
    let go = ws.go("vendor modules")?;
    let vendor = ws.path("core/vendor");
    let staging = Staging::beside(&vendor)?;
    let staged = staging
        .0
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let plan = Plan {
        steps: vec![Step::new(
            format!("go mod vendor into core/{staged}"),
            go,
            ws.path("core"),
        )
        .args(["mod", "vendor", "-o", &staged])
        .streamed()],
        cleanup: Vec::new(),
        notes: vec![if args.check {
            format!("then core/{staged} is compared with core/vendor and removed")
        } else {
            format!("then core/{staged} atomically replaces core/vendor")
        }],
    };
    if dry_run {
        print!("{plan}");
        return Ok(());
    }
    exec::run(&plan, ui)?;
    if args.check {
        if !vendor.exists() {
            bail!("core/vendor does not exist; run `cargo xtask vendor`");
        }
        if let Some(difference) = first_difference(&staging.0, &vendor)? {
            bail!("core/vendor is stale ({difference}); run `cargo xtask vendor`");
        }
        ui.info("core/vendor matches core/go.mod and go.sum");
        return Ok(());
    }
    swap_in(&staging, &vendor)?;
    ui.info("core/vendor refreshed");
    Ok(())
}
