//! The bench's private copy of the workspace (target/bench/work) and the edits it makes there,
//! so that the user's working tree is never touched.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xtask::testkit::WORKSPACE_PARTS;

/// The Go file whose one line the code-change scenarios edit; its value is served on /version,
/// which is how the hot-reload probe sees the new build.
pub(crate) const CODE_FILE: &str = "core/internal/buildinfo/buildinfo.go";
/// The same line in the thumbnailer plugin, which only the plugin compiles; it serves it on its
/// own /version (and `pixie-thumbnailer version` prints it).
pub(crate) const PLUGIN_CODE_FILE: &str = "plugins/thumbnailer/internal/buildinfo/buildinfo.go";
const PROTO_FILE: &str = "proto/photo/v1/photo.proto";
const GENERATED_FILE: &str = "proto/gen/photo/v1/photo.pb.go";

/// How the proto-change scenario updates the generated Go code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoRegen {
    /// protoc with this protoc-gen-go regenerates the file, as a developer would.
    Protoc { plugin: PathBuf },
    /// No protoc here: a comment appended to the generated file stands in for regeneration.
    CommentEdit,
}

/// go.mod/go.sum before and after one dependency was bumped; the bench alternates between them
/// so every dep-change build sees a go.mod it has not just built.
#[derive(Debug, Clone)]
pub struct DependencyBump {
    pub module: String,
    pub from: String,
    pub to: String,
    original: (String, String),
    bumped: (String, String),
    pub is_bumped: bool,
}

pub struct WorkCopy {
    pub root: PathBuf,
    /// Unique to this copy (its creation time), so no edit recreates a source that an earlier
    /// bench already built: a build cache would answer it without compiling.
    edit_prefix: String,
    code_edits: u32,
    proto_edits: u32,
}

impl WorkCopy {
    /// A fresh copy of what the builds read, replacing any earlier copy.
    pub fn create(workspace: &Path, root: PathBuf) -> Result<WorkCopy> {
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .with_context(|| format!("cannot remove the old copy {}", root.display()))?;
        }
        // WORKSPACE_PARTS starts with files (go.work), which need the folder to exist.
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        for entry in WORKSPACE_PARTS {
            copy_tree(&workspace.join(entry), &root.join(entry))
                .with_context(|| format!("cannot copy {entry} to {}", root.display()))?;
        }
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(WorkCopy {
            root,
            edit_prefix: format!("bench-{:x}", created.as_nanos()),
            code_edits: 0,
            proto_edits: 0,
        })
    }

    pub fn core(&self) -> PathBuf {
        self.root.join("core")
    }

    /// Changes one line of core's Go; returns the version string the new build will serve on
    /// /version.
    pub fn edit_code(&mut self) -> Result<String> {
        self.edit_version(CODE_FILE)
    }

    /// The same one-line change in the plugin's [`PLUGIN_CODE_FILE`].
    pub fn edit_plugin_code(&mut self) -> Result<String> {
        self.edit_version(PLUGIN_CODE_FILE)
    }

    fn edit_version(&mut self, file: &str) -> Result<String> {
        self.code_edits += 1;
        let marker = format!("{}-{}", self.edit_prefix, self.code_edits);
        let path = self.root.join(file);
        let text = std::fs::read_to_string(&path)?;
        std::fs::write(&path, with_version(&text, &marker, file)?)?;
        Ok(marker)
    }

    /// Adds a field to the Photo message and updates the generated code.
    pub fn edit_proto(&mut self, regen: &ProtoRegen) -> Result<()> {
        self.proto_edits += 1;
        let proto = self.root.join(PROTO_FILE);
        let text = std::fs::read_to_string(&proto)?;
        std::fs::write(&proto, with_photo_field(&text, self.proto_edits)?)?;
        match regen {
            ProtoRegen::Protoc { plugin } => {
                let protoc = duct::cmd!(
                    "protoc",
                    format!("--plugin=protoc-gen-go={}", plugin.display()),
                    "-I",
                    "proto",
                    "--go_out=proto/gen",
                    "--go_opt=paths=source_relative",
                    PROTO_FILE
                )
                .dir(&self.root);
                must_succeed(protoc, &format!("protoc failed on the edited {PROTO_FILE}"))?;
            }
            ProtoRegen::CommentEdit => {
                let generated = self.root.join(GENERATED_FILE);
                let mut text = std::fs::read_to_string(&generated)?;
                text.push_str(&format!(
                    "\n// bench: proto edit {} (stands in for regeneration)\n",
                    self.proto_edits
                ));
                std::fs::write(&generated, text)?;
            }
        }
        Ok(())
    }

    /// Reads go.mod/go.sum as they are and as `go get module@to` leaves them, then restores them.
    pub fn prepare_bump(&self, module: &str, from: &str, to: &str) -> Result<DependencyBump> {
        let read = || -> Result<(String, String)> {
            Ok((
                std::fs::read_to_string(self.core().join("go.mod"))?,
                std::fs::read_to_string(self.core().join("go.sum"))?,
            ))
        };
        let original = read()?;
        let get = duct::cmd!("go", "get", format!("{module}@{to}"))
            .dir(self.core())
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("GOWORK", "off");
        must_succeed(get, &format!("`go get {module}@{to}` failed"))?;
        let bumped = read()?;
        let bump = DependencyBump {
            module: module.into(),
            from: from.into(),
            to: to.into(),
            original,
            bumped,
            is_bumped: true,
        };
        self.write_mod(&bump.original)?;
        Ok(DependencyBump {
            is_bumped: false,
            ..bump
        })
    }

    /// Switches go.mod/go.sum to the other side of the bump.
    pub fn toggle_dependency(&self, bump: &mut DependencyBump) -> Result<()> {
        bump.is_bumped = !bump.is_bumped;
        let files = if bump.is_bumped {
            &bump.bumped
        } else {
            &bump.original
        };
        self.write_mod(files)
    }

    fn write_mod(&self, (go_mod, go_sum): &(String, String)) -> Result<()> {
        std::fs::write(self.core().join("go.mod"), go_mod)?;
        std::fs::write(self.core().join("go.sum"), go_sum)?;
        Ok(())
    }
}

/// Runs `command` with its output captured; a failure is `what` and that output.
fn must_succeed(command: duct::Expression, what: &str) -> Result<()> {
    let out = command
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()?;
    if !out.status.success() {
        bail!("{what}: {}", String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(())
}

/// `go.mod` lines that differ between the two sides of a bump, for the report.
pub fn changed_requirements(bump: &DependencyBump) -> Vec<String> {
    let before: Vec<&str> = bump.original.0.lines().collect();
    bump.bumped
        .0
        .lines()
        .filter(|line| !before.contains(line) && line.starts_with('\t'))
        .map(|line| line.trim().to_string())
        .collect()
}

/// The Go source of `file` with `Version = "…"` set to `marker`.
fn with_version(text: &str, marker: &str, file: &str) -> Result<String> {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !found && line.trim_start().starts_with("Version = ") {
                found = true;
                format!("\tVersion = \"{marker}\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    if !found {
        bail!("{file} has no `Version = ...` line for the bench to edit");
    }
    Ok(lines.join("\n") + "\n")
}

/// The proto with a new string field (number 1000 + `edit`) at the end of `message Photo`.
fn with_photo_field(text: &str, edit: u32) -> Result<String> {
    let start = text
        .find("message Photo {")
        .with_context(|| format!("{PROTO_FILE} has no `message Photo` for the bench to edit"))?;
    let end = start
        + text[start..]
            .find("\n}")
            .with_context(|| format!("`message Photo` in {PROTO_FILE} is not closed"))?;
    Ok(format!(
        "{}\n  // Added by cargo xtask bench (proto-change scenario).\n  string bench_field_{edit} = {};{}",
        &text[..end],
        1000 + edit,
        &text[end..]
    ))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if meta.is_file() {
        std::fs::copy(from, to)?;
    }
    // Symlinks and special files are not build inputs here; they are skipped.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_edit_changes_exactly_one_line() {
        let src = "package buildinfo\n\nvar (\n\tVersion = \"dev\"\n\tCommit  = \"unknown\"\n)\n";
        let edited = with_version(src, "bench-3", CODE_FILE).unwrap();
        assert_eq!(
            edited,
            "package buildinfo\n\nvar (\n\tVersion = \"bench-3\"\n\tCommit  = \"unknown\"\n)\n"
        );
        assert_eq!(
            with_version("package x\n", "m", PLUGIN_CODE_FILE)
                .unwrap_err()
                .to_string(),
            format!("{PLUGIN_CODE_FILE} has no `Version = ...` line for the bench to edit")
        );
    }

    #[test]
    fn proto_edit_adds_a_numbered_field_inside_photo() {
        let proto = "message Photo {\n  string id = 1;\n}\n\nmessage Other {\n}\n";
        let edited = with_photo_field(proto, 2).unwrap();
        assert_eq!(
            edited,
            "message Photo {\n  string id = 1;\n  // Added by cargo xtask bench (proto-change scenario).\n  string bench_field_2 = 1002;\n}\n\nmessage Other {\n}\n"
        );
    }

    #[test]
    fn the_real_sources_have_what_the_edits_need() {
        let root = xtask::testkit::repo_root();
        for file in [CODE_FILE, PLUGIN_CODE_FILE] {
            let code = std::fs::read_to_string(root.join(file)).unwrap();
            with_version(&code, "bench-1", file).unwrap();
        }
        let proto = std::fs::read_to_string(root.join(PROTO_FILE)).unwrap();
        with_photo_field(&proto, 1).unwrap();
    }

    #[test]
    fn copy_and_toggle_never_touch_the_source_tree() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-work-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("core/internal/buildinfo")).unwrap();
        std::fs::create_dir_all(src.join("proto")).unwrap();
        std::fs::create_dir_all(src.join("plugins")).unwrap();
        std::fs::create_dir_all(src.join("deployments")).unwrap();
        std::fs::write(src.join(".dockerignore"), "*\n").unwrap();
        std::fs::write(src.join("go.work"), "go 1.26.0\nuse ./core\n").unwrap();
        std::fs::write(src.join("go.work.sum"), "").unwrap();
        std::fs::write(src.join(CODE_FILE), "var (\n\tVersion = \"dev\"\n)\n").unwrap();
        let mut copy = WorkCopy::create(&src, dir.join("copy")).unwrap();
        let first = copy.edit_code().unwrap();
        let second = copy.edit_code().unwrap();
        assert!(
            first.starts_with("bench-") && first.ends_with("-1"),
            "{first}"
        );
        assert_eq!(second, format!("{}2", first.trim_end_matches('1')));
        assert!(std::fs::read_to_string(copy.root.join(CODE_FILE))
            .unwrap()
            .contains(&second));
        let again = WorkCopy::create(&src, dir.join("copy"))
            .unwrap()
            .edit_code()
            .unwrap();
        assert_ne!(again, first, "a new copy repeats no edit");
        assert!(std::fs::read_to_string(src.join(CODE_FILE))
            .unwrap()
            .contains("\"dev\""));
        let mut bump = DependencyBump {
            module: "m".into(),
            from: "v1".into(),
            to: "v2".into(),
            original: ("module x\n\trequire m v1\n".into(), "sum1".into()),
            bumped: ("module x\n\trequire m v2\n".into(), "sum2".into()),
            is_bumped: false,
        };
        assert_eq!(changed_requirements(&bump), ["require m v2"]);
        copy.toggle_dependency(&mut bump).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy.core().join("go.sum")).unwrap(),
            "sum2"
        );
        copy.toggle_dependency(&mut bump).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy.core().join("go.sum")).unwrap(),
            "sum1"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
