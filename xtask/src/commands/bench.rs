//! `bench`: forwards to the benchmark, a package of its own (xtask/bench) on the xtask library,
//! so its code is never compiled into the everyday `cargo xtask`.

use anyhow::Result;
use clap::Arg;

use super::common::{Command, Live, Parsed, Registration};
use crate::ctx::{Ctx, Needs};
use crate::plan::{Plan, Step};

const PACKAGE: &str = "xtask-bench";

pub const COMMAND: Registration = Registration {
    name: "bench",
    about: "Measure build and hot-reload times of the before/prod/dev/limit setups; writes target/bench/bench.json and a markdown table (`cargo xtask bench --help` for its options).",
    example: "cargo xtask bench --quick",
    settings: &[],
    // Its options are the bench package's own: everything after `bench` goes there, --help too.
    arguments: |command| {
        command.disable_help_flag(true).arg(
            Arg::new("args")
                .value_name("ARGS")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .help("Passed on to the bench package (xtask/bench)."),
        )
    },
    parse: |matches| {
        Parsed::Plan(Box::new(Bench {
            args: matches
                .get_many::<String>("args")
                .map(|a| a.cloned().collect())
                .unwrap_or_default(),
        }))
    },
};

#[derive(Debug)]
pub struct Bench {
    /// Everything after `bench`, passed on unchanged.
    pub args: Vec<String>,
}

impl Command for Bench {
    fn needs(&self) -> Needs {
        Needs::Nothing
    }

    fn plan(&self, ctx: &Ctx, _live: &Live) -> Result<Plan> {
        let mut args = self.args.clone();
        // The global flags reach the bench too: it prints its own plan on --dry-run.
        let global = ctx.dry_run.then_some("--dry-run").into_iter();
        for flag in global.chain(ctx.ui.flags()) {
            if !args.iter().any(|a| a == flag) {
                args.push(flag.into());
            }
        }
        Ok(Plan {
            steps: vec![Step::new("bench", &ctx.host.cargo, &ctx.ws.root)
                .args(["run", "--quiet", "--package", PACKAGE, "--"])
                .args(args)
                .streamed()
                .speaking_for_itself()
                .into()],
            ..Plan::default()
        })
    }

    fn runs_in_dry_run(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::engine::BuildRoute;
    use crate::settings::Flags;

    #[test]
    fn forwards_its_arguments_and_the_global_flags_to_the_bench_package() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let bench = Bench {
            args: vec!["--quick".into()],
        };
        let plan = bench.plan(&ctx, &Live::default()).unwrap();
        assert_eq!(
            plan.commands()[0].shell_line(),
            "cargo run --quiet --package xtask-bench -- --quick --dry-run --quiet"
        );
    }
}
