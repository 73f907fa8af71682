//! run-prod through the engine: it builds a missing image, serves it hardened, and Ctrl-C
//! leaves nothing; it rebuilds after an edit; `--detach` with `logs`, `ps` and `stop`; an API
//! token guards writes; a non-loopback bind without one, a taken port and a missing compose are
//! one-line errors.

use std::fs::File;
use std::process::Stdio;
use std::time::Duration;

use xtask::testkit::docker::{
    assert_all_capabilities_dropped, docker, engine, inspect, is_podman, published_host_ips,
    require_engine, TestProject, Untag,
};
use xtask::testkit::http::{self, get_text, multipart_file, published_ip};
use xtask::testkit::png::png_rgb;
use xtask::testkit::{
    free_port, ok, only_on_path, sigint, text, unique_name, wait_for, workspace_copy, RemoveDir,
};

use crate::{prod_image, xtask, xtask_ok};

#[test]
fn run_prod_builds_a_missing_image_serves_it_hardened_and_cleans_up_on_sigint() {
    require_engine();
    let project = TestProject::new("xtask-prod", "prod");
    let prefix = project.prefix.clone();
    let image = format!("pixie-core:run-prod-{}", std::process::id());
    let _image = Untag(vec![image.clone()]);
    let http = free_port();
    // A file, not a pipe: nobody reads a pipe while we poll, and a full pipe would stall the build.
    let log_path = std::env::temp_dir().join(format!("{prefix}.log"));
    let log_file = File::create(&log_path).unwrap();
    let mut child = xtask()
        .args([
            "run-prod",
            "--http-port",
            &http.to_string(),
            "--grpc-port",
            &free_port().to_string(),
        ])
        .env("PIXIE_PROJECT", &prefix)
        .env("PIXIE_PROD_IMAGE", &image)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let served = wait_for(Duration::from_secs(300), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("run-prod exited ({status}) before serving:\n{}", log());
        }
        get_text(http, "/healthz").ok().filter(|(s, _)| *s == 200)
    });
    assert!(
        served.is_some(),
        "run-prod never served on {http}:\n{}",
        log()
    );
    // The image did not exist: run-prod built it.
    ok(docker().args(["image", "inspect", &image]));
    // The compose file's hardening reached the container.
    let filter = format!("label=com.docker.compose.project={}", project.name);
    let id = ok(docker().args(["ps", "-q", "--filter", &filter]));
    let hardening = inspect(
        &id,
        "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.SecurityOpt}}",
    );
    // Compose v1 and v2 on Docker record `no-new-privileges:true`, Podman `no-new-privileges`.
    assert!(
        [
            r#"true ["no-new-privileges:true"]"#,
            r#"true ["no-new-privileges"]"#
        ]
        .contains(&hardening.as_str()),
        "{hardening}"
    );
    assert_all_capabilities_dropped(&id);
    assert_eq!(published_host_ips(&id), ["127.0.0.1", "127.0.0.1"]);
    // The xtask probes every 0.1 s on its own: it may say so a moment after this test saw 200.
    let ready = format!("xtask: ready on http://{}:{http} in ", published_ip());
    let announced = wait_for(Duration::from_secs(5), || {
        log().contains(&ready).then_some(())
    });

    sigint(&child);
    let status = wait_for(Duration::from_secs(60), || child.try_wait().unwrap())
        .expect("run-prod ignored SIGINT");
    let log = log();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains(&format!("build prod image {image}")), "{log}");
    assert!(announced.is_some(), "no {ready:?} line:\n{log}");
    project.assert_gone("");
    let _ = std::fs::remove_file(&log_path);
}

#[test]
fn a_published_port_in_use_is_one_line_and_starts_nothing() {
    require_engine();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let project = TestProject::new("xtask-port", "prod");
    let prefix = project.prefix.clone();
    let out = xtask()
        .args([
            "run-prod",
            "--http-port",
            &port.to_string(),
            "--grpc-port",
            &free_port().to_string(),
        ])
        .env("PIXIE_PROJECT", &prefix)
        .env("PIXIE_PROD_IMAGE", prod_image())
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(
        error,
        format!("error: port {port} on 127.0.0.1 is already in use; stop what listens there or pick another with --http-port")
    );
    project.assert_gone("");
}

#[test]
fn missing_compose_is_one_line_naming_the_fix() {
    require_engine();
    // A PATH with the CLI the xtask chose but no docker-compose, and a CLI config folder with
    // the chosen CLI's buildx plugin (when it has one) but no compose plugin.
    let dir = std::env::temp_dir().join(unique_name("xtask-nocompose"));
    let config = dir.join("config");
    std::fs::create_dir_all(config.join("cli-plugins")).unwrap();
    let real = &engine().cli.path;
    std::os::unix::fs::symlink(real, dir.join("docker")).unwrap();
    if let Some(buildx) = buildx_plugin() {
        std::os::unix::fs::symlink(buildx, config.join("cli-plugins/docker-buildx")).unwrap();
    }
    let out = only_on_path(xtask().arg("run-prod"), &dir)
        .env("DOCKER_CONFIG", &config)
        .env("HOME", &dir)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = if is_podman() {
        "error: compose is missing for Podman: no docker-compose in a Docker CLI plugin folder or on PATH; \
         install docker-compose (v2, e.g. `apt-get install docker-compose`)"
            .to_string()
    } else {
        format!(
            "error: compose is missing: neither `{}/docker compose` nor docker-compose works; \
             install docker-compose-plugin or docker-compose",
            dir.display()
        )
    };
    assert_eq!(stderr.trim_end(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The buildx plugin the chosen docker CLI runs, if it has one (`docker buildx version` names
/// no path, so the plugin folders are searched as the CLI does).
fn buildx_plugin() -> Option<std::path::PathBuf> {
    xtask::docker::engine::cli_plugin_dirs()
        .into_iter()
        .map(|d| d.join("docker-buildx"))
        .find(|p| p.is_file())
}

/// `cargo xtask <args>` with `env` on ports `http`/free, stdin closed; (exit code, stdout+stderr).
fn xtask_run(args: &[&str], http: u16, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = xtask()
        .args(args)
        .args(["--http-port", &http.to_string()])
        .args(["--grpc-port", &free_port().to_string()])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), format!("{stdout}{stderr}"))
}

/// A detached run-prod of its own: a workspace copy, a compose project and an image name, the
/// copy and the image removed when dropped.
struct OwnRun {
    ws: std::path::PathBuf,
    ws_path: String,
    project: TestProject,
    image: String,
    _cleanup: (RemoveDir, Untag),
}

impl OwnRun {
    fn new(name: &str) -> OwnRun {
        let ws = workspace_copy(name);
        let image = format!("pixie-core:{name}-{}", std::process::id());
        OwnRun {
            ws_path: ws.to_string_lossy().to_string(),
            project: TestProject::new(name, "prod"),
            _cleanup: (RemoveDir(ws.clone()), Untag(vec![image.clone()])),
            ws,
            image,
        }
    }

    fn env(&self) -> [(&'static str, &str); 3] {
        [
            ("PIXIE_WORKSPACE", &self.ws_path),
            ("PIXIE_PROJECT", &self.project.prefix),
            ("PIXIE_PROD_IMAGE", &self.image),
        ]
    }
}

#[test]
fn run_prod_detached_rebuilds_after_an_edit_and_logs_ps_stop_manage_it() {
    require_engine();
    let run = OwnRun::new("run-prod-edit");
    let (ws, project, env) = (&run.ws, &run.project, run.env());
    let http = free_port();
    let (code, out) = xtask_run(&["run-prod", "--detach"], http, &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "xtask: ready on http://{}:{http} in ",
            published_ip()
        )),
        "{out}"
    );
    let (status, body) = get_text(http, "/version").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"build_time\""), "{body}");

    let ps = xtask_ok(&["ps", "prod"], &env);
    assert!(ps.contains(&project.name), "{ps}");
    let logs = xtask_ok(&["logs", "prod"], &env);
    assert!(logs.contains("core_1") || logs.contains("core-1"), "{logs}");
    xtask_ok(&["stop", "prod"], &env);
    project.assert_gone("after stop");

    // An edit after the image exists: run-prod must build it again, not serve the old one.
    let source = ws.join("core/pkg/version/version.go");
    let before = std::fs::read_to_string(&source).unwrap();
    let after = before.replacen("json:\"build_time\"", "json:\"build_time_edited\"", 1);
    assert_ne!(before, after, "version.go no longer has the build_time tag");
    std::fs::write(&source, after).unwrap();
    let (code, out) = xtask_run(&["run-prod", "--detach"], http, &env);
    assert_eq!(code, Some(0), "{out}");
    let (_, body) = get_text(http, "/version").unwrap();
    assert!(
        body.contains("\"build_time_edited\""),
        "old image served: {body}\n{out}"
    );
    xtask_ok(&["stop", "prod"], &env);
    project.assert_gone("after the second stop");
}

/// #24: `build.vendor: true` in a settings file reaches run-prod's build as it reaches
/// build-prod's: vendor/ is made current first (vendor's own plan), then the build runs with
/// no network at all (`--network=none`, as on an engine that reaches no module proxy), and what
/// it compiled from vendor/ (the workspace's, `go work vendor`) serves.
#[test]
fn run_prod_with_build_vendor_set_builds_offline_from_vendor_and_serves() {
    require_engine();
    let run = OwnRun::new("run-prod-vendor");
    let (ws, project, env) = (&run.ws, &run.project, run.env());
    std::fs::write(
        ws.join("deployments/pixie.local.yaml"),
        "build:\n  vendor: true\n",
    )
    .unwrap();
    let http = free_port();
    let (code, out) = xtask_run(&["-v", "run-prod", "--detach"], http, &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        ws.join("vendor/modules.txt").is_file(),
        "run-prod did not make vendor/:\n{out}"
    );
    let build_line = out
        .lines()
        .find(|l| l.starts_with("xtask: $ ") && l.contains(" build ") && l.contains("--file"))
        .unwrap_or_else(|| panic!("no build line in the -v output:\n{out}"));
    assert!(
        build_line.contains("--network=none") && build_line.contains("GO_MOD_MODE=vendor"),
        "run-prod with build.vendor did not build offline from vendor/: {build_line}"
    );
    let build_output = out.split(build_line).nth(1).unwrap_or_default();
    assert!(
        !build_output.contains("go: downloading"),
        "the vendored build downloaded modules:\n{out}"
    );
    assert!(
        crate::build_prod::compiled_from_vendor(&crate::build_prod::binary_of(&run.image)),
        "run-prod's binary was compiled from the module cache, not vendor/"
    );
    let (status, body) = get_text(http, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    xtask_ok(&["stop", "prod"], &env);
    project.assert_gone("after stop");
}

fn upload_status(port: u16, authorization: Option<&str>) -> u16 {
    let png = png_rgb(8, 8, |x, y| [x as u8 * 30, y as u8 * 30, 7]);
    let (content_type, body) = multipart_file("file", "token.png", "image/png", &png);
    let mut headers = vec![("Content-Type", content_type.as_str())];
    headers.extend(authorization.map(|a| ("Authorization", a)));
    let resp = http::request(port, "POST", "/api/photos", &headers, &body).unwrap();
    resp.status
}

#[test]
fn run_prod_with_a_token_file_guards_writes_and_passes_it_only_as_a_file() {
    require_engine();
    let project = TestProject::new("xtask-token", "prod");
    let dir = std::env::temp_dir().join(unique_name("xtask-token"));
    std::fs::create_dir_all(&dir).unwrap();
    let _remove = RemoveDir(dir.clone());
    let token = format!("e2e-token-{}-0123456789", std::process::id());
    let user_file = dir.join("token");
    std::fs::write(&user_file, format!("{token}\n")).unwrap();
    // A user's private file: the container (uid 65532) could not read it as it is.
    std::fs::set_permissions(
        &user_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let user_file = user_file.to_string_lossy().to_string();
    let env = [
        ("PIXIE_PROJECT", project.prefix.as_str()),
        ("PIXIE_PROD_IMAGE", prod_image()),
        ("PIXIE_API_TOKEN_FILE", user_file.as_str()),
    ];
    let http = free_port();
    let (code, out) = xtask_run(&["run-prod", "--detach"], http, &env);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(upload_status(http, None), 401);
    assert_eq!(
        upload_status(http, Some("Bearer wrong-token-0123456789")),
        401
    );
    assert_eq!(upload_status(http, Some(&format!("Bearer {token}"))), 201);

    // compose got the token as a file secret, never as a value.
    let filter = format!("label=com.docker.compose.project={}", project.name);
    let id = ok(docker().args(["ps", "-q", "--filter", &filter]));
    let config = ok(docker().args(["inspect", &id]));
    assert!(
        !config.contains(&token),
        "the token is in the container's config"
    );
    assert!(
        config.contains("PIXIE_API_TOKEN_FILE=/run/secrets/pixie_api_token"),
        "{config}"
    );
    // stop (without the token in its environment) still finds the project and removes the file.
    let secret = xtask::testkit::repo_root()
        .join(format!("target/xtask/secrets/{}/api_token", project.name));
    assert!(secret.exists(), "{}", secret.display());
    xtask_ok(&["stop"], &env[..2]);
    project.assert_gone("after stop");
    assert!(!secret.exists(), "the token file outlived the run");
}

#[test]
fn a_non_loopback_bind_without_a_token_is_refused_before_anything_starts() {
    require_engine();
    let project = TestProject::new("xtask-bind", "prod");
    let image = format!("pixie-core:never-built-{}", std::process::id());
    let (code, out) = xtask_run(
        &["run-prod"],
        free_port(),
        &[
            ("PIXIE_PROJECT", &project.prefix),
            ("PIXIE_PROD_IMAGE", &image),
            ("PIXIE_BIND", "0.0.0.0"),
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    let error = out
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(error, "error: PIXIE_BIND=0.0.0.0 is not a loopback address and no API token is set; set PIXIE_API_TOKEN_FILE (or PIXIE_API_TOKEN), or bind to 127.0.0.1");
    assert!(!out.contains("build prod image"), "{out}");
    let built = docker()
        .args(["image", "inspect", &image])
        .output()
        .unwrap();
    assert!(!built.status.success(), "{image} was built");
    project.assert_gone("");
}
