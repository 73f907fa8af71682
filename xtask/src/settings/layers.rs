//! Where settings come from, in falling precedence: flags, `PIXIE_*` variables,
//! `deployments/pixie.local.yaml` (this checkout's), the machine's settings file (every checkout
//! and worktree of this user: `.ci/provision` writes what belongs to the machine, such as its
//! local base images, there), `deployments/pixie.yaml` (committed), then the defaults. Every
//! layer is read against the table, and a bad value is a usage error (exit 2) whichever layer
//! it is in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::file::{self, FileLayer};
use super::{Config, Flags, Source, Spec, UsageError, Value, ALL, GRPC_PORT, HTTP_PORT};

pub const CONFIG_FILE: &str = "deployments/pixie.yaml";
/// This checkout's settings: untracked, gitignored.
pub const LOCAL_FILE: &str = "deployments/pixie.local.yaml";

/// The machine's settings file: `$XDG_CONFIG_HOME/pixie/settings.yaml` (an absolute
/// `XDG_CONFIG_HOME`, as the XDG spec asks), else `$HOME/.config/pixie/settings.yaml`; `None`
/// without either.
pub fn machine_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(base.join("pixie/settings.yaml"))
}

/// A settings file's values, with where they came from.
type Layer = (Source, Vec<(&'static Spec, Value)>);

impl Config {
    /// Reads the settings files of the checkout at `root` and of this machine (each if
    /// present), the environment, then `flags`.
    pub fn load(root: &Path, flags: &Flags) -> Result<Config> {
        let mut layers = vec![(Source::Local, read_layer(&root.join(LOCAL_FILE))?)];
        if let Some(machine) = machine_file() {
            let (values, foreign) = read_machine(&machine)?;
            if !foreign.is_empty() {
                eprintln!(
                    "xtask: {} holds {} which this checkout does not know (a newer checkout wrote them); ignored here and kept in the file",
                    machine.display(),
                    foreign.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
            layers.push((Source::Machine(machine), values));
        }
        layers.push((Source::File, read_layer(&root.join(CONFIG_FILE))?));
        Config::resolve(&layers, &|var| std::env::var(var).ok(), flags)
    }

    /// [`Config::load`] with the committed file's text and the environment given (tests, the
    /// bench): no checkout or machine layer.
    pub fn resolve_text(
        yaml: &str,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Flags,
    ) -> Result<Config> {
        Config::resolve(&[(Source::File, parse_file(yaml)?)], env, flags)
    }

    /// `layers`: the settings files in falling precedence.
    fn resolve(
        layers: &[Layer],
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Flags,
    ) -> Result<Config> {
        let mut entries = Vec::new();
        for spec in ALL {
            let find = |list: &[(&'static Spec, Value)]| {
                list.iter()
                    .find(|(s, _)| *s == spec)
                    .map(|(_, v)| v.clone())
            };
            let from_file = || {
                layers
                    .iter()
                    .find_map(|(source, values)| find(values).map(|v| (v, source.clone())))
            };
            let (value, source) = if let Some(value) = find(flags) {
                (value, Source::Flag)
            } else if let Some(raw) = env(spec.env) {
                let value = Value::parse(spec.kind, &raw).map_err(|e| {
                    usage(format!(
                        "{}={raw} is invalid: {e}; fix or unset {}",
                        spec.env, spec.env
                    ))
                })?;
                (value, Source::Env(spec.env))
            } else if let Some(found) = from_file() {
                found
            } else {
                let value = Value::parse(spec.kind, spec.default)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", spec.key));
                (value, Source::Default)
            };
            entries.push((spec, value, source));
        }
        let config = Config { entries };
        let (http, grpc) = (config.port(&HTTP_PORT), config.port(&GRPC_PORT));
        if http == grpc {
            return Err(usage(format!(
                "run.http_port ({}) and run.grpc_port ({}) are both {http}; give them different ports",
                config.source(&HTTP_PORT),
                config.source(&GRPC_PORT)
            )));
        }
        Ok(config)
    }
}

fn usage(message: String) -> anyhow::Error {
    anyhow::Error::new(UsageError(message))
}

fn read_layer(path: &Path) -> Result<Vec<(&'static Spec, Value)>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            parse_file(&text).map_err(|e| usage(format!("{} is invalid: {e:#}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Settings of another checkout, kept as they are: `section.name` and its YAML value.
type Foreign = Vec<(String, serde_yaml::Value)>;

/// The machine file is shared by every checkout on the machine, older and newer ones: what
/// this checkout's table does not know is set apart (and kept when the file is rewritten),
/// not an error. Values of known keys are still checked.
fn read_machine(path: &Path) -> Result<(Vec<(&'static Spec, Value)>, Foreign)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let invalid = |e: anyhow::Error| usage(format!("{} is invalid: {e:#}", path.display()));
    let (known, foreign) = split_foreign(&text).map_err(invalid)?;
    let values = parse_file(known.as_deref().unwrap_or(&text)).map_err(invalid)?;
    Ok((values, foreign))
}

/// The keys of `text` this checkout does not know, and the text without them (`None` when
/// there are none, so that error messages cite the file's own lines).
fn split_foreign(text: &str) -> Result<(Option<String>, Foreign)> {
    use serde_yaml::{Mapping, Value as Yaml};
    let Ok(Yaml::Mapping(sections)) = serde_yaml::from_str::<Yaml>(text) else {
        return Ok((None, Vec::new())); // empty, or not a mapping: parse_file says what is wrong
    };
    let known = |key: &str| ALL.iter().any(|spec| spec.key == key);
    let known_section = |section: &str| {
        ALL.iter()
            .any(|spec| spec.key.split_once('.').is_some_and(|(s, _)| s == section))
    };
    let mut kept = Mapping::new();
    let mut foreign = Vec::new();
    for (section, body) in sections {
        let name = section.as_str().unwrap_or_default().to_string();
        match body {
            Yaml::Mapping(keys) if known_section(&name) => {
                let mut kept_keys = Mapping::new();
                for (key, value) in keys {
                    let full = format!("{name}.{}", key.as_str().unwrap_or_default());
                    if known(&full) {
                        kept_keys.insert(key, value);
                    } else {
                        foreign.push((full, value));
                    }
                }
                kept.insert(section, Yaml::Mapping(kept_keys));
            }
            Yaml::Mapping(keys) => {
                for (key, value) in keys {
                    foreign.push((
                        format!("{name}.{}", key.as_str().unwrap_or_default()),
                        value,
                    ));
                }
            }
            // Not a section of known keys: parse_file reports it.
            other => {
                kept.insert(section, other);
            }
        }
    }
    if foreign.is_empty() {
        return Ok((None, foreign));
    }
    Ok((Some(serde_yaml::to_string(&kept)?), foreign))
}

pub(super) fn parse_file(text: &str) -> Result<Vec<(&'static Spec, Value)>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    // serde_yaml's message names the key and the line: "unknown field `x` ... at line 3 column 3".
    let layer: FileLayer = serde_yaml::from_str(text).map_err(|e| file_error(text, &e))?;
    Ok(layer.0)
}

/// The error of a file that did not read, in plain words: a bad value cites its key's own
/// line, a key or section given twice both lines.
fn file_error(text: &str, e: &serde_yaml::Error) -> anyhow::Error {
    let message = e.to_string();
    if let Some(twice) = file::Twice::from_message(&message) {
        return anyhow::anyhow!("{}", twice.explain(text));
    }
    let mut parts = message.split(file::KEY_MARK);
    let (Some(_), Some(key), Some(problem)) = (parts.next(), parts.next(), parts.next()) else {
        return anyhow::anyhow!("{message}");
    };
    // serde_yaml places the error at the start of the key's section: find the key from there.
    let from = e.location().map_or(0, |l| l.line().saturating_sub(1));
    let line = file::key_lines(text, key)
        .into_iter()
        .find(|line| *line > from);
    // Drop serde_yaml's own (section) position from the problem text.
    let problem = problem.split(" at line ").next().unwrap_or(problem);
    match line {
        Some(line) => anyhow::anyhow!("{key}: {problem} (line {line})"),
        None => anyhow::anyhow!("{key}: {problem}"),
    }
}

/// The text of the machine's settings file at `path` with `values` set in it, keeping what
/// it holds otherwise (what `cargo xtask config --set-machine` writes, and `.ci/provision`
/// through it).
pub fn machine_text(path: &Path, values: &[(&'static Spec, Value)]) -> Result<String> {
    let (mut layer, foreign) = read_machine(path)?;
    for (spec, value) in values {
        match layer.iter_mut().find(|(s, _)| s == spec) {
            Some(entry) => entry.1 = value.clone(),
            None => layer.push((spec, value.clone())),
        }
    }
    layer_text(&layer, &foreign)
}

/// Writes `text` to `path`, beside first and renamed into place: a reader sees the old file or
/// the new one, never half.
pub fn write_machine(path: &Path, text: &str) -> Result<()> {
    let folder = path.parent().context("the settings file has no folder")?;
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let staging = folder.join(format!(".settings.yaml.{}", std::process::id()));
    let written = std::fs::write(&staging, text).and_then(|()| std::fs::rename(&staging, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    written.with_context(|| format!("cannot write {}", path.display()))
}

/// The machine file's text: a header saying what it is, then the values in table order, each
/// section followed by other checkouts' keys of it, then their sections.
fn layer_text(layer: &[(&'static Spec, Value)], foreign: &Foreign) -> Result<String> {
    let mut text = String::from(
        "# This machine's pixie settings: every checkout and worktree of this user reads them.\n\
         # Written by `cargo xtask config --set-machine KEY=VALUE` (.ci/provision sets the local\n\
         # base images); comments other than this header are not kept. Precedence: flags >\n\
         # PIXIE_* > deployments/pixie.local.yaml > this file > deployments/pixie.yaml > defaults.\n",
    );
    let mut entries: Vec<(&str, &str, serde_yaml::Value)> = Vec::new();
    for spec in ALL {
        if let Some((_, value)) = layer.iter().find(|(s, _)| *s == spec) {
            let (section, name) = spec.key.split_once('.').expect("section.name");
            entries.push((section, name, Config::raw_of(value).into()));
        }
    }
    for (key, value) in foreign {
        let (section, name) = key.split_once('.').expect("section.name");
        let at = entries
            .iter()
            .rposition(|(s, _, _)| *s == section)
            .map_or(entries.len(), |i| i + 1);
        entries.insert(at, (section, name, value.clone()));
    }
    let mut section = "";
    for (this, name, value) in entries {
        if this != section {
            text.push_str(&format!("{this}:\n"));
            section = this;
        }
        let mut one = serde_yaml::Mapping::new();
        one.insert(name.into(), value);
        for line in serde_yaml::to_string(&one)?.lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{GO_IMAGE, HTTP_PORT, RUNTIME_IMAGE, VENDOR};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-layers-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_machine_file_keeps_what_it_holds_and_reads_back_as_written() {
        let dir = temp("machine");
        let path = dir.join("pixie/settings.yaml");
        let set = |values: &[(&'static Spec, Value)]| {
            write_machine(&path, &machine_text(&path, values).unwrap()).unwrap()
        };
        set(&[(&GO_IMAGE, Value::Text("pixie-base/go:1.26.8".into()))]);
        set(&[
            (&HTTP_PORT, Value::Port(18080)),
            (
                &RUNTIME_IMAGE,
                Value::Text("pixie-base/runtime:busybox-1.35.0".into()),
            ),
            (&VENDOR, Value::Bool(true)),
        ]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with(
                "base_images:\n  go: pixie-base/go:1.26.8\n  runtime: pixie-base/runtime:busybox-1.35.0\n\
                 build:\n  vendor: 'true'\nrun:\n  http_port: '18080'\n"
            ),
            "{text}"
        );
        assert_eq!(
            read_layer(&path).unwrap(),
            [
                (&GO_IMAGE, Value::Text("pixie-base/go:1.26.8".into())),
                (
                    &RUNTIME_IMAGE,
                    Value::Text("pixie-base/runtime:busybox-1.35.0".into())
                ),
                (&VENDOR, Value::Bool(true)),
                (&HTTP_PORT, Value::Port(18080)),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_checkouts_keys_in_the_machine_file_are_ignored_and_kept() {
        let dir = temp("foreign");
        let path = dir.join("pixie/settings.yaml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            "base_images:\n  go: pixie-base/go:1.26.8\n  future: x\nplugin_images:\n  thumbnailer: pixie-plugin/thumbnailer:1\n",
        )
        .unwrap();
        let (values, foreign) = read_machine(&path).unwrap();
        assert_eq!(
            values,
            [(&GO_IMAGE, Value::Text("pixie-base/go:1.26.8".into()))]
        );
        let keys: Vec<_> = foreign.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["base_images.future", "plugin_images.thumbnailer"]);
        write_machine(
            &path,
            &machine_text(&path, &[(&VENDOR, Value::Bool(true))]).unwrap(),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with(
                "base_images:\n  go: pixie-base/go:1.26.8\n  future: x\nbuild:\n  vendor: 'true'\n\
                 plugin_images:\n  thumbnailer: pixie-plugin/thumbnailer:1\n"
            ),
            "{text}"
        );
        assert_eq!(read_machine(&path).unwrap().1.len(), 2, "{text}");
        std::fs::write(
            &path,
            "service_images:\n  postgres: x\nrun:\n  http_port: eighty\n",
        )
        .unwrap();
        let bad = read_machine(&path).unwrap_err();
        assert!(
            bad.is::<UsageError>() && bad.to_string().contains("http_port"),
            "{bad}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_checkout_beats_the_machine_which_beats_the_committed_file() {
        let layer = |source: Source, yaml: &str| (source, parse_file(yaml).unwrap());
        let machine = Source::Machine("/home/u/.config/pixie/settings.yaml".into());
        let layers = [
            layer(Source::Local, "base_images:\n  go: local/go:3\n"),
            layer(
                machine.clone(),
                "base_images:\n  go: machine/go:2\n  runtime: machine/rt:2\n",
            ),
            layer(
                Source::File,
                "base_images:\n  go: file/go:1\n  runtime: file/rt:1\nrun:\n  bind: 127.0.0.2\n",
            ),
        ];
        let cfg = Config::resolve(&layers, &|_| None, &Flags::new()).unwrap();
        assert_eq!(
            (cfg.text(&GO_IMAGE), cfg.source(&GO_IMAGE)),
            ("local/go:3", &Source::Local)
        );
        assert_eq!(
            (cfg.text(&RUNTIME_IMAGE), cfg.source(&RUNTIME_IMAGE)),
            ("machine/rt:2", &machine)
        );
        assert_eq!(cfg.source(&crate::settings::BIND), &Source::File);
        assert_eq!(
            machine.to_string(),
            "/home/u/.config/pixie/settings.yaml (this machine's)"
        );
    }

    #[test]
    fn a_bad_value_is_a_usage_error_whichever_layer_it_is_in() {
        let dir = temp("usage");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("settings.yaml");
        std::fs::write(&path, "run:\n  http_port: eighty\n").unwrap();
        let from_file = read_layer(&path).unwrap_err();
        assert!(from_file.is::<UsageError>());
        assert_eq!(
            from_file.to_string(),
            format!(
                "{} is invalid: run.http_port: expected a port 1-65535, found `eighty` (line 2)",
                path.display()
            )
        );
        let from_env = Config::resolve(
            &[],
            &|var| (var == "PIXIE_HTTP_PORT").then(|| "eighty".to_string()),
            &Flags::new(),
        )
        .unwrap_err();
        assert!(from_env.is::<UsageError>());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
