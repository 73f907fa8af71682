//! build-prod through the engine: the image serves its commit, builds are reproducible,
//! vendored builds are offline, the arm64 cross build, Ctrl-C during a build, and the one-line
//! errors (and doctor) when the daemon is down.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use xtask::testkit::docker::{
    all_container_names, docker, hold_podman_build_lock, inspect, is_podman, processes,
    require_engine, run_detached, wait_healthy, Containers,
};
use xtask::testkit::http::get_text;
use xtask::testkit::{elf_machine, json, ok, sigint, text, unique_name, workspace_copy, RemoveDir};

use crate::{
    head_commit, image_size_mb, numeric_uid, prod_image, wait_exit, xtask, xtask_ok, HARDENED,
};

#[test]
fn build_prod_image_serves_the_head_commit_as_a_non_root_user() {
    let image = prod_image();
    let (_guard, id, port) = run_detached(image, &[]);
    wait_healthy(&id, port, Duration::from_secs(30));

    let (status, body) = get_text(port, "/version").unwrap();
    assert_eq!(status, 200, "{body}");
    let head = head_commit();
    assert_eq!(
        json(&body)["commit"].as_str(),
        Some(head.as_str()),
        "{body}"
    );

    let user = ok(docker().args(["inspect", "--format", "{{.Config.User}}", image]));
    let uid = numeric_uid(&user);
    assert_ne!(uid, 0, "image runs as root");
    // The running process, as the kernel sees it.
    let top = processes(&id);
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

/// An engine that does not answer, for this engine's kind: Docker's daemon socket gone, or
/// (Podman has no daemon; its CLI works without one) the API socket compose talks to.
fn unreachable_engine_command() -> (&'static str, &'static str) {
    if is_podman() {
        ("run-prod", "compose on Podman needs its API socket")
    } else {
        ("build-prod", "Docker daemon is not reachable")
    }
}

#[test]
fn a_stopped_daemon_is_one_line_with_the_fix_and_exit_1() {
    require_engine();
    let (command, reason) = unreachable_engine_command();
    let out = xtask()
        .arg(command)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(reason) && errors[0].contains("start it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

/// Containers (on Podman, build containers too) that this test process did not name: the
/// other tests of this binary, which run meanwhile, start containers under `unique_name`s
/// (compose projects included), which all hold `-{pid}-`; a build names none of its own so.
/// The Podman < 5.4 builders are no leftovers: a checkout's builder stays up on purpose.
fn containers_not_named_by_these_tests() -> Vec<String> {
    let ours = format!("-{}-", std::process::id());
    let builders = ok(docker().args([
        "ps",
        "--all",
        "--filter",
        "label=pixie.builder.key",
        "--format",
        "{{.Names}}",
    ]));
    all_container_names()
        .into_iter()
        .filter(|name| !name.contains(&ours) && !builders.lines().any(|b| b == name))
        .collect()
}

#[test]
fn sigint_during_build_prod_exits_130_and_leaves_no_container() {
    require_engine();
    let before = containers_not_named_by_these_tests();
    let tag = format!("pixie-core:interrupted-{}", std::process::id());
    let mut child = xtask()
        .args(["build-prod", "--module", "core", "--no-cache"])
        .env("PIXIE_PROD_IMAGE", &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr as it comes: the build's own output says when it is under way.
    let (lines, seen) = std::sync::mpsc::channel();
    let stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr_pipe)) {
            let line = line.unwrap_or_default();
            all.push_str(&line);
            all.push('\n');
            let _ = lines.send(line);
        }
        all
    });
    let started = seen
        .iter()
        .any(|line| line.contains(&format!("build prod image {tag}")));
    assert!(started, "the build never started");
    // Into the build, short of its end: its line comes as it starts (on Podman < 5.4 with the
    // compile in the builder, which takes over a second even with Go's caches warm).
    std::thread::sleep(Duration::from_millis(300));
    let interrupted_at = Instant::now();
    sigint(&child);
    let code = wait_exit(&mut child, Duration::from_secs(60));
    // On Podman, other tests' builds wait on the xtask's build lock, and one starts the moment
    // this build lets go of it: its build container is no leftover. Holding the lock while
    // looking keeps them out.
    let _held = hold_podman_build_lock();
    let stderr = reader.join().unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("xtask: interrupted"), "{stderr}");
    eprintln!(
        "build stopped {:.1}s after SIGINT",
        interrupted_at.elapsed().as_secs_f64()
    );
    let after = containers_not_named_by_these_tests();
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
fn doctor_passes_on_this_machine_and_names_the_fix_when_the_daemon_is_down() {
    require_engine();
    let out = xtask().arg("doctor").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    for check in [
        "docker CLI",
        "build route",
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

    // Docker: the daemon is down; Podman (no daemon): the API socket compose needs is missing.
    let (failing, fix) = if is_podman() {
        ("compose", "compose on Podman needs its API socket")
    } else {
        ("daemon", "start it")
    };
    let out = xtask()
        .arg("doctor")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l[5..].starts_with(failing))
        .unwrap_or_else(|| panic!("no {failing} line:\n{stdout}"));
    assert!(
        line.starts_with("FAIL") && line.contains(fix) && line.contains("start it"),
        "{line}"
    );
    assert_eq!(
        stderr.trim(),
        format!("error: builds cannot work until these are fixed: {failing}")
    );
}

fn sha256(path: &Path) -> String {
    let line = ok(Command::new("sha256sum").arg(path));
    line.split_whitespace().next().unwrap().to_string()
}

/// `build-prod --export-binary` into a fresh folder from workspace `ws`; returns the binary.
fn export_binary(ws: &Path, dest: &Path, no_cache: bool) -> PathBuf {
    let _ = std::fs::remove_dir_all(dest);
    let mut args = vec!["build-prod"];
    if no_cache {
        args.push("--no-cache");
    }
    args.extend(["--export-binary", dest.to_str().unwrap()]);
    xtask_ok(
        &args,
        &[
            ("PIXIE_WORKSPACE", ws.to_str().unwrap()),
            ("PIXIE_PROD_IMAGE", "pixie-core:e2e-export"),
        ],
    );
    let binary = dest.join("pixie-core");
    assert!(binary.is_file(), "{} was not exported", binary.display());
    binary
}

#[test]
fn binary_is_reproducible_without_cache_and_follows_every_edit_of_one_checkout() {
    require_engine();
    // Workspace copies have no .git, so every build gets the same version stamp (dev/unknown)
    // and only the source can make their binaries differ.
    let tmp = std::env::temp_dir().join(unique_name("pixie-repro"));
    let (a, b) = (workspace_copy("repro-a"), workspace_copy("repro-b"));
    let _remove = [&a, &b, &tmp].map(|d| RemoveDir(d.clone()));
    let first = export_binary(&a, &tmp.join("a"), true);
    let second = export_binary(&b, &tmp.join("b"), true);
    let (sha_a, sha_b) = (sha256(&first), sha256(&second));
    eprintln!("reproducible binary: {sha_a} (two --no-cache builds from two copies)");
    assert_eq!(
        sha_a, sha_b,
        "two uncached builds of the same source differ"
    );

    // The same checkout, edited and built again with every cache warm (BuildKit's, or the
    // Podman < 5.4 builder's): the classic place for a stale binary. Then the edit undone.
    let main = a.join("core/cmd/pixie-core/main.go");
    let before = std::fs::read_to_string(&main).unwrap();
    let after = before.replacen("takes no arguments", "takes no arguments at all", 1);
    assert_ne!(before, after, "main.go no longer says `takes no arguments`");
    std::fs::write(&main, after).unwrap();
    let edited = export_binary(&a, &tmp.join("edited"), false);
    assert_ne!(
        sha_a,
        sha256(&edited),
        "a source edit did not change the binary"
    );
    std::fs::write(&main, before).unwrap();
    let undone = export_binary(&a, &tmp.join("undone"), false);
    assert_eq!(
        sha_a,
        sha256(&undone),
        "the edit undone did not give the first binary back"
    );

    // Same stamp in all of them (so the equality above is not trivially about the stamp), and
    // the exported binaries are real executables for this machine.
    let stamps: Vec<String> = [&first, &second, &edited, &undone]
        .iter()
        .map(|bin| ok(Command::new(bin).arg("version")))
        .collect();
    assert!(
        stamps.iter().all(|s| *s == stamps[0]) && stamps[0].contains("\"commit\""),
        "{stamps:?}"
    );
}

/// Whether `binary` says (in the module info Go embeds) that it was compiled from vendor/: a
/// vendored build records its dependencies without go.sum hashes, since vendor/modules.txt has
/// none, while a module-cache build records `h1:` hashes.
pub(crate) fn compiled_from_vendor(binary: &[u8]) -> bool {
    let has = |needle: &[u8]| binary.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(b"dep\tgo.etcd.io/bbolt\t"),
        "no embedded module info (built with -buildvcs=false it should still be there)"
    );
    !has(b"\th1:")
}

#[test]
fn vendored_build_needs_no_network_compiles_vendor_and_serves() {
    require_engine();
    let ws = workspace_copy("vendor");
    let _remove = RemoveDir(ws.clone());
    let ws_str = ws.to_str().unwrap();
    xtask_ok(&["vendor"], &[("PIXIE_WORKSPACE", ws_str)]);
    assert!(
        ws.join("core/vendor/modules.txt").is_file(),
        "cargo xtask vendor made no core/vendor/modules.txt"
    );
    let image = "pixie-core:e2e-vendor";
    let log = xtask_ok(
        &["-v", "build-prod", "--vendor"],
        &[("PIXIE_WORKSPACE", ws_str), ("PIXIE_PROD_IMAGE", image)],
    );
    let build_line = log
        .lines()
        .find(|l| l.contains(" build ") && l.contains("--file"))
        .unwrap_or_else(|| panic!("no docker build line in the -v output:\n{log}"));
    assert!(
        build_line.contains("--network=none") && build_line.contains("GO_MOD_MODE=vendor"),
        "build-prod --vendor did not build offline from vendor/: {build_line}"
    );
    assert!(
        !log.contains("go: downloading"),
        "the vendored build downloaded modules:\n{log}"
    );
    assert!(
        compiled_from_vendor(&binary_of(image)),
        "the --vendor image's binary was compiled from the module cache, not core/vendor"
    );
    assert!(
        !compiled_from_vendor(&binary_of(prod_image())),
        "the default image's binary claims to be vendored: the check cannot tell them apart"
    );
    let (_guard, id, port) = run_detached(image, &HARDENED);
    wait_healthy(&id, port, Duration::from_secs(30));
    let (status, body) = get_text(port, "/version").unwrap();
    assert_eq!(status, 200, "{body}");
}

/// Copies `/usr/local/bin/pixie-core` out of `image` without running it.
pub(crate) fn binary_of(image: &str) -> Vec<u8> {
    file_of(image, "/usr/local/bin/pixie-core")
}

/// Copies the file at `path` out of `image` without running it.
pub(crate) fn file_of(image: &str, path: &str) -> Vec<u8> {
    // Named before it exists: a create that fails half-way leaves nothing behind either.
    let created = unique_name("pixie-bin");
    let _guard = Containers(vec![created.clone()]);
    ok(docker().args(["create", "--name", &created, image]));
    // Named after the container: tests may copy out of the same image at the same time.
    let dest = std::env::temp_dir().join(format!("pixie-bin-{created}"));
    ok(docker()
        .args(["cp", &format!("{created}:{path}")])
        .arg(&dest));
    let bytes = std::fs::read(&dest).unwrap();
    let _ = std::fs::remove_file(&dest);
    bytes
}

/// The linux/arm64 production image, built once. The busybox runtime base that .ci/provision
/// makes is a local amd64-only image, and BuildKit then tries to pull an arm64 variant from
/// Docker Hub; `scratch` exists for every platform, so the arm64 build uses it.
fn arm64_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_engine();
        let image = "pixie-core:e2e-arm64";
        xtask_ok(
            &[
                "build-prod",
                "--module",
                "core",
                "--platform",
                "linux/arm64",
            ],
            &[
                ("PIXIE_RUNTIME_IMAGE", "scratch"),
                ("PIXIE_PROD_IMAGE", image),
            ],
        );
        image.to_string()
    })
}

#[test]
fn arm64_cross_build_holds_an_aarch64_binary() {
    let image = arm64_image();
    assert_eq!(inspect(image, "{{.Os}}/{{.Architecture}}"), "linux/arm64");
    assert_eq!(elf_machine(&binary_of(image)), 0xB7, "not AArch64");
    // The same check on the native image tells the two apart.
    assert_eq!(elf_machine(&binary_of(prod_image())), 0x3E, "not x86-64");
    eprintln!("image sizes: {image} {:.1} MB", image_size_mb(image));
}
