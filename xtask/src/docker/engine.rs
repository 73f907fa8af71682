//! Which engine CLI (Docker's or Podman's), build route and compose flavour this machine has.
//! Everything that asks the machine about its engine lives here; the rest of the xtask only
//! reads [`Engine`].
//!
//! Choice: `DOCKER` names the CLI (`DOCKER=podman` picks Podman); else the first `docker` on
//! PATH that can build, else `podman` on PATH. Podman builds with `podman build` (buildah), never
//! BuildKit, and its compose is a compose binary (the v2 plugin run standalone, else
//! `docker-compose` on PATH) talking to Podman's Docker-compatible API socket: `DOCKER_HOST` when
//! set, else the socket `podman info` names.
//!
//! Extending to another engine: a CLI flavour is chosen in [`choose_cli`] from [`CliProbe`]s; a
//! build route is a [`BuildRoute`] variant (its argv lives in `docker::build`, the only writer of
//! build argv); a compose flavour is a [`Compose`] variant detected in [`Engine::detect_compose`]
//! (its argv lives in `docker::compose`). The compiler then points at every match to extend.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::version_cache::VersionCache;

/// How compose is invoked. A new flavour (Podman's, say) is a variant here, its detection in
/// `Engine::detect_compose`, and its program and leading words in `docker::compose`, the only writer of compose argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compose {
    /// `docker compose`: the v2 plugin of the chosen CLI.
    Plugin { version: String },
    /// A standalone `docker-compose` binary (v1, or v2 installed standalone).
    Standalone { path: PathBuf, version: String },
    /// A compose binary (v2 preferred, v1 works) driving Podman through its Docker-compatible
    /// API socket, given to it as `DOCKER_HOST=host`.
    Podman {
        path: PathBuf,
        version: String,
        host: String,
    },
}

impl Compose {
    pub fn note(&self) -> String {
        match self {
            Compose::Plugin { version } => format!("docker compose plugin {version}"),
            Compose::Standalone { path, version } => format!("{} {version}", path.display()),
            Compose::Podman {
                path,
                version,
                host,
            } => format!("{} {version} on Podman's API socket {host}", path.display()),
        }
    }
}

/// How an image build is started with the chosen CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildRoute {
    /// `docker buildx build --load`: the buildx plugin is installed.
    Buildx,
    /// `DOCKER_BUILDKIT=1 docker build`: CLIs before 23.0 drive the engine's built-in BuildKit.
    BuiltIn,
    /// `podman build` (buildah). `layer_cache` is false before Podman 5.4 (buildah 1.39), whose
    /// layer cache keys `RUN --mount=type=bind` steps on their text only and so keeps stale
    /// binaries after a source edit (containers/buildah#5400): such builds run `--layers=false`,
    /// and a Dockerfile's compile stage runs in a long-lived builder container (`docker::builder`).
    Buildah { layer_cache: bool },
}

impl BuildRoute {
    /// Whether the route is BuildKit (buildx or built-in), which reads BuildKit's options.
    pub fn is_buildkit(self) -> bool {
        !matches!(self, BuildRoute::Buildah { .. })
    }

    /// Whether pushing is a separate `push` step after the build (no `--push` flag).
    pub fn pushes_separately(self) -> bool {
        !matches!(self, BuildRoute::Buildx)
    }

    fn describe(self) -> &'static str {
        match self {
            BuildRoute::Buildx => "buildx plugin",
            BuildRoute::BuiltIn => "built-in BuildKit (DOCKER_BUILDKIT=1)",
            BuildRoute::Buildah { layer_cache: true } => "podman build (buildah)",
            BuildRoute::Buildah { layer_cache: false } => {
                "podman build (buildah) of the final stage, the compile in a builder container: before Podman 5.4 its layer cache ignores bind-mounted sources"
            }
        }
    }
}

/// Whose CLI it is: the two speak the same commands, with the differences handled by route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliKind {
    Docker,
    Podman,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerCli {
    pub path: PathBuf,
    pub version: String,
    pub route: BuildRoute,
}

impl DockerCli {
    pub fn is_podman(&self) -> bool {
        matches!(self.route, BuildRoute::Buildah { .. })
    }

    /// Asks the daemon for its version; the error says how to start it.
    pub fn daemon_version(&self) -> Result<String> {
        let output = Command::new(&self.path)
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if output.status.success() && !stdout.is_empty() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no answer")
            .trim();
        if self.is_podman() {
            bail!("Podman does not answer ({reason}); run `podman info` to see why, and `podman system migrate` after an upgrade");
        }
        bail!(
            "the Docker daemon is not reachable ({reason}); start it (`sudo systemctl start docker`, or `sudo dockerd &`) \
             or point DOCKER_HOST at a running engine"
        )
    }

    /// `docker CLI` or `Podman CLI`, as notes and doctor name it.
    pub fn kind_name(&self) -> &'static str {
        if self.is_podman() {
            "Podman CLI"
        } else {
            "docker CLI"
        }
    }
}

/// What one candidate CLI said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliProbe {
    pub path: PathBuf,
    /// `None` when `--version` did not run or did not parse.
    pub version: Option<(CliKind, String)>,
    pub has_buildx: bool,
}

impl CliProbe {
    /// The build route this CLI offers, or why it offers none.
    pub fn route(&self) -> Result<BuildRoute, String> {
        let Some((kind, version)) = &self.version else {
            return Err("does not run (`--version` failed)".into());
        };
        if *kind == CliKind::Podman {
            return Ok(BuildRoute::Buildah {
                layer_cache: version_at_least(version, (5, 4)),
            });
        }
        if self.has_buildx {
            return Ok(BuildRoute::Buildx);
        }
        match major_version(version) {
            Some(major) if major < 23 => Ok(BuildRoute::BuiltIn),
            _ => Err(format!(
                "{version} has no buildx plugin, which BuildKit needs since CLI 23.0"
            )),
        }
    }
}

/// The CLI to use: the `DOCKER` override if set, else the first candidate (every `docker` on
/// PATH in PATH order, then `podman`) that can build.
pub fn choose_cli(probes: &[CliProbe], overridden: bool) -> Result<DockerCli> {
    let mut refusals = Vec::new();
    for probe in probes {
        match probe.route() {
            Ok(route) => {
                return Ok(DockerCli {
                    path: probe.path.clone(),
                    version: probe.version.clone().map(|(_, v)| v).unwrap_or_default(),
                    route,
                })
            }
            Err(why) => refusals.push(format!("{}: {why}", probe.path.display())),
        }
    }
    if overridden {
        bail!(
            "DOCKER={} cannot run BuildKit builds ({}); point DOCKER at a CLI with buildx or at podman, or unset it",
            probes.first().map(|p| p.path.display().to_string()).unwrap_or_default(),
            refusals.join("; ")
        );
    }
    if refusals.is_empty() {
        bail!("no docker or podman CLI on PATH; install Docker (e.g. `apt-get install docker.io`) or Podman, or set DOCKER=/path/to/docker");
    }
    bail!(
        "no docker CLI here can run BuildKit builds ({}); install the buildx plugin (`apt-get install docker-buildx`), \
         or Debian's docker.io (20.10 CLI at /usr/bin/docker), or set DOCKER=/path/to/docker",
        refusals.join("; ")
    )
}

/// `Docker version 20.10.24+dfsg1, build 297e128` → Docker `20.10.24+dfsg1`;
/// `podman version 4.3.1` (or `docker version 4.3.1`: podman linked as `docker`) → Podman `4.3.1`.
pub fn parse_cli_version(output: &str) -> Option<(CliKind, String)> {
    let output = output.trim();
    // Podman run under the name `docker` (a symlink) calls itself that, in lower case.
    let (kind, rest) = if let Some(rest) = output.strip_prefix("Docker version ") {
        (CliKind::Docker, rest)
    } else if let Some(rest) = output.strip_prefix("docker version ") {
        (CliKind::Podman, rest)
    } else {
        (CliKind::Podman, output.strip_prefix("podman version ")?)
    };
    let version = rest.split(',').next()?.trim();
    (!version.is_empty()).then(|| (kind, version.to_string()))
}

/// `5.4.2` ≥ (5, 4); an unparsable version counts as old.
fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(have_major), Some(have_minor)) => (have_major, have_minor) >= (major, minor),
        _ => false,
    }
}

fn major_version(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

/// Everything the xtask needs to know about the docker side of this machine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub cli: DockerCli,
    /// Where the rest of the candidates stand, for `doctor` and verbose output.
    pub probes: Vec<CliProbe>,
    /// Why detection failed, when this is a dry run's placeholder.
    pub problem: Option<String>,
    /// Compose as the chosen CLI can call it, or why not; `None` when nobody asked.
    pub compose: Option<Result<Compose, String>>,
}

impl Engine {
    /// The CLI (honouring `DOCKER`), and compose too when `with_compose`.
    pub fn detect(with_compose: bool) -> Result<Engine> {
        let (probes, overridden) = super::probe::probe_all(probe_cli)?;
        let cli = choose_cli(&probes, overridden)?;
        let mut engine = Engine {
            cli,
            probes,
            problem: None,
            compose: None,
        };
        if with_compose {
            engine.compose = Some(engine.detect_compose().map_err(|e| format!("{e:#}")));
        }
        Ok(engine)
    }

    /// The compose detected with the engine, or the one-line error saying how to get one.
    pub fn compose(&self) -> Result<&Compose> {
        match &self.compose {
            Some(Ok(compose)) => Ok(compose),
            Some(Err(why)) => bail!("{why}"),
            None => bail!("compose was not detected for this command"),
        }
    }

    /// Stands in for a machine without a usable CLI, so `--dry-run` can still show its plan.
    pub fn placeholder(reason: String) -> Engine {
        Engine {
            cli: DockerCli {
                path: "docker".into(),
                version: "not detected".into(),
                route: BuildRoute::Buildx,
            },
            probes: Vec::new(),
            problem: Some(reason),
            compose: None,
        }
    }

    /// Compose as it can be called with the chosen CLI: its v2 plugin, else a standalone binary;
    /// on Podman, a compose binary pointed at Podman's API socket.
    pub fn detect_compose(&self) -> Result<Compose> {
        if self.cli.is_podman() {
            return self.detect_podman_compose();
        }
        if let Some(version) =
            captured_stdout(Command::new(&self.cli.path).args(["compose", "version", "--short"]))
        {
            return Ok(Compose::Plugin { version });
        }
        let path = which::which("docker-compose").map_err(|_| {
            anyhow::anyhow!(
                "compose is missing: neither `{} compose` nor docker-compose works; install docker-compose-plugin or docker-compose",
                self.cli.path.display()
            )
        })?;
        let version = standalone_version(&path)?;
        Ok(Compose::Standalone { path, version })
    }

    /// Podman's compose: the compose v2 plugin binary run on its own (what `podman compose`
    /// runs too, found in the same plugin folders), else `docker-compose` on PATH (v1 works);
    /// either talks to Podman through its Docker-compatible API socket.
    fn detect_podman_compose(&self) -> Result<Compose> {
        let path = cli_plugin_dirs()
            .into_iter()
            .map(|dir| dir.join("docker-compose"))
            .find(|p| p.is_file())
            .or_else(|| which::which("docker-compose").ok())
            .context(
                "compose is missing for Podman: no docker-compose in a Docker CLI plugin folder or on PATH; \
                 install docker-compose (v2, e.g. `apt-get install docker-compose`)",
            )?;
        let version = standalone_version(&path)?;
        let host = podman_socket(&self.cli.path)?;
        Ok(Compose::Podman {
            path,
            version,
            host,
        })
    }

    /// The line that says which CLI and build route this run uses.
    pub fn note(&self) -> String {
        let cli = &self.cli;
        if let Some(problem) = &self.problem {
            return format!(
                "docker CLI not detected ({problem}); showing the plan for `docker` with buildx"
            );
        }
        let mut note = format!(
            "{}: {} ({}), build route: {}",
            cli.kind_name(),
            cli.path.display(),
            cli.version,
            cli.route.describe()
        );
        for probe in self.probes.iter().filter(|p| p.path != cli.path) {
            if let Err(why) = probe.route() {
                note.push_str(&format!("; skipped {}: {why}", probe.path.display()));
            }
        }
        note
    }

    /// Asks the daemon for its version; the error says how to start it.
    pub fn daemon_version(&self) -> Result<String> {
        self.cli.daemon_version()
    }

    /// Whether the image is in the local store.
    pub fn image_exists(&self, image: &str) -> bool {
        image_exists(&self.cli.path, image)
    }

    pub fn image_size(&self, image: &str) -> Option<u64> {
        captured_stdout(Command::new(&self.cli.path).args([
            "image",
            "inspect",
            "--format",
            "{{.Size}}",
            image,
        ]))?
        .parse()
        .ok()
    }
}

/// Whether `cli`'s engine has the image in its local store.
pub fn image_exists(cli: &Path, image: &str) -> bool {
    Command::new(cli)
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn probe_cli(path: &Path) -> CliProbe {
    let version = captured_stdout(Command::new(path).arg("--version"))
        .and_then(|out| parse_cli_version(&out));
    let has_buildx = matches!(version, Some((CliKind::Docker, _)))
        && Command::new(path)
            .args(["buildx", "version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    CliProbe {
        path: path.to_path_buf(),
        version,
        has_buildx,
    }
}

/// `docker-compose version --short` (remembered per binary), or the error naming the fix.
fn standalone_version(path: &Path) -> Result<String> {
    let ask = || {
        captured_stdout(Command::new(path).args(["version", "--short"]))
            .with_context(|| format!("{} does not run; reinstall docker-compose", path.display()))
    };
    match VersionCache::user() {
        Some(cache) => cache.version(path, ask),
        None => ask(),
    }
}

/// Where Docker CLIs look for plugins, in their order: `DOCKER_CONFIG` (or ~/.docker), then the
/// system folders.
pub fn cli_plugin_dirs() -> Vec<PathBuf> {
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
    config
        .map(|c| c.join("cli-plugins"))
        .into_iter()
        .chain(
            [
                "/usr/local/lib/docker/cli-plugins",
                "/usr/local/libexec/docker/cli-plugins",
                "/usr/lib/docker/cli-plugins",
                "/usr/libexec/docker/cli-plugins",
            ]
            .map(PathBuf::from),
        )
        .collect()
}

/// The `DOCKER_HOST` compose uses to reach Podman: `DOCKER_HOST` if set, else the API socket
/// `podman info` names, which must exist.
fn podman_socket(podman: &Path) -> Result<String> {
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        match host.strip_prefix("unix://") {
            Some(path) if !Path::new(path).exists() => bail!("{}", no_socket(path)),
            _ => return Ok(host),
        }
    }
    let info = captured_stdout(Command::new(podman).args([
        "info",
        "--format",
        "{{.Host.RemoteSocket.Path}} {{.Host.RemoteSocket.Exists}}",
    ]))
    .context("`podman info` failed; run it to see why")?;
    let (path, exists) = info.rsplit_once(' ').unwrap_or((&info, "false"));
    let path = path.trim_start_matches("unix://");
    if exists != "true" {
        bail!("{}", no_socket(path));
    }
    Ok(format!("unix://{path}"))
}

fn no_socket(path: &str) -> String {
    format!(
        "compose on Podman needs its API socket, and {path} does not exist; start it \
         (`systemctl enable --now podman.socket`, rootless `systemctl --user enable --now podman.socket`, \
         or `podman system service --time=0 unix://{path} &`) or point DOCKER_HOST at a running one"
    )
}

/// Trimmed stdout of a command that succeeded, else `None`.
pub(super) fn captured_stdout(command: &mut Command) -> Option<String> {
    let output = command.stdin(std::process::Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests;
