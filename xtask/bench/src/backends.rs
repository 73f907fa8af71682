//! `bench --backends`: pixie-core on its embedded backend against the stack (Postgres, S3 and
//! NATS on loopback): start to ready with migrations applied, upload p50/p99 of a 1 MB JPEG
//! and list p50, both in the same run. The measuring is core's own Go benchmark
//! (`BenchmarkBackends` in core/internal/stacksuite, the same binary and client the stack suite
//! uses); this module starts the servers as `cargo xtask test` does, runs it, and judges its
//! figures against the stack issue's targets. No engine is involved.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use xtask::ctx::Ctx;
use xtask::plan::{action, Plan, Step};
use xtask::teststack::{Servers, StartStack, StopStack};

/// The stack's upload p50 may cost at most this many times the embedded one.
const UPLOAD_RATIO_TARGET: f64 = 2.0;
/// Start to ready on the stack (servers already answering, migrations applied), ms.
const READY_TARGET_MS: f64 = 1000.0;

/// One backend's samples over every round, in milliseconds.
#[derive(Debug)]
struct Figures {
    ready_ms: Vec<f64>,
    upload_ms: Vec<f64>,
    list_ms: Vec<f64>,
}

/// What `BenchmarkBackends` writes (its `backendsReport`).
#[derive(Debug)]
struct Report {
    photo_bytes: u64,
    rounds: u32,
    embedded: Figures,
    stack: Figures,
}

impl Report {
    fn parse(text: &str) -> Option<Report> {
        let v: Value = serde_json::from_str(text).ok()?;
        let samples = |backend: &str, field: &str| -> Option<Vec<f64>> {
            let values = v.get(backend)?.get(field)?.as_array()?;
            values.iter().map(Value::as_f64).collect()
        };
        let figures = |backend: &str| -> Option<Figures> {
            Some(Figures {
                ready_ms: samples(backend, "ready_ms")?,
                upload_ms: samples(backend, "upload_ms")?,
                list_ms: samples(backend, "list_ms")?,
            })
        };
        Some(Report {
            photo_bytes: v.get("photo_bytes")?.as_u64()?,
            rounds: u32::try_from(v.get("rounds")?.as_u64()?).ok()?,
            embedded: figures("embedded")?,
            stack: figures("stack")?,
        })
    }
}

/// The plan: the servers, the benchmark writing `json`, the servers stopped (also on Ctrl-C).
fn plan(ctx: &Ctx, json: &Path) -> Result<Plan> {
    let stack = Servers::for_run(&ctx.host.stack, &ctx.host.temp_dir, ctx.dry_run)?;
    let stop = || action("stop the stack's servers", StopStack(stack.clone()));
    let mut plan = Plan {
        cleanup: vec![stop()],
        ..Plan::default()
    };
    plan.push(action(
        "start the stack's servers (Postgres, S3, NATS)",
        StartStack(stack.clone()),
    ));
    plan.push(
        Step::new("BenchmarkBackends", "go", ctx.ws.path("core"))
            .args([
                "test",
                "-count=1",
                "-run",
                "^$",
                "-bench",
                "^BenchmarkBackends$",
                "-benchtime",
                "1x",
                "./internal/stacksuite",
            ])
            .envs(stack.test_env())
            .envs([(
                "PIXIE_BENCH_BACKENDS_JSON",
                json.to_string_lossy().into_owned(),
            )])
            .streamed(),
    );
    plan.push(stop());
    Ok(plan)
}

/// Runs the benchmark, prints the table, writes target/bench/backends.{md,json}. A missed target
/// is an error: both sit far outside this measure's noise (here the stack's upload p50 is
/// 0.8–1.2 × the embedded one and its start 0.1–0.2 s), so a miss is a regression, not luck.
pub(crate) fn compare(ctx: &Ctx) -> Result<()> {
    let dir = ctx.ws.path("target/bench");
    let json = dir.join("backends.json");
    let plan = plan(ctx, &json)?;
    if ctx.dry_run {
        print!("{}", xtask::plan::shell::plan_text(&plan));
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::remove_file(&json);
    xtask::exec::run(&plan, &ctx.ui.inner())?;
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("BenchmarkBackends wrote no {}", json.display()))?;
    let report = Report::parse(&text)
        .with_context(|| format!("{} is not BenchmarkBackends' report", json.display()))?;
    let (markdown, missed) = render(&report);
    std::fs::write(dir.join("backends.md"), &markdown)?;
    print!("{markdown}");
    match missed.first() {
        Some(first) => anyhow::bail!(
            "bench --backends: target missed: {first}; see {}",
            dir.join("backends.md").display()
        ),
        None => Ok(()),
    }
}

/// Nearest-rank percentile `p` of `values` (the benchmark's own rule).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64) * p / 100.0).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or(f64::NAN)
}

/// The table, and a line per missed target.
fn render(r: &Report) -> (String, Vec<String>) {
    let row = |name: &str, f: &Figures| {
        format!(
            "| {name} | {:.0} ms | {:.1} ms | {:.1} ms | {:.2} ms |\n",
            percentile(&f.ready_ms, 50.0),
            percentile(&f.upload_ms, 50.0),
            percentile(&f.upload_ms, 99.0),
            percentile(&f.list_ms, 50.0),
        )
    };
    let ratio = percentile(&r.stack.upload_ms, 50.0) / percentile(&r.embedded.upload_ms, 50.0);
    let ready = percentile(&r.stack.ready_ms, 50.0);
    let mut missed = Vec::new();
    let mut verdict = |what: String, met: bool| {
        if !met {
            missed.push(what.clone());
        }
        format!("- {what}: {}\n", if met { "met" } else { "MISSED" })
    };
    let targets = verdict(
        format!("stack upload p50 = {ratio:.2} × embedded (target ≤ {UPLOAD_RATIO_TARGET} ×)"),
        ratio <= UPLOAD_RATIO_TARGET,
    ) + &verdict(
        format!("stack start to ready p50 = {ready:.0} ms with migrations applied (target ≤ {READY_TARGET_MS:.0} ms)"),
        ready <= READY_TARGET_MS,
    );
    let markdown = format!(
        "## Backends: embedded against the stack\n\n\
         {} rounds, each backend started on empty storage per round; {} uploads of distinct {:.2} MB JPEGs one after another and {} lists (first page of 50) per round; loopback.\n\n\
         | backend | start to ready p50 | upload p50 | upload p99 | list p50 |\n|---|---|---|---|---|\n{}{}\n{targets}",
        r.rounds,
        r.embedded.upload_ms.len() / r.rounds.max(1) as usize,
        r.photo_bytes as f64 / 1e6,
        r.embedded.list_ms.len() / r.rounds.max(1) as usize,
        row("embedded (bbolt + files)", &r.embedded),
        row("stack (Postgres + S3 + NATS)", &r.stack),
    );
    (markdown, missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(ready: f64, upload: f64) -> Figures {
        Figures {
            ready_ms: vec![ready; 3],
            upload_ms: vec![upload; 10],
            list_ms: vec![0.5; 10],
        }
    }

    fn report(stack_ready: f64, stack_upload: f64) -> Report {
        Report {
            photo_bytes: 1_048_576,
            rounds: 1,
            embedded: figures(20.0, 40.0),
            stack: figures(stack_ready, stack_upload),
        }
    }

    #[test]
    fn targets_are_judged_from_the_runs_own_embedded_figures() {
        let (table, missed) = render(&report(120.0, 79.0));
        assert!(missed.is_empty(), "{missed:?}");
        assert!(
            table.contains(
                "| stack (Postgres + S3 + NATS) | 120 ms | 79.0 ms | 79.0 ms | 0.50 ms |"
            ),
            "{table}"
        );
        let (_, missed) = render(&report(1200.0, 81.0));
        assert_eq!(
            missed,
            [
                "stack upload p50 = 2.02 × embedded (target ≤ 2 ×)",
                "stack start to ready p50 = 1200 ms with migrations applied (target ≤ 1000 ms)"
            ]
        );
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }
}
