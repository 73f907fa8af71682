//! docs/performance.md, made from the JSON a bench run wrote and nothing else: `cargo xtask
//! bench --publish` copies a run's bench.json to docs/performance.json and renders this page
//! from it, with its date, machine and engine; a test holds the two together, so no figure is
//! ever typed into the docs by hand.

use std::fmt::Write;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// The page, relative to the workspace root.
pub const PERFORMANCE_DOC: &str = "docs/performance.md";
/// The run it is made from.
pub const PERFORMANCE_JSON: &str = "docs/performance.json";

const HEADER: &str = "# Performance

<!-- Made by `cargo xtask bench --publish` from docs/performance.json, which a bench run wrote:
     edit neither by hand (a test holds them together). -->
";

const SETUPS: &str =
    "Setups: **before** is deployments/bench/before.Dockerfile, the slow shape the \
production Dockerfile replaced; **prod** is build-prod's build; **dev** the dev image and air hot \
reload (save on the host → new answer over HTTP); **limit** a host `go build` with a warm cache, \
which no container build can beat; **registry** build-prod on an emptied shared builder with a \
registry cache (`cold` exports it, `warm_from_registry` imports it).";

/// The page for `json` (a bench.json), or the page that says nothing is recorded yet.
pub fn performance_doc(json: Option<&str>) -> Result<String> {
    let mut md = String::from(HEADER);
    let Some(json) = json else {
        md.push_str(
            "\nNo figures are recorded yet. `cargo xtask bench` measures them into \
             target/bench/bench.json; `cargo xtask bench --publish` then records that file as \
             docs/performance.json and makes this page from it, with its date, machine and engine.\n",
        );
        return Ok(md);
    };
    let bench: Value = serde_json::from_str(json).context("docs/performance.json is not JSON")?;
    let meta = &bench["meta"];
    let text = |key: &str| meta[key].as_str().map(String::from);
    let (Some(date), Some(machine), Some(engine)) = (text("date"), text("machine"), text("engine"))
    else {
        anyhow::bail!(
            "the bench JSON has no meta.date, meta.machine or meta.engine (an older bench wrote it); \
             run `cargo xtask bench` again, then `cargo xtask bench --publish`"
        );
    };
    let mode = if meta["quick"] == true {
        ", the `--quick` subset"
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "\nMeasured by `cargo xtask bench` on {date}, on {machine}; engine: {engine}. {} run(s) \
         per figure{mode}: median, min–max and p95 over n samples, in seconds.\n\n{SETUPS}\n",
        meta["runs"]
    );
    md.push_str("## Builds and reloads\n\n| setup | scenario | median | min–max | p95 | n |\n|---|---|---|---|---|---|\n");
    for (setup, scenarios) in objects(&bench, &["before", "prod", "dev", "limit", "registry"]) {
        for (scenario, stats) in scenarios {
            let _ = writeln!(md, "| {setup} | {scenario} | {} |", stats_cells(stats));
        }
    }
    if let Some(sizes) = bench["sizes"].as_object().filter(|s| !s.is_empty()) {
        md.push_str("\n## Sizes\n\n| what | MB |\n|---|---|\n");
        for (what, bytes) in sizes {
            let mb = bytes.as_f64().unwrap_or_default() / 1e6;
            let _ = writeln!(md, "| {} | {mb:.1} |", what.trim_end_matches("_bytes"));
        }
    }
    section(
        &mut md,
        &bench,
        "gogc_sweep",
        "GOGC of a cold host compile",
        "GOGC",
    );
    section(&mut md, &bench, "xtask", "The xtask itself", "figure");
    if let Some(notes) = meta["notes"].as_object().filter(|n| !n.is_empty()) {
        md.push_str("\n## How each figure was measured\n\n");
        for (what, how) in notes {
            let _ = writeln!(md, "- **{what}**: {}", how.as_str().unwrap_or_default());
        }
    }
    Ok(md)
}

/// The objects under each of `keys` that the run measured, in that order.
fn objects<'a>(bench: &'a Value, keys: &[&'a str]) -> Vec<(&'a str, &'a Map<String, Value>)> {
    keys.iter()
        .filter_map(|key| Some((*key, bench[*key].as_object()?)))
        .collect()
}

fn stats_cells(stats: &Value) -> String {
    let s = |key: &str| {
        stats[key]
            .as_f64()
            .map_or("—".into(), |v| format!("{v:.2}"))
    };
    format!(
        "{} | {}–{} | {} | {}",
        s("median_s"),
        s("min_s"),
        s("max_s"),
        s("p95_s"),
        stats["n"]
    )
}

/// A table of `key`'s figures (each a stats object, GOGC's with its peak RSS).
fn section(md: &mut String, bench: &Value, key: &str, title: &str, column: &str) {
    let Some(rows) = bench[key].as_object().filter(|r| !r.is_empty()) else {
        return;
    };
    let _ = write!(
        md,
        "\n## {title}\n\n| {column} | median | min–max | p95 | n | peak RSS (MiB) |\n|---|---|---|---|---|---|\n"
    );
    for (name, stats) in rows {
        let rss = stats["peak_rss_mib"]
            .as_f64()
            .map_or("—".into(), |v| format!("{v:.0}"));
        let _ = writeln!(md, "| {name} | {} | {rss} |", stats_cells(stats));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Recorded, Results, Scenario, Setup};

    fn repo_file(name: &str) -> Option<String> {
        std::fs::read_to_string(xtask::testkit::repo_root().join(name)).ok()
    }

    /// docs/performance.md is what docs/performance.json renders to (or, with none recorded,
    /// the page that says so): figures reach the docs only through a bench run.
    #[test]
    fn the_performance_page_is_what_the_recorded_bench_json_renders_to() {
        let recorded = repo_file(PERFORMANCE_JSON);
        let expected = performance_doc(recorded.as_deref()).unwrap();
        assert_eq!(
            repo_file(PERFORMANCE_DOC).as_deref(),
            Some(expected.as_str()),
            "{PERFORMANCE_DOC} is not what {PERFORMANCE_JSON} renders to; run `cargo xtask bench --publish FILE` \
             with the bench.json it came from"
        );
    }

    #[test]
    fn a_run_renders_with_its_date_machine_engine_and_figures() {
        let mut results = Results {
            runs: 1,
            quick: true,
            recorded: Some(Recorded {
                date: "2026-12-05T10:00:00Z".into(),
                machine: "2 cores, 24 GiB".into(),
                engine: "docker CLI 20.10".into(),
            }),
            ..Results::default()
        };
        results.record(Setup::Prod, Scenario::CodeChange, 0.934);
        results.notes.push(("noise", "not paused".into()));
        let page = performance_doc(Some(&results.json())).unwrap();
        for needle in [
            "on 2026-12-05T10:00:00Z, on 2 cores, 24 GiB; engine: docker CLI 20.10. 1 run(s) per figure, the `--quick` subset",
            "| prod | code_change | 0.93 | 0.93–0.93 | 0.93 | 1 |",
            "- **noise**: not paused",
        ] {
            assert!(page.contains(needle), "{needle}:\n{page}");
        }
        results.recorded = None;
        let message = performance_doc(Some(&results.json()))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("the bench JSON has no meta.date"),
            "{message}"
        );
    }
}
