//! Effective settings and where each came from. Precedence: command-line flag > `PIXIE_*`
//! environment variable > `deployments/pixie.yaml` > built-in default.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

pub const CONFIG_FILE: &str = "deployments/pixie.yaml";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Env(&'static str),
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File => f.write_str(CONFIG_FILE),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

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

impl<'de> Deserialize<'de> for Gogc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Gogc, D::Error> {
        // Accept `gogc: 200` as well as `gogc: "200"` and `gogc: off`.
        let value = serde_yaml::Value::deserialize(d)?;
        let text = match value {
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::String(s) => s,
            serde_yaml::Value::Null => String::new(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected off or a number, found {other:?}"
                )))
            }
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The YAML file's shape; every key optional, unknown keys rejected with their line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    images: FileImages,
    #[serde(default)]
    base_images: FileBaseImages,
    #[serde(default)]
    build: FileBuild,
    #[serde(default)]
    run: FileRun,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileImages {
    prod: Option<String>,
    dev: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBaseImages {
    go: Option<String>,
    runtime: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBuild {
    platform: Option<String>,
    gogc: Option<Gogc>,
    goflags: Option<String>,
    vendor: Option<bool>,
    builder: Option<String>,
    cache_from: Option<String>,
    cache_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRun {
    project: Option<String>,
    bind: Option<String>,
    http_port: Option<u16>,
    grpc_port: Option<u16>,
}

/// Values given on the command line; `None` where the flag was not used.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub platform: Option<String>,
    pub gogc: Option<Gogc>,
    pub vendor: Option<bool>,
    pub builder: Option<String>,
    pub cache_from: Option<String>,
    pub cache_to: Option<String>,
    pub http_port: Option<u16>,
    pub grpc_port: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub prod_image: Setting<String>,
    pub dev_image: Setting<String>,
    pub go_image: Setting<String>,
    pub runtime_image: Setting<String>,
    /// Target platform (`linux/arm64`); empty builds for the engine's own.
    pub platform: Setting<String>,
    pub gogc: Setting<Gogc>,
    pub goflags: Setting<String>,
    /// Build from core/vendor (refreshed first) with no network at all.
    pub vendor: Setting<bool>,
    /// buildx builder name; empty uses the current one.
    pub builder: Setting<String>,
    /// Cache import/export specs in buildx syntax (or a bare image ref); empty: none.
    pub cache_from: Setting<String>,
    pub cache_to: Setting<String>,
    /// Compose project name; empty derives one from the workspace folder.
    pub project: Setting<String>,
    pub bind: Setting<String>,
    pub http_port: Setting<u16>,
    pub grpc_port: Setting<u16>,
}

impl Config {
    /// Reads `deployments/pixie.yaml` under `root` (if present), the environment, then `flags`.
    pub fn load(root: &Path, flags: &Overrides) -> Result<Config> {
        let path = root.join(CONFIG_FILE);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                parse_file(&text).with_context(|| format!("{} is invalid", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        Config::resolve(file, &|var| std::env::var(var).ok(), flags)
    }

    /// [`Config::load`] with the file's text and the environment given, for tests.
    #[cfg(test)]
    pub fn resolve_text(
        yaml: &str,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config> {
        Config::resolve(parse_file(yaml)?, env, flags)
    }

    fn resolve(
        file: FileConfig,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Config> {
        let layer = Layer { env };
        Ok(Config {
            prod_image: layer.pick(
                "PIXIE_PROD_IMAGE",
                file.images.prod,
                None,
                "pixie-core:latest",
            )?,
            dev_image: layer.pick(
                "PIXIE_DEV_IMAGE",
                file.images.dev,
                None,
                "pixie-core-dev:latest",
            )?,
            go_image: layer.pick(
                "PIXIE_GO_IMAGE",
                file.base_images.go,
                None,
                "golang:1.26.8-alpine3.23",
            )?,
            runtime_image: layer.pick(
                "PIXIE_RUNTIME_IMAGE",
                file.base_images.runtime,
                None,
                "alpine:3.23.0",
            )?,
            platform: layer.pick(
                "PIXIE_PLATFORM",
                file.build.platform,
                flags.platform.clone(),
                "",
            )?,
            gogc: layer.pick(
                "PIXIE_GOGC",
                file.build.gogc,
                flags.gogc.clone(),
                Gogc::default(),
            )?,
            goflags: layer.pick("PIXIE_GOFLAGS", file.build.goflags, None, "")?,
            vendor: layer.pick("PIXIE_VENDOR", file.build.vendor, flags.vendor, false)?,
            builder: layer.pick(
                "PIXIE_BUILDER",
                file.build.builder,
                flags.builder.clone(),
                "",
            )?,
            cache_from: layer.pick(
                "PIXIE_CACHE_FROM",
                file.build.cache_from,
                flags.cache_from.clone(),
                "",
            )?,
            cache_to: layer.pick(
                "PIXIE_CACHE_TO",
                file.build.cache_to,
                flags.cache_to.clone(),
                "",
            )?,
            project: layer.pick("PIXIE_PROJECT", file.run.project, None, "")?,
            bind: layer.pick("PIXIE_BIND", file.run.bind, None, "127.0.0.1")?,
            http_port: layer.pick(
                "PIXIE_HTTP_PORT",
                file.run.http_port,
                flags.http_port,
                8080_u16,
            )?,
            grpc_port: layer.pick(
                "PIXIE_GRPC_PORT",
                file.run.grpc_port,
                flags.grpc_port,
                9090_u16,
            )?,
        })
    }

    /// `(key, value, source)` rows for `cargo xtask config`.
    pub fn rows(&self) -> Vec<(&'static str, String, String)> {
        fn row<T: fmt::Debug>(
            key: &'static str,
            s: &Setting<T>,
            show: impl Fn(&T) -> String,
        ) -> (&'static str, String, String) {
            (key, show(&s.value), s.source.to_string())
        }
        let text = |v: &String| {
            if v.is_empty() {
                "(empty)".to_string()
            } else {
                v.clone()
            }
        };
        vec![
            row("images.prod", &self.prod_image, text),
            row("images.dev", &self.dev_image, text),
            row("base_images.go", &self.go_image, text),
            row("base_images.runtime", &self.runtime_image, text),
            row("build.platform", &self.platform, text),
            row("build.gogc", &self.gogc, |g| text(&g.0)),
            row("build.goflags", &self.goflags, text),
            row("build.vendor", &self.vendor, bool::to_string),
            row("build.builder", &self.builder, text),
            row("build.cache_from", &self.cache_from, text),
            row("build.cache_to", &self.cache_to, text),
            row("run.project", &self.project, text),
            row("run.bind", &self.bind, text),
            row("run.http_port", &self.http_port, u16::to_string),
            row("run.grpc_port", &self.grpc_port, u16::to_string),
        ]
    }
}

fn parse_file(text: &str) -> Result<FileConfig> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    // serde_yaml's message already names the key and the line: "unknown field `x` ... at line 3 column 3".
    serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
}

struct Layer<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Layer<'_> {
    fn pick<T>(
        &self,
        var: &'static str,
        file: Option<T>,
        flag: Option<T>,
        default: impl Into<T>,
    ) -> Result<Setting<T>>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        if let Some(value) = flag {
            return Ok(Setting {
                value,
                source: Source::Flag,
            });
        }
        if let Some(raw) = (self.env)(var) {
            match raw.parse() {
                Ok(value) => {
                    return Ok(Setting {
                        value,
                        source: Source::Env(var),
                    })
                }
                Err(e) => bail!("{var}={raw} is invalid: {e}; fix or unset {var}"),
            }
        }
        if let Some(value) = file {
            return Ok(Setting {
                value,
                source: Source::File,
            });
        }
        Ok(Setting {
            value: default.into(),
            source: Source::Default,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(yaml: &str, env: &[(&str, &str)], flags: Overrides) -> Result<Config> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
        Config::resolve_text(yaml, &lookup, &flags)
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let yaml = "run:\n  http_port: 8081\n  grpc_port: 9091\nbase_images:\n  go: local/go:1\n";
        let flags = Overrides {
            http_port: Some(8083),
            ..Default::default()
        };
        let cfg = resolve(
            yaml,
            &[("PIXIE_HTTP_PORT", "8082"), ("PIXIE_GRPC_PORT", "9092")],
            flags,
        )
        .unwrap();
        assert_eq!(
            cfg.http_port,
            Setting {
                value: 8083,
                source: Source::Flag
            }
        );
        assert_eq!(
            cfg.grpc_port,
            Setting {
                value: 9092,
                source: Source::Env("PIXIE_GRPC_PORT")
            }
        );
        assert_eq!(
            cfg.go_image,
            Setting {
                value: "local/go:1".to_string(),
                source: Source::File
            }
        );
        assert_eq!(cfg.runtime_image.source, Source::Default);
    }

    #[test]
    fn unknown_key_cites_its_line() {
        let message = format!(
            "{:#}",
            resolve(
                "build:\n  gogc: 200\n  vendr: true\n",
                &[],
                Overrides::default()
            )
            .unwrap_err()
        );
        assert!(message.contains("unknown field `vendr`"), "{message}");
        assert!(message.contains("line 3"), "{message}");
    }

    #[test]
    fn wrong_type_cites_its_line() {
        let message = format!(
            "{:#}",
            resolve("run:\n  http_port: eighty\n", &[], Overrides::default()).unwrap_err()
        );
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let message = resolve("", &[("PIXIE_HTTP_PORT", "70000")], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("PIXIE_HTTP_PORT=70000 is invalid"),
            "{message}"
        );
    }

    #[test]
    fn gogc_accepts_off_numbers_and_empty_only() {
        assert_eq!("off".parse::<Gogc>().unwrap(), Gogc("off".into()));
        assert_eq!("400".parse::<Gogc>().unwrap(), Gogc("400".into()));
        assert_eq!("".parse::<Gogc>().unwrap(), Gogc::default());
        assert!("0".parse::<Gogc>().is_err());
        assert!("fast".parse::<Gogc>().is_err());
        let cfg = resolve("build:\n  gogc: 200\n", &[], Overrides::default()).unwrap();
        assert_eq!(cfg.gogc.value, Gogc("200".into()));
    }

    #[test]
    fn the_committed_config_file_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let text = std::fs::read_to_string(root.join(CONFIG_FILE)).unwrap();
        parse_file(&text).unwrap();
    }
}
