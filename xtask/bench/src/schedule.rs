//! Which setups and scenarios a run measures, in which order.

use crate::report::{Scenario, Setup};

/// One setup's scenarios in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub run: u32,
    pub setup: Setup,
    pub scenarios: &'static [Scenario],
}

fn scenarios(setup: Setup, quick: bool) -> &'static [Scenario] {
    use Scenario::*;
    match (setup, quick) {
        (Setup::BeforeFc0ed04 | Setup::Before2fb3e22 | Setup::Prod | Setup::Limit, false) => {
            &[Cold, NoChange, CodeChange, DepChange, ProtoChange]
        }
        (Setup::ProdCommand, false) => &[NoChange, CodeChange],
        (Setup::Dev, false) => &[Cold, NoChange, HotReload],
        (Setup::BeforeFc0ed04, true) => &[],
        // The headline ratio's two sides, so CI can gate it.
        (Setup::Before2fb3e22, true) => &[Cold, CodeChange],
        (Setup::ProdCommand, true) => &[CodeChange],
        (Setup::Prod, true) => &[Cold, NoChange, CodeChange],
        (Setup::Dev, true) => &[HotReload],
        (Setup::Limit, true) => &[CodeChange],
        (Setup::Registry, _) => &[Cold, WarmFromRegistry],
        // Minutes of cold builds that CI's time cannot afford: the full bench only.
        (Setup::ModulesTogether | Setup::ModulesInTurn, false) => &[Cold],
        (Setup::ModulesTogether | Setup::ModulesInTurn, true) => &[],
        // Only `--engine` on Podman < 5.4 compares the two routes, and only `--engine` breaks
        // the one-line change down.
        (
            Setup::ProdPodmanBuild
            | Setup::ProdCompile
            | Setup::ProdNull
            | Setup::CommandStart
            | Setup::CommandChecks
            | Setup::PluginProd
            | Setup::PluginLimit
            | Setup::PluginCompile
            | Setup::PluginNull
            | Setup::PluginDev,
            _,
        ) => &[],
    }
}

/// `--hot-reload`: the dev loop against its limit only, N runs of 10 edits each.
pub fn hot_reload_schedule(runs: u32) -> Vec<Turn> {
    (1..=runs)
        .flat_map(|run| {
            [
                Turn {
                    run,
                    setup: Setup::Dev,
                    scenarios: &[Scenario::HotReload],
                },
                Turn {
                    run,
                    setup: Setup::Limit,
                    scenarios: &[Scenario::CodeChange],
                },
            ]
        })
        .collect()
}

/// `--cold-modules`: N runs of both module images from cold, by one build-prod and by one
/// module after the other, which goes first alternating: the first build after a prune that
/// freed much pays for the engine's clean-up of it.
pub fn cold_modules_schedule(runs: u32) -> Vec<Turn> {
    (1..=runs)
        .flat_map(|run| {
            let mut order = [Setup::ModulesTogether, Setup::ModulesInTurn];
            if run % 2 == 0 {
                order.reverse();
            }
            order.map(|setup| Turn {
                run,
                setup,
                scenarios: &[Scenario::Cold],
            })
        })
        .collect()
}

/// `--engine`: on each engine, N runs of: prod one-line change and no-change (the build step),
/// the whole command's one-line change, on Podman < 5.4 (`old_podman`) the one-line change
/// through one `podman build` of every step (the route before the builder), dev hot reload and
/// the limit's one-line change (its own, measured in the same run), and the same one-line change
/// and limit for the thumbnailer plugin (a file only it compiles). Then, unless `quick`, both
/// "before" shapes' one-line change once: minutes each, and a ratio of ten or more that no
/// noise flips. No cold build, so no prune (which on Podman would delete the local base images
/// too). The one-line change comes first: the previous run's hot-reload edits are still unbuilt,
/// so a "no change" build there would compile them.
pub fn engine_schedule(runs: u32, quick: bool, old_podman: bool) -> Vec<Turn> {
    let code: &'static [Scenario] = &[Scenario::CodeChange];
    let mut turns: Vec<Turn> = (1..=runs)
        .flat_map(|run| {
            [
                (Setup::Prod, &[Scenario::CodeChange, Scenario::NoChange][..]),
                (Setup::ProdCommand, code),
                (Setup::ProdPodmanBuild, if old_podman { code } else { &[] }),
                (Setup::Dev, &[Scenario::HotReload][..]),
                (Setup::Limit, code),
                // The floor's stand-in binary is the size of the limit's, built just before.
                (Setup::ProdNull, code),
                (Setup::CommandStart, code),
                (Setup::CommandChecks, code),
                (Setup::PluginProd, code),
                (Setup::PluginLimit, code),
                // Its stand-in binary is the size of the plugin limit's, built just before.
                (Setup::PluginNull, code),
            ]
            .map(|(setup, scenarios)| Turn {
                run,
                setup,
                scenarios,
            })
        })
        .filter(|turn| !turn.scenarios.is_empty())
        .collect();
    if !quick {
        for setup in [Setup::Before2fb3e22, Setup::BeforeFc0ed04] {
            turns.push(Turn {
                run: 1,
                setup,
                scenarios: code,
            });
        }
    }
    turns
}

/// Round-robin: every setup once per run, so slow drifts of the machine hit them all alike.
/// `registry`: whether the registry setup's tooling is there.
pub fn schedule(runs: u32, quick: bool, registry: bool) -> Vec<Turn> {
    // Quick: dev first, so its image builds from the warm cache before prod's cold build prunes
    // it; the 2fb3e22 baseline after prod, whose one-line change it needs no cache for.
    let order: &[Setup] = if quick {
        &[
            Setup::Dev,
            Setup::Prod,
            Setup::ProdCommand,
            Setup::Limit,
            Setup::Before2fb3e22,
            Setup::Registry,
        ]
    } else {
        &Setup::ALL
    };
    (1..=runs)
        .flat_map(|run| {
            let order = order
                .iter()
                .filter(move |&&s| registry || s != Setup::Registry);
            order.map(move |&setup| Turn {
                run,
                setup,
                scenarios: scenarios(setup, quick),
            })
        })
        .filter(|turn| !turn.scenarios.is_empty())
        .collect()
}

/// The measurements in order, as shell comments: a dry run is valid shell, the bench's too.
pub fn describe_schedule(turns: &[Turn], quick: bool) -> String {
    let mut text = String::new();
    if !quick {
        text.push_str("# first: xtask cold compile (each run) and --help latency\n");
    }
    for turn in turns {
        let names: Vec<&str> = turn.scenarios.iter().map(|s| s.key()).collect();
        text.push_str(&format!(
            "# run {}: {}: {}\n",
            turn.run,
            turn.setup.key(),
            names.join(", ")
        ));
    }
    if !quick {
        text.push_str(
            "# then: sizes (binaries, images), GOGC sweep (default, 100, 200, 400, off; each run)\n",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dry_run_of_the_bench_is_valid_shell() {
        let dry_runs = [
            describe_schedule(&schedule(3, false, true), false),
            describe_schedule(&schedule(1, true, false), true),
            describe_schedule(&hot_reload_schedule(2), true),
            describe_schedule(&cold_modules_schedule(1), true),
            describe_schedule(&engine_schedule(3, false, true), true),
        ];
        for text in dry_runs {
            let check = std::process::Command::new("bash")
                .args(["-n", "-c", &text])
                .output()
                .unwrap();
            assert!(
                check.status.success() && text.lines().all(|l| l.starts_with("# ")),
                "{}\n{text}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }

    #[test]
    fn runs_alternate_setups_round_robin() {
        let turns = schedule(2, false, false);
        let order: Vec<(u32, &str)> = turns.iter().map(|t| (t.run, t.setup.key())).collect();
        assert_eq!(
            order,
            [
                (1, "before_fc0ed04"),
                (1, "before_2fb3e22"),
                (1, "prod"),
                (1, "prod_command"),
                (1, "dev"),
                (1, "limit"),
                (1, "modules_together"),
                (1, "modules_in_turn"),
                (2, "before_fc0ed04"),
                (2, "before_2fb3e22"),
                (2, "prod"),
                (2, "prod_command"),
                (2, "dev"),
                (2, "limit"),
                (2, "modules_together"),
                (2, "modules_in_turn")
            ]
        );
        assert_eq!(
            turns[0].scenarios[0],
            Scenario::Cold,
            "every setup starts cold in every run"
        );
        assert!(turns[4].scenarios.contains(&Scenario::HotReload));
        assert_eq!(
            turns[6].scenarios,
            [Scenario::Cold],
            "both module images from cold, each way"
        );
        assert_eq!(turns[7].scenarios, [Scenario::Cold]);
    }

    #[test]
    fn quick_is_one_run_of_a_subset_with_the_headline_ratio() {
        let turns = schedule(1, true, false);
        let text = describe_schedule(&turns, true);
        assert_eq!(
            text,
            "# run 1: dev: hot_reload\n# run 1: prod: cold, no_change, code_change\n\
             # run 1: prod_command: code_change\n# run 1: limit: code_change\n\
             # run 1: before_2fb3e22: cold, code_change\n"
        );
    }

    #[test]
    fn the_engine_set_has_no_cold_build() {
        let text = describe_schedule(&engine_schedule(2, false, false), true);
        assert_eq!(
            text,
            "# run 1: prod: code_change, no_change\n# run 1: prod_command: code_change\n\
             # run 1: dev: hot_reload\n# run 1: limit: code_change\n\
             # run 1: prod_null: code_change\n# run 1: command_start: code_change\n\
             # run 1: command_checks: code_change\n\
             # run 1: plugin_prod: code_change\n# run 1: plugin_limit: code_change\n\
             # run 1: plugin_null: code_change\n\
             # run 2: prod: code_change, no_change\n# run 2: prod_command: code_change\n\
             # run 2: dev: hot_reload\n# run 2: limit: code_change\n\
             # run 2: prod_null: code_change\n# run 2: command_start: code_change\n\
             # run 2: command_checks: code_change\n\
             # run 2: plugin_prod: code_change\n# run 2: plugin_limit: code_change\n\
             # run 2: plugin_null: code_change\n\
             # run 1: before_2fb3e22: code_change\n# run 1: before_fc0ed04: code_change\n"
        );
        let old_podman = describe_schedule(&engine_schedule(1, true, true), true);
        assert_eq!(
            old_podman,
            "# run 1: prod: code_change, no_change\n# run 1: prod_command: code_change\n\
             # run 1: prod_podman_build: code_change\n\
             # run 1: dev: hot_reload\n# run 1: limit: code_change\n\
             # run 1: prod_null: code_change\n# run 1: command_start: code_change\n\
             # run 1: command_checks: code_change\n\
             # run 1: plugin_prod: code_change\n# run 1: plugin_limit: code_change\n\
             # run 1: plugin_null: code_change\n",
            "quick leaves the before shapes out"
        );
    }

    #[test]
    fn cold_modules_measure_both_ways_from_cold_in_alternating_order() {
        assert_eq!(
            describe_schedule(&cold_modules_schedule(2), true),
            "# run 1: modules_together: cold\n# run 1: modules_in_turn: cold\n\
             # run 2: modules_in_turn: cold\n# run 2: modules_together: cold\n"
        );
    }

    #[test]
    fn registry_runs_last_in_each_round_when_its_tooling_is_there() {
        let quick = describe_schedule(&schedule(1, true, true), true);
        assert!(
            quick.ends_with(
                "# run 1: before_2fb3e22: cold, code_change\n# run 1: registry: cold, warm_from_registry\n"
            ),
            "{quick}"
        );
        let full: Vec<(u32, &str)> = schedule(2, false, true)
            .iter()
            .map(|t| (t.run, t.setup.key()))
            .filter(|(_, key)| *key == "limit" || *key == "registry")
            .collect();
        assert_eq!(
            full,
            [(1, "limit"), (1, "registry"), (2, "limit"), (2, "registry")]
        );
    }
}
