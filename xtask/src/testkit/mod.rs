//! What the xtask's tests and the bench share: processes and folders ([this module]), HTTP
//! ([`http`]), the engine the xtask detects ([`docker`]), a local registry ([`registry`]) and
//! PNG bytes ([`png`]). Behind the `testkit` feature: never in the `cargo xtask` binary.
//!
//! Everything that talks to Docker goes through [`docker::engine`], the CLI the xtask itself
//! chooses (honouring `DOCKER`, `DOCKER_HOST`, `DOCKER_CONFIG`), so the same tests run against
//! another engine by environment alone.

pub mod docker;
pub mod goproxy;
pub mod http;
pub use crate::png;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The workspace this crate was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A command for the xtask binary `bin` (a test's `env!("CARGO_BIN_EXE_xtask")`), run in the
/// repository.
pub fn xtask_at(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(repo_root());
    cmd
}

/// `cmd` with only `dir` on PATH and no `DOCKER`: what the xtask finds on a bare machine.
pub fn only_on_path<'a>(cmd: &'a mut Command, dir: &Path) -> &'a mut Command {
    cmd.env("PATH", dir).env_remove("DOCKER")
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

/// stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A name no other test (of any process) uses: `{prefix}-{pid}-{n}`. Containers, volumes and
/// projects get one, and are removed by it.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A new empty folder of this test's own under the temp folder (`{name}-{pid}-{n}`); remove it
/// with [`RemoveDir`].
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(&format!("xtask-{name}")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes a folder (a workspace copy, an export) when dropped, even when the test panicked.
pub struct RemoveDir(pub PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&self.0)
            .output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What any build reads: the parts of the workspace a copy needs.
pub const WORKSPACE_PARTS: [&str; 7] = [
    "go.work",
    "go.work.sum",
    "core",
    "proto",
    "plugins",
    "deployments",
    ".dockerignore",
];

/// A copy of the files the images and compose files read, for tests that edit source.
pub fn workspace_copy(name: &str) -> PathBuf {
    let dest = std::env::temp_dir().join(unique_name(&format!("pixie-{name}")));
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest).unwrap();
    let root = repo_root();
    for item in WORKSPACE_PARTS {
        ok(Command::new("cp").arg("-a").arg(root.join(item)).arg(&dest));
    }
    // Another checkout, as a clone makes it: no vendor/ (not a part), no settings of this
    // checkout's own (the machine's settings file is every checkout's).
    let _ = std::fs::remove_file(dest.join(crate::settings::LOCAL_FILE));
    dest
}

/// Sends SIGINT to a child, as Ctrl-C in a terminal would to the xtask.
pub fn sigint(child: &std::process::Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
}

/// A JSON document (an HTTP body, a manifest), or the panic that shows it.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
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

/// A second .proto file in photo.proto's package (proto/photo/v1/album.proto), for the tests
/// that add one.
pub const ALBUM_PROTO: &str = "syntax = \"proto3\";\n\npackage photo.v1;\n\n\
option go_package = \"github.com/pixie-photos/pixie/proto/gen/photo/v1;photov1\";\n\n\
message Album {\n  string title = 1;\n}\n";
