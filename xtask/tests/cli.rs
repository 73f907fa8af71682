//! The xtask's command line as users meet it; needs no Docker engine.

mod support;

use std::collections::BTreeSet;

use support::*;

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
