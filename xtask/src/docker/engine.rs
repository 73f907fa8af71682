//! Which docker CLI, BuildKit route and compose flavour this machine has. Everything that asks
//! the machine about Docker lives here; the rest of the xtask only reads [`Engine`].
//!
//! Extending to another engine: a CLI flavour is chosen in [`choose_cli`] from [`CliProbe`]s; a
//! build route is a [`BuildRoute`] variant (its argv lives in `docker::build`, the only writer of
//! build argv); a compose flavour is a [`Compose`] variant detected in [`Engine::detect_compose`]
//! (its argv lives in `docker::compose`). The compiler then points at every match to extend.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::compose::Compose;

/// How a BuildKit build is started with the chosen CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildRoute {
    /// `docker buildx build --load`: the buildx plugin is installed.
    Buildx,
    /// `DOCKER_BUILDKIT=1 docker build`: CLIs before 23.0 drive the engine's built-in BuildKit.
    BuiltIn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerCli {
    pub path: PathBuf,
    pub version: String,
    pub route: BuildRoute,
}

/// What one candidate CLI said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliProbe {
    pub path: PathBuf,
    /// `None` when `docker --version` did not run or did not parse.
    pub version: Option<String>,
    pub has_buildx: bool,
}

impl CliProbe {
    /// The BuildKit route this CLI offers, or why it offers none.
    pub fn route(&self) -> Result<BuildRoute, String> {
        let Some(version) = &self.version else {
            return Err("does not run (`docker --version` failed)".into());
        };
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

/// The docker CLI to use: the `DOCKER` override if set, else the first candidate on PATH
/// (in PATH order) that can run a BuildKit build.
pub fn choose_cli(probes: &[CliProbe], overridden: bool) -> Result<DockerCli> {
    let mut refusals = Vec::new();
    for probe in probes {
        match probe.route() {
            Ok(route) => {
                return Ok(DockerCli {
                    path: probe.path.clone(),
                    version: probe.version.clone().unwrap_or_default(),
                    route,
                })
            }
            Err(why) => refusals.push(format!("{}: {why}", probe.path.display())),
        }
    }
    if overridden {
        bail!(
            "DOCKER={} cannot run BuildKit builds ({}); point DOCKER at a CLI with buildx, or unset it",
            probes.first().map(|p| p.path.display().to_string()).unwrap_or_default(),
            refusals.join("; ")
        );
    }
    if refusals.is_empty() {
        bail!("no docker CLI on PATH; install Docker (e.g. `apt-get install docker.io`) or set DOCKER=/path/to/docker");
    }
    bail!(
        "no docker CLI here can run BuildKit builds ({}); install the buildx plugin (`apt-get install docker-buildx`), \
         or Debian's docker.io (20.10 CLI at /usr/bin/docker), or set DOCKER=/path/to/docker",
        refusals.join("; ")
    )
}

/// `Docker version 20.10.24+dfsg1, build 297e128` → `20.10.24+dfsg1`.
pub fn parse_cli_version(output: &str) -> Option<String> {
    let rest = output.trim().strip_prefix("Docker version ")?;
    let version = rest.split(',').next()?.trim();
    (!version.is_empty()).then(|| version.to_string())
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
        let (candidates, overridden) = candidates()?;
        let probes: Vec<CliProbe> = candidates.iter().map(|p| probe_cli(p)).collect();
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

    /// Compose as it can be called with the chosen CLI: its v2 plugin, else a standalone binary.
    pub fn detect_compose(&self) -> Result<Compose> {
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
        let version = captured_stdout(Command::new(&path).args(["version", "--short"]))
            .with_context(|| {
                format!("{} does not run; reinstall docker-compose", path.display())
            })?;
        Ok(Compose::Standalone { path, version })
    }

    /// The line that says which docker CLI and BuildKit route this run uses.
    pub fn note(&self) -> String {
        let cli = &self.cli;
        if let Some(problem) = &self.problem {
            return format!(
                "docker CLI not detected ({problem}); showing the plan for `docker` with buildx"
            );
        }
        let route = match cli.route {
            BuildRoute::Buildx => "buildx plugin",
            BuildRoute::BuiltIn => "built-in BuildKit (DOCKER_BUILDKIT=1)",
        };
        let mut note = format!(
            "docker CLI: {} ({}), BuildKit route: {route}",
            cli.path.display(),
            cli.version
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
        let output = Command::new(&self.cli.path)
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .with_context(|| format!("cannot run {}", self.cli.path.display()))?;
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
        bail!(
            "the Docker daemon is not reachable ({reason}); start it (`sudo systemctl start docker`, or `sudo dockerd &`) \
             or point DOCKER_HOST at a running engine"
        )
    }

    /// Whether the image is in the local store.
    pub fn image_exists(&self, image: &str) -> bool {
        Command::new(&self.cli.path)
            .args(["image", "inspect", "--format", "{{.Id}}", image])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
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

/// The CLIs to consider, in order, and whether the user named one with `DOCKER`.
fn candidates() -> Result<(Vec<PathBuf>, bool)> {
    if let Some(named) = std::env::var_os("DOCKER").filter(|v| !v.is_empty()) {
        let path = which::which(&named).with_context(|| {
            format!(
                "DOCKER={} is not an executable; fix the path or unset DOCKER",
                named.to_string_lossy()
            )
        })?;
        return Ok((vec![path], true));
    }
    let mut seen = Vec::new();
    let mut found = Vec::new();
    for path in which::which_all("docker").into_iter().flatten() {
        // /bin and /usr/bin are often one folder: probe each real binary once.
        let real = path.canonicalize().unwrap_or_else(|_| path.clone());
        if !seen.contains(&real) {
            seen.push(real);
            found.push(path);
        }
    }
    Ok((found, false))
}

fn probe_cli(path: &Path) -> CliProbe {
    let version = captured_stdout(Command::new(path).arg("--version"))
        .and_then(|out| parse_cli_version(&out));
    let has_buildx = version.is_some()
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

/// Trimmed stdout of a command that succeeded, else `None`.
fn captured_stdout(command: &mut Command) -> Option<String> {
    let output = command.stdin(std::process::Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(path: &str, version: Option<&str>, has_buildx: bool) -> CliProbe {
        CliProbe {
            path: path.into(),
            version: version.map(String::from),
            has_buildx,
        }
    }

    #[test]
    fn parses_cli_versions() {
        assert_eq!(
            parse_cli_version("Docker version 20.10.24+dfsg1, build 297e128\n").as_deref(),
            Some("20.10.24+dfsg1")
        );
        assert_eq!(
            parse_cli_version("Docker version 28.2.2, build e6534b4").as_deref(),
            Some("28.2.2")
        );
        assert_eq!(parse_cli_version("podman version 4.3.1"), None);
    }

    #[test]
    fn skips_a_new_cli_without_buildx_for_an_old_one_with_builtin_buildkit() {
        // The mix on our machines: 28.x first on PATH without buildx, Debian's 20.10 behind it.
        let probes = [
            probe("/usr/local/bin/docker", Some("28.2.2"), false),
            probe("/usr/bin/docker", Some("20.10.24+dfsg1"), false),
        ];
        let cli = choose_cli(&probes, false).unwrap();
        assert_eq!(cli.path, PathBuf::from("/usr/bin/docker"));
        assert_eq!(cli.route, BuildRoute::BuiltIn);
    }

    #[test]
    fn prefers_the_first_cli_with_buildx() {
        let probes = [
            probe("/opt/docker", Some("28.2.2"), true),
            probe("/usr/bin/docker", Some("20.10.24"), false),
        ];
        let cli = choose_cli(&probes, false).unwrap();
        assert_eq!(
            (cli.path, cli.route),
            (PathBuf::from("/opt/docker"), BuildRoute::Buildx)
        );
    }

    #[test]
    fn names_every_refusal_and_the_fix_when_none_can_build() {
        let probes = [
            probe("/usr/local/bin/docker", Some("28.2.2"), false),
            probe("/x/docker", None, false),
        ];
        let message = choose_cli(&probes, false).unwrap_err().to_string();
        assert!(
            message.contains("/usr/local/bin/docker: 28.2.2 has no buildx plugin"),
            "{message}"
        );
        assert!(message.contains("/x/docker: does not run"), "{message}");
        assert!(message.contains("install the buildx plugin"), "{message}");
        assert!(!message.contains('\n'));
    }

    #[test]
    fn an_override_that_cannot_build_is_an_error_not_a_fallback() {
        let probes = [probe("/usr/local/bin/docker", Some("28.2.2"), false)];
        let message = choose_cli(&probes, true).unwrap_err().to_string();
        assert!(
            message.starts_with("DOCKER=/usr/local/bin/docker cannot run BuildKit builds"),
            "{message}"
        );
    }

    #[test]
    fn no_cli_at_all_says_how_to_install_one() {
        let message = choose_cli(&[], false).unwrap_err().to_string();
        assert!(message.contains("no docker CLI on PATH"), "{message}");
    }
}
