//! `cargo xtask`: parses the command line and hands it to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match xtask::cli::parse_from(std::env::args_os()) {
        Ok(cli) => xtask::main(cli),
        Err(usage) => usage.exit(),
    }
}
