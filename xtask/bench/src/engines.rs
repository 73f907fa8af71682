//! `bench --engine a,b,c`: the engine set measured on each engine of the matrix, one after
//! another, each by a bench child pointed at its engine (the environment `cargo xtask test`
//! gives the engine tests: xtask/src/docker/matrix.rs), then shown side by side.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xtask::ctx::Ctx;
use xtask::docker::matrix::{self, MatrixEngine};
use xtask::plan::{Plan, Step};

use crate::report::{
    engines_check_failures, engines_json, engines_markdown, Check, EngineResults, Recorded, Results,
};
use crate::schedule::{describe_schedule, engine_schedule};

/// Where the child measuring engine `name` leaves its samples.
pub fn samples_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("engine-{name}.samples"))
}

/// The child that measures `engine`: this very bench, with `--engine-set` and the engine's
/// environment.
fn child(ctx: &Ctx, engine: &MatrixEngine, runs: u32, quick: bool) -> Result<Step> {
    let bench = std::env::current_exe().context("cannot find the bench binary")?;
    Ok(Step::new(
        format!("bench on engine {} ({})", engine.name, engine.what),
        bench,
        &ctx.ws.root,
    )
    .args(["--engine-set", engine.name, "--runs", &runs.to_string()])
    .args(quick.then_some("--quick"))
    .args(ctx.ui.flags())
    .envs(engine.env.clone())
    .streamed())
}

/// Measures each engine `names` selects, then writes and prints the side-by-side table; with
/// `check`, fails on the targets it selects that an engine missed beyond the run's noise.
pub fn compare(
    ctx: &Ctx,
    names: &str,
    runs: u32,
    quick: bool,
    check: Option<&[String]>,
) -> Result<()> {
    let engines = matrix::select(&ctx.host, ctx.engine(), "--engine", names)?;
    let dir = ctx.ws.path("target/bench");
    if ctx.dry_run {
        let mut plan = Plan::default();
        for engine in &engines {
            plan.push(child(ctx, engine, runs, quick)?);
        }
        print!(
            "# cargo xtask bench --engine: on each engine, in order (nothing is run in a dry run; on Podman < 5.4 also prod_podman_build: code_change after prod_command)\n{}{plan}",
            describe_schedule(&engine_schedule(runs, quick, false), true)
        );
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let mut measured = Vec::new();
    for engine in engines {
        let samples = samples_path(&dir, engine.name);
        if samples.exists() {
            std::fs::remove_file(&samples)?;
        }
        ctx.ui.info(format_args!(
            "bench: engine {}: {}",
            engine.name, engine.what
        ));
        let plan = Plan {
            steps: vec![child(ctx, &engine, runs, quick)?.into()],
            ..Plan::default()
        };
        xtask::exec::run(&plan, &ctx.ui)?;
        let text = std::fs::read_to_string(&samples).with_context(|| {
            format!(
                "engine {}: no samples in {}",
                engine.name,
                samples.display()
            )
        })?;
        let (results, engine_line) = Results::from_samples(&text, runs, quick)?;
        measured.push(EngineResults {
            name: engine.name,
            what: engine_line,
            results,
        });
    }
    let markdown = engines_markdown(&measured, runs, quick);
    let recorded = Recorded::now(format!("engines {}", names_of(&measured)));
    std::fs::write(dir.join("engines.md"), &markdown)?;
    std::fs::write(
        dir.join("engines.json"),
        engines_json(&measured, Some(&recorded)),
    )?;
    print!("{markdown}");
    ctx.ui.info(format_args!(
        "wrote {} and {}",
        dir.join("engines.md").display(),
        dir.join("engines.json").display()
    ));
    let Some(ids) = check else {
        return Ok(());
    };
    let targets: Vec<(&str, Vec<Check>)> = measured
        .iter()
        .map(|e| (e.name, e.results.engine_targets()))
        .collect();
    crate::fail_on(&engines_check_failures(&targets, ids))
}

/// "A, B, C".
fn names_of(engines: &[EngineResults]) -> String {
    engines
        .iter()
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(", ")
}
