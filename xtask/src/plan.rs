//! Plain-data description of what a command will run. Commands build a [`Plan`]; `--dry-run`
//! prints it; [`crate::exec`] runs it. Keeping it data makes every command testable without Docker.
//! A plan holds child processes ([`Step`]) and the xtask's own in-process [`Action`]s alike, so a
//! dry run shows both.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::ready::Ready;

/// How a step's child process is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Short command; output is captured and shown only on failure (xshell).
    Captured,
    /// Long-running command streaming to the terminal (duct). Ctrl-C is forwarded to it once per
    /// press, so tools with a graceful first and forced second stop (compose) behave as usual.
    Streamed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What the step is for, shown in progress lines and the timing summary.
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Variables the step adds to the inherited environment.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub mode: Mode,
    /// A lock file held while the step runs, so such steps never overlap (see `serialized`).
    pub lock: Option<PathBuf>,
    /// A streamed step that starts a service: say `ready on …` once it answers there.
    pub ready: Option<Ready>,
    /// A streamed step beside which generated code is kept up to date (see [`Watch`]).
    pub watch: Option<Box<Watch>>,
    /// Skipped when this path exists at the step's turn: an install whose result is there.
    pub unless_exists: Option<PathBuf>,
}

/// While a streamed step runs: whenever the files ending in `.{extension}` under `dir` change,
/// run `plan` holding `lock` (see `crate::watch`), so generated code follows its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub dir: PathBuf,
    pub extension: &'static str,
    /// What `plan` regenerates, for the line after each run (`core/gen`).
    pub label: String,
    /// Held while `plan` runs, the lock the command that makes the same tree holds.
    pub lock: PathBuf,
    /// What runs on each change, or why nothing can run on this machine (Go missing): said
    /// only when a file changes, so the step itself still starts.
    pub plan: Result<Plan, String>,
}

impl Step {
    pub fn new(
        label: impl Into<String>,
        program: impl Into<PathBuf>,
        cwd: impl Into<PathBuf>,
    ) -> Step {
        Step {
            label: label.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: cwd.into(),
            mode: Mode::Captured,
            lock: None,
            ready: None,
            watch: None,
            unless_exists: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Step {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Step
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Step
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn streamed(mut self) -> Step {
        self.mode = Mode::Streamed;
        self
    }

    /// Runs only while holding an exclusive lock on `lock_file`, waiting for other holders.
    pub fn serialized(mut self, lock_file: impl Into<PathBuf>) -> Step {
        self.lock = Some(lock_file.into());
        self
    }

    /// While the step runs, probes `ready` and prints `ready on … in N s` once it answers.
    pub fn announce_ready(mut self, ready: Ready) -> Step {
        self.ready = Some(ready);
        self
    }

    /// Skipped when `path` exists by the time the step's turn comes (checked then, not when
    /// the plan is made: a plan that runs again, like run-dev's regeneration, installs once).
    pub fn unless_exists(mut self, path: impl Into<PathBuf>) -> Step {
        self.unless_exists = Some(path.into());
        self
    }

    /// While the step runs, keeps `watch.label` regenerated from the files `watch` names.
    pub fn regenerate_on_change(mut self, watch: Watch) -> Step {
        self.watch = Some(Box::new(watch));
        self
    }

    /// The step as one copy-pasteable shell line.
    pub fn shell_line(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote_env(v)))
            .collect();
        words.push(shell_quote(&self.program.to_string_lossy()));
        words.extend(self.args.iter().map(|a| shell_quote(a)));
        match &self.unless_exists {
            Some(path) => format!(
                "[ -e {} ] || {}",
                shell_quote(&path.to_string_lossy()),
                words.join(" ")
            ),
            None => words.join(" "),
        }
    }
}

/// Readers for plan tests (argument values are read, never positions parsed back by code).
impl Step {
    /// The value of an argument that follows `flag` (`--flag value`), for tests.
    pub fn flag_value(&self, flag: &str) -> Option<&str> {
        let at = self.args.iter().position(|a| a == flag)?;
        self.args.get(at + 1).map(String::as_str)
    }

    /// All values given to a repeated flag (`--build-arg A=1 --build-arg B=2`).
    pub fn flag_values<'a>(&'a self, flag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.args
            .windows(2)
            .filter(move |pair| pair[0] == flag)
            .map(|pair| pair[1].as_str())
    }

    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Work the xtask does itself, as a plan step with a printable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Fails with the fix when a port the service would publish is taken.
    PortsFree {
        bind: String,
        /// Each port with the flag that changes it.
        ports: Vec<(u16, &'static str)>,
    },
    /// `dir/docker` → `cli`: compose v1 runs whatever `docker` is first on PATH.
    LinkDocker {
        cli: PathBuf,
        dir: PathBuf,
    },
    /// After Ctrl-C only: removes the working containers an interrupted `podman build` (4.x)
    /// leaves in Podman's store, holding `lock` (which every podman build holds) so that no
    /// other build's are among them.
    RemoveBuildahLeftovers {
        podman: PathBuf,
        lock: PathBuf,
    },
    CreateDir(PathBuf),
    /// Removes a file if it is there.
    RemoveFile(PathBuf),
    /// Waits until the service answers its probe (then prints `ready on …`); fails after
    /// `timeout` with `fix`.
    WaitReady {
        ready: Ready,
        timeout: Duration,
        fix: String,
    },
    /// Copies the API token from where the user keeps it into `to`, mode 0444 inside a 0700
    /// folder, so the container's non-root user can read the bind-mounted secret. The plan holds
    /// where the token comes from, never its value.
    WriteToken {
        from: TokenFrom,
        to: PathBuf,
    },
    /// Removes a tree, making read-only directories (Go's module cache) writable first.
    RemoveTree(PathBuf),
    /// Puts `staging` in place of `target` with one atomic rename (see [`crate::fsutil::swap_in`]).
    SwapTree {
        staging: PathBuf,
        target: PathBuf,
    },
    /// Moves each new or changed file of `staging` into `target`, then removes the files it
    /// lacks; `target`'s folders stay (see [`crate::fsutil::sync_in`]).
    SyncTree {
        staging: PathBuf,
        target: PathBuf,
    },
    /// Writes the files ending in `.{extension}` under `dir`, relative to `relative_to` and
    /// sorted, one per line into `into` (a protoc argument file), when the step runs: a file
    /// added since the plan was made is in it. None is an error.
    ListFiles {
        dir: PathBuf,
        extension: &'static str,
        relative_to: PathBuf,
        into: PathBuf,
    },
    /// Fails with the fix unless `protoc --version` says `version`.
    CheckProtoc {
        version: &'static str,
    },
    /// Copies each of `files` that exists into `to`, created afresh.
    CopyFiles {
        files: Vec<PathBuf>,
        to: PathBuf,
    },
    /// Moves `names` from `from` into `to`, all or none (see `commands::tidy::install_files`).
    InstallFiles {
        from: PathBuf,
        to: PathBuf,
        names: Vec<&'static str>,
    },
    /// Fails with the diff and the fix when `go mod tidy` would change `module`'s go.mod/go.sum.
    CheckTidy {
        go: PathBuf,
        module: PathBuf,
        /// How Go resolves modules (the build's proxy settings and netrc).
        env: Vec<(String, String)>,
    },
    /// Signs what a buildx push reported (`containerimage.digest` in `metadata`) under each of
    /// `repositories` with cosign, offline (no transparency log upload).
    SignPushed {
        cosign: PathBuf,
        key: PathBuf,
        metadata: PathBuf,
        repositories: Vec<String>,
    },
    /// Starts the stack's servers for core's stack suite and waits until they answer.
    StartStack(crate::teststack::Servers),
    /// Stops them and removes their data; nothing to do when they were not started.
    StopStack(crate::teststack::Servers),
    /// Fails with `fix` when `committed` differs from the freshly made `fresh`.
    CompareTrees {
        fresh: PathBuf,
        committed: PathBuf,
        /// How the committed tree is named in messages (`core/vendor`).
        name: String,
        fix: String,
    },
}

impl Action {
    /// The nearest shell equivalent, or a comment for what only the xtask does.
    pub fn shell_line(&self) -> String {
        let q = |p: &PathBuf| shell_quote(&p.to_string_lossy());
        match self {
            Action::PortsFree { bind, ports } => {
                let list: Vec<String> = ports.iter().map(|(p, _)| format!("{bind}:{p}")).collect();
                format!(
                    "# (xtask) fail unless nothing listens on {}",
                    list.join(", ")
                )
            }
            Action::LinkDocker { cli, dir } => format!(
                "mkdir -p {} && ln -sfn {} {}",
                q(dir),
                q(cli),
                q(&dir.join("docker"))
            ),
            Action::RemoveBuildahLeftovers { podman, .. } => format!(
                "# (xtask) after Ctrl-C: {} rm -f each *-working-container that `{} ps -a --external` lists as Storage",
                q(podman),
                q(podman)
            ),
            Action::CreateDir(dir) => format!("mkdir -p {}", q(dir)),
            Action::RemoveFile(file) => format!("rm -f {}", q(file)),
            Action::WaitReady { ready, timeout, .. } => format!(
                "# (xtask) wait up to {} s until {}{} answers 200",
                timeout.as_secs(),
                ready.url(),
                ready.path
            ),
            Action::WriteToken { from, to } => {
                let dir = to.parent().map(|d| q(&d.to_path_buf())).unwrap_or_default();
                let source = match from {
                    TokenFrom::Var(_) => format!("printf '%s\\n' \"{from}\""),
                    TokenFrom::File(_) => format!("cat {from}"),
                };
                format!(
                    "mkdir -p {dir} && chmod 700 {dir} && {source} > {to} && chmod 444 {to}",
                    to = q(to)
                )
            }
            Action::RemoveTree(dir) => format!("rm -rf {}", q(dir)),
            Action::SwapTree { staging, target } => format!(
                "# (xtask) swap {} into {} with one atomic rename (renameat2 RENAME_EXCHANGE)",
                q(staging),
                q(target)
            ),
            Action::SyncTree { staging, target } => format!(
                "# (xtask) move each new or changed file of {} into {} with a rename of its own, then remove the files it lacks",
                q(staging),
                q(target)
            ),
            Action::ListFiles {
                dir,
                extension,
                relative_to,
                into,
            } => format!(
                "(cd {} && find {} -name '*.{extension}' | sort) > {}",
                q(relative_to),
                q(&dir
                    .strip_prefix(relative_to)
                    .unwrap_or(dir)
                    .to_path_buf()),
                q(into)
            ),
            Action::CheckProtoc { version } => {
                format!("protoc --version  # (xtask) fail unless it says libprotoc {version}")
            }
            Action::CompareTrees {
                fresh, committed, ..
            } => format!("diff -r {} {}", q(fresh), q(committed)),
            Action::StartStack(servers) => servers.start_line(),
            Action::StopStack(servers) => servers.stop_line(),
            Action::CopyFiles { files, to } => {
                let files: Vec<String> = files.iter().map(q).collect();
                format!("mkdir -p {} && cp {} {}", q(to), files.join(" "), q(to))
            }
            Action::InstallFiles { from, to, names } => format!(
                "# (xtask) move {} from {} into {}, all or none",
                names.join(" "),
                q(from),
                q(to)
            ),
            Action::CheckTidy { go, module, env } => {
                let env: Vec<String> = env
                    .iter()
                    .map(|(k, v)| format!("{k}={} ", shell_quote(v)))
                    .collect();
                format!(
                    "(cd {} && {}{} mod tidy -diff)",
                    q(module),
                    env.concat(),
                    q(go)
                )
            }
            Action::SignPushed {
                cosign,
                key,
                metadata,
                repositories,
            } => repositories
                .iter()
                .map(|repo| {
                    format!(
                        "{} {} {}@DIGEST  # DIGEST: containerimage.digest in {}",
                        q(cosign),
                        crate::docker::sign::sign_args(key, repo).join(" "),
                        shell_quote(repo),
                        q(metadata)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Where the API token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFrom {
    /// An environment variable holding the token itself.
    Var(&'static str),
    /// A file holding it (named by `PIXIE_API_TOKEN_FILE`).
    File(PathBuf),
}

impl fmt::Display for TokenFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenFrom::Var(var) => write!(f, "${var}"),
            TokenFrom::File(path) => write!(f, "{}", shell_quote(&path.to_string_lossy())),
        }
    }
}

/// One step of a plan: a child process or an in-process action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Run(Step),
    Do { label: String, action: Action },
}

impl Task {
    /// The child process, if this task runs one.
    pub fn step(&self) -> Option<&Step> {
        match self {
            Task::Run(step) => Some(step),
            Task::Do { .. } => None,
        }
    }
}

impl From<Step> for Task {
    fn from(step: Step) -> Task {
        Task::Run(step)
    }
}

/// An in-process action as a plan step.
pub fn action(label: impl Into<String>, action: Action) -> Task {
    Task::Do {
        label: label.into(),
        action,
    }
}

/// A command's steps, run in order, then its cleanup steps whatever happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Task>,
    /// Run after the steps even when one failed or Ctrl-C was pressed (e.g. `compose down`).
    pub cleanup: Vec<Task>,
    /// Facts the plan was built from that the reader should see (engine chosen, skipped steps).
    pub notes: Vec<String>,
}

impl Plan {
    pub fn push(&mut self, task: impl Into<Task>) {
        self.steps.push(task.into());
    }

    /// The child processes among the steps, in order (cleanup excluded).
    pub fn commands(&self) -> Vec<&Step> {
        self.steps.iter().filter_map(Task::step).collect()
    }

    /// The in-process actions among the steps, in order.
    pub fn actions(&self) -> Vec<&Action> {
        self.steps
            .iter()
            .filter_map(|t| match t {
                Task::Do { action, .. } => Some(action),
                Task::Run(_) => None,
            })
            .collect()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.notes {
            writeln!(f, "# {}", comment(note))?;
        }
        let mut cwd: Option<&PathBuf> = None;
        let cleanup_starts = self.steps.len();
        for (index, task) in self.steps.iter().chain(&self.cleanup).enumerate() {
            if index == cleanup_starts {
                writeln!(
                    f,
                    "# always, after the steps above (also on failure or Ctrl-C):"
                )?;
            }
            let step = match task {
                Task::Run(step) => step,
                Task::Do { label, action } => {
                    writeln!(f, "# {}", comment(label))?;
                    writeln!(f, "{}", action.shell_line())?;
                    continue;
                }
            };
            if cwd != Some(&step.cwd) {
                writeln!(f, "cd {}", shell_quote(&step.cwd.to_string_lossy()))?;
                cwd = Some(&step.cwd);
            }
            writeln!(f, "# {}", comment(&step.label))?;
            if let Some(lock) = &step.lock {
                writeln!(f, "# (waits until no other step holds {})", lock.display())?;
            }
            writeln!(f, "{}", step.shell_line())?;
            if let Some(ready) = &step.ready {
                writeln!(
                    f,
                    "# (xtask) meanwhile: print `ready on {}` once {}{} answers 200",
                    ready.url(),
                    ready.url(),
                    ready.path
                )?;
            }
            if let Some(watch) = &step.watch {
                write_watch(f, watch)?;
            }
        }
        Ok(())
    }
}

/// The meanwhile line of a watch, then what each change runs, as comments.
fn write_watch(f: &mut fmt::Formatter<'_>, watch: &Watch) -> fmt::Result {
    writeln!(
        f,
        "# (xtask) meanwhile: on every change of a .{} file under {}, regenerate {} holding {}:",
        watch.extension,
        watch.dir.display(),
        watch.label,
        watch.lock.display()
    )?;
    match &watch.plan {
        Ok(plan) => {
            for line in plan.to_string().lines() {
                writeln!(f, "#   {}", comment(line))?;
            }
        }
        Err(why) => writeln!(f, "#   (not on this machine: {})", comment(why))?,
    }
    Ok(())
}

/// Text for a `# ...` line of a printed plan: a newline or other control character is shown
/// escaped, so pasted text can never turn part of a comment into a command.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Quotes a word for a POSIX shell unless it is made only of safe characters.
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Like [`shell_quote`], but leaves a `$PATH`-style reference expandable so that
/// `PATH=/shim:$PATH` stays meaningful when pasted.
fn shell_quote_env(value: &str) -> String {
    match value.split_once("$PATH") {
        Some((head, tail)) => format!(
            "{}\"$PATH\"{}",
            shell_quote_part(head),
            shell_quote_part(tail)
        ),
        None => shell_quote(value),
    }
}

fn shell_quote_part(part: &str) -> String {
    if part.is_empty() {
        String::new()
    } else {
        shell_quote(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("--build-arg"), "--build-arg");
        assert_eq!(shell_quote("GO_IMAGE=golang:1.26"), "GO_IMAGE=golang:1.26");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn shell_line_keeps_path_expandable() {
        let step = Step::new("x", "docker-compose", "/w")
            .envs([("PATH", "/w/target/shim:$PATH"), ("A", "1 2")])
            .arg("up");
        assert_eq!(
            step.shell_line(),
            "PATH=/w/target/shim:\"$PATH\" A='1 2' docker-compose up"
        );
    }

    #[test]
    fn display_prints_cd_once_and_cleanup_section() {
        let plan = Plan {
            steps: vec![
                Step::new("one", "a", "/w").arg("1").into(),
                Step::new("two", "b", "/w").arg("2").into(),
            ],
            cleanup: vec![Step::new("three", "c", "/w").into()],
            notes: vec!["docker: /usr/bin/docker".into()],
        };
        let text = plan.to_string();
        assert_eq!(text.matches("cd /w").count(), 1);
        assert!(text.starts_with("# docker: /usr/bin/docker\n"));
        assert!(text.contains("# always, after the steps above"));
        assert!(text.ends_with("# three\nc\n"));
    }

    #[test]
    fn actions_print_as_steps_with_their_shell_form() {
        let plan = Plan {
            steps: vec![
                action(
                    "check ports",
                    Action::PortsFree {
                        bind: "127.0.0.1".into(),
                        ports: vec![(8080, "--http-port")],
                    },
                ),
                action(
                    "link docker",
                    Action::LinkDocker {
                        cli: "/usr/bin/docker".into(),
                        dir: "/w/shim".into(),
                    },
                ),
            ],
            ..Plan::default()
        };
        assert_eq!(
            plan.to_string(),
            "# check ports\n# (xtask) fail unless nothing listens on 127.0.0.1:8080\n\
             # link docker\nmkdir -p /w/shim && ln -sfn /usr/bin/docker /w/shim/docker\n"
        );
    }

    #[test]
    fn labels_and_notes_cannot_break_out_of_their_comment() {
        let plan = Plan {
            steps: vec![Step::new("build\nrm -rf /", "true", "/w").into()],
            cleanup: Vec::new(),
            notes: vec!["engine\r\ntouch /tmp/x".into()],
        };
        assert_eq!(
            plan.to_string(),
            "# engine\\r\\ntouch /tmp/x\ncd /w\n# build\\nrm -rf /\ntrue\n"
        );
    }

    #[test]
    fn a_watch_prints_as_a_meanwhile_line_with_its_plan_or_why_it_cannot_run() {
        let inner = Plan {
            steps: vec![Step::new("protoc\nrm -rf /", "protoc", "/w")
                .arg("x.proto")
                .into()],
            ..Plan::default()
        };
        let watch = |plan| Watch {
            dir: "/w/proto".into(),
            extension: "proto",
            label: "core/gen".into(),
            lock: "/w/proto.lock".into(),
            plan,
        };
        let up = |plan| Plan {
            steps: vec![Step::new("up", "compose", "/w")
                .streamed()
                .regenerate_on_change(watch(plan))
                .into()],
            ..Plan::default()
        };
        let meanwhile = "cd /w\n# up\ncompose\n# (xtask) meanwhile: on every change of a .proto \
                         file under /w/proto, regenerate core/gen holding /w/proto.lock:\n";
        assert_eq!(
            up(Ok(inner)).to_string(),
            format!("{meanwhile}#   cd /w\n#   # protoc\\nrm -rf /\n#   protoc x.proto\n")
        );
        assert_eq!(
            up(Err("Go is not installed".into())).to_string(),
            format!("{meanwhile}#   (not on this machine: Go is not installed)\n")
        );
    }

    #[test]
    fn flag_values_reads_repeated_flags() {
        let step = Step::new("b", "docker", "/").args([
            "--build-arg",
            "A=1",
            "-t",
            "x",
            "--build-arg",
            "B=2",
        ]);
        assert_eq!(
            step.flag_values("--build-arg").collect::<Vec<_>>(),
            ["A=1", "B=2"]
        );
        assert_eq!(step.flag_value("-t"), Some("x"));
    }
}
