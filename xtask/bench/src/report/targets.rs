//! The targets the bench checks, each computed from the run's own figures (the limit is this
//! run's host compile, never a constant), and the `--check` rule.
//!
//! Every target is evaluated twice: on the medians (the verdict the reports show) and on the
//! run's best case, every timed figure replaced by its minimum over the runs (hot reload: the
//! best run's p50 and p95). Noise on a shared machine only ever adds time, so the minimum is
//! the closest a run gets to a figure's own cost; a target missed even there is missed beyond
//! the noise of the run, and `bench --check` fails on it (docs/performance.md shows the spread
//! it allows for).

use super::markdown::secs;
use super::{Results, Scenario, Setup};
use crate::stats::Stats;

/// How much a container build may add to the host's own compile: the per-engine targets.
pub const PROD_ALLOWANCE: f64 = 0.3;
/// The same on Podman < 5.4, whose builder route pays one `podman exec` and one `podman build`.
pub const OLD_PODMAN_ALLOWANCE: f64 = 0.5;
pub const RELOAD_P50_ALLOWANCE: f64 = 0.2;
pub const RELOAD_P95_ALLOWANCE: f64 = 0.5;

/// A hot reload the targets hold to a limit: the ids `--check` selects its p50 and p95 by, how
/// the targets name it, its samples' setup and its limit's.
struct Reload {
    ids: (&'static str, &'static str),
    what: &'static str,
    setup: Setup,
    limit: Setup,
}

impl Reload {
    /// Core's air reload in the dev container (`dev`), against core's limit.
    const CORE: Reload = Reload {
        ids: ("reload-p50", "reload-p95"),
        what: "hot reload",
        setup: Setup::Dev,
        limit: Setup::Limit,
    };
    /// Core's air reload in the dev stack (`bench --stack`), against core's limit from the
    /// same run.
    const CORE_STACK: Reload = Reload {
        ids: ("stack-reload-p50", "stack-reload-p95"),
        what: "core hot reload with the stack up",
        setup: Setup::Dev,
        limit: Setup::Limit,
    };
    /// The plugin's air reload in the dev stack, against the plugin's limit.
    const PLUGIN: Reload = Reload {
        ids: ("plugin-reload-p50", "plugin-reload-p95"),
        what: "plugin (thumbnailer) hot reload with the stack up",
        setup: Setup::PluginDev,
        limit: Setup::PluginLimit,
    };
}

/// One target and how the run compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The name `--check` selects it by.
    pub id: &'static str,
    pub target: String,
    /// `None` when this run did not measure what the target needs.
    pub verdict: Option<Verdict>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub measured: String,
    pub bound: String,
    /// On the medians.
    pub met: bool,
    /// Distance to the bound on the medians, always positive.
    pub margin: String,
    /// On the run's best case (minimum of each timed figure): false only when the target is
    /// missed beyond this run's noise.
    pub met_at_best: bool,
    /// The best case, as "measured against bound".
    pub best: String,
}

/// Which figure of a measurement the targets read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Median,
    Best,
}

/// One evaluation of a target: measured and bound, in a unit.
struct Compared {
    measured: f64,
    bound: f64,
    at_least: bool,
    unit: Unit,
}

impl Compared {
    fn met(&self) -> bool {
        if self.at_least {
            self.measured >= self.bound
        } else {
            self.measured <= self.bound
        }
    }

    fn bound_text(&self) -> String {
        let sign = if self.at_least { "≥" } else { "≤" };
        format!("{sign} {}", self.unit.show(self.bound))
    }
}

fn at_most(measured: f64, bound: f64, unit: Unit) -> Compared {
    Compared {
        measured,
        bound,
        at_least: false,
        unit,
    }
}

fn at_least(measured: f64, bound: f64, unit: Unit) -> Compared {
    Compared {
        measured,
        bound,
        at_least: true,
        unit,
    }
}

/// A target's text, and how to compare it given the figures of one pick.
type Rule<'a> = (
    &'static str,
    String,
    Box<dyn Fn(Pick) -> Option<Compared> + 'a>,
);

impl Results {
    /// One timed figure: the median, or the minimum over the runs.
    fn figure(&self, setup: Setup, scenario: Scenario, pick: Pick) -> Option<f64> {
        let stats = self.stats(setup, scenario)?;
        Some(match pick {
            Pick::Median => stats.median,
            Pick::Best => stats.min,
        })
    }

    /// Hot reload's p50 and p95: over every edit, or the best run's (each run saves the same
    /// number of edits).
    fn reload(&self, setup: Setup, pick: Pick) -> Option<(f64, f64)> {
        let samples = self.samples.get(&(setup, Scenario::HotReload))?;
        let all = Stats::of(samples)?;
        if pick == Pick::Median {
            return Some((all.median, all.p95));
        }
        let runs = usize::try_from(self.runs).unwrap_or(1).max(1);
        let per_run = if samples.len() % runs == 0 {
            samples.len() / runs
        } else {
            samples.len()
        };
        let runs: Vec<Stats> = samples.chunks(per_run).filter_map(Stats::of).collect();
        let best = |f: fn(&Stats) -> f64| runs.iter().map(f).fold(f64::INFINITY, f64::min);
        Some((best(|s| s.median), best(|s| s.p95)))
    }

    /// How many times faster `faster` is than `slower`.
    fn ratio(
        &self,
        slower: (Setup, Scenario),
        faster: (Setup, Scenario),
        pick: Pick,
    ) -> Option<f64> {
        let slow = self.figure(slower.0, slower.1, pick)?;
        let fast = self.figure(faster.0, faster.1, pick).filter(|f| *f > 0.0)?;
        Some(slow / fast)
    }

    /// How many times faster the rebuild from the registry cache is than the cold build (medians).
    pub(super) fn registry_speedup(&self) -> Option<f64> {
        self.ratio(
            (Setup::Registry, Scenario::Cold),
            (Setup::Registry, Scenario::WarmFromRegistry),
            Pick::Median,
        )
    }

    /// What a container build may add to the limit on this run's engine.
    pub fn prod_allowance(&self) -> f64 {
        if self.old_podman {
            OLD_PODMAN_ALLOWANCE
        } else {
            PROD_ALLOWANCE
        }
    }

    /// The targets against the limit and the baselines, shared by the setups run and each
    /// engine of `--engine`.
    fn speed_rules(&self) -> Vec<Rule<'_>> {
        let code = Scenario::CodeChange;
        let allowance = self.prod_allowance();
        let route = if self.old_podman {
            " (Podman < 5.4's builder route)"
        } else {
            ""
        };
        // A build setup against a limit (core's, or the plugin's own), both from this run.
        let against = move |setup: Setup, limit: Setup, extra: f64| {
            move |pick| {
                let l = self.figure(limit, code, pick)?;
                Some(at_most(
                    self.figure(setup, code, pick)?,
                    l + extra,
                    Unit::Seconds,
                ))
            }
        };
        let against_limit = move |setup: Setup, extra: f64| against(setup, Setup::Limit, extra);
        let before = |shape: Setup| {
            move |pick| {
                let r = self.ratio((shape, code), (Setup::ProdCommand, code), pick)?;
                Some(at_least(r, 10.0, Unit::Times))
            }
        };
        let mut rules: Vec<Rule<'_>> = vec![
            (
                "prod-command",
                format!("prod one-line change, whole `cargo xtask build-prod`{route} ≤ limit + {allowance} s"),
                Box::new(against_limit(Setup::ProdCommand, allowance)),
            ),
            (
                "prod-build",
                format!("prod one-line change, build step{route} ≤ limit + {allowance} s"),
                Box::new(against_limit(Setup::Prod, allowance)),
            ),
            (
                "plugin-build",
                format!("plugin (thumbnailer) one-line change, build step{route} ≤ plugin limit + {allowance} s"),
                Box::new(against(Setup::PluginProd, Setup::PluginLimit, allowance)),
            ),
        ];
        rules.extend(self.reload_rules(Reload::CORE));
        rules.extend::<[Rule<'_>; 3]>([
            (
                "before-ratio",
                "one-line change ≥ 10× faster than before (pixie HEAD 2fb3e22's shape), whole command".into(),
                Box::new(before(Setup::Before2fb3e22)),
            ),
            (
                "before-fc0ed04-ratio",
                "one-line change ≥ 10× faster than before (pixie fc0ed04's shape), whole command".into(),
                Box::new(before(Setup::BeforeFc0ed04)),
            ),
            (
                "no-change",
                "prod no-change rebuild, build step ≤ 1.5 s".into(),
                Box::new(move |pick| {
                    Some(at_most(self.figure(Setup::Prod, Scenario::NoChange, pick)?, 1.5, Unit::Seconds))
                }),
            ),
        ]);
        rules
    }

    /// A hot reload's p50 and p95 against its limit from the same run.
    fn reload_rules(&self, reload: Reload) -> [Rule<'_>; 2] {
        let Reload {
            ids: (p50_id, p95_id),
            what,
            setup,
            limit,
        } = reload;
        let bound = move |pick, allowance| {
            Some(self.figure(limit, Scenario::CodeChange, pick)? + allowance)
        };
        let limit_name = if limit == Setup::Limit {
            "limit"
        } else {
            "plugin limit"
        };
        [
            (
                p50_id,
                format!("{what} p50 ≤ {limit_name} + {RELOAD_P50_ALLOWANCE} s"),
                Box::new(move |pick| {
                    let (p50, _) = self.reload(setup, pick)?;
                    Some(at_most(
                        p50,
                        bound(pick, RELOAD_P50_ALLOWANCE)?,
                        Unit::Seconds,
                    ))
                }),
            ),
            (
                p95_id,
                format!("{what} p95 ≤ {limit_name} + {RELOAD_P95_ALLOWANCE} s"),
                Box::new(move |pick| {
                    let (_, p95) = self.reload(setup, pick)?;
                    Some(at_most(
                        p95,
                        bound(pick, RELOAD_P95_ALLOWANCE)?,
                        Unit::Seconds,
                    ))
                }),
            ),
        ]
    }

    /// The targets of `bench --stack`: core's and the plugin's hot reloads with the stack up,
    /// each against its own limit from the same run.
    pub fn stack_targets(&self) -> Vec<Check> {
        let mut rules: Vec<Rule<'_>> = self.reload_rules(Reload::CORE_STACK).into();
        rules.extend(self.reload_rules(Reload::PLUGIN));
        evaluate(rules)
    }

    /// Every target of the setups run.
    pub fn targets(&self) -> Vec<Check> {
        let mut rules = self.speed_rules();
        let z = &self.sizes;
        rules.extend([
            (
                "cold-build",
                "cold build (prod) ≤ 1.1 × before (2fb3e22) cold".to_string(),
                Box::new(move |pick| {
                    let before = self.figure(Setup::Before2fb3e22, Scenario::Cold, pick)?;
                    Some(at_most(
                        self.figure(Setup::Prod, Scenario::Cold, pick)?,
                        1.1 * before,
                        Unit::Seconds,
                    ))
                }) as Box<dyn Fn(Pick) -> Option<Compared>>,
            ),
            (
                "image-size",
                "prod image ≤ stripped binary + runtime base + 1 MB".into(),
                Box::new(move |_| {
                    let ((image, binary), base) =
                        z.prod_image.zip(z.prod_binary).zip(z.runtime_base_image)?;
                    Some(at_most(
                        image as f64,
                        (binary + base) as f64 + 1e6,
                        Unit::Bytes,
                    ))
                }),
            ),
            (
                "registry-ratio",
                "warm-from-registry rebuild ≥ 5× faster than cold".into(),
                Box::new(move |pick| {
                    let r = self.ratio(
                        (Setup::Registry, Scenario::Cold),
                        (Setup::Registry, Scenario::WarmFromRegistry),
                        pick,
                    )?;
                    Some(at_least(r, 5.0, Unit::Times))
                }),
            ),
            (
                "help",
                "`--help` warm ≤ 150 ms".into(),
                Box::new(move |pick| {
                    let s = Stats::of(&self.xtask.help_binary)?;
                    let v = if pick == Pick::Best { s.min } else { s.median };
                    Some(at_most(v, 0.150, Unit::Millis))
                }),
            ),
            (
                "xtask-compile",
                "xtask cold compile ≤ 45 s (2 cores)".into(),
                Box::new(move |pick| {
                    let s = Stats::of(&self.xtask.cold_compile)?;
                    let v = if pick == Pick::Best { s.min } else { s.median };
                    Some(at_most(v, 45.0, Unit::Seconds))
                }),
            ),
        ]);
        evaluate(rules)
    }

    /// The per-engine targets of `bench --engine`: a container build adds little to the host's
    /// own compile, and hot reload stays at the limit on every engine.
    pub fn engine_targets(&self) -> Vec<Check> {
        evaluate(self.speed_rules())
    }
}

fn evaluate(rules: Vec<Rule<'_>>) -> Vec<Check> {
    rules
        .into_iter()
        .map(|(id, target, rule)| Check {
            id,
            target,
            verdict: rule(Pick::Median)
                .zip(rule(Pick::Best))
                .map(|(median, best)| Verdict {
                    measured: median.unit.show(median.measured),
                    bound: median.bound_text(),
                    met: median.met(),
                    margin: median.unit.show((median.bound - median.measured).abs()),
                    met_at_best: best.met(),
                    best: format!("{} {}", best.unit.show(best.measured), best.bound_text()),
                }),
        })
        .collect()
}

/// What `bench --check` makes of `checks`: the targets `ids` selects (every measured one when
/// `ids` is empty) that are missed beyond the run's noise, or selected but not measured — one
/// line each; empty when the check passes.
pub fn check_failures(checks: &[Check], ids: &[String]) -> Vec<String> {
    let mut failures = Vec::new();
    for id in ids {
        if !checks.iter().any(|c| c.id == id) {
            let known: Vec<&str> = checks.iter().map(|c| c.id).collect();
            failures.push(format!(
                "--check {id}: no such target; the targets are {}",
                known.join(", ")
            ));
        }
    }
    for check in checks {
        let selected = ids.is_empty() || ids.iter().any(|id| id == check.id);
        match &check.verdict {
            Some(v) if selected && !v.met_at_best => failures.push(format!(
                "{} ({}): missed even at this run's best case, {}",
                check.id, check.target, v.best
            )),
            None if selected && !ids.is_empty() => failures.push(format!(
                "{} ({}): not measured by this run; run the bench that measures it",
                check.id, check.target
            )),
            _ => {}
        }
    }
    failures
}

/// [`check_failures`] of each engine's targets, each line naming its engine.
pub fn engines_check_failures(engines: &[(&str, Vec<Check>)], ids: &[String]) -> Vec<String> {
    engines
        .iter()
        .flat_map(|(name, checks)| {
            check_failures(checks, ids)
                .into_iter()
                .map(move |line| format!("engine {name}: {line}"))
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Unit {
    Seconds,
    Millis,
    Bytes,
    Times,
}

impl Unit {
    pub(super) fn show(self, value: f64) -> String {
        match self {
            Unit::Seconds => secs(value),
            Unit::Millis => format!("{:.0} ms", value * 1000.0),
            Unit::Bytes => format!("{:.2} MB", value / 1e6),
            Unit::Times => format!("{value:.1}×"),
        }
    }
}

#[cfg(test)]
mod tests;
