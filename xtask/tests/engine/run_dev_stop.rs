//! run-dev's Ctrl-C cleanup: twenty start-and-SIGINT cycles, a second press that forces the stop,
//! and `clean` after a killed run, each leaving no container, network or (with --volumes) volume.

use std::process::{Child, Stdio};
use std::time::Duration;

use xtask::testkit::docker::{docker, TestProject};
use xtask::testkit::{free_port, ok, sigint, text, wait_for};

use crate::{dev_image, wait_exit, xtask};

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
    let project = TestProject::new("xtask-cycles", "dev");
    let prefix = project.prefix.clone();
    for cycle in 1..=20 {
        let mut child = start_run_dev(&prefix);
        sigint(&child);
        assert_eq!(
            wait_exit(&mut child, Duration::from_secs(60)),
            Some(130),
            "cycle {cycle}"
        );
        project.assert_gone(&format!("cycle {cycle}"));
    }
}

#[test]
fn a_second_sigint_forces_the_stop_and_still_cleans_up() {
    dev_image();
    let project = TestProject::new("xtask-force", "dev");
    let prefix = project.prefix.clone();
    let mut child = start_run_dev(&prefix);
    sigint(&child);
    std::thread::sleep(Duration::from_millis(300));
    sigint(&child);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), Some(130));
    project.assert_gone("");
}

#[test]
fn clean_removes_what_a_crashed_run_left() {
    dev_image();
    let project = TestProject::new("xtask-clean", "dev");
    let prefix = project.prefix.clone();
    let mut child = start_run_dev(&prefix);
    // SIGKILL: the xtask gets no chance to clean up, as after a crash or a closed terminal.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        running_containers(&project.name) > 0,
        "the container should outlive a killed xtask"
    );
    let out = xtask()
        .args(["clean", "--volumes"])
        .env("PIXIE_PROJECT", &prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    project.assert_gone("");
    let volumes = ok(docker().args([
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", project.name),
    ]));
    assert!(volumes.is_empty(), "volumes left: {volumes}");
}
