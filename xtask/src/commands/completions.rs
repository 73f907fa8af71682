//! `completions`: a script that completes `cargo xtask <TAB>` as people type it. clap writes
//! the completion of `cargo-xtask` from the command table; a hook on cargo's own completion
//! hands `cargo xtask …` to it and everything else to cargo's completion (rustup's), as before.

use anyhow::{Context, Result};
use clap::Arg;
use clap_complete::Shell;

use super::common::{Parsed, Registration, Report, ReportCx};
use crate::ui;

pub const COMMAND: Registration = Registration {
    name: "completions",
    about: "Print a shell script that completes `cargo xtask <TAB>` (commands, flags, values) in bash or zsh.",
    example: "cargo xtask completions bash > ~/.cargo-xtask.bash",
    settings: &[],
    arguments: |command| {
        command.arg(
            Arg::new("shell")
                .value_name("SHELL")
                .required(true)
                .value_parser(["bash", "zsh"])
                .hide_possible_values(true)
                .help("The shell to complete for: bash or zsh."),
        )
    },
    parse: |matches| {
        let zsh = matches.get_one::<String>("shell").is_some_and(|s| s == "zsh");
        Parsed::Report(Box::new(Completions {
            shell: if zsh { Shell::Zsh } else { Shell::Bash },
        }))
    },
};

#[derive(Debug)]
struct Completions {
    shell: Shell,
}

/// bash: `cargo xtask …` goes to clap's function (`FUNCTION`, named in the `complete` line clap
/// writes) with the words shifted as if `cargo_xtask …` had been typed; anything else to
/// rustup's `_cargo`, loaded on first use.
const BASH_HOOK: &str = r#"
# `cargo xtask <TAB>`: cargo's completion hands `xtask …` to FUNCTION above.
_pixie_cargo() {
    if [[ ${COMP_WORDS[1]-} == xtask && $COMP_CWORD -ge 2 ]]; then
        local -a COMP_WORDS=("cargo_xtask" "${COMP_WORDS[@]:2}")
        local COMP_CWORD=$((COMP_CWORD - 1))
        FUNCTION cargo_xtask "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        return
    fi
    # Everything else is cargo's own completion (rustup's), loaded once.
    if ! declare -F _cargo >/dev/null; then
        local sysroot
        sysroot=$(rustc --print sysroot 2>/dev/null)
        if [[ -n $sysroot && -f $sysroot/etc/bash_completion.d/cargo ]]; then
            source "$sysroot/etc/bash_completion.d/cargo"
        fi
        complete -F _pixie_cargo -o bashdefault -o default cargo
    fi
    if declare -F _cargo >/dev/null && declare -F _get_comp_words_by_ref >/dev/null; then
        _cargo "$@"
    fi
}
complete -F _pixie_cargo -o bashdefault -o default cargo
"#;

/// zsh: the same hook; cargo's own `_cargo` (rustup's) takes everything but `xtask`.
const ZSH_HOOK: &str = r#"
# `cargo xtask <TAB>`: cargo's completion hands `xtask …` to _cargo-xtask above.
_pixie_cargo() {
    if (( CURRENT > 2 )) && [[ ${words[2]} == xtask ]]; then
        shift words
        (( CURRENT-- ))
        _cargo-xtask
    elif (( $+functions[_cargo] )); then
        _cargo "$@"
    else
        _default
    fi
}
compdef _pixie_cargo cargo
"#;

impl Report for Completions {
    fn report(&self, cx: ReportCx) -> Result<()> {
        let mut script = Vec::new();
        // zsh: named as the binary cargo runs for `cargo xtask`, so rustup's `_cargo` finds
        // `_cargo-xtask` too. bash: without the hyphen, which clap_complete's bash script
        // spells two ways and then completes no flag after a command (clap-rs/clap#6421).
        let name = match self.shell {
            Shell::Zsh => "cargo-xtask",
            _ => "cargo_xtask",
        };
        let mut command = cx.command_line.name(name).bin_name(name);
        clap_complete::generate(self.shell, &mut command, name, &mut script);
        let script = String::from_utf8_lossy(&script);
        let (setup, hook) = match self.shell {
            // Sourced from ~/.zshrc, maybe before compinit, which defines compdef.
            Shell::Zsh => (
                "(( $+functions[compdef] )) || { autoload -Uz compinit && compinit; }\n",
                ZSH_HOOK.to_string(),
            ),
            _ => {
                let function = script
                    .split("complete -F ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .context("clap's bash script has no `complete -F` line")?;
                ("", BASH_HOOK.replace("FUNCTION", function))
            }
        };
        let text = format!(
            "# Completion of `cargo xtask` for {}, made by `cargo xtask completions` (run it again \
             after pulling new commands).\n{setup}{script}{hook}",
            self.shell
        );
        // A dry run prints no script: `bash -n` parses every dry run, and this one is zsh's.
        if cx.dry_run {
            return Ok(ui::print(&format!(
                "# (xtask) print the {} completion script of cargo xtask\n",
                self.shell
            ))?);
        }
        Ok(ui::print(&text)?)
    }
}
