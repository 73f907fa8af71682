//! What the bench measured, and its two renderings: `bench.json` (machine-readable) and the
//! markdown table in the design notes' shape, with the targets checked against the figures.
//! Only measured figures appear: a missing measurement is shown as "—" and left out of the JSON.

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use super::stats::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setup {
    /// deployments/bench/before.Dockerfile: the slow shape we replaced.
    Before,
    /// deployments/docker/core.Dockerfile through the xtask's own build step.
    Prod,
    /// The dev image and air hot reload.
    Dev,
    /// Host-native `go build` with a warm build cache: what no container build can beat.
    Limit,
    /// build-prod on a shared (remote) buildx builder with a registry cache, as CI builds.
    Registry,
}

impl Setup {
    pub const ALL: [Setup; 5] = [
        Setup::Before,
        Setup::Prod,
        Setup::Dev,
        Setup::Limit,
        Setup::Registry,
    ];
    /// The columns of the main table (registry has a section of its own).
    const TABLE: [Setup; 4] = [Setup::Before, Setup::Prod, Setup::Dev, Setup::Limit];

    pub fn key(self) -> &'static str {
        match self {
            Setup::Before => "before",
            Setup::Prod => "prod",
            Setup::Dev => "dev",
            Setup::Limit => "limit",
            Setup::Registry => "registry",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Setup::Before => "Before",
            Setup::Prod => "After prod",
            Setup::Dev => "After dev",
            Setup::Limit => "Limit",
            Setup::Registry => "Registry",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    Cold,
    NoChange,
    CodeChange,
    DepChange,
    ProtoChange,
    HotReload,
    /// The registry setup's rebuild on an emptied builder with --cache-from the registry.
    WarmFromRegistry,
}

impl Scenario {
    pub fn key(self) -> &'static str {
        match self {
            Scenario::Cold => "cold",
            Scenario::NoChange => "no_change",
            Scenario::CodeChange => "code_change",
            Scenario::DepChange => "dep_change",
            Scenario::ProtoChange => "proto_change",
            Scenario::HotReload => "hot_reload",
            Scenario::WarmFromRegistry => "warm_from_registry",
        }
    }
}

/// Sizes in bytes; `None` where not measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sizes {
    /// Host `go build` with no flags, as the before image and air build it.
    pub binary_unstripped: Option<u64>,
    /// Host `go build` with the production flags (`-trimpath -ldflags "-s -w"`).
    pub binary_stripped: Option<u64>,
    /// The binary exported from the production build (`--target binary`).
    pub prod_binary: Option<u64>,
    pub runtime_base_image: Option<u64>,
    pub before_image: Option<u64>,
    pub prod_image: Option<u64>,
    pub prod_scratch_image: Option<u64>,
    pub dev_image: Option<u64>,
}

impl Sizes {
    fn rows(&self) -> [(&'static str, Option<u64>); 8] {
        [
            ("binary_unstripped_bytes", self.binary_unstripped),
            ("binary_stripped_bytes", self.binary_stripped),
            ("prod_binary_bytes", self.prod_binary),
            ("runtime_base_image_bytes", self.runtime_base_image),
            ("before_image_bytes", self.before_image),
            ("prod_image_bytes", self.prod_image),
            ("prod_scratch_image_bytes", self.prod_scratch_image),
            ("dev_image_bytes", self.dev_image),
        ]
    }
}

/// One GOGC value of the sweep: wall time and peak RSS of each compile.
#[derive(Debug, Clone, PartialEq)]
pub struct GogcSamples {
    /// Empty: GOGC unset, Go's own default.
    pub value: String,
    pub seconds: Vec<f64>,
    pub peak_rss_kib: Vec<u64>,
}

impl GogcSamples {
    fn label(&self) -> &str {
        if self.value.is_empty() {
            "default"
        } else {
            &self.value
        }
    }

    fn peak_mib(&self) -> Option<f64> {
        self.peak_rss_kib.iter().max().map(|&k| k as f64 / 1024.0)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct XtaskSamples {
    /// `cargo build -p xtask` into an empty target folder.
    pub cold_compile: Vec<f64>,
    /// The built binary's `--help`.
    pub help_binary: Vec<f64>,
    /// `cargo xtask --help` through cargo, everything built.
    pub help_cargo: Vec<f64>,
}

/// Everything one bench run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results {
    pub runs: u32,
    pub quick: bool,
    pub samples: BTreeMap<(Setup, Scenario), Vec<f64>>,
    pub sizes: Sizes,
    pub gogc: Vec<GogcSamples>,
    pub xtask: XtaskSamples,
    /// What was measured and how (engine, dependency bumped, proto method...), shown as notes.
    pub notes: Vec<(&'static str, String)>,
}

impl Results {
    pub fn record(&mut self, setup: Setup, scenario: Scenario, seconds: f64) {
        self.samples
            .entry((setup, scenario))
            .or_default()
            .push(seconds);
    }

    pub fn stats(&self, setup: Setup, scenario: Scenario) -> Option<Stats> {
        Stats::of(self.samples.get(&(setup, scenario))?)
    }

    fn median(&self, setup: Setup, scenario: Scenario) -> Option<f64> {
        self.stats(setup, scenario).map(|s| s.median)
    }

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

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let mode = if self.quick { " (--quick subset)" } else { "" };
        let _ = writeln!(md, "# pixie build benchmark{mode}\n");
        let _ = writeln!(
            md,
            "Median over {} run(s), (min–max) when more than one; runs alternate setups round-robin. \
             Ratios compare medians with Before and with the Limit. — means not measured.\n",
            self.runs
        );
        let columns: Vec<&str> = Setup::TABLE.iter().map(|s| s.column()).collect();
        let _ = writeln!(
            md,
            "| Aspect | {} |\n|---|---|---|---|---|",
            columns.join(" | ")
        );
        let rows: [(&str, [Scenario; 4]); 5] = [
            ("Cold build (no cache)", [Scenario::Cold; 4]),
            ("No-change rebuild", [Scenario::NoChange; 4]),
            (
                "One-line change in core/*.go (dev: hot reload)",
                [
                    Scenario::CodeChange,
                    Scenario::CodeChange,
                    Scenario::HotReload,
                    Scenario::CodeChange,
                ],
            ),
            ("One dependency bumped in go.mod", [Scenario::DepChange; 4]),
            ("Proto change", [Scenario::ProtoChange; 4]),
        ];
        for (aspect, scenarios) in rows {
            let cells: Vec<String> = Setup::TABLE
                .iter()
                .zip(scenarios)
                .map(|(&setup, scenario)| self.time_cell(setup, scenario))
                .collect();
            let _ = writeln!(md, "| {aspect} | {} |", cells.join(" | "));
        }
        let reload = match self.stats(Setup::Dev, Scenario::HotReload) {
            Some(s) => format!(
                "p50 {}, p95 {} ({}–{}, {} edits)",
                secs(s.median),
                secs(s.p95),
                secs(s.min),
                secs(s.max),
                s.n
            ),
            None => "—".into(),
        };
        let _ = writeln!(
            md,
            "| Hot reload: file saved → new answer over HTTP | — | — | {reload} | — |"
        );
        let z = &self.sizes;
        let _ = writeln!(
            md,
            "| Binary size | {} | {} | {} | {} |",
            sizes_cell(&[(z.binary_unstripped, "unstripped")]),
            sizes_cell(&[(z.prod_binary, "stripped")]),
            sizes_cell(&[(z.binary_unstripped, "unstripped")]),
            sizes_cell(&[
                (z.binary_stripped, "stripped"),
                (z.binary_unstripped, "unstripped")
            ])
        );
        let _ = writeln!(
            md,
            "| Container image size | {} | {} | {} | — |",
            mb(z.before_image),
            sizes_cell(&[(z.prod_image, "busybox"), (z.prod_scratch_image, "scratch")]),
            mb(z.dev_image)
        );
        if !self.gogc.is_empty() {
            md.push_str(
                "\n## GOGC sweep (host `go build`, fresh GOCACHE each run)\n\n\
                 | GOGC | wall time | peak RSS (largest process) |\n|---|---|---|\n",
            );
            for g in &self.gogc {
                let time = Stats::of(&g.seconds).map_or("—".into(), range);
                let peak = g.peak_mib().map_or("—".into(), |m| format!("{m:.0} MiB"));
                let _ = writeln!(md, "| {} | {time} | {peak} |", g.label());
            }
        }
        self.registry_section(&mut md);
        let x = &self.xtask;
        if !(x.cold_compile.is_empty() && x.help_binary.is_empty() && x.help_cargo.is_empty()) {
            md.push_str("\n## The xtask itself\n\n| Measure | Time |\n|---|---|\n");
            for (what, samples, unit) in [
                (
                    "cold compile (`cargo build -p xtask`, empty target dir)",
                    &x.cold_compile,
                    Unit::Seconds,
                ),
                ("`xtask --help`, built binary", &x.help_binary, Unit::Millis),
                ("`cargo xtask --help`, warm", &x.help_cargo, Unit::Millis),
            ] {
                if let Some(s) = Stats::of(samples) {
                    let _ = writeln!(
                        md,
                        "| {what} | {} ({}–{}, n={}) |",
                        unit.show(s.median),
                        unit.show(s.min),
                        unit.show(s.max),
                        s.n
                    );
                }
            }
        }
        md.push_str("\n## Targets\n\n| Target | Measured | Bound | Verdict |\n|---|---|---|---|\n");
        for check in self.targets() {
            match check.verdict {
                Some(v) => {
                    let verdict = if v.met {
                        format!("met ({} to spare)", v.margin)
                    } else {
                        format!("**missed** by {}", v.margin)
                    };
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {verdict} |",
                        check.target, v.measured, v.bound
                    );
                }
                None => {
                    let _ = writeln!(md, "| {} | — | — | not measured |", check.target);
                }
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\n## How\n\n");
            for (key, text) in &self.notes {
                let _ = writeln!(md, "- {key}: {text}");
            }
        }
        md
    }

    /// Cold vs warm-from-registry on the remote builder, when measured.
    fn registry_section(&self, md: &mut String) {
        let cold = self.stats(Setup::Registry, Scenario::Cold);
        let warm = self.stats(Setup::Registry, Scenario::WarmFromRegistry);
        if cold.is_none() && warm.is_none() {
            return;
        }
        let show = |s: Option<Stats>| s.map_or("—".into(), range);
        md.push_str(
            "\n## Registry cache (remote builder)\n\n| Build (builder emptied first) | Time |\n|---|---|\n",
        );
        let _ = writeln!(
            md,
            "| cold, pushing with `--cache-to type=registry,…,mode=max` | {} |",
            show(cold)
        );
        let _ = writeln!(
            md,
            "| warm from the registry (`--cache-from`) | {} |",
            show(warm)
        );
        if let Some(ratio) = self.registry_speedup() {
            let _ = writeln!(md, "| ratio cold / warm | {ratio:.1}× |");
        }
    }

    /// How many times faster the rebuild from the registry cache is than the cold build (medians).
    fn registry_speedup(&self) -> Option<f64> {
        both(
            self.median(Setup::Registry, Scenario::Cold),
            self.median(Setup::Registry, Scenario::WarmFromRegistry),
        )
        .filter(|(_, w)| *w > 0.0)
        .map(|(c, w)| c / w)
    }

    /// `median (min–max) · ratios` for one setup and scenario.
    fn time_cell(&self, setup: Setup, scenario: Scenario) -> String {
        let Some(stats) = self.stats(setup, scenario) else {
            return "—".into();
        };
        let mut cell = range(stats);
        // The same aspect's row in the other columns: a dev hot reload compares with code changes.
        let comparable = if scenario == Scenario::HotReload {
            Scenario::CodeChange
        } else {
            scenario
        };
        for (other, name) in [(Setup::Before, "before"), (Setup::Limit, "limit")] {
            if other != setup {
                if let Some(base) = self.median(other, comparable).filter(|b| *b > 0.0) {
                    let _ = write!(cell, "; {:.2}× {name}", stats.median / base);
                }
            }
        }
        cell
    }

    pub fn targets(&self) -> Vec<Check> {
        let med = |setup, scenario| self.median(setup, scenario);
        let prod_code = med(Setup::Prod, Scenario::CodeChange);
        let reload = self.stats(Setup::Dev, Scenario::HotReload);
        let z = &self.sizes;
        vec![
            Check {
                target: "one-line change rebuild (prod) ≤ 1.3 × limit + 2 s",
                verdict: both(prod_code, med(Setup::Limit, Scenario::CodeChange))
                    .map(|(p, l)| at_most(p, 1.3 * l + 2.0, Unit::Seconds)),
            },
            Check {
                target: "one-line change rebuild (prod) ≥ 10× faster than before",
                verdict: both(med(Setup::Before, Scenario::CodeChange), prod_code)
                    .filter(|(_, p)| *p > 0.0)
                    .map(|(b, p)| at_least(b / p, 10.0, Unit::Times)),
            },
            Check {
                target: "no-change rebuild (prod) ≤ 1.5 s",
                verdict: med(Setup::Prod, Scenario::NoChange)
                    .map(|p| at_most(p, 1.5, Unit::Seconds)),
            },
            Check {
                target: "cold build (prod) ≤ 1.1 × before cold",
                verdict: both(
                    med(Setup::Prod, Scenario::Cold),
                    med(Setup::Before, Scenario::Cold),
                )
                .map(|(p, b)| at_most(p, 1.1 * b, Unit::Seconds)),
            },
            Check {
                target: "hot reload p50 ≤ 2 s",
                verdict: reload.map(|s| at_most(s.median, 2.0, Unit::Seconds)),
            },
            Check {
                target: "hot reload p95 ≤ 3 s",
                verdict: reload.map(|s| at_most(s.p95, 3.0, Unit::Seconds)),
            },
            Check {
                target: "prod image ≤ stripped binary + runtime base + 1 MB",
                verdict: z
                    .prod_image
                    .zip(z.prod_binary)
                    .zip(z.runtime_base_image)
                    .map(|((image, binary), base)| {
                        at_most(image as f64, (binary + base) as f64 + 1e6, Unit::Bytes)
                    }),
            },
            Check {
                target: "warm-from-registry rebuild ≥ 5× faster than cold",
                verdict: self
                    .registry_speedup()
                    .map(|r| at_least(r, 5.0, Unit::Times)),
            },
            Check {
                target: "`--help` warm ≤ 150 ms",
                verdict: Stats::of(&self.xtask.help_binary)
                    .map(|s| at_most(s.median, 0.150, Unit::Millis)),
            },
            Check {
                target: "xtask cold compile ≤ 45 s (2 cores)",
                verdict: Stats::of(&self.xtask.cold_compile)
                    .map(|s| at_most(s.median, 45.0, Unit::Seconds)),
            },
        ]
    }
}

/// One target and how the measurement compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub target: &'static str,
    /// `None` when this run did not measure what the target needs.
    pub verdict: Option<Verdict>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub measured: String,
    pub bound: String,
    pub met: bool,
    /// Distance to the bound, always positive.
    pub margin: String,
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
    Bytes,
    Times,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::Seconds => secs(value),
            Unit::Millis => format!("{:.0} ms", value * 1000.0),
            Unit::Bytes => format!("{:.2} MB", value / 1e6),
            Unit::Times => format!("{value:.1}×"),
        }
    }
}

fn at_most(measured: f64, bound: f64, unit: Unit) -> Verdict {
    Verdict {
        measured: unit.show(measured),
        bound: format!("≤ {}", unit.show(bound)),
        met: measured <= bound,
        margin: unit.show((bound - measured).abs()),
    }
}

fn at_least(measured: f64, bound: f64, unit: Unit) -> Verdict {
    Verdict {
        measured: unit.show(measured),
        bound: format!("≥ {}", unit.show(bound)),
        met: measured >= bound,
        margin: unit.show((measured - bound).abs()),
    }
}

fn both(a: Option<f64>, b: Option<f64>) -> Option<(f64, f64)> {
    a.zip(b)
}

fn secs(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} s")
    } else {
        format!("{value:.1} s")
    }
}

/// `median (min–max)`, or just the median for a single sample.
fn range(s: Stats) -> String {
    if s.n > 1 {
        format!("{} ({}–{})", secs(s.median), secs(s.min), secs(s.max))
    } else {
        secs(s.median)
    }
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("—".into(), |b| format!("{:.1} MB", b as f64 / 1e6))
}

/// Labelled sizes in one cell ("14.1 MB stripped, 20.6 MB unstripped"), leaving out the ones
/// not measured; "—" when none was.
fn sizes_cell(parts: &[(Option<u64>, &str)]) -> String {
    let measured: Vec<String> = parts
        .iter()
        .filter_map(|(bytes, what)| bytes.map(|b| format!("{} {what}", mb(Some(b)))))
        .collect();
    if measured.is_empty() {
        "—".into()
    } else {
        measured.join(", ")
    }
}

fn stats_json(s: Stats) -> Json {
    Json::Obj(vec![
        ("median_s".into(), Json::Num(s.median)),
        ("min_s".into(), Json::Num(s.min)),
        ("max_s".into(), Json::Num(s.max)),
        ("p95_s".into(), Json::Num(s.p95)),
        ("n".into(), Json::Int(s.n as u64)),
    ])
}

/// Just enough JSON for the report (the xtask has no JSON dependency, and needs none for this).
enum Json {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Results {
        let mut r = Results {
            runs: 2,
            ..Results::default()
        };
        for (setup, scenario, values) in [
            (Setup::Before, Scenario::CodeChange, [50.0, 60.0]),
            (Setup::Prod, Scenario::CodeChange, [4.0, 6.0]),
            (Setup::Limit, Scenario::CodeChange, [2.0, 2.0]),
            (Setup::Prod, Scenario::NoChange, [1.0, 3.0]),
            (Setup::Dev, Scenario::HotReload, [1.5, 2.5]),
        ] {
            for v in values {
                r.record(setup, scenario, v);
            }
        }
        r.sizes.prod_image = Some(16_000_000);
        r.sizes.prod_binary = Some(13_000_000);
        r.sizes.runtime_base_image = Some(2_200_000);
        r.gogc.push(GogcSamples {
            value: String::new(),
            seconds: vec![40.0],
            peak_rss_kib: vec![400 * 1024],
        });
        r.notes.push(("proto change", "field \"x\" added".into()));
        r
    }

    #[test]
    fn size_cells_leave_out_what_was_not_measured() {
        assert_eq!(sizes_cell(&[(None, "busybox"), (None, "scratch")]), "—");
        assert_eq!(
            sizes_cell(&[(Some(17_000_000), "busybox"), (None, "scratch")]),
            "17.0 MB busybox"
        );
        assert_eq!(
            sizes_cell(&[
                (Some(14_100_000), "stripped"),
                (Some(20_600_000), "unstripped")
            ]),
            "14.1 MB stripped, 20.6 MB unstripped"
        );
    }

    #[test]
    fn json_has_setups_scenarios_sizes_sweep_and_meta() {
        let json = sample().json();
        for needle in [
            "\"before\": {\n    \"code_change\": {\n      \"median_s\": 55,",
            "\"prod\": {\n    \"no_change\": {\n      \"median_s\": 2,\n      \"min_s\": 1,\n      \"max_s\": 3,\n      \"p95_s\": 3,\n      \"n\": 2\n    },",
            "\"dev\": {\n    \"hot_reload\":",
            "\"prod_image_bytes\": 16000000",
            "\"gogc_sweep\": {\n    \"default\": {",
            "\"peak_rss_mib\": 400",
            "\"xtask\": {}",
            "\"runs\": 2",
            "\"proto change\": \"field \\\"x\\\" added\"",
        ] {
            assert!(json.contains(needle), "missing {needle:?} in\n{json}");
        }
        assert!(
            !json.contains("\"cold\""),
            "unmeasured scenarios stay out: {json}"
        );
        assert!(
            !json.contains("dev_image_bytes"),
            "unmeasured sizes stay out"
        );
    }

    #[test]
    fn markdown_table_has_the_notes_shape_with_ratios() {
        let md = sample().markdown();
        assert!(md.contains("| Aspect | Before | After prod | After dev | Limit |"));
        assert!(
            md.contains("| One-line change in core/*.go (dev: hot reload) | 55.0 s (50.0 s–60.0 s); 27.50× limit | 5.00 s (4.00 s–6.00 s); 0.09× before; 2.50× limit | 2.00 s (1.50 s–2.50 s); 0.04× before; 1.00× limit | 2.00 s (2.00 s–2.00 s); 0.04× before |"),
            "{md}"
        );
        assert!(md.contains("| Cold build (no cache) | — | — | — | — |"));
        assert!(md.contains("p50 2.00 s, p95 2.50 s (1.50 s–2.50 s, 2 edits)"));
        assert!(md.contains("| default | 40.0 s | 400 MiB |"));
        let mut with_help = sample();
        with_help.xtask.help_binary = vec![0.004, 0.002, 0.003];
        assert!(with_help
            .markdown()
            .contains("| `xtask --help`, built binary | 3 ms (2 ms–4 ms, n=3) |"));
    }

    #[test]
    fn targets_report_met_missed_and_unmeasured() {
        let md = sample().markdown();
        // 5.00 s against 1.3 × 2 s + 2 s = 4.6 s.
        assert!(
            md.contains("| one-line change rebuild (prod) ≤ 1.3 × limit + 2 s | 5.00 s | ≤ 4.60 s | **missed** by 0.40 s |"),
            "{md}"
        );
        assert!(md.contains("| one-line change rebuild (prod) ≥ 10× faster than before | 11.0× | ≥ 10.0× | met (1.0× to spare) |"), "{md}");
        assert!(md.contains("| hot reload p95 ≤ 3 s | 2.50 s | ≤ 3.00 s | met (0.50 s to spare) |"));
        assert!(md.contains("| prod image ≤ stripped binary + runtime base + 1 MB | 16.00 MB | ≤ 16.20 MB | met (0.20 MB to spare) |"), "{md}");
        assert!(md.contains("| xtask cold compile ≤ 45 s (2 cores) | — | — | not measured |"));
    }

    #[test]
    fn registry_figures_get_json_a_section_and_a_target() {
        let mut r = sample();
        let md = r.markdown();
        assert!(!md.contains("## Registry cache"), "{md}");
        assert!(md.contains(
            "| warm-from-registry rebuild ≥ 5× faster than cold | — | — | not measured |"
        ));
        for (scenario, value) in [(Scenario::Cold, 50.0), (Scenario::WarmFromRegistry, 1.25)] {
            r.record(Setup::Registry, scenario, value);
        }
        let json = r.json();
        assert!(
            json.contains("\"registry\": {\n    \"cold\": {\n      \"median_s\": 50,"),
            "{json}"
        );
        assert!(json.contains("\"warm_from_registry\": {\n      \"median_s\": 1.25,"));
        let md = r.markdown();
        assert!(md.contains("## Registry cache (remote builder)"), "{md}");
        assert!(
            md.contains("| warm from the registry (`--cache-from`) | 1.25 s |"),
            "{md}"
        );
        assert!(md.contains("| ratio cold / warm | 40.0× |"), "{md}");
        assert!(md.contains("| warm-from-registry rebuild ≥ 5× faster than cold | 40.0× | ≥ 5.0× | met (35.0× to spare) |"), "{md}");
        assert!(md.contains(
            "| Aspect | Before | After prod | After dev | Limit |\n|---|---|---|---|---|\n"
        ));
        r.record(Setup::Registry, Scenario::WarmFromRegistry, 48.75);
        // Median of 1.25 and 48.75 is 25 s: 2× only.
        assert!(r
            .markdown()
            .contains("| 2.0× | ≥ 5.0× | **missed** by 3.0× |"));
    }

    #[test]
    fn json_strings_are_escaped() {
        let text = Json::Str("a\"b\\c\nd\u{1}".into()).to_string();
        assert_eq!(text, r#""a\"b\\c\nd\u0001""#);
    }
}
