//! Plain-data description of what a command will run. Commands build a [`Plan`]; `--dry-run`
//! prints it (as shell: [`shell`]); [`crate::exec`] runs it. Keeping it data makes every command
//! testable without Docker.
//!
//! A plan holds child processes ([`Step`]), the xtask's own in-process work ([`Action`]s) and
//! other plans it includes (`build-prod` with `build.vendor` includes vendor's plan), plus the
//! locks it holds from its first step to the end of its cleanup ([`Lock`]). So plans compose,
//! and a dry run shows all of it.

pub mod shell;

use std::any::Any;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::ready::Ready;
use crate::ui::Ui;

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
    /// A streamed step that follows something which can be replaced under it (the logs of a
    /// container another command recreates): started again whenever its child ends on its own
    /// and [`Again`]'s probe soon says there is something to follow.
    pub again: Option<Box<Again>>,
    /// A streamed step whose child says why it failed (a command line passed on whole): its
    /// exit code becomes the xtask's, with no error line of ours after the child's own.
    pub speaks_for_itself: bool,
}

/// When a streamed step's child ends on its own: start it again if `probe` (a captured step)
/// prints anything within `within`, polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Again {
    pub probe: Step,
    pub within: Duration,
}

/// While a streamed step runs: whenever the files ending in `.{extension}` under `dir` change,
/// run `plan` (see `crate::exec::watch`), so generated code follows its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub dir: PathBuf,
    pub extension: &'static str,
    /// What `plan` regenerates, for the line after each run (`proto/gen`).
    pub label: String,
    /// What runs on each change (with the locks of the command that makes the same tree), or
    /// why nothing can run on this machine (Go missing): said only when a file changes, so the
    /// step itself still starts.
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
            again: None,
            speaks_for_itself: false,
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

    /// Starts the streamed child again whenever it ends on its own and `again.probe` prints
    /// anything within `again.within` (see [`Again`]).
    pub fn again_while(mut self, again: Again) -> Step {
        self.again = Some(Box::new(again));
        self
    }

    /// See [`Step::speaks_for_itself`].
    pub fn speaking_for_itself(mut self) -> Step {
        self.speaks_for_itself = true;
        self
    }

    /// The child process as `std::process::Command` (a `$PATH` in a value stands for the
    /// xtask's own PATH), for the xtask's own short probes.
    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, expand_path(v))))
            .current_dir(&self.cwd);
        command
    }

    /// Runs the step as a probe: whether it succeeds and prints anything.
    pub fn prints(&self) -> bool {
        self.command()
            .stdin(std::process::Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
    }

    /// While the step runs, keeps `watch.label` regenerated from the files `watch` names.
    pub fn regenerate_on_change(mut self, watch: Watch) -> Step {
        self.watch = Some(Box::new(watch));
        self
    }

    /// The step as one copy-pasteable shell line.
    pub fn shell_line(&self) -> String {
        shell::step_line(self)
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

/// `$PATH` inside a planned value stands for the xtask's own PATH (`PATH=/shim:$PATH`).
pub fn expand_path(value: &str) -> String {
    value.replace("$PATH", &std::env::var("PATH").unwrap_or_default())
}

/// Work the xtask does itself, as a plan step. The type that implements it keeps its shell form
/// (what a dry run prints) beside its implementation, in the module it belongs to (`files`,
/// `docker::podman`, `commands::run`, ...); [`crate::exec`] only calls [`Action::run`].
pub trait Action: fmt::Debug + Send + Sync + 'static {
    /// The nearest shell equivalent, or a `# (xtask) …` comment for what only the xtask does;
    /// lines a shell can parse either way.
    fn shell_line(&self) -> String;

    /// Does the work; its error is the product's one-line message, shown as it is.
    fn run(&self, cx: &ActionCx) -> Result<()>;
}

/// What an action gets from the runner.
#[derive(Debug, Clone, Copy)]
pub struct ActionCx {
    pub ui: Ui,
    /// When the top-level plan started (`ready on … in N s` counts from there).
    pub since: Instant,
}

/// An [`Action`] as a plan holds it: comparable, clonable and printable like the rest of the
/// plan (tests compare plans). Every `Action + Clone + PartialEq` is one.
pub trait AnyAction: Action {
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn AnyAction>;
    fn eq_dyn(&self, other: &dyn AnyAction) -> bool;
}

impl<T: Action + Clone + PartialEq> AnyAction for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn AnyAction> {
        Box::new(self.clone())
    }

    fn eq_dyn(&self, other: &dyn AnyAction) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

impl Clone for Box<dyn AnyAction> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

impl PartialEq for Box<dyn AnyAction> {
    fn eq(&self, other: &Self) -> bool {
        self.eq_dyn(other.as_ref())
    }
}

impl Eq for Box<dyn AnyAction> {}

/// One step of a plan: a child process, an in-process action, or another plan included whole
/// (its locks, steps and cleanup, run at this point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Run(Step),
    Do {
        label: String,
        action: Box<dyn AnyAction>,
    },
    Include {
        /// What the included plan does, as its first printed line says.
        label: String,
        plan: Box<Plan>,
    },
}

impl Task {
    /// The child process, if this task runs one.
    pub fn step(&self) -> Option<&Step> {
        match self {
            Task::Run(step) => Some(step),
            _ => None,
        }
    }

    /// The action, if this task is one of type `T`.
    pub fn action<T: Action>(&self) -> Option<&T> {
        match self {
            Task::Do { action, .. } => action.as_any().downcast_ref(),
            _ => None,
        }
    }
}

impl From<Step> for Task {
    fn from(step: Step) -> Task {
        Task::Run(step)
    }
}

/// An in-process action as a plan step.
pub fn action(label: impl Into<String>, action: impl Action + Clone + PartialEq) -> Task {
    Task::Do {
        label: label.into(),
        action: Box::new(action),
    }
}

/// A lock a plan holds from before its first step until its cleanup ended (the runner waits
/// for it, Ctrl-C still ends the wait): one `vendor` per checkout at a time, say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub path: PathBuf,
    /// Who else may hold it, for the line printed while waiting.
    pub holder: String,
}

/// A command's steps, run in order, then its cleanup steps whatever happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Held for the whole plan, taken in this order.
    pub locks: Vec<Lock>,
    pub steps: Vec<Task>,
    /// Run after the steps only when one failed or Ctrl-C was pressed, before the cleanup (a
    /// detached stack that did not come up is removed whole).
    pub on_failure: Vec<Task>,
    /// Run after the steps even when one failed or Ctrl-C was pressed (e.g. `compose down`).
    pub cleanup: Vec<Task>,
    /// Facts the plan was built from that the reader should see (engine chosen, skipped steps).
    pub notes: Vec<String>,
}

impl Plan {
    pub fn push(&mut self, task: impl Into<Task>) {
        self.steps.push(task.into());
    }

    /// Runs `other` whole at this point: its locks, steps and cleanup (`build-prod --vendor`
    /// includes vendor's plan rather than starting the xtask again).
    pub fn include(&mut self, label: impl Into<String>, other: Plan) {
        self.steps.push(Task::Include {
            label: label.into(),
            plan: Box::new(other),
        });
    }

    /// Adds `other`'s notes, locks, steps and cleanup to this plan's own (a part made
    /// elsewhere, such as the build every `build-*` and `run-*` plan has).
    pub fn append(&mut self, other: Plan) {
        self.notes.extend(other.notes);
        self.locks.extend(other.locks);
        self.steps.extend(other.steps);
        self.on_failure.extend(other.on_failure);
        self.cleanup.extend(other.cleanup);
    }

    /// The steps, with those of included plans in their place (cleanup excluded).
    pub fn tasks(&self) -> Vec<&Task> {
        let mut all = Vec::new();
        for task in &self.steps {
            match task {
                Task::Include { plan, .. } => all.extend(plan.tasks()),
                task => all.push(task),
            }
        }
        all
    }

    /// The child processes among the steps, in order (included plans' too; cleanup excluded).
    pub fn commands(&self) -> Vec<&Step> {
        self.tasks().into_iter().filter_map(Task::step).collect()
    }

    /// The actions of type `T` among the steps, in order (included plans' too).
    pub fn actions<T: Action>(&self) -> Vec<&T> {
        self.tasks().into_iter().filter_map(Task::action).collect()
    }

    /// The labels of every step, in order (included plans' too): what a plan does, for tests.
    pub fn labels(&self) -> Vec<&str> {
        self.tasks()
            .into_iter()
            .map(|task| match task {
                Task::Run(step) => step.label.as_str(),
                Task::Do { label, .. } | Task::Include { label, .. } => label.as_str(),
            })
            .collect()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell::plan_text(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Noted(&'static str);

    impl Action for Noted {
        fn shell_line(&self) -> String {
            format!("# (xtask) {}", self.0)
        }
        fn run(&self, _cx: &ActionCx) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn actions_compare_by_type_and_value_and_are_found_by_type() {
        let plan = Plan {
            steps: vec![
                action("a", Noted("one")),
                Step::new("s", "true", "/").into(),
                action("b", Noted("two")),
            ],
            ..Plan::default()
        };
        assert_eq!(plan.actions::<Noted>(), [&Noted("one"), &Noted("two")]);
        assert_eq!(plan.clone(), plan);
        assert_ne!(action("a", Noted("one")), action("a", Noted("other")));
        assert_eq!(plan.steps[0].action::<Noted>(), Some(&Noted("one")));
        assert_eq!(plan.steps[1].action::<Noted>(), None);
    }

    #[test]
    fn included_plans_count_among_the_steps_in_their_place() {
        let inner = Plan {
            steps: vec![Step::new("inner", "true", "/").into()],
            ..Plan::default()
        };
        let mut plan = Plan::default();
        plan.push(Step::new("first", "true", "/"));
        plan.include("the inner plan", inner);
        plan.push(action("last", Noted("x")));
        assert_eq!(plan.labels(), ["first", "inner", "last"]);
        assert_eq!(plan.commands().len(), 2);
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
