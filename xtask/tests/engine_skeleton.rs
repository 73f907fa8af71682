//! The walking skeleton through a real engine: build-prod's image serves the HEAD commit as a
//! non-root user; run-dev hot-reloads an edit and Ctrl-C leaves nothing of the project behind.
#![cfg(feature = "engine-tests")]

mod support;

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[test]
fn build_prod_image_serves_the_head_commit_as_a_non_root_user() {
    let image = prod_image();
    let (_guard, id, port) = run_detached(image, &[]);
    wait_healthy(&id, port, Duration::from_secs(30));

    let (status, body) = http_get(port, "/version").unwrap();
    assert_eq!(status, 200, "{body}");
    let head = ok(Command::new("git")
        .arg("-C")
        .arg(repo_root())
        .args(["rev-parse", "HEAD"]));
    assert_eq!(
        json_field(&body, "commit").as_deref(),
        Some(head.as_str()),
        "{body}"
    );

    let user = ok(docker().args(["inspect", "--format", "{{.Config.User}}", image]));
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER is not numeric: {user}"));
    assert_ne!(uid, 0, "image runs as root");
    // The running process, as the kernel sees it.
    let top = ok(docker().args(["top", &id, "-o", "pid,uid,comm"]));
    let server = top
        .lines()
        .find(|l| l.contains("pixie-core"))
        .unwrap_or_else(|| panic!("no pixie-core process:\n{top}"));
    assert_eq!(
        server.split_whitespace().nth(1),
        Some(uid.to_string().as_str()),
        "{top}"
    );
}

#[test]
fn run_dev_reloads_an_edit_and_sigint_leaves_no_container_or_network() {
    require_engine();
    let ws = workspace_copy("run-dev");
    let prefix = format!("xtask-e2e-{}", std::process::id());
    let project = format!("{prefix}-dev");
    let _cleanup = ProjectCleanup(project.clone());
    let mut run = RunDev::start(&ws, &prefix, "pixie-core-dev:e2e", &[]);
    let log = || run.log();
    let version = || run.version();

    // First start builds the dev image if needed, downloads modules and compiles.
    let first = wait_for(Duration::from_secs(300), version)
        .unwrap_or_else(|| panic!("run-dev never served:\n{}", log()));
    assert_eq!(
        json_field(&first, "version").as_deref(),
        Some("dev"),
        "{first}"
    );

    let saved = edit_default_version(&ws, "dev-reloaded");
    let reloaded = wait_for(Duration::from_secs(10), || {
        version().filter(|b| b.contains("dev-reloaded"))
    });
    assert!(
        reloaded.is_some(),
        "edit not served within 10 s:\n{}",
        log()
    );
    eprintln!(
        "hot reload: edit served after {:.2}s",
        saved.elapsed().as_secs_f64()
    );

    sigint(&run.child);
    let status = wait_for(Duration::from_secs(60), || run.child.try_wait().unwrap());
    let Some(status) = status else {
        let _ = run.child.kill();
        panic!("run-dev did not exit within 60 s of SIGINT:\n{}", run.log())
    };
    assert_eq!(status.code(), Some(130), "{}", run.log());
    let (containers, networks) = project_leftovers(&project);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "left behind: {containers:?} {networks:?}\n{}",
        run.log()
    );
    let _ = std::fs::remove_dir_all(&ws);
}

#[test]
fn a_stopped_daemon_is_one_line_with_the_fix_and_exit_1() {
    let out = xtask()
        .arg("build-prod")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("Docker daemon is not reachable") && errors[0].contains("start it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn run_prod_builds_a_missing_image_serves_it_hardened_and_cleans_up_on_sigint() {
    require_engine();
    let prefix = format!("xtask-prod-{}", std::process::id());
    let project = format!("{prefix}-prod");
    let _cleanup = ProjectCleanup(project.clone());
    let image = format!("pixie-core:run-prod-{}", std::process::id());
    let _image = RemoveImage(image.clone());
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
        http_get(http, "/healthz").ok().filter(|(s, _)| *s == 200)
    });
    assert!(
        served.is_some(),
        "run-prod never served on {http}:\n{}",
        log()
    );
    // The image did not exist: run-prod built it.
    ok(docker().args(["image", "inspect", &image]));
    // The compose file's hardening reached the container.
    let filter = format!("label=com.docker.compose.project={project}");
    let id = ok(docker().args(["ps", "-q", "--filter", &filter]));
    let hardening = ok(docker().args([
        "inspect",
        "--format",
        "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{range $p, $b := .HostConfig.PortBindings}}{{(index $b 0).HostIp}} {{end}}",
        &id,
    ]));
    assert_eq!(
        hardening, "true [ALL] [no-new-privileges:true] 127.0.0.1 127.0.0.1",
        "{hardening}"
    );

    sigint(&child);
    let status = wait_for(Duration::from_secs(60), || child.try_wait().unwrap())
        .expect("run-prod ignored SIGINT");
    let log = log();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains(&format!("build prod image {image}")), "{log}");
    let (containers, networks) = project_leftovers(&project);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "left behind: {containers:?} {networks:?}"
    );
    let _ = std::fs::remove_file(&log_path);
}

/// Removes an image tag when dropped.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = docker().args(["image", "rm", &self.0]).output();
    }
}
