//! How chatty the xtask itself is (children's output is theirs), and how it reports timings.

use std::fmt;
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

    pub fn info(&self, message: impl fmt::Display) {
        if !self.quiet {
            eprintln!("xtask: {message}");
        }
    }

    pub fn detail(&self, message: impl fmt::Display) {
        if self.verbose && !self.quiet {
            eprintln!("xtask: {message}");
        }
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
