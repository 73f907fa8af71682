//! Runs a [`Plan`]: takes its locks, runs its steps in order (child processes through
//! `child`, in-process actions by calling them, included plans whole, in place), then its
//! cleanup steps always (and to their end: a Ctrl-C is not forwarded to them), then prints a
//! timing summary. What each action does lives with the action; this module only dispatches.

mod child;
pub mod watch;

use std::time::Instant;

use anyhow::Result;

use crate::lock::{self, FileLock};
use crate::plan::{ActionCx, Plan, Task};
use crate::signals::{interrupted, Interrupted};
use crate::ui::{Timings, Ui};

/// A step that speaks for itself failed with this exit code, its reason already on stderr.
#[derive(Debug)]
pub struct ChildReported(pub u8);

impl std::fmt::Display for ChildReported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for ChildReported {}

/// Runs every step in order, stopping at the first failure or Ctrl-C, then the cleanup steps.
pub fn run(plan: &Plan, ui: &Ui) -> Result<Timings> {
    let mut run = Runner::new(*ui);
    let result = run.plan(plan, Phase::Steps);
    run.finish(result)
}

/// Like [`run`], unless another process holds one of the plan's locks: then `None` at once
/// (run-dev's watch tries again at its next poll).
pub fn run_unless_locked(plan: &Plan, ui: &Ui) -> Result<Option<Timings>> {
    let mut held = Vec::new();
    for lock in &plan.locks {
        match lock::try_acquire(&lock.path)? {
            Some(taken) => held.push(taken),
            None => return Ok(None),
        }
    }
    let mut run = Runner::new(*ui);
    let result = run.plan_holding(plan, Phase::Steps, held);
    run.finish(result).map(Some)
}

/// Which part of a plan a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Ctrl-C is forwarded to them, and a failure after one is the interrupt.
    Steps,
    /// They run to their end after Ctrl-C: a second press (compose's "force") that lands
    /// while `compose down` runs must not stop the very step that removes the containers.
    Cleanup,
}

struct Runner {
    ui: Ui,
    /// When the top-level plan started, which `ready … in N s` counts from.
    since: Instant,
    timings: Timings,
}

impl Runner {
    fn new(ui: Ui) -> Runner {
        Runner {
            ui,
            since: Instant::now(),
            timings: Timings::default(),
        }
    }

    fn finish(self, result: Result<()>) -> Result<Timings> {
        if !self.ui.quiet && !self.timings.steps.is_empty() {
            crate::ui::note(format_args!("xtask: {}", self.timings.summary()));
        }
        result.map(|()| self.timings)
    }

    /// `phase`: the part of the including plan this plan runs in (an included plan's own
    /// cleanup always runs to its end).
    fn plan(&mut self, plan: &Plan, phase: Phase) -> Result<()> {
        let mut held = Vec::new();
        for lock in &plan.locks {
            held.push(lock::acquire(&lock.path, &lock.holder, &self.ui)?);
        }
        self.plan_holding(plan, phase, held)
    }

    fn plan_holding(&mut self, plan: &Plan, phase: Phase, _held: Vec<FileLock>) -> Result<()> {
        for note in &plan.notes {
            self.ui.info(note);
        }
        let mut result = Ok(());
        for task in &plan.steps {
            if phase == Phase::Steps && interrupted() {
                result = Err(Interrupted.into());
                break;
            }
            result = self.task(task, phase);
            if result.is_ok() && phase == Phase::Steps && interrupted() {
                result = Err(Interrupted.into());
            }
            if result.is_err() {
                break;
            }
        }
        let failed = result.is_err();
        for task in plan.on_failure.iter().filter(|_| failed) {
            if let Err(e) = self.task(task, Phase::Cleanup) {
                crate::ui::note(format_args!("xtask: cleanup failed: {e:#}"));
            }
        }
        for task in &plan.cleanup {
            // Cleanup runs to the end even after Ctrl-C; a failure here must not hide the first error.
            if let Err(e) = self.task(task, Phase::Cleanup) {
                crate::ui::note(format_args!("xtask: cleanup failed: {e:#}"));
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }

    fn task(&mut self, task: &Task, phase: Phase) -> Result<()> {
        match task {
            Task::Include { plan, .. } => self.plan(plan, phase),
            Task::Do { label, action } => {
                self.ui.info(label);
                self.ui.detail(format_args!("$ {}", action.shell_line()));
                let started = Instant::now();
                let cx = ActionCx {
                    ui: self.ui,
                    since: self.since,
                };
                let result = action.run(&cx);
                self.timings.steps.push((label.clone(), started.elapsed()));
                result
            }
            Task::Run(step) => {
                if let Some(there) = step.unless_exists.as_ref().filter(|p| p.exists()) {
                    self.ui.detail(format_args!(
                        "{}: skipped, {} exists",
                        step.label,
                        there.display()
                    ));
                    return Ok(());
                }
                self.ui.info(&step.label);
                self.ui.detail(format_args!("$ {}", step.shell_line()));
                let started = Instant::now();
                let _held = match &step.lock {
                    Some(path) => Some(lock::acquire(
                        path,
                        "another build on this engine",
                        &self.ui,
                    )?),
                    None => None,
                };
                let forward = phase == Phase::Steps;
                let result = child::run(step, &self.ui, self.since, forward);
                self.timings
                    .steps
                    .push((step.label.clone(), started.elapsed()));
                result
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::RemoveTree;
    use crate::plan::{action, Lock, Step};

    const QUIET: Ui = Ui {
        quiet: true,
        verbose: false,
    };

    fn plan_of(steps: Vec<Step>, cleanup: Vec<Step>) -> Plan {
        Plan {
            steps: steps.into_iter().map(Task::from).collect(),
            cleanup: cleanup.into_iter().map(Task::from).collect(),
            ..Plan::default()
        }
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-exec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sh(label: &str, dir: &std::path::Path, script: String) -> Step {
        Step::new(label, "sh", dir).args(["-c".to_string(), script])
    }

    #[test]
    fn runs_steps_in_order_and_cleanup_after_a_failure() {
        let dir = temp("order");
        let log = dir.join("log");
        let plan = plan_of(
            vec![
                sh("first", &dir, format!("echo first >> {}", log.display())),
                sh("failing", &dir, "echo boom >&2; exit 3".to_string()).streamed(),
                sh("never", &dir, format!("echo never >> {}", log.display())),
            ],
            vec![sh(
                "cleanup",
                &dir,
                format!("echo cleanup >> {}", log.display()),
            )],
        );
        let err = run(&plan, &QUIET).unwrap_err();
        assert_eq!(format!("{err:#}"), "failing failed (exit 3)");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "first\ncleanup\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_included_plan_runs_in_place_with_its_cleanup_before_the_next_step() {
        let dir = temp("include");
        let log = dir.join("log");
        let echo = |label: &str| sh(label, &dir, format!("echo {label} >> {}", log.display()));
        let inner = Plan {
            locks: vec![Lock {
                path: dir.join("inner.lock"),
                holder: "another inner".into(),
            }],
            steps: vec![echo("inner").into()],
            cleanup: vec![echo("inner-cleanup").into()],
            ..Plan::default()
        };
        let mut plan = plan_of(vec![echo("first")], vec![echo("outer-cleanup")]);
        plan.include("the inner plan", inner.clone());
        plan.push(echo("last"));
        run(&plan, &QUIET).unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "first\ninner\ninner-cleanup\nlast\nouter-cleanup\n"
        );
        // Its lock was released when it ended: the same plan runs again at once.
        run(&plan_of_included(inner), &QUIET).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn plan_of_included(inner: Plan) -> Plan {
        let mut plan = Plan::default();
        plan.include("again", inner);
        plan
    }

    #[test]
    fn a_plan_whose_lock_is_held_elsewhere_is_not_run_by_run_unless_locked() {
        let dir = temp("busy");
        let lock_path = dir.join("proto.lock");
        let made = dir.join("made");
        let plan = Plan {
            locks: vec![Lock {
                path: lock_path.clone(),
                holder: "proto".into(),
            }],
            steps: vec![sh("make", &dir, format!("touch {}", made.display())).into()],
            cleanup: vec![action("tidy up", RemoveTree(dir.join("nothing")))],
            ..Plan::default()
        };
        let held = lock::try_acquire(&lock_path).unwrap().unwrap();
        assert!(run_unless_locked(&plan, &QUIET).unwrap().is_none());
        assert!(!made.exists());
        drop(held);
        assert!(run_unless_locked(&plan, &QUIET).unwrap().is_some());
        assert!(made.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_step_is_skipped_when_its_result_exists_at_its_turn() {
        let dir = temp("skip");
        let made = dir.join("made");
        let make = Step::new("make", "sh", &dir)
            .args(["-c", "echo once >> made"])
            .unless_exists(&made);
        // Made by the first step of the very plan: the second is skipped at its turn.
        run(&plan_of(vec![make.clone(), make], vec![]), &QUIET).unwrap();
        assert_eq!(std::fs::read_to_string(&made).unwrap(), "once\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn captured_failure_reports_the_last_stderr_line() {
        let step = Step::new("probe", "sh", "/")
            .args(["-c", "echo one >&2; echo 'the reason' >&2; exit 1"]);
        let err = run(&plan_of(vec![step], vec![]), &QUIET).unwrap_err();
        assert_eq!(err.to_string(), "probe failed (exit 1): the reason");
    }

    #[test]
    fn serialized_steps_never_overlap() {
        let dir = temp("lock");
        let lock = dir.join("build.lock");
        let log = dir.join("log");
        // Each step appends "start", sleeps, appends "end"; overlapping runs would interleave.
        let script = format!(
            "echo start >> {0}; sleep 0.3; echo end >> {0}",
            log.display()
        );
        let runs: Vec<_> = (0..3)
            .map(|_| {
                let step = Step::new("locked", "sh", &dir)
                    .args(["-c", &script])
                    .serialized(&lock);
                std::thread::spawn(move || run(&plan_of(vec![step], vec![]), &QUIET).unwrap())
            })
            .collect();
        for handle in runs {
            handle.join().unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "start\nend\n".repeat(3)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn step_env_is_applied_with_path_expanded() {
        let step = Step::new("env", "sh", "/")
            .args([
                "-c",
                r#"test "$GREETING" = hi && test "$PATH" = "/nowhere:$ORIGINAL_PATH""#,
            ])
            .envs([("GREETING", "hi"), ("PATH", "/nowhere:$PATH")])
            .envs([("ORIGINAL_PATH", std::env::var("PATH").unwrap())]);
        run(&plan_of(vec![step], vec![]), &QUIET).unwrap();
    }

    #[test]
    fn on_failure_runs_only_after_a_failure_and_before_the_cleanup() {
        let dir = temp("on-failure");
        let log = dir.join("log");
        let echo = |label: &str| sh(label, &dir, format!("echo {label} >> {}", log.display()));
        let mut plan = plan_of(vec![echo("step")], vec![echo("cleanup")]);
        plan.on_failure = vec![echo("undo").into()];
        run(&plan, &QUIET).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "step\ncleanup\n");
        std::fs::remove_file(&log).unwrap();
        plan.push(sh("failing", &dir, "exit 1".into()));
        run(&plan, &QUIET).unwrap_err();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "step\nundo\ncleanup\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_followed_step_runs_again_while_its_probe_soon_prints() {
        let dir = temp("again");
        let log = dir.join("log");
        // The probe says "again" twice, then nothing: three runs in all.
        let probe = sh(
            "two more",
            &dir,
            "n=$(cat count 2>/dev/null || echo 0); [ \"$n\" -lt 2 ] && echo $((n + 1)) > count && echo again; true".into(),
        );
        let follow = sh("follow", &dir, format!("echo run >> {}", log.display()))
            .streamed()
            .again_while(crate::plan::Again {
                probe,
                within: std::time::Duration::from_millis(300),
            });
        let started = Instant::now();
        run(&plan_of(vec![follow], vec![]), &QUIET).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "run\n".repeat(3));
        // The last wait gave up after about `within`.
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
