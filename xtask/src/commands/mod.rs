//! One module per command, each registered once, by its line in [`ALL`]'s table below: its
//! name, help, flags and its parsing from clap's matches live in its own module (a
//! [`Registration`], see `common.rs`); the table drives the command line, dispatch, `--list`,
//! completions and the Makefile's help. A command is either a plan ([`Command`]: `--dry-run`
//! prints it, [`drive`] checks, runs and follows it up) or a report ([`Report`]: `config`,
//! `doctor`, `completions`).
//!
//! Adding a command: `commands/NAME.rs` with a `pub const COMMAND: Registration`, and the line
//! `NAME: [COMMAND],` in the table (CONTRIBUTING.md walks through it). A registration left out
//! of its module's line is dead code, which the build refuses (clippy `-D warnings`); a module
//! left out of the table is caught by a test below.

mod common;

pub use build::{configured, image_build, module_build, vendoring};
pub use common::{drive, Command, Live, Parsed, Registration, Report, ReportCx};

/// Declares the command modules and lists their registrations, in the order `--list`, `--help`
/// and completions show them.
macro_rules! table {
    ($($module:ident: [$($registration:ident),+],)+) => {
        $(mod $module;)+

        /// Every command, once.
        pub const ALL: &[&Registration] = &[$($(&$module::$registration,)+)+];

        /// The command modules, for the test that holds them against the files of `commands/`.
        #[cfg(test)]
        const MODULES: &[&str] = &[$(stringify!($module),)+];
    };
}

table! {
    build: [PROD, DEV],
    run: [PROD, DEV],
    manage: [LOGS, PS, STOP, RESTART],
    migrate: [COMMAND],
    seed: [COMMAND],
    vendor: [COMMAND],
    proto: [COMMAND],
    tidy: [COMMAND],
    doctor: [COMMAND],
    config: [COMMAND],
    clean: [COMMAND],
    test: [COMMAND],
    completions: [COMMAND],
    bench: [COMMAND],
}

/// The registration named `name`.
pub fn find(name: &str) -> Option<&'static Registration> {
    ALL.iter().copied().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command module that is not in the table would never be compiled, and its command
    /// would silently not exist.
    #[test]
    fn every_module_of_commands_is_in_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|f| f.strip_suffix(".rs").map(String::from))
            .filter(|m| m != "mod" && m != "common")
            .collect();
        files.sort();
        let mut listed: Vec<String> = MODULES.iter().map(|m| m.to_string()).collect();
        listed.sort();
        assert_eq!(
            files, listed,
            "a module of src/commands/ is missing from the table in commands/mod.rs"
        );
    }

    #[test]
    fn names_are_unique_and_each_is_found() {
        for registration in ALL {
            let named = ALL.iter().filter(|r| r.name == registration.name).count();
            assert_eq!(named, 1, "{} is registered twice", registration.name);
            assert_eq!(find(registration.name).unwrap().about, registration.about);
        }
    }
}
