//! Help text wrapped to the terminal.

/// Help wraps to the terminal: `COLUMNS` if set, else the width of the terminal on stdout, else
/// 100. (Done here rather than by clap's `wrap_help`, whose terminal crate costs about a sixth
/// of the xtask's cold compile.)
pub fn terminal_width() -> usize {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return columns;
    }
    // SAFETY: TIOCGWINSZ fills the zeroed winsize we own; on failure it stays zero.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    if rc == 0 && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        100
    }
}

/// Wraps every help text of `cmd` and its subcommands. Flag help goes on its own line, indented
/// by 10; a command's about also stands in the parent's list, indented by up to 15.
pub fn wrap_help(cmd: clap::Command, width: usize) -> clap::Command {
    let text = |s: Option<&clap::builder::StyledStr>| s.map(|s| s.to_string());
    let about = text(cmd.get_about());
    let long_about = text(cmd.get_long_about());
    let after = text(cmd.get_after_help());
    let mut cmd = cmd
        .next_line_help(true)
        .mut_args(|arg| match text(arg.get_help()) {
            Some(help) => arg.help(wrap(&help, width.saturating_sub(10))),
            None => arg,
        });
    if let Some(about) = about {
        cmd = cmd.about(wrap(&about, width.saturating_sub(16)));
    }
    if let Some(long_about) = long_about {
        cmd = cmd.long_about(wrap(&long_about, width));
    }
    if let Some(after) = after {
        cmd = cmd.after_help(wrap(&after, width));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| wrap_help(sub, width));
    }
    cmd
}

/// Breaks each line of `text` at spaces so no line is longer than `width` (a longer word stays
/// whole).
pub fn wrap(text: &str, width: usize) -> String {
    let width = width.max(20);
    let mut out = Vec::new();
    for line in text.lines() {
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut current = indent.clone();
        for word in line.split_whitespace() {
            let taken = current.chars().count();
            if taken > indent.len() && taken + 1 + word.chars().count() > width {
                out.push(std::mem::replace(&mut current, indent.clone()));
            }
            if current.len() > indent.len() {
                current.push(' ');
            }
            current.push_str(word);
        }
        out.push(current);
    }
    out.join("\n")
}
