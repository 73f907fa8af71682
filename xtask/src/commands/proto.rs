//! `proto`: regenerates core/gen from proto/ with pinned protoc and plugins (generated into a
//! staging tree of this run's own, then swapped in; one run at a time per checkout, a lock);
//! `--check` fails when the committed code differs.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{Command, Live};
use crate::ctx::{Ctx, Needs};
use crate::exec::{acquire, FileLock};
use crate::fsutil::{staging_path, walk};
use crate::plan::{action, Action, Plan, Step, Watch};

/// Debian 12's protobuf-compiler; the generated headers record it, so another version changes bytes.
pub const PROTOC_VERSION: &str = "3.21.12";
/// Go plugins, installed with `go install` into target/xtask (never committed).
pub const PLUGINS: [(&str, &str, &str); 2] = [
    (
        "protoc-gen-go",
        "google.golang.org/protobuf/cmd/protoc-gen-go",
        "v1.36.12",
    ),
    (
        "protoc-gen-go-grpc",
        "google.golang.org/grpc/cmd/protoc-gen-go-grpc",
        "v1.6.2",
    ),
];

pub struct Proto {
    /// Fail when core/gen differs from what proto/ generates; writes nothing.
    pub check: bool,
    /// The checkout's proto lock, held from preflight until the command ends.
    held: OnceCell<FileLock>,
}

impl Proto {
    pub fn new(check: bool) -> Proto {
        Proto {
            check,
            held: OnceCell::new(),
        }
    }
}

impl Command for Proto {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn preflight(&self, ctx: &Ctx) -> Result<Live> {
        ctx.go("install the protoc plugins")?;
        let held = acquire(
            &lock_path(ctx),
            "another `cargo xtask proto` in this checkout",
            &ctx.ui,
        )?;
        let _ = self.held.set(held);
        Ok(Live::default())
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        if !self.check {
            return regeneration_plan(ctx);
        }
        let (mut plan, staging) = staged(ctx)?;
        plan.push(action(
            "compare the generated code with core/gen",
            Action::CompareTrees {
                fresh: staging,
                committed: ctx.ws.path("core/gen"),
                name: "core/gen".into(),
                fix: "run `cargo xtask proto` and commit the result".into(),
            },
        ));
        Ok(plan)
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        ctx.ui.info(if self.check {
            "core/gen matches proto/"
        } else {
            "core/gen regenerated"
        });
        Ok(())
    }
}

/// The checkout's proto lock: `proto` holds it from preflight to the end, run-dev's watcher
/// during each regeneration.
pub fn lock_path(ctx: &Ctx) -> PathBuf {
    ctx.ws.path("target/xtask/proto.lock")
}

/// What `cargo xtask proto` runs (under its lock): generate into a staging tree, then move the
/// changed files into core/gen. run-dev's watcher runs the very same plan, so `proto --check`
/// passes after it by construction.
pub fn regeneration_plan(ctx: &Ctx) -> Result<Plan> {
    let (mut plan, staging) = staged(ctx)?;
    plan.push(action(
        "move the changed generated files into core/gen",
        Action::SyncTree {
            staging,
            target: ctx.ws.path("core/gen"),
        },
    ));
    Ok(plan)
}

/// run-dev's watch: while the dev container runs, a saved .proto regenerates core/gen on the
/// host (pinned protoc; the dev image has none), and air in the container rebuilds from it.
/// Without Go on the host the watch still starts and says why when a .proto changes.
pub fn watch(ctx: &Ctx) -> Watch {
    Watch {
        dir: ctx.ws.path("proto"),
        extension: "proto",
        label: "core/gen".into(),
        lock: lock_path(ctx),
        plan: regeneration_plan(ctx).map_err(|e| format!("{e:#}")),
    }
}

/// Generation into a staging tree of this process's own (removed whatever happens), and its path.
fn staged(ctx: &Ctx) -> Result<(Plan, PathBuf)> {
    let staging = staging_path(&ctx.ws.path("core/gen"))?;
    let mut plan = Plan::default();
    plan.push(action(
        "remove a stale staging tree",
        Action::RemoveTree(staging.clone()),
    ));
    plan.push(action(
        "create the staging tree",
        Action::CreateDir(staging.clone()),
    ));
    plan.push(action(
        format!("check that protoc is {PROTOC_VERSION}"),
        Action::CheckProtoc {
            version: PROTOC_VERSION,
        },
    ));
    plan.steps.extend(generate(ctx, &staging)?.steps);
    plan.cleanup.push(action(
        "remove the staging tree",
        Action::RemoveTree(staging.clone()),
    ));
    Ok((plan, staging))
}

fn generate(ctx: &Ctx, out: &Path) -> Result<Plan> {
    let go = ctx.go("install the protoc plugins")?;
    let ws = &ctx.ws;
    let bin = ws.path("target/xtask/protoc-plugins");
    let mut plan = Plan::default();
    for (name, package, version) in PLUGINS {
        let dir = bin.join(format!("{name}@{version}"));
        if !dir.join(name).is_file() {
            plan.push(
                Step::new(format!("install {name} {version}"), &go, &ws.root)
                    .args(["install", &format!("{package}@{version}")])
                    .envs([("GOBIN", dir.display().to_string())]),
            );
        }
    }
    let path: Vec<String> = PLUGINS
        .iter()
        .map(|(n, _, v)| bin.join(format!("{n}@{v}")).display().to_string())
        .collect();
    let out = out.display().to_string();
    plan.push(
        Step::new("protoc", "protoc", &ws.root)
            .envs([("PATH", format!("{}:$PATH", path.join(":")))])
            .args(["-I", "proto"])
            .args(["--go_out", &out, "--go_opt=paths=source_relative"])
            .args(["--go-grpc_out", &out, "--go-grpc_opt=paths=source_relative"])
            .args(
                proto_files(&ws.path("proto"))?
                    .iter()
                    .map(|p| p.display().to_string()),
            ),
    );
    Ok(plan)
}

/// Every .proto under `dir`, relative to the workspace root, sorted for a stable command line.
fn proto_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let root = dir.parent().context("proto/ has no parent")?;
    let mut found = Vec::new();
    for path in walk(dir)? {
        if path.extension().is_some_and(|e| e == "proto") {
            found.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    found.sort();
    if found.is_empty() {
        bail!("no .proto files under {}", dir.display());
    }
    Ok(found)
}

/// Fails with the fix unless `protoc --version` says `version` (the generated headers record it).
pub fn check_protoc(version: &str) -> Result<()> {
    let fix =
        format!("install protoc {version} (`apt-get install protobuf-compiler` on Debian 12)");
    let output = std::process::Command::new("protoc")
        .arg("--version")
        .output()
        .map_err(|_| anyhow::anyhow!("protoc is not installed; {fix}"))?;
    let says = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if says != format!("libprotoc {version}") {
        bail!("protoc says `{says}`, but the committed code was generated with {version}; {fix}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_installs_pinned_plugins_and_runs_protoc_on_every_proto() {
        let ctx = crate::ctx::fake::ctx_with(
            crate::docker::engine::BuildRoute::BuiltIn,
            &[],
            crate::settings::Flags::new(),
        );
        let plan = generate(&ctx, Path::new("/tmp/gen-out")).unwrap();
        let commands = plan.commands();
        let protoc = commands.last().unwrap();
        assert!(
            protoc
                .args
                .ends_with(&["proto/photo/v1/photo.proto".to_string()]),
            "{:?}",
            protoc.args
        );
        assert!(protoc
            .shell_line()
            .contains("--go_out /tmp/gen-out --go_opt=paths=source_relative"));
        let path = protoc.env.iter().find(|(k, _)| k == "PATH").unwrap();
        assert!(
            path.1.contains("protoc-gen-go@v1.36.12")
                && path.1.contains("protoc-gen-go-grpc@v1.6.2"),
            "{path:?}"
        );
        for step in &commands[..commands.len() - 1] {
            assert_eq!(step.args[0], "install");
            assert!(step.args[1].ends_with("@v1.36.12") || step.args[1].ends_with("@v1.6.2"));
        }
    }
}
