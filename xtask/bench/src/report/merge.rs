//! `bench --publish A.json,B.json`: several `bench --engine` runs recorded as one, for a machine
//! whose engines are not all free at once. Their engines sit side by side, each measured by one
//! run only, and the page says when each run measured which engines.

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use super::json::pretty;

/// `runs` (each an engines.json's text, with its file name for errors) as one engines.json:
/// the engines of all, and `meta.date` saying which run measured which (`DATE (A) and DATE
/// (B, C)`). The runs must share the machine, the number of runs and `--quick`, and name each
/// engine once.
pub fn merge_engines_json(runs: &[(String, String)]) -> Result<String> {
    let mut engines = Map::new();
    let mut dates = Vec::new();
    let mut first_meta: Option<Value> = None;
    for (file, text) in runs {
        let run: Value =
            serde_json::from_str(text).with_context(|| format!("{file} is not JSON"))?;
        let (Some(measured), Some(date)) =
            (run["engines"].as_object(), run["meta"]["date"].as_str())
        else {
            bail!("{file} is not an engines.json of `cargo xtask bench --engine` (no engines or meta.date); name the files that run wrote");
        };
        let meta = &run["meta"];
        if let Some(first) = &first_meta {
            for key in ["machine", "runs", "quick"] {
                if first[key] != meta[key] {
                    bail!("{file} differs from the first run in meta.{key} ({} against {}): only runs on one machine with the same --runs and --quick can be shown side by side", meta[key], first[key]);
                }
            }
        } else {
            first_meta = Some(meta.clone());
        }
        for (name, figures) in measured {
            if engines.insert(name.clone(), figures.clone()).is_some() {
                bail!("engine {name} is in two of the runs; publish each engine from one run");
            }
        }
        let names: Vec<&str> = measured.keys().map(String::as_str).collect();
        dates.push(format!("{date} ({})", names.join(", ")));
    }
    let Some(mut meta) = first_meta else {
        bail!("no engines.json to publish; name at least one");
    };
    meta["date"] = json!(dates.join(" and "));
    let names: Vec<&str> = engines.keys().map(String::as_str).collect();
    meta["engine"] = json!(format!("engines {}", names.join(", ")));
    Ok(pretty(&json!({"meta": meta, "engines": engines})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{engines_json, EngineResults, Recorded, Results, Scenario, Setup};

    fn run(names: &[&'static str], date: &str, runs: u32) -> String {
        let engines: Vec<EngineResults> = names
            .iter()
            .map(|name| {
                let mut results = Results {
                    runs,
                    ..Results::default()
                };
                results.record(Setup::Prod, Scenario::CodeChange, 1.5);
                EngineResults {
                    name,
                    what: format!("engine {name}"),
                    results,
                }
            })
            .collect();
        let recorded = Recorded {
            date: date.into(),
            machine: "2 cores".into(),
            engine: "engines".into(),
        };
        engines_json(&engines, Some(&recorded))
    }

    #[test]
    fn runs_of_some_engines_each_merge_into_one_side_by_side() {
        let merged = merge_engines_json(&[
            (
                "bc.json".into(),
                run(&["B", "C"], "2026-12-06T00:35:00Z", 3),
            ),
            ("a.json".into(), run(&["A"], "2026-12-06T00:50:00Z", 3)),
        ])
        .unwrap();
        let json: Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(
            json["meta"]["date"],
            "2026-12-06T00:35:00Z (B, C) and 2026-12-06T00:50:00Z (A)"
        );
        assert_eq!(json["meta"]["runs"], 3);
        let names: Vec<&String> = json["engines"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(json["engines"]["A"]["prod_code_change"]["median_s"], 1.5);
        let page = crate::report::performance_doc(None, Some(&merged)).unwrap();
        assert!(page
            .contains("on 2026-12-06T00:35:00Z (B, C) and 2026-12-06T00:50:00Z (A), on 2 cores"));
    }

    #[test]
    fn runs_that_cannot_sit_side_by_side_are_refused_in_one_line() {
        let twice = merge_engines_json(&[
            ("1.json".into(), run(&["A"], "d1", 3)),
            ("2.json".into(), run(&["A"], "d2", 3)),
        ]);
        assert_eq!(
            twice.unwrap_err().to_string(),
            "engine A is in two of the runs; publish each engine from one run"
        );
        let other_runs = merge_engines_json(&[
            ("1.json".into(), run(&["A"], "d1", 3)),
            ("2.json".into(), run(&["B"], "d2", 1)),
        ]);
        assert!(other_runs
            .unwrap_err()
            .to_string()
            .starts_with("2.json differs from the first run in meta.runs (1 against 3)"));
        let not_engines = merge_engines_json(&[("bench.json".into(), "{\"meta\":{}}".into())]);
        assert!(not_engines
            .unwrap_err()
            .to_string()
            .starts_with("bench.json is not an engines.json"));
    }
}
