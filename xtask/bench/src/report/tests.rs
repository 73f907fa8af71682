//! The results' JSON, markdown table and sections, without Docker.

use super::markdown::sizes_cell;
use super::*;

fn sample() -> Results {
    let mut r = Results {
        runs: 2,
        ..Results::default()
    };
    for (setup, scenario, values) in [
        (Setup::Before2fb3e22, Scenario::CodeChange, [50.0, 60.0]),
        (Setup::Prod, Scenario::CodeChange, [4.0, 6.0]),
        (Setup::ProdCommand, Scenario::CodeChange, [4.5, 6.5]),
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
        build_peak_kib: vec![400 * 1024],
        largest_process_kib: vec![250 * 1024],
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
    let text = sample().json();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["before_2fb3e22"]["code_change"]["median_s"], 55.0);
    assert_eq!(
        json["prod"]["no_change"],
        serde_json::json!({"median_s": 2.0, "min_s": 1.0, "max_s": 3.0, "p95_s": 3.0, "n": 2})
    );
    assert!(json["dev"]["hot_reload"].is_object(), "{text}");
    assert_eq!(json["sizes"]["prod_image_bytes"], 16_000_000);
    assert!(json["gogc_sweep"]["default"].is_object(), "{text}");
    assert!(json["gogc_sweep"]
        .as_object()
        .unwrap()
        .values()
        .any(|g| g["build_peak_mib"] == 400.0 && g["largest_process_mib"] == 250.0));
    assert_eq!(json["xtask"], serde_json::json!({}));
    assert_eq!(json["meta"]["runs"], 2);
    assert_eq!(json["meta"]["notes"]["proto change"], "field \"x\" added");
    assert!(
        !text.contains("\"cold\""),
        "unmeasured scenarios stay out: {text}"
    );
    assert!(
        !text.contains("dev_image_bytes"),
        "unmeasured sizes stay out"
    );
}

#[test]
fn markdown_table_has_both_befores_both_prod_timings_and_ratios() {
    let md = sample().markdown();
    assert!(md.contains("| Aspect | Before (pixie fc0ed04) | Before (pixie HEAD 2fb3e22) | After prod (build step) | After prod (whole `cargo xtask build-prod`) | After dev | Limit |\n|---|---|---|---|---|---|---|\n"), "{md}");
    assert!(
        md.contains("| One-line change in core/*.go (dev: hot reload) | — | 55.0 s (50.0 s–60.0 s); 27.50× limit | 5.00 s (4.00 s–6.00 s); 0.09× before (2fb3e22); 2.50× limit | 5.50 s (4.50 s–6.50 s); 0.10× before (2fb3e22); 2.75× limit |"),
        "{md}"
    );
    // A relink is no limit of a no-change rebuild: no ratio against it.
    assert!(md.contains("| No-change rebuild (limit: a relink, which a host `go build -o` always does) | — | — | 2.00 s (1.00 s–3.00 s) | — | — | — |"), "{md}");
    assert!(md.contains("| Cold build (no cache) | — | — | — | — | — | — |"));
    assert!(md.contains("| — | p50 2.00 s, p95 2.50 s (1.50 s–2.50 s, 2 edits) | — |"));
    assert!(md.contains("| default | 40.0 s | 400 MiB | 250 MiB |"));
    let mut with_help = sample();
    with_help.xtask.help_binary = vec![0.004, 0.002, 0.003];
    assert!(with_help
        .markdown()
        .contains("| `xtask --help`, built binary | 3 ms (2 ms–4 ms, n=3) |"));
}

#[test]
fn targets_report_met_missed_and_unmeasured() {
    let md = sample().markdown();
    // Against the run's own limit (2.00 s) plus 0.3 s; the best case is each minimum.
    for needle in [
        "| prod one-line change, whole `cargo xtask build-prod` ≤ limit + 0.3 s | **missed** by 3.20 s: 5.50 s ≤ 2.30 s; best 4.50 s ≤ 2.30 s: beyond noise |",
        "| hot reload p50 ≤ limit + 0.2 s | met: 2.00 s ≤ 2.20 s (0.20 s to spare) |",
        "| hot reload p95 ≤ limit + 0.5 s | met: 2.50 s ≤ 2.50 s (0.00 s to spare) |",
        "| one-line change ≥ 10× faster than before (pixie HEAD 2fb3e22's shape), whole command | met: 10.0× ≥ 10.0× (0.0× to spare) |",
        "| prod no-change rebuild, build step ≤ 1.5 s | **missed** by 0.50 s: 2.00 s ≤ 1.50 s; best 1.00 s ≤ 1.50 s: within noise |",
        "| prod image ≤ stripped binary + runtime base + 1 MB | met: 16.00 MB ≤ 16.20 MB (0.20 MB to spare) |",
        "| xtask cold compile ≤ 45 s (2 cores) | not measured |",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    let json: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
    assert_eq!(json["targets"][0]["id"], "prod-command");
    assert_eq!(json["targets"][0]["met_at_best"], false);
}

#[test]
fn both_module_images_from_cold_get_a_section_the_ratio_and_json() {
    let mut r = sample();
    assert!(!r.markdown().contains("## Both module images from cold"));
    r.record(Setup::ModulesTogether, Scenario::Cold, 80.0);
    r.record(Setup::ModulesInTurn, Scenario::Cold, 100.0);
    let md = r.markdown();
    for needle in [
        "## Both module images from cold (build cache emptied first)",
        "| Both images, one `cargo xtask build-prod` | 80.0 s |",
        "| Both images, `--module core` then `--module thumbnailer` | 100.0 s |",
        "| ratio in turn / one run | 1.25× (one run is faster) |",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
    assert_eq!(json["modules_together"]["cold"]["median_s"], 80.0);
    assert_eq!(json["modules_in_turn"]["cold"]["median_s"], 100.0);
    assert_eq!(json["modules_cold_in_turn_over_together"], 1.25);
    // Said as it is when one run is not faster.
    r.record(Setup::ModulesTogether, Scenario::Cold, 140.0);
    assert!(r
        .markdown()
        .contains("| ratio in turn / one run | 0.91× (one run is not faster) |"));
}

#[test]
fn registry_figures_get_json_a_section_and_a_target() {
    let mut r = sample();
    let md = r.markdown();
    assert!(!md.contains("## Registry cache"), "{md}");
    assert!(md.contains("| warm-from-registry rebuild ≥ 5× faster than cold | not measured |"));
    for (scenario, value) in [(Scenario::Cold, 50.0), (Scenario::WarmFromRegistry, 1.25)] {
        r.record(Setup::Registry, scenario, value);
    }
    let json: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
    assert_eq!(json["registry"]["cold"]["median_s"], 50.0);
    assert_eq!(json["registry"]["warm_from_registry"]["median_s"], 1.25);
    let md = r.markdown();
    assert!(md.contains("## Registry cache (remote builder)"), "{md}");
    assert!(
        md.contains("| warm from the registry (`--cache-from`) | 1.25 s |"),
        "{md}"
    );
    assert!(md.contains("| ratio cold / warm | 40.0× |"), "{md}");
    assert!(md.contains("| warm-from-registry rebuild ≥ 5× faster than cold | met: 40.0× ≥ 5.0× (35.0× to spare) |"), "{md}");
    r.record(Setup::Registry, Scenario::WarmFromRegistry, 48.75);
    // Median of 1.25 and 48.75 is 25 s: 2× only.
    assert!(r
        .markdown()
        .contains("| **missed** by 3.0×: 2.0× ≥ 5.0×; best 40.0× ≥ 5.0×: within noise |"));
}
