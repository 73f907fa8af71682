//! `cargo xtask vendor` on a copy of the workspace: atomic refresh, --check, and an interrupted
//! run that must leave the old vendor/ untouched. Needs Go and the module proxy, no engine.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use xtask::testkit::{
    ok, repo_root, sigint, text, wait_for, workspace_copy, RemoveDir, ALBUM_PROTO,
};

fn xtask() -> Command {
    xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"))
}

#[test]
fn vendor_refreshes_atomically_and_an_interrupted_run_keeps_the_old_tree() {
    let ws = workspace_copy("vendor");
    let _remove = RemoveDir(ws.clone());
    let vendor = ws.join("vendor");
    let run = |args: &[&str]| {
        xtask()
            .args(args)
            .env("PIXIE_WORKSPACE", &ws)
            .output()
            .unwrap()
    };

    let out = run(&["vendor"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(vendor.join("modules.txt").is_file());
    assert!(run(&["vendor", "--check"]).status.success());

    // A file go work vendor would not write: --check must notice, a refresh must drop it.
    std::fs::write(vendor.join("MARKER"), "old tree").unwrap();
    let out = run(&["vendor", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("error: vendor/ is stale (MARKER is extra); run `cargo xtask vendor`"),
        "{}",
        text(&out).1
    );

    // Interrupt a refresh mid-way: an empty module cache and a proxy that never answers keep
    // `go work vendor` busy downloading until SIGINT arrives.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let modcache = ws.join("empty-modcache");
    let mut child = xtask()
        .arg("vendor")
        .env("PIXIE_WORKSPACE", &ws)
        .env("GOMODCACHE", &modcache)
        .env("GOPROXY", format!("http://{}", proxy.local_addr().unwrap()))
        .env("GOFLAGS", "")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_held, _) = proxy.accept().unwrap(); // go is now waiting on its first download
    sigint(&child);
    let status = wait_for(Duration::from_secs(30), || child.try_wait().unwrap())
        .expect("vendor did not stop on SIGINT");
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        std::fs::read_to_string(vendor.join("MARKER")).unwrap(),
        "old tree",
        "old vendor/ was touched"
    );
    assert_eq!(
        staging_trees(&ws),
        Vec::<String>::new(),
        "staging tree left behind"
    );

    let out = run(&["vendor"]);
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(!vendor.join("MARKER").exists());
    assert!(run(&["vendor", "--check"]).status.success());
}

#[test]
fn proto_check_fails_when_generated_code_is_stale() {
    let ws = workspace_copy("proto");
    let _remove = RemoveDir(ws.clone());
    let run = || {
        xtask()
            .args(["proto", "--check"])
            .env("PIXIE_WORKSPACE", &ws)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", text(&out).1);
    let generated = ws.join("proto/gen/photo/v1/photo.pb.go");
    let mut code = std::fs::read_to_string(&generated).unwrap();
    code.push_str("\n// edited by hand\n");
    std::fs::write(&generated, code).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("proto/gen is stale (photo/v1/photo.pb.go differs); run `cargo xtask proto`"),
        "{}",
        text(&out).1
    );
    // Regenerating restores exactly the committed bytes.
    proto(&ws);
    assert_eq!(
        std::fs::read(&generated).unwrap(),
        std::fs::read(repo_root().join("proto/gen/photo/v1/photo.pb.go")).unwrap()
    );
}

/// `cargo xtask proto` on the workspace copy `ws`, which must succeed.
fn proto(ws: &Path) {
    let out = xtask()
        .arg("proto")
        .env("PIXIE_WORKSPACE", ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}

/// A .proto that is new since the last run gets its code, one that is gone loses it.
#[test]
fn proto_follows_added_and_removed_proto_files() {
    let ws = workspace_copy("proto-added");
    let _remove = RemoveDir(ws.clone());
    let added = ws.join("proto/photo/v1/album.proto");
    std::fs::write(&added, ALBUM_PROTO).unwrap();
    proto(&ws);
    let generated = ws.join("proto/gen/photo/v1/album.pb.go");
    let code = std::fs::read_to_string(&generated).unwrap();
    assert!(code.contains("type Album struct"), "{code}");
    std::fs::remove_file(&added).unwrap();
    proto(&ws);
    assert!(!generated.exists(), "album.pb.go outlived album.proto");
    assert_eq!(
        std::fs::read(ws.join("proto/gen/photo/v1/photo.pb.go")).unwrap(),
        std::fs::read(repo_root().join("proto/gen/photo/v1/photo.pb.go")).unwrap()
    );
}

#[test]
fn proto_without_protoc_says_how_to_install_it_and_leaves_no_staging_tree() {
    let ws = workspace_copy("proto-no-protoc");
    let _remove = RemoveDir(ws.clone());
    // Go but no protoc on PATH.
    let bin = ws.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(which_go(), bin.join("go")).unwrap();
    let out = xtask()
        .arg("proto")
        .env("PIXIE_WORKSPACE", &ws)
        .env("PATH", &bin)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("error: protoc is not installed; install protoc 3.21.12 (`apt-get install protobuf-compiler` on Debian 12)"),
        "{stderr}"
    );
    assert_eq!(staging_trees(&ws), Vec::<String>::new());
    assert_eq!(
        std::fs::read(ws.join("proto/gen/photo/v1/photo.pb.go")).unwrap(),
        std::fs::read(repo_root().join("proto/gen/photo/v1/photo.pb.go")).unwrap()
    );
}

fn which_go() -> std::path::PathBuf {
    let out = ok(Command::new("sh").args(["-c", "command -v go"]));
    std::path::PathBuf::from(out)
}

/// Staging trees (`.vendor.new-PID` at the root, `.gen.new-PID` in proto/) left behind.
fn staging_trees(ws: &Path) -> Vec<String> {
    ["", "proto"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(ws.join(dir)).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".new-"))
        .collect()
}

/// Runs `cargo xtask ARGS` twice at once in `ws`, `rounds` times; every run must succeed.
fn run_pairs(ws: &Path, args: &[&str], rounds: usize) {
    for round in 0..rounds {
        let pair: Vec<_> = (0..2)
            .map(|_| {
                xtask()
                    .args(args)
                    .env("PIXIE_WORKSPACE", ws)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in pair {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {args:?} failed: {}",
                text(&out).1
            );
        }
        assert_eq!(staging_trees(ws), Vec::<String>::new(), "round {round}");
    }
}

/// `go build` of every package of the copy's modules with a main package (core, the
/// thumbnailer), with `extra` env (vendor mode, no proxy).
fn go_builds(ws: &Path, extra: &[(&str, &str)]) {
    for module in ["core", "plugins/thumbnailer"] {
        let out = Command::new("go")
            .args(["build", "-o", "/dev/null", "./..."])
            .current_dir(ws.join(module))
            .envs(extra.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "go build in {module}: {}",
            text(&out).1
        );
    }
}

/// Two runs of `command` at once, four times over, then `command --check` and a Go build of the
/// result with `go_env`.
fn race_then_build(command: &str, go_env: &[(&str, &str)]) {
    let ws = workspace_copy(&format!("{command}-race"));
    let _remove = RemoveDir(ws.clone());
    run_pairs(&ws, &[command], 4);
    let out = xtask()
        .args([command, "--check"])
        .env("PIXIE_WORKSPACE", &ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    go_builds(&ws, go_env);
}

#[test]
fn concurrent_vendor_runs_leave_a_complete_tree_that_builds_offline() {
    // From no vendor/ at all (the first swap is a plain rename), then refreshes of an existing one.
    race_then_build("vendor", &[("GOFLAGS", "-mod=vendor"), ("GOPROXY", "off")]);
}

#[test]
fn concurrent_proto_runs_leave_the_committed_code_that_builds() {
    race_then_build("proto", &[]);
}
