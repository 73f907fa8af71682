//! `bench.json`: every measured figure, nothing invented (unmeasured keys are left out).

use serde_json::{json, Map, Value};

use super::engines::verdict_cell;
use super::targets::Check;
use super::{Recorded, Results, Setup};
use crate::stats::Stats;

impl Results {
    /// `{setup: {scenario: {median_s, min_s, max_s, p95_s, n}}, sizes, gogc_sweep, xtask, meta}`.
    pub fn json(&self) -> String {
        let mut top = Map::new();
        for setup in Setup::ALL {
            let scenarios: Map<String, Value> = self
                .samples
                .iter()
                .filter(|((s, _), _)| *s == setup)
                .filter_map(|((_, scenario), samples)| {
                    Some((scenario.key().to_string(), stats_json(Stats::of(samples)?)))
                })
                .collect();
            if !scenarios.is_empty() {
                top.insert(setup.key().to_string(), Value::Object(scenarios));
            }
        }
        let sizes: Map<String, Value> = self
            .sizes
            .rows()
            .into_iter()
            .filter_map(|(key, bytes)| Some((key.to_string(), json!(bytes?))))
            .collect();
        top.insert("sizes".into(), Value::Object(sizes));
        let sweep: Map<String, Value> = self
            .gogc
            .iter()
            .filter_map(|g| {
                let mut fields = stats_json(Stats::of(&g.seconds)?);
                if let Some(mib) = g.peak_mib() {
                    fields["build_peak_mib"] = figure(mib);
                }
                if let Some(mib) = g.largest_process_mib() {
                    fields["largest_process_mib"] = figure(mib);
                }
                Some((g.label().to_string(), fields))
            })
            .collect();
        top.insert("gogc_sweep".into(), Value::Object(sweep));
        let xtask: Map<String, Value> = [
            ("cold_compile", &self.xtask.cold_compile),
            ("help_binary", &self.xtask.help_binary),
            ("help_cargo", &self.xtask.help_cargo),
        ]
        .into_iter()
        .filter_map(|(key, samples)| Some((key.to_string(), stats_json(Stats::of(samples)?))))
        .collect();
        top.insert("xtask".into(), Value::Object(xtask));
        if let Some(ratio) = self.modules_ratio() {
            top.insert("modules_cold_in_turn_over_together".into(), figure(ratio));
        }
        let notes: Map<String, Value> = self
            .notes
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut meta = json!({"runs": self.runs, "quick": self.quick, "notes": notes});
        if let Some(recorded) = &self.recorded {
            recorded.add_to(&mut meta);
        }
        top.insert("meta".into(), meta);
        top.insert("targets".into(), checks_json(&self.targets()));
        pretty(&Value::Object(top))
    }
}

impl Recorded {
    /// Adds when, on what and with which engine to a report's `meta`.
    pub(super) fn add_to(&self, meta: &mut Value) {
        meta["date"] = json!(self.date);
        meta["machine"] = json!(self.machine);
        meta["engine"] = json!(self.engine);
    }
}

/// The targets as the reports hold them: `[{id, target, verdict, measured, bound, met, margin,
/// met_at_best, best}]` (`verdict`: the line the reports show), `measured: null` when not
/// measured.
pub fn checks_json(checks: &[Check]) -> Value {
    Value::Array(
        checks
            .iter()
            .map(|c| {
                let verdict = verdict_cell(c.verdict.as_ref());
                match &c.verdict {
                    Some(v) => json!({
                        "id": c.id, "target": c.target, "verdict": verdict,
                        "measured": v.measured, "bound": v.bound, "met": v.met,
                        "margin": v.margin, "met_at_best": v.met_at_best, "best": v.best,
                    }),
                    None => json!({"id": c.id, "target": c.target, "verdict": verdict, "measured": null}),
                }
            })
            .collect(),
    )
}

/// A figure to three decimals (seconds: the millisecond a wall clock resolves here); NaN (not
/// JSON) is null.
fn figure(n: f64) -> Value {
    json!((n * 1000.0).round() / 1000.0)
}

pub(super) fn stats_json(s: Stats) -> Value {
    json!({
        "median_s": figure(s.median),
        "min_s": figure(s.min),
        "max_s": figure(s.max),
        "p95_s": figure(s.p95),
        "n": s.n,
    })
}

/// Indented JSON and a final newline, as the report files are written.
pub(super) fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a Value serializes");
    text.push('\n');
    text
}
