//! The targets against the run's own figures, and `--check`, without Docker.

use super::*;

/// Three runs on an engine: limit 0.60 s, and what a noisy run makes of the rest.
fn engine_run(old_podman: bool, prod: [f64; 3], command: [f64; 3]) -> Results {
    let mut r = Results {
        runs: 3,
        old_podman,
        ..Results::default()
    };
    for run in 0..3 {
        r.record(Setup::Limit, Scenario::CodeChange, [0.60, 0.70, 0.65][run]);
        r.record(Setup::Prod, Scenario::CodeChange, prod[run]);
        r.record(Setup::ProdCommand, Scenario::CodeChange, command[run]);
        r.record(Setup::Prod, Scenario::NoChange, 0.5);
    }
    r
}

fn check<'a>(checks: &'a [Check], id: &str) -> &'a Verdict {
    checks
        .iter()
        .find(|c| c.id == id)
        .and_then(|c| c.verdict.as_ref())
        .unwrap_or_else(|| panic!("{id} not measured"))
}

#[test]
fn the_bound_is_this_runs_limit_plus_the_allowance() {
    let r = engine_run(false, [0.85, 1.20, 0.95], [1.0, 1.1, 1.3]);
    let checks = r.engine_targets();
    let build = check(&checks, "prod-build");
    // Medians: 0.95 s against 0.65 s + 0.3 s.
    assert_eq!(
        (build.measured.as_str(), build.bound.as_str()),
        ("0.95 s", "≤ 0.95 s")
    );
    assert!(build.met);
    let command = check(&checks, "prod-command");
    assert_eq!(command.bound, "≤ 0.95 s");
    assert!(!command.met, "1.10 s is over 0.95 s");
    assert_eq!(command.margin, "0.15 s");
    // Best case: 1.00 s against 0.60 s + 0.3 s: missed beyond the noise.
    assert!(!command.met_at_best);
    assert_eq!(command.best, "1.00 s ≤ 0.90 s");
    let text = &checks
        .iter()
        .find(|c| c.id == "prod-command")
        .unwrap()
        .target;
    assert_eq!(
        text,
        "prod one-line change, whole `cargo xtask build-prod` ≤ limit + 0.3 s"
    );
}

#[test]
fn the_plugins_build_is_held_to_the_plugins_own_limit_with_cores_allowance() {
    let mut r = engine_run(false, [0.85, 0.90, 0.95], [1.0, 1.1, 1.2]);
    let checks = r.engine_targets();
    assert!(
        checks
            .iter()
            .any(|c| c.id == "plugin-build" && c.verdict.is_none()),
        "not measured without the plugin's figures"
    );
    for (plugin, limit) in [(1.40, 1.00), (1.25, 1.10), (1.60, 1.05)] {
        r.record(Setup::PluginProd, Scenario::CodeChange, plugin);
        r.record(Setup::PluginLimit, Scenario::CodeChange, limit);
    }
    let checks = r.engine_targets();
    let plugin = check(&checks, "plugin-build");
    // Medians: 1.40 s against the plugin's 1.05 s + 0.3 s, not core's 0.65 s.
    assert_eq!(
        (plugin.measured.as_str(), plugin.bound.as_str()),
        ("1.40 s", "≤ 1.35 s")
    );
    assert!(!plugin.met);
    // Best: 1.25 s against 1.00 s + 0.3 s: within the noise.
    assert!(plugin.met_at_best, "{}", plugin.best);
    assert!(check_failures(&checks, &["plugin-build".into()]).is_empty());
    r.old_podman = true;
    let old = r.engine_targets();
    let target = &old.iter().find(|c| c.id == "plugin-build").unwrap().target;
    assert_eq!(
        target,
        "plugin (thumbnailer) one-line change, build step (Podman < 5.4's builder route) ≤ plugin limit + 0.5 s"
    );
    assert!(check(&old, "plugin-build").met);
}

#[test]
fn a_miss_the_noise_explains_passes_the_check() {
    // Median 1.20 s misses 0.95 s; the best run, 0.88 s, meets 0.90 s.
    let r = engine_run(false, [0.88, 1.20, 1.30], [0.89, 1.2, 1.3]);
    let checks = r.engine_targets();
    let build = check(&checks, "prod-build");
    assert!(!build.met && build.met_at_best);
    assert!(check_failures(&checks, &[]).is_empty());
    assert!(check_failures(&checks, &["prod-build".into()]).is_empty());
}

#[test]
fn old_podman_gets_half_a_second_and_says_so() {
    let r = engine_run(true, [1.05, 1.10, 1.15], [1.1, 1.2, 1.3]);
    let checks = r.engine_targets();
    assert_eq!(check(&checks, "prod-build").bound, "≤ 1.15 s");
    let target = &checks.iter().find(|c| c.id == "prod-build").unwrap().target;
    assert_eq!(
        target,
        "prod one-line change, build step (Podman < 5.4's builder route) ≤ limit + 0.5 s"
    );
}

#[test]
fn ratios_are_against_the_whole_command_and_the_2fb3e22_shape_heads() {
    let mut r = engine_run(false, [0.8, 0.9, 1.0], [4.0, 5.0, 6.0]);
    r.record(Setup::Before2fb3e22, Scenario::CodeChange, 45.0);
    r.record(Setup::BeforeFc0ed04, Scenario::CodeChange, 60.0);
    let checks = r.engine_targets();
    let ratio = check(&checks, "before-ratio");
    // 45 s / 5 s median, 45 s / 4 s best.
    assert_eq!((ratio.measured.as_str(), ratio.met), ("9.0×", false));
    assert!(ratio.met_at_best, "{}", ratio.best);
    assert_eq!(check(&checks, "before-fc0ed04-ratio").measured, "12.0×");
    let ids: Vec<&str> = checks.iter().map(|c| c.id).collect();
    assert_eq!(
        ids.iter().position(|&i| i == "before-ratio").unwrap() + 1,
        ids.iter()
            .position(|&i| i == "before-fc0ed04-ratio")
            .unwrap()
    );
}

#[test]
fn hot_reload_best_case_is_the_best_runs_percentiles() {
    let mut r = engine_run(false, [0.8; 3], [0.9; 3]);
    // Run 1 fast, runs 2 and 3 with a slow edit each.
    for v in [0.6, 0.7, 0.7, 0.6, 2.0, 0.7, 0.6, 0.7, 3.0] {
        r.record(Setup::Dev, Scenario::HotReload, v);
    }
    let checks = r.engine_targets();
    let p95 = check(&checks, "reload-p95");
    assert_eq!(
        (p95.measured.as_str(), p95.bound.as_str()),
        ("3.00 s", "≤ 1.15 s")
    );
    assert!(!p95.met && p95.met_at_best, "{}", p95.best);
    assert_eq!(p95.best, "0.70 s ≤ 1.10 s");
}

#[test]
fn check_names_what_it_selects_and_fails_on_unmeasured_or_unknown_targets() {
    let r = engine_run(false, [2.0, 2.1, 2.2], [0.8, 0.9, 0.9]);
    let checks = r.engine_targets();
    // prod-build misses at its best (2.00 s > 0.90 s): only when selected.
    assert!(check_failures(&checks, &["prod-command".into()]).is_empty());
    let all = check_failures(&checks, &[]);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].starts_with("prod-build (prod one-line change, build step ≤ limit + 0.3 s): missed even at this run's best case, 2.00 s ≤ 0.90 s"), "{}", all[0]);
    let unmeasured = check_failures(&checks, &["before-ratio".into()]);
    assert_eq!(unmeasured.len(), 1);
    assert!(
        unmeasured[0].contains("not measured by this run"),
        "{}",
        unmeasured[0]
    );
    let unknown = check_failures(&checks, &["ratio".into()]);
    assert!(
        unknown[0].starts_with(
            "--check ratio: no such target; the targets are prod-command, prod-build,"
        ),
        "{}",
        unknown[0]
    );
}
