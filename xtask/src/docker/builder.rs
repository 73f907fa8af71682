//! The builder route of Podman before 5.4, for Dockerfiles whose compile stage writes all it
//! makes under `/out` (`core.Dockerfile`'s `build-NAME`). `podman build` there reruns every step
//! (`--layers=false`: its layer cache keeps stale binaries, containers/buildah#5400), and each
//! `RUN` starts a container, about 0.45 s on our machines. This route compiles instead in a
//! long-lived builder container of the checkout — the Go image, the Go caches in volumes
//! (`pixie-go-mod-cache`, `pixie-go-build-cache`, shared like BuildKit's cache mounts), the
//! checkout read-only at /src — with `podman exec` of the same script the Dockerfile's RUN
//! steps run (`deployments/docker/go-build.sh`), into a folder of this build's own; then one
//! `podman build` of the image's final stage takes that folder as the compile stage
//! (`--build-context build=DIR`), so the Dockerfile still decides everything in the image.
//!
//! Never a stale binary: every build compiles the checkout as it is (Go's caches are keyed by
//! content), into a folder no other build writes, and the image is assembled without a layer
//! cache. The builder is recreated when its Go image, its checkout (a folder deleted and made
//! again is another folder), its network or its netrc changes; it stops by itself once its
//! marker file goes (`cargo clean`, the checkout deleted). After Ctrl-C the build's
//! compile in it is stopped (the Podman client's end does not stop it).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

use super::build::{host_platform, DockerBuild, Output};
use super::inputs::{self, SkipUnchanged};
use super::Site;
use crate::files::{RemoveFile, RemoveTree};
use crate::lock;
use crate::plan::shell::quote;
use crate::plan::{action, Action, ActionCx, Plan, Step};
use crate::signals::interrupted;
use crate::workspace::{fnv1a, GO_BUILD_SCRIPT};

/// The Go caches, shared by every checkout's builder (Go's caches are safe to share).
const MODULE_CACHE: (&str, &str) = ("pixie-go-mod-cache", "/go/pkg/mod");
const BUILD_CACHE: (&str, &str) = ("pixie-go-build-cache", "/root/.cache/go-build");
/// While this file (in the builds folder) exists, the builder stays up.
const MARKER: &str = ".builder";
const KEY_LABEL: &str = "pixie.builder.key";
/// How often an idle builder looks for its marker.
const MARKER_POLL_SECONDS: u32 = 5;

/// A checkout's builder container, as a build of it wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    pub podman: PathBuf,
    pub name: String,
    pub go_image: String,
    pub workspace: PathBuf,
    /// Host folder of the builds' outputs, mounted at /builds (target/xtask/builder).
    pub builds: PathBuf,
    /// `--network=none` (vendored builds: the proof that nothing is downloaded).
    pub offline: bool,
    /// Mounted read-only at /root/.netrc, for private modules.
    pub netrc: Option<PathBuf>,
}

/// One build in the builder: its own output folder, named for this process and build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// `builds/<id>`: the build context that stands in for the compile stage.
    pub context: PathBuf,
    /// `/builds/<id>/out`, as the builder sees `context/out`.
    pub out: String,
}

impl Builder {
    /// The checkout's builder for these settings: each set has one of its own, so builds of one
    /// checkout with other settings (a vendored one, say) never replace each other's.
    pub fn of(site: &Site, go_image: &str, offline: bool, netrc: Option<PathBuf>) -> Builder {
        let settings = format!(
            "{go_image} {offline} {}",
            netrc.as_deref().unwrap_or(Path::new("")).display()
        );
        Builder {
            podman: site.cli().path.clone(),
            name: format!(
                "{}-{:06x}",
                site.ws.project_name("", "builder"),
                fnv1a(&settings) & 0xff_ffff
            ),
            go_image: go_image.to_string(),
            workspace: site.ws.root.clone(),
            builds: site.ws.path("target/xtask/builder"),
            offline,
            netrc,
        }
    }

    /// A new output folder for one build.
    pub fn job(&self) -> Job {
        static BUILDS: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            BUILDS.fetch_add(1, Ordering::Relaxed)
        );
        Job {
            context: self.builds.join(&id),
            out: format!("/builds/{id}/out"),
        }
    }

    /// Ensure the builder, run the script there (all its steps, as the compile stage does) with
    /// `env` into `job`'s folder, then `assemble` (the image build that takes that folder as the
    /// compile stage); afterwards the folder goes, and after Ctrl-C the compile too. With
    /// `skip`, none of it when the image was built from the same inputs (`docker::inputs`).
    pub fn plan(
        &self,
        job: &Job,
        env: &[(String, String)],
        mut assemble: Step,
        skip: Option<SkipUnchanged>,
    ) -> Plan {
        let mut exec = Step::new(
            format!("{}: compile in builder {}", assemble.label, self.name),
            &self.podman,
            &self.workspace,
        )
        .arg("exec")
        .args(["--env", &format!("OUT={}", job.out)]);
        for (key, value) in env {
            exec = exec.args(["--env", &format!("{key}={value}")]);
        }
        let script = format!("/src/{GO_BUILD_SCRIPT}");
        let mut exec = exec
            .args([self.name.as_str(), "sh", &script])
            .args(["rootfs", "modules", "compile"])
            .streamed();
        let mut plan = Plan::default();
        let unless = skip.as_ref().map(|s| s.skip.clone());
        if let Some(skip) = skip {
            plan.cleanup.push(action(
                "remove the skip file",
                RemoveFile(skip.skip.clone()),
            ));
            plan.push(action(
                format!("skip {} if built from these inputs", assemble.label),
                skip,
            ));
        }
        plan.push(action(
            format!("start builder {} unless it runs", self.name),
            EnsureBuilder {
                builder: self.clone(),
                unless_exists: unless.clone(),
            },
        ));
        exec.unless_exists = unless.clone();
        assemble.unless_exists = unless;
        plan.push(exec);
        plan.push(assemble);
        plan.cleanup.push(action(
            "stop this build's compile after Ctrl-C",
            StopJobIfInterrupted {
                podman: self.podman.clone(),
                name: self.name.clone(),
                out: job.out.clone(),
            },
        ));
        plan.cleanup.push(action(
            "remove this build's output folder",
            RemoveTree(job.context.clone()),
        ));
        plan
    }

    /// `podman run` of the builder: idle until exec'd, gone once its marker is.
    fn run_args(&self, key: &str) -> Vec<String> {
        let mut args: Vec<String> = ["run", "--detach", "--rm", "--name", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut push = |flag: &str, value: String| args.extend([flag.to_string(), value]);
        push("--label", format!("{KEY_LABEL}={key}"));
        push(
            "--label",
            format!("pixie.builder.workspace={}", self.workspace.display()),
        );
        // Host folders without relabelling them (SELinux): the checkout stays the user's.
        push("--security-opt", "label=disable".into());
        if self.offline {
            push("--network", "none".into());
        }
        for (volume, target) in [MODULE_CACHE, BUILD_CACHE] {
            push("--volume", format!("{volume}:{target}"));
        }
        push("--volume", format!("{}:/src:ro", self.workspace.display()));
        push("--volume", format!("{}:/builds", self.builds.display()));
        if let Some(netrc) = &self.netrc {
            push("--volume", format!("{}:/root/.netrc:ro", netrc.display()));
        }
        args.push(self.go_image.clone());
        args.extend(["sh".into(), "-c".into(), idle_loop()]);
        args
    }

    /// What the builder must have been made from: the Go image's ID, this very checkout and
    /// builds folder (device and inode: a folder made again is another one, since a running
    /// builder's mount keeps the old inode taken), network, netrc.
    fn key(&self, image_id: &str) -> Result<String> {
        let identity = |path: &Path| -> Result<String> {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(format!("{}:{}", meta.dev(), meta.ino()))
        };
        let netrc = match &self.netrc {
            Some(path) => format!("{}@{}", path.display(), identity(path)?),
            None => "none".into(),
        };
        let network = if self.offline { "none" } else { "default" };
        Ok(format!(
            "image={image_id},workspace={},builds={},network={network},netrc={netrc}",
            identity(&self.workspace)?,
            identity(&self.builds)?,
        ))
    }
}

impl DockerBuild {
    /// The compile in the checkout's builder container (the Dockerfile's own script, with this
    /// build's arguments and platform as its environment), then this build of the final stage
    /// with the compile stage replaced by the folder the compile wrote.
    pub(super) fn in_builder(&self, stage: &str, site: &Site) -> Result<Plan> {
        let arg = |key: &str| {
            self.build_args
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let Some(go_image) = arg("GO_IMAGE") else {
            bail!("the Podman builder route needs the GO_IMAGE build argument: set base_images.go");
        };
        let mut netrc = None;
        for secret in &self.secrets {
            match secret.id.as_str() {
                "netrc" => netrc = Some(std::path::absolute(&secret.src)?),
                other => bail!(
                    "secret `{other}`: the Podman builder route mounts only the `netrc` secret; drop it, or use Podman 5.4+ or Docker"
                ),
            }
        }
        let builder = Builder::of(site, &go_image, self.offline, netrc);
        let job = builder.job();
        let platform = self.platform.clone().unwrap_or_else(host_platform);
        let mut parts = platform.split('/');
        let (os, arch) = (parts.next().unwrap_or("linux"), parts.next().unwrap_or(""));
        let target = [
            ("TARGETOS".to_string(), os.to_string()),
            ("TARGETARCH".to_string(), arch.to_string()),
        ];
        let mut assembly = DockerBuild {
            compile_stage: None,
            secrets: Vec::new(),
            ..self.clone()
        };
        assembly
            .build_contexts
            .push((stage.to_string(), job.context.clone()));
        assembly.build_args.extend(target.clone());
        let env: Vec<(String, String)> = self.build_args.iter().cloned().chain(target).collect();
        // An image in the store, tagged: its inputs' fingerprint says whether it is made again.
        let skip = match (&self.output, self.tags.is_empty()) {
            (Output::Load, false) => {
                let bases: Vec<String> = [Some(go_image), arg("RUNTIME_IMAGE")]
                    .into_iter()
                    .flatten()
                    .collect();
                inputs::fingerprint(site.ws, &self.dockerfile, stage, &env, || {
                    image_ids(&site.cli().path, &bases)
                })
            }
            _ => None,
        }
        .map(|fingerprint| {
            assembly
                .labels
                .push((inputs::INPUTS_LABEL.into(), fingerprint.clone()));
            SkipUnchanged {
                podman: site.cli().path.clone(),
                tags: self.tags.clone(),
                fingerprint,
                skip: job.context.with_extension("skip"),
            }
        });
        Ok(builder.plan(&job, &env, assembly.step(site)?, skip))
    }
}

/// The IDs of `images` in the engine's store, in order; `None` unless all are there (the build
/// then pulls or fails, and is never skipped).
fn image_ids(cli: &Path, images: &[String]) -> Option<Vec<String>> {
    let mut args = vec!["image", "inspect", "--format", "{{.Id}}"];
    args.extend(images.iter().map(String::as_str));
    let ids: Vec<String> = podman_output(cli, &args)?
        .lines()
        .map(str::to_string)
        .collect();
    (ids.len() == images.len()).then_some(ids)
}

/// The builder's main process: sleeps while its marker exists, ends on SIGTERM at once.
fn idle_loop() -> String {
    format!(
        "trap 'exit 0' TERM; while [ -e /builds/{MARKER} ]; do sleep {MARKER_POLL_SECONDS} & wait $!; done"
    )
}

/// Starts the builder unless one made for this build runs already (then: nothing but one
/// `podman container inspect` and one `podman image inspect`, side by side); a builder of
/// this name made from something else (the Go image's tag moved, the checkout made again) is
/// replaced. Not at all while `unless_exists` exists (the build is skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsureBuilder {
    pub builder: Builder,
    pub unless_exists: Option<PathBuf>,
}

impl Action for EnsureBuilder {
    fn shell_line(&self) -> String {
        let b = &self.builder;
        let podman = quote(&b.podman.to_string_lossy());
        let run: Vec<String> = b.run_args("KEY").iter().map(|a| quote(a)).collect();
        let unless = match &self.unless_exists {
            Some(path) => format!("[ -e {} ] || ", quote(&path.to_string_lossy())),
            None => String::new(),
        };
        format!(
            "{unless}{{ mkdir -p {builds} && touch {builds}/{MARKER} && {{ {podman} container inspect {name} >/dev/null 2>&1 || {podman} {run}; }}; }}  # (xtask) KEY: the Go image's ID, checkout, network and netrc it was made for; another KEY replaces it",
            builds = quote(&b.builds.to_string_lossy()),
            name = quote(&b.name),
            run = run.join(" ")
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        if self.unless_exists.as_ref().is_some_and(|p| p.exists()) {
            return Ok(());
        }
        let b = &self.builder;
        let marker = b.builds.join(MARKER);
        std::fs::create_dir_all(&b.builds)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&marker)
            })
            .with_context(|| format!("cannot create {}", marker.display()))?;
        // One start per checkout at a time: a second build waits, then finds it running.
        let _held = lock::acquire(
            &b.builds.with_extension("lock"),
            "another build of this checkout",
            &cx.ui,
        )?;
        let (image, running) = std::thread::scope(|s| {
            let image = s.spawn(|| {
                podman_output(
                    &b.podman,
                    &["image", "inspect", "--format", "{{.Id}}", &b.go_image],
                )
            });
            let format =
                format!("{{{{.State.Running}}}} {{{{index .Config.Labels \"{KEY_LABEL}\"}}}}");
            let running = podman_output(
                &b.podman,
                &["container", "inspect", "--format", &format, &b.name],
            );
            (image.join().expect("inspect thread"), running)
        });
        let Some(image_id) = image else {
            bail!(
                "base image {} is not in Podman's store; run `bash .ci/provision`, or set base_images.go to an image `podman images` lists",
                b.go_image
            );
        };
        let key = b.key(&image_id)?;
        if running.as_deref() == Some(format!("true {key}").as_str()) {
            return Ok(());
        }
        if running.is_some() {
            remove(&b.podman, &b.name)?;
        }
        let started = Command::new(&b.podman)
            .args(b.run_args(&key))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", b.podman.display()))?;
        if !started.status.success() {
            bail!(
                "cannot start the builder container {}: {}; see `{} logs {0}`",
                b.name,
                String::from_utf8_lossy(&started.stderr).trim(),
                b.podman.display()
            );
        }
        Ok(())
    }
}

/// After Ctrl-C only: ends this build's `go build` in the builder, which outlives the Podman
/// client that started it (other builds in the same builder go on). Best effort: should it
/// fail, the compile finishes into a folder no other build reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopJobIfInterrupted {
    pub podman: PathBuf,
    pub name: String,
    /// The job's `/builds/<id>/out`, which only its `go build -o` names.
    pub out: String,
}

/// Kills every process but itself whose command line holds `$0` (Go images have `sh` and `tr`
/// but not always `pkill`).
const KILL_BY_ARGUMENT: &str = r#"for d in /proc/[0-9]*; do [ "${d#/proc/}" = "$$" ] && continue; case "$(tr "\0" " " <"$d/cmdline" 2>/dev/null)" in *"$0"*) kill -9 "${d#/proc/}" ;; esac; done"#;

impl StopJobIfInterrupted {
    fn args(&self) -> Vec<String> {
        let out = format!("{}/", self.out);
        ["exec", &self.name, "sh", "-c", KILL_BY_ARGUMENT, &out]
            .map(String::from)
            .to_vec()
    }
}

impl Action for StopJobIfInterrupted {
    fn shell_line(&self) -> String {
        let args: Vec<String> = self.args().iter().map(|a| quote(a)).collect();
        format!(
            "# (xtask) after Ctrl-C: {} {}",
            quote(&self.podman.to_string_lossy()),
            args.join(" ")
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        if interrupted() {
            let _ = Command::new(&self.podman)
                .args(self.args())
                .stdin(Stdio::null())
                .output();
        }
        Ok(())
    }
}

fn remove(podman: &Path, name: &str) -> Result<()> {
    let removed = Command::new(podman)
        .args(["rm", "--force", name])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", podman.display()))?;
    let stderr = String::from_utf8_lossy(&removed.stderr);
    if !removed.status.success() && !stderr.contains("no such container") {
        bail!(
            "cannot remove the builder container {name}: {}; run `{} rm --force {name}`",
            stderr.trim(),
            podman.display()
        );
    }
    Ok(())
}

/// Stdout of a successful podman command, trimmed; `None` when it fails.
fn podman_output(podman: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(podman)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests;
