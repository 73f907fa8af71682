//! `proto`: regenerates core/gen from proto/ with pinned protoc and plugins (generated into a
//! staging tree of this run's own, then swapped in; one run at a time per checkout, a lock);
//! `--check` fails when the committed code differs.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::{Command, Live};
use crate::ctx::{Ctx, Needs};
use crate::exec::{acquire, FileLock};
use crate::fsutil::staging_path;
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
        plan.push(
            Step::new(format!("install {name} {version}"), &go, &ws.root)
                .args(["install", &format!("{package}@{version}")])
                .envs([("GOBIN", dir.display().to_string())])
                .unless_exists(dir.join(name)),
        );
    }
    let path: Vec<String> = PLUGINS
        .iter()
        .map(|(n, _, v)| bin.join(format!("{n}@{v}")).display().to_string())
        .collect();
    // Listed when the plan runs, not when it is made: run-dev's watch runs this plan again
    // after a .proto is added or removed. Under the proto lock, so one list per checkout.
    let list = ws.path("target/xtask/proto-files.txt");
    plan.push(action(
        "list the .proto files",
        Action::ListFiles {
            dir: ws.path("proto"),
            extension: "proto",
            relative_to: ws.root.clone(),
            into: list.clone(),
        },
    ));
    let out = out.display().to_string();
    plan.push(
        Step::new("protoc", "protoc", &ws.root)
            .envs([("PATH", format!("{}:$PATH", path.join(":")))])
            .args(["-I", "proto"])
            .args(["--go_out", &out, "--go_opt=paths=source_relative"])
            .args(["--go-grpc_out", &out, "--go-grpc_opt=paths=source_relative"])
            .arg(format!("@{}", list.display())),
    );
    Ok(plan)
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
    fn plan_installs_missing_plugins_and_runs_protoc_on_the_proto_files_listed_when_it_runs() {
        let ctx = crate::ctx::fake::ctx_with(
            crate::docker::engine::BuildRoute::BuiltIn,
            &[],
            crate::settings::Flags::new(),
        );
        let plan = generate(&ctx, Path::new("/tmp/gen-out")).unwrap();
        let list = ctx.ws.path("target/xtask/proto-files.txt");
        assert_eq!(
            plan.actions(),
            [&Action::ListFiles {
                dir: ctx.ws.path("proto"),
                extension: "proto",
                relative_to: ctx.ws.root.clone(),
                into: list.clone(),
            }]
        );
        let text = plan.to_string();
        assert!(
            text.contains(&format!(
                "(cd {} && find proto -name '*.proto' | sort) > {}",
                ctx.ws.root.display(),
                list.display()
            )),
            "{text}"
        );
        let commands = plan.commands();
        let protoc = commands.last().unwrap();
        assert_eq!(
            protoc.args.last(),
            Some(&format!("@{}", list.display())),
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
        // Both installs, each skipped at its turn when its binary is there already.
        let installs = &commands[..commands.len() - 1];
        assert_eq!(installs.len(), 2);
        for (step, (name, _, version)) in installs.iter().zip(PLUGINS) {
            assert_eq!(step.args[0], "install");
            assert!(step.args[1].ends_with(&format!("@{version}")));
            let binary = ctx.ws.path(&format!(
                "target/xtask/protoc-plugins/{name}@{version}/{name}"
            ));
            assert_eq!(step.unless_exists.as_ref(), Some(&binary));
            assert!(
                step.shell_line()
                    .starts_with(&format!("[ -e {} ] || ", binary.display())),
                "{}",
                step.shell_line()
            );
        }
    }
}
