//! The only writer of `docker build` / `docker buildx build` / `podman build` argv: a typed
//! [`DockerBuild`] becomes one [`Step`] for the engine's [`BuildRoute`], or, on Podman before 5.4
//! for a Dockerfile with a compile stage, the builder route's plan ([`super::builder`]), whose
//! image build is one such step too. Nothing downstream edits or parses the argv; to build
//! differently, change the `DockerBuild` (the bench does, for `--no-cache` and exports).

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::engine::BuildRoute;
use super::podman::RemoveBuildahLeftovers;
use super::Site;
use crate::plan::{action, Plan, Step, Task};

/// Where the result goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Output {
    /// An image in the engine's store (buildx: `--load`; the built-in route always does this).
    #[default]
    Load,
    /// Pushed to its registry (buildx: `--push`; built-in: `docker push` steps after the build).
    Push,
    /// The files of the final stage into a folder (`--output type=local,dest=DIR`).
    Local(PathBuf),
}

/// A cache import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSpec {
    Inline,
    /// `type=registry,ref=IMAGE` without further options, or a bare image ref.
    Registry(String),
    /// Any other buildx spec, kept verbatim.
    Other(String),
}

impl CacheSpec {
    pub fn parse(spec: &str) -> CacheSpec {
        if !spec.contains('=') {
            return CacheSpec::Registry(spec.to_string());
        }
        let fields: Vec<(&str, &str)> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
        match fields.as_slice() {
            [("type", "inline")] => CacheSpec::Inline,
            [("type", "registry"), ("ref", image)] | [("ref", image), ("type", "registry")] => {
                CacheSpec::Registry(image.to_string())
            }
            _ => CacheSpec::Other(spec.to_string()),
        }
    }

    /// The spec as buildx takes it.
    pub fn buildx(&self) -> String {
        match self {
            CacheSpec::Inline => "type=inline".into(),
            CacheSpec::Registry(image) => format!("type=registry,ref={image}"),
            CacheSpec::Other(spec) => spec.clone(),
        }
    }

    fn needs_actions_cache(&self) -> bool {
        matches!(self, CacheSpec::Other(spec)
            if spec.split(',').any(|f| f == "type=gha") && !spec.contains("token="))
    }
}

/// What a pushed image carries besides itself (buildx route only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestations {
    /// The SBOM generator image; BuildKit's default (docker/buildkit-syft-scanner) when `None`.
    pub sbom_generator: Option<String>,
}

/// A BuildKit secret (`RUN --mount=type=secret,id=ID`) read from a file on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub src: PathBuf,
}

/// One image build, as data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DockerBuild {
    pub label: String,
    /// Relative to the workspace root, which is the context.
    pub dockerfile: String,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, String)>,
    /// The stage to build (`--target`); the last one when `None`.
    pub stage: Option<String>,
    /// The stage that compiles, writing all the later stages take from it under `/out`
    /// (`core.Dockerfile`'s `build-NAME`): the builder route of Podman < 5.4 compiles in its builder
    /// container instead and hands this stage in as a folder ([`DockerBuild::plan`]).
    pub compile_stage: Option<String>,
    /// Stages (or images) replaced by a folder (`--build-context NAME=DIR`).
    pub build_contexts: Vec<(String, PathBuf)>,
    pub output: Output,
    pub cache_from: Vec<CacheSpec>,
    pub cache_to: Option<CacheSpec>,
    pub secrets: Vec<Secret>,
    /// `linux/arm64`, or a list (`linux/amd64,linux/arm64`: one manifest list, pushed); the
    /// engine's own when `None`.
    pub platform: Option<String>,
    /// SBOM and max-mode provenance for a pushed image.
    pub attestations: Option<Attestations>,
    /// Where buildx writes what it built and pushed (`containerimage.digest`); buildx only.
    pub metadata_file: Option<PathBuf>,
    /// `--network=none` for every RUN step.
    pub offline: bool,
    pub no_cache: bool,
    /// A buildx builder; buildx only.
    pub builder: Option<String>,
    /// Force plain progress (the bench reads captured logs only on failure).
    pub plain_progress: bool,
    /// Seconds since the epoch for the image's and its files' dates on the buildah route
    /// (`--timestamp`), which otherwise dates them now: with it, an unchanged image assembled
    /// again has the same layers (its ID still differs: buildah's docker-format config names
    /// the build's container), so a rebuild that changed nothing can be told apart.
    pub timestamp: Option<i64>,
    /// `--label KEY=VALUE` on the image.
    pub labels: Vec<(String, String)>,
}

impl DockerBuild {
    pub fn new(label: impl Into<String>, dockerfile: impl Into<String>) -> DockerBuild {
        DockerBuild {
            label: label.into(),
            dockerfile: dockerfile.into(),
            ..DockerBuild::default()
        }
    }

    pub fn build_arg(mut self, key: &str, value: impl Into<String>) -> DockerBuild {
        self.build_args.push((key.to_string(), value.into()));
        self
    }

    /// What runs this build through `site`'s engine, its cleanup included: one step, or on
    /// Podman before 5.4 with a compile stage, the builder route (`docker::builder`).
    pub fn plan(&self, site: &Site) -> Result<Plan> {
        let mut plan = match (&self.compile_stage, site.cli().route) {
            (Some(stage), BuildRoute::Buildah { layer_cache: false }) => {
                self.in_builder(stage, site)?
            }
            _ => Plan {
                steps: vec![self.step(site)?.into()],
                ..Plan::default()
            },
        };
        plan.cleanup.extend(self.cleanup(site));
        Ok(plan)
    }

    /// The streamed step that runs this build through `ctx`'s engine, or the one-line refusal of
    /// what the engine's route cannot do.
    pub fn step(&self, site: &Site) -> Result<Step> {
        site.ws.require(&self.dockerfile)?;
        let cli = site.cli();
        for spec in self.cache_from.iter().chain(&self.cache_to) {
            if spec.needs_actions_cache() && !site.host.actions_cache {
                bail!(
                    "`{}` needs GitHub Actions' cache service, but ACTIONS_RUNTIME_TOKEN is unset; in a workflow \
                     add crazy-max/ghaction-github-runtime before this step, elsewhere use type=registry or type=local",
                    spec.buildx()
                );
            }
        }
        let mut step = Step::new(&self.label, &cli.path, &site.ws.root);
        step = match (cli.route, &self.builder) {
            (BuildRoute::Buildx, None) => step.args(["buildx", "build"]),
            (BuildRoute::Buildx, Some(builder)) => {
                step.args(["buildx", "build", "--builder", builder])
            }
            (BuildRoute::BuiltIn, Some(builder)) => bail!(
                "--builder {builder} needs the buildx plugin, but {} uses the engine's built-in BuildKit; \
                 install docker-buildx-plugin (or point DOCKER at a CLI with buildx), or drop --builder",
                cli.path.display()
            ),
            (BuildRoute::BuiltIn, None) => step.arg("build"),
            (BuildRoute::Buildah { .. }, Some(builder)) => bail!(
                "--builder {builder} needs Docker's buildx plugin, but {} builds with podman build (buildah); \
                 drop --builder, or point DOCKER at a docker CLI with buildx",
                cli.path.display()
            ),
            // Docker format: the OCI format has no HEALTHCHECK, and buildah drops it.
            (BuildRoute::Buildah { layer_cache }, None) => {
                let mut step = step.args(["build", "--format", "docker"]);
                if !layer_cache {
                    step = step.arg("--layers=false");
                }
                match self.timestamp {
                    Some(epoch) => step.arg(format!("--timestamp={epoch}")),
                    None => step,
                }
            }
        };
        self.refuse_what_the_route_cannot(site)?;
        if let Some(stage) = &self.stage {
            step = step.args(["--target", stage]);
        }
        step = match (&self.output, cli.route) {
            (Output::Local(dir), _) => step.arg("--output").arg(format!(
                "type=local,dest={}",
                std::path::absolute(dir)?.display()
            )),
            (Output::Load, BuildRoute::Buildx) => step.arg("--load"),
            (Output::Push, BuildRoute::Buildx) => {
                step = step.arg("--push");
                match &self.attestations {
                    None => step,
                    Some(Attestations {
                        sbom_generator: None,
                    }) => step.args(["--sbom=true", "--provenance=mode=max"]),
                    Some(Attestations {
                        sbom_generator: Some(image),
                    }) => step
                        .arg("--attest")
                        .arg(format!("type=sbom,generator={image}"))
                        .arg("--provenance=mode=max"),
                }
            }
            // These build into the engine's store; a push is a `push` step afterwards.
            (Output::Load | Output::Push, BuildRoute::BuiltIn | BuildRoute::Buildah { .. }) => step,
        };
        if let Some(file) = &self.metadata_file {
            step = step.arg("--metadata-file").arg(file.display().to_string());
        }
        step = step.args(["--file", &self.dockerfile]);
        for tag in &self.tags {
            step = step.args(["--tag", tag]);
        }
        for (key, value) in &self.labels {
            step = step.arg("--label").arg(format!("{key}={value}"));
        }
        let mut build_args = self.build_args.clone();
        let mut cache_flags = Vec::new();
        for spec in &self.cache_from {
            match (cli.route, spec) {
                (BuildRoute::Buildx, spec) => {
                    cache_flags.extend(["--cache-from".into(), spec.buildx()])
                }
                (BuildRoute::BuiltIn, CacheSpec::Registry(image)) => {
                    cache_flags.extend(["--cache-from".into(), image.clone()])
                }
                (BuildRoute::BuiltIn, spec) => return Err(refuse(site, spec, "--cache-from")),
                (BuildRoute::Buildah { .. }, spec) => {
                    return Err(refuse_on_buildah(site, spec, "--cache-from"))
                }
            }
        }
        match (cli.route, &self.cache_to) {
            (_, None) => {}
            (BuildRoute::Buildx, Some(spec)) => {
                cache_flags.extend(["--cache-to".into(), spec.buildx()])
            }
            (BuildRoute::BuiltIn, Some(CacheSpec::Inline)) => {
                build_args.push(("BUILDKIT_INLINE_CACHE".into(), "1".into()))
            }
            (BuildRoute::BuiltIn, Some(spec)) => return Err(refuse(site, spec, "--cache-to")),
            (BuildRoute::Buildah { .. }, Some(spec)) => {
                return Err(refuse_on_buildah(site, spec, "--cache-to"))
            }
        }
        if let (Some(_), BuildRoute::Buildah { .. }) = (&self.platform, cli.route) {
            // buildah 1.28 leaves `FROM --platform=$BUILDPLATFORM` unexpanded and looks for a
            // builder image of the target platform: name the host's.
            build_args.push(("BUILDPLATFORM".into(), host_platform()));
        }
        for (key, value) in build_args {
            step = step.arg("--build-arg").arg(format!("{key}={value}"));
        }
        step = step.args(cache_flags);
        for (name, dir) in &self.build_contexts {
            if cli.route == BuildRoute::BuiltIn {
                bail!(
                    "--build-context needs the buildx plugin or Podman: {} uses the engine's built-in BuildKit; install docker-buildx-plugin",
                    cli.path.display()
                );
            }
            step = step
                .arg("--build-context")
                .arg(format!("{name}={}", std::path::absolute(dir)?.display()));
        }
        for secret in &self.secrets {
            step =
                step.arg("--secret")
                    .arg(format!("id={},src={}", secret.id, secret.src.display()));
        }
        if self.offline {
            // The proof that vendoring is complete: RUN steps get no network at all.
            step = step.arg("--network=none");
        }
        if self.no_cache {
            step = step.arg("--no-cache");
        }
        if let Some(platform) = &self.platform {
            step = step.arg("--platform").arg(platform);
        }
        let mut step = step.arg(".").streamed();
        if cli.route.is_buildkit() {
            step = step.envs(site.docker_env());
            if self.plain_progress {
                step = step.envs([("BUILDKIT_PROGRESS", "plain")]);
            }
        }
        Ok(match cli.route {
            // The 20.10 engine's BuildKit (0.8) can crash the whole daemon when builds that share
            // steps run at once ("panic: failed to get edge", moby/moby#42414): one at a time.
            BuildRoute::BuiltIn => step.serialized(builtin_buildkit_lock(site)),
            // One at a time too, so that after Ctrl-C the working containers podman build
            // leaves behind can be told apart from those of a build still running.
            BuildRoute::Buildah { .. } => step.serialized(podman_build_lock(site)),
            BuildRoute::Buildx => step,
        })
    }

    /// What runs after this build whatever happened (the plan's cleanup).
    fn cleanup(&self, site: &Site) -> Option<Task> {
        matches!(site.cli().route, BuildRoute::Buildah { .. }).then(|| {
            action(
                "remove what an interrupted podman build left",
                RemoveBuildahLeftovers {
                    podman: site.cli().path.clone(),
                    lock: podman_build_lock(site),
                },
            )
        })
    }
}

/// One lock per machine for builds through Podman.
pub fn podman_build_lock(site: &Site) -> PathBuf {
    podman_build_lock_in(&site.host.temp_dir)
}

/// The Podman build lock in the temporary folder `temp_dir`.
pub fn podman_build_lock_in(temp_dir: &std::path::Path) -> PathBuf {
    temp_dir.join("pixie-xtask-podman-build.lock")
}

impl DockerBuild {
    /// Multi-platform lists and attestations, before anything runs: only buildx makes them, and a
    /// list can only be pushed.
    fn refuse_what_the_route_cannot(&self, site: &Site) -> Result<()> {
        for (key, image) in &self.build_args {
            if key.ends_with("_IMAGE") {
                check_digest(image)?;
            }
        }
        let cli = site.cli();
        let multi = self.platform.as_deref().is_some_and(|p| p.contains(','));
        if multi && cli.route != BuildRoute::Buildx {
            bail!(
                "--platform {} needs the buildx route: {} {}, which cannot \
                 make a manifest list; install docker-buildx-plugin (or point DOCKER at a CLI with buildx)",
                self.platform.as_deref().unwrap_or_default(),
                cli.path.display(),
                builds_with(cli.route)
            );
        }
        if multi && self.output == Output::Load {
            bail!(
                "--platform {} makes a manifest list, which the engine's image store cannot load; add --push \
                 (with --tag REGISTRY/IMAGE), or build one platform",
                self.platform.as_deref().unwrap_or_default()
            );
        }
        if self.attestations.is_some() && cli.route != BuildRoute::Buildx {
            bail!(
                "--push cannot attest (SBOM, provenance) through {} ({}); \
                 install docker-buildx-plugin to push attested images, or add --no-attest to push without",
                match cli.route {
                    BuildRoute::Buildah { .. } => "podman build (buildah)",
                    _ => "the engine's built-in BuildKit",
                },
                cli.path.display()
            );
        }
        Ok(())
    }
}

/// A base image pinned by digest (`name:tag@sha256:…`) must carry a well-formed one: a typo
/// would otherwise surface as a pull error deep in the build.
pub fn check_digest(image: &str) -> Result<()> {
    let Some((name, digest)) = image.split_once('@') else {
        return Ok(());
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        bail!(
            "base image `{image}` has a malformed digest: write it as {name}@sha256:<64 lowercase hex digits>, \
             the `Digest:` line of `docker buildx imagetools inspect {name}`"
        );
    }
    Ok(())
}

/// How a route that is not buildx builds, for refusals.
pub fn builds_with(route: BuildRoute) -> &'static str {
    match route {
        BuildRoute::Buildah { .. } => "builds with podman build (buildah)",
        _ => "uses the engine's built-in BuildKit",
    }
}

/// `linux/amd64` on x86-64 hosts, `linux/arm64` on AArch64: Go's names for Rust's.
pub(super) fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

/// buildah takes no BuildKit cache specs.
fn refuse_on_buildah(site: &Site, spec: &CacheSpec, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} `{}` needs BuildKit: {} builds with podman build (buildah), which keeps its cache in \
         Podman's own store; drop {what}, or point DOCKER at a docker CLI with buildx",
        spec.buildx(),
        site.cli().path.display()
    )
}

/// The built-in route of pre-23 CLIs knows only inline cache (export) and image refs (import).
fn refuse(site: &Site, spec: &CacheSpec, what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} `{}` needs the buildx plugin: {} uses the engine's built-in BuildKit, which can only \
         export inline cache (--cache-to type=inline) and import it from an image (--cache-from IMAGE); \
         install docker-buildx-plugin for registry, gha and local caches",
        spec.buildx(),
        site.cli().path.display()
    )
}

/// One lock per machine for builds through an engine's built-in BuildKit.
pub fn builtin_buildkit_lock(site: &Site) -> PathBuf {
    site.host.temp_dir.join("pixie-xtask-builtin-buildkit.lock")
}

/// `docker push TAG`: how the built-in route pushes what it built.
pub fn push_step(site: &Site, tag: &str) -> Step {
    Step::new(format!("push {tag}"), &site.cli().path, &site.ws.root)
        .args(["push", tag])
        .streamed()
}

#[cfg(test)]
mod tests;
