//! `tidy`: `go mod tidy` on the host, where it belongs (the image builds bind-mount go.mod and
//! go.sum read-only and cannot fix them), for every module go.work uses. It tidies copies in
//! `MODULE/.tidy.new` (`-modfile`), then installs go.mod and go.sum together: both or neither. `--check` is `go mod tidy -diff`; builds
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
    about: "Run `go mod tidy` on every module of go.work (per module, go.mod and go.sum are both written or neither; --check only compares).",
    example: "cargo xtask tidy --check",
    settings: &[],
    arguments: |command| {
        command.arg(switch(
            "check",
            "Fail with the diff when `go mod tidy` would change a module's go.mod or go.sum; writes nothing.",
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
        let go = ctx.go("tidy the modules' go.mod")?;
        let mut plan = Plan::default();
        for m in ctx.ws.go_modules()? {
            let module = ctx.ws.path(&m.dir);
            let staging = module.join(".tidy.new");
            let files = |dir: &Path| MODULE_FILES.map(|f| dir.join(f)).to_vec();
            plan.push(action(
                format!("copy {0}/go.mod and go.sum into {0}/.tidy.new", m.dir),
                CopyFiles {
                    files: files(&module),
                    to: staging.clone(),
                },
            ));
            plan.push(
                Step::new(format!("go mod tidy on the copies ({})", m.dir), &go, &module)
                    .args(["mod", "tidy", "-modfile=.tidy.new/go.mod"])
                    .envs(toolchain::module_env(&ctx.config)),
            );
            plan.push(action(
                format!("install {}'s tidied go.mod and go.sum together", m.dir),
                InstallFiles {
                    from: staging.clone(),
                    to: module,
                    names: MODULE_FILES.to_vec(),
                },
            ));
            plan.cleanup
                .push(action(format!("remove {}/.tidy.new", m.dir), RemoveTree(staging)));
        }
        Ok(plan)
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        ctx.ui.info(if self.check {
            "every module's go.mod and go.sum are tidy"
        } else {
            "every module's go.mod and go.sum tidied"
        });
        Ok(())
    }
}

/// What `tidy --check` runs, one check per module of go.work; `test` includes it.
pub fn check_plan(ctx: &Ctx) -> Result<Plan> {
    let go = ctx.go("check the modules' go.mod")?;
    let mut plan = Plan::default();
    for m in ctx.ws.go_modules()? {
        plan.push(action(
            format!("check that {}/go.mod and go.sum are tidy", m.dir),
            CheckTidy {
                go: go.clone(),
                module: ctx.ws.path(&m.dir),
                dir: m.dir.clone(),
                env: toolchain::module_env(&ctx.config),
                before_build: false,
            },
        ));
    }
    Ok(plan)
}
