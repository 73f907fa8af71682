//! The stack's one-shots (`secrets`, `migrate`): `compose run` under a name of their own, and the
//! container removed by the xtask afterwards, not by `run --rm`: with `--rm`, compose v2 on
//! Podman 4.3's API socket exits 0 whatever the container's exit code (a container exiting 3,
//! compose 0, every time here), so a failed migration would start core; without it, the code
//! comes through on every engine.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use crate::ctx::Ctx;
use crate::docker::compose::{self, Project};
use crate::docker::engine::Compose;
use crate::plan::shell::quote;
use crate::plan::{action, Action, ActionCx, Task};

/// The one-shot `service` of `project`: a stale container of that name removed, the run (failing
/// with the container's exit code), its container removed. `unless_exists`: skipped (all three)
/// when that file exists.
pub fn run(
    ctx: &Ctx,
    compose: &Compose,
    project: &Project,
    service: &'static str,
    label: String,
    unless_exists: Option<PathBuf>,
) -> Vec<Task> {
    let name = format!("{}-{service}-oneshot", project.name);
    let container = Container {
        cli: ctx.cli().path.clone(),
        name: name.clone(),
        service,
        unless_exists: unless_exists.clone(),
    };
    // Afterwards always: by then the file that skips the run exists.
    let made = Container {
        unless_exists: None,
        ..container.clone()
    };
    let mut step = compose::step(
        &ctx.docker(),
        compose,
        project,
        label,
        &["run", "--no-deps", "--name", &name, service],
    );
    step.unless_exists = unless_exists;
    vec![
        action(
            format!("remove a {service} container a run left"),
            Remove(container.clone()),
        ),
        step.into(),
        action(format!("remove the {service} container"), Remove(made)),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub cli: PathBuf,
    pub name: String,
    pub service: &'static str,
    pub unless_exists: Option<PathBuf>,
}

impl Container {
    fn skipped(&self) -> bool {
        self.unless_exists.as_ref().is_some_and(|p| p.exists())
    }

    /// `rm` with the container's anonymous volumes: core's image declares `VOLUME /data`, which
    /// the migrate one-shot does not mount, so each run made one that outlived the container.
    fn rm_args(&self) -> [&str; 4] {
        ["rm", "--force", "--volumes", &self.name]
    }

    fn remove(&self) {
        let _ = Command::new(&self.cli).args(self.rm_args()).output();
    }

    fn guard(&self, line: String) -> String {
        match &self.unless_exists {
            Some(path) => format!("[ -e {} ] || {line}", quote(&path.to_string_lossy())),
            None => line,
        }
    }
}

/// Removes the one-shot's container, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remove(pub Container);

impl Action for Remove {
    fn shell_line(&self) -> String {
        let c = &self.0;
        let args: Vec<String> = c.rm_args().iter().map(|a| quote(a)).collect();
        c.guard(format!(
            "{} {} >/dev/null 2>&1 || true",
            quote(&c.cli.to_string_lossy()),
            args.join(" ")
        ))
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        if !self.0.skipped() {
            self.0.remove();
        }
        Ok(())
    }
}
