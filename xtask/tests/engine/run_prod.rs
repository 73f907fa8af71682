//! run-prod through the engine: it builds a missing image, serves it hardened, and Ctrl-C
//! leaves nothing; a taken port and a missing compose are one-line errors.

use std::fs::File;
use std::process::Stdio;
use std::time::Duration;

use xtask::testkit::docker::{docker, require_engine, TestProject, Untag};
use xtask::testkit::http::get_text;
use xtask::testkit::{free_port, ok, only_on_path, sigint, text, unique_name, wait_for};

use crate::{prod_image, xtask};

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
    // A PATH with the BuildKit-capable docker CLI but neither a compose plugin nor docker-compose.
    let dir = std::env::temp_dir().join(unique_name("xtask-nocompose"));
    std::fs::create_dir_all(&dir).unwrap();
    let real = which_docker_with_buildkit();
    let _ = std::fs::remove_file(dir.join("docker"));
    std::os::unix::fs::symlink(&real, dir.join("docker")).unwrap();
    let out = only_on_path(xtask().arg("run-prod"), &dir)
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
