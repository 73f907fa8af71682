//! What the bench measured (this module), and its renderings: `bench.json` ([`json`]), the
//! markdown table in the design notes' shape ([`markdown`]), and the targets checked against the
//! figures ([`targets`]); and `bench --engine`'s engines side by side ([`engines`]).
//! Only measured figures appear: a missing measurement is shown as "—" and left out of the JSON.

mod breakdown;
mod doc;
mod engines;
mod json;
mod markdown;
mod merge;
mod targets;

pub use doc::{performance_doc, PERFORMANCE_DOC, PERFORMANCE_ENGINES_JSON, PERFORMANCE_JSON};
pub use engines::{engines_json, engines_markdown, verdict_cell, EngineResults};
pub use json::checks_json;
pub use merge::merge_engines_json;
pub use targets::{check_failures, engines_check_failures, Check};

use std::collections::BTreeMap;

use crate::stats::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Setup {
    /// deployments/bench/before-fc0ed04.Dockerfile: the shape the seed quotes (pixie fc0ed04).
    BeforeFc0ed04,
    /// deployments/bench/before-2fb3e22.Dockerfile: pixie's HEAD (2fb3e22), the stronger
    /// baseline the headline ratio is against.
    Before2fb3e22,
    /// deployments/docker/core.Dockerfile through the xtask's own build step.
    Prod,
    /// The whole `cargo xtask build-prod`, as a person waits for it: cargo, the checks before
    /// the build (tidy, daemon, base images) and the build.
    ProdCommand,
    /// Podman < 5.4 only: the production image by one `podman build --layers=false` of every
    /// step, the route before the builder container (side by side with `prod`'s).
    ProdPodmanBuild,
    /// The dev image and air hot reload.
    Dev,
    /// Host-native `go build` with a warm build cache: what no container build can beat.
    Limit,
    /// build-prod on a shared (remote) buildx builder with a registry cache, as CI builds.
    Registry,
    /// `--engine`'s breakdown of prod's one-line change: the `go build` inside it, as
    /// go-build.sh reports it.
    ProdCompile,
    /// `--engine`'s breakdown: the engine's floor, a build of prod's Dockerfile (its stages,
    /// mounts and export) whose compile writes a binary-sized file instead of compiling.
    ProdNull,
    /// `--engine`'s breakdown of the whole command: cargo and the xtask up to its plan
    /// (`cargo xtask build-prod --dry-run`).
    CommandStart,
    /// `--engine`'s breakdown of the whole command: the checks before the build.
    CommandChecks,
    /// The thumbnailer plugin's production image (its own module) through the same build step.
    PluginProd,
    /// Host `go build` of the plugin, warm cache: the plugin's own limit.
    PluginLimit,
    /// `--engine`'s breakdown of the plugin's one-line change: the `go build` inside it.
    PluginCompile,
    /// `--engine`'s breakdown: the engine's floor for the plugin's image (its compile replaced
    /// by writing a file of its binary's size).
    PluginNull,
    /// `bench --stack`: the plugin's air hot reload in `run-dev --stack full`.
    PluginDev,
    /// Both module images from cold by one `cargo xtask build-prod`.
    ModulesTogether,
    /// Both module images from cold by `build-prod --module core`, then `--module thumbnailer`.
    ModulesInTurn,
}

impl Setup {
    pub const ALL: [Setup; 19] = [
        Setup::BeforeFc0ed04,
        Setup::Before2fb3e22,
        Setup::Prod,
        Setup::ProdCommand,
        Setup::ProdPodmanBuild,
        Setup::Dev,
        Setup::Limit,
        Setup::Registry,
        Setup::ProdCompile,
        Setup::ProdNull,
        Setup::CommandStart,
        Setup::CommandChecks,
        Setup::PluginProd,
        Setup::PluginLimit,
        Setup::PluginCompile,
        Setup::PluginNull,
        Setup::PluginDev,
        Setup::ModulesTogether,
        Setup::ModulesInTurn,
    ];
    /// The columns of the main table (registry has a section of its own).
    pub(crate) const TABLE: [Setup; 6] = [
        Setup::BeforeFc0ed04,
        Setup::Before2fb3e22,
        Setup::Prod,
        Setup::ProdCommand,
        Setup::Dev,
        Setup::Limit,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Setup::BeforeFc0ed04 => "before_fc0ed04",
            Setup::Before2fb3e22 => "before_2fb3e22",
            Setup::Prod => "prod",
            Setup::ProdCommand => "prod_command",
            Setup::ProdPodmanBuild => "prod_podman_build",
            Setup::Dev => "dev",
            Setup::Limit => "limit",
            Setup::Registry => "registry",
            Setup::ProdCompile => "prod_compile",
            Setup::ProdNull => "prod_null",
            Setup::CommandStart => "command_start",
            Setup::CommandChecks => "command_checks",
            Setup::PluginProd => "plugin_prod",
            Setup::PluginLimit => "plugin_limit",
            Setup::PluginCompile => "plugin_compile",
            Setup::PluginNull => "plugin_null",
            Setup::PluginDev => "plugin_dev",
            Setup::ModulesTogether => "modules_together",
            Setup::ModulesInTurn => "modules_in_turn",
        }
    }

    pub(crate) fn column(self) -> &'static str {
        match self {
            Setup::BeforeFc0ed04 => "Before (pixie fc0ed04)",
            Setup::Before2fb3e22 => "Before (pixie HEAD 2fb3e22)",
            Setup::Prod => "After prod (build step)",
            Setup::ProdCommand => "After prod (whole `cargo xtask build-prod`)",
            Setup::ProdPodmanBuild => {
                "Prod, every step in `podman build` (Podman < 5.4's old route)"
            }
            Setup::Dev => "After dev",
            Setup::Limit => "Limit",
            Setup::Registry => "Registry",
            Setup::ProdCompile => "Compile inside prod's build",
            Setup::ProdNull => "Engine floor (null change)",
            Setup::CommandStart => "cargo and xtask start-up",
            Setup::CommandChecks => "Checks before the build",
            Setup::PluginProd => "Plugin prod (thumbnailer, build step)",
            Setup::PluginLimit => "Plugin limit (host `go build` of the thumbnailer)",
            Setup::PluginCompile => "Compile inside the plugin's build",
            Setup::PluginNull => "Engine floor for the plugin (null change)",
            Setup::PluginDev => "Plugin dev (thumbnailer hot reload, stack up)",
            Setup::ModulesTogether => "Both images, one `cargo xtask build-prod`",
            Setup::ModulesInTurn => "Both images, `--module core` then `--module thumbnailer`",
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

/// One GOGC value of the sweep: wall time and peak memory of each compile.
#[derive(Debug, Clone, PartialEq)]
pub struct GogcSamples {
    /// Empty: GOGC unset, Go's own default.
    pub value: String,
    pub seconds: Vec<f64>,
    /// The whole build's peak: RSS summed over the `go` command and its compiles, KiB.
    pub build_peak_kib: Vec<u64>,
    /// The largest single process's peak, KiB.
    pub largest_process_kib: Vec<u64>,
}

impl GogcSamples {
    pub(crate) fn label(&self) -> &str {
        if self.value.is_empty() {
            "default"
        } else {
            &self.value
        }
    }

    /// The whole build's highest peak over the runs, MiB.
    pub(crate) fn peak_mib(&self) -> Option<f64> {
        self.build_peak_kib.iter().max().map(|&k| k as f64 / 1024.0)
    }

    /// The largest single process's highest peak over the runs, MiB.
    pub(crate) fn largest_process_mib(&self) -> Option<f64> {
        self.largest_process_kib
            .iter()
            .max()
            .map(|&k| k as f64 / 1024.0)
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
    /// The engine builds the production image through Podman < 5.4's builder route, whose
    /// allowance over the limit is 0.5 s rather than 0.3 s.
    pub old_podman: bool,
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
mod tests;
