//! The targets the bench checks, and how each measured figure compares with its bound.

use super::markdown::secs;
use super::{Results, Scenario, Setup};
use crate::stats::Stats;

impl Results {
    /// How many times faster the rebuild from the registry cache is than the cold build (medians).
    pub(super) fn registry_speedup(&self) -> Option<f64> {
        both(
            self.median(Setup::Registry, Scenario::Cold),
            self.median(Setup::Registry, Scenario::WarmFromRegistry),
        )
        .filter(|(_, w)| *w > 0.0)
        .map(|(c, w)| c / w)
    }

    pub fn targets(&self) -> Vec<Check> {
        let med = |setup, scenario| self.median(setup, scenario);
        let prod_code = med(Setup::Prod, Scenario::CodeChange);
        let reload = self.stats(Setup::Dev, Scenario::HotReload);
        let limit_code = med(Setup::Limit, Scenario::CodeChange);
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
                target: "hot reload p50 ≤ limit code change + 0.2 s",
                verdict: reload
                    .zip(limit_code)
                    .map(|(s, l)| at_most(s.median, l + 0.2, Unit::Seconds)),
            },
            Check {
                target: "hot reload p95 ≤ limit code change + 0.5 s",
                verdict: reload
                    .zip(limit_code)
                    .map(|(s, l)| at_most(s.p95, l + 0.5, Unit::Seconds)),
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

pub(super) fn at_most(measured: f64, bound: f64, unit: Unit) -> Verdict {
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
