//! The command line, built with clap's builder API from the command table
//! ([`crate::commands::ALL`]): each command's name, help, example, flags and parsing come from
//! its registration, the settings' flags from `settings::ALL`. So a command is declared once,
//! dispatch cannot drift from the parser, and the xtask compiles without proc macros.

mod wrap;

use clap::{Arg, ArgAction};

use crate::commands::{self, Parsed, Registration};
use crate::settings::{self, Flags};
use crate::ui::json_string;

const ABOUT: &str =
    "Build and run pixie-core in Docker: fast BuildKit builds, compose for running, no Makefile.";
const LONG_ABOUT: &str = "\
Build and run pixie-core in Docker: fast BuildKit builds, compose for running, no Makefile.

Settings come from flags, then PIXIE_* environment variables, then deployments/pixie.local.yaml \
(this checkout's, untracked), then this machine's settings file (~/.config/pixie/settings.yaml, \
or under $XDG_CONFIG_HOME), then deployments/pixie.yaml, then built-in defaults (`cargo xtask \
config` shows the effective values and where each came from).
Exit codes: 0 success, 1 failure, 2 usage error (a bad flag or setting, wherever it is set), \
130 interrupted.";
const EXAMPLES: &str = "\
Examples:
  cargo xtask run-dev          serve pixie-core with hot reload
  cargo xtask -n run-prod      print what run-prod would run, as shell
  cargo xtask build-prod --help";
/// Where a newcomer starts, first in `cargo xtask` with no command.
const START_HERE: &str = "Start here: `cargo xtask run-dev` serves pixie-core on http://127.0.0.1:8080 and rebuilds it on every save (on a new machine, `bash .ci/provision` first; `cargo xtask doctor` names what is missing).";
const GLOBAL: &str = "Global options";

/// What the user asked for.
#[derive(Debug)]
pub struct Cli {
    pub run: Run,
    pub dry_run: bool,
    pub verbose: bool,
    pub quiet: bool,
    /// Settings given as flags.
    pub flags: Flags,
}

#[derive(Debug)]
pub enum Run {
    /// No command: the command list and where to start.
    Overview,
    /// `--list`: one line per command (`--json`: for scripts).
    List {
        json: bool,
    },
    Command(Parsed),
}

/// The global flags every command takes (the bench package uses them too).
pub fn global_args() -> [Arg; 3] {
    [
        Arg::new("dry-run")
            .short('n')
            .long("dry-run")
            .global(true)
            .action(ArgAction::SetTrue)
            .help_heading(GLOBAL)
            .help("Print what would run, as shell (with the env each step adds), instead of running it."),
        Arg::new("verbose")
            .short('v')
            .long("verbose")
            .global(true)
            .action(ArgAction::SetTrue)
            .conflicts_with("quiet")
            .help_heading(GLOBAL)
            .help("Also print each command line and captured output."),
        Arg::new("quiet")
            .short('q')
            .long("quiet")
            .global(true)
            .action(ArgAction::SetTrue)
            .help_heading(GLOBAL)
            .help("Print only errors (children's own output still shows)."),
    ]
}

/// The command line, its help wrapped to the terminal.
pub fn command() -> clap::Command {
    let width = wrap::terminal_width();
    wrap::wrap_help(unwrapped_command(), width).term_width(width)
}

fn unwrapped_command() -> clap::Command {
    clap::Command::new("cargo xtask")
        .bin_name("cargo xtask")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .after_help(EXAMPLES)
        .args(global_args())
        .args([
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("List the commands, one line each."),
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .requires("list")
                .help("With --list: JSON (name, about, example of each command), for scripts."),
        ])
        .subcommands(commands::ALL.iter().map(|r| subcommand(r)))
}

/// A command as its registration defines it, with its settings' flags.
fn subcommand(registration: &Registration) -> clap::Command {
    let command = clap::Command::new(registration.name)
        .about(registration.about)
        .after_help(format!("Example:\n  {}", registration.example));
    let command = (registration.arguments)(command);
    registration.settings.iter().fold(command, |command, of| {
        command.args(settings::flags::args(*of))
    })
}

/// Parses `args` (the program name first); clap's error carries the usage exit code.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    let (run, flags) = match matches.subcommand() {
        Some((name, sub)) => {
            let registration = commands::find(name).expect("clap only matches the table's names");
            (
                Run::Command((registration.parse)(sub)),
                settings::flags::from_matches(sub, registration.settings),
            )
        }
        None if matches.get_flag("list") => (
            Run::List {
                json: matches.get_flag("json"),
            },
            Flags::new(),
        ),
        None => (Run::Overview, Flags::new()),
    };
    Ok(Cli {
        run,
        // Global: clap sets them here whether given before the command or after it.
        dry_run: matches.get_flag("dry-run"),
        verbose: matches.get_flag("verbose"),
        quiet: matches.get_flag("quiet"),
        flags,
    })
}

/// The first sentence of a command's help: its line in lists.
fn summary(registration: &Registration) -> &'static str {
    let about = registration.about;
    let first = about.split(". ").next().unwrap_or(about);
    first.trim_end_matches('.')
}

/// `--list`: each command and its one-line description.
pub fn list() -> String {
    commands::ALL
        .iter()
        .map(|r| format!("{:<12} {}\n", r.name, summary(r)))
        .collect()
}

/// `--list --json`: each command's name, about and example.
pub fn list_json() -> String {
    let items: Vec<String> = commands::ALL
        .iter()
        .map(|r| {
            format!(
                "  {{\"name\": {}, \"about\": {}, \"example\": {}}}",
                json_string(r.name),
                json_string(r.about),
                json_string(r.example)
            )
        })
        .collect();
    format!("[\n{}\n]\n", items.join(",\n"))
}

/// `cargo xtask` alone (and the Makefile's `help`): where to start, then the commands.
pub fn overview() -> String {
    let commands: String = list().lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "cargo xtask: {ABOUT}\n\n{}\n\nCommands:\n{commands}\n`cargo xtask COMMAND --help` shows a command's flags and an example; \
         `cargo xtask --help` the global ones (-n/--dry-run, -v, -q).\n",
        wrap::wrap(START_HERE, wrap::terminal_width())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{FlagOf, Gogc, Value};

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
    fn n_is_dry_run_before_or_after_the_command() {
        assert!(parse(&["-n", "build-prod"]).dry_run);
        assert!(parse(&["build-prod", "-n"]).dry_run);
        assert!(!parse(&["build-prod"]).dry_run);
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
        let cli = parse(&["bench", "-r", "2", "--quick"]);
        let parsed = format!("{:?}", cli.run);
        assert!(
            parsed.contains(r#"Bench { args: ["-r", "2", "--quick"] }"#),
            "{parsed}"
        );
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        let err = parse_from(["xtask", "build-prod", "--gogc", "fast"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("is not a GOGC value"), "{err}");
    }

    #[test]
    fn no_command_is_the_overview_and_list_json_names_every_command() {
        assert!(matches!(parse(&[]).run, Run::Overview));
        assert!(matches!(
            parse(&["--list", "--json"]).run,
            Run::List { json: true }
        ));
        let json = list_json();
        for registration in commands::ALL {
            assert!(
                json.contains(&format!("\"name\": \"{}\"", registration.name)),
                "{json}"
            );
        }
        let overview = overview();
        assert!(
            overview.contains("\nStart here: `cargo xtask run-dev`"),
            "{overview}"
        );
        assert!(
            overview.contains("\n  build-prod   Build the production image"),
            "{overview}"
        );
    }
}
