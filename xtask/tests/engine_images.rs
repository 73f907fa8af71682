//! Issue 4, "production and development images done right", checked on real images built by
//! `cargo xtask` through a real engine: image structure, nothing secret or source in any layer,
//! a hardened container that serves and keeps its data, graceful stop, reproducible binaries,
//! offline (vendored) builds, the arm64 cross build, both runtime bases, and the compose files.
//! Every image variant is built once per test binary (OnceLock helpers below). libtest starts
//! tests in name order, so the two slowest (the uncached reproducibility builds and the dev
//! container's first compile) have names that sort early and overlap the rest.
#![cfg(feature = "engine-tests")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::*;

/// The flags the production compose file runs with, for `docker run`.
const HARDENED: [&str; 7] = [
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];

/// Runs `cargo xtask <args>` with `env`, requires success, returns stdout + stderr.
fn xtask_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = xtask()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "cargo xtask {args:?} (env {env:?}) failed:\n{stdout}\n{stderr}"
    );
    format!("{stdout}{stderr}")
}

/// The production image on the `scratch` runtime base, built once.
fn scratch_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_engine();
        let image = "pixie-core:e2e-scratch";
        xtask_ok(
            &["build-prod"],
            &[
                ("PIXIE_RUNTIME_IMAGE", "scratch"),
                ("PIXIE_PROD_IMAGE", image),
            ],
        );
        image.to_string()
    })
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
            &["build-prod", "--platform", "linux/arm64"],
            &[
                ("PIXIE_RUNTIME_IMAGE", "scratch"),
                ("PIXIE_PROD_IMAGE", image),
            ],
        );
        image.to_string()
    })
}

/// Marker written into every decoy file: it must appear in no byte of the saved image.
const DECOY_MARKER: &str = "PIXIE-DECOY-7f3a9c";
/// Each decoy is padded past the context-size limit, so any decoy sent to the daemon fails
/// the size check even if no layer ever copies it.
const DECOY_BYTES: usize = 6_000_000;
const CONTEXT_LIMIT_BYTES: f64 = 5_000_000.0;
const DECOYS: [&str; 9] = [
    ".env",
    "core/.env",
    "core/.env.local",
    "core/secret.pem",
    "core/tls.key",
    "core/id_rsa",
    "core/.git/config",
    "proto/.git/HEAD",
    "target/junk",
];

struct DecoyBuild {
    image: String,
    log: String,
}

/// A workspace copy full of decoy secrets, VCS data and junk, built once through the xtask.
fn decoy_build() -> &'static DecoyBuild {
    static BUILD: OnceLock<DecoyBuild> = OnceLock::new();
    BUILD.get_or_init(|| {
        require_engine();
        let ws = workspace_copy("decoys");
        let _remove = RemoveDir(ws.clone());
        let mut padding = format!("{DECOY_MARKER}\n").into_bytes();
        padding.resize(DECOY_BYTES, b'x');
        for decoy in DECOYS {
            let path = ws.join(decoy);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &padding).unwrap();
        }
        let image = "pixie-core:e2e-decoys".to_string();
        let log = xtask_ok(
            &["build-prod"],
            &[
                ("PIXIE_WORKSPACE", ws.to_str().unwrap()),
                ("PIXIE_PROD_IMAGE", &image),
            ],
        );
        DecoyBuild { image, log }
    })
}

fn inspect(image_or_container: &str, format: &str) -> String {
    ok(docker().args(["inspect", "--format", format, image_or_container]))
}

fn image_size_mb(image: &str) -> f64 {
    inspect(image, "{{.Size}}").parse::<f64>().unwrap() / 1e6
}

fn head_commit() -> String {
    ok(Command::new("git")
        .arg("-C")
        .arg(repo_root())
        .args(["rev-parse", "HEAD"]))
}

#[test]
fn dockerfiles_pass_the_pinned_hadolint_and_ignores_carry_a_reason() {
    let provision = std::fs::read_to_string(repo_root().join(".ci/provision")).unwrap();
    let pinned = provision
        .lines()
        .find_map(|l| l.strip_prefix("HADOLINT_VERSION="))
        .expect(".ci/provision pins HADOLINT_VERSION")
        .trim()
        .to_string();
    let version = ok(Command::new("hadolint").arg("--version"));
    assert!(
        version.ends_with(&format!(" {pinned}")),
        "hadolint is {version:?}, .ci/provision pins {pinned}: run `bash .ci/provision`"
    );
    let files = [
        "deployments/docker/core.Dockerfile",
        "deployments/docker/core.dev.Dockerfile",
    ];
    let out = Command::new("hadolint")
        .args(files)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "hadolint:\n{stdout}{stderr}");
    assert!(
        !repo_root().join(".hadolint.yaml").exists() && !repo_root().join(".hadolint.yml").exists(),
        "rules are ignored inline with their reason, not in a global .hadolint.yaml"
    );
    for file in files {
        let lines: Vec<String> = std::fs::read_to_string(repo_root().join(file))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("hadolint ignore=") {
                let reason = i
                    .checked_sub(1)
                    .map(|p| lines[p].trim_start())
                    .filter(|p| p.starts_with('#') && p.len() > 10 && !p.contains("hadolint"));
                assert!(
                    reason.is_some(),
                    "{file}:{}: `{line}` needs a comment line above it saying why",
                    i + 1
                );
            }
        }
    }
}

#[test]
fn prod_image_is_non_root_exec_form_labelled_healthchecked_with_a_data_volume() {
    let image = prod_image();
    let user = inspect(image, "{{.Config.User}}");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER is not numeric: {user:?}"));
    assert_ne!(uid, 0, "USER {user} is root");
    if let Some(gid) = user.split(':').nth(1) {
        assert!(gid.parse::<u32>().is_ok_and(|g| g != 0), "group {user}");
    }
    assert_eq!(
        inspect(image, "{{json .Config.Entrypoint}}"),
        r#"["/usr/local/bin/pixie-core"]"#
    );
    assert_eq!(
        inspect(image, "{{json .Config.ExposedPorts}}"),
        r#"{"8080/tcp":{},"9090/tcp":{}}"#
    );
    assert_eq!(
        inspect(image, "{{json .Config.Volumes}}"),
        r#"{"/data":{}}"#
    );
    assert_eq!(
        inspect(image, "{{json .Config.Healthcheck.Test}}"),
        r#"["CMD","/usr/local/bin/pixie-core","healthcheck"]"#
    );

    let label = |key: &str| {
        inspect(
            image,
            &format!("{{{{index .Config.Labels \"org.opencontainers.image.{key}\"}}}}"),
        )
    };
    assert_eq!(label("revision"), head_commit());
    let version = label("version");
    assert!(
        !version.is_empty() && version != "dev",
        "version label {version:?} should come from git describe"
    );
    let created = label("created");
    // RFC 3339 UTC, e.g. 2026-11-25T13:57:27Z (the commit's date, so rebuilds agree).
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "created label {created:?}"
    );
    let commit_epoch: i64 =
        ok(Command::new("git")
            .arg("-C")
            .arg(repo_root())
            .args(["log", "-1", "--format=%ct"]))
        .parse()
        .unwrap();
    let commit_day = ok(Command::new("date").args([
        "-u",
        "-d",
        &format!("@{commit_epoch}"),
        "+%Y-%m-%dT%H:%M:%SZ",
    ]));
    assert_eq!(created, commit_day, "created is the commit date");
    assert!(
        label("source").starts_with("https://"),
        "source label {:?}",
        label("source")
    );
    eprintln!("image sizes: {image} {:.1} MB", image_size_mb(image));
}

/// Paths that must never be in an image layer, with the rule each breaks.
fn forbidden(path: &str) -> Option<&'static str> {
    let path = path.trim_end_matches('/');
    let name = path.rsplit('/').next().unwrap_or(path);
    let components: Vec<&str> = path.split('/').collect();
    if components.contains(&".git") {
        return Some("version-control data");
    }
    if name == ".env" || name.starts_with(".env.") {
        return Some(".env file");
    }
    // CA bundles under etc/ssl are public certificates (alpine ships them as *.pem).
    if (name.ends_with(".pem") && !path.starts_with("etc/ssl/"))
        || name.ends_with(".key")
        || name.ends_with(".p12")
        || name.starts_with("id_rsa")
        || name.starts_with("id_ed25519")
    {
        return Some("private key");
    }
    if name.ends_with(".go") || name == "go.mod" || name == "go.sum" || name == "vendor" {
        return Some("Go source");
    }
    if path.contains("go-build")
        || path.contains("pkg/mod")
        || path.starts_with("root/.cache")
        || path.starts_with("usr/local/go")
        || path.starts_with("go/")
    {
        return Some("Go toolchain or build/module cache");
    }
    if name == "junk" || name == "secret.pem" || name == "tls.key" {
        return Some("decoy");
    }
    None
}

fn assert_clean_layers(image: &str) -> usize {
    let paths = image_layer_paths(image);
    assert!(
        paths.iter().any(|(_, p)| p == "usr/local/bin/pixie-core"),
        "layer listing of {image} lacks the binary; the listing itself is broken: {paths:?}"
    );
    let bad: Vec<String> = paths
        .iter()
        .filter_map(|(layer, p)| forbidden(p).map(|why| format!("{why}: {p} (layer {layer})")))
        .collect();
    assert!(bad.is_empty(), "{image} layers hold:\n{}", bad.join("\n"));

    // Nor any byte of a decoy, anywhere in the saved image (layers, config, history).
    let saved = docker().args(["save", image]).output().unwrap();
    assert!(saved.status.success(), "docker save {image}");
    let marker = DECOY_MARKER.as_bytes();
    assert!(
        !saved.stdout.windows(marker.len()).any(|w| w == marker),
        "a decoy's content is in the saved image {image}"
    );
    paths.len()
}

/// Sizes in BuildKit's plain progress, e.g. `transferring context: 106.28kB done`.
fn context_bytes(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| l.split_once("transferring context: ").map(|(_, r)| r))
        .filter_map(|rest| {
            let size = rest.split_whitespace().next()?;
            let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let unit = &size[digits.len()..];
            let scale = match unit {
                "B" => 1.0,
                "kB" | "KB" | "KiB" => 1e3,
                "MB" | "MiB" => 1e6,
                "GB" | "GiB" => 1e9,
                _ => return None,
            };
            Some(digits.parse::<f64>().ok()? * scale)
        })
        .collect()
}

#[test]
fn no_secret_source_or_cache_reaches_any_layer_and_the_context_stays_small() {
    let build = decoy_build();
    let sizes = context_bytes(&build.log);
    assert!(
        !sizes.is_empty(),
        "no `transferring context` line in the build output (plain progress expected):\n{}",
        build.log
    );
    let context = sizes.iter().cloned().fold(0.0, f64::max);
    // BuildKit sends only what its last snapshot of a context lacks, and the decoys are new
    // files: any decoy that got past .dockerignore would add its 6 MB here.
    eprintln!(
        "build context sent to the daemon from a workspace with {} x {} MB decoys: {:.1} kB",
        DECOYS.len(),
        DECOY_BYTES / 1_000_000,
        context / 1e3
    );
    assert!(
        context < CONTEXT_LIMIT_BYTES,
        "build context was {:.1} MB (a decoy or junk reached the daemon):\n{}",
        context / 1e6,
        build.log
    );
    let listed = assert_clean_layers(&build.image);
    // The image built from the real workspace, too.
    let listed_prod = assert_clean_layers(prod_image());
    eprintln!(
        "layers checked: {listed} paths in {}, {listed_prod} in {}",
        build.image,
        prod_image()
    );
}

/// Uploads `png` and returns the new photo's id.
fn upload(port: u16, png: &[u8]) -> String {
    let (content_type, body) = multipart_file("file", "e2e.png", "image/png", png);
    let resp = http_request(
        port,
        "POST",
        "/api/photos",
        &[("Content-Type", &content_type)],
        &body,
    )
    .unwrap();
    assert_eq!(resp.status, 201, "upload: {}", resp.text());
    let json = resp.text();
    assert_eq!(
        json_field(&json, "content_type").as_deref(),
        Some("image/png"),
        "{json}"
    );
    json_field(&json, "id").unwrap_or_else(|| panic!("no id in {json}"))
}

fn assert_photo_served(port: u16, id: &str, png: &[u8]) {
    let list = http_request(port, "GET", "/api/photos", &[], &[]).unwrap();
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(
        list.text().contains(&format!("\"{id}\"")),
        "{id} not listed: {}",
        list.text()
    );
    let original =
        http_request(port, "GET", &format!("/api/photos/{id}/original"), &[], &[]).unwrap();
    assert_eq!(original.status, 200, "{}", original.text());
    assert_eq!(original.header("content-type"), Some("image/png"));
    assert!(original.body == png, "original differs from the upload");
    let thumb = http_request(
        port,
        "GET",
        &format!("/api/photos/{id}/thumbnail?size=64"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(thumb.status, 200, "{}", thumb.text());
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    assert!(
        thumb.body.starts_with(&[0xff, 0xd8, 0xff]) && thumb.body.ends_with(&[0xff, 0xd9]),
        "thumbnail is not a JPEG ({} bytes)",
        thumb.body.len()
    );
}

#[test]
fn hardened_container_stores_photos_that_survive_a_new_container_on_the_volume() {
    let image = prod_image();
    let volume = format!("pixie-e2e-data-{}", std::process::id());
    let _volume = Volumes(vec![volume.clone()]);
    ok(docker().args(["volume", "create", &volume]));
    let mount = format!("{volume}:/data");
    let mut args = HARDENED.to_vec();
    args.extend(["-v", &mount]);

    let png = png_rgb(96, 64, |x, y| [(x * 2) as u8, (y * 3) as u8, 0x5a]);
    let (guard, id, port) = run_detached(image, &args);
    wait_healthy(&id, port, Duration::from_secs(30));
    assert_eq!(
        inspect(&id, "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}}"),
        r#"true ["ALL"] ["no-new-privileges"]"#
    );
    // As the kernel sees the service: no capabilities at all, and no privilege gain possible.
    let status = ok(docker().args(["exec", &id, "cat", "/proc/1/status"]));
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {k} in {status}"))
            .to_string()
    };
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapBnd:"), "0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "1");
    // Even root (which owns /usr) cannot write there: the root filesystem is read-only.
    let write = docker()
        .args(["exec", "-u", "0", &id, "touch", "/usr/x"])
        .output()
        .unwrap();
    let (_, why) = text(&write);
    assert!(
        !write.status.success() && why.contains("Read-only file system"),
        "the root filesystem is writable: {why}"
    );

    let photo = upload(port, &png);
    assert_photo_served(port, &photo, &png);
    drop(guard); // rm -f -v: the container and anonymous volumes go, the named volume stays

    let (_guard, id2, port2) = run_detached(image, &args);
    wait_healthy(&id2, port2, Duration::from_secs(30));
    assert_photo_served(port2, &photo, &png);
}

#[test]
fn docker_stop_ends_the_service_through_its_own_sigterm_handling_within_2s() {
    let image = prod_image();
    let (_guard, id, port) = run_detached(image, &HARDENED);
    wait_healthy(&id, port, Duration::from_secs(30));
    let started = Instant::now();
    ok(docker().args(["stop", "--time", "10", &id]));
    let took = started.elapsed();
    eprintln!("docker stop took {:.2}s", took.as_secs_f64());
    let logs = docker().args(["logs", &id]).output().unwrap();
    let (out, err) = text(&logs);
    assert!(
        took < Duration::from_secs(2),
        "docker stop took {took:?} (SIGTERM ignored? the engine kills after --time):\n{out}{err}"
    );
    assert_eq!(
        inspect(&id, "{{.State.ExitCode}} {{.State.OOMKilled}}"),
        "0 false",
        "{out}{err}"
    );
    assert!(
        err.contains("shutdown complete") || out.contains("shutdown complete"),
        "the service did not log its own shutdown:\n{out}{err}"
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
fn binary_is_reproducible_without_cache_and_changes_with_the_source() {
    require_engine();
    // Workspace copies have no .git, so all three builds get the same version stamp
    // (dev/unknown) and only the source can make their binaries differ.
    let tmp = std::env::temp_dir().join(format!("pixie-repro-{}", std::process::id()));
    let (a, b, edited) = (
        workspace_copy("repro-a"),
        workspace_copy("repro-b"),
        workspace_copy("repro-edit"),
    );
    let _remove = [&a, &b, &edited, &tmp].map(|d| RemoveDir(d.clone()));
    let first = export_binary(&a, &tmp.join("a"), true);
    let second = export_binary(&b, &tmp.join("b"), true);
    let (sha_a, sha_b) = (sha256(&first), sha256(&second));
    eprintln!("reproducible binary: {sha_a} (two --no-cache builds from two copies)");
    assert_eq!(
        sha_a, sha_b,
        "two uncached builds of the same source differ"
    );

    let main = edited.join("core/cmd/pixie-core/main.go");
    let before = std::fs::read_to_string(&main).unwrap();
    let after = before.replacen("takes no arguments", "takes no arguments at all", 1);
    assert_ne!(before, after, "main.go no longer says `takes no arguments`");
    std::fs::write(&main, after).unwrap();
    let third = export_binary(&edited, &tmp.join("edited"), false);
    let sha_edit = sha256(&third);
    assert_ne!(sha_a, sha_edit, "a source edit did not change the binary");

    // Same stamp in all three (so the equality above is not trivially about the stamp), and
    // the exported binaries are real executables for this machine.
    let stamps: Vec<String> = [&first, &second, &third]
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
fn compiled_from_vendor(binary: &[u8]) -> bool {
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
    let (status, body) = http_get(port, "/version").unwrap();
    assert_eq!(status, 200, "{body}");
}

/// Copies `/usr/local/bin/pixie-core` out of `image` without running it.
fn binary_of(image: &str) -> Vec<u8> {
    let created = ok(docker().args(["create", image]));
    let _guard = Containers(vec![created.clone()]);
    // Named after the container: tests may copy out of the same image at the same time.
    let dest = std::env::temp_dir().join(format!("pixie-bin-{created}"));
    ok(docker()
        .args(["cp", &format!("{created}:/usr/local/bin/pixie-core")])
        .arg(&dest));
    let bytes = std::fs::read(&dest).unwrap();
    let _ = std::fs::remove_file(&dest);
    bytes
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

fn assert_healthcheck_passes(image: &str) {
    let mut args = HARDENED.to_vec();
    args.extend(["--health-interval", "1s"]);
    let (_guard, id, port) = run_detached(image, &args);
    let state = wait_for(Duration::from_secs(30), || {
        match inspect(&id, "{{.State.Health.Status}}").as_str() {
            "healthy" => Some("healthy".to_string()),
            "unhealthy" => Some("unhealthy".to_string()),
            _ => None,
        }
    });
    let health = inspect(&id, "{{json .State.Health}}");
    assert_eq!(state.as_deref(), Some("healthy"), "{image}: {health}");
    let (status, body) = http_get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{image}: {body}");
    eprintln!("image sizes: {image} {:.1} MB", image_size_mb(image));
}

#[test]
fn busybox_runtime_image_becomes_healthy() {
    assert_healthcheck_passes(prod_image());
}

#[test]
fn scratch_runtime_image_becomes_healthy() {
    let image = scratch_image();
    // Really scratch: no shell in any layer.
    let paths = image_layer_paths(image);
    assert!(
        !paths
            .iter()
            .any(|(_, p)| p == "bin/sh" || p == "bin/busybox"),
        "{image} has a shell"
    );
    assert_healthcheck_passes(image);
}

/// `docker-compose -f FILE config`, rendered with `env` (PIXIE_BIND unset), parsed.
fn compose_config(file: &str, env: &[(&str, &str)]) -> serde_yaml::Value {
    let mut cmd = Command::new("docker-compose");
    cmd.args(["-f", file, "config"])
        .current_dir(repo_root())
        .env_remove("PIXIE_BIND")
        .env_remove("PIXIE_AIR_POLL")
        .envs(env.iter().copied());
    let rendered = ok(&mut cmd);
    serde_yaml::from_str(&rendered).unwrap_or_else(|e| panic!("{file}: {e}\n{rendered}"))
}

fn yaml_strings(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_files_render_hardened_loopback_only_and_with_named_volumes() {
    let env = [
        ("PIXIE_IMAGE", "pixie-core:e2e-config"),
        ("PIXIE_HTTP_PORT", "18080"),
        ("PIXIE_GRPC_PORT", "19090"),
    ];
    let prod = compose_config("deployments/docker/compose.prod.yaml", &env);
    let core = &prod["services"]["core"];
    assert_eq!(core["image"].as_str(), Some("pixie-core:e2e-config"));
    assert_eq!(core["read_only"].as_bool(), Some(true), "{core:?}");
    assert_eq!(yaml_strings(&core["tmpfs"]), ["/tmp"]);
    assert_eq!(yaml_strings(&core["cap_drop"]), ["ALL"]);
    assert_eq!(
        yaml_strings(&core["security_opt"]),
        ["no-new-privileges:true"]
    );
    assert!(
        matches!(core["restart"].as_str(), Some("unless-stopped" | "always")),
        "{core:?}"
    );
    assert_eq!(
        yaml_strings(&core["healthcheck"]["test"]),
        ["CMD", "/usr/local/bin/pixie-core", "healthcheck"]
    );
    assert_eq!(
        yaml_strings(&core["ports"]),
        ["127.0.0.1:18080:8080/tcp", "127.0.0.1:19090:9090/tcp"]
    );
    assert_eq!(yaml_strings(&core["volumes"]), ["data:/data:rw"]);
    assert!(prod["volumes"]["data"].is_mapping(), "{prod:?}");
    // No secrets in the file: nothing credential-like in the environment it sets.
    if let Some(environment) = core["environment"].as_mapping() {
        for key in environment.keys().filter_map(|k| k.as_str()) {
            let k = key.to_ascii_uppercase();
            assert!(
                !["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
                    .iter()
                    .any(|s| k.contains(s)),
                "compose.prod.yaml sets {key}: secrets come from the environment"
            );
        }
    }

    let dev = compose_config(
        "deployments/docker/compose.dev.yaml",
        &[
            ("PIXIE_IMAGE", "pixie-core-dev:e2e-config"),
            ("PIXIE_AIR_POLL", "true"),
        ],
    );
    let core = &dev["services"]["core"];
    assert_eq!(core["init"].as_bool(), Some(true), "{core:?}");
    assert_eq!(core["environment"]["AIR_POLL"].as_str(), Some("true"));
    assert_eq!(
        yaml_strings(&core["ports"]),
        ["127.0.0.1:8080:8080/tcp", "127.0.0.1:9090:9090/tcp"]
    );
    let volumes = yaml_strings(&core["volumes"]);
    for named in [
        "go-build-cache:/root/.cache/go-build:rw",
        "go-mod-cache:/go/pkg/mod:rw",
    ] {
        assert!(volumes.iter().any(|v| v == named), "{named} in {volumes:?}");
    }
    for name in ["go-build-cache", "go-mod-cache"] {
        assert!(dev["volumes"][name].is_mapping(), "named volume {name}");
    }
    assert!(
        volumes.iter().any(|v| v.ends_with(":/src/core:rw")),
        "{volumes:?}"
    );
    let dev_default = compose_config(
        "deployments/docker/compose.dev.yaml",
        &[("PIXIE_IMAGE", "x")],
    );
    assert_eq!(
        dev_default["services"]["core"]["environment"]["AIR_POLL"].as_str(),
        Some("false"),
        "polling is opt-in"
    );
}

/// `key = value` from air.toml (the file is flat enough for this).
fn toml_value(toml: &str, key: &str) -> String {
    toml.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
        })
        .unwrap_or_else(|| panic!("air.toml has no {key}"))
}

#[test]
fn air_is_pinned_interrupts_gracefully_and_builds_outside_the_source() {
    let dockerfile =
        std::fs::read_to_string(repo_root().join("deployments/docker/core.dev.Dockerfile"))
            .unwrap();
    let pin = dockerfile
        .lines()
        .find_map(|l| l.trim().strip_prefix("ARG AIR_VERSION="))
        .expect("core.dev.Dockerfile pins ARG AIR_VERSION");
    let parts: Vec<&str> = pin.trim_start_matches('v').split('.').collect();
    assert!(
        pin.starts_with('v') && parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "AIR_VERSION {pin:?} is not an exact version"
    );
    assert!(dockerfile.contains("go install github.com/air-verse/air@${AIR_VERSION}"));
    assert!(
        dockerfile.contains("-build.poll \\\"$AIR_POLL\\\""),
        "the entrypoint must switch polling with AIR_POLL"
    );

    let air = std::fs::read_to_string(repo_root().join("deployments/docker/air.toml")).unwrap();
    assert_eq!(toml_value(&air, "send_interrupt"), "true");
    let kill_delay = toml_value(&air, "kill_delay");
    let ms: u64 = kill_delay
        .strip_suffix("ms")
        .and_then(|n| n.parse().ok())
        .or_else(|| {
            kill_delay
                .strip_suffix('s')
                .and_then(|n| n.parse::<u64>().ok())
                .map(|s| s * 1000)
        })
        .unwrap_or_else(|| panic!("kill_delay {kill_delay:?}"));
    assert!(ms > 0 && ms <= 1000, "kill_delay {kill_delay}");
    let delay: u64 = toml_value(&air, "delay").parse().unwrap();
    assert!(delay <= 500, "delay {delay} ms");
    let root = toml_value(&air, "root");
    let tmp = toml_value(&air, "tmp_dir");
    assert!(
        !tmp.starts_with(&root),
        "tmp_dir {tmp} is inside the mounted {root}"
    );
    let cmd = toml_value(&air, "cmd");
    let out = cmd
        .split_whitespace()
        .skip_while(|w| *w != "-o")
        .nth(1)
        .unwrap_or_else(|| panic!("no -o in build cmd {cmd}"));
    assert!(
        out.starts_with('/') && !out.starts_with(&root),
        "build output {out} must be outside the mounted {root}"
    );
    let excluded = toml_value(&air, "exclude_dir");
    for dir in ["vendor", "tmp", "testdata"] {
        assert!(
            excluded.contains(&format!("\"{dir}\"")),
            "exclude_dir {excluded}"
        );
    }
}

#[test]
fn dev_container_with_air_poll_watches_by_polling_and_reloads_an_edit() {
    require_engine();
    let dev_image = "pixie-core-dev:e2e-images";
    xtask_ok(&["build-dev"], &[("PIXIE_DEV_IMAGE", dev_image)]);
    let ws = workspace_copy("run-dev-poll");
    let _remove = RemoveDir(ws.clone());
    let prefix = format!("xtask-e2e-poll-{}", std::process::id());
    let project = format!("{prefix}-dev");
    let _cleanup = ProjectCleanup(project.clone());
    let mut run = RunDev::start(&ws, &prefix, dev_image, &[("PIXIE_AIR_POLL", "true")]);
    let log = || run.log();
    let version = || run.version();
    let first = wait_for(Duration::from_secs(300), version);
    assert!(first.is_some(), "run-dev never served:\n{}", log());

    // air polls instead of using inotify: it holds no inotify descriptor.
    let filter = format!("label=com.docker.compose.project={project}");
    let container = ok(docker().args(["ps", "-q", "--filter", &filter]));
    let fds = ok(docker().args([
        "exec",
        container.trim(),
        "sh",
        "-c",
        "ls -l /proc/$(pidof air)/fd",
    ]));
    assert!(
        fds.contains("/proc/") || fds.contains("->"),
        "could not list air's descriptors: {fds}"
    );
    assert!(
        !fds.contains("inotify"),
        "AIR_POLL=true but air watches with inotify:\n{fds}"
    );

    let saved = edit_default_version(&ws, "dev-polled");
    let reloaded = wait_for(Duration::from_secs(10), || {
        version().filter(|b| b.contains("dev-polled"))
    });
    let took = saved.elapsed();
    sigint(&run.child);
    let status = wait_for(Duration::from_secs(60), || run.child.try_wait().unwrap());
    assert!(
        reloaded.is_some(),
        "edit not served within 10 s while polling:\n{}",
        run.log()
    );
    eprintln!(
        "hot reload under polling: edit served after {:.2}s",
        took.as_secs_f64()
    );
    assert_eq!(status.and_then(|s| s.code()), Some(130), "{}", run.log());
}
