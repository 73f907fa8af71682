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

// ---- Added for engine_images.rs: binary-safe HTTP, multipart, PNG bytes, volumes, layers. ----

/// An HTTP response with its raw body (thumbnails and originals are binary).
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.0 request against 127.0.0.1 (the server closes the connection after the
/// response, so the body is everything after the headers). `headers` are sent as given.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&raw)
            ))
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// A multipart/form-data body with one file field: `(content-type header, body)`.
pub fn multipart_file(
    field: &str,
    filename: &str,
    content_type: &str,
    data: &[u8],
) -> (String, Vec<u8>) {
    let boundary = format!("pixie-e2e-boundary-{}", std::process::id());
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// CRC-32 (IEEE, as PNG chunks use it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Adler-32 (the zlib stream checksum).
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1_u32, 0_u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A valid 8-bit RGB PNG of `width`×`height` whose pixel (x, y) is `pixel(x, y)`, using only
/// std: filter type 0 rows in a zlib stream of stored (uncompressed) deflate blocks.
pub fn png_rgb(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend_from_slice(&pixel(x, y));
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        zlib.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        let last = u8::from(blocks.peek().is_none());
        let len = block.len() as u16;
        zlib.push(last);
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8; 4], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut tagged = kind.to_vec();
        tagged.extend_from_slice(data);
        png.extend_from_slice(&tagged);
        png.extend_from_slice(&crc32(&tagged).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, adaptive filters, no interlace
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &zlib);
    chunk(b"IEND", &[]);
    png
}

/// Removes the named Docker volumes when dropped (after the containers using them).
pub struct Volumes(pub Vec<String>);

impl Drop for Volumes {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = docker().args(["volume", "rm", "-f"]).args(&self.0).output();
        }
    }
}

/// Every path in every layer of `image`, as `(layer file in the saved archive, path)`: the
/// image is `docker save`d, untarred, and each layer tar listed with `tar -t`.
pub fn image_layer_paths(image: &str) -> Vec<(String, String)> {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "pixie-save-{}-{}-{call}",
        image.replace(['/', ':'], "_"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
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
    let layers_at = manifest
        .find("\"Layers\"")
        .unwrap_or_else(|| panic!("no Layers in manifest.json: {manifest}"));
    let rest = &manifest[layers_at..];
    let list = &rest[rest.find('[').unwrap() + 1..rest.find(']').unwrap()];
    let layers: Vec<&str> = list
        .split(',')
        .map(|s| s.trim().trim_matches('"'))
        .filter(|s| !s.is_empty())
        .collect();
    assert!(!layers.is_empty(), "no layers in {manifest}");
    let mut paths = Vec::new();
    for layer in layers {
        let listing = ok(Command::new("tar").arg("-tf").arg(root.join(layer)));
        paths.extend(
            listing
                .lines()
                .map(|p| (layer.to_string(), p.trim_start_matches("./").to_string())),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    paths
}

/// The `e_machine` field of an ELF file (0x3E x86-64, 0xB7 AArch64); panics if not ELF.
pub fn elf_machine(bytes: &[u8]) -> u16 {
    assert!(
        bytes.len() > 20 && bytes[..4] == *b"\x7fELF",
        "not an ELF file"
    );
    // EI_DATA: 1 little-endian, 2 big-endian; e_machine is the u16 at offset 18.
    match bytes[5] {
        1 => u16::from_le_bytes([bytes[18], bytes[19]]),
        2 => u16::from_be_bytes([bytes[18], bytes[19]]),
        other => panic!("bad ELF data encoding {other}"),
    }
}

/// Removes a folder (a workspace copy, an export) when dropped, even when the test panicked.
pub struct RemoveDir(pub PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends SIGINT to a child, as Ctrl-C in a terminal would to the xtask.
pub fn sigint(child: &std::process::Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
}

/// Rewrites the `Version = "dev"` default in a workspace copy's buildinfo.go to `version`, the
/// edit the hot-reload tests watch for; returns when it was saved.
pub fn edit_default_version(ws: &Path, version: &str) -> std::time::Instant {
    let source = ws.join("core/internal/buildinfo/buildinfo.go");
    let before = std::fs::read_to_string(&source).unwrap();
    let after = before.replacen("Version = \"dev\"", &format!("Version = \"{version}\""), 1);
    assert_ne!(
        before, after,
        "buildinfo.go no longer declares Version = \"dev\""
    );
    let saved = std::time::Instant::now();
    std::fs::write(&source, after).unwrap();
    saved
}

/// `cargo xtask run-dev` on a workspace copy, its output going to `run-dev.log` there (a file,
/// not a pipe, which nobody would drain while the test polls).
pub struct RunDev {
    pub child: std::process::Child,
    pub http: u16,
    log_path: PathBuf,
}

impl RunDev {
    /// Starts run-dev under project `{prefix}-dev` on free ports; `env` adds variables.
    pub fn start(ws: &Path, prefix: &str, dev_image: &str, env: &[(&str, &str)]) -> RunDev {
        let (http, grpc) = (free_port(), free_port());
        let log_path = ws.join("run-dev.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = xtask()
            .args([
                "run-dev",
                "--http-port",
                &http.to_string(),
                "--grpc-port",
                &grpc.to_string(),
            ])
            .env("PIXIE_WORKSPACE", ws)
            .env("PIXIE_PROJECT", prefix)
            .env("PIXIE_DEV_IMAGE", dev_image)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        RunDev {
            child,
            http,
            log_path,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The body of GET /version when it answers 200.
    pub fn version(&self) -> Option<String> {
        http_get(self.http, "/version")
            .ok()
            .filter(|(s, _)| *s == 200)
            .map(|(_, body)| body)
    }
}

/// A failed assertion must not leave compose up running behind the test.
impl Drop for RunDev {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
