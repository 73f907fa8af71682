//! docs/performance.md, made from the JSON a bench run wrote and nothing else: `cargo xtask
//! bench --publish` copies a run's bench.json to docs/performance.json and renders this page
//! from it, with its date, machine and engine; a test holds the two together, so no figure is
//! ever typed into the docs by hand.

use std::fmt::Write;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use super::breakdown::{self, Breakdown};
use super::engines::row_keys;
use super::Setup;

/// The page, relative to the workspace root.
pub const PERFORMANCE_DOC: &str = "docs/performance.md";
/// The setups run it is made from (a bench.json).
pub const PERFORMANCE_JSON: &str = "docs/performance.json";
/// The engines run it is made from (an engines.json of `bench --engine`).
pub const PERFORMANCE_ENGINES_JSON: &str = "docs/performance-engines.json";

const HEADER: &str = "# Performance

<!-- Made by `cargo xtask bench --publish` from docs/performance-engines.json and
     docs/performance.json, which bench runs wrote: edit none of them by hand (a test holds them
     together). -->
";

const SETUPS: &str =
    "Setups: **before_2fb3e22** is deployments/bench/before-2fb3e22.Dockerfile, the shape of \
pixie's own Dockerfile at its HEAD (2fb3e22: modules in a layer of their own, then `go mod tidy`, \
`GOPROXY=direct` and `go build -a`); **before_fc0ed04** is deployments/bench/before-fc0ed04.Dockerfile, \
the shape the seed's notes quote (pixie fc0ed04: `COPY . .`, then tidy and build in one layer); \
**prod** is build-prod's build step; **prod_command** the whole `cargo xtask build-prod` a person \
waits for (cargo, the checks before the build, the build); **dev** the dev image and air hot \
reload (save on the host → new answer over HTTP); **limit** a host `go build` with a warm cache, \
which no container build can beat (its no_change is a relink: `go build -o` always links); \
**registry** build-prod on an emptied shared builder with a registry cache (`cold` exports it, \
`warm_from_registry` imports it); **plugin_prod** and **plugin_limit** the same build step and \
host `go build` for the thumbnailer plugin's image after a one-line change only it compiles; \
**modules_together** one `cargo xtask build-prod` of both module images from cold, \
**modules_in_turn** `--module core` then `--module thumbnailer` from cold.";

/// The page for the recorded runs (`bench`: a bench.json, `engines`: an engines.json), or the
/// page that says nothing is recorded yet.
pub fn performance_doc(bench: Option<&str>, engines: Option<&str>) -> Result<String> {
    let mut md = String::from(HEADER);
    if bench.is_none() && engines.is_none() {
        md.push_str(
            "\nNo figures are recorded yet. `cargo xtask bench --engine all` measures every engine \
             into target/bench/engines.json, `cargo xtask bench` the setups into \
             target/bench/bench.json; `cargo xtask bench --publish FILE` then records such a file \
             in docs/ and makes this page from what is recorded.\n",
        );
        return Ok(md);
    }
    if let Some(engines) = engines {
        engines_section(&mut md, &parse(engines, PERFORMANCE_ENGINES_JSON)?)?;
    }
    if let Some(bench) = bench {
        setups_section(&mut md, &parse(bench, PERFORMANCE_JSON)?)?;
    }
    Ok(md)
}

fn parse(json: &str, path: &str) -> Result<Value> {
    serde_json::from_str(json).with_context(|| format!("{path} is not JSON"))
}

/// "on DATE, on MACHINE", or the one-line fix when an older bench wrote the file.
fn when_and_where(meta: &Value) -> Result<(String, String, String)> {
    let text = |key: &str| meta[key].as_str().map(String::from);
    let (Some(date), Some(machine), Some(engine)) = (text("date"), text("machine"), text("engine"))
    else {
        anyhow::bail!(
            "the bench JSON has no meta.date, meta.machine or meta.engine (an older bench wrote it); \
             run `cargo xtask bench` again, then `cargo xtask bench --publish`"
        );
    };
    Ok((date, machine, engine))
}

/// `bench --engine`: the headline per engine, the figures side by side and the targets.
fn engines_section(md: &mut String, run: &Value) -> Result<()> {
    let meta = &run["meta"];
    let (date, machine, _) = when_and_where(meta)?;
    let Some(engines) = run["engines"].as_object().filter(|e| !e.is_empty()) else {
        anyhow::bail!(
            "the engines JSON names no engine; run `cargo xtask bench --engine all` again"
        );
    };
    let mode = if meta["quick"] == true {
        ", the `--quick` subset"
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "\n## Per engine\n\nMeasured by `cargo xtask bench --engine all` on {date}, on {machine}: \
         each engine in turn, {} run(s) per figure{mode} (n says how many samples), median \
         (min–max), in seconds; each engine against its own limit measured in the same run.\n",
        meta["runs"]
    );
    md.push_str(
        "**A one-line change**, the whole `cargo xtask build-prod`, against pixie's own \
         Dockerfile at its HEAD (2fb3e22):\n\n",
    );
    for (name, engine) in engines {
        let median = |key: &str| engine[key]["median_s"].as_f64();
        let (Some(command), Some(before)) = (
            median("prod_command_code_change"),
            median("before_2fb3e22_code_change"),
        ) else {
            continue;
        };
        let _ = writeln!(
            md,
            "- {name}: {command:.2} s against {before:.1} s, {:.0}× faster (build step {}; limit {})",
            before / command,
            median("prod_code_change").map_or("—".into(), |v| format!("{v:.2} s")),
            median("limit_code_change").map_or("—".into(), |v| format!("{v:.2} s")),
        );
    }
    let names: Vec<&String> = engines.keys().collect();
    let _ = write!(
        md,
        "\n| | {} |\n|---|{}\n",
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(names.len())
    );
    let cells = |pick: &dyn Fn(&Value) -> String| -> String {
        engines.values().map(pick).collect::<Vec<_>>().join(" | ")
    };
    let _ = writeln!(
        md,
        "| engine | {} |",
        cells(&|e| e["engine"].as_str().unwrap_or("—").replace('|', "/"))
    );
    for (label, key) in row_keys() {
        if engines.values().all(|e| e[&key].is_null()) {
            continue;
        }
        let _ = writeln!(md, "| {label} | {} |", cells(&|e| median_range(&e[&key])));
    }
    let first = engines.values().next().expect("not empty");
    for (index, check) in first["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let _ = writeln!(
            md,
            "| target: {} | {} |",
            check["target"].as_str().unwrap_or_default(),
            cells(&|e| {
                let own = &e["targets"][index];
                let which = if own["target"] == check["target"] {
                    String::new()
                } else {
                    format!("({}) ", own["target"].as_str().unwrap_or_default())
                };
                format!("{which}{}", own["verdict"].as_str().unwrap_or("—"))
            })
        );
    }
    md.push_str(
        "\nA verdict is on the medians; `cargo xtask bench --check` fails only on a target missed \
         even at the run's best case (each figure's minimum over the runs), shown after \"best\": \
         on a shared 2-core machine noise only ever adds time.\n",
    );
    let sentences: Vec<String> = engines
        .iter()
        .flat_map(|(name, e)| Breakdown::sentences(name, |parts| Breakdown::of_json(e, parts)))
        .collect();
    md.push_str(&breakdown::section(&sentences));
    Ok(())
}

/// `median (min–max), n=N` of a stats object.
fn median_range(stats: &Value) -> String {
    let s = |key: &str| stats[key].as_f64();
    match (s("median_s"), s("min_s"), s("max_s")) {
        (Some(median), Some(min), Some(max)) if stats["n"] != 1 => {
            format!("{median:.2} ({min:.2}–{max:.2}), n={}", stats["n"])
        }
        (Some(median), ..) => format!("{median:.2}, n=1"),
        _ => "—".into(),
    }
}

/// The setups run (`cargo xtask bench`): every setup and scenario, sizes, GOGC, the xtask.
fn setups_section(md: &mut String, bench: &Value) -> Result<()> {
    let meta = &bench["meta"];
    let (date, machine, engine) = when_and_where(meta)?;
    let mode = if meta["quick"] == true {
        ", the `--quick` subset"
    } else {
        ""
    };
    let _ = writeln!(
        md,
        "\n## Setups\n\nMeasured by `cargo xtask bench` on {date}, on {machine}; engine: {engine}. {} run(s) \
         per figure{mode}: median, min–max and p95 over n samples, in seconds.\n\n{SETUPS}\n",
        meta["runs"]
    );
    md.push_str("### Builds and reloads\n\n| setup | scenario | median | min–max | p95 | n |\n|---|---|---|---|---|---|\n");
    let keys: Vec<&str> = Setup::ALL.iter().map(|s| s.key()).collect();
    for (setup, scenarios) in objects(bench, &keys) {
        for (scenario, stats) in scenarios {
            let _ = writeln!(md, "| {setup} | {scenario} | {} |", stats_cells(stats));
        }
    }
    if let Some(sizes) = bench["sizes"].as_object().filter(|s| !s.is_empty()) {
        md.push_str("\n### Sizes\n\n| what | MB |\n|---|---|\n");
        for (what, bytes) in sizes {
            let mb = bytes.as_f64().unwrap_or_default() / 1e6;
            let _ = writeln!(md, "| {} | {mb:.1} |", what.trim_end_matches("_bytes"));
        }
    }
    section(
        md,
        bench,
        "gogc_sweep",
        "GOGC of a cold host compile",
        "GOGC",
    );
    section(md, bench, "xtask", "The xtask itself", "figure");
    if let Some(targets) = bench["targets"].as_array().filter(|t| !t.is_empty()) {
        md.push_str("\n### Targets\n\n| target | verdict |\n|---|---|\n");
        for check in targets {
            let _ = writeln!(
                md,
                "| {} | {} |",
                check["target"].as_str().unwrap_or_default(),
                check["verdict"].as_str().unwrap_or("—")
            );
        }
    }
    if let Some(notes) = meta["notes"].as_object().filter(|n| !n.is_empty()) {
        md.push_str("\n### How each figure was measured\n\n");
        for (what, how) in notes {
            let _ = writeln!(md, "- **{what}**: {}", how.as_str().unwrap_or_default());
        }
    }
    Ok(())
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

/// A table of `key`'s figures (each a stats object, GOGC's with its memory peaks).
fn section(md: &mut String, bench: &Value, key: &str, title: &str, column: &str) {
    let Some(rows) = bench[key].as_object().filter(|r| !r.is_empty()) else {
        return;
    };
    let _ = write!(
        md,
        "\n### {title}\n\n| {column} | median | min–max | p95 | n | peak memory, whole build (MiB) | largest process (MiB) |\n|---|---|---|---|---|---|---|\n"
    );
    for (name, stats) in rows {
        let mib = |key: &str| {
            stats[key]
                .as_f64()
                .map_or("—".into(), |v| format!("{v:.0}"))
        };
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} |",
            stats_cells(stats),
            mib("build_peak_mib"),
            mib("largest_process_mib")
        );
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
        let (bench, engines) = (
            repo_file(PERFORMANCE_JSON),
            repo_file(PERFORMANCE_ENGINES_JSON),
        );
        let expected = performance_doc(bench.as_deref(), engines.as_deref()).unwrap();
        assert_eq!(
            repo_file(PERFORMANCE_DOC).as_deref(),
            Some(expected.as_str()),
            "{PERFORMANCE_DOC} is not what {PERFORMANCE_JSON} and {PERFORMANCE_ENGINES_JSON} render to; \
             run `cargo xtask bench --publish FILE` with the bench.json or engines.json it came from"
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
        results.record(Setup::ModulesTogether, Scenario::Cold, 61.0);
        results.record(Setup::ModulesInTurn, Scenario::Cold, 70.15);
        results.notes.push(("noise", "not paused".into()));
        let page = performance_doc(Some(&results.json()), None).unwrap();
        for needle in [
            "on 2026-12-05T10:00:00Z, on 2 cores, 24 GiB; engine: docker CLI 20.10. 1 run(s) per figure, the `--quick` subset",
            "| prod | code_change | 0.93 | 0.93–0.93 | 0.93 | 1 |",
            "| modules_together | cold | 61.00 | 61.00–61.00 | 61.00 | 1 |",
            "| modules_in_turn | cold | 70.15 | 70.15–70.15 | 70.15 | 1 |",
            "- **noise**: not paused",
        ] {
            assert!(page.contains(needle), "{needle}:\n{page}");
        }
        // An engine run's plugin rows and target come with it.
        let mut plugin = results.clone();
        plugin.record(Setup::PluginProd, Scenario::CodeChange, 1.2);
        plugin.record(Setup::PluginLimit, Scenario::CodeChange, 1.0);
        let engines = crate::report::engines_json(
            &[crate::report::EngineResults {
                name: "A",
                what: "docker 20.10".into(),
                results: plugin,
            }],
            results.recorded.as_ref(),
        );
        let page = performance_doc(None, Some(&engines)).unwrap();
        for needle in [
            "| plugin (thumbnailer) one-line change, build step | 1.20, n=1 |",
            "| plugin limit: host `go build` of the thumbnailer, one-line change | 1.00, n=1 |",
            "| target: plugin (thumbnailer) one-line change, build step ≤ plugin limit + 0.3 s | met: 1.20 s ≤ 1.30 s (0.10 s to spare) |",
        ] {
            assert!(page.contains(needle), "{needle}:\n{page}");
        }
        results.recorded = None;
        let message = performance_doc(Some(&results.json()), None)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("the bench JSON has no meta.date"),
            "{message}"
        );
    }
}
