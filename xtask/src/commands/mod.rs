//! One module per command. Each turns its flags and the [`Ctx`] into a [`Plan`]; [`drive`] is
//! the one place that prints a plan (`--dry-run`) or checks, runs and follows it up.

pub mod base_images;
pub mod bench;
pub mod build;
pub mod clean;
pub mod config;
pub mod doctor;
pub mod manage;
pub mod proto;
pub mod run;
pub mod test;
pub mod tidy;
pub mod vendor;

use std::collections::BTreeMap;

use anyhow::Result;

use crate::ctx::{Ctx, Needs, Target};
use crate::exec;
use crate::plan::Plan;

/// What the engine said in preflight that a plan depends on; empty in a dry run (unknown).
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Image name → whether it is in the engine's store.
    pub images: BTreeMap<String, bool>,
}

impl Live {
    /// The preflight of compose commands: the daemon answers, compose is there, and which of
    /// `targets`' images the engine has.
    pub fn compose_and_images(ctx: &Ctx, targets: &[Target]) -> Result<Live> {
        ctx.engine().daemon_version()?;
        ctx.engine().compose()?;
        let images: BTreeMap<String, bool> = targets
            .iter()
            .map(|t| {
                let image = t.image(&ctx.config);
                let present = ctx.engine().image_exists(&image);
                (image, present)
            })
            .collect();
        Ok(Live { images })
    }

    /// `None`: not asked (a dry run).
    pub fn image_present(&self, image: &str) -> Option<bool> {
        self.images.get(image).copied()
    }
}

/// What a build of `targets` checks before BuildKit starts, once the daemon answered: a tidy
/// module (the build mounts go.mod read-only and could only fail on it) and base images it can
/// start from. (`build-*` do the same in their preflight, the tidy check before the daemon.)
pub fn before_build(ctx: &Ctx, targets: &[Target]) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    tidy::require_before_build(ctx)?;
    base_images::require(ctx.engine(), &ctx.config, targets)
}

/// A command that runs as a plan.
pub trait Command {
    fn needs(&self) -> Needs;

    /// Checks that must pass before anything runs (daemon up, tools present), and the engine
    /// facts the plan depends on. Not called in a dry run.
    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        if self.needs() != Needs::Nothing {
            ctx.engine().daemon_version()?;
        }
        if self.needs() == Needs::Compose {
            ctx.engine().compose()?;
        }
        Ok(Live::default())
    }

    fn plan(&self, ctx: &Ctx, live: &Live) -> Result<Plan>;

    /// What to tell the user after the plan succeeded.
    fn follow_up(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }

    /// Whether the plan runs even in a dry run: a forwarded program with a dry run of its own.
    fn runs_in_dry_run(&self) -> bool {
        false
    }
}

/// Dry run: print the plan. Otherwise: preflight, plan, run, follow up.
pub fn drive(command: &dyn Command, ctx: &Ctx) -> Result<()> {
    if ctx.dry_run && !command.runs_in_dry_run() {
        crate::ui::print(&command.plan(ctx, &Live::default())?.to_string())?;
        return Ok(());
    }
    let live = command.preflight(ctx)?;
    let plan = command.plan(ctx, &live)?;
    exec::run(&plan, &ctx.ui)?;
    command.follow_up(ctx)
}
