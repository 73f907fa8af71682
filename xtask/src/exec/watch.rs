//! Keeps generated code following its sources while a streamed step runs (run-dev regenerates
//! proto/gen when a .proto file is saved): poll a fingerprint of the sources, wait for a save
//! burst to settle, run the regeneration plan (unless another run holds its lock), say how it
//! went in one line.
//! Polling, not inotify: no crate, and it works on every filesystem and engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::plan::Watch;
use crate::signals::{interrupted, Interrupted};
use crate::ui::Ui;

/// How often the sources are looked at; a regeneration starts one to two of these after a save.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Path, modification time and size of every source file: what a save changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint(BTreeMap<PathBuf, (Option<SystemTime>, u64)>);

impl Fingerprint {
    /// The files ending in `.{extension}` under `dir`; a file that vanishes while it is read is
    /// left out (the next poll sees the rest of the save).
    pub fn of(dir: &Path, extension: &str) -> Fingerprint {
        let files = crate::fsutil::walk(dir).unwrap_or_default();
        Fingerprint(
            files
                .into_iter()
                .filter(|path| path.extension().is_some_and(|e| e == extension))
                .filter_map(|path| {
                    let meta = std::fs::metadata(&path).ok()?;
                    Some((path, (meta.modified().ok(), meta.len())))
                })
                .collect(),
        )
    }
}

/// Turns the fingerprint seen at each poll into "regenerate now": after a change, once a poll
/// sees nothing new, so an editor's burst (truncate, write, rename) gives one regeneration.
#[derive(Debug)]
pub struct Debounce {
    last: Fingerprint,
    pending: bool,
}

impl Debounce {
    pub fn new(start: Fingerprint) -> Debounce {
        Debounce {
            last: start,
            pending: false,
        }
    }

    /// Whether to regenerate after this poll's fingerprint.
    pub fn settled(&mut self, now: Fingerprint) -> bool {
        if now != self.last {
            self.last = now;
            self.pending = true;
            return false;
        }
        std::mem::take(&mut self.pending)
    }

    /// The regeneration could not start (its lock was busy): try again at the next poll.
    pub fn retry(&mut self) {
        self.pending = true;
    }
}

/// Watches beside a running child until `done` is set (or Ctrl-C); the caller joins it, so a
/// regeneration under way finishes (and removes its staging tree) before the xtask exits.
pub fn spawn(watch: Watch, ui: Ui, done: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut debounce = Debounce::new(Fingerprint::of(&watch.dir, watch.extension));
        while !done.load(Ordering::SeqCst) && !interrupted() {
            std::thread::sleep(POLL_INTERVAL);
            let now = Fingerprint::of(&watch.dir, watch.extension);
            if !debounce.settled(now) {
                continue;
            }
            match regenerate(&watch, ui) {
                Outcome::Busy => debounce.retry(),
                Outcome::Interrupted => return,
                Outcome::Regenerated(line) => ui.info(line),
                // Like any error, shown even with -q.
                Outcome::Failed(line) => crate::ui::note(format_args!("xtask: {line}")),
            }
        }
    })
}

enum Outcome {
    /// Another run holds the lock (a `cargo xtask proto` beside run-dev).
    Busy,
    Interrupted,
    /// The one line that says so.
    Regenerated(String),
    Failed(String),
}

fn regenerate(watch: &Watch, ui: Ui) -> Outcome {
    let changed = format!(
        "{}/ changed",
        watch.dir.file_name().unwrap_or_default().to_string_lossy()
    );
    let label = &watch.label;
    let plan = match &watch.plan {
        Ok(plan) => plan,
        Err(why) => return Outcome::Failed(not_regenerated(&changed, label, why)),
    };
    let started = Instant::now();
    match super::run_unless_locked(plan, &ui.inner()) {
        Ok(None) => Outcome::Busy,
        Ok(Some(_)) => Outcome::Regenerated(format!(
            "{changed}: {label} regenerated in {} ms",
            started.elapsed().as_millis()
        )),
        Err(e) if e.is::<Interrupted>() => Outcome::Interrupted,
        Err(e) => Outcome::Failed(not_regenerated(&changed, label, &format!("{e:#}"))),
    }
}

fn not_regenerated(changed: &str, label: &str, why: &str) -> String {
    format!("{changed}, but {label} was not regenerated: {why}; fix that and save again (the service keeps its last good build)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Lock, Plan, Step};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("photo/v1")).unwrap();
        dir
    }

    /// A later modification time than any write before it, whatever the filesystem's clock
    /// granularity: a save that keeps the size must still be seen.
    fn touch_later(path: &Path) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        let later = std::fs::metadata(path).unwrap().modified().unwrap() + Duration::from_secs(2);
        file.set_modified(later).unwrap();
    }

    #[test]
    fn a_saved_proto_is_seen_once_it_settles_and_other_files_are_ignored() {
        let dir = temp_dir("fingerprint");
        let proto = dir.join("photo/v1/photo.proto");
        std::fs::write(&proto, "syntax = \"proto3\";\n").unwrap();
        let mut debounce = Debounce::new(Fingerprint::of(&dir, "proto"));
        assert!(
            !debounce.settled(Fingerprint::of(&dir, "proto")),
            "no change"
        );

        std::fs::write(dir.join("photo/v1/README.md"), "notes").unwrap();
        std::fs::write(dir.join("photo/v1/photo.proto.swp"), "editor").unwrap();
        assert!(
            !debounce.settled(Fingerprint::of(&dir, "proto")),
            "not a .proto"
        );
        assert!(!debounce.settled(Fingerprint::of(&dir, "proto")));

        // Same size, later mtime: a change, reported once the next poll sees nothing new.
        touch_later(&proto);
        assert!(
            !debounce.settled(Fingerprint::of(&dir, "proto")),
            "still settling"
        );
        assert!(debounce.settled(Fingerprint::of(&dir, "proto")), "settled");
        assert!(
            !debounce.settled(Fingerprint::of(&dir, "proto")),
            "only once"
        );

        // A burst: each poll sees more, so nothing runs until it stops.
        std::fs::write(&proto, "syntax = \"proto3\";\npackage a;\n").unwrap();
        assert!(!debounce.settled(Fingerprint::of(&dir, "proto")));
        std::fs::write(&proto, "syntax = \"proto3\";\npackage ab;\n").unwrap();
        assert!(!debounce.settled(Fingerprint::of(&dir, "proto")));
        assert!(debounce.settled(Fingerprint::of(&dir, "proto")));

        // A busy lock puts the regeneration off to the next poll.
        debounce.retry();
        assert!(debounce.settled(Fingerprint::of(&dir, "proto")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_added_or_removed_proto_is_a_change() {
        let dir = temp_dir("added");
        std::fs::write(dir.join("photo/v1/photo.proto"), "a").unwrap();
        let mut debounce = Debounce::new(Fingerprint::of(&dir, "proto"));
        std::fs::write(dir.join("photo/v1/album.proto"), "b").unwrap();
        assert!(!debounce.settled(Fingerprint::of(&dir, "proto")));
        assert!(debounce.settled(Fingerprint::of(&dir, "proto")));
        std::fs::remove_file(dir.join("photo/v1/album.proto")).unwrap();
        assert!(!debounce.settled(Fingerprint::of(&dir, "proto")));
        assert!(debounce.settled(Fingerprint::of(&dir, "proto")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn watch_of(dir: &Path, plan: Result<Plan, String>) -> Watch {
        Watch {
            dir: dir.to_path_buf(),
            extension: "proto",
            label: "proto/gen".into(),
            plan,
        }
    }

    const QUIET: Ui = Ui {
        quiet: true,
        verbose: false,
    };

    fn said(outcome: Outcome) -> String {
        match outcome {
            Outcome::Regenerated(line) => format!("ok: {line}"),
            Outcome::Failed(line) => line,
            Outcome::Busy => "busy".into(),
            Outcome::Interrupted => "interrupted".into(),
        }
    }

    #[test]
    fn each_regeneration_says_in_one_line_how_it_went() {
        let dir = temp_dir("lines").join("proto");
        std::fs::create_dir_all(&dir).unwrap();
        let script = |s: &str| Step::new("protoc", "sh", &dir).args(["-c", s]);
        let lock = dir.join("proto.lock");
        let plan_of = |step: Step| Plan {
            locks: vec![Lock {
                path: lock.clone(),
                holder: "proto".into(),
            }],
            steps: vec![step.into()],
            ..Plan::default()
        };

        let ok = watch_of(&dir, Ok(plan_of(script("true"))));
        let line = said(regenerate(&ok, QUIET));
        let ms = line
            .strip_prefix("ok: proto/ changed: proto/gen regenerated in ")
            .and_then(|rest| rest.strip_suffix(" ms"))
            .unwrap_or_else(|| panic!("{line}"));
        assert!(ms.parse::<u64>().is_ok(), "{line}");

        let broken = watch_of(
            &dir,
            Ok(plan_of(script(
                "echo 'photo/v1/photo.proto:9:1: Expected \";\".' >&2; exit 1",
            ))),
        );
        assert_eq!(
            said(regenerate(&broken, QUIET)),
            "proto/ changed, but proto/gen was not regenerated: protoc failed (exit 1): \
             photo/v1/photo.proto:9:1: Expected \";\".; fix that and save again (the service \
             keeps its last good build)"
        );

        let no_go = watch_of(&dir, Err("Go is not installed".into()));
        assert_eq!(
            said(regenerate(&no_go, QUIET)),
            "proto/ changed, but proto/gen was not regenerated: Go is not installed; fix that \
             and save again (the service keeps its last good build)"
        );

        let held = crate::lock::try_acquire(&lock).unwrap().unwrap();
        assert_eq!(said(regenerate(&ok, QUIET)), "busy");
        drop(held);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_watcher_ends_when_its_step_is_done() {
        let dir = temp_dir("done");
        let done = Arc::new(AtomicBool::new(false));
        let watcher = spawn(watch_of(&dir, Err("unused".into())), QUIET, done.clone());
        std::thread::sleep(POLL_INTERVAL);
        let asked = Instant::now();
        done.store(true, Ordering::SeqCst);
        watcher.join().unwrap();
        assert!(asked.elapsed() < POLL_INTERVAL * 2, "{:?}", asked.elapsed());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
