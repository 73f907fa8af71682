//! The only writer of compose argv: `up`/`down` on one project's file, for whichever compose
//! flavour [`super::engine`] detected, plus the `docker` link compose v1 needs on PATH.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::engine::Compose;
use super::Site;
use crate::fsutil;
use crate::plan::shell::quote;
use crate::plan::{action, Action, ActionCx, Step, Task};

impl Compose {
    /// The program and the words before compose's own arguments.
    fn invocation(&self, site: &Site) -> (PathBuf, &'static [&'static str]) {
        match self {
            Compose::Plugin { .. } => (site.cli().path.clone(), &["compose"]),
            Compose::Standalone { path, .. } | Compose::Podman { path, .. } => (path.clone(), &[]),
        }
    }

    /// What compose needs in its environment besides the chosen CLI's.
    fn env(&self) -> Vec<(String, String)> {
        match self {
            Compose::Podman { host, .. } => vec![("DOCKER_HOST".into(), host.clone())],
            Compose::Plugin { .. } | Compose::Standalone { .. } => Vec::new(),
        }
    }
}

/// Compose v2 refuses other project names (`invalid project name`), and v1 folds case, so one
/// checkout would get two projects across flavours: refuse them up front.
pub fn check_project_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid_first = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid_rest =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !(valid_first && valid_rest) {
        bail!(
            "compose project name {name:?} is invalid: compose takes only lowercase letters, digits, '-' and '_', \
             starting with a letter or digit; set PIXIE_PROJECT (run.project) to such a name, e.g. {:?}",
            suggest_project(name)
        );
    }
    Ok(())
}

/// The prefix lowercased with everything else made a '-', for the error's example.
fn suggest_project(name: &str) -> String {
    let kind_at = name.rfind('-').unwrap_or(name.len());
    let cleaned: String = name[..kind_at]
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches(['-', '_']).to_string();
    if cleaned.is_empty() {
        "pixie".into()
    } else {
        cleaned
    }
}

/// One compose project: its files (the base, then overrides), its name and the values the files
/// interpolate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub files: Vec<&'static str>,
    pub name: String,
    pub env: Vec<(String, String)>,
}

impl Project {
    /// The `ps` filters that pick the containers of `service` in this project.
    pub fn service_filters(&self, service: &str) -> [String; 2] {
        [
            format!("--filter=label=com.docker.compose.project={}", self.name),
            format!("--filter=label=com.docker.compose.service={service}"),
        ]
    }

    /// A probe that prints the IDs of the running containers of `service` (`None`: of any
    /// service of this project).
    pub fn running(&self, site: &Site, service: Option<&str>) -> Step {
        let what = service.map_or(String::new(), |s| format!("{s} "));
        let step = Step::new(
            format!("a {what}container of {} runs", self.name),
            &site.cli().path,
            &site.ws.root,
        )
        .args(["ps", "--quiet", "--filter=status=running"]);
        match service {
            Some(service) => step.args(self.service_filters(service)),
            None => step.arg(format!(
                "--filter=label=com.docker.compose.project={}",
                self.name
            )),
        }
    }
}

/// Deletes every volume of compose project `project` (by compose's label: also those the
/// files no longer name, such as a Postgres volume of an older major version) and says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveVolumes {
    pub cli: PathBuf,
    pub project: String,
}

impl RemoveVolumes {
    fn filter(&self) -> String {
        format!("label=com.docker.compose.project={}", self.project)
    }
}

impl Action for RemoveVolumes {
    fn shell_line(&self) -> String {
        let cli = quote(&self.cli.to_string_lossy());
        format!(
            "{cli} volume ls --quiet --filter {} | xargs -r {cli} volume rm",
            quote(&self.filter())
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        let listed = std::process::Command::new(&self.cli)
            .args(["volume", "ls", "--quiet", "--filter", &self.filter()])
            .output()
            .with_context(|| format!("cannot run {}", self.cli.display()))?;
        let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if names.is_empty() {
            cx.ui
                .info(format_args!("{} has no volumes to delete", self.project));
            return Ok(());
        }
        cx.ui.info(format_args!(
            "deleting the volumes of {} and their data: {}",
            self.project,
            names.join(", ")
        ));
        let removed = std::process::Command::new(&self.cli)
            .args(["volume", "rm"])
            .args(&names)
            .output()
            .with_context(|| format!("cannot run {}", self.cli.display()))?;
        if !removed.status.success() {
            let why = String::from_utf8_lossy(&removed.stderr);
            bail!(
                "cannot delete the volumes of {}: {}; stop what uses them (`cargo xtask stop`) and run clean again",
                self.project,
                why.trim()
            );
        }
        Ok(())
    }
}

/// Fails with `fix` unless `probe` prints something: a command that acts on a running project
/// must not start half of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runs {
    pub probe: Step,
    pub fix: String,
}

impl Action for Runs {
    fn shell_line(&self) -> String {
        format!(
            "[ -n \"$({})\" ] || {{ echo {} >&2; exit 1; }}",
            self.probe.shell_line(),
            quote(&self.fix)
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        if self.probe.prints() {
            return Ok(());
        }
        bail!("{}", self.fix)
    }
}

/// A compose subcommand on `project` (`up --remove-orphans`, `down --volumes`, ...).
pub fn step(
    site: &Site,
    compose: &Compose,
    project: &Project,
    label: String,
    verb: &[&str],
) -> Step {
    let (program, leading) = compose.invocation(site);
    let mut verb = verb.to_vec();
    // Compose v1 colours its output even into a pipe; keep logs readable and honour NO_COLOR.
    // Right after the subcommand: v1 reads no option after a service name.
    if matches!(verb.first(), Some(&"up" | &"logs"))
        && (site.host.plain_progress || site.host.no_color)
        && !verb.contains(&"--no-color")
    {
        verb.insert(1, "--no-color");
    }
    Step::new(label, program, &site.ws.root)
        .args(leading.iter().copied())
        .args(["--project-name", &project.name])
        .args(project.files.iter().flat_map(|file| ["--file", file]))
        .args(verb)
        .envs(site.docker_env())
        .envs(compose.env())
        // compose v1 runs whatever `docker` is first on PATH: make it the chosen CLI.
        .envs([("PATH", format!("{}:$PATH", site.shim_dir().display()))])
        .envs(project.env.iter().cloned())
        .streamed()
}

/// The step that makes the `docker` link [`step`]'s PATH starts with.
pub fn link_docker(site: &Site) -> Task {
    action(
        "link the chosen docker CLI for compose",
        LinkDocker {
            cli: site.cli().path.clone(),
            dir: site.shim_dir(),
        },
    )
}

/// `dir/docker` → `cli`: compose v1 runs whatever `docker` is first on PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDocker {
    pub cli: PathBuf,
    pub dir: PathBuf,
}

impl Action for LinkDocker {
    fn shell_line(&self) -> String {
        let q = |p: &std::path::Path| quote(&p.to_string_lossy());
        format!(
            "mkdir -p {} && ln -sfn {} {}",
            q(&self.dir),
            q(&self.cli),
            q(&self.dir.join("docker"))
        )
    }

    fn run(&self, _cx: &ActionCx) -> anyhow::Result<()> {
        fsutil::replace_symlink(&self.cli, &self.dir.join("docker"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::BuildRoute;
    use crate::settings::Flags;

    #[test]
    fn project_names_compose_v2_refuses_are_one_line_naming_the_fix() {
        for good in ["pixie-main-1a2b3c-dev", "ci42-prod", "a_b-prod", "9-dev"] {
            check_project_name(good).unwrap();
        }
        assert_eq!(
            check_project_name("engB-dev").unwrap_err().to_string(),
            "compose project name \"engB-dev\" is invalid: compose takes only lowercase letters, digits, '-' and '_', \
             starting with a letter or digit; set PIXIE_PROJECT (run.project) to such a name, e.g. \"engb\""
        );
        for bad in ["-x-dev", "My Project-prod", "a.b-dev", ""] {
            assert!(check_project_name(bad).is_err(), "{bad}");
        }
        assert_eq!(suggest_project("My Project-prod"), "my-project");
    }

    #[test]
    fn podman_compose_gets_the_api_socket_as_docker_host() {
        let ctx = ctx_with(
            BuildRoute::Buildah { layer_cache: false },
            &[],
            Flags::new(),
        );
        let compose = Compose::Podman {
            path: "/usr/libexec/docker/cli-plugins/docker-compose".into(),
            version: "2.26.1".into(),
            host: "unix:///run/podman/podman.sock".into(),
        };
        let project = Project {
            files: vec![crate::workspace::PROD_COMPOSE],
            name: "t-prod".into(),
            env: Vec::new(),
        };
        let up = step(&ctx.docker(), &compose, &project, "up".into(), &["up"]);
        assert_eq!(
            up.program,
            PathBuf::from("/usr/libexec/docker/cli-plugins/docker-compose")
        );
        assert_eq!(up.args[..2], ["--project-name", "t-prod"]);
        assert_eq!(
            up.env_value("DOCKER_HOST"),
            Some("unix:///run/podman/podman.sock")
        );
    }
}
