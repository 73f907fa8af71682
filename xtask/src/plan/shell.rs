//! A plan as shell text, for `--dry-run`: every line a POSIX shell can parse (a test runs
//! `bash -n` over every command's dry run), each child process a copy-pasteable line, the
//! xtask's own work as its nearest shell equivalent or a `# (xtask) …` comment.

use std::path::PathBuf;

use super::{Plan, Step, Task, Watch};

/// The whole plan: notes, locks, steps (included plans in place), cleanup.
pub fn plan_text(plan: &Plan) -> String {
    let mut printer = Printer::default();
    printer.plan(plan, 0);
    printer.out
}

/// A step's child process as one line: its env, program and arguments, quoted.
pub fn step_line(step: &Step) -> String {
    let mut words: Vec<String> = step
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", quote_env(v)))
        .collect();
    words.push(quote(&step.program.to_string_lossy()));
    words.extend(step.args.iter().map(|a| quote(a)));
    match &step.unless_exists {
        Some(path) => format!(
            "[ -e {} ] || {}",
            quote(&path.to_string_lossy()),
            words.join(" ")
        ),
        None => words.join(" "),
    }
}

#[derive(Default)]
struct Printer {
    out: String,
    /// The folder the last `cd` line moved to.
    cwd: Option<PathBuf>,
}

impl Printer {
    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn comment(&mut self, text: &str) {
        let line = format!("# {}", comment(text));
        self.line(&line);
    }

    /// `depth`: how deep the plan is included; its locks get descriptors 9, 8, … by depth.
    fn plan(&mut self, plan: &Plan, depth: usize) {
        for note in &plan.notes {
            self.comment(note);
        }
        let descriptors: Vec<usize> = (0..plan.locks.len()).map(|i| 9 - depth - i).collect();
        for (lock, fd) in plan.locks.iter().zip(&descriptors) {
            self.comment(&format!(
                "hold {} until the cleanup below ends (waits while {} holds it)",
                lock.path.display(),
                lock.holder
            ));
            let line = format!(
                "exec {fd}>>{} && flock {fd}",
                quote(&lock.path.to_string_lossy())
            );
            self.line(&line);
        }
        for task in &plan.steps {
            self.task(task, depth + plan.locks.len());
        }
        if !plan.on_failure.is_empty() {
            self.comment("only if a step above fails (or on Ctrl-C):");
        }
        for task in &plan.on_failure {
            self.task(task, depth + plan.locks.len());
        }
        if !plan.cleanup.is_empty() {
            self.comment("always, after the steps above (also on failure or Ctrl-C):");
        }
        for task in &plan.cleanup {
            self.task(task, depth + plan.locks.len());
        }
        for fd in descriptors.iter().rev() {
            self.line(&format!("exec {fd}>&-"));
        }
    }

    fn task(&mut self, task: &Task, depth: usize) {
        match task {
            Task::Do { label, action } => {
                self.comment(label);
                for line in action.shell_line().lines() {
                    self.line(line);
                }
            }
            Task::Include { label, plan } => {
                self.comment(&format!("{label}:"));
                self.plan(plan, depth);
                self.comment(&format!("(end of: {label})"));
            }
            Task::Run(step) => self.step(step),
        }
    }

    fn step(&mut self, step: &Step) {
        if self.cwd.as_ref() != Some(&step.cwd) {
            self.line(&format!("cd {}", quote(&step.cwd.to_string_lossy())));
            self.cwd = Some(step.cwd.clone());
        }
        self.comment(&step.label);
        if let Some(lock) = &step.lock {
            self.comment(&format!(
                "(waits until no other step holds {})",
                lock.display()
            ));
        }
        match &step.again {
            Some(again) => {
                let wait = format!(
                    "until [ -n \"$({})\" ]; do sleep 0.2; done",
                    step_line(&again.probe)
                );
                self.line("while :; do");
                self.line(&step_line(step));
                self.comment(&format!(
                    "again if, within {} s: {}",
                    again.within.as_secs(),
                    again.probe.label
                ));
                self.line(&format!(
                    "timeout {} sh -c {} || break",
                    again.within.as_secs(),
                    quote(&wait)
                ));
                self.line("done");
            }
            None => self.line(&step_line(step)),
        }
        if let Some(ready) = &step.ready {
            self.comment(&format!(
                "(xtask) meanwhile: print `ready on {}` once {}{} answers 200",
                ready.url(),
                ready.url(),
                ready.path
            ));
        }
        if let Some(watch) = &step.watch {
            self.watch(watch);
        }
    }

    /// The meanwhile line of a watch, then what each change runs, as comments.
    fn watch(&mut self, watch: &Watch) {
        self.comment(&format!(
            "(xtask) meanwhile: on every change of a .{} file under {}, regenerate {}:",
            watch.extension,
            watch.dir.display(),
            watch.label
        ));
        match &watch.plan {
            Ok(plan) => {
                for line in plan_text(plan).lines() {
                    self.comment(&format!("  {line}"));
                }
            }
            Err(why) => self.comment(&format!("  (not on this machine: {why})")),
        }
    }
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
pub fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `KEY=VALUE ` words in front of a command, each value quoted (a `$PATH` left expandable).
pub fn env_words(env: &[(String, String)]) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={} ", quote_env(v)))
        .collect()
}

/// Like [`quote`], but leaves a `$PATH`-style reference expandable so that
/// `PATH=/shim:$PATH` stays meaningful when pasted.
fn quote_env(value: &str) -> String {
    match value.split_once("$PATH") {
        Some((head, tail)) => format!("{}\"$PATH\"{}", quote_part(head), quote_part(tail)),
        None => quote(value),
    }
}

fn quote_part(part: &str) -> String {
    if part.is_empty() {
        String::new()
    } else {
        quote(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{action, Action, ActionCx, Lock};

    #[derive(Debug, Clone, PartialEq)]
    struct Say(&'static str);

    impl Action for Say {
        fn shell_line(&self) -> String {
            self.0.to_string()
        }
        fn run(&self, _cx: &ActionCx) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("--build-arg"), "--build-arg");
        assert_eq!(quote("GO_IMAGE=golang:1.26"), "GO_IMAGE=golang:1.26");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
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
            ..Plan::default()
        };
        let text = plan.to_string();
        assert_eq!(text.matches("cd /w").count(), 1);
        assert!(text.starts_with("# docker: /usr/bin/docker\n"));
        assert!(text.contains("# always, after the steps above"));
        assert!(text.ends_with("# three\nc\n"));
    }

    #[test]
    fn locks_are_taken_first_and_released_last_and_included_plans_print_in_place() {
        let vendor = Plan {
            locks: vec![Lock {
                path: "/w/vendor.lock".into(),
                holder: "another vendor".into(),
            }],
            steps: vec![Step::new("go mod vendor", "go", "/w/core").into()],
            cleanup: vec![action("remove staging", Say("rm -rf /w/core/.vendor.new"))],
            ..Plan::default()
        };
        let mut plan = Plan::default();
        plan.include("refresh vendor/", vendor);
        plan.push(Step::new("build", "docker", "/w"));
        assert_eq!(
            plan.to_string(),
            "# refresh vendor/:\n\
             # hold /w/vendor.lock until the cleanup below ends (waits while another vendor holds it)\n\
             exec 9>>/w/vendor.lock && flock 9\n\
             cd /w/core\n# go mod vendor\ngo\n\
             # always, after the steps above (also on failure or Ctrl-C):\n\
             # remove staging\nrm -rf /w/core/.vendor.new\n\
             exec 9>&-\n\
             # (end of: refresh vendor/)\n\
             cd /w\n# build\ndocker\n"
        );
    }

    #[test]
    fn labels_and_notes_cannot_break_out_of_their_comment() {
        let plan = Plan {
            steps: vec![Step::new("build\nrm -rf /", "true", "/w").into()],
            notes: vec!["engine\r\ntouch /tmp/x".into()],
            ..Plan::default()
        };
        assert_eq!(
            plan.to_string(),
            "# engine\\r\\ntouch /tmp/x\ncd /w\n# build\\nrm -rf /\ntrue\n"
        );
    }

    #[test]
    fn a_watch_prints_as_a_meanwhile_line_with_its_plan_or_why_it_cannot_run() {
        let inner = Plan {
            locks: vec![Lock {
                path: "/w/proto.lock".into(),
                holder: "proto".into(),
            }],
            steps: vec![Step::new("protoc\nrm -rf /", "protoc", "/w")
                .arg("x.proto")
                .into()],
            ..Plan::default()
        };
        let watch = |plan| Watch {
            dir: "/w/proto".into(),
            extension: "proto",
            label: "proto/gen".into(),
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
                         file under /w/proto, regenerate proto/gen:\n";
        assert_eq!(
            up(Ok(inner)).to_string(),
            format!(
                "{meanwhile}#   # hold /w/proto.lock until the cleanup below ends (waits while proto holds it)\n\
                 #   exec 9>>/w/proto.lock && flock 9\n#   cd /w\n#   # protoc\\nrm -rf /\n\
                 #   protoc x.proto\n#   exec 9>&-\n"
            )
        );
        assert_eq!(
            up(Err("Go is not installed".into())).to_string(),
            format!("{meanwhile}#   (not on this machine: Go is not installed)\n")
        );
    }
}
