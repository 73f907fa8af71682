//! What a build on the Podman builder route reads, as one fingerprint, so that an image made
//! from the very same inputs is not made again. BuildKit (engines A, B) caches by itself; the
//! builder route has no cache by design (`podman build --layers=false`: containers/buildah#5400),
//! so a build that changed nothing cost a compile and an assembly, ~2.5 s per image here.
//!
//! The inputs: the sources the compile stage binds (read from the Dockerfile, whose BuildKit
//! builds on A and B prove the list complete: a missing source fails there), the workspace's
//! module files (go.work, every module's go.mod/go.sum), vendor/, the Dockerfile itself and
//! .dockerignore, every build argument and the IDs of the base images. A file counts by its path,
//! size and modification time, as make's do: any edit, even one undone, changes the fingerprint,
//! so the worst case is a rebuild too many, never a stale image.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use super::engine::captured_stdout;
use crate::fsutil;
use crate::plan::shell::quote;
use crate::plan::{Action, ActionCx};
use crate::workspace::{fnv1a, Workspace, GO_WORK};

/// The label of an image built on the builder route holding its inputs' fingerprint.
pub const INPUTS_LABEL: &str = "pixie.inputs";

/// The sources `stage`'s RUN steps bind from the build context (`--mount=type=bind,source=…`
/// without `from=`); `None` when the Dockerfile has no such stage.
pub fn bound_sources(dockerfile: &str, stage: &str) -> Option<Vec<String>> {
    let joined = dockerfile.replace("\\\n", " ");
    let mut in_stage = false;
    let mut found = false;
    let mut sources = Vec::new();
    for line in joined.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let name = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("AS"))
                .and_then(|i| words.get(i + 1));
            in_stage = name == Some(&stage);
            found |= in_stage;
            continue;
        }
        if !in_stage {
            continue;
        }
        for mount in words.iter().filter_map(|w| w.strip_prefix("--mount=")) {
            let options: Vec<(&str, &str)> =
                mount.split(',').filter_map(|o| o.split_once('=')).collect();
            let option = |key: &str| options.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
            if option("type") == Some("bind") && option("from").is_none() {
                if let Some(source) = option("source").or(option("src")) {
                    sources.push(source.to_string());
                }
            }
        }
    }
    found.then_some(sources)
}

/// The fingerprint of a build of `stage` of `dockerfile` (relative to the workspace root) with
/// `args`, on the base images whose IDs `base_ids` gives (asked last, and only when all else is
/// known); `None` when its inputs cannot all be read.
pub fn fingerprint(
    ws: &Workspace,
    dockerfile: &str,
    stage: &str,
    args: &[(String, String)],
    base_ids: impl FnOnce() -> Option<Vec<String>>,
) -> Option<String> {
    let text = std::fs::read_to_string(ws.path(dockerfile)).ok()?;
    let mut paths = bound_sources(&text, stage)?;
    paths.extend(
        [
            dockerfile,
            ".dockerignore",
            GO_WORK,
            "go.work.sum",
            "vendor",
        ]
        .map(String::from),
    );
    for module in ws.go_modules().ok()? {
        paths.extend(["go.mod", "go.sum"].map(|f| format!("{}/{f}", module.dir)));
    }
    let mut lines: Vec<String> = Vec::new();
    for path in paths {
        let full = ws.path(&path);
        let files = match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_dir() => fsutil::walk(&full).ok()?,
            Ok(_) => vec![full],
            // go.work.sum and vendor/ may be absent: so noted, their appearing changes it.
            Err(_) => {
                lines.push(format!("absent {path}"));
                continue;
            }
        };
        for file in files {
            let meta = std::fs::symlink_metadata(&file).ok()?;
            let relative = file.strip_prefix(&ws.root).ok()?.display().to_string();
            lines.push(format!(
                "{relative} {} {}.{}",
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec()
            ));
        }
    }
    lines.sort();
    let mut args: Vec<String> = args.iter().map(|(k, v)| format!("arg {k}={v}")).collect();
    args.sort();
    lines.extend(args);
    lines.extend(base_ids()?.iter().map(|id| format!("base {id}")));
    Some(format!("{:016x}", fnv1a(&lines.join("\n"))))
}

/// Skips a builder-route build whose every tag is an image built from these very inputs: it
/// creates the `skip` file the build's steps are conditional on (removed by the plan's cleanup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipUnchanged {
    pub podman: PathBuf,
    pub tags: Vec<String>,
    pub fingerprint: String,
    pub skip: PathBuf,
}

impl Action for SkipUnchanged {
    fn shell_line(&self) -> String {
        format!(
            "rm -f {}  # (xtask) then creates it when {} {} label {INPUTS_LABEL}={}: built from these very inputs",
            quote(&self.skip.to_string_lossy()),
            self.tags.join(", "),
            if self.tags.len() == 1 { "has" } else { "have" },
            self.fingerprint
        )
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        let _ = std::fs::remove_file(&self.skip);
        let format = format!("{{{{index .Labels \"{INPUTS_LABEL}\"}}}}");
        let labels = captured_stdout(
            Command::new(&self.podman)
                .args(["image", "inspect", "--format", &format])
                .args(&self.tags),
        )
        .unwrap_or_default();
        let unchanged = labels.lines().count() == self.tags.len()
            && labels.lines().all(|label| label.trim() == self.fingerprint);
        if unchanged {
            if let Some(dir) = self.skip.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&self.skip, "")?;
            cx.ui.info(format_args!(
                "{}: built from these very inputs already; not built again",
                self.tags.join(", ")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn skips_only_when_every_tag_carries_the_fingerprint() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("xtask-skip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A stand-in podman: one label line per tag from the file `labels`, failing without it.
        let podman = dir.join("podman");
        let script = format!(
            "#!/bin/sh
exec cat {}/labels
",
            dir.display()
        );
        std::fs::write(&podman, script).unwrap();
        std::fs::set_permissions(&podman, std::fs::Permissions::from_mode(0o755)).unwrap();
        let skip = SkipUnchanged {
            podman,
            tags: vec!["pixie-core:latest".into(), "pixie-core:v1".into()],
            fingerprint: "00ff".into(),
            skip: dir.join("builds/1-0.skip"),
        };
        let cx = ActionCx {
            ui: crate::ui::Ui::default().inner(),
            since: std::time::Instant::now(),
        };
        let skipped = |labels: Option<&str>| {
            match labels {
                Some(text) => std::fs::write(dir.join("labels"), text).unwrap(),
                None => std::fs::remove_file(dir.join("labels")).unwrap(),
            }
            skip.run(&cx).unwrap();
            skip.skip.exists()
        };
        assert!(skipped(Some("00ff\n00ff\n")));
        assert!(!skipped(Some("00ff\n0aaa\n")), "one tag is another image");
        assert!(!skipped(Some("00ff\n")), "one tag is missing");
        assert!(!skipped(Some("\n\n")), "built without the label");
        assert!(!skipped(None), "inspect failed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stage_binds_its_context_sources_not_other_stages_or_caches() {
        let dockerfile = "\
FROM scratch AS workspace
COPY go.work /
FROM golang AS build-core
RUN --mount=type=bind,from=workspace,target=/src,rw \\
    --mount=type=bind,source=deployments/docker/go-build.sh,target=/src/x \\
    --mount=type=bind,source=core,target=/src/core \\
    --mount=type=cache,target=/go/pkg/mod \\
    sh /src/x compile
FROM golang AS build-thumbnailer
RUN --mount=type=bind,source=plugins/thumbnailer,target=/src/p sh build
";
        assert_eq!(
            bound_sources(dockerfile, "build-core").unwrap(),
            ["deployments/docker/go-build.sh", "core"]
        );
        assert_eq!(
            bound_sources(dockerfile, "build-thumbnailer").unwrap(),
            ["plugins/thumbnailer"]
        );
        assert_eq!(bound_sources(dockerfile, "build-other"), None);
    }

    #[test]
    fn the_real_compile_stages_bind_their_modules_and_the_shared_packages() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let ws = Workspace::at(root.to_path_buf());
        let text = std::fs::read_to_string(ws.path(crate::workspace::PROD_DOCKERFILE)).unwrap();
        let core = bound_sources(&text, "build-core").unwrap();
        assert!(
            core.contains(&"core".to_string()) && core.contains(&"proto".to_string()),
            "{core:?}"
        );
        let plugin = bound_sources(&text, "build-thumbnailer").unwrap();
        assert!(plugin.contains(&"core/pkg".to_string()), "{plugin:?}");
        assert!(!plugin.contains(&"core".to_string()), "{plugin:?}");
    }

    #[test]
    fn an_edit_in_a_bound_source_changes_only_the_stages_binding_it() {
        let root = std::env::temp_dir().join(format!("xtask-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("go.work", "go 1.26\n\nuse (\n\t./core\n\t./plugin\n)\n");
        write("core/go.mod", "module core\n");
        write("core/main.go", "package main\n");
        write("plugin/go.mod", "module plugin\n");
        write("plugin/main.go", "package main\n");
        write(
            "Dockerfile",
            "FROM g AS build-core\nRUN --mount=type=bind,source=core,target=/c b\nFROM g AS build-plugin\nRUN --mount=type=bind,source=plugin,target=/p b\n",
        );
        let ws = Workspace::at(root.clone());
        let args = vec![("VERSION".to_string(), "v1".to_string())];
        let print = |stage: &str, args: &[(String, String)], base: &str| {
            fingerprint(&ws, "Dockerfile", stage, args, || {
                Some(vec![base.to_string()])
            })
            .unwrap()
        };
        let (core, plugin) = (
            print("build-core", &args, "go1"),
            print("build-plugin", &args, "go1"),
        );
        assert_eq!(print("build-core", &args, "go1"), core, "nothing changed");
        write("core/main.go", "package main\n\nfunc main() {}\n");
        assert_ne!(
            print("build-core", &args, "go1"),
            core,
            "core's source edited"
        );
        assert_eq!(
            print("build-plugin", &args, "go1"),
            plugin,
            "the plugin binds no core file"
        );
        let core = print("build-core", &args, "go1");
        write("core/go.mod", "module core\n\ngo 1.26\n");
        assert_ne!(
            print("build-plugin", &args, "go1"),
            plugin,
            "a module file is everyone's"
        );
        let plugin = print("build-plugin", &args, "go1");
        assert_ne!(
            print("build-plugin", &args, "go2"),
            plugin,
            "another base image"
        );
        let other = vec![("VERSION".to_string(), "v2".to_string())];
        assert_ne!(
            print("build-plugin", &other, "go1"),
            plugin,
            "another argument"
        );
        write("vendor/modules.txt", "# none\n");
        assert_ne!(print("build-core", &args, "go1"), core, "vendor/ appeared");
        assert!(fingerprint(&ws, "Dockerfile", "build-none", &args, || None).is_none());
        assert!(fingerprint(&ws, "Dockerfile", "build-core", &args, || None).is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
