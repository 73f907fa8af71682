//! The xtask's command line as users meet it; needs no Docker engine.

use std::collections::BTreeSet;
use std::process::Command;

use xtask::testkit::{ok, only_on_path, repo_root, text, workspace_copy, RemoveDir};

fn xtask() -> Command {
    xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"))
}

#[test]
fn unknown_command_is_a_usage_error_with_exit_2() {
    let out = xtask().arg("build-prd").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("unrecognized subcommand 'build-prd'"));
    let out = xtask().args(["build-prod", "--turbo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn dry_run_prints_the_plan_even_without_a_docker_cli() {
    let out = xtask()
        .args(["build-prod", "--dry-run"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("docker CLI not detected"), "{stdout}");
    assert!(
        stdout.contains("buildx build --load --file deployments/docker/core.Dockerfile"),
        "{stdout}"
    );
}

/// `make -f Makefile.optimize <target>` must reach `cargo xtask <target>`, for every command.
#[test]
fn every_makefile_target_is_an_xtask_command_and_the_reverse() {
    let makefile = std::fs::read_to_string(repo_root().join("Makefile.optimize")).unwrap();
    let targets: BTreeSet<String> = makefile
        .lines()
        .find_map(|l| l.strip_prefix("XTASK_TARGETS :="))
        .expect("XTASK_TARGETS in Makefile.optimize")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(
        makefile.contains("\t$(CARGO) xtask $@ $(ARGS)"),
        "targets must forward to the xtask"
    );

    let help = ok(xtask().arg("--help"));
    let commands: BTreeSet<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect();
    assert_eq!(targets, commands);
}

/// A stand-in `docker` that reports a 28.x client without buildx, like /usr/local/bin/docker here.
fn docker_without_buildx(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("docker");
    std::fs::write(
        &path,
        "#!/bin/sh\ncase \"$1\" in\n  --version) echo 'Docker version 28.2.2, build e6534b4' ;;\n  *) echo \"docker: '$1' is not a docker command.\" >&2; exit 1 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn no_buildkit_route_is_one_line_naming_the_fix() {
    let dir = scratch_dir("nobuildx");
    let fake = docker_without_buildx(&dir);
    let out = only_on_path(xtask().arg("build-prod"), &dir)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: no docker CLI here can run BuildKit builds"),
        "{stderr}"
    );
    assert!(
        stderr.contains("28.2.2 has no buildx plugin")
            && stderr.contains("install the buildx plugin"),
        "{stderr}"
    );

    let out = xtask()
        .arg("build-prod")
        .env("DOCKER", &fake)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: DOCKER={} cannot run BuildKit builds",
            fake.display()
        )),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_go_is_one_line_naming_the_fix() {
    let empty = scratch_dir("nogo");
    std::fs::create_dir_all(&empty).unwrap();
    for command in [["vendor"], ["proto"]] {
        let out = xtask().args(command).env("PATH", &empty).output().unwrap();
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("error: Go is not installed (no `go` on PATH)")
                && stderr.contains("install Go 1.26"),
            "{stderr}"
        );
    }
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn bad_yaml_cites_the_line_and_exits_1() {
    let ws = workspace_copy("bad-yaml");
    let _remove = RemoveDir(ws.clone());
    let config_error = |yaml: &str| {
        std::fs::write(ws.join("deployments/pixie.yaml"), yaml).unwrap();
        let out = xtask()
            .arg("config")
            .env("PIXIE_WORKSPACE", &ws)
            .output()
            .unwrap();
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        stderr
    };
    let stderr = config_error("build:\n  gogc: 200\n  vendr: true\n");
    assert!(
        stderr.contains("pixie.yaml is invalid: build: unknown field `vendr`"),
        "{stderr}"
    );
    assert!(stderr.contains("line 3"), "{stderr}");
    let stderr = config_error("run:\n  http_port: [1]\n");
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn missing_dockerfile_says_how_to_restore_it() {
    let ws = workspace_copy("no-dockerfile");
    let _remove = RemoveDir(ws.clone());
    std::fs::remove_file(ws.join("deployments/docker/core.Dockerfile")).unwrap();
    let out = xtask()
        .args(["build-prod", "--dry-run"])
        .env("PIXIE_WORKSPACE", &ws)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("core.Dockerfile is missing; restore it with `git checkout -- deployments/docker/core.Dockerfile`"), "{stderr}");
}

#[test]
fn config_shows_each_value_and_its_source() {
    let out = xtask()
        .args(["config"])
        .env("PIXIE_HTTP_PORT", "18088")
        .env("PIXIE_GO_IMAGE", "local/go:1")
        .output()
        .unwrap();
    let stdout = text(&out).0;
    assert!(out.status.success());
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} missing:\n{stdout}"))
            .to_string()
    };
    assert!(
        line("run.http_port").contains("18088")
            && line("run.http_port").ends_with("# env PIXIE_HTTP_PORT")
    );
    assert!(line("base_images.go").contains("local/go:1"));
    assert!(
        line("run.bind").ends_with("# deployments/pixie.yaml"),
        "{}",
        line("run.bind")
    );
}
