//! `proto`: regenerates core/gen from proto/ with pinned protoc and plugins (generated into a
//! staging tree, then swapped in); `--check` fails when the committed code differs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::exec::{self, Ui};
use crate::fsutil::{first_difference, swap_in, walk, Staging};
use crate::plan::{Plan, Step};
use crate::workspace::Workspace;

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

#[derive(Args, Debug)]
pub struct ProtoArgs {
    /// Fail when core/gen differs from what proto/ generates; writes nothing.
    #[arg(long)]
    pub check: bool,
}

pub fn run(ws: &Workspace, ui: &Ui, dry_run: bool, args: &ProtoArgs) -> Result<()> {
    let gen = ws.path("core/gen");
    let staging = Staging::beside(&gen)?;
    let plan = plan(ws, &staging.0, args.check)?;
    if dry_run {
        print!("{plan}");
        return Ok(());
    }
    check_protoc()?;
    std::fs::create_dir_all(&staging.0)?;
    exec::run(&plan, ui)?;
    if args.check {
        if let Some(difference) = first_difference(&staging.0, &gen)? {
            bail!(
                "core/gen is stale ({difference}); run `cargo xtask proto` and commit the result"
            );
        }
        ui.info("core/gen matches proto/");
        return Ok(());
    }
    swap_in(&staging, &gen)?;
    ui.info("core/gen regenerated");
    Ok(())
}

fn plan(ws: &Workspace, out: &Path, check: bool) -> Result<Plan> {
    let go = ws.go("install the protoc plugins")?;
    let bin = ws.path("target/xtask/protoc-plugins");
    let mut plan = Plan {
        notes: vec![format!(
            "then {} {} core/gen",
            out.display(),
            if check {
                "is compared with"
            } else {
                "atomically replaces"
            }
        )],
        ..Plan::default()
    };
    for (name, package, version) in PLUGINS {
        let dir = bin.join(format!("{name}@{version}"));
        if !dir.join(name).is_file() {
            plan.steps.push(
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
    plan.steps.push(
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

fn check_protoc() -> Result<()> {
    let fix = format!(
        "install protoc {PROTOC_VERSION} (`apt-get install protobuf-compiler` on Debian 12)"
    );
    let output = Command::new("protoc")
        .arg("--version")
        .output()
        .map_err(|_| anyhow::anyhow!("protoc is not installed; {fix}"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if version != format!("libprotoc {PROTOC_VERSION}") {
        bail!("protoc says `{version}`, but the committed code was generated with {PROTOC_VERSION}; {fix}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_installs_pinned_plugins_and_runs_protoc_on_every_proto() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let ws = Workspace { root: root.clone() };
        let plan = plan(&ws, Path::new("/tmp/gen-out"), true).unwrap();
        let protoc = plan.steps.last().unwrap();
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
        for step in &plan.steps[..plan.steps.len() - 1] {
            assert_eq!(step.args[0], "install");
            assert!(step.args[1].ends_with("@v1.36.12") || step.args[1].ends_with("@v1.6.2"));
        }
    }
}
