//! `completions`: a script that completes `cargo xtask <TAB>` as people type it. clap writes
//! the completion of `cargo-xtask` from the command table; a hook on cargo's own completion
//! hands `cargo xtask …` to it and everything else to cargo's completion (rustup's), as before.

use anyhow::Result;
use clap::Arg;
use clap_complete::Shell;

use super::common::{Parsed, Registration, Report, ReportCx};
use crate::ui;

pub const COMMAND: Registration = Registration {
    name: "completions",
    about: "Print a shell script that completes `cargo xtask <TAB>` (commands, flags, values) in bash or zsh.",
    example: "cargo xtask completions bash > ~/.cargo-xtask.bash && echo 'source ~/.cargo-xtask.bash' >> ~/.bashrc",
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

/// bash: `cargo xtask …` goes to clap's `_cargo-xtask` with the words shifted as if
/// `cargo-xtask …` had been typed; anything else to rustup's `_cargo`, loaded on first use.
const BASH_HOOK: &str = r#"
# `cargo xtask <TAB>`: cargo's completion hands `xtask …` to _cargo-xtask above.
_pixie_cargo() {
    if [[ ${COMP_WORDS[1]-} == xtask && $COMP_CWORD -ge 2 ]]; then
        local -a COMP_WORDS=("cargo-xtask" "${COMP_WORDS[@]:2}")
        local COMP_CWORD=$((COMP_CWORD - 1))
        _cargo-xtask cargo-xtask "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
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
        let mut command = cx.command_line;
        clap_complete::generate(self.shell, &mut command, "cargo-xtask", &mut script);
        let script = String::from_utf8_lossy(&script);
        let (setup, hook) = match self.shell {
            // Sourced from ~/.zshrc, maybe before compinit, which defines compdef.
            Shell::Zsh => (
                "(( $+functions[compdef] )) || { autoload -Uz compinit && compinit; }\n",
                ZSH_HOOK,
            ),
            _ => ("", BASH_HOOK),
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
