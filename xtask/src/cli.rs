//! The command line, built with clap's builder API: the settings' flags and their help come from
//! `settings::ALL`, so a setting is declared once (and the xtask compiles without proc macros).

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches};

use crate::commands::build::BuildArgs;
use crate::settings::{self, FlagOf, Flags, Gogc, Kind, Value};

const ABOUT: &str =
    "Build and run pixie-core in Docker: fast BuildKit builds, compose for running, no Makefile.";
const LONG_ABOUT: &str = "\
Build and run pixie-core in Docker: fast BuildKit builds, compose for running, no Makefile.

Settings come from flags, then PIXIE_* environment variables, then deployments/pixie.yaml, then \
built-in defaults (`cargo xtask config` shows the effective values).
Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.";

/// What the user asked for.
#[derive(Debug)]
pub enum Invocation {
    BuildProd(BuildArgs),
    RunProd,
    BuildDev,
    RunDev,
    Vendor {
        check: bool,
    },
    Proto {
        check: bool,
    },
    Doctor,
    Config,
    Clean {
        volumes: bool,
        images: bool,
    },
    Test,
    /// Everything after `bench`, for the bench package.
    Bench(Vec<String>),
}

#[derive(Debug)]
pub struct Cli {
    pub invocation: Invocation,
    pub dry_run: bool,
    pub verbose: bool,
    pub quiet: bool,
    /// Settings given as flags.
    pub flags: Flags,
}

/// The global flags every command takes (the bench package uses them too).
pub fn global_args() -> [Arg; 3] {
    [
        Arg::new("dry-run")
            .long("dry-run")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("Print the commands (as shell lines, with the env each adds) instead of running them."),
        Arg::new("verbose")
            .short('v')
            .long("verbose")
            .global(true)
            .action(ArgAction::SetTrue)
            .conflicts_with("quiet")
            .help("Also print each command line and captured output."),
        Arg::new("quiet")
            .short('q')
            .long("quiet")
            .global(true)
            .action(ArgAction::SetTrue)
            .help("Print only errors (children's own output still shows)."),
    ]
}

/// The flags of the settings `command` takes, from the table.
fn setting_args(of: FlagOf) -> Vec<Arg> {
    settings::ALL
        .into_iter()
        .filter(|spec| spec.flag_of == of)
        .map(|spec| {
            let arg = Arg::new(spec.key).long(spec.flag).help(spec.help);
            match spec.kind {
                Kind::Bool => arg.action(ArgAction::SetTrue),
                Kind::Port => arg
                    .value_parser(clap::value_parser!(u16))
                    .value_name("PORT"),
                Kind::Gogc => arg
                    .value_parser(|v: &str| v.parse::<Gogc>())
                    .value_name("GOGC"),
                Kind::Words => arg.action(ArgAction::Append).value_name("SPEC"),
                Kind::Text => arg.value_name("VALUE"),
            }
        })
        .collect()
}

fn switch(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

pub fn command() -> clap::Command {
    let check = |what: &'static str| switch("check", what);
    clap::Command::new("cargo xtask")
        .bin_name("cargo xtask")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .subcommand_required(true)
        .args(global_args())
        .subcommands([
            clap::Command::new("build-prod")
                .about("Build the production image (deployments/docker/core.Dockerfile; context: the repo root filtered by .dockerignore).")
                .args(setting_args(FlagOf::BuildProd))
                .args([
                    switch("no-cache", "Ignore every cached layer."),
                    Arg::new("export-binary")
                        .long("export-binary")
                        .value_name("DIR")
                        .value_parser(clap::value_parser!(PathBuf))
                        .conflicts_with("push")
                        .help("Write only the binary into DIR (the Dockerfile's `binary` stage) instead of an image."),
                    Arg::new("tag")
                        .long("tag")
                        .value_name("IMAGE")
                        .action(ArgAction::Append)
                        .help("Extra image tag (repeatable); with --push, the tags pushed."),
                    switch("push", "Push the image (with --tag) to its registry."),
                ]),
            clap::Command::new("run-prod")
                .about("Run the production image with deployments/docker/compose.prod.yaml in the foreground, building it first if missing; Ctrl-C stops and removes its containers and network.")
                .args(setting_args(FlagOf::Run)),
            clap::Command::new("build-dev")
                .about("Build the development image (deployments/docker/core.dev.Dockerfile: Go + air)."),
            clap::Command::new("run-dev")
                .about("Run the development container with deployments/docker/compose.dev.yaml: core/ is mounted and air rebuilds and restarts the service on every saved .go file.")
                .args(setting_args(FlagOf::Run)),
            clap::Command::new("vendor")
                .about("Refresh core/vendor from core/go.mod and go.sum (atomically; --check only compares).")
                .arg(check("Fail when core/vendor differs from what core/go.mod and go.sum give; writes nothing.")),
            clap::Command::new("proto")
                .about("Regenerate core/gen from proto/ with the pinned protoc and plugins (--check only compares).")
                .arg(check("Fail when core/gen differs from what proto/ generates; writes nothing.")),
            clap::Command::new("doctor")
                .about("Check this machine: docker CLI, daemon, BuildKit route, compose, Go, disk, linters."),
            clap::Command::new("config")
                .about("Print the effective configuration and where each value came from."),
            clap::Command::new("clean")
                .about("Remove the run-prod/run-dev containers and networks (and, on request, volumes and images).")
                .args([
                    switch("volumes", "Also delete the named volumes: photo data and the dev Go caches."),
                    switch("images", "Also remove the images build-prod and build-dev made."),
                ]),
            clap::Command::new("test")
                .about("Run every check CI runs: gofmt, go vet, go test -race, proto --check, hadolint, rustfmt, clippy, and the xtask's tests including those that build images and run containers."),
            clap::Command::new("bench")
                .about("Measure build and hot-reload times of the before/prod/dev/limit setups; writes target/bench/bench.json and a markdown table (`cargo xtask bench --help` for its options).")
                .disable_help_flag(true)
                .arg(
                    Arg::new("args")
                        .num_args(0..)
                        .trailing_var_arg(true)
                        .allow_hyphen_values(true)
                        .help("Passed on to the bench package (xtask/bench)."),
                ),
        ])
}

/// The settings given as flags on `matches` (a subcommand's).
fn flags_of(matches: &ArgMatches, of: FlagOf) -> Flags {
    let mut flags = Flags::new();
    for spec in settings::ALL.into_iter().filter(|s| s.flag_of == of) {
        let value = match spec.kind {
            Kind::Bool => matches.get_flag(spec.key).then_some(Value::Bool(true)),
            Kind::Port => matches.get_one::<u16>(spec.key).map(|p| Value::Port(*p)),
            Kind::Gogc => matches
                .get_one::<Gogc>(spec.key)
                .map(|g| Value::Gogc(g.clone())),
            Kind::Words => matches
                .get_many::<String>(spec.key)
                .map(|w| Value::Words(w.cloned().collect())),
            Kind::Text => matches
                .get_one::<String>(spec.key)
                .map(|t| Value::Text(t.clone())),
        };
        flags.extend(value.map(|v| (spec, v)));
    }
    flags
}

/// Parses `args` (the program name first); clap's error carries the usage exit code.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let (name, sub) = matches.subcommand().expect("subcommand_required");
    let check = || sub.get_flag("check");
    let (invocation, flags) = match name {
        "build-prod" => (
            Invocation::BuildProd(BuildArgs {
                no_cache: sub.get_flag("no-cache"),
                export_binary: sub.get_one::<PathBuf>("export-binary").cloned(),
                tags: sub
                    .get_many::<String>("tag")
                    .map(|t| t.cloned().collect())
                    .unwrap_or_default(),
                push: sub.get_flag("push"),
            }),
            flags_of(sub, FlagOf::BuildProd),
        ),
        "run-prod" => (Invocation::RunProd, flags_of(sub, FlagOf::Run)),
        "run-dev" => (Invocation::RunDev, flags_of(sub, FlagOf::Run)),
        "build-dev" => (Invocation::BuildDev, Flags::new()),
        "vendor" => (Invocation::Vendor { check: check() }, Flags::new()),
        "proto" => (Invocation::Proto { check: check() }, Flags::new()),
        "doctor" => (Invocation::Doctor, Flags::new()),
        "config" => (Invocation::Config, Flags::new()),
        "clean" => (
            Invocation::Clean {
                volumes: sub.get_flag("volumes"),
                images: sub.get_flag("images"),
            },
            Flags::new(),
        ),
        "test" => (Invocation::Test, Flags::new()),
        "bench" => (
            Invocation::Bench(
                sub.get_many::<String>("args")
                    .map(|a| a.cloned().collect())
                    .unwrap_or_default(),
            ),
            Flags::new(),
        ),
        other => unreachable!("subcommand {other} is not handled"),
    };
    Ok(Cli {
        invocation,
        dry_run: matches.get_flag("dry-run"),
        verbose: matches.get_flag("verbose"),
        quiet: matches.get_flag("quiet"),
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        parse_from(std::iter::once("xtask").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_cli_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn setting_flags_become_flag_layer_values() {
        let cli = parse(&[
            "build-prod",
            "--platform",
            "linux/arm64",
            "--gogc",
            "off",
            "--vendor",
            "--cache-from",
            "a",
            "--cache-from",
            "b",
            "--dry-run",
        ]);
        assert!(cli.dry_run);
        assert_eq!(
            cli.flags,
            vec![
                (&settings::PLATFORM, Value::Text("linux/arm64".into())),
                (&settings::GOGC, Value::Gogc(Gogc("off".into()))),
                (&settings::VENDOR, Value::Bool(true)),
                (
                    &settings::CACHE_FROM,
                    Value::Words(vec!["a".into(), "b".into()])
                ),
            ]
        );
        let cli = parse(&["run-dev", "--http-port", "18080"]);
        assert_eq!(cli.flags, vec![(&settings::HTTP_PORT, Value::Port(18080))]);
    }

    #[test]
    fn every_flag_of_a_setting_shows_the_tables_help() {
        for (command, of) in [("build-prod", FlagOf::BuildProd), ("run-prod", FlagOf::Run)] {
            let help = command_help(command);
            for spec in settings::ALL.into_iter().filter(|s| s.flag_of == of) {
                assert!(
                    help.contains(&format!("--{}", spec.flag)),
                    "{command}: {}",
                    spec.key
                );
                let first_words: String = spec.help.chars().take(30).collect();
                assert!(help.contains(&first_words), "{command}: {help}");
            }
        }
    }

    fn command_help(name: &str) -> String {
        let mut cmd = command();
        cmd.build();
        cmd.find_subcommand_mut(name)
            .unwrap()
            .render_long_help()
            .to_string()
    }

    #[test]
    fn bench_takes_everything_after_it() {
        let cli = parse(&["bench", "-n", "2", "--quick"]);
        assert!(
            matches!(&cli.invocation, Invocation::Bench(args) if args == &["-n", "2", "--quick"]),
            "{cli:?}"
        );
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        let err = parse_from(["xtask", "build-prod", "--gogc", "fast"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("is not a GOGC value"), "{err}");
    }
}
