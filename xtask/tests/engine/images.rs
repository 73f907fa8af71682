//! Issue 4, "production and development images done right", checked on real images built by
//! `cargo xtask`: image structure, nothing secret or source in any layer, a hardened container
//! that serves and keeps its data, graceful stop, both runtime bases, and the compose files.

use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use xtask::testkit::docker::{
    assert_all_capabilities_dropped, compose, docker, engine, health_status, image_layer_paths,
    inspect, require_engine, run_detached, wait_healthy, Volumes,
};
use xtask::testkit::http::{self, get_text, multipart_file};
use xtask::testkit::png::png_rgb;
use xtask::testkit::{json, ok, repo_root, text, unique_name, wait_for, workspace_copy, RemoveDir};

use crate::{head_commit, image_size_mb, numeric_uid, prod_image, xtask_ok, HARDENED};

/// The production image on the `scratch` runtime base, built once.
fn scratch_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_engine();
        let image = "pixie-core:e2e-scratch";
        xtask_ok(
            &["build-prod", "--module", "core"],
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

/// Uploads `png` and returns the new photo's id.
fn upload(port: u16, png: &[u8]) -> String {
    let (content_type, body) = multipart_file("file", "e2e.png", "image/png", png);
    let resp = http::request(
        port,
        "POST",
        "/api/photos",
        &[("Content-Type", &content_type)],
        &body,
    )
    .unwrap();
    assert_eq!(resp.status, 201, "upload: {}", resp.text());
    let body = resp.text();
    let photo = json(&body);
    assert_eq!(photo["content_type"].as_str(), Some("image/png"), "{body}");
    photo["id"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| panic!("no id in {body}"))
}

fn assert_photo_served(port: u16, id: &str, png: &[u8]) {
    let list = http::request(port, "GET", "/api/photos", &[], &[]).unwrap();
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(
        list.text().contains(&format!("\"{id}\"")),
        "{id} not listed: {}",
        list.text()
    );
    let original =
        http::request(port, "GET", &format!("/api/photos/{id}/original"), &[], &[]).unwrap();
    assert_eq!(original.status, 200, "{}", original.text());
    assert_eq!(original.header("content-type"), Some("image/png"));
    assert!(original.body == png, "original differs from the upload");
    let thumb = http::request(
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
    let volume = unique_name("pixie-e2e-data");
    let _volume = Volumes(vec![volume.clone()]);
    ok(docker().args(["volume", "create", &volume]));
    let mount = format!("{volume}:/data");
    let mut args = HARDENED.to_vec();
    args.extend(["-v", &mount]);

    let png = png_rgb(96, 64, |x, y| [(x * 2) as u8, (y * 3) as u8, 0x5a]);
    let (guard, id, port) = run_detached(image, &args);
    wait_healthy(&id, port, Duration::from_secs(30));
    assert_eq!(
        inspect(
            &id,
            "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.SecurityOpt}}"
        ),
        r#"true ["no-new-privileges"]"#
    );
    assert_all_capabilities_dropped(&id);
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

fn assert_healthcheck_passes(image: &str) {
    let mut args = HARDENED.to_vec();
    args.extend(["--health-interval", "1s"]);
    let (_guard, id, port) = run_detached(image, &args);
    let state = wait_for(Duration::from_secs(30), || {
        match health_status(&id).as_str() {
            "healthy" => Some("healthy".to_string()),
            "unhealthy" => Some("unhealthy".to_string()),
            _ => None,
        }
    });
    let health = inspect(&id, "{{json .State.Health}}");
    assert_eq!(state.as_deref(), Some("healthy"), "{image}: {health}");
    let (status, body) = get_text(port, "/healthz").unwrap();
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
    compose_config_of(&[file], env)
}

/// `docker-compose -f FILE... config`, rendered with `env` (PIXIE_BIND unset), parsed.
fn compose_config_of(files: &[&str], env: &[(&str, &str)]) -> serde_yaml::Value {
    let mut cmd = compose();
    for file in files {
        cmd.args(["-f", file]);
    }
    let file = files.join(" + ");
    cmd.arg("config")
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

/// Ports as compose v1 renders them (`127.0.0.1:18080:8080/tcp`); compose v2 renders mappings
/// (`host_ip`, `published`, `target`, `protocol`), turned into the same text.
fn ports(v: &serde_yaml::Value) -> Vec<String> {
    let field = |p: &serde_yaml::Value, k: &str| match &p[k] {
        serde_yaml::Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|p| match p.as_str() {
            Some(text) => text.to_string(),
            None => format!(
                "{}:{}:{}/{}",
                field(p, "host_ip"),
                field(p, "published"),
                field(p, "target"),
                field(p, "protocol")
            ),
        })
        .collect()
}

/// Volumes as compose v1 renders them (`source:target:rw`); compose v2's mappings (`source`,
/// `target`, `read_only`) turned into the same text.
fn volumes(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|m| match m.as_str() {
            Some(text) => text.to_string(),
            None => format!(
                "{}:{}:{}",
                m["source"].as_str().unwrap_or_default(),
                m["target"].as_str().unwrap_or_default(),
                if m["read_only"].as_bool() == Some(true) {
                    "ro"
                } else {
                    "rw"
                }
            ),
        })
        .collect()
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
    assert_eq!(yaml_strings(&core["tmpfs"]), ["/tmp:size=16m,mode=1777"]);
    assert_eq!(yaml_strings(&core["cap_drop"]), ["ALL"]);
    // Bounds above the service's decode budget; each compose flavour spells the values its own way.
    for limit in ["mem_limit", "pids_limit", "cpus"] {
        assert!(
            !core[limit].is_null(),
            "compose.prod.yaml sets no {limit}: {core:?}"
        );
    }
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
        ports(&core["ports"]),
        ["127.0.0.1:18080:8080/tcp", "127.0.0.1:19090:9090/tcp"]
    );
    assert_eq!(volumes(&core["volumes"]), ["data:/data:rw"]);
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

    // With an API token: a file secret, named by path, never the token itself.
    let token_file = "/run/pixie-e2e/api-token";
    let with_token = compose_config_of(
        &[
            "deployments/docker/compose.prod.yaml",
            "deployments/docker/compose.prod.token.yaml",
        ],
        &[("PIXIE_API_TOKEN_HOST_FILE", token_file)],
    );
    let core = &with_token["services"]["core"];
    assert_eq!(
        core["environment"]["PIXIE_API_TOKEN_FILE"].as_str(),
        Some("/run/secrets/pixie_api_token")
    );
    assert!(core["environment"]["PIXIE_API_TOKEN"].is_null(), "{core:?}");
    assert_eq!(
        with_token["secrets"]["pixie_api_token"]["file"].as_str(),
        Some(token_file)
    );

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
        ports(&core["ports"]),
        ["127.0.0.1:8080:8080/tcp", "127.0.0.1:9090:9090/tcp"]
    );
    let volumes = volumes(&core["volumes"]);
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
