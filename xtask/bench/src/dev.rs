//! The dev setup: the dev image in a container with the copy's source mounted, as
//! compose.dev.yaml runs it, timed from start and from each saved edit to the new answer.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use xtask::commands::image_build;
use xtask::plan::Step;
use xtask::target::Target;
use xtask::testkit::http;

use crate::bench::Bench;
use crate::builds::timed_build;
use crate::measure::timed;
use crate::report::{Scenario, Setup};

/// Slow first answers: the dev container's first start downloads modules and compiles everything.
const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(900);
const RELOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// The dev container the hot-reload measurements talk to.
pub struct DevContainer {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) build_volume: String,
    pub(crate) module_volume: String,
    pub(crate) running: bool,
}

impl Bench<'_> {
    pub(crate) fn dev_start(&mut self, cold: bool) -> Result<f64> {
        self.stop_dev()?;
        if cold {
            self.empty_caches(Setup::Dev)?;
            for volume in [&self.dev.build_volume, &self.dev.module_volume] {
                let remove = Step::new(
                    "remove a dev cache volume",
                    &self.ctx.cli().path,
                    &self.copy.ws.root,
                )
                .args(["volume", "rm", "-f", volume]);
                timed(remove, &self.ui)?;
            }
        }
        let image = timed_build(image_build(&self.copy, Target::Dev), cold);
        let build_seconds = timed(image.step(&self.copy.docker())?, &self.ui)?;
        self.remember_image(&Target::Dev.image(&self.copy.config));
        let started = Instant::now();
        timed(self.dev_run_step(), &self.ui)?;
        self.dev.running = true;
        let start_seconds = http::wait_for_answer(
            self.dev.port,
            "/version",
            started,
            FIRST_ANSWER_TIMEOUT,
            |_| true,
        )?;
        Ok(build_seconds + start_seconds)
    }

    /// `docker run` of the dev image with the mounts of compose.dev.yaml (the copy's core/ and
    /// proto/, Go caches in volumes); /data stays in the container, the bench needs no state.
    pub(crate) fn dev_run_step(&self) -> Step {
        let dev = &self.dev;
        let root = &self.copy.ws.root;
        Step::new("start the dev container", &self.ctx.cli().path, root)
            .args(["run", "--detach", "--init", "--name", &dev.name])
            .args(["--publish", &format!("127.0.0.1:{}:8080", dev.port)])
            .args([
                "--volume",
                &format!("{}:/src/core", root.join("core").display()),
            ])
            .args([
                "--volume",
                &format!("{}:/src/proto:ro", root.join("proto").display()),
            ])
            .args([
                "--volume",
                &format!("{}:/root/.cache/go-build", dev.build_volume),
            ])
            .args(["--volume", &format!("{}:/go/pkg/mod", dev.module_volume)])
            .args(["--env", "PIXIE_LOG_LEVEL=info"])
            .arg(Target::Dev.image(&self.copy.config))
    }

    pub(crate) fn stop_dev(&mut self) -> Result<()> {
        if !self.dev.running {
            return Ok(());
        }
        let remove = Step::new(
            "remove the dev container",
            &self.ctx.cli().path,
            &self.copy.ws.root,
        )
        .args(["rm", "-f", &self.dev.name]);
        timed(remove, &self.ui)?;
        self.dev.running = false;
        Ok(())
    }

    /// Saves one-line edits on the host and times each until /version serves the new value.
    pub(crate) fn measure_hot_reload(&mut self, run: u32, runs: u32) -> Result<()> {
        if !self.dev.running {
            self.warm_up(Setup::Dev)?;
        }
        let mut seconds = Vec::new();
        for _ in 0..self.hot_reload_edits {
            // Let air settle after the previous restart, so each edit is a reload of its own.
            std::thread::sleep(Duration::from_millis(500));
            let marker = self.work.edit_code()?;
            let saved = Instant::now();
            let expected = format!("\"version\":\"{marker}\"");
            let took =
                http::wait_for_answer(self.dev.port, "/version", saved, RELOAD_TIMEOUT, |body| {
                    body.contains(&expected)
                })
                .with_context(|| {
                    format!(
                    "the dev container did not serve {marker} after the edit; see `docker logs {}`",
                    self.dev.name
                )
                })?;
            self.results.record(Setup::Dev, Scenario::HotReload, took);
            seconds.push(format!("{took:.2}"));
        }
        self.ctx.ui.info(format_args!(
            "bench: run {run}/{runs} dev hot_reload: {} s",
            seconds.join(", ")
        ));
        Ok(())
    }
}
