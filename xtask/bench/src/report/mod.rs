//! What the bench measured (this module), and its renderings: `bench.json` ([`json`]), the
//! markdown table in the design notes' shape ([`markdown`]), and the targets checked against the
//! figures ([`targets`]); and `bench --engine`'s engines side by side ([`engines`]).
//! Only measured figures appear: a missing measurement is shown as "—" and left out of the JSON.

mod doc;
mod engines;
mod json;
mod markdown;
mod targets;

pub use doc::{performance_doc, PERFORMANCE_DOC, PERFORMANCE_JSON};
pub use engines::{engines_json, engines_markdown, EngineResults};

use std::collections::BTreeMap;

use crate::stats::Stats;

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
    pub(crate) const TABLE: [Setup; 4] = [Setup::Before, Setup::Prod, Setup::Dev, Setup::Limit];

    pub fn key(self) -> &'static str {
        match self {
            Setup::Before => "before",
            Setup::Prod => "prod",
            Setup::Dev => "dev",
            Setup::Limit => "limit",
            Setup::Registry => "registry",
        }
    }

    pub(crate) fn column(self) -> &'static str {
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
    pub const ALL: [Scenario; 7] = [
        Scenario::Cold,
        Scenario::NoChange,
        Scenario::CodeChange,
        Scenario::DepChange,
        Scenario::ProtoChange,
        Scenario::HotReload,
        Scenario::WarmFromRegistry,
    ];

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
    pub(crate) fn rows(&self) -> [(&'static str, Option<u64>); 8] {
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
    pub(crate) fn label(&self) -> &str {
        if self.value.is_empty() {
            "default"
        } else {
            &self.value
        }
    }

    pub(crate) fn peak_mib(&self) -> Option<f64> {
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
    /// When, on what and with which engine: what docs/performance.md says of its figures.
    pub recorded: Option<Recorded>,
}

/// The circumstances of a bench run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// When it ended, RFC 3339 UTC.
    pub date: String,
    /// Cores, memory, CPU model and kernel.
    pub machine: String,
    /// The engine's CLI, build route and daemon version.
    pub engine: String,
}

impl Recorded {
    /// Now, this machine, and `engine`.
    pub fn now(engine: String) -> Recorded {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Recorded {
            date: xtask::workspace::rfc3339_utc(since_epoch as i64),
            machine: machine(),
            engine,
        }
    }
}

/// `2 cores, 24 GiB, Intel(R) Xeon(R) …, Linux 6.1.0`, from /proc.
fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|kib| kib.trim().trim_end_matches(" kB").parse::<f64>().ok())
        .map_or_else(
            || "memory unknown".into(),
            |kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0),
        );
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let kernel = read("/proc/sys/kernel/osrelease");
    format!("{cores} cores, {memory}, {cpu}, Linux {}", kernel.trim())
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

    pub(crate) fn median(&self, setup: Setup, scenario: Scenario) -> Option<f64> {
        self.stats(setup, scenario).map(|s| s.median)
    }
}

#[cfg(test)]
mod tests {
    use super::markdown::sizes_cell;
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
        let text = sample().json();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["before"]["code_change"]["median_s"], 55.0);
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
            .any(|g| g["peak_rss_mib"] == 400.0));
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
        // Against the limit's one-line change (2.00 s): p50 2.00 s, p95 2.50 s.
        assert!(
            md.contains("| hot reload p50 ≤ limit code change + 0.2 s | 2.00 s | ≤ 2.20 s | met (0.20 s to spare) |"),
            "{md}"
        );
        assert!(
            md.contains("| hot reload p95 ≤ limit code change + 0.5 s | 2.50 s | ≤ 2.50 s | met (0.00 s to spare) |"),
            "{md}"
        );
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
}
