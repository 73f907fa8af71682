//! Several image builds as one `docker buildx bake` (the buildx route): one BuildKit run, which
//! solves the stages the targets share once and the rest in parallel (build-prod of every module
//! image). The bake file is written from the builds' own fields, after each build has passed
//! the checks of its own step ([`DockerBuild::step`]), so a bake refuses what a build would.
//! The built-in BuildKit (A) and Podman (C) have no bake: the builds run one after the other,
//! sharing the engine's cache.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::build::{DockerBuild, Output};
use super::engine::BuildRoute;
use super::Site;
use crate::files::RemoveTree;
use crate::plan::{action, Action, ActionCx, Plan, Step};

/// Builds of one bake, each a target named by its stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bake {
    pub builds: Vec<DockerBuild>,
}

impl Bake {
    /// Whether `builds` can be one bake on `site`: the buildx route, two builds or more, each
    /// of a stage of its own into the engine's store, online (buildx 0.13's bake has no
    /// `network`, which a vendored build's `--network=none` needs), on one builder.
    pub fn fits(builds: &[DockerBuild], site: &Site) -> bool {
        let mut stages: Vec<_> = builds.iter().map(|b| &b.stage).collect();
        stages.sort();
        stages.dedup();
        site.cli().route == BuildRoute::Buildx
            && builds.len() > 1
            && stages.len() == builds.len()
            && builds.iter().all(|b| {
                b.stage.is_some()
                    && b.output == Output::Load
                    && !b.offline
                    && b.metadata_file.is_none()
                    && b.builder == builds[0].builder
            })
    }

    /// Writes the bake file, bakes every target into the engine's store, removes the file.
    pub fn plan(&self, site: &Site) -> Result<Plan> {
        for build in &self.builds {
            build.step(site)?;
        }
        let file = site
            .ws
            .path("target/xtask")
            .join(format!("bake-{}.json", std::process::id()));
        let targets: Vec<&str> = self.builds.iter().map(target_name).collect();
        let mut step = Step::new(
            format!("bake {}", targets.join(", ")),
            &site.cli().path,
            &site.ws.root,
        )
        .args(["buildx", "bake"]);
        if let Some(builder) = &self.builds[0].builder {
            step = step.args(["--builder", builder]);
        }
        step = step
            .arg("--file")
            .arg(file.display().to_string())
            .arg("--load")
            .args(targets)
            .streamed()
            .envs(site.docker_env());
        if self.builds.iter().any(|b| b.plain_progress) {
            step = step.envs([("BUILDKIT_PROGRESS", "plain")]);
        }
        let mut plan = Plan::default();
        plan.push(action(
            "write the bake file",
            WriteBakeFile {
                path: file.clone(),
                text: self.file_text(),
            },
        ));
        plan.push(step);
        plan.cleanup
            .push(action("remove the bake file", RemoveTree(file)));
        Ok(plan)
    }

    /// The bake file (JSON): one target per build, with what its `buildx build` would pass.
    fn file_text(&self) -> String {
        let targets: Vec<String> = self
            .builds
            .iter()
            .map(|b| {
                let mut fields = vec![
                    ("context", json_string(".")),
                    ("dockerfile", json_string(&b.dockerfile)),
                    ("target", json_string(target_name(b))),
                    ("tags", json_list(b.tags.iter().map(String::as_str))),
                    (
                        "args",
                        format!(
                            "{{{}}}",
                            b.build_args
                                .iter()
                                .map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                ];
                let cache_from: Vec<String> = b.cache_from.iter().map(|c| c.buildx()).collect();
                if !cache_from.is_empty() {
                    fields.push((
                        "cache-from",
                        json_list(cache_from.iter().map(String::as_str)),
                    ));
                }
                if let Some(spec) = &b.cache_to {
                    fields.push(("cache-to", json_list([spec.buildx().as_str()])));
                }
                let secrets: Vec<String> = b
                    .secrets
                    .iter()
                    .map(|s| format!("id={},src={}", s.id, s.src.display()))
                    .collect();
                if !secrets.is_empty() {
                    fields.push(("secret", json_list(secrets.iter().map(String::as_str))));
                }
                if let Some(platform) = &b.platform {
                    fields.push(("platforms", json_list(platform.split(','))));
                }
                if b.no_cache {
                    fields.push(("no-cache", "true".into()));
                }
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("      {}: {v}", json_string(k)))
                    .collect();
                format!(
                    "    {}: {{\n{}\n    }}",
                    json_string(target_name(b)),
                    fields.join(",\n")
                )
            })
            .collect();
        format!("{{\n  \"target\": {{\n{}\n  }}\n}}\n", targets.join(",\n"))
    }
}

/// A build's bake target: its stage (`fits` requires one each).
fn target_name(build: &DockerBuild) -> &str {
    build.stage.as_deref().unwrap_or("default")
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(json_string).collect();
    format!("[{}]", items.join(", "))
}

/// Writes the bake file of one bake (under target/xtask; the plan's cleanup removes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBakeFile {
    pub path: PathBuf,
    pub text: String,
}

impl Action for WriteBakeFile {
    fn shell_line(&self) -> String {
        format!(
            "mkdir -p {dir} && cat >{file} <<'EOF'\n{}EOF",
            self.text,
            dir = crate::plan::shell::quote(&self.path.parent().unwrap().to_string_lossy()),
            file = crate::plan::shell::quote(&self.path.to_string_lossy())
        )
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        let dir = self.path.parent().context("the bake file has no folder")?;
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&self.path, &self.text))
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::settings::Flags;

    fn build(stage: &str) -> DockerBuild {
        DockerBuild {
            stage: Some(stage.into()),
            tags: vec![format!("pixie-{stage}:latest")],
            ..DockerBuild::new(format!("build {stage}"), crate::workspace::PROD_DOCKERFILE)
        }
        .build_arg("MODULE", stage)
    }

    #[test]
    fn module_images_on_buildx_are_one_bake_of_their_targets() {
        let ctx = ctx_with(BuildRoute::Buildx, &[], Flags::new());
        let site = ctx.docker();
        let builds = vec![build("core"), build("thumbnailer")];
        assert!(Bake::fits(&builds, &site));
        let plan = Bake {
            builds: builds.clone(),
        }
        .plan(&site)
        .unwrap();
        let step = &plan.commands()[0];
        let file = ctx
            .ws
            .path("target/xtask")
            .join(format!("bake-{}.json", std::process::id()));
        assert_eq!(
            step.args,
            [
                "buildx",
                "bake",
                "--file",
                &file.display().to_string(),
                "--load",
                "core",
                "thumbnailer"
            ]
        );
        let written = plan.actions::<WriteBakeFile>()[0];
        assert_eq!(written.path, file);
        assert!(
            written.text.contains(
                "    \"thumbnailer\": {\n      \"context\": \".\",\n      \"dockerfile\": \"deployments/docker/core.Dockerfile\",\n      \"target\": \"thumbnailer\",\n      \"tags\": [\"pixie-thumbnailer:latest\"],\n      \"args\": {\"MODULE\": \"thumbnailer\"}\n    }"
            ),
            "{}",
            written.text
        );
        assert_eq!(
            plan.cleanup,
            [action("remove the bake file", RemoveTree(file))]
        );
        // Not a bake: one build, another route, an offline (vendored) build.
        assert!(!Bake::fits(&builds[..1], &site));
        let built_in = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        assert!(!Bake::fits(&builds, &built_in.docker()));
        let offline = vec![
            build("core"),
            DockerBuild {
                offline: true,
                ..build("thumbnailer")
            },
        ];
        assert!(!Bake::fits(&offline, &site));
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
