//! `bench --engine`'s breakdown of the one-line change, per engine and module (core's, the
//! thumbnailer plugin's): how its build step splits into the compile inside it and the engine's
//! floor, how core's whole command adds cargo's and the xtask's start-up and its checks, and so
//! which part of a missed target is the engine's own floor, with numbers. Made from each figure's best case, its minimum over the runs: on a shared
//! machine noise only ever adds time, and medians of parts measured apart need not add up. The
//! same from a run's results and from its JSON.

use serde_json::Value;

use super::targets::{OLD_PODMAN_ALLOWANCE, PROD_ALLOWANCE};
use super::{Results, Scenario, Setup};

/// How each part of the breakdown is measured, for the docs' list.
const HOW: [(&str, &str); 3] = [
    (
        "compile inside the build",
        "what go-build.sh prints after the `go build` of the module's one-line change \
         (`go-build.sh: compile took N s`, from /proc/uptime), in the very build the build-step \
         row times: the same flags and the warm GOCACHE cache mount, against the module's limit, \
         the same compile on the host",
    ),
    (
        "engine floor (null change)",
        "the same one-line change built through the module's route with its `go build` replaced \
         by writing a file of its binary's size (real machine code: the Go toolchain's own tools) \
         plus the edited source file, so each null change makes a new layer: the same Dockerfile \
         stages, build arguments, bind and cache mounts, context and export (a Dockerfile that \
         differs from core.Dockerfile in the module's compile line; on Podman < 5.4 the same builder \
         `exec`, whose go-build.sh rootfs and modules steps still run, and the same `podman \
         build` of the final stage). What is left is the engine's: context transfer, the RUN's \
         container, the layer commit, the export and the tag",
    ),
    (
        "start-up and checks",
        "start-up: `cargo xtask build-prod --dry-run` (cargo's freshness check, the xtask's \
         start, its engine detection and plan); checks: the tidy check, daemon ping and \
         base-image check build-prod runs before its build, timed one by one in the bench",
    ),
];

/// The breakdown's paragraph: one sentence per engine that measured it,
/// then how each part was measured; nothing when none did.
pub fn section(sentences: &[String]) -> String {
    if sentences.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n**Where the one-line change's time goes**, from each figure's best case above (its \
         minimum over the runs: noise only ever adds time): which part of a missed target is the \
         engine's own floor.\n\n",
    );
    for sentence in sentences {
        md.push_str(&format!("- {sentence}\n"));
    }
    md.push_str("\nHow each part of the breakdown was measured:\n\n");
    for (what, how) in HOW {
        md.push_str(&format!("- **{what}**: {how}\n"));
    }
    md
}

/// Which setups hold one module's one-line change and its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parts {
    /// How the sentence names the module, after the engine ("" for core).
    pub name: &'static str,
    pub limit: Setup,
    pub build: Setup,
    pub compile: Setup,
    pub floor: Setup,
    /// Core's: the whole command, and its start-up and checks.
    pub command: Option<[Setup; 3]>,
}

impl Parts {
    pub const CORE: Parts = Parts {
        name: "",
        limit: Setup::Limit,
        build: Setup::Prod,
        compile: Setup::ProdCompile,
        floor: Setup::ProdNull,
        command: Some([
            Setup::ProdCommand,
            Setup::CommandStart,
            Setup::CommandChecks,
        ]),
    };
    pub const PLUGIN: Parts = Parts {
        name: " (thumbnailer plugin)",
        limit: Setup::PluginLimit,
        build: Setup::PluginProd,
        compile: Setup::PluginCompile,
        floor: Setup::PluginNull,
        command: None,
    };
    pub const ALL: [Parts; 2] = [Parts::CORE, Parts::PLUGIN];
}

/// The best cases (minima over the runs) one engine's breakdown is made of, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breakdown {
    /// After the engine's name in the sentence.
    pub module: &'static str,
    /// What a container build may add to the limit on this engine.
    pub allowance: f64,
    pub limit: f64,
    pub build: f64,
    pub compile: f64,
    pub floor: f64,
    pub command: Option<f64>,
    pub start: Option<f64>,
    pub checks: Option<f64>,
}

fn allowance(old_podman: bool) -> f64 {
    if old_podman {
        OLD_PODMAN_ALLOWANCE
    } else {
        PROD_ALLOWANCE
    }
}

impl Breakdown {
    /// From a run's results; `None` unless it measured the module's build step parts.
    pub fn of(results: &Results, parts: Parts) -> Option<Breakdown> {
        Breakdown::from_best(results.old_podman, parts, |setup| {
            results.stats(setup, Scenario::CodeChange).map(|s| s.min)
        })
    }

    /// From one engine of an engines.json.
    pub fn of_json(engine: &Value, parts: Parts) -> Option<Breakdown> {
        Breakdown::from_best(engine["old_podman"] == true, parts, |setup| {
            engine[format!("{}_{}", setup.key(), Scenario::CodeChange.key())]["min_s"].as_f64()
        })
    }

    /// The sentences of each module's breakdown that a run measured on engine `name`.
    pub fn sentences(name: &str, of: impl Fn(Parts) -> Option<Breakdown>) -> Vec<String> {
        Parts::ALL
            .into_iter()
            .filter_map(|parts| Some(of(parts)?.sentence(name)))
            .collect()
    }

    /// From each setup's one-line change best case.
    fn from_best(
        old_podman: bool,
        parts: Parts,
        best: impl Fn(Setup) -> Option<f64>,
    ) -> Option<Breakdown> {
        let [command, start, checks] = parts.command.map_or([None; 3], |setups| setups.map(&best));
        Some(Breakdown {
            module: parts.name,
            allowance: allowance(old_podman),
            limit: best(parts.limit)?,
            build: best(parts.build)?,
            compile: best(parts.compile)?,
            floor: best(parts.floor)?,
            command,
            start,
            checks,
        })
    }

    /// Which part of the gap to limit + allowance is the engine's own floor: the floor beyond
    /// the allowance (a build can be no faster than its compile plus its floor, and the
    /// compile no faster than the limit), at most the gap itself.
    fn engine_share(&self, gap: f64) -> f64 {
        (self.floor - self.allowance).max(0.0).min(gap.max(0.0))
    }

    /// One sentence per engine, with the numbers.
    pub fn sentence(&self, name: &str) -> String {
        let bound = self.limit + self.allowance;
        let rest = self.build - self.compile - self.floor;
        let mut text = format!(
            "{name}{}: the build step's {:.2} s is the compile inside it, {:.2} s ({:+.2} s against \
             the limit's {:.2} s), the engine's floor (a null change), {:.2} s, and {:+.2} s \
             neither accounts for.",
            self.module,
            self.build,
            self.compile,
            self.compile - self.limit,
            self.limit,
            self.floor,
            rest
        );
        text.push_str(&self.verdict("build step", self.build - bound));
        if let Some(command) = self.command {
            let overhead = command - self.build;
            let parts = match (self.start, self.checks) {
                (Some(start), Some(checks)) => format!(
                    ": cargo's and the xtask's start-up {start:.2} s, its checks before the build \
                     {checks:.2} s, {:+.2} s the rest",
                    overhead - start - checks
                ),
                _ => String::new(),
            };
            text.push_str(&format!(
                " The whole command ({command:.2} s) adds {overhead:.2} s{parts}."
            ));
            text.push_str(&self.verdict("whole command", command - bound));
        }
        text
    }

    /// ` The build step meets limit + 0.3 s.` or how much of its miss is the engine's.
    fn verdict(&self, what: &str, gap: f64) -> String {
        let allowance = self.allowance;
        if gap <= 0.0 {
            return format!(
                " The {what} meets limit + {allowance} s ({:.2} s to spare).",
                -gap
            );
        }
        let engine = self.engine_share(gap);
        format!(
            " The {what} misses limit + {allowance} s by {gap:.2} s: {engine:.2} s of it is the \
             engine's own floor (its {:.2} s less the {allowance} s allowance), {:.2} s is ours.",
            self.floor,
            gap - engine
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine_a() -> Results {
        let mut r = Results::default();
        for (setup, seconds) in [
            (Setup::Limit, 0.96),
            (Setup::Prod, 1.69),
            (Setup::ProdCompile, 1.02),
            (Setup::ProdNull, 0.55),
            (Setup::ProdCommand, 1.85),
            (Setup::CommandStart, 0.10),
            (Setup::CommandChecks, 0.05),
        ] {
            r.record(setup, Scenario::CodeChange, seconds);
        }
        r
    }

    #[test]
    fn the_gap_splits_into_the_engines_floor_and_ours() {
        let mut noisy = engine_a();
        // A run that noise slowed is no part of the best case.
        noisy.record(Setup::Prod, Scenario::CodeChange, 5.0);
        let sentence = Breakdown::of(&noisy, Parts::CORE).unwrap().sentence("A");
        assert_eq!(
            sentence,
            "A: the build step's 1.69 s is the compile inside it, 1.02 s (+0.06 s against the \
             limit's 0.96 s), the engine's floor (a null change), 0.55 s, and +0.12 s neither \
             accounts for. The build step misses limit + 0.3 s by 0.43 s: 0.25 s of it is the \
             engine's own floor (its 0.55 s less the 0.3 s allowance), 0.18 s is ours. The whole \
             command (1.85 s) adds 0.16 s: cargo's and the xtask's start-up 0.10 s, its checks \
             before the build 0.05 s, +0.01 s the rest. The whole command misses limit + 0.3 s \
             by 0.59 s: 0.25 s of it is the engine's own floor (its 0.55 s less the 0.3 s \
             allowance), 0.34 s is ours."
        );
    }

    #[test]
    fn the_plugins_one_line_change_has_a_sentence_of_its_own_without_a_command() {
        let mut r = engine_a();
        for (setup, seconds) in [
            (Setup::PluginLimit, 0.80),
            (Setup::PluginProd, 1.40),
            (Setup::PluginCompile, 0.85),
            (Setup::PluginNull, 0.50),
        ] {
            r.record(setup, Scenario::CodeChange, seconds);
        }
        let sentences = Breakdown::sentences("B", |parts| Breakdown::of(&r, parts));
        assert_eq!(sentences.len(), 2, "{sentences:?}");
        assert!(sentences[0].starts_with("B: the build step's 1.69 s"));
        assert_eq!(
            sentences[1],
            "B (thumbnailer plugin): the build step's 1.40 s is the compile inside it, 0.85 s \
             (+0.05 s against the limit's 0.80 s), the engine's floor (a null change), 0.50 s, and \
             +0.05 s neither accounts for. The build step misses limit + 0.3 s by 0.30 s: 0.20 s \
             of it is the engine's own floor (its 0.50 s less the 0.3 s allowance), 0.10 s is ours."
        );
    }

    #[test]
    fn a_floor_within_the_allowance_is_no_excuse_and_a_met_target_says_so() {
        let mut r = engine_a();
        r.old_podman = true;
        let b = Breakdown::of(&r, Parts::CORE).unwrap();
        assert_eq!(b.allowance, 0.5);
        assert!(b.sentence("C").contains(
            "0.05 s of it is the engine's own floor (its 0.55 s less the 0.5 s allowance)"
        ));
        let fast = Breakdown {
            build: 1.2,
            floor: 0.2,
            ..b
        };
        assert!(fast
            .sentence("C")
            .contains(" The build step meets limit + 0.5 s (0.26 s to spare)."));
        assert_eq!(
            fast.engine_share(0.3),
            0.0,
            "a floor under the allowance leaves the gap ours"
        );
    }

    #[test]
    fn json_and_results_give_the_same_breakdown_and_without_its_parts_none() {
        let mut r = engine_a();
        r.old_podman = true;
        let json: Value = serde_json::from_str(&super::super::engines_json(
            &[super::super::EngineResults {
                name: "C",
                what: "podman".into(),
                results: r.clone(),
            }],
            None,
        ))
        .unwrap();
        for parts in Parts::ALL {
            assert_eq!(
                Breakdown::of_json(&json["engines"]["C"], parts),
                Breakdown::of(&r, parts)
            );
        }
        assert_eq!(Breakdown::of(&Results::default(), Parts::CORE), None);
        assert_eq!(
            Breakdown::of(&r, Parts::PLUGIN),
            None,
            "the plugin's parts were not measured"
        );
    }

    #[test]
    fn the_engines_table_and_the_docs_carry_a_row_per_part_and_the_sentence() {
        let mut results = engine_a();
        results.runs = 1;
        let engines = [super::super::EngineResults {
            name: "A",
            what: "docker".into(),
            results,
        }];
        let mut recorded = super::super::Recorded::now("engines A".into());
        recorded.machine = "2 cores".into();
        let json = super::super::engines_json(&engines, Some(&recorded));
        let page = super::super::performance_doc(None, Some(&json)).unwrap();
        let table = super::super::engines_markdown(&engines, 1, false);
        for needle in [
            "| breakdown of the build step: the `go build` inside it (go-build.sh's own timing) | 1.02",
            "| breakdown of the build step: the engine's floor (a null change: the compile replaced by writing a binary-sized file) | 0.55",
            "| breakdown of the whole command: cargo's and the xtask's start-up (`build-prod --dry-run`) | 0.10",
            "| breakdown of the whole command: the checks before the build (tidy, daemon, base images) | 0.05",
            "- A: the build step's 1.69 s is the compile inside it, 1.02 s",
            "- **engine floor (null change)**: the same one-line change built through the module's route",
        ] {
            assert!(page.contains(needle), "docs miss {needle:?}:\n{page}");
            assert!(table.contains(needle), "table misses {needle:?}:\n{table}");
        }
    }
}
