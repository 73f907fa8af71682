//! One production image per Go module (core, the thumbnailer), from one Dockerfile shape: what
//! each image is, and that an edit rebuilds exactly the images whose module compiles it.

use std::collections::BTreeMap;
use std::path::Path;

use xtask::settings::{Config, GO_IMAGE, RUNTIME_IMAGE};
use xtask::testkit::docker::{
    docker, hold_podman_build_lock, inspect, is_podman, require_engine, Untag,
};
use xtask::testkit::{ok, repo_root, unique_name, workspace_copy, RemoveDir};

use crate::build_prod::file_of;
use crate::{build_prod_images, numeric_uid, prod_images, xtask};

#[test]
fn every_module_image_is_non_root_with_its_binary_as_entrypoint_and_healthcheck() {
    require_engine();
    let names: Vec<&str> = prod_images().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["core", "thumbnailer"]);
    for (name, image) in prod_images() {
        let binary = format!("/usr/local/bin/pixie-{name}");
        assert_eq!(numeric_uid(&inspect(image, "{{.Config.User}}")), 65532);
        assert_eq!(
            inspect(image, "{{json .Config.Entrypoint}}"),
            format!("[\"{binary}\"]")
        );
        assert_eq!(
            inspect(image, "{{json .Config.Healthcheck.Test}}"),
            format!("[\"CMD\",\"{binary}\",\"healthcheck\"]")
        );
        assert!(
            !file_of(image, &binary).is_empty(),
            "{image} has no {binary}"
        );
    }
}

/// The Dockerfile is also the engine's own: its build command, given only the base images,
/// builds every module's image from a checkout without vendor/, as someone without the xtask
/// (and the bench's plain `podman build`) does. Podman's buildah rejects some of what BuildKit
/// allows, such as an optional `COPY` whose pattern matches nothing.
#[test]
fn the_engines_own_build_command_builds_every_module_image_without_the_xtask() {
    require_engine();
    let ws = workspace_copy("plain-build");
    let _remove = RemoveDir(ws.clone());
    let config = Config::load(&repo_root(), &Vec::new()).unwrap();
    for (name, _) in prod_images() {
        let image = format!("{}:plain", unique_name(&format!("pixie-{name}")));
        let _untag = Untag(vec![image.clone()]);
        let _lock = hold_podman_build_lock();
        // Podman before 5.4: without its layer cache, which ignores bind-mounted sources
        // (docs/engines.md), as the bench's plain `podman build` runs it.
        let layers: &[&str] = if is_podman() {
            &["--layers=false"]
        } else {
            &[]
        };
        ok(docker()
            .current_dir(&ws)
            .env("DOCKER_BUILDKIT", "1")
            .args(["build", "--file", "deployments/docker/core.Dockerfile"])
            .args(layers)
            .args(["--target", name, "--tag", &image, "--build-arg"])
            .arg(format!("GO_IMAGE={}", config.text(&GO_IMAGE)))
            .arg("--build-arg")
            .arg(format!("RUNTIME_IMAGE={}", config.text(&RUNTIME_IMAGE)))
            .arg("."));
        let version = ok(docker().args(["run", "--rm", &image, "version"]));
        assert!(
            version.contains("\"version\""),
            "{image} (target {name}) does not run its binary: {version}"
        );
    }
}

#[test]
fn build_prod_module_builds_that_image_alone_and_an_unknown_name_lists_the_known_ones() {
    let out = xtask()
        .args(["build-prod", "--module", "thumbnailer", "--dry-run"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{plan}");
    let builds: Vec<&str> = plan.lines().filter(|l| l.contains(" --file ")).collect();
    assert_eq!(builds.len(), 1, "{plan}");
    assert!(builds[0].contains("--target thumbnailer"), "{plan}");
    let out = xtask()
        .args(["build-prod", "--module", "thumbs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: no module `thumbs` with an image; the modules with one are: core, thumbnailer (go.work's modules with a cmd/pixie-NAME main package)"
    );
}

/// What an image is made of: its ID on Docker; on Podman its layers, since buildah's
/// docker-format config names the build's container, so even an unchanged image assembled
/// again gets a new ID (the xtask dates its files with `--timestamp`, so the layers repeat).
fn content(image: &str) -> String {
    let format = if is_podman() {
        "{{json .RootFS.Layers}}"
    } else {
        "{{.Id}}"
    };
    inspect(image, format)
}

/// Builds every module's image in `ws`; returns module name → content, and the output.
fn build(ws: &Path) -> (BTreeMap<String, String>, String) {
    let (images, log) = build_prod_images(ws, "e2e-isolation", &["build-prod"]);
    let contents = images
        .into_iter()
        .map(|(name, image)| (name, content(&image)))
        .collect();
    (contents, log)
}

/// Replaces `from` by `to` once in `ws/file`, which must contain it.
fn edit(ws: &Path, file: &str, from: &str, to: &str) {
    let path = ws.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} no longer has `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Which images changed between two builds.
fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    before
        .iter()
        .filter(|(name, id)| after[*name] != **id)
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn a_plugin_edit_rebuilds_only_the_plugin_and_shared_code_rebuilds_both() {
    require_engine();
    // A copy has no .git: every build has the same stamp, so only sources can change an image.
    let ws = workspace_copy("isolation");
    let _remove = RemoveDir(ws.clone());
    let _untag = xtask::testkit::docker::Untag(
        [
            "pixie-core:e2e-isolation",
            "pixie-thumbnailer:e2e-isolation",
        ]
        .map(String::from)
        .to_vec(),
    );
    let (mut last, _) = build(&ws);
    for (what, file, from, to, expected) in [
        (
            "a one-line change in the plugin",
            "plugins/thumbnailer/cmd/pixie-thumbnailer/main.go",
            "takes no arguments",
            "takes no arguments at all",
            &["thumbnailer"][..],
        ),
        (
            "a change in a shared package (core/pkg)",
            "core/pkg/health/health.go",
            "%s returned %s",
            "%s answered %s",
            &["core", "thumbnailer"][..],
        ),
        (
            // A line added above the code: the compiled functions' line table changes.
            "a change in the proto module's generated code",
            "proto/gen/photo/v1/photo.pb.go",
            "package photov1",
            "// Edited by the rebuild test.\npackage photov1",
            &["core", "thumbnailer"][..],
        ),
    ] {
        edit(&ws, file, from, to);
        let (now, log) = build(&ws);
        assert_eq!(changed(&last, &now), expected, "after {what} ({file})");
        // Podman's builder route has no layer cache: it skips an image whose inputs it knows.
        if is_podman() && what.contains("plugin") {
            assert!(
                log.contains("pixie-core:e2e-isolation: built from these very inputs already"),
                "{log}"
            );
        }
        last = now;
    }
}
