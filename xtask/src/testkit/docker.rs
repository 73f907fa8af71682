//! The engine under test, as the xtask detects it (`DOCKER`, `DOCKER_HOST`, `DOCKER_CONFIG`
//! are honoured; `DOCKER=podman` tests Podman), where its published ports are reached
//! (`PIXIE_TEST_PUBLISHED_ADDR`), the few checks whose spelling differs between Docker and
//! Podman, and guards that remove by name what a test created in it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{http, json, ok, text, unique_name, wait_for};
use crate::docker::engine::Compose;
use crate::docker::engine::Engine;

/// The engine the xtask would choose here, detected once; panics (the test fails) when none is
/// usable: engine tests never pass vacuously.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::detect(true).unwrap_or_else(|e| panic!("engine tests need a docker CLI: {e:#}"))
    })
}

/// The chosen CLI (docker or podman).
pub fn docker() -> Command {
    Command::new(&engine().cli.path)
}

/// Whether the engine under test is Podman.
pub fn is_podman() -> bool {
    engine().cli.is_podman()
}

/// On Podman, the lock every build through the xtask holds (`docker::build`), waited for: a test
/// that builds with the engine's CLI itself holds it too, so that the cleanup after an
/// interrupted xtask build (which removes every working container it finds while holding the
/// lock) never takes this build's for its own; and a test that looks for leftovers holds it
/// so that no other build's container is among them. `None` elsewhere.
pub fn hold_podman_build_lock() -> Option<crate::lock::FileLock> {
    is_podman().then(|| {
        let lock = crate::docker::build::podman_build_lock_in(&std::env::temp_dir());
        let quiet = crate::ui::Ui::default().inner();
        crate::lock::acquire(&lock, "a test's own build", &quiet).unwrap()
    })
}

/// The container's health as the engine reports it. Podman runs healthchecks from systemd
/// timers, which machines without systemd lack: there the check is run once first
/// (`podman healthcheck run`), which records its result as the engine's own timer would.
pub fn health_status(container: &str) -> String {
    if is_podman() {
        let _ = docker().args(["healthcheck", "run", container]).output();
    }
    inspect(container, "{{.State.Health.Status}}")
}

/// Asserts the container runs with every capability dropped: Docker records `--cap-drop ALL`
/// as `["ALL"]`, Podman as the list of its default capabilities, so Podman is asked for the
/// process's effective set instead.
pub fn assert_all_capabilities_dropped(container: &str) {
    if is_podman() {
        let capeff = ok(docker().args(["top", container, "capeff"]));
        let sets: Vec<&str> = capeff.lines().skip(1).map(str::trim).collect();
        assert!(
            !sets.is_empty() && sets.iter().all(|s| *s == "none"),
            "{container} keeps capabilities: {capeff}"
        );
    } else {
        assert_eq!(
            inspect(container, "{{json .HostConfig.CapDrop}}"),
            r#"["ALL"]"#
        );
    }
}

/// The host addresses the container's ports are published on (`HostIp`; Podman spells it
/// `HostIP`).
pub fn published_host_ips(container: &str) -> Vec<String> {
    let bindings = json(&inspect(container, "{{json .HostConfig.PortBindings}}"));
    let mut ips: Vec<String> = bindings
        .as_object()
        .into_iter()
        .flat_map(|ports| ports.values())
        .filter_map(|list| list.get(0))
        .filter_map(|b| b.get("HostIp").or_else(|| b.get("HostIP")))
        .filter_map(|ip| ip.as_str().map(String::from))
        .collect();
    ips.sort();
    ips
}

/// `pid uid command` of the container's processes, uid numeric (`docker top -o`, `podman top
/// … huser`).
pub fn processes(container: &str) -> String {
    if is_podman() {
        ok(docker().args(["top", container, "pid", "huser", "comm"]))
    } else {
        ok(docker().args(["top", container, "-o", "pid,uid,comm"]))
    }
}

/// The names of every container of the engine, Podman's build containers too (`--external`:
/// an interrupted `podman build` would leave them).
pub fn all_container_names() -> Vec<String> {
    let mut cmd = docker();
    cmd.args(["ps", "-a", "--format", "{{.Names}}"]);
    if is_podman() {
        cmd.arg("--external");
    }
    ok(&mut cmd).lines().map(String::from).collect()
}

/// The anonymous volumes (64 hex digits: an image's `VOLUME` no mount covered) that no container
/// uses: each is one a removed container left behind.
pub fn dangling_anonymous_volumes() -> std::collections::BTreeSet<String> {
    ok(docker().args(["volume", "ls", "-q", "--filter", "dangling=true"]))
        .lines()
        .filter(|name| name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()))
        .map(String::from)
        .collect()
}

/// A container's logs so far, stdout and stderr together.
pub fn container_logs(container: &str) -> String {
    let out = docker().args(["logs", container]).output().unwrap();
    let (stdout, stderr) = text(&out);
    format!("{stdout}{stderr}")
}

/// Compose as the xtask calls it on this engine.
pub fn compose() -> Command {
    match engine().compose() {
        Ok(Compose::Plugin { .. }) => {
            let mut cmd = docker();
            cmd.arg("compose");
            cmd
        }
        Ok(Compose::Standalone { path, .. }) => Command::new(path),
        Ok(Compose::Podman { path, host, .. }) => {
            let mut cmd = Command::new(path);
            cmd.env("DOCKER_HOST", host);
            cmd
        }
        Err(e) => panic!("engine tests need compose: {e:#}"),
    }
}

/// Panics (the test fails) when no engine answers.
pub fn require_engine() {
    if let Err(e) = engine().daemon_version() {
        panic!("engine tests need a running Docker engine: {e:#}");
    }
}

/// `docker inspect --format FORMAT` of an image or container. Podman's plain `inspect` shows
/// an image's OCI config (no `Healthcheck`), so images are asked with `image inspect` there.
pub fn inspect(object: &str, format: &str) -> String {
    let image = is_podman()
        && docker()
            .args(["image", "exists", object])
            .output()
            .is_ok_and(|o| o.status.success());
    let kind: &[&str] = if image { &["image"] } else { &[] };
    ok(docker()
        .args(kind)
        .args(["inspect", "--format", format, object]))
}

/// Removes the named containers (and their anonymous volumes) when dropped. Named before they
/// are created, so a `docker run` that fails after the engine created the container leaves
/// nothing behind either.
pub struct Containers(pub Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = docker().args(["rm", "-f", "-v"]).args(&self.0).output();
        }
    }
}

/// Starts a detached, uniquely named container from `image` with HTTP published on a free
/// loopback port: `(guard, name, port)`.
pub fn run_detached(image: &str, extra: &[&str]) -> (Containers, String, u16) {
    let name = unique_name("pixie-e2e");
    let guard = Containers(vec![name.clone()]);
    let port = super::free_port();
    ok(docker()
        .args(["run", "-d", "--name", &name])
        .args(["-p", &format!("127.0.0.1:{port}:8080")])
        .args(extra)
        .arg(image));
    (guard, name, port)
}

/// Waits until /healthz answers 200 or panics with the container's logs.
pub fn wait_healthy(container: &str, port: u16, timeout: Duration) {
    let healthy = wait_for(timeout, || match http::get(port, "/healthz") {
        Ok(r) if r.status == 200 => Some(()),
        _ => None,
    });
    if healthy.is_none() {
        let logs = docker()
            .args(["logs", container])
            .output()
            .map(|o| text(&o))
            .unwrap_or_default();
        panic!(
            "container {container} never answered /healthz on port {port}:\n{}\n{}",
            logs.0, logs.1
        );
    }
}

/// The compose project a test runs the xtask under (`PIXIE_PROJECT=prefix`; the xtask adds
/// `-prod` or `-dev`). Everything it left (containers, networks, volumes) is removed when dropped.
pub struct TestProject {
    pub prefix: String,
    /// The compose project's name: `{prefix}-{kind}`.
    pub name: String,
}

impl TestProject {
    pub fn new(what: &str, kind: &str) -> TestProject {
        let prefix = unique_name(what);
        let name = format!("{prefix}-{kind}");
        TestProject { prefix, name }
    }

    fn filter(&self) -> String {
        format!("label=com.docker.compose.project={}", self.name)
    }

    /// The project's containers and networks.
    pub fn leftovers(&self) -> (Vec<String>, Vec<String>) {
        let filter = self.filter();
        let lines = |s: String| {
            s.lines()
                .map(String::from)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        };
        let containers = lines(ok(docker().args(["ps", "-a", "-q", "--filter", &filter])));
        let networks = lines(ok(
            docker().args(["network", "ls", "-q", "--filter", &filter])
        ));
        (containers, networks)
    }

    /// The id of the project's (one) running container.
    pub fn container(&self) -> String {
        ok(docker().args(["ps", "-q", "--filter", &self.filter()]))
    }

    /// The id of the running container of the project's `service` (empty when none runs).
    pub fn service_container(&self, service: &str) -> String {
        let service = format!("label=com.docker.compose.service={service}");
        ok(docker().args(["ps", "-q", "--filter", &self.filter(), "--filter", &service]))
    }

    /// Fails the test, with `context`, when a container or network of the project is left.
    pub fn assert_gone(&self, context: &str) {
        let (containers, networks) = self.leftovers();
        assert!(
            containers.is_empty() && networks.is_empty(),
            "{}: left {containers:?} {networks:?}\n{context}",
            self.name
        );
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let filter = self.filter();
        for (list, remove) in [
            (vec!["ps", "-a", "-q"], vec!["rm", "-f", "-v"]),
            (vec!["network", "ls", "-q"], vec!["network", "rm"]),
            (vec!["volume", "ls", "-q"], vec!["volume", "rm", "-f"]),
        ] {
            let ids = docker()
                .args(&list)
                .args(["--filter", &filter])
                .output()
                .map(|o| text(&o).0)
                .unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = docker().args(&remove).args(&ids).output();
            }
        }
    }
}

/// Removes the named volumes when dropped (after the containers using them).
pub struct Volumes(pub Vec<String>);

impl Drop for Volumes {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = docker().args(["volume", "rm", "-f"]).args(&self.0).output();
        }
    }
}

/// Image names to untag when dropped (the images behind them stay if still referenced).
pub struct Untag(pub Vec<String>);

impl Drop for Untag {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker().args(["image", "rm", name]).output();
        }
    }
}

/// Every path in every layer of `image`, as `(layer file in the saved archive, path)`: the
/// image is `docker save`d, untarred, and each layer tar listed with `tar -t`.
pub fn image_layer_paths(image: &str) -> Vec<(String, String)> {
    let dir: PathBuf = std::env::temp_dir().join(unique_name(&format!(
        "pixie-save-{}",
        image.replace(['/', ':'], "_")
    )));
    let _remove = super::RemoveDir(dir.clone());
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("image.tar");
    ok(docker().args(["save", "-o"]).arg(&archive).arg(image));
    let root = dir.join("x");
    std::fs::create_dir_all(&root).unwrap();
    ok(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&root));
    let manifest = std::fs::read_to_string(root.join("manifest.json"))
        .unwrap_or_else(|e| panic!("docker save of {image} has no manifest.json: {e}"));
    // [{"Config":"…","RepoTags":[…],"Layers":["<id>/layer.tar",…]}]
    let layers: Vec<String> = json(&manifest)[0]["Layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no Layers in manifest.json: {manifest}"))
        .iter()
        .filter_map(|l| l.as_str().map(String::from))
        .collect();
    assert!(!layers.is_empty(), "no layers in {manifest}");
    let mut paths = Vec::new();
    for layer in layers {
        let listing = ok(Command::new("tar").arg("-tf").arg(root.join(&layer)));
        paths.extend(
            listing
                .lines()
                .map(|p| (layer.clone(), p.trim_start_matches("./").to_string())),
        );
    }
    paths
}
