//! The markdown report: the main table with ratios, the GOGC sweep, the registry cache, the
//! xtask's own figures, the targets and how each figure was measured.

use std::fmt::Write;

use super::engines::verdict_cell;
use super::targets::Unit;
use super::{Results, Scenario, Setup};
use crate::stats::Stats;

/// Which scenario a table row shows in a setup's column.
type ScenarioOf = fn(Setup) -> Scenario;

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
            "| Aspect | {} |\n|---|{}",
            columns.join(" | "),
            "---|".repeat(columns.len())
        );
        let code_or_reload = |setup| {
            if setup == Setup::Dev {
                Scenario::HotReload
            } else {
                Scenario::CodeChange
            }
        };
        let rows: [(&str, ScenarioOf); 5] = [
            ("Cold build (no cache)", |_| Scenario::Cold),
            (
                "No-change rebuild (limit: a relink, which a host `go build -o` always does)",
                |_| Scenario::NoChange,
            ),
            (
                "One-line change in core/*.go (dev: hot reload)",
                code_or_reload,
            ),
            ("One dependency bumped in go.mod", |_| Scenario::DepChange),
            ("Proto change", |_| Scenario::ProtoChange),
        ];
        for (aspect, scenario) in rows {
            let cells: Vec<String> = Setup::TABLE
                .iter()
                .map(|&setup| self.time_cell(setup, scenario(setup)))
                .collect();
            let _ = writeln!(md, "| {aspect} | {} |", cells.join(" | "));
        }
        let blank = |setup: Setup, text: String| {
            Setup::TABLE
                .iter()
                .map(|&s| {
                    if s == setup {
                        text.clone()
                    } else {
                        "—".into()
                    }
                })
                .collect::<Vec<String>>()
                .join(" | ")
        };
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
            "| Hot reload: file saved → new answer over HTTP | {} |",
            blank(Setup::Dev, reload)
        );
        let z = &self.sizes;
        md.push_str(
            "\n| Size | before (both shapes) | prod | dev | limit |\n|---|---|---|---|---|\n",
        );
        let _ = writeln!(
            md,
            "| Binary | {} | {} | {} | {} |",
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
            "| Container image | {} | {} | {} | — |",
            mb(z.before_image),
            sizes_cell(&[(z.prod_image, "busybox"), (z.prod_scratch_image, "scratch")]),
            mb(z.dev_image)
        );
        if !self.gogc.is_empty() {
            md.push_str(
                "\n## GOGC sweep (host `go build`, fresh GOCACHE each run)\n\n\
                 | GOGC | wall time | peak memory, whole build (all its processes at once) | largest single process |\n|---|---|---|---|\n",
            );
            for g in &self.gogc {
                let time = Stats::of(&g.seconds).map_or("—".into(), range);
                let mib = |m: Option<f64>| m.map_or("—".into(), |m| format!("{m:.0} MiB"));
                let _ = writeln!(
                    md,
                    "| {} | {time} | {} | {} |",
                    g.label(),
                    mib(g.peak_mib()),
                    mib(g.largest_process_mib())
                );
            }
        }
        self.registry_section(&mut md);
        self.modules_section(&mut md);
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
        md.push_str(
            "\n## Targets\n\nVerdicts on the medians; `bench --check` fails only on a target \
             missed even at the run's best case (each figure's minimum over the runs).\n\n\
             | Target | Verdict |\n|---|---|\n",
        );
        for check in self.targets() {
            let _ = writeln!(
                md,
                "| {} | {} |",
                check.target,
                verdict_cell(check.verdict.as_ref())
            );
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

    /// Both module images from cold: one build-prod against one module after the other.
    fn modules_section(&self, md: &mut String) {
        let together = self.stats(Setup::ModulesTogether, Scenario::Cold);
        let in_turn = self.stats(Setup::ModulesInTurn, Scenario::Cold);
        if together.is_none() && in_turn.is_none() {
            return;
        }
        let show = |s: Option<Stats>| s.map_or("—".into(), range);
        md.push_str(
            "\n## Both module images from cold (build cache emptied first)\n\n| Build | Time |\n|---|---|\n",
        );
        for setup in [Setup::ModulesTogether, Setup::ModulesInTurn] {
            let _ = writeln!(
                md,
                "| {} | {} |",
                setup.column(),
                show(self.stats(setup, Scenario::Cold))
            );
        }
        if let Some(ratio) = self.modules_ratio() {
            let verdict = if ratio > 1.0 {
                "one run is faster"
            } else {
                "one run is not faster"
            };
            let _ = writeln!(md, "| ratio in turn / one run | {ratio:.2}× ({verdict}) |");
        }
    }

    /// How many times longer building the module images one after the other takes than one
    /// build-prod of both, from cold (medians).
    pub(super) fn modules_ratio(&self) -> Option<f64> {
        let together = self.median(Setup::ModulesTogether, Scenario::Cold)?;
        let in_turn = self.median(Setup::ModulesInTurn, Scenario::Cold)?;
        (together > 0.0).then(|| in_turn / together)
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
        for (other, name) in [
            (Setup::Before2fb3e22, "before (2fb3e22)"),
            (Setup::Limit, "limit"),
        ] {
            // A relink is no limit of a no-change rebuild.
            let relink = other == Setup::Limit && scenario == Scenario::NoChange;
            if other != setup && !relink {
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
