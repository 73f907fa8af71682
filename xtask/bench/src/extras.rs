//! What the bench measures besides the setups' scenarios: binary and image sizes, the GOGC
//! sweep of the host compile, and the xtask's own cold compile and `--help` latency.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xtask::commands::image_build;
use xtask::ctx::Ctx;
use xtask::docker::build::{DockerBuild, Output};
use xtask::plan::Step;
use xtask::settings::{self, Value};
use xtask::signals::{self, Interrupted};
use xtask::target::Target;

use crate::bench::{bench_tag, host_go_env, Bench};
use crate::builds::{before_tag, timed_build};
use crate::measure::{self, timed};
use crate::report::GogcSamples;
use crate::report::Setup;

/// GOGC values of the sweep; empty is Go's default (unset).
const GOGC_VALUES: [&str; 5] = ["", "100", "200", "400", "off"];
const HELP_RUNS: usize = 20;
const CARGO_HELP_RUNS: usize = 5;

impl Bench<'_> {
    pub(crate) fn measure_sizes(&mut self) -> Result<()> {
        self.ctx.ui.info("bench: sizes");
        let out = self.dir.join("out");
        let engine = self.ctx.engine();
        // The limit binary is the stripped one; a plain `go build` is what before and air produce.
        let unstripped = out.join("unstripped/pixie-core");
        timed(
            Step::new("host go build (no flags)", "go", self.work.core())
                .args(["build", "-o"])
                .arg(unstripped.display().to_string())
                .arg("./cmd/pixie-core")
                .envs(host_go_env(&self.dir.join("gocache"))),
            &self.ui,
        )?;
        self.results.sizes.binary_unstripped = Some(measure::file_size(&unstripped)?);
        self.results.sizes.binary_stripped =
            Some(measure::file_size(&out.join("limit/pixie-core"))?);
        let exported = out.join("prod-binary");
        let export = DockerBuild {
            stage: Some("binary".into()),
            output: Output::Local(exported.clone()),
            ..image_build(&self.copy, Target::Prod)
        };
        timed(export.step(&self.copy.docker())?, &self.ui)?;
        self.results.sizes.prod_binary = Some(measure::file_size(&exported.join("pixie-core"))?);
        let scratch_ctx = Ctx {
            ws: self.copy.ws.clone(),
            config: self
                .copy
                .config
                .clone()
                .with(&settings::RUNTIME_IMAGE, Value::Text("scratch".into()))
                .with(
                    &settings::PROD_IMAGE,
                    Value::Text(bench_tag("prod-scratch")),
                ),
            host: self.copy.host.clone(),
            engine: self.copy.engine.clone(),
            ui: self.copy.ui,
            dry_run: false,
        };
        let scratch = timed_build(image_build(&scratch_ctx, Target::Prod), false);
        timed(scratch.step(&scratch_ctx.docker())?, &self.ui)?;
        self.remember_image(&Target::Prod.image(&scratch_ctx.config));
        let size = |image: &str| {
            engine
                .image_size(image)
                .with_context(|| format!("cannot read the size of image {image}"))
        };
        let sizes = &mut self.results.sizes;
        sizes.prod_scratch_image = Some(size(&Target::Prod.image(&scratch_ctx.config))?);
        sizes.prod_image = Some(size(&Target::Prod.image(&self.copy.config))?);
        sizes.before_image = Some(size(&before_tag(Setup::Before2fb3e22))?);
        sizes.dev_image = Some(size(&Target::Dev.image(&self.copy.config))?);
        sizes.runtime_base_image = Some(size(self.ctx.config.text(&settings::RUNTIME_IMAGE))?);
        Ok(())
    }

    /// The host compile with each GOGC value, a fresh GOCACHE every time so the compiler works.
    pub(crate) fn measure_gogc(&mut self, runs: u32) -> Result<()> {
        let cache = self.dir.join("gocache-gogc");
        let mut sweep: Vec<GogcSamples> = GOGC_VALUES
            .iter()
            .map(|v| GogcSamples {
                value: v.to_string(),
                seconds: Vec::new(),
                build_peak_kib: Vec::new(),
                largest_process_kib: Vec::new(),
            })
            .collect();
        for run in 1..=runs {
            for samples in &mut sweep {
                if cache.exists() {
                    std::fs::remove_dir_all(&cache)?;
                }
                let mut command = Command::new("go");
                command
                    .current_dir(self.work.core())
                    .args(["build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o"])
                    .arg(self.dir.join("out/gogc/pixie-core"))
                    .arg("./cmd/pixie-core")
                    .envs(host_go_env(&cache))
                    .env_remove("GOGC")
                    .env_remove("GOMEMLIMIT");
                if !samples.value.is_empty() {
                    command.env("GOGC", &samples.value);
                }
                let usage = measure::run_with_usage(command, "go build (GOGC sweep)")?;
                self.ctx.ui.info(format_args!(
                    "bench: run {run}/{runs} GOGC={}: {:.2} s, whole build's peak {} MiB (largest process {} MiB)",
                    if samples.value.is_empty() {
                        "(default)"
                    } else {
                        &samples.value
                    },
                    usage.seconds,
                    usage.tree_peak_kib / 1024,
                    usage.largest_process_kib / 1024
                ));
                samples.seconds.push(usage.seconds);
                samples.build_peak_kib.push(usage.tree_peak_kib);
                samples.largest_process_kib.push(usage.largest_process_kib);
            }
        }
        self.results.gogc = sweep;
        Ok(())
    }

    /// Cold compile of the xtask crate into its own target folder, then `--help` latencies.
    pub(crate) fn measure_xtask(&mut self, runs: u32) -> Result<()> {
        let target = self.dir.join("xtask-target");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target_env = [("CARGO_TARGET_DIR", target.display().to_string())];
        for run in 1..=runs {
            if target.exists() {
                std::fs::remove_dir_all(&target)?;
            }
            let step = Step::new("cargo build -p xtask (cold)", &cargo, &self.ctx.ws.root)
                .args(["build", "--package", "xtask"])
                .envs(target_env.clone());
            let seconds = timed(step, &self.ui)?;
            self.ctx.ui.info(format_args!(
                "bench: run {run}/{runs} xtask cold compile: {seconds:.1} s"
            ));
            self.results.xtask.cold_compile.push(seconds);
        }
        let binary = target.join("debug/xtask");
        let mut help = Command::new(&binary);
        help.arg("--help");
        self.results.xtask.help_binary = time_repeatedly(help, HELP_RUNS)?;
        let mut cargo_help = Command::new(&cargo);
        cargo_help
            .current_dir(&self.ctx.ws.root)
            .args(["xtask", "--help"])
            .envs(target_env);
        self.results.xtask.help_cargo = time_repeatedly(cargo_help, CARGO_HELP_RUNS)?;
        Ok(())
    }
}

/// Wall time of each of `times` runs of a short command that must succeed.
fn time_repeatedly(mut command: Command, times: usize) -> Result<Vec<f64>> {
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let mut seconds = Vec::with_capacity(times);
    // One untimed run first: "warm" means caches and any rebuild cargo decides on are done.
    for run in 0..=times {
        if signals::interrupted() {
            return Err(Interrupted.into());
        }
        let started = Instant::now();
        let output = command.output().context("cannot run the xtask binary")?;
        if run > 0 {
            seconds.push(started.elapsed().as_secs_f64());
        }
        if !output.status.success() {
            bail!(
                "{:?} failed: {}",
                command,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    Ok(seconds)
}
