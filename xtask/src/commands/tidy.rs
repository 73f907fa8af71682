//! `tidy`: `go mod tidy` on the host, where it belongs (the image builds bind-mount go.mod and
//! go.sum read-only and cannot fix them). It tidies copies in `core/.tidy.new` (`-modfile`), then
//! installs go.mod and go.sum together: both or neither. `--check` is `go mod tidy -diff`; builds
//! run the same check first, so an untidy module fails before BuildKit with the fix.

use std::path::Path;

use anyhow::Result;

use super::common::{switch, Command, Live, Parsed, Registration};
use crate::ctx::{Ctx, Needs};
use crate::files::{CopyFiles, InstallFiles, RemoveTree};
use crate::plan::{action, Plan, Step};
use crate::toolchain::{self, CheckTidy};

pub const COMMAND: Registration = Registration {
    name: "tidy",
    about: "Run `go mod tidy` on core/go.mod and go.sum (both or neither are written; --check only compares).",
    example: "cargo xtask tidy --check",
    settings: &[],
    arguments: |command| {
        command.arg(switch(
            "check",
            "Fail with the diff when `go mod tidy` would change core/go.mod or go.sum; writes nothing.",
        ))
    },
    parse: |matches| {
        Parsed::Plan(Box::new(Tidy {
            check: matches.get_flag("check"),
        }))
    },
};

/// The module files `go mod tidy` may rewrite, in the order they are installed.
const MODULE_FILES: [&str; 2] = ["go.mod", "go.sum"];

#[derive(Debug)]
pub struct Tidy {
    pub check: bool,
}

impl Command for Tidy {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        if self.check {
            return check_plan(ctx);
        }
        let go = ctx.go("tidy core/go.mod")?;
        let module = ctx.ws.path("core");
        let staging = module.join(".tidy.new");
        let files = |dir: &Path| MODULE_FILES.map(|f| dir.join(f)).to_vec();
        Ok(Plan {
            steps: vec![
                action(
                    "copy core/go.mod and go.sum into core/.tidy.new",
                    CopyFiles {
                        files: files(&module),
                        to: staging.clone(),
                    },
                ),
                Step::new("go mod tidy on the copies", go, &module)
                    .args(["mod", "tidy", "-modfile=.tidy.new/go.mod"])
                    .envs(toolchain::module_env(&ctx.config))
                    .into(),
                action(
                    "install the tidied go.mod and go.sum together",
                    InstallFiles {
                        from: staging.clone(),
                        to: module,
                        names: MODULE_FILES.to_vec(),
                    },
                ),
            ],
            cleanup: vec![action("remove core/.tidy.new", RemoveTree(staging))],
            ..Plan::default()
        })
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        ctx.ui.info(if self.check {
            "core/go.mod and go.sum are tidy"
        } else {
            "core/go.mod and go.sum tidied"
        });
        Ok(())
    }
}

/// What `tidy --check` runs; `test` includes it.
pub fn check_plan(ctx: &Ctx) -> Result<Plan> {
    Ok(Plan {
        steps: vec![action(
            "check that core/go.mod and go.sum are tidy",
            CheckTidy {
                go: ctx.go("tidy core/go.mod")?,
                module: ctx.ws.path("core"),
                env: toolchain::module_env(&ctx.config),
                before_build: false,
            },
        )],
        ..Plan::default()
    })
}
