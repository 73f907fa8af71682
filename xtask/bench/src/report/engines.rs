//! `bench --engine`: the engine set (prod no-change and one-line change, dev hot reload, the
//! limit's one-line change) of each engine of the matrix, side by side, with the per-engine
//! targets. Each engine is measured by a bench child of its own, which hands its samples back
//! as plain lines (`setup scenario seconds`); the parent renders `engines.{md,json}`.

use std::fmt::Write;

use anyhow::{bail, Context, Result};

use serde_json::{json, Map, Value};

use super::breakdown::{self, Breakdown};
use super::json::{checks_json, pretty, stats_json};
use super::markdown::range;
use super::targets::{Check, Unit, Verdict};
use super::{Recorded, Results, Scenario, Setup};

/// What one engine's bench child measured.
pub struct EngineResults {
    /// "A", "B" or "C".
    pub name: &'static str,
    /// Which CLI drives it, as the matrix says.
    pub what: String,
    pub results: Results,
}

/// The rows of the side-by-side table: label, setup, scenario. The whole command first: it is
/// what a person waits for.
const ROWS: [(&str, Setup, Scenario); 16] = [
    (
        "prod one-line change, whole `cargo xtask build-prod`",
        Setup::ProdCommand,
        Scenario::CodeChange,
    ),
    (
        "prod one-line change, build step",
        Setup::Prod,
        Scenario::CodeChange,
    ),
    (
        "prod no-change rebuild, build step",
        Setup::Prod,
        Scenario::NoChange,
    ),
    (
        "prod one-line change, every step in one `podman build` (the route before the builder)",
        Setup::ProdPodmanBuild,
        Scenario::CodeChange,
    ),
    (
        "dev hot reload (save → new answer)",
        Setup::Dev,
        Scenario::HotReload,
    ),
    (
        "limit: host `go build`, one-line change",
        Setup::Limit,
        Scenario::CodeChange,
    ),
    (
        "plugin (thumbnailer) one-line change, build step",
        Setup::PluginProd,
        Scenario::CodeChange,
    ),
    (
        "plugin limit: host `go build` of the thumbnailer, one-line change",
        Setup::PluginLimit,
        Scenario::CodeChange,
    ),
    (
        "breakdown of the build step: the `go build` inside it (go-build.sh's own timing)",
        Setup::ProdCompile,
        Scenario::CodeChange,
    ),
    (
        "breakdown of the build step: the engine's floor (a null change: the compile replaced by writing a binary-sized file)",
        Setup::ProdNull,
        Scenario::CodeChange,
    ),
    (
        "breakdown of the plugin's build step: the `go build` inside it (go-build.sh's own timing)",
        Setup::PluginCompile,
        Scenario::CodeChange,
    ),
    (
        "breakdown of the plugin's build step: the engine's floor (a null change)",
        Setup::PluginNull,
        Scenario::CodeChange,
    ),
    (
        "breakdown of the whole command: cargo's and the xtask's start-up (`build-prod --dry-run`)",
        Setup::CommandStart,
        Scenario::CodeChange,
    ),
    (
        "breakdown of the whole command: the checks before the build (tidy, daemon, base images)",
        Setup::CommandChecks,
        Scenario::CodeChange,
    ),
    (
        "before, pixie HEAD 2fb3e22's shape: one-line change",
        Setup::Before2fb3e22,
        Scenario::CodeChange,
    ),
    (
        "before, pixie fc0ed04's shape: one-line change",
        Setup::BeforeFc0ed04,
        Scenario::CodeChange,
    ),
];

/// The rows' labels and their keys in engines.json (`setup_scenario`).
pub(super) fn row_keys() -> Vec<(&'static str, String)> {
    ROWS.iter()
        .map(|(label, setup, scenario)| (*label, format!("{}_{}", setup.key(), scenario.key())))
        .collect()
}

/// The line that carries the child's engine description in the samples text.
const ENGINE_LINE: &str = "engine ";
/// The line that says the engine builds through Podman < 5.4's builder route.
const OLD_PODMAN_LINE: &str = "old_podman";

impl Results {
    /// The samples as lines a parent reads back with [`Results::from_samples`].
    pub fn samples_text(&self, engine: &str) -> String {
        let mut text = format!("{ENGINE_LINE}{}\n", engine.replace('\n', " "));
        if self.old_podman {
            text.push_str(OLD_PODMAN_LINE);
            text.push('\n');
        }
        for ((setup, scenario), samples) in &self.samples {
            for seconds in samples {
                let _ = writeln!(text, "{} {} {seconds}", setup.key(), scenario.key());
            }
        }
        text
    }

    /// Reads [`Results::samples_text`] back: the results and the engine line.
    pub fn from_samples(text: &str, runs: u32, quick: bool) -> Result<(Results, String)> {
        let mut results = Results {
            runs,
            quick,
            ..Results::default()
        };
        let mut engine = String::new();
        for line in text.lines() {
            if let Some(what) = line.strip_prefix(ENGINE_LINE) {
                engine = what.to_string();
                continue;
            }
            if line == OLD_PODMAN_LINE {
                results.old_podman = true;
                continue;
            }
            let words: Vec<&str> = line.split(' ').collect();
            let [setup, scenario, seconds] = words[..] else {
                bail!("not a sample line: {line:?}");
            };
            let setup = Setup::ALL
                .into_iter()
                .find(|s| s.key() == setup)
                .with_context(|| format!("unknown setup in {line:?}"))?;
            let scenario = Scenario::ALL
                .into_iter()
                .find(|s| s.key() == scenario)
                .with_context(|| format!("unknown scenario in {line:?}"))?;
            let seconds: f64 = seconds
                .parse()
                .with_context(|| format!("not seconds in {line:?}"))?;
            results.record(setup, scenario, seconds);
        }
        Ok((results, engine))
    }
}

/// The side-by-side table of `bench --engine`.
pub fn engines_markdown(engines: &[EngineResults], runs: u32, quick: bool) -> String {
    let mut md = String::new();
    let mode = if quick { " (--quick subset)" } else { "" };
    let _ = writeln!(md, "# pixie build benchmark per engine{mode}\n");
    let _ = writeln!(
        md,
        "Median over {runs} run(s), (min–max) when more than one; one engine after another on the \
         same machine, each with its own limit measured in the same run. — means not measured. \
         A target's verdict is on the medians; `bench --check` fails only on a target missed even \
         at the run's best case (each figure's minimum over the runs), shown after \"best\".\n"
    );
    let names: Vec<&str> = engines.iter().map(|e| e.name).collect();
    let _ = writeln!(
        md,
        "| | {} |\n|---|{}",
        names.join(" | "),
        "---|".repeat(engines.len())
    );
    let row = |md: &mut String, label: &str, cells: Vec<String>| {
        let _ = writeln!(md, "| {label} | {} |", cells.join(" | "));
    };
    row(
        &mut md,
        "engine",
        engines.iter().map(|e| e.what.replace('|', "/")).collect(),
    );
    for (label, setup, scenario) in ROWS {
        if engines
            .iter()
            .all(|e| e.results.stats(setup, scenario).is_none())
        {
            continue;
        }
        let cells = engines
            .iter()
            .map(|e| match e.results.stats(setup, scenario) {
                Some(s) if scenario == Scenario::HotReload => {
                    format!(
                        "p50 {}, p95 {} ({} edits)",
                        Unit::Seconds.show(s.median),
                        Unit::Seconds.show(s.p95),
                        s.n
                    )
                }
                Some(s) => range(s),
                None => "—".into(),
            })
            .collect();
        row(&mut md, label, cells);
    }
    let targets: Vec<Vec<Check>> = engines.iter().map(|e| e.results.engine_targets()).collect();
    for (index, check) in targets.first().into_iter().flatten().enumerate() {
        let cells = targets
            .iter()
            .map(|checks| {
                let own = &checks[index];
                // An engine with another allowance says so in its cell.
                let which = if own.target == check.target {
                    String::new()
                } else {
                    format!("({}) ", own.target)
                };
                format!("{which}{}", verdict_cell(own.verdict.as_ref()))
            })
            .collect();
        row(&mut md, &format!("target: {}", check.target), cells);
    }
    let sentences: Vec<String> = engines
        .iter()
        .flat_map(|e| Breakdown::sentences(e.name, |parts| Breakdown::of(&e.results, parts)))
        .collect();
    md.push_str(&breakdown::section(&sentences));
    md
}

/// `met: 0.80 s ≤ 0.85 s (0.05 s to spare)`, or the miss and how the best case fares.
pub fn verdict_cell(verdict: Option<&Verdict>) -> String {
    match verdict {
        Some(v) if v.met => format!("met: {} {} ({} to spare)", v.measured, v.bound, v.margin),
        Some(v) => format!(
            "**missed** by {}: {} {}; best {}: {}",
            v.margin,
            v.measured,
            v.bound,
            v.best,
            if v.met_at_best {
                "within noise"
            } else {
                "beyond noise"
            }
        ),
        None => "not measured".into(),
    }
}

/// `engines.json`: `{meta, engines: {NAME: …}}`, per engine its description, every measured
/// figure and its targets.
pub fn engines_json(engines: &[EngineResults], recorded: Option<&Recorded>) -> String {
    let by_name: Map<String, Value> = engines
        .iter()
        .map(|e| {
            let mut fields = Map::new();
            fields.insert("engine".into(), json!(e.what));
            fields.insert("old_podman".into(), json!(e.results.old_podman));
            for ((_, setup, scenario), (_, key)) in ROWS.iter().zip(row_keys()) {
                if let Some(stats) = e.results.stats(*setup, *scenario) {
                    fields.insert(key, stats_json(stats));
                }
            }
            fields.insert("targets".into(), checks_json(&e.results.engine_targets()));
            (e.name.to_string(), Value::Object(fields))
        })
        .collect();
    let runs = engines.first().map_or(0, |e| e.results.runs);
    let quick = engines.first().is_some_and(|e| e.results.quick);
    let mut meta = json!({"runs": runs, "quick": quick});
    if let Some(recorded) = recorded {
        recorded.add_to(&mut meta);
    }
    pretty(&json!({"meta": meta, "engines": by_name}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(prod_code: f64, reload: [f64; 3], limit: f64) -> Results {
        let mut r = Results::default();
        r.record(Setup::Prod, Scenario::NoChange, 0.1);
        r.record(Setup::Prod, Scenario::CodeChange, prod_code);
        for seconds in reload {
            r.record(Setup::Dev, Scenario::HotReload, seconds);
        }
        r.record(Setup::Limit, Scenario::CodeChange, limit);
        r
    }

    #[test]
    fn samples_go_back_and_forth_unchanged() {
        let results = measured(0.9, [0.6, 0.7, 0.65], 0.55);
        let text = results.samples_text("docker 26.1.5\nbuildx");
        assert!(text.starts_with("engine docker 26.1.5 buildx\n"), "{text}");
        assert!(text.contains("prod code_change 0.9\n"), "{text}");
        let (back, engine) = Results::from_samples(&text, 1, true).unwrap();
        assert_eq!(back.samples, results.samples);
        assert_eq!(engine, "docker 26.1.5 buildx");
        assert_eq!(
            Results::from_samples("prod warm 1", 1, true)
                .unwrap_err()
                .to_string(),
            "unknown scenario in \"prod warm 1\""
        );
    }

    #[test]
    fn engines_sit_side_by_side_with_their_targets() {
        let engines = [
            EngineResults {
                name: "A",
                what: "docker 20.10".into(),
                results: measured(0.8, [0.6, 0.7, 0.65], 0.55),
            },
            EngineResults {
                name: "C",
                what: "podman | 4.3".into(),
                results: measured(4.0, [0.9, 1.0, 0.95], 0.6),
            },
        ];
        let md = engines_markdown(&engines, 1, true);
        for needle in [
            "| | A | C |\n|---|---|---|\n",
            "| engine | docker 20.10 | podman / 4.3 |",
            "| prod one-line change, build step | 0.80 s | 4.00 s |",
            "| dev hot reload (save → new answer) | p50 0.65 s, p95 0.70 s (3 edits) | p50 0.95 s, p95 1.00 s (3 edits) |",
            "| target: prod one-line change, build step ≤ limit + 0.3 s | met: 0.80 s ≤ 0.85 s (0.05 s to spare) | **missed** by 3.10 s: 4.00 s ≤ 0.90 s; best 4.00 s ≤ 0.90 s: beyond noise |",
            "| target: hot reload p50 ≤ limit + 0.2 s | met: 0.65 s ≤ 0.75 s (0.10 s to spare) | **missed** by 0.15 s: 0.95 s ≤ 0.80 s; best 0.95 s ≤ 0.80 s: beyond noise |",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        assert!(
            !md.contains("every step in one `podman build`"),
            "rows nobody measured stay out"
        );
        let mut old = measured(1.2, [0.9, 1.0, 0.95], 0.6);
        old.old_podman = true;
        old.record(Setup::ProdPodmanBuild, Scenario::CodeChange, 2.6);
        let with_c = [
            EngineResults {
                name: "A",
                what: "docker".into(),
                results: measured(0.8, [0.6, 0.7, 0.65], 0.55),
            },
            EngineResults {
                name: "C",
                what: "podman 4.3".into(),
                results: old,
            },
        ];
        let md = engines_markdown(&with_c, 1, true);
        for needle in [
            "| prod one-line change, every step in one `podman build` (the route before the builder) | — | 2.60 s |",
            "| target: prod one-line change, build step ≤ limit + 0.3 s | met: 0.80 s ≤ 0.85 s (0.05 s to spare) | (prod one-line change, build step (Podman < 5.4's builder route) ≤ limit + 0.5 s) **missed** by 0.10 s: 1.20 s ≤ 1.10 s;",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let json: Value = serde_json::from_str(&engines_json(&engines, None)).unwrap();
        let c = &json["engines"]["C"];
        assert_eq!(c["engine"], "podman | 4.3");
        assert_eq!(c["prod_no_change"]["n"], 1);
        assert_eq!(c["limit_code_change"]["median_s"], 0.6);
        assert_eq!(c["targets"][1]["id"], "prod-build");
        assert_eq!(c["targets"][1]["met"], false);
        assert_eq!(json["meta"]["runs"], 0);
    }
}
