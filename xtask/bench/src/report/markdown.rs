//! The markdown report: the main table with ratios, the GOGC sweep, the registry cache, the
//! xtask's own figures, the targets and how each figure was measured.

use std::fmt::Write;

use super::targets::Unit;
use super::{Results, Scenario, Setup};
use crate::stats::Stats;

impl Results {
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
}

pub(super) fn secs(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2} s")
    } else {
        format!("{value:.1} s")
    }
}

/// `median (min–max)`, or just the median for a single sample.
pub(super) fn range(s: Stats) -> String {
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
pub(super) fn sizes_cell(parts: &[(Option<u64>, &str)]) -> String {
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
