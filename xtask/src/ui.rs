//! How chatty the xtask itself is (children's output is theirs), and how it reports timings.

use std::fmt;
use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct Ui {
    pub quiet: bool,
    pub verbose: bool,
}

impl Ui {
    /// Silent unless -v, for the inner one-step plans of the bench (errors still show).
    pub fn inner(self) -> Ui {
        Ui {
            quiet: !self.verbose,
            verbose: self.verbose,
        }
    }

    /// The global flags that make a child xtask (the bench) as chatty as this one.
    pub fn flags(self) -> impl Iterator<Item = &'static str> {
        [(self.verbose, "--verbose"), (self.quiet, "--quiet")]
            .into_iter()
            .filter_map(|(on, flag)| on.then_some(flag))
    }

    pub fn info(&self, message: impl fmt::Display) {
        if !self.quiet {
            note(format_args!("xtask: {message}"));
        }
    }

    pub fn detail(&self, message: impl fmt::Display) {
        if self.verbose && !self.quiet {
            note(format_args!("xtask: {message}"));
        }
    }

    pub fn warn(&self, message: impl fmt::Display) {
        if !self.quiet {
            note(format_args!("warning: {message}"));
        }
    }
}

/// One line to stderr, in one write: children streaming to the same stderr (compose's logs)
/// cannot land inside it, as they did between `writeln!`'s pieces. Never panics: with stderr
/// closed there is nobody to tell, and the command (and its cleanup) must go on.
pub fn note(line: impl fmt::Display) {
    let line = format!("{line}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A report (`config`, `doctor`, a dry run's plan) to stdout. A reader that went away
/// (`| head -1`) ends the output quietly: the rest is dropped, no panic, no error.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// How long each step took.
#[derive(Debug, Default)]
pub struct Timings {
    pub steps: Vec<(String, Duration)>,
}

impl Timings {
    pub fn total(&self) -> Duration {
        self.steps.iter().map(|(_, d)| *d).sum()
    }

    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .steps
            .iter()
            .map(|(label, d)| format!("{label} {:.1}s", d.as_secs_f64()))
            .collect();
        format!(
            "timing: {} | total {:.1}s",
            parts.join(", "),
            self.total().as_secs_f64()
        )
    }
}

/// `text` as a JSON string literal (the reports' `--json` needs no JSON library).
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
