//! `proto`: regenerates proto/gen from proto/ with pinned protoc and plugins (generated into a
//! staging tree of this run's own, then moved in; one run at a time per checkout: the plan's
//! lock); `--check` fails when the committed code differs.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::common::{switch, Command, Live, Parsed, Registration};
use crate::ctx::{Ctx, Needs};
use crate::files::{CompareTrees, CreateDir, ListFiles, RemoveTree, SyncTree};
use crate::fsutil::staging_path;
use crate::plan::{action, Lock, Plan, Step, Watch};
use crate::toolchain::CheckProtoc;

pub const COMMAND: Registration = Registration {
    name: "proto",
    about: "Regenerate proto/gen from proto/ with the pinned protoc and plugins (--check only compares).",
    example: "cargo xtask proto --check",
    settings: &[],
    arguments: |command| {
        command.arg(switch(
            "check",
            "Fail when proto/gen differs from what proto/ generates; writes nothing.",
        ))
    },
    parse: |matches| {
        Parsed::Plan(Box::new(Proto {
            check: matches.get_flag("check"),
        }))
    },
};

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

#[derive(Debug)]
pub struct Proto {
    /// Fail when proto/gen differs from what proto/ generates; writes nothing.
    pub check: bool,
}

impl Command for Proto {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        if self.check {
            check_plan(ctx)
        } else {
            regeneration_plan(ctx)
        }
    }

    fn follow_up(&self, ctx: &Ctx) -> Result<()> {
        ctx.ui.info(if self.check {
            "proto/gen matches proto/"
        } else {
            "proto/gen regenerated"
        });
        Ok(())
    }
}

/// What `cargo xtask proto --check` runs; `test` includes it.
pub fn check_plan(ctx: &Ctx) -> Result<Plan> {
    let (mut plan, staging) = staged(ctx)?;
    plan.push(action(
        "compare the generated code with proto/gen",
        CompareTrees {
            fresh: staging,
            committed: ctx.ws.path("proto/gen"),
            name: "proto/gen".into(),
            fix: "run `cargo xtask proto` and commit the result".into(),
        },
    ));
    Ok(plan)
}

/// What `cargo xtask proto` runs: generate into a staging tree, then move the changed files
/// into proto/gen. run-dev's watcher runs the very same plan, so `proto --check` passes after
/// it by construction.
pub fn regeneration_plan(ctx: &Ctx) -> Result<Plan> {
    let (mut plan, staging) = staged(ctx)?;
    plan.push(action(
        "move the changed generated files into proto/gen",
        SyncTree {
            staging,
            target: ctx.ws.path("proto/gen"),
        },
    ));
    Ok(plan)
}

/// run-dev's watch: while the dev container runs, a saved .proto regenerates proto/gen on the
/// host (pinned protoc; the dev image has none), and air in the container rebuilds from it.
/// Without Go on the host the watch still starts and says why when a .proto changes.
pub fn watch(ctx: &Ctx) -> Watch {
    Watch {
        dir: ctx.ws.path("proto"),
        extension: "proto",
        label: "proto/gen".into(),
        plan: regeneration_plan(ctx).map_err(|e| format!("{e:#}")),
    }
}

/// Generation into a staging tree of this process's own (removed whatever happens), holding
/// the checkout's proto lock, and the tree's path.
fn staged(ctx: &Ctx) -> Result<(Plan, PathBuf)> {
    let staging = staging_path(&ctx.ws.path("proto/gen"))?;
    let mut plan = Plan {
        locks: vec![Lock {
            path: ctx.ws.path("target/xtask/proto.lock"),
            holder: "another `cargo xtask proto` in this checkout".into(),
        }],
        ..Plan::default()
    };
    plan.push(action(
        "remove a stale staging tree",
        RemoveTree(staging.clone()),
    ));
    plan.push(action("create the staging tree", CreateDir(staging.clone())));
    plan.push(action(
        format!("check that protoc is {PROTOC_VERSION}"),
        CheckProtoc {
            version: PROTOC_VERSION,
        },
    ));
    plan.steps.extend(generate(ctx, &staging)?.steps);
    plan.cleanup.push(action(
        "remove the staging tree",
        RemoveTree(staging.clone()),
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
        ListFiles {
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
            plan.actions::<ListFiles>(),
            [&ListFiles {
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
