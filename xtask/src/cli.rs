//! The command line, built with clap's builder API: the settings' flags and their help come from
//! `settings::ALL`, so a setting is declared once (and the xtask compiles without proc macros).

mod wrap;

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches};

use crate::commands::build::BuildArgs;
use crate::commands::manage::Verb;
use crate::ctx::Target;
use crate::settings::{self, FlagOf, Flags, Gogc, Kind, Value};

const ABOUT: &str =
    "Build and run pixie-core in Docker: fast BuildKit builds, compose for running, no Makefile.";
const LONG_ABOUT: &str = "\
Build and run pixie-core in Docker: fast BuildKit builds, compose for running, no Makefile.

Settings come from flags, then PIXIE_* environment variables, then deployments/pixie.local.yaml \
(this machine's, untracked), then deployments/pixie.yaml, then built-in defaults (`cargo xtask \
config` shows the effective values and where each came from).
Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.";

/// What the user asked for.
#[derive(Debug)]
pub enum Invocation {
    BuildProd(BuildArgs),
    RunProd {
        detach: bool,
    },
    BuildDev,
    RunDev {
        detach: bool,
    },
    /// `logs`, `ps`, `stop` on a run's compose project.
    Manage {
        target: Target,
        verb: Verb,
    },
    Vendor {
        check: bool,
    },
    Proto {
        check: bool,
    },
    Doctor {
        json: bool,
    },
    Config {
        json: bool,
    },
    Tidy {
        check: bool,
    },
    /// A shell completion script for `cargo xtask`.
    Completions(String),
    /// Each command and its one-line description (Makefile.optimize's `help`).
    List,
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

/// The flags of the settings `command` takes, from the table; each help names the setting's
/// variable and key.
fn setting_args(of: FlagOf) -> Vec<Arg> {
    settings::ALL
        .into_iter()
        .filter(|spec| spec.flag_of == of)
        .map(|spec| {
            let help = format!("{} [env: {}] [config: {}]", spec.help, spec.env, spec.key);
            let arg = Arg::new(spec.key).long(spec.flag).help(help);
            let text = |v: &str| Value::parse(Kind::Text, v).map(|_| v.to_string());
            match spec.kind {
                Kind::Bool => arg.action(ArgAction::SetTrue),
                Kind::Port => arg.value_parser(settings::parse_port).value_name("PORT"),
                Kind::Gogc => arg
                    .value_parser(|v: &str| v.parse::<Gogc>())
                    .value_name("GOGC"),
                Kind::Words => arg
                    .action(ArgAction::Append)
                    .value_parser(text)
                    .value_name("SPEC"),
                Kind::Text | Kind::Addr => arg.value_parser(text).value_name("VALUE"),
            }
        })
        .collect()
}

/// The completion script of `shell` (bash, zsh or fish) on stdout.
pub fn completions(shell: &str) -> anyhow::Result<()> {
    use clap_complete::Shell;
    let shell = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        _ => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut unwrapped_command(), "cargo-xtask", &mut script);
    Ok(crate::ui::print(&String::from_utf8_lossy(&script))?)
}

/// A command's `--help` ends with a short example.
fn example(line: &str) -> String {
    format!("Example:\n  {line}")
}

/// The one-line description of each command, for `--list` (and Makefile.optimize's `help`).
pub fn list() -> String {
    let mut text = String::new();
    for sub in unwrapped_command().get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let first = about.split(". ").next().unwrap_or("").trim_end_matches('.');
        text.push_str(&format!("{:<12} {first}\n", sub.get_name()));
    }
    text
}

/// `[prod|dev]`: which run's project `logs`, `ps` and `stop` address.
fn target_arg() -> Arg {
    Arg::new("target")
        .value_parser(["prod", "dev"])
        .default_value("prod")
        .hide_default_value(true)
        .hide_possible_values(true)
        .help("The project: prod (run-prod, the default) or dev (run-dev).")
}

fn detach_arg() -> Arg {
    switch(
        "detach",
        "Start in the background and return once /healthz answers; then `logs`, `ps`, `stop`.",
    )
}

fn switch(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// The command line, its help wrapped to the terminal.
pub fn command() -> clap::Command {
    let width = wrap::terminal_width();
    wrap::wrap_help(unwrapped_command(), width).term_width(width)
}

fn unwrapped_command() -> clap::Command {
    let check = |what: &'static str| switch("check", what);
    clap::Command::new("cargo xtask")
        .bin_name("cargo xtask")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .arg_required_else_help(true)
        .args(global_args())
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .exclusive(true)
                .help("List the commands, one line each."),
        )
        .subcommands([
            clap::Command::new("build-prod")
                .about("Build the production image (deployments/docker/core.Dockerfile; context: the repo root filtered by .dockerignore).")
                .after_help(example("cargo xtask build-prod --platform linux/arm64"))
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
                    switch("push", "Push the image (with --tag) to its registry; on the buildx route with an SBOM and max-mode provenance."),
                    Arg::new("sign")
                        .long("sign")
                        .value_name("KEY")
                        .value_parser(clap::value_parser!(PathBuf))
                        .requires("push")
                        .help("Sign the pushed digest with this cosign key (password from COSIGN_PASSWORD); buildx route."),
                    switch("no-attest", "Push without SBOM and provenance (the only way to push from the built-in BuildKit route).")
                        .requires("push"),
                ]),
            clap::Command::new("run-prod")
                .about("Build the production image (about 0.1 s when nothing changed), run it with deployments/docker/compose.prod.yaml and say when /healthz answers; Ctrl-C stops and removes its containers and network. A non-loopback PIXIE_BIND needs PIXIE_API_TOKEN_FILE or PIXIE_API_TOKEN.")
                .after_help(example("cargo xtask run-prod --http-port 18080"))
                .args(setting_args(FlagOf::Run))
                .arg(detach_arg()),
            clap::Command::new("build-dev")
                .about("Build the development image (deployments/docker/core.dev.Dockerfile: Go + air).")
                .after_help(example("cargo xtask build-dev")),
            clap::Command::new("run-dev")
                .about("Build the development image, run it with deployments/docker/compose.dev.yaml and say when /healthz answers: core/ is mounted and air rebuilds and restarts the service on every saved .go file.")
                .after_help(example("cargo xtask run-dev --detach"))
                .args(setting_args(FlagOf::Run))
                .arg(detach_arg()),
            clap::Command::new("logs")
                .about("Show the logs of a run's containers (`-f` follows them).")
                .after_help(example("cargo xtask logs dev -f"))
                .args([
                    target_arg(),
                    Arg::new("follow").short('f').long("follow").action(ArgAction::SetTrue).help("Keep printing new lines until Ctrl-C."),
                ]),
            clap::Command::new("ps")
                .about("List a run's containers and their state.")
                .after_help(example("cargo xtask ps"))
                .arg(target_arg()),
            clap::Command::new("stop")
                .about("Stop a run (one started with --detach, say) and remove its containers and network; volumes stay.")
                .after_help(example("cargo xtask stop dev"))
                .arg(target_arg()),
            clap::Command::new("vendor")
                .about("Refresh core/vendor from core/go.mod and go.sum (atomically; --check only compares).")
                .after_help(example("cargo xtask vendor --check"))
                .arg(check("Fail when core/vendor differs from what core/go.mod and go.sum give; writes nothing.")),
            clap::Command::new("proto")
                .about("Regenerate core/gen from proto/ with the pinned protoc and plugins (--check only compares).")
                .after_help(example("cargo xtask proto --check"))
                .arg(check("Fail when core/gen differs from what proto/ generates; writes nothing.")),
            clap::Command::new("tidy")
                .about("Run `go mod tidy` on core/go.mod and go.sum (both or neither are written; --check only compares).")
                .after_help(example("cargo xtask tidy --check"))
                .arg(check("Fail with the diff when `go mod tidy` would change core/go.mod or go.sum; writes nothing.")),
            clap::Command::new("doctor")
                .about("Check this machine: docker CLI, daemon, BuildKit route, compose, base images, settings, Go, disk, linters.")
                .after_help(example("cargo xtask doctor --json"))
                .arg(json_switch()),
            clap::Command::new("config")
                .about("Print the effective configuration and where each value came from; takes the commands' setting flags.")
                .after_help(example("cargo xtask config --http-port 18080"))
                .args(setting_args(FlagOf::BuildProd))
                .args(setting_args(FlagOf::Run))
                .arg(json_switch()),
            clap::Command::new("clean")
                .about("Remove the run-prod/run-dev containers and networks (and, on request, volumes and images).")
                .after_help(example("cargo xtask clean --volumes"))
                .args([
                    switch("volumes", "Also delete the named volumes: photo data and the dev Go caches."),
                    switch("images", "Also remove the images build-prod and build-dev made."),
                ]),
            clap::Command::new("test")
                .about("Run every check CI runs: gofmt, go vet, go test -race, go mod tidy --check, proto --check, hadolint, rustfmt, clippy, and the xtask's tests including those that build images and run containers.")
                .after_help(example("cargo xtask test")),
            clap::Command::new("completions")
                .about("Print a shell completion script for cargo xtask.")
                .after_help(example("cargo xtask completions bash > ~/.local/share/bash-completion/completions/cargo-xtask"))
                .arg(
                    Arg::new("shell")
                        .required(true)
                        .value_parser(["bash", "zsh", "fish"])
                        .hide_possible_values(true)
                        .help("The shell to complete for: bash, zsh or fish."),
                ),
            clap::Command::new("bench")
                .about("Measure build and hot-reload times of the before/prod/dev/limit setups; writes target/bench/bench.json and a markdown table (`cargo xtask bench --help` for its options).")
                .after_help(example("cargo xtask bench --quick"))
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

fn json_switch() -> Arg {
    switch("json", "Print JSON instead of text, for scripts.")
}

/// The settings given as flags on `matches` (a subcommand's).
fn flags_of(matches: &ArgMatches, of: &[FlagOf]) -> Flags {
    let mut flags = Flags::new();
    for spec in settings::ALL
        .into_iter()
        .filter(|s| of.contains(&s.flag_of))
    {
        let value = match spec.kind {
            Kind::Bool => matches.get_flag(spec.key).then_some(Value::Bool(true)),
            Kind::Port => matches.get_one::<u16>(spec.key).map(|p| Value::Port(*p)),
            Kind::Addr => matches
                .get_one::<String>(spec.key)
                .map(|t| Value::Text(t.clone())),
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
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    if matches.get_flag("list") {
        return Ok(Cli {
            invocation: Invocation::List,
            dry_run: false,
            verbose: false,
            quiet: false,
            flags: Flags::new(),
        });
    }
    let Some((name, sub)) = matches.subcommand() else {
        return Err(command.error(
            clap::error::ErrorKind::MissingSubcommand,
            "a command is required (`cargo xtask --list` lists them)",
        ));
    };
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
                no_attest: sub.get_flag("no-attest"),
                sign: sub.get_one::<PathBuf>("sign").cloned(),
            }),
            flags_of(sub, &[FlagOf::BuildProd]),
        ),
        "run-prod" => (
            Invocation::RunProd {
                detach: sub.get_flag("detach"),
            },
            flags_of(sub, &[FlagOf::Run]),
        ),
        "run-dev" => (
            Invocation::RunDev {
                detach: sub.get_flag("detach"),
            },
            flags_of(sub, &[FlagOf::Run]),
        ),
        "logs" | "ps" | "stop" => {
            let target = match sub.get_one::<String>("target").map(String::as_str) {
                Some("dev") => Target::Dev,
                _ => Target::Prod,
            };
            let verb = match name {
                "logs" => Verb::Logs {
                    follow: sub.get_flag("follow"),
                },
                "ps" => Verb::Ps,
                _ => Verb::Stop,
            };
            (Invocation::Manage { target, verb }, Flags::new())
        }
        "build-dev" => (Invocation::BuildDev, Flags::new()),
        "vendor" => (Invocation::Vendor { check: check() }, Flags::new()),
        "proto" => (Invocation::Proto { check: check() }, Flags::new()),
        "tidy" => (Invocation::Tidy { check: check() }, Flags::new()),
        "doctor" => (
            Invocation::Doctor {
                json: sub.get_flag("json"),
            },
            Flags::new(),
        ),
        "config" => (
            Invocation::Config {
                json: sub.get_flag("json"),
            },
            flags_of(sub, &[FlagOf::BuildProd, FlagOf::Run]),
        ),
        "completions" => (
            Invocation::Completions(sub.get_one::<String>("shell").cloned().unwrap_or_default()),
            Flags::new(),
        ),
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
    fn wrap_breaks_at_spaces_and_keeps_indents_and_lines() {
        assert_eq!(
            wrap::wrap("one two three four\n  five six seven", 10),
            "one two three four\n  five six seven"
        );
        let text = "alpha beta gamma delta epsilon zeta eta theta iota kappa";
        assert_eq!(
            wrap::wrap(text, 20),
            "alpha beta gamma\ndelta epsilon zeta\neta theta iota kappa"
        );
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
