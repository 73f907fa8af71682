//! `cargo xtask tidy [--check]` and the builds' tidiness check, on workspace copies; needs Go
//! (with its module cache or the module proxy), no Docker engine.

use std::path::Path;
use std::process::Command;

use xtask::testkit::{text, workspace_copy, RemoveDir};

fn xtask_in(ws: &Path) -> Command {
    let mut cmd = xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"));
    cmd.env("PIXIE_WORKSPACE", ws);
    cmd
}

/// go.mod with the `// indirect` markers dropped: what `go mod tidy` puts back.
fn make_untidy(ws: &Path) -> String {
    let go_mod = ws.join("core/go.mod");
    let untidy = std::fs::read_to_string(&go_mod)
        .unwrap()
        .replace(" // indirect", "");
    std::fs::write(&go_mod, &untidy).unwrap();
    untidy
}

const UNTIDY: &str = "error: core/go.mod or go.sum is not tidy (the diff above is what `go mod tidy` would change); run `cargo xtask tidy`";

#[test]
fn check_fails_with_the_diff_and_tidy_fixes_it() {
    let ws = workspace_copy("tidy");
    let _remove = RemoveDir(ws.clone());
    let tidy_mod = std::fs::read_to_string(ws.join("core/go.mod")).unwrap();
    let untidy = make_untidy(&ws);

    let out = xtask_in(&ws).args(["tidy", "--check"]).output().unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("-\tgolang.org/x/sys v0.50.0\n"), "{stderr}");
    assert_eq!(stderr.lines().last(), Some(UNTIDY), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(ws.join("core/go.mod")).unwrap(),
        untidy
    );

    let out = xtask_in(&ws).arg("tidy").output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(
        std::fs::read_to_string(ws.join("core/go.mod")).unwrap(),
        tidy_mod
    );
    assert!(!ws.join("core/.tidy.new").exists());
    let out = xtask_in(&ws).args(["tidy", "--check"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}

#[test]
fn every_module_of_go_work_is_checked_and_tidied_the_plugin_too() {
    let ws = workspace_copy("tidy-plugin");
    let _remove = RemoveDir(ws.clone());
    let go_mod = ws.join("plugins/thumbnailer/go.mod");
    let tidy_mod = std::fs::read_to_string(&go_mod).unwrap();
    std::fs::write(&go_mod, tidy_mod.replace(" // indirect", "")).unwrap();

    let out = xtask_in(&ws).args(["tidy", "--check"]).output().unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("error: plugins/thumbnailer/go.mod or go.sum is not tidy (the diff above is what `go mod tidy` would change); run `cargo xtask tidy`"),
        "{stderr}"
    );

    let out = xtask_in(&ws).arg("tidy").output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(std::fs::read_to_string(&go_mod).unwrap(), tidy_mod);
    for dir in ["core", "proto", "plugins/thumbnailer"] {
        assert!(
            !ws.join(dir).join(".tidy.new").exists(),
            "{dir}/.tidy.new left"
        );
    }
}

#[test]
fn a_failed_tidy_writes_neither_file() {
    let ws = workspace_copy("tidy-fail");
    let _remove = RemoveDir(ws.clone());
    // An import of a module nobody can fetch (the proxy is off): `go mod tidy` fails.
    std::fs::write(
        ws.join("core/unfetchable.go"),
        "package core\n\nimport _ \"example.invalid/nowhere\"\n",
    )
    .unwrap();
    let before: Vec<Vec<u8>> = ["go.mod", "go.sum"]
        .map(|f| std::fs::read(ws.join("core").join(f)).unwrap())
        .to_vec();
    let out = xtask_in(&ws)
        .arg("tidy")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: go mod tidy on the copies (core) failed (exit 1): "),
        "{stderr}"
    );
    let after: Vec<Vec<u8>> = ["go.mod", "go.sum"]
        .map(|f| std::fs::read(ws.join("core").join(f)).unwrap())
        .to_vec();
    assert!(before == after, "go.mod or go.sum changed");
    assert!(!ws.join("core/.tidy.new").exists());
}

#[test]
fn an_untidy_module_stops_a_build_before_buildkit() {
    let ws = workspace_copy("tidy-build");
    let _remove = RemoveDir(ws.clone());
    make_untidy(&ws);
    // A stand-in 20.10 CLI (built-in BuildKit) that fails whatever it is asked: the check comes
    // before any question to the engine, and BuildKit never starts.
    let docker = ws.join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\n[ \"$1\" = --version ] && echo 'Docker version 20.10.24, build 297e128' && exit 0\necho \"docker $1 was called\" >&2; exit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for command in ["build-prod", "build-dev"] {
        let out = xtask_in(&ws)
            .arg(command)
            .env("DOCKER", &docker)
            .output()
            .unwrap();
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().last(), Some(UNTIDY), "{stderr}");
        assert!(!stderr.contains("was called"), "{stderr}");
    }
}
