//! The xtask's promises that need a real engine: Ctrl-C cleanup of run-dev (repeatedly, and
//! forced with a second press), interrupted builds, and the one-line errors for a missing
//! compose and a port already in use.
#![cfg(feature = "engine-tests")]

mod support;

use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::*;

const DEV_IMAGE: &str = "pixie-core-dev:e2e";

/// The dev image, built once per test binary.
fn dev_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        require_engine();
        let out = xtask()
            .arg("build-dev")
            .env("PIXIE_DEV_IMAGE", DEV_IMAGE)
            .output()
            .unwrap();
        assert!(out.status.success(), "build-dev failed: {}", text(&out).1);
    });
    DEV_IMAGE
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let status = wait_for(within, || child.try_wait().unwrap());
    if status.is_none() {
        let _ = child.kill();
    }
    status.and_then(|s| s.code())
}

fn running_containers(project: &str) -> usize {
    let filter = format!("label=com.docker.compose.project={project}");
    ok(docker().args([
        "ps",
        "-q",
        "--filter",
        &filter,
        "--filter",
        "status=running",
    ]))
    .lines()
    .count()
}

/// Starts `run-dev` under project `{prefix}-dev` and returns once its container runs.
fn start_run_dev(prefix: &str) -> Child {
    let child = xtask()
        .args([
            "run-dev",
            "-q",
            "--http-port",
            &free_port().to_string(),
            "--grpc-port",
            &free_port().to_string(),
        ])
        .env("PIXIE_PROJECT", prefix)
        .env("PIXIE_DEV_IMAGE", dev_image())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let project = format!("{prefix}-dev");
    let running = wait_for(Duration::from_secs(60), || {
        (running_containers(&project) > 0).then_some(())
    });
    assert!(running.is_some(), "{project}: the container never ran");
    child
}

#[test]
fn twenty_run_dev_start_and_sigint_cycles_leave_no_container_or_network() {
    dev_image();
    let prefix = format!("xtask-cycles-{}", std::process::id());
    let project = format!("{prefix}-dev");
    let _cleanup = ProjectCleanup(project.clone());
    for cycle in 1..=20 {
        let mut child = start_run_dev(&prefix);
        sigint(&child);
        assert_eq!(
            wait_exit(&mut child, Duration::from_secs(60)),
            Some(130),
            "cycle {cycle}"
        );
        let (containers, networks) = project_leftovers(&project);
        assert!(
            containers.is_empty() && networks.is_empty(),
            "cycle {cycle} left {containers:?} {networks:?}"
        );
    }
}

#[test]
fn a_second_sigint_forces_the_stop_and_still_cleans_up() {
    dev_image();
    let prefix = format!("xtask-force-{}", std::process::id());
    let project = format!("{prefix}-dev");
    let _cleanup = ProjectCleanup(project.clone());
    let mut child = start_run_dev(&prefix);
    sigint(&child);
    std::thread::sleep(Duration::from_millis(300));
    sigint(&child);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), Some(130));
    let (containers, networks) = project_leftovers(&project);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "left {containers:?} {networks:?}"
    );
}

/// Containers not started by compose: a build leaves no other kind, and the other tests of this
/// binary, which run meanwhile, create only compose containers.
fn containers_outside_compose() -> Vec<String> {
    let listing = ok(docker().args([
        "ps",
        "-a",
        "--format",
        "{{.ID}} {{.Label \"com.docker.compose.project\"}}",
    ]));
    listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let id = words.next()?;
            words.next().is_none().then(|| id.to_string())
        })
        .collect()
}

#[test]
fn sigint_during_build_prod_exits_130_and_leaves_no_container() {
    require_engine();
    let before = containers_outside_compose();
    let tag = format!("pixie-core:interrupted-{}", std::process::id());
    let mut child = xtask()
        .args(["build-prod", "--no-cache"])
        .env("PIXIE_PROD_IMAGE", &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Long enough for BuildKit to be solving, short of the compile finishing.
    std::thread::sleep(Duration::from_secs(4));
    let interrupted_at = Instant::now();
    sigint(&child);
    let code = wait_exit(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("xtask: interrupted"), "{stderr}");
    eprintln!(
        "build stopped {:.1}s after SIGINT",
        interrupted_at.elapsed().as_secs_f64()
    );
    let after = containers_outside_compose();
    assert!(
        after.iter().all(|c| before.contains(c)),
        "containers before {before:?}, after {after:?}"
    );
    let image = docker().args(["image", "inspect", &tag]).output().unwrap();
    assert!(
        !image.status.success(),
        "an interrupted build must not tag {tag}"
    );
}

#[test]
fn a_published_port_in_use_is_one_line_and_starts_nothing() {
    require_engine();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let prefix = format!("xtask-port-{}", std::process::id());
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
    let (containers, networks) = project_leftovers(&format!("{prefix}-prod"));
    assert!(containers.is_empty() && networks.is_empty());
}

#[test]
fn missing_compose_is_one_line_naming_the_fix() {
    require_engine();
    // A PATH with the BuildKit-capable docker CLI but neither a compose plugin nor docker-compose.
    let dir = std::env::temp_dir().join(format!("xtask-nocompose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let real = which_docker_with_buildkit();
    let _ = std::fs::remove_file(dir.join("docker"));
    std::os::unix::fs::symlink(&real, dir.join("docker")).unwrap();
    let out = xtask()
        .arg("run-prod")
        .env("PATH", &dir)
        .env_remove("DOCKER")
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: compose is missing"), "{stderr}");
    assert!(
        stderr.contains("install docker-compose-plugin or docker-compose"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The CLI the xtask itself chooses, read from its dry-run note.
fn which_docker_with_buildkit() -> String {
    let plan = ok(xtask().args(["build-dev", "--dry-run"]));
    let note = plan.lines().next().unwrap();
    let path = note
        .strip_prefix("# docker CLI: ")
        .and_then(|r| r.split_whitespace().next());
    path.unwrap_or_else(|| panic!("no docker CLI in {note}"))
        .to_string()
}

#[test]
fn clean_removes_what_a_crashed_run_left() {
    dev_image();
    let prefix = format!("xtask-clean-{}", std::process::id());
    let project = format!("{prefix}-dev");
    let _cleanup = ProjectCleanup(project.clone());
    let mut child = start_run_dev(&prefix);
    // SIGKILL: the xtask gets no chance to clean up, as after a crash or a closed terminal.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        running_containers(&project) > 0,
        "the container should outlive a killed xtask"
    );
    let out = xtask()
        .args(["clean", "--volumes"])
        .env("PIXIE_PROJECT", &prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let (containers, networks) = project_leftovers(&project);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "left {containers:?} {networks:?}"
    );
    let volumes = ok(docker().args([
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]));
    assert!(volumes.is_empty(), "volumes left: {volumes}");
}

#[test]
fn doctor_passes_on_this_machine_and_names_the_fix_when_the_daemon_is_down() {
    require_engine();
    let out = xtask().arg("doctor").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    for check in [
        "docker CLI",
        "BuildKit route",
        "daemon",
        "compose",
        "disk",
        "go",
    ] {
        let line = stdout
            .lines()
            .find(|l| l[5..].starts_with(check))
            .unwrap_or_else(|| panic!("no {check} line:\n{stdout}"));
        assert!(line.starts_with("ok "), "{line}");
    }

    let out = xtask()
        .arg("doctor")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let daemon = stdout.lines().find(|l| l.contains("daemon")).unwrap();
    assert!(
        daemon.starts_with("FAIL") && daemon.contains("start it"),
        "{daemon}"
    );
    assert_eq!(
        stderr.trim(),
        "error: builds cannot work until these are fixed: daemon"
    );
}
