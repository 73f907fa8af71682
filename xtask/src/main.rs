//! `cargo xtask`: builds and runs pixie-core in Docker. Parses flags and dispatches; the
//! commands live in `commands/`, engine detection in `engine`, plan execution in `exec`.

mod commands;
mod config;
mod engine;
mod exec;
mod fsutil;
mod plan;
mod workspace;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use commands::build::{BuildArgs, Target};
use commands::{bench, build, clean, doctor, proto, run, test, vendor, Ctx};
use config::{Config, Overrides};
use exec::{Interrupted, Ui};
use workspace::Workspace;

/// Build and run pixie-core in Docker: fast BuildKit builds, compose for running, no Makefile.
///
/// Settings come from flags, then PIXIE_* environment variables, then deployments/pixie.yaml,
/// then built-in defaults (`cargo xtask config` shows the effective values).
/// Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print the commands (as shell lines, with the env each adds) instead of running them.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Also print each command line and captured output.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    verbose: bool,
    /// Print only errors (children's own output still shows).
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the production image (deployments/docker/core.Dockerfile; context: the repo root
    /// filtered by .dockerignore).
    BuildProd(BuildArgs),
    /// Run the production image with deployments/docker/compose.prod.yaml in the foreground,
    /// building it first if missing; Ctrl-C stops and removes its containers and network.
    RunProd(run::RunArgs),
    /// Build the development image (deployments/docker/core.dev.Dockerfile: Go + air).
    BuildDev,
    /// Run the development container with deployments/docker/compose.dev.yaml: core/ is mounted
    /// and air rebuilds and restarts the service on every saved .go file.
    RunDev(run::RunArgs),
    /// Refresh core/vendor from core/go.mod and go.sum (atomically; --check only compares).
    Vendor(vendor::VendorArgs),
    /// Regenerate core/gen from proto/ with the pinned protoc and plugins (--check only compares).
    Proto(proto::ProtoArgs),
    /// Check this machine: docker CLI, daemon, BuildKit route, compose, Go, disk, linters.
    Doctor,
    /// Print the effective configuration and where each value came from.
    Config,
    /// Remove the run-prod/run-dev containers and networks (and, on request, volumes and images).
    Clean(clean::CleanArgs),
    /// Run every check CI runs: gofmt, go vet, go test -race, proto --check, hadolint, rustfmt,
    /// clippy, and the xtask's tests including those that build images and run containers.
    Test,
    /// Measure build and hot-reload times of the before/prod/dev/limit setups; writes
    /// target/bench/bench.json and a markdown table.
    Bench(bench::BenchArgs),
}

impl Command {
    fn overrides(&self) -> Overrides {
        match self {
            Command::BuildProd(args) => args.overrides(),
            Command::RunProd(args) | Command::RunDev(args) => args.overrides(),
            _ => Overrides::default(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("xtask: interrupted");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    exec::install_interrupt_handler()?;
    let ws = Workspace::locate()?;
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let config = Config::load(&ws.root, &cli.command.overrides())?;
    // Commands that need no docker engine.
    match &cli.command {
        Command::Config => {
            for (key, value, source) in config.rows() {
                println!("{key:<22} {value:<44} # {source}");
            }
            return Ok(());
        }
        Command::Vendor(args) => return vendor::run(&ws, &ui, cli.dry_run, args),
        Command::Proto(args) => return proto::run(&ws, &ui, cli.dry_run, args),
        Command::Doctor => return doctor::run(&ws, &config),
        _ => {}
    }
    let ctx = Ctx::new(ws, config, ui, cli.dry_run)?;
    match &cli.command {
        Command::BuildProd(args) => build::run(&ctx, Target::Prod, args),
        Command::BuildDev => build::run(&ctx, Target::Dev, &BuildArgs::default()),
        Command::RunProd(_) => run::run(&ctx, Target::Prod),
        Command::RunDev(_) => run::run(&ctx, Target::Dev),
        Command::Clean(args) => clean::run(&ctx, args),
        Command::Test => ctx.execute(&test::plan(&ctx)),
        Command::Bench(args) => bench::run(&ctx, args),
        Command::Config | Command::Vendor(_) | Command::Proto(_) | Command::Doctor => {
            unreachable!("dispatched above")
        }
    }
}
