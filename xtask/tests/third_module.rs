//! A third Go module needs no change to the xtask: it is declared once, by `go work use`, and
//! every command that works on modules finds it there. Needs Go (module cache or proxy), no
//! Docker engine.

use std::path::Path;
use std::process::Command;

use xtask::testkit::{ok, text, workspace_copy, RemoveDir};

fn xtask_in(ws: &Path) -> Command {
    let mut cmd = xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"));
    cmd.env("PIXIE_WORKSPACE", ws);
    cmd
}

/// CONTRIBUTING.md's "A Go module" shell block, run in `ws` with NAME=noop: the steps a person
/// follows are the steps tested.
fn add_noop_module(ws: &Path) {
    let guide =
        std::fs::read_to_string(xtask::testkit::repo_root().join("CONTRIBUTING.md")).unwrap();
    let section = &guide[guide
        .find("**A Go module**")
        .expect("CONTRIBUTING.md has no Go module steps")..];
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("no ```sh block in CONTRIBUTING.md's Go module steps");
    ok(Command::new("bash")
        .args(["-euc", &block.replace("NAME", "noop")])
        .current_dir(ws));
}

#[test]
fn a_module_added_with_go_work_use_is_tidied_tested_checked_and_imaged_without_an_xtask_change() {
    let ws = workspace_copy("third-module");
    let _remove = RemoveDir(ws.clone());
    add_noop_module(&ws);

    let out = xtask_in(&ws).args(["test", "--dry-run"]).output().unwrap();
    let (plan, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for label in [
        "# gofmt (plugins/noop)",
        "# go vet (plugins/noop)",
        "# go test -race (plugins/noop)",
        "# check that plugins/noop/go.mod and go.sum are tidy",
    ] {
        assert!(plan.lines().any(|l| l == label), "no `{label}` in:\n{plan}");
    }

    // Its image joins build-prod's plan, by the naming convention (target noop, pixie-noop).
    let out = xtask_in(&ws)
        .args(["build-prod", "--dry-run"])
        .output()
        .unwrap();
    let (plan, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let targets: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains(" --file deployments/docker/core.Dockerfile "))
        .filter_map(|l| l.split(" --target ").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(
        targets,
        ["core", "noop", "thumbnailer"],
        "go.work's order:\n{plan}"
    );
    assert!(
        plan.contains("--tag pixie-noop:latest")
            && plan.contains("--build-arg MODULE=plugins/noop --build-arg BINARY=pixie-noop"),
        "{plan}"
    );
    let out = xtask_in(&ws)
        .args(["build-prod", "--module", "noop", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);

    let out = xtask_in(&ws).args(["tidy", "--check"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    // Untidy on purpose: a requirement the module does not use.
    let go_mod = ws.join("plugins/noop/go.mod");
    let tidy = std::fs::read_to_string(&go_mod).unwrap();
    std::fs::write(
        &go_mod,
        format!("{tidy}\nrequire golang.org/x/sync v0.25.0\n"),
    )
    .unwrap();
    let out = xtask_in(&ws).args(["tidy", "--check"]).output().unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("error: plugins/noop/go.mod or go.sum is not tidy"),
        "{stderr}"
    );
    let out = xtask_in(&ws).arg("tidy").output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(std::fs::read_to_string(&go_mod).unwrap(), tidy);
}
