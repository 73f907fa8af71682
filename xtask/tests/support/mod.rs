//! Shared pieces of the engine tests: the xtask binary, docker, HTTP, ports, cleanup guards.
//! Engine tests fail (never skip) when Docker is not reachable.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace these tests were built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The xtask binary under test, quiet about Cargo.
pub fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(repo_root());
    cmd
}

/// A docker CLI for inspecting what the xtask did (any CLI can do that; no BuildKit needed).
pub fn docker() -> Command {
    Command::new(std::env::var("DOCKER").unwrap_or_else(|_| "docker".into()))
}

/// Runs a command that must succeed and returns its trimmed stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Panics (the test fails) when no engine answers: these tests must not pass vacuously.
pub fn require_engine() {
    let out = docker()
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "engine tests need a running Docker engine: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("engine tests need a docker CLI: {e}"),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.0 GET against 127.0.0.1: status code and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Polls `probe` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Extracts a string field from a flat JSON object (enough for /version).
pub fn json_field(body: &str, key: &str) -> Option<String> {
    let at = body.find(&format!("\"{key}\""))?;
    let rest = &body[at + key.len() + 2..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// The production image, built once per test binary through `cargo xtask build-prod`.
pub fn prod_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_engine();
        let image = "pixie-core:e2e".to_string();
        let out = xtask()
            .args(["build-prod"])
            .env("PIXIE_PROD_IMAGE", &image)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "build-prod failed:\n{stdout}\n{stderr}"
        );
        image
    })
}

/// Removes the named containers when dropped, even when the test panicked.
pub struct Containers(pub Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = docker().args(["rm", "-f", "-v"]).args(&self.0).output();
        }
    }
}

/// Starts a detached container from `image` with HTTP published on a free loopback port.
pub fn run_detached(image: &str, extra: &[&str]) -> (Containers, String, u16) {
    let port = free_port();
    let id = ok(docker()
        .args(["run", "-d", "-p", &format!("127.0.0.1:{port}:8080")])
        .args(extra)
        .arg(image));
    (Containers(vec![id.clone()]), id, port)
}

/// Waits until /healthz answers 200 or panics with the container's logs.
pub fn wait_healthy(container: &str, port: u16, timeout: Duration) {
    let healthy = wait_for(timeout, || match http_get(port, "/healthz") {
        Ok((200, _)) => Some(()),
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

/// Containers and networks that belong to a compose project.
pub fn project_leftovers(project: &str) -> (Vec<String>, Vec<String>) {
    let filter = format!("label=com.docker.compose.project={project}");
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

/// Removes everything a compose project left (containers, networks, volumes) when dropped.
pub struct ProjectCleanup(pub String);

impl Drop for ProjectCleanup {
    fn drop(&mut self) {
        let filter = format!("label=com.docker.compose.project={}", self.0);
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

/// A copy of the files the images and compose files read, for tests that edit source.
pub fn workspace_copy(name: &str) -> PathBuf {
    let dest = std::env::temp_dir().join(format!("pixie-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest).unwrap();
    let root = repo_root();
    for item in ["core", "proto", "deployments", ".dockerignore"] {
        ok(Command::new("cp").arg("-a").arg(root.join(item)).arg(&dest));
    }
    let _ = std::fs::remove_dir_all(dest.join("core/vendor"));
    dest
}
