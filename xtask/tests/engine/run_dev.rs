//! run-dev: hot reload of an edit (inotify and polling), Ctrl-C cleanup after a reload, the
//! `.proto` watch, and the air config (the other Ctrl-C cases: run_dev_stop.rs).

use std::path::{Path, PathBuf};
use std::time::Duration;

use xtask::testkit::docker::{docker, require_engine, TestProject};
use xtask::testkit::http::get_text;
use xtask::testkit::http::published_ip;
use xtask::testkit::{
    free_port, json, ok, repo_root, sigint, text, wait_for, workspace_copy, RemoveDir, ALBUM_PROTO,
};

use crate::{dev_image, xtask};

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
        get_text(self.http, "/version")
            .ok()
            .filter(|(s, _)| *s == 200)
            .map(|(_, body)| body)
    }
}

impl RunDev {
    /// Ctrl-C: run-dev exits 130 within a minute and leaves no container or network.
    pub fn interrupt(&mut self, project: &TestProject) {
        sigint(&self.child);
        let status = wait_for(Duration::from_secs(60), || self.child.try_wait().unwrap());
        let Some(status) = status else {
            let _ = self.child.kill();
            panic!(
                "run-dev did not exit within 60 s of SIGINT:\n{}",
                self.log()
            )
        };
        assert_eq!(status.code(), Some(130), "{}", self.log());
        project.assert_gone(&self.log());
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

/// Rewrites the `Version = "dev"` default in a workspace copy's core buildinfo.go to `version`, the
/// edit the hot-reload tests watch for; returns when it was saved.
pub fn edit_default_version(ws: &Path, version: &str) -> std::time::Instant {
    edit_version_in(ws, "core/internal/buildinfo/buildinfo.go", version)
}

/// Like [`edit_default_version`], in the buildinfo.go at `path` (another module's).
pub fn edit_version_in(ws: &Path, path: &str, version: &str) -> std::time::Instant {
    let source = ws.join(path);
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

#[test]
fn run_dev_reloads_an_edit_and_sigint_leaves_no_container_or_network() {
    require_engine();
    let ws = workspace_copy("run-dev");
    let _remove = RemoveDir(ws.clone());
    let project = TestProject::new("xtask-e2e", "dev");
    let prefix = project.prefix.clone();
    let mut run = RunDev::start(&ws, &prefix, "pixie-core-dev:e2e", &[]);
    let log = || run.log();
    let version = || run.version();

    // First start builds the dev image if needed, downloads modules and compiles.
    let first = wait_for(Duration::from_secs(300), version)
        .unwrap_or_else(|| panic!("run-dev never served:\n{}", log()));
    assert_eq!(json(&first)["version"].as_str(), Some("dev"), "{first}");
    let ready = format!("xtask: ready on http://{}:{} in ", published_ip(), run.http);
    let announced = wait_for(Duration::from_secs(5), || {
        log().contains(&ready).then_some(())
    });
    assert!(announced.is_some(), "no {ready:?} line:\n{}", log());

    let saved = edit_default_version(&ws, "dev-reloaded");
    let reloaded = wait_for(Duration::from_secs(10), || {
        version().filter(|b| b.contains("dev-reloaded"))
    });
    assert!(
        reloaded.is_some(),
        "edit not served within 10 s:\n{}",
        log()
    );
    eprintln!(
        "hot reload: edit served after {:.2}s",
        saved.elapsed().as_secs_f64()
    );

    run.interrupt(&project);
}

/// The pid of the container's pixie-core when its executable holds `name` (code generated from
/// an edited .proto embeds its message names).
fn serving_pid_with(container: &str, name: &str) -> Option<String> {
    let script = format!("pid=$(pidof pixie-core) && grep -q {name} /proc/$pid/exe && echo $pid");
    let out = docker()
        .args(["exec", container, "sh", "-c", &script])
        .output()
        .unwrap();
    let pid = text(&out).0.trim().to_string();
    (out.status.success() && !pid.is_empty()).then_some(pid)
}

/// The log's lines from run-dev's proto watcher.
fn watcher_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.starts_with("xtask: proto/ changed"))
        .collect()
}

#[test]
fn run_dev_regenerates_proto_gen_from_a_saved_proto_and_serves_the_new_code() {
    let dev_image = dev_image();
    let ws = workspace_copy("run-dev-proto");
    let _remove = RemoveDir(ws.clone());
    let project = TestProject::new("xtask-e2e-proto", "dev");
    let mut run = RunDev::start(&ws, &project.prefix, dev_image, &[]);
    let first = wait_for(Duration::from_secs(300), || run.version());
    assert!(first.is_some(), "run-dev never served:\n{}", run.log());
    let container = project.container();
    let old_pid = ok(docker().args(["exec", &container, "pidof", "pixie-core"]));

    // A new message: photo.pb.go gains it (and its name, in the raw descriptor).
    let proto = ws.join("proto/photo/v1/photo.proto");
    let gen = ws.join("proto/gen/photo/v1/photo.pb.go");
    let source = std::fs::read_to_string(&proto).unwrap();
    let saved = std::time::Instant::now();
    std::fs::write(
        &proto,
        format!("{source}\nmessage PhotoWatched {{\n  string note = 1;\n}}\n"),
    )
    .unwrap();
    let regenerated = wait_for(Duration::from_secs(60), || {
        let code = std::fs::read_to_string(&gen).unwrap_or_default();
        code.contains("type PhotoWatched struct")
            .then(|| saved.elapsed())
    });
    let regenerated =
        regenerated.unwrap_or_else(|| panic!("proto/gen not regenerated:\n{}", run.log()));
    let new_pid = wait_for(Duration::from_secs(60), || {
        serving_pid_with(&container, "PhotoWatched")
            .filter(|pid| *pid != old_pid && run.version().is_some())
    });
    let served = saved.elapsed();
    assert!(
        new_pid.is_some(),
        "no new pixie-core built from the edit serves:\n{}",
        run.log()
    );
    eprintln!(
        "proto edit: proto/gen regenerated after {:.2}s, a new pixie-core with it served after {:.2}s",
        regenerated.as_secs_f64(),
        served.as_secs_f64()
    );
    let log = run.log();
    let lines = watcher_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].starts_with("xtask: proto/ changed: proto/gen regenerated in ")
            && lines[0].ends_with(" ms"),
        "{log}"
    );
    // The same plan as `cargo xtask proto`: its check passes on the result.
    let ws_env = ws.to_str().unwrap();
    crate::xtask_ok(&["proto", "--check"], &[("PIXIE_WORKSPACE", ws_env)]);

    // A syntax error: one line with protoc's own message; proto/gen and the service stay.
    std::fs::write(&proto, format!("{source}\nmessage Broken {{\n")).unwrap();
    let protoc = std::process::Command::new("protoc")
        .current_dir(&ws)
        .args([
            "-I",
            "proto",
            "-o",
            "/dev/null",
            "proto/photo/v1/photo.proto",
        ])
        .output()
        .unwrap();
    let reason = text(&protoc).1.trim().to_string();
    assert!(
        !protoc.status.success() && !reason.contains('\n'),
        "{reason}"
    );
    let expected = format!(
        "xtask: proto/ changed, but proto/gen was not regenerated: protoc failed (exit 1): \
         {reason}; fix that and save again (the service keeps its last good build)"
    );
    let reported = wait_for(Duration::from_secs(30), || {
        (watcher_lines(&run.log()).len() >= 2).then_some(())
    });
    assert!(
        reported.is_some(),
        "no line for the broken .proto:\n{}",
        run.log()
    );
    let log = run.log();
    assert_eq!(watcher_lines(&log)[1], expected, "{log}");
    assert!(
        !log.lines().any(|l| l == reason),
        "protoc's line printed twice:\n{log}"
    );
    assert!(std::fs::read_to_string(&gen)
        .unwrap()
        .contains("type PhotoWatched struct"));
    assert_eq!(
        serving_pid_with(&container, "PhotoWatched"),
        new_pid,
        "the service did not keep its last good build"
    );
    assert!(run.version().is_some(), "{log}");
    let staging: Vec<_> = std::fs::read_dir(ws.join("core"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".gen.new-"))
        .collect();
    assert!(staging.is_empty(), "staging trees left: {staging:?}");

    // The broken file fixed and a new one added: the .proto files are listed when a
    // regeneration runs, so the new one reaches proto/gen with no restart of run-dev.
    std::fs::write(
        &proto,
        format!("{source}\nmessage PhotoWatched {{\n  string note = 1;\n}}\n"),
    )
    .unwrap();
    std::fs::write(ws.join("proto/photo/v1/album.proto"), ALBUM_PROTO).unwrap();
    let album = ws.join("proto/gen/photo/v1/album.pb.go");
    let added = wait_for(Duration::from_secs(60), || album.is_file().then_some(()));
    assert!(
        added.is_some(),
        "a new .proto did not reach proto/gen:\n{}",
        run.log()
    );
    crate::xtask_ok(&["proto", "--check"], &[("PIXIE_WORKSPACE", ws_env)]);

    run.interrupt(&project);
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
    // air sleeps `delay` before every build: it is latency on each reload.
    let delay: u64 = toml_value(&air, "delay").parse().unwrap();
    assert!(delay <= 50, "delay {delay} ms");
    let root = toml_value(&air, "root");
    let tmp = toml_value(&air, "tmp_dir");
    assert!(
        !tmp.starts_with(&root),
        "tmp_dir {tmp} is inside the mounted {root}"
    );
    let cmd = toml_value(&air, "cmd");
    assert!(
        cmd.contains("-ldflags='-s -w'"),
        "the dev build links DWARF, which nearly doubles an incremental build: {cmd}"
    );
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
            excluded.contains(&format!("\"core/{dir}\"")),
            "exclude_dir {excluded}"
        );
    }
}

#[test]
fn dev_container_with_air_poll_watches_by_polling_and_reloads_an_edit() {
    let dev_image = dev_image();
    let ws = workspace_copy("run-dev-poll");
    let _remove = RemoveDir(ws.clone());
    let project = TestProject::new("xtask-e2e-poll", "dev");
    let prefix = project.prefix.clone();
    let mut run = RunDev::start(&ws, &prefix, dev_image, &[("PIXIE_AIR_POLL", "true")]);
    let log = || run.log();
    let version = || run.version();
    let first = wait_for(Duration::from_secs(300), version);
    assert!(first.is_some(), "run-dev never served:\n{}", log());

    // air polls instead of using inotify: it holds no inotify descriptor.
    let container = project.container();
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
