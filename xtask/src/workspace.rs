//! Where the workspace is and what it says about itself (git commit, version, date).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

pub const PROD_DOCKERFILE: &str = "deployments/docker/core.Dockerfile";
pub const DEV_DOCKERFILE: &str = "deployments/docker/core.dev.Dockerfile";
/// The production image's Go steps (runtime files, modules, compile), which the Dockerfile's RUN
/// steps and the Podman builder route (`docker::builder`) both run.
pub const GO_BUILD_SCRIPT: &str = "deployments/docker/go-build.sh";
/// The benchmark's baselines, the slow shapes the production Dockerfile replaced: pixie's
/// commit fc0ed04 (the shape the seed quotes) and its HEAD, 2fb3e22.
pub const BEFORE_FC0ED04_DOCKERFILE: &str = "deployments/bench/before-fc0ed04.Dockerfile";
pub const BEFORE_2FB3E22_DOCKERFILE: &str = "deployments/bench/before-2fb3e22.Dockerfile";
/// The stack's local service images, built by `.ci/provision-stack-images` (linted here).
pub const STACK_DOCKERFILES: [&str; 2] = [
    "deployments/docker/postgres.Dockerfile",
    "deployments/docker/stack-servers.Dockerfile",
];
pub const PROD_COMPOSE: &str = "deployments/docker/compose.prod.yaml";
pub const DEV_COMPOSE: &str = "deployments/docker/compose.dev.yaml";
/// Added to PROD_COMPOSE or DEV_COMPOSE by `--stack full`: Postgres, S3, NATS, migrate.
pub const STACK_COMPOSE: &str = "deployments/docker/compose.stack.yaml";
/// Added after STACK_COMPOSE by `run-dev --stack full`: migrations from the mounted source.
pub const STACK_DEV_COMPOSE: &str = "deployments/docker/compose.stack.dev.yaml";
/// The stack's first one-shot, alone under its project name: generates the missing secrets.
pub const STACK_SECRETS_COMPOSE: &str = "deployments/docker/compose.stack.secrets.yaml";
/// Added to PROD_COMPOSE when an API token is configured: mounts it as a file secret.
pub const PROD_TOKEN_COMPOSE: &str = "deployments/docker/compose.prod.token.yaml";

#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    /// What git says about the checkout, read once when the workspace is located.
    pub stamp: BuildInfo,
}

/// The workspace's Go modules are declared once, by `use` in go.work; every command that
/// works on modules (test, and the builds) reads them from there.
pub const GO_WORK: &str = "go.work";

/// One Go module of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoModule {
    /// Its folder, relative to the workspace root and slash-separated: `core`, `plugins/thumbnailer`.
    pub dir: String,
}

impl GoModule {
    /// Its short name, the folder's last part: `core`, `thumbnailer`.
    pub fn name(&self) -> &str {
        self.dir.rsplit('/').next().unwrap_or(&self.dir)
    }
}

/// Version stamp injected into the binary with `-ldflags -X`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
    /// RFC 3339, UTC. The commit's date rather than the wall clock, so rebuilds are reproducible.
    pub date: String,
    /// The same date in seconds since the epoch; 0 when unknown (no git, no SOURCE_DATE_EPOCH).
    pub epoch: i64,
}

impl Workspace {
    /// `PIXIE_WORKSPACE` if set (tests run copies of the tree), else the folder above xtask/.
    pub fn locate() -> Result<Workspace> {
        let root = match std::env::var_os("PIXIE_WORKSPACE").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("xtask/ has a parent")
                .to_path_buf(),
        };
        if !root.join("core").join("go.mod").is_file() {
            bail!("{} is not a pixie workspace (no core/go.mod); run from the repository or set PIXIE_WORKSPACE", root.display());
        }
        Ok(Workspace::at(root))
    }

    /// The workspace at `root`, with its stamp read from git (`SOURCE_DATE_EPOCH` wins for the date).
    pub fn at(root: PathBuf) -> Workspace {
        let stamp = BuildInfo::read(&root);
        Workspace { root, stamp }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Fails with the fix when a file the command needs is missing.
    pub fn require(&self, relative: &str) -> Result<PathBuf> {
        let path = self.path(relative);
        if !path.is_file() {
            bail!(
                "{} is missing; restore it with `git checkout -- {relative}`",
                path.display()
            );
        }
        Ok(path)
    }

    /// The Go modules go.work uses, in its order.
    pub fn go_modules(&self) -> Result<Vec<GoModule>> {
        let path = self.require(GO_WORK)?;
        let text = std::fs::read_to_string(&path)?;
        let modules = parse_go_work(&text);
        for m in &modules {
            if !self.root.join(&m.dir).join("go.mod").is_file() {
                bail!(
                    "{GO_WORK} uses ./{} but {}/go.mod is missing; create the module there or remove its line with `go work edit -dropuse=./{}`",
                    m.dir,
                    m.dir,
                    m.dir
                );
            }
        }
        if modules.is_empty() {
            bail!("{GO_WORK} uses no module; add them with `go work use ./core ./proto ./plugins/NAME`");
        }
        Ok(modules)
    }

    /// A compose project name unique to this checkout, so two clones never share containers.
    pub fn project_name(&self, prefix: &str, kind: &str) -> String {
        if !prefix.is_empty() {
            return format!("{prefix}-{kind}");
        }
        let folder: String = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let hash = fnv1a(&self.root.to_string_lossy());
        format!(
            "pixie-{}-{:06x}-{kind}",
            folder.trim_matches('-'),
            hash & 0xff_ffff
        )
    }
}

/// FNV-1a, 64 bits: names made from paths and settings, the same across Rust releases (std's
/// hasher may change).
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl BuildInfo {
    fn read(root: &Path) -> BuildInfo {
        let git = |args: &[&str]| -> Option<String> {
            let out = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        };
        let epoch = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .or_else(|| git(&["log", "-1", "--format=%ct"]))
            .and_then(|s| s.parse::<i64>().ok());
        BuildInfo {
            version: git(&["describe", "--tags", "--always", "--dirty"])
                .unwrap_or_else(|| "dev".into()),
            commit: git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
            date: epoch.map(rfc3339_utc).unwrap_or_else(|| "unknown".into()),
            epoch: epoch.unwrap_or(0),
        }
    }
}

/// The folders of go.work's `use` directives, single or in a block, comments dropped.
fn parse_go_work(text: &str) -> Vec<GoModule> {
    let mut dirs = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        let dir = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line.strip_prefix("use") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let dir = dir
            .trim_matches('"')
            .trim_start_matches("./")
            .trim_end_matches('/');
        if !dir.is_empty() {
            dirs.push(GoModule {
                dir: dir.to_string(),
            });
        }
    }
    dirs
}

/// Seconds since the epoch → `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339_utc(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (as Go's RFC3339Nano writes UTC times) → seconds since the
/// epoch; `None` for any other shape.
pub fn parse_rfc3339_utc(text: &str) -> Option<f64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let number = |part: &str| part.parse::<i64>().ok();
    let mut ymd = date.splitn(3, '-').map(number);
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = clock.splitn(3, ':').map(number);
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    let fraction = if fraction.is_empty() {
        0.0
    } else if fraction.bytes().all(|b| b.is_ascii_digit()) {
        format!("0.{fraction}").parse::<f64>().ok()?
    } else {
        return None;
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Howard Hinnant's days-from-civil, the inverse of rfc3339_utc's.
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second) as f64 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_work_use_lines_name_the_modules() {
        let text = "go 1.26.0\n\nuse ./proto // the API\n\nuse (\n\t./core\n\t\"./plugins/thumbnailer\"\n\t// ./plugins/old\n)\n";
        let dirs: Vec<_> = parse_go_work(text).into_iter().map(|m| m.dir).collect();
        assert_eq!(dirs, ["proto", "core", "plugins/thumbnailer"]);
        let m = GoModule {
            dir: "plugins/thumbnailer".into(),
        };
        assert_eq!(m.name(), "thumbnailer");
    }

    #[test]
    fn this_workspace_declares_core_proto_and_the_thumbnailer() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dirs: Vec<_> = Workspace::at(root.to_path_buf())
            .go_modules()
            .unwrap()
            .into_iter()
            .map(|m| m.dir)
            .collect();
        assert_eq!(dirs, ["core", "plugins/thumbnailer", "proto"]);
    }

    #[test]
    fn a_module_without_go_mod_is_refused_with_the_fix() {
        let dir = std::env::temp_dir().join(format!("xtask-gowork-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("core")).unwrap();
        std::fs::write(dir.join("core/go.mod"), "module x\n").unwrap();
        std::fs::write(
            dir.join("go.work"),
            "go 1.26.0\nuse (\n\t./core\n\t./plugins/gone\n)\n",
        )
        .unwrap();
        let err = Workspace::at(dir.clone())
            .go_modules()
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            err,
            "go.work uses ./plugins/gone but plugins/gone/go.mod is missing; create the module there or remove its line with `go work edit -dropuse=./plugins/gone`"
        );
    }

    #[test]
    fn formats_epochs_as_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_617_845), "2026-11-25T14:44:05Z");
    }

    #[test]
    fn parses_what_it_formats_and_go_nanoseconds() {
        for epoch in [0, 951_782_400, 1_795_617_845, 4_102_444_799] {
            assert_eq!(parse_rfc3339_utc(&rfc3339_utc(epoch)), Some(epoch as f64));
        }
        let go = parse_rfc3339_utc("2026-12-06T07:26:30.616208548Z").unwrap();
        // 2026-12-06T07:26:30Z is 1_796_541_990 (Python's datetime agrees).
        assert!((go - 1_796_541_990.616_208_5).abs() < 1e-6, "{go}");
        for bad in [
            "2026-12-06 07:26:30Z",
            "2026-13-06T07:26:30Z",
            "2026-12-06T07:26:30.5x Z",
            "2026-12-06T07:26:30+01:00",
            "",
        ] {
            assert_eq!(parse_rfc3339_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn project_names_are_per_checkout_and_compose_safe() {
        let at = |root: &str| Workspace {
            root: root.into(),
            stamp: BuildInfo {
                version: "dev".into(),
                commit: "unknown".into(),
                date: "unknown".into(),
                epoch: 0,
            },
        };
        let a = at("/work/Main Repo").project_name("", "dev");
        let b = at("/tmp/Main Repo").project_name("", "dev");
        assert!(
            a.starts_with("pixie-main-repo-") && a.ends_with("-dev"),
            "{a}"
        );
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert_eq!(at("/x").project_name("ci42", "prod"), "ci42-prod");
    }
}
