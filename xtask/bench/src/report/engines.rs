//! `bench --engine`: the engine set (prod no-change and one-line change, dev hot reload, the
//! limit's one-line change) of each engine of the matrix, side by side, with the per-engine
//! targets. Each engine is measured by a bench child of its own, which hands its samples back
//! as plain lines (`setup scenario seconds`); the parent renders `engines.{md,json}`.

use std::fmt::Write;

use anyhow::{bail, Context, Result};

use serde_json::{json, Map, Value};

use super::json::{pretty, stats_json};
use super::markdown::range;
use super::targets::{at_most, Check, Unit};
use super::{Results, Scenario, Setup};

/// What one engine's bench child measured.
pub struct EngineResults {
    /// "A", "B" or "C".
    pub name: &'static str,
    /// Which CLI drives it, as the matrix says.
    pub what: String,
    pub results: Results,
}

/// The rows of the side-by-side table: label, setup, scenario.
const ROWS: [(&str, Setup, Scenario); 4] = [
    ("prod no-change rebuild", Setup::Prod, Scenario::NoChange),
    ("prod one-line change", Setup::Prod, Scenario::CodeChange),
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
];

/// The line that carries the child's engine description in the samples text.
const ENGINE_LINE: &str = "engine ";

impl Results {
    /// The samples as lines a parent reads back with [`Results::from_samples`].
    pub fn samples_text(&self, engine: &str) -> String {
        let mut text = format!("{ENGINE_LINE}{}\n", engine.replace('\n', " "));
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

    /// The per-engine targets: a container build adds little to the host's own compile, and hot
    /// reload stays at the limit on every engine.
    pub fn engine_targets(&self) -> Vec<Check> {
        let med = |setup, scenario| self.median(setup, scenario);
        let limit = med(Setup::Limit, Scenario::CodeChange);
        let reload = self.stats(Setup::Dev, Scenario::HotReload);
        vec![
            Check {
                target: "prod one-line change ≤ limit + 0.3 s",
                verdict: med(Setup::Prod, Scenario::CodeChange)
                    .zip(limit)
                    .map(|(p, l)| at_most(p, l + 0.3, Unit::Seconds)),
            },
            Check {
                target: "hot reload p50 ≤ limit + 0.2 s",
                verdict: reload
                    .zip(limit)
                    .map(|(s, l)| at_most(s.median, l + 0.2, Unit::Seconds)),
            },
            Check {
                target: "hot reload p95 ≤ limit + 0.5 s",
                verdict: reload
                    .zip(limit)
                    .map(|(s, l)| at_most(s.p95, l + 0.5, Unit::Seconds)),
            },
            Check {
                target: "prod no-change rebuild ≤ 1.5 s",
                verdict: med(Setup::Prod, Scenario::NoChange)
                    .map(|p| at_most(p, 1.5, Unit::Seconds)),
            },
        ]
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
         same machine, each with its own limit measured in the same run. — means not measured.\n"
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
            .map(|checks| match &checks[index].verdict {
                Some(v) if v.met => {
                    format!("met: {} {} ({} to spare)", v.measured, v.bound, v.margin)
                }
                Some(v) => format!("**missed** by {}: {} {}", v.margin, v.measured, v.bound),
                None => "not measured".into(),
            })
            .collect();
        row(&mut md, &format!("target: {}", check.target), cells);
    }
    md
}

/// `engines.json`: per engine, its description and every measured figure.
pub fn engines_json(engines: &[EngineResults]) -> String {
    let top: Map<String, Value> = engines
        .iter()
        .map(|e| {
            let mut fields = Map::new();
            fields.insert("engine".into(), json!(e.what));
            for (_, setup, scenario) in ROWS {
                if let Some(stats) = e.results.stats(setup, scenario) {
                    fields.insert(
                        format!("{}_{}", setup.key(), scenario.key()),
                        stats_json(stats),
                    );
                }
            }
            (e.name.to_string(), Value::Object(fields))
        })
        .collect();
    pretty(&Value::Object(top))
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
            "| prod one-line change | 0.80 s | 4.00 s |",
            "| dev hot reload (save → new answer) | p50 0.65 s, p95 0.70 s (3 edits) | p50 0.95 s, p95 1.00 s (3 edits) |",
            "| target: prod one-line change ≤ limit + 0.3 s | met: 0.80 s ≤ 0.85 s (0.05 s to spare) | **missed** by 3.10 s: 4.00 s ≤ 0.90 s |",
            "| target: hot reload p50 ≤ limit + 0.2 s | met: 0.65 s ≤ 0.75 s (0.10 s to spare) | **missed** by 0.15 s: 0.95 s ≤ 0.80 s |",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let json: Value = serde_json::from_str(&engines_json(&engines)).unwrap();
        assert_eq!(json["C"]["engine"], "podman | 4.3");
        assert_eq!(json["C"]["prod_no_change"]["n"], 1);
        assert_eq!(json["C"]["limit_code_change"]["median_s"], 0.6);
    }
}
