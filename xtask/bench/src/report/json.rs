//! `bench.json`: every measured figure, nothing invented (unmeasured keys are left out).

use std::fmt::{self, Write};

use super::{Results, Setup};
use crate::stats::Stats;

impl Results {
    /// `{setup: {scenario: {median_s, min_s, max_s, p95_s, n}}, sizes, gogc_sweep, xtask, meta}`.
    pub fn json(&self) -> String {
        let mut top = Vec::new();
        for setup in Setup::ALL {
            let scenarios: Vec<(String, Json)> = self
                .samples
                .iter()
                .filter(|((s, _), _)| *s == setup)
                .filter_map(|((_, scenario), samples)| {
                    Some((scenario.key().to_string(), stats_json(Stats::of(samples)?)))
                })
                .collect();
            if !scenarios.is_empty() {
                top.push((setup.key().to_string(), Json::Obj(scenarios)));
            }
        }
        let sizes = self
            .sizes
            .rows()
            .into_iter()
            .filter_map(|(key, bytes)| Some((key.to_string(), Json::Int(bytes?))))
            .collect();
        top.push(("sizes".into(), Json::Obj(sizes)));
        let sweep = self
            .gogc
            .iter()
            .filter_map(|g| {
                let Json::Obj(mut fields) = stats_json(Stats::of(&g.seconds)?) else {
                    unreachable!("stats_json makes objects")
                };
                if let Some(mib) = g.peak_mib() {
                    fields.push(("peak_rss_mib".into(), Json::Num(mib)));
                }
                Some((g.label().to_string(), Json::Obj(fields)))
            })
            .collect();
        top.push(("gogc_sweep".into(), Json::Obj(sweep)));
        let xtask = [
            ("cold_compile", &self.xtask.cold_compile),
            ("help_binary", &self.xtask.help_binary),
            ("help_cargo", &self.xtask.help_cargo),
        ]
        .into_iter()
        .filter_map(|(key, samples)| Some((key.to_string(), stats_json(Stats::of(samples)?))))
        .collect();
        top.push(("xtask".into(), Json::Obj(xtask)));
        let notes = self
            .notes
            .iter()
            .map(|(k, v)| (k.to_string(), Json::Str(v.clone())))
            .collect();
        top.push((
            "meta".into(),
            Json::Obj(vec![
                ("runs".into(), Json::Int(u64::from(self.runs))),
                ("quick".into(), Json::Bool(self.quick)),
                ("notes".into(), Json::Obj(notes)),
            ]),
        ));
        let mut text = Json::Obj(top).to_string();
        text.push('\n');
        text
    }
}

pub(super) fn stats_json(s: Stats) -> Json {
    Json::Obj(vec![
        ("median_s".into(), Json::Num(s.median)),
        ("min_s".into(), Json::Num(s.min)),
        ("max_s".into(), Json::Num(s.max)),
        ("p95_s".into(), Json::Num(s.p95)),
        ("n".into(), Json::Int(s.n as u64)),
    ])
}

/// Just enough JSON for the report (the xtask has no JSON dependency, and needs none for this).
pub(super) enum Json {
    Num(f64),
    Int(u64),
    Bool(bool),
    Str(String),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn write(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        match self {
            // Millisecond resolution is all a wall clock gives here; never NaN (not JSON).
            Json::Num(n) if n.is_finite() => write!(f, "{}", (n * 1000.0).round() / 1000.0),
            Json::Num(_) => f.write_str("null"),
            Json::Int(n) => write!(f, "{n}"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Str(s) => write_json_string(f, s),
            Json::Obj(fields) if fields.is_empty() => f.write_str("{}"),
            Json::Obj(fields) => {
                f.write_str("{\n")?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    write!(f, "{:width$}", "", width = indent + 2)?;
                    write_json_string(f, key)?;
                    f.write_str(": ")?;
                    value.write(f, indent + 2)?;
                    f.write_str(if i + 1 < fields.len() { ",\n" } else { "\n" })?;
                }
                write!(f, "{:width$}}}", "", width = indent)
            }
        }
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}
