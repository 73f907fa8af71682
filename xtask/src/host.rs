//! Facts about the machine outside Docker, read from the environment once: where the tools are,
//! how output is shown, which further engines CI configures. Planning reads them from here, so
//! plan tests hand them in directly.

use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Host {
    /// The cargo that runs us (`CARGO`), so toolchain overrides carry over.
    pub cargo: PathBuf,
    pub go: Option<PathBuf>,
    pub temp_dir: PathBuf,
    /// Plain BuildKit progress: logs read better than the TTY animation when not on a terminal.
    pub plain_progress: bool,
    pub no_color: bool,
    /// GitHub Actions' cache service is reachable (`ACTIONS_RUNTIME_TOKEN` set).
    pub actions_cache: bool,
    /// `PIXIE_API_TOKEN` is set (its value is read only when run-prod copies it into a file).
    pub api_token_var: bool,
    /// `PIXIE_API_TOKEN_FILE`.
    pub api_token_file: Option<PathBuf>,
    /// `PIXIE_ENGINE_*` variables (`.ci/provision-engines` prints them): further engines that
    /// `cargo xtask test` runs the engine tests on.
    pub engines: Vec<(String, String)>,
    /// The stack's servers for the modules' stack suites, or what is missing and how to get it.
    pub stack: Result<crate::teststack::Binaries, String>,
    /// `$XDG_STATE_HOME`, else `~/.local/state`: where `--stack full` keeps its secrets.
    pub state_home: Option<PathBuf>,
}

impl Host {
    pub fn read() -> Host {
        Host {
            cargo: std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from),
            go: which::which("go").ok(),
            temp_dir: std::env::temp_dir(),
            plain_progress: std::env::var_os("CI").is_some() || !std::io::stdout().is_terminal(),
            no_color: std::env::var_os("NO_COLOR").is_some(),
            actions_cache: std::env::var_os("ACTIONS_RUNTIME_TOKEN").is_some(),
            api_token_var: std::env::var_os("PIXIE_API_TOKEN").is_some_and(|v| !v.is_empty()),
            api_token_file: std::env::var_os("PIXIE_API_TOKEN_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            engines: std::env::vars()
                .filter(|(k, v)| k.starts_with("PIXIE_ENGINE_") && !v.is_empty())
                .collect(),
            stack: crate::teststack::Binaries::locate(|var| {
                std::env::var(var).ok().filter(|v| !v.is_empty())
            }),
            state_home: state_home(),
        }
    }

    /// The `go` binary, or an error naming the fix; `purpose` says what needs it.
    pub fn go(&self, purpose: &str) -> anyhow::Result<PathBuf> {
        self.go.clone().ok_or_else(|| {
            anyhow::anyhow!("Go is not installed (no `go` on PATH), which is needed to {purpose}; install Go 1.26 from https://go.dev/dl/")
        })
    }
}

/// `$XDG_STATE_HOME`, else `~/.local/state` (the XDG base directory rules).
pub fn state_home() -> Option<PathBuf> {
    xdg_home("XDG_STATE_HOME", ".local/state")
}

/// `$XDG_CACHE_HOME`, else `~/.cache`: what may be lost at any time (`docker::version_cache`).
pub fn cache_home() -> Option<PathBuf> {
    xdg_home("XDG_CACHE_HOME", ".cache")
}

/// The XDG base directory `variable` if absolute, else `under_home` in `$HOME`.
fn xdg_home(variable: &str, under_home: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(|home| PathBuf::from(home).join(under_home))
        })
}
