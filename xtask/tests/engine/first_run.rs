//! A machine where provisioning never ran: builds stop before BuildKit with one line naming the
//! missing base image and the fix, and `doctor` shows the same as a FAIL line. A machine with
//! this engine alone (nothing but its CLI and compose on PATH, no `DOCKER`): `run-prod` serves.

use std::process::Stdio;

use xtask::docker::engine::Compose;
use xtask::testkit::docker::{engine, is_podman, require_engine, TestProject, Untag};
use xtask::testkit::http::get_text;
use xtask::testkit::{free_port, text, unique_name, RemoveDir};

use crate::xtask;

const MISSING: &str = "pixie-never-provisioned/go:0";

#[test]
fn a_missing_base_image_is_one_line_naming_the_fix() {
    require_engine();
    let expected = format!(
        "base image {MISSING} (base_images.go) is not on the engine and cannot be pulled; run \
         `bash .ci/provision` to make local base images, or set base_images.go (env \
         PIXIE_GO_IMAGE) to an image the engine has"
    );
    for command in ["build-prod", "build-dev"] {
        let out = xtask()
            .arg(command)
            .env("PIXIE_GO_IMAGE", MISSING)
            .output()
            .unwrap();
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some(format!("error: {expected}").as_str()),
            "{stderr}"
        );
        assert!(!stderr.contains("failed to do request"), "{stderr}");
    }
    let out = xtask()
        .arg("doctor")
        .env("PIXIE_GO_IMAGE", MISSING)
        .output()
        .unwrap();
    let stdout = text(&out).0;
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("FAIL base_images.go   {expected}")),
        "{stdout}"
    );
    // The provisioned image, from this machine's settings file or the environment, passes.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok   base_images.runtime") && l.ends_with(" on the engine")),
        "{stdout}"
    );
}

/// What a user with only Docker 26 + plugins, or only Podman, has: the engine's CLI under its
/// own name and its compose, nothing else of Docker on PATH, `DOCKER` unset, no file edited.
/// Kept from the test environment: `DOCKER_HOST` and `DOCKER_CONFIG` (on CI machines engine B
/// runs in a network namespace of its own with its plugins in a config folder, and Podman's
/// API socket is not at its default path) and where published ports are reached.
#[test]
fn a_machine_with_only_this_engine_serves_run_prod_with_nothing_configured() {
    require_engine();
    let bin = std::env::temp_dir().join(unique_name("xtask-only-engine"));
    let _remove = RemoveDir(bin.clone());
    std::fs::create_dir_all(&bin).unwrap();
    let name = if is_podman() { "podman" } else { "docker" };
    std::os::unix::fs::symlink(&engine().cli.path, bin.join(name)).unwrap();
    match engine().compose() {
        Ok(Compose::Standalone { path, .. } | Compose::Podman { path, .. }) => {
            std::os::unix::fs::symlink(path, bin.join("docker-compose")).unwrap();
        }
        // Found through the CLI's own plugin folders.
        Ok(Compose::Plugin { .. }) => {}
        Err(e) => panic!("the engine under test has no compose: {e:#}"),
    }
    // Podman's network setup runs iptables; no docker, podman or compose lives in these.
    let path = format!("{}:/usr/sbin:/sbin", bin.display());
    let project = TestProject::new("xtask-only-engine", "prod");
    let image = format!("pixie-core:only-engine-{}", std::process::id());
    let _image = Untag(vec![image.clone()]);
    let alone = |args: &[&str]| {
        xtask()
            .env_remove("DOCKER")
            .env("PATH", &path)
            .args(args)
            .env("PIXIE_PROJECT", &project.prefix)
            .env("PIXIE_PROD_IMAGE", &image)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let http = free_port();
    let ports = [http.to_string(), free_port().to_string()];
    let out = alone(&[
        "run-prod",
        "--detach",
        "--http-port",
        &ports[0],
        "--grpc-port",
        &ports[1],
    ]);
    let (stdout, stderr) = text(&out);
    let stop = || alone(&["stop", "prod"]);
    if !out.status.success() {
        stop();
        panic!("run-prod on a machine with only {name}:\n{stdout}{stderr}");
    }
    assert!(
        stderr.contains(&format!("{}/{name}", bin.display())),
        "not the engine on PATH:\n{stderr}"
    );
    let health = get_text(http, "/healthz");
    let stopped = stop();
    assert!(
        matches!(health, Ok((200, _))),
        "{health:?}\n{stdout}{stderr}"
    );
    assert!(stopped.status.success(), "{}", text(&stopped).1);
    project.assert_gone("after stop");
}
