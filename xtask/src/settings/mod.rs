//! Every setting, declared once in [`ALL`]: its key in the settings files, its `PIXIE_*`
//! variable, its flag, its default and its help. The files' reader, the resolved [`Config`],
//! `cargo xtask config`'s rows, the flags and their `--help`, and the README's table all come
//! from it. Precedence (`layers.rs`): command-line flag > environment variable >
//! `deployments/pixie.local.yaml` (this checkout's, untracked) > the machine's settings file
//! (`$XDG_CONFIG_HOME/pixie/settings.yaml`, else `~/.config/pixie/settings.yaml`: every checkout
//! of this user; `.ci/provision` writes the local base images there) > `deployments/pixie.yaml`
//! > default.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use layers::{machine_file, machine_text, write_machine, CONFIG_FILE, LOCAL_FILE};

/// How a setting's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    Port,
    /// An IP address to bind (kept as text).
    Addr,
    Gogc,
    /// Whitespace-separated in the file and env; a repeatable flag.
    Words,
    /// `embedded` or `full` (kept as text; `crate::stack::Stack` reads it).
    Stack,
}

/// Which command takes the setting as a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOf {
    None,
    BuildProd,
    Run,
    /// Every command that starts or addresses a run's project (`--stack`).
    Stack,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Spec {
    /// `section.name` in the YAML file.
    pub key: &'static str,
    pub env: &'static str,
    /// Long flag name without dashes; empty when there is none.
    pub flag: &'static str,
    pub flag_of: FlagOf,
    /// As it would be written in the file; empty is a valid value (none).
    pub default: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

mod file;
pub mod flags;
mod layers;
mod table;

pub use table::*;

/// GOGC for the compile step: empty means Go's own default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gogc(pub String);

impl FromStr for Gogc {
    type Err = String;
    fn from_str(s: &str) -> Result<Gogc, String> {
        let s = s.trim();
        if s.is_empty() || s == "off" || s.parse::<u32>().is_ok_and(|n| n > 0) {
            Ok(Gogc(s.to_string()))
        } else {
            Err(format!("`{s}` is not a GOGC value; use off, a positive percentage such as 200, or empty for Go's default"))
        }
    }
}

/// A TCP port a service can publish: 1-65535 (0 would mean "any", which compose cannot report).
pub fn parse_port(raw: &str) -> Result<u16, String> {
    match raw.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("expected a port 1-65535, found `{raw}`")),
    }
}

/// A setting's typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Bool(bool),
    Port(u16),
    Gogc(Gogc),
    Words(Vec<String>),
}

impl Value {
    /// Parses text (env var, file, default) as `kind`; the error is plain words.
    pub fn parse(kind: Kind, raw: &str) -> Result<Value, String> {
        // Values end up in shell lines (`--dry-run`) and argv: a newline would split a command.
        if raw.chars().any(char::is_control) {
            return Err(format!(
                "`{}` contains a control character (a newline or tab); use one plain line",
                raw.escape_debug()
            ));
        }
        Ok(match kind {
            Kind::Text => Value::Text(raw.to_string()),
            Kind::Bool => Value::Bool(
                raw.parse()
                    .map_err(|_| format!("expected true or false, found `{raw}`"))?,
            ),
            Kind::Port => Value::Port(parse_port(raw)?),
            Kind::Addr => {
                raw.parse::<std::net::IpAddr>().map_err(|_| {
                    format!("expected an IP address such as 127.0.0.1 or 0.0.0.0, found `{raw}`")
                })?;
                Value::Text(raw.to_string())
            }
            Kind::Gogc => Value::Gogc(raw.parse()?),
            Kind::Stack => {
                if !matches!(raw, "embedded" | "full") {
                    return Err(format!("expected embedded or full, found `{raw}`"));
                }
                Value::Text(raw.to_string())
            }
            Kind::Words => Value::Words(raw.split_whitespace().map(String::from).collect()),
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |f: &mut fmt::Formatter<'_>, s: &str| {
            f.write_str(if s.is_empty() { "(empty)" } else { s })
        };
        match self {
            Value::Text(s) | Value::Gogc(Gogc(s)) => text(f, s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Port(p) => write!(f, "{p}"),
            Value::Words(w) => text(f, &w.join(" ")),
        }
    }
}

/// Where a setting's value came from, in rising precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    /// `deployments/pixie.yaml`.
    File,
    /// The machine's settings file, at this path.
    Machine(PathBuf),
    /// `deployments/pixie.local.yaml`.
    Local,
    Env(&'static str),
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File => f.write_str(CONFIG_FILE),
            Source::Machine(path) => write!(f, "{} (this machine's)", path.display()),
            Source::Local => f.write_str(LOCAL_FILE),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// Values given on the command line.
pub type Flags = Vec<(&'static Spec, Value)>;

/// The effective settings, one entry per [`ALL`] spec in its order.
#[derive(Debug, Clone)]
pub struct Config {
    entries: Vec<(&'static Spec, Value, Source)>,
}

impl Config {
    fn value(&self, spec: &Spec) -> &Value {
        self.entries
            .iter()
            .find(|(s, _, _)| *s == spec)
            .map(|(_, v, _)| v)
            .unwrap_or_else(|| panic!("{} is not in settings::ALL", spec.key))
    }

    /// Text settings, and addresses (kept as text).
    pub fn text(&self, spec: &Spec) -> &str {
        match self.value(spec) {
            Value::Text(s) => s,
            other => panic!("{} is not text: {other:?}", spec.key),
        }
    }

    pub fn flag(&self, spec: &Spec) -> bool {
        match self.value(spec) {
            Value::Bool(b) => *b,
            other => panic!("{} is not a switch: {other:?}", spec.key),
        }
    }

    pub fn port(&self, spec: &Spec) -> u16 {
        match self.value(spec) {
            Value::Port(p) => *p,
            other => panic!("{} is not a port: {other:?}", spec.key),
        }
    }

    pub fn gogc(&self, spec: &Spec) -> &Gogc {
        match self.value(spec) {
            Value::Gogc(g) => g,
            other => panic!("{} is not a GOGC value: {other:?}", spec.key),
        }
    }

    pub fn words(&self, spec: &Spec) -> &[String] {
        match self.value(spec) {
            Value::Words(w) => w,
            other => panic!("{} is not a word list: {other:?}", spec.key),
        }
    }

    pub fn source(&self, spec: &Spec) -> &Source {
        self.entries
            .iter()
            .find(|(s, _, _)| *s == spec)
            .map(|(_, _, source)| source)
            .expect("every spec has an entry")
    }

    /// The same settings with `spec` set to `value` (the bench's own image tags, say).
    pub fn with(mut self, spec: &Spec, value: Value) -> Config {
        for entry in &mut self.entries {
            if entry.0 == spec {
                entry.1 = value.clone();
                entry.2 = Source::Default;
            }
        }
        self
    }

    /// A setting's value as it would be written in the file (empty stays empty), for `--json`.
    pub fn raw(&self, spec: &Spec) -> String {
        Config::raw_of(self.value(spec))
    }

    fn raw_of(value: &Value) -> String {
        match value {
            Value::Text(s) | Value::Gogc(Gogc(s)) => s.clone(),
            Value::Words(w) => w.join(" "),
            other => other.to_string(),
        }
    }

    /// `(key, value, source)` rows for `cargo xtask config`.
    pub fn rows(&self) -> Vec<(&'static str, String, String)> {
        self.entries
            .iter()
            .map(|(spec, value, source)| (spec.key, value.to_string(), source.to_string()))
            .collect()
    }
}

/// A mistake in what the user asked for (exit 2, like clap's usage errors): a bad flag, a bad
/// setting in a variable or a file, whatever its source.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `PIXIE_*` variables that name no setting, each with the setting it most likely meant.
/// The services' own runtime variables (each module's internal/config, core/pkg/settings), the CI tooling's (`PIXIE_CI_*`,
/// `PIXIE_ENGINE_*`), the engine tests' (`PIXIE_TEST_*`) and `PIXIE_WORKSPACE` are not settings but are not mistakes either.
pub fn unknown_variables(names: impl IntoIterator<Item = String>) -> Vec<String> {
    const NOT_SETTINGS: &[&str] = &[
        "PIXIE_WORKSPACE",
        "PIXIE_HTTP_ADDR",
        "PIXIE_GRPC_ADDR",
        "PIXIE_DATA_DIR",
        "PIXIE_DECODE_MEMORY",
        "PIXIE_DECODE_WAIT",
        "PIXIE_MAX_UPLOAD_BYTES",
        "PIXIE_LOG_LEVEL",
        "PIXIE_SHUTDOWN_TIMEOUT",
        "PIXIE_GRPC_REFLECTION",
        "PIXIE_UPLOAD_TIMEOUT",
        "PIXIE_RPC_TIMEOUT",
        "PIXIE_API_TOKEN",
        "PIXIE_API_TOKEN_FILE",
        "PIXIE_BACKEND_TIMEOUT",
        "PIXIE_SWEEP_INTERVAL",
        "PIXIE_SWEEP_GRACE",
        // The stack's servers (core/pkg/settings/stack.go).
        "PIXIE_DATABASE_URL",
        "PIXIE_DATABASE_URL_FILE",
        "PIXIE_S3_ENDPOINT",
        "PIXIE_S3_BUCKET",
        "PIXIE_S3_REGION",
        "PIXIE_S3_ACCESS_KEY",
        "PIXIE_S3_ACCESS_KEY_FILE",
        "PIXIE_S3_SECRET_KEY",
        "PIXIE_S3_SECRET_KEY_FILE",
        "PIXIE_NATS_URL",
        "PIXIE_NATS_CREDS_FILE",
        "PIXIE_NATS_PREFIX",
        // The thumbnailer plugin's (plugins/thumbnailer/internal/config).
        "PIXIE_THUMBNAIL_SIZES",
        "PIXIE_HEALTH_ADDR",
        "PIXIE_THUMBNAILER_WORKERS",
        "PIXIE_THUMBNAILER_MAX_DELIVER",
        "PIXIE_THUMBNAILER_ACK_WAIT",
        "PIXIE_THUMBNAILER_RETRY_BACKOFF",
        "PIXIE_CORE_TEST_RUN_MAIN",
        // Read by the compose files, set by run-prod/run-dev or by hand.
        "PIXIE_API_TOKEN_HOST_FILE",
        "PIXIE_AIR_POLL",
        "PIXIE_IMAGE",
    ];
    let mut warnings = Vec::new();
    for name in names {
        let known = ALL.iter().any(|s| s.env == name)
            || NOT_SETTINGS.contains(&name.as_str())
            || name.starts_with("PIXIE_CI_")
            || name.starts_with("PIXIE_ENGINE_")
            || name.starts_with("PIXIE_TEST_");
        if !name.starts_with("PIXIE_") || known {
            continue;
        }
        let closest = ALL
            .iter()
            .map(|s| s.env)
            .min_by_key(|env| edit_distance(env, &name))
            .expect("ALL is not empty");
        warnings.push(format!(
            "{name} is not a setting (ignored); did you mean {closest}? (`cargo xtask config` lists them)"
        ));
    }
    warnings
}

/// The setting with key `key`, or why not in one line with the nearest key.
pub fn spec_of(key: &str) -> Result<&'static Spec, String> {
    if let Some(spec) = ALL.into_iter().find(|s| s.key == key) {
        return Ok(spec);
    }
    let closest = ALL
        .iter()
        .map(|s| s.key)
        .min_by_key(|k| edit_distance(k, key))
        .expect("ALL is not empty");
    Err(format!(
        "`{key}` is not a setting; did you mean {closest}? (`cargo xtask config` lists them)"
    ))
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
