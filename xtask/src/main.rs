//! `cargo xtask`: builds and runs pixie-core in Docker. Parses flags and dispatches; the
//! commands live in `commands/`, engine detection in `engine`, plan execution in `exec`.

mod commands;
mod config;
mod engine;
mod exec;
mod plan;
mod workspace;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use commands::build::Target;
use commands::{build, run, test, Ctx};
use config::{Config, Gogc, Overrides};
use engine::Compose;
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
    /// Build the production image (deployments/docker/core.Dockerfile, context: the repo root
    /// filtered by .dockerignore).
    BuildProd(BuildArgs),
    /// Run the production image with deployments/docker/compose.prod.yaml in the foreground,
    /// building it first if missing; Ctrl-C stops and removes its containers and network.
    RunProd(RunArgs),
    /// Build the development image (deployments/docker/core.dev.Dockerfile: Go + air).
    BuildDev,
    /// Run the development container with deployments/docker/compose.dev.yaml: core/ is mounted
    /// and air rebuilds and restarts the service on every saved .go file.
    RunDev(RunArgs),
    /// Print the effective configuration and where each value came from.
    Config,
    /// Run every check CI runs: gofmt, go vet, go test -race, hadolint, rustfmt, clippy, and the
    /// xtask's tests including the ones that build images and run containers (needs an engine).
    Test,
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Target platform, e.g. linux/arm64 (cross-compiled, no emulation).
    #[arg(long)]
    platform: Option<String>,
    /// GOGC for the compile step only: off, or a percentage (empty: Go's default).
    #[arg(long, value_parser = parse_gogc)]
    gogc: Option<Gogc>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Host port published for HTTP.
    #[arg(long)]
    http_port: Option<u16>,
    /// Host port published for gRPC.
    #[arg(long)]
    grpc_port: Option<u16>,
}

fn parse_gogc(value: &str) -> Result<Gogc, String> {
    value.parse()
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
    let overrides = match &cli.command {
        Command::BuildProd(a) => Overrides {
            platform: a.platform.clone(),
            gogc: a.gogc.clone(),
            ..Default::default()
        },
        Command::RunProd(a) | Command::RunDev(a) => Overrides {
            http_port: a.http_port,
            grpc_port: a.grpc_port,
            ..Default::default()
        },
        Command::BuildDev | Command::Config | Command::Test => Overrides::default(),
    };
    let config = Config::load(&ws.root, &overrides)?;
    if let Command::Config = cli.command {
        for (key, value, source) in config.rows() {
            println!("{key:<22} {value:<40} # {source}");
        }
        return Ok(());
    }
    let ctx = Ctx::new(ws, config, ui, cli.dry_run)?;
    match cli.command {
        Command::BuildProd(_) => build_image(&ctx, Target::Prod),
        Command::BuildDev => build_image(&ctx, Target::Dev),
        Command::RunProd(_) => run_service(&ctx, Target::Prod),
        Command::RunDev(_) => run_service(&ctx, Target::Dev),
        Command::Test => run_plan(&ctx, test::plan(&ctx)),
        Command::Config => unreachable!("handled above"),
    }
}

fn build_image(ctx: &Ctx, target: Target) -> Result<()> {
    let plan = build::plan(ctx, target)?;
    if ctx.dry_run {
        print!("{plan}");
        return Ok(());
    }
    ctx.engine.daemon_version()?;
    exec::run(&plan, &ctx.ui)?;
    let image = target.image(ctx);
    if let Some(bytes) = ctx.engine.image_size(&image) {
        ctx.ui
            .info(format_args!("image {image}: {:.1} MB", bytes as f64 / 1e6));
    }
    Ok(())
}

fn run_plan(ctx: &Ctx, plan: plan::Plan) -> Result<()> {
    if ctx.dry_run {
        print!("{plan}");
        return Ok(());
    }
    exec::run(&plan, &ctx.ui)?;
    Ok(())
}

fn run_service(ctx: &Ctx, target: Target) -> Result<()> {
    if ctx.dry_run {
        let compose = ctx.engine.compose().unwrap_or_else(|_| Compose::Plugin {
            version: "(not detected)".into(),
        });
        print!("{}", run::plan(ctx, target, &compose, None)?);
        return Ok(());
    }
    ctx.engine.daemon_version()?;
    let compose = ctx.engine.compose()?;
    let present = ctx.engine.image_exists(&target.image(ctx));
    let plan = run::plan(ctx, target, &compose, Some(present))?;
    run::check_ports_free(ctx)?;
    run::prepare_shim(ctx)?;
    exec::run(&plan, &ctx.ui)?;
    Ok(())
}
