//! Issue 4, "production and development images done right", checked on real images built by
//! `cargo xtask`: the Dockerfiles' lint, image structure, nothing secret or source in any layer,
//! a small build context (running containers: containers.rs; compose files: compose_files.rs).

use std::process::Command;
use std::sync::OnceLock;

use xtask::testkit::docker::{docker, engine, image_layer_paths, inspect, require_engine};
use xtask::testkit::{ok, repo_root, text, workspace_copy, RemoveDir};

use crate::{head_commit, image_size_mb, numeric_uid, prod_image, xtask_ok};

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
            &["build-prod", "--module", "core"],
            &[
                ("PIXIE_WORKSPACE", ws.to_str().unwrap()),
                ("PIXIE_PROD_IMAGE", &image),
            ],
        );
        DecoyBuild { image, log }
    })
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
    let uid = numeric_uid(&user);
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
fn no_secret_source_or_cache_reaches_any_layer_of_the_decoy_or_the_real_image() {
    let build = decoy_build();
    let listed = assert_clean_layers(&build.image);
    // The image built from the real workspace, too.
    let listed_prod = assert_clean_layers(prod_image());
    eprintln!(
        "layers checked: {listed} paths in {}, {listed_prod} in {}",
        build.image,
        prod_image()
    );
}

/// BuildKit engines only (A, B): BuildKit sends the context to the daemon, and .dockerignore
/// decides what goes. Podman's buildah reads the folder in place and sends nothing, so there is
/// no context to measure (and its bind mounts ignore .dockerignore: README "Supported engines");
/// `cargo xtask test` leaves this test out of engine C's run.
#[test]
fn buildkit_context_stays_small_with_decoys_in_the_workspace() {
    assert!(
        engine().cli.route.is_buildkit(),
        "a BuildKit-only test ran on {}; `cargo xtask test` runs it on BuildKit engines only",
        engine().cli.path.display()
    );
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
}
