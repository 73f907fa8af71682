//! CI and shared caches: the GitHub Actions workflow passes actionlint, and a build cache pushed
//! to a real registry (Debian's docker-registry on loopback) by a shared BuildKit builder (a
//! buildx `remote` builder on buildkitd, as `.ci/provision-builders` sets it up) makes a cold
//! builder's rebuild reuse the Go compile step. Needs `bash .ci/provision-builders` (as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use xtask::testkit::docker::{docker, require_engine, run_detached, wait_healthy, Untag};
use xtask::testkit::registry::LocalRegistry;
use xtask::testkit::{ok, repo_root, text, workspace_copy, RemoveDir};

use crate::xtask;

pub(crate) const PROVISION_HINT: &str = "run `sudo bash .ci/provision-builders` first";

/// The dedicated docker config folder holding the buildx plugin and the `pixie-remote` builder.
pub(crate) fn builder_docker_config() -> PathBuf {
    std::env::var_os("PIXIE_CI_DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/pixie-ci/docker-config".into())
}

pub(crate) fn builder_name() -> String {
    std::env::var("PIXIE_CI_BUILDER").unwrap_or_else(|_| "pixie-remote".into())
}

fn actionlint() -> PathBuf {
    std::env::var_os("PIXIE_CI_ACTIONLINT")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/pixie-ci/tools/actionlint-v1.7.12/actionlint".into())
}

/// The docker CLI first on PATH (on our machines the 28.x one without buildx of its own): with
/// the dedicated DOCKER_CONFIG it loads the buildx plugin from there.
pub(crate) fn cli_on_path() -> PathBuf {
    which::which("docker").expect("no docker CLI on PATH")
}

/// `docker buildx ...` against the dedicated config.
pub(crate) fn buildx(args: &[&str]) -> Command {
    let mut cmd = Command::new(cli_on_path());
    cmd.env("DOCKER_CONFIG", builder_docker_config())
        .arg("buildx")
        .args(args);
    cmd
}

#[test]
fn ci_workflow_passes_actionlint_with_no_findings() {
    let actionlint = actionlint();
    assert!(
        actionlint.is_file(),
        "{} is missing; {PROVISION_HINT}",
        actionlint.display()
    );
    let workflow = repo_root().join(".github/workflows/ci.yml");
    let out = Command::new(&actionlint)
        .arg("-no-color")
        .arg(&workflow)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success() && stdout.is_empty() && stderr.is_empty(),
        "actionlint {}: {:?}\n{stdout}{stderr}",
        workflow.display(),
        out.status
    );

    // The workflow drives the README's commands, not hand-written docker builds.
    let yaml = std::fs::read_to_string(&workflow).unwrap();
    for needle in [
        "cargo xtask test",
        "cargo xtask build-prod",
        "--cache-to type=gha,scope=pixie-core,mode=max",
        "--push --tag",
        "reproducible-containers/buildkit-cache-dance@",
    ] {
        assert!(yaml.contains(needle), "ci.yml lacks `{needle}`");
    }
    // Supply chain: every action is pinned to a full commit SHA, with its version in a comment.
    for line in yaml
        .lines()
        .filter(|l| l.trim_start().starts_with("uses:") || l.trim_start().starts_with("- uses:"))
    {
        let reference = line.split("uses:").nth(1).unwrap().trim();
        let (action, rest) = reference.split_once('@').unwrap_or((reference, ""));
        let (sha, comment) = rest.split_once(" # v").unwrap_or((rest, ""));
        assert!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) && !comment.is_empty(),
            "{action} is not pinned to a commit SHA with `# vX.Y.Z`: {line}"
        );
    }
    assert!(
        !yaml.contains("docker build ") && !yaml.contains("docker buildx build"),
        "ci.yml builds images without the xtask"
    );
}

/// The effective value of one `cargo xtask config` key.
pub(crate) fn config_value(key: &str) -> String {
    let out = ok(xtask().args(["-q", "config"]));
    out.lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(key)).then(|| words.next().unwrap_or_default().to_string())
        })
        .unwrap_or_else(|| panic!("`cargo xtask config` has no {key}:\n{out}"))
}

/// The ids of the plain-progress steps whose header contains `needle`, e.g. `#13` for
/// `#13 [build 5/5] RUN ... go build ...`.
fn step_ids(log: &str, needle: &str) -> Vec<String> {
    let mut ids: Vec<String> = log
        .lines()
        .filter(|l| l.contains(needle) && l.contains(" ["))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.starts_with('#'))
        .map(String::from)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn step_cached(log: &str, id: &str) -> bool {
    log.lines().any(|l| l.trim() == format!("{id} CACHED"))
}

pub(crate) fn combined(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    format!("{stdout}\n{stderr}")
}

/// Runs `cargo xtask build-prod ARGS` on the remote builder; returns the output and how long
/// it took.
pub(crate) fn build_on_remote_builder(
    ws: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (String, f64) {
    let started = Instant::now();
    let out = xtask()
        .args(["build-prod", "--module", "core"])
        .args(["--builder", &builder_name()])
        .args(args)
        .env("DOCKER", cli_on_path())
        .env("DOCKER_CONFIG", builder_docker_config())
        .env("PIXIE_WORKSPACE", ws)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let log = combined(&out);
    assert!(out.status.success(), "build-prod {args:?} failed:\n{log}");
    (log, elapsed)
}

/// Fails the test unless the engine and the remote builder answer; the guard keeps the tests
/// that build on it one at a time (concurrent builds share vertices, which muddles the cache
/// checks, and one test empties the builder).
pub(crate) fn require_remote_builder() -> std::sync::MutexGuard<'static, ()> {
    static REMOTE_BUILDER: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = REMOTE_BUILDER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_engine();
    let inspect = buildx(&["inspect", "--bootstrap", &builder_name()])
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "buildx builder {} in {} does not answer ({PROVISION_HINT}):\n{}",
        builder_name(),
        builder_docker_config().display(),
        combined(&inspect)
    );
    guard
}

#[test]
fn a_cold_remote_builder_reuses_the_compile_step_from_the_registry_cache() {
    let _builder = require_remote_builder();
    let registry = LocalRegistry::start().unwrap_or_else(|e| panic!("{e:#}"));
    let reg = registry.host();
    let mut untag = Untag(Vec::new());
    let mut push = |image: &str| {
        registry
            .push_image(image, &mut untag.0)
            .unwrap_or_else(|e| panic!("{e:#}"))
    };
    let go_image = push(&config_value("base_images.go"));
    let runtime_image = push(&config_value("base_images.runtime"));
    // A frozen copy: concurrent edits of the checkout cannot change the cache keys mid-test.
    let ws = workspace_copy("registry-cache");
    let _remove = RemoveDir(ws.clone());

    let cache = format!("type=registry,ref={reg}/pixie-core:cache");
    let cache_to = format!("{cache},mode=max");
    let pushed = format!("{reg}/pixie-core:round-trip");
    let local = "pixie-core:registry-e2e";
    untag.0.push(local.to_string());
    let prune = || {
        ok(&mut buildx(&[
            "prune",
            "--builder",
            &builder_name(),
            "--all",
            "--force",
        ]));
    };

    // Cold: an empty builder (layers and cache mounts), an empty registry cache.
    prune();
    let (cold_log, cold_secs) = build_on_remote_builder(
        &ws,
        &[
            ("PIXIE_GO_IMAGE", &go_image),
            ("PIXIE_RUNTIME_IMAGE", &runtime_image),
            // Pushed too: every name of the build lands in the loopback registry.
            ("PIXIE_PROD_IMAGE", &format!("{reg}/pixie-core:cold")),
        ],
        &[
            "--push",
            // This test is about the cache; attestations have their own below.
            "--no-attest",
            "--tag",
            &pushed,
            "--cache-from",
            &cache,
            "--cache-to",
            &cache_to,
        ],
    );
    let compile = step_ids(&cold_log, "go-build.sh compile");
    assert_eq!(compile.len(), 1, "no single compile step:\n{cold_log}");
    let compile = &compile[0];
    assert!(
        !step_cached(&cold_log, compile),
        "the cold build did not compile:\n{cold_log}"
    );
    let tags = registry.tags("pixie-core").unwrap();
    assert!(
        tags.contains("\"round-trip\"") && tags.contains("\"cache\""),
        "pushed image or cache missing from the registry: {tags}"
    );

    // Another cold builder: nothing local, neither in the builder nor in the engine.
    prune();
    for name in [local, pushed.as_str()] {
        let _ = docker().args(["image", "rm", "-f", name]).output();
    }
    let (warm_log, warm_secs) = build_on_remote_builder(
        &ws,
        &[
            ("PIXIE_GO_IMAGE", &go_image),
            ("PIXIE_RUNTIME_IMAGE", &runtime_image),
            ("PIXIE_PROD_IMAGE", local),
        ],
        &["--cache-from", &cache],
    );
    let compile = step_ids(&warm_log, "go-build.sh compile");
    let download = step_ids(&warm_log, "go-build.sh rootfs modules");
    assert!(
        compile.len() == 1 && step_cached(&warm_log, &compile[0]),
        "the compile step was not reused from {reg}:\n{warm_log}"
    );
    assert!(
        download.len() == 1 && step_cached(&warm_log, &download[0]),
        "the module download was not reused from {reg}:\n{warm_log}"
    );

    let speedup = cold_secs / warm_secs;
    eprintln!(
        "registry cache (remote buildx builder, mode=max): cold build {cold_secs:.1}s, \
         rebuild on an emptied builder from the registry cache {warm_secs:.1}s ({speedup:.1}x)"
    );
    assert!(
        speedup >= 5.0,
        "rebuild from the registry cache only {speedup:.1}x faster than cold \
         ({warm_secs:.1}s vs {cold_secs:.1}s):\n{warm_log}"
    );

    // The loaded result serves.
    let (container, id, port) = run_detached(local, &[]);
    wait_healthy(&id, port, Duration::from_secs(30));
    drop(container);
    drop(untag);
}
