//! The change scenarios' preparation: which dependency to bump, and how to regenerate protos.

use anyhow::{bail, Result};

use crate::bench::Bench;
use crate::work::{self, ProtoRegen};

impl Bench<'_> {
    pub(crate) fn prepare_dependency_bump(&mut self) -> Result<()> {
        let core = self.work.core();
        let go = |args: &[&str]| -> Result<String> {
            let out = duct::cmd("go", args)
                .dir(&core)
                .env("GOFLAGS", "-mod=mod")
                .env("GOWORK", "off")
                .env("GOTOOLCHAIN", "local")
                .stderr_capture()
                .stdout_capture()
                .unchecked()
                .run()?;
            if !out.status.success() {
                bail!(
                    "`go {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let used = go(&[
            "list",
            "-deps",
            "-f",
            "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}",
            "./cmd/pixie-core",
        ])?;
        let mut modules: Vec<&str> = used.lines().filter(|l| !l.is_empty()).collect();
        modules.sort_unstable();
        modules.dedup();
        let mut args = vec![
            "list",
            "-m",
            "-u",
            "-f",
            "{{.Indirect}} {{.Path}} {{.Version}}{{with .Update}} {{.Version}}{{end}}",
        ];
        args.extend(&modules);
        let listed = go(&args)?;
        // Prefer a direct requirement ("false" sorts before "true").
        let mut candidates: Vec<Vec<&str>> = listed
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|fields| fields.len() == 4)
            .collect();
        candidates.sort();
        let Some(chosen) = candidates.first() else {
            bail!("no module the build uses has a newer version on the proxy, so the dep-change scenario has nothing to bump; run with --quick, or add a module that has one");
        };
        let bump = self.work.prepare_bump(chosen[1], chosen[2], chosen[3])?;
        let lines = work::changed_requirements(&bump);
        self.results.notes.push(("dependency change", format!(
            "{} {} ⇄ {}, alternating (go.mod lines that change: {}); docker setups download it inside the build, limit finds it in the host module cache (`go get` fetched it beforehand)",
            bump.module, bump.from, bump.to, lines.join("; ")
        )));
        self.bump = Some(bump);
        Ok(())
    }

    /// protoc with the protoc-gen-go of go.mod's protobuf version when possible, else the comment
    /// stand-in; either way the report says which.
    pub(crate) fn prepare_proto_regen(&mut self) -> Result<()> {
        let tools = self.dir.join("tools");
        let installed = which::which("protoc").is_ok()
            && duct::cmd!(
                "go",
                "install",
                "google.golang.org/protobuf/cmd/protoc-gen-go"
            )
            .dir(self.work.core())
            .env("GOBIN", &tools)
            .env("GOFLAGS", "-mod=mod")
            .env("GOWORK", "off")
            .stderr_capture()
            .stdout_capture()
            .unchecked()
            .run()
            .is_ok_and(|o| o.status.success());
        let note = if installed {
            self.proto = ProtoRegen::Protoc {
                plugin: tools.join("protoc-gen-go"),
            };
            "a string field added to message Photo in proto/photo/v1/photo.proto and proto/gen/photo/v1/photo.pb.go regenerated with protoc + protoc-gen-go (go.mod's version)"
        } else {
            "a string field added to message Photo in proto/photo/v1/photo.proto; protoc or protoc-gen-go is not available here, so a comment appended to proto/gen/photo/v1/photo.pb.go stands in for regeneration"
        };
        self.results.notes.push(("proto change", note.into()));
        Ok(())
    }
}
