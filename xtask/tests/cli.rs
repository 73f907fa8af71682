//! The xtask's command line as users meet it; needs no Docker engine.

use std::process::Command;

use xtask::testkit::{ok, only_on_path, repo_root, scratch_dir, text, workspace_copy, RemoveDir};

fn xtask() -> Command {
    xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"))
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
    for module in ["core", "thumbnailer"] {
        assert!(
            stdout.contains(&format!(
                "buildx build --target {module} --load --file deployments/docker/core.Dockerfile"
            )),
            "{stdout}"
        );
    }
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
fn bad_yaml_cites_the_line_and_exits_2_like_any_bad_setting() {
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
        assert_eq!(out.status.code(), Some(2), "{stderr}");
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
    // The bad key's own line, in plain words.
    let stderr = config_error("build:\n  vendor: false\n  gogc: banana\n");
    assert_eq!(
        stderr,
        format!("error: {}/deployments/pixie.yaml is invalid: build.gogc: `banana` is not a GOGC value; use off, a positive percentage such as 200, or empty for Go's default (line 3)\n", ws.display()),
    );
    let stderr = config_error("images:\n  dev: x\nrun:\n  bind: 127.0.0.1\n  http_port: eighty\n");
    assert!(
        stderr.ends_with("pixie.yaml is invalid: run.http_port: expected a port 1-65535, found `eighty` (line 5)\n"),
        "{stderr}"
    );
    let stderr = config_error("build:\n  gogc: 200\n  vendor: yes please\n");
    assert!(
        stderr.ends_with("pixie.yaml is invalid: build.vendor: expected true or false, found `yes please` (line 3)\n"),
        "{stderr}"
    );
}

/// One `config` run's exit code and output, with `env` added.
fn config_run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = xtask()
        .arg("config")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn port_and_address_mistakes_are_named_in_plain_words() {
    let (code, _, stderr) = config_run(&["--http-port", "0"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("error: invalid value '0' for '--http-port <PORT>': expected a port 1-65535, found `0`\n"), "{stderr}");
    let (code, _, stderr) = config_run(&[], &[("PIXIE_HTTP_PORT", "http")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr, "error: PIXIE_HTTP_PORT=http is invalid: expected a port 1-65535, found `http`; fix or unset PIXIE_HTTP_PORT\n");
    let (code, _, stderr) = config_run(&["--grpc-port", "8080"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr, "error: run.http_port (deployments/pixie.yaml) and run.grpc_port (flag) are both 8080; give them different ports\n");
    let (code, _, stderr) = config_run(&[], &[("PIXIE_BIND", "localhost")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr, "error: PIXIE_BIND=localhost is invalid: expected an IP address such as 127.0.0.1 or 0.0.0.0, found `localhost`; fix or unset PIXIE_BIND\n");
}

#[test]
fn control_characters_in_values_are_rejected() {
    let (code, _, stderr) = config_run(&[], &[("PIXIE_PROD_IMAGE", "pixie\nrm -rf /")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr, "error: PIXIE_PROD_IMAGE=pixie\nrm -rf / is invalid: `pixie\\nrm -rf /` contains a control character (a newline or tab); use one plain line; fix or unset PIXIE_PROD_IMAGE\n");
    let (code, _, stderr) = config_run(&["--platform", "linux/amd64\n"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("contains a control character"), "{stderr}");
}

#[test]
fn a_pixie_variable_that_is_no_setting_gets_a_warning_naming_the_closest() {
    let (code, _, stderr) = config_run(
        &[],
        &[
            ("PIXIE_HTTP_PROT", "8081"),
            ("PIXIE_LOG_LEVEL", "debug"),
            ("PIXIE_API_TOKEN_FILE", "/t"),
            ("PIXIE_CI_BUILDER", "x"),
            ("PIXIE_ENGINE_B_HOST", "x"),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "warning: PIXIE_HTTP_PROT is not a setting (ignored); did you mean PIXIE_HTTP_PORT? (`cargo xtask config` lists them)\n");
}

#[test]
fn config_shows_the_local_layer_the_flag_layer_and_derived_names() {
    let ws = workspace_copy("local-layer");
    let _remove = RemoveDir(ws.clone());
    std::fs::write(
        ws.join("deployments/pixie.local.yaml"),
        "base_images:\n  go: local/go:2\n  runtime: local/rt:2\n",
    )
    .unwrap();
    let out = xtask()
        .args(["config", "--http-port", "18081"])
        .env("PIXIE_WORKSPACE", &ws)
        .env("PIXIE_RUNTIME_IMAGE", "env/rt:3")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} missing:\n{stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("base_images.go"),
        "base_images.go local/go:2 # deployments/pixie.local.yaml"
    );
    assert_eq!(
        line("base_images.runtime"),
        "base_images.runtime env/rt:3 # env PIXIE_RUNTIME_IMAGE"
    );
    assert_eq!(
        line("run.http_port"),
        "run.http_port 18081 # flag --http-port"
    );
    let project = line("run.project");
    assert!(
        project.starts_with("run.project pixie-pixie-local-layer-")
            && project.ends_with("-dev # derived from the checkout path"),
        "{project}"
    );
}

#[test]
fn config_and_doctor_print_json_for_scripts() {
    let stdout = ok(xtask().args(["config", "--json"]));
    let rows = xtask::testkit::json(&stdout);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), xtask::settings::ALL.len());
    assert_eq!(rows[0]["key"], "images.prod");
    assert!(rows[0]["source"].is_string() && rows[0]["value"].is_string());
    let platform = rows.iter().find(|r| r["key"] == "build.platform").unwrap();
    assert_eq!(platform["value"], "", "{platform}");
    let out = xtask()
        .args(["doctor", "--json"])
        .env("PIXIE_HTTP_PORT", "x")
        .output()
        .unwrap();
    let checks = xtask::testkit::json(&text(&out).0);
    let first = &checks.as_array().unwrap()[0];
    assert_eq!(first["check"], "settings");
    assert_eq!(first["status"], "FAIL");
}

#[test]
fn a_bad_config_is_a_doctor_fail_line_not_an_abort() {
    let out = xtask()
        .arg("doctor")
        .env("PIXIE_GRPC_PORT", "none")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stdout.lines().next(),
        Some("FAIL settings         PIXIE_GRPC_PORT=none is invalid: expected a port 1-65535, found `none`; fix or unset PIXIE_GRPC_PORT")
    );
    // The other checks still ran.
    assert!(stdout.lines().any(|l| l.contains(" go ")), "{stdout}");
    assert!(
        stderr.starts_with("error: builds cannot work until these are fixed: settings"),
        "{stderr}"
    );
}

/// `… | head -1`: the reader goes away; the xtask must stop quietly, never panic (exit 101).
#[test]
fn a_closed_pipe_ends_output_quietly() {
    use std::process::Stdio;
    for args in [
        &["config"][..],
        &["doctor"],
        &["build-prod", "--dry-run"],
        &["--list"],
        &["completions", "bash"],
    ] {
        let mut child = xtask()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out).1;
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        if args[0] != "doctor" {
            assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
            assert_eq!(stderr, "", "{args:?}");
        }
    }
}

#[test]
fn local_settings_file_is_untracked() {
    let out = Command::new("git")
        .args(["check-ignore", "-q", "deployments/pixie.local.yaml"])
        .current_dir(repo_root())
        .status()
        .unwrap();
    assert!(
        out.success(),
        "deployments/pixie.local.yaml must be gitignored"
    );
}

/// A provisioning failure exits non-zero naming its step, writes no settings, prints nothing on
/// stdout; here `apt-get` fails on a machine that lacks docker.
#[test]
fn failed_provisioning_says_where_and_writes_nothing() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let root = scratch_dir("provision");
    let bin = root.join("bin");
    std::fs::create_dir_all(root.join("deployments")).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    ok(Command::new("cp")
        .arg("-a")
        .arg(repo_root().join(".ci"))
        .arg(&root));
    for tool in ["grep", "dirname"] {
        symlink(which::which(tool).unwrap(), bin.join(tool)).unwrap();
    }
    std::fs::write(
        bin.join("apt-get"),
        "#!/bin/sh\necho 'E: no network' >&2\nexit 100\n",
    )
    .unwrap();
    std::fs::set_permissions(bin.join("apt-get"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("/bin/bash")
        .arg(root.join(".ci/provision"))
        .env("PATH", &bin)
        .env("XDG_CONFIG_HOME", root.join("config"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(100), "{stderr}");
    assert_eq!(stdout, "");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("provision: FAILED while installing packages (line ")
            && last.ends_with(", exit 100); nothing downstream can use this machine yet"),
        "{stderr}"
    );
    assert!(!root.join("config/pixie/settings.yaml").exists());
    std::fs::remove_dir_all(&root).unwrap();
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

#[test]
fn ci_run_provisions_without_export() {
    let run = std::fs::read_to_string(repo_root().join(".ci/run")).unwrap();
    assert!(run.contains("\nbash .ci/provision\n"), "{run}");
    assert!(!run.contains("$(bash .ci/provision)"), "{run}");
}
