//! The thumbnailer plugin as a service of `--stack full`, through the real stack (called from
//! `stack.rs`'s test, which shares its stack): an upload's thumbnails appear in S3 and Postgres
//! and core serves them; the plugin killed mid-render gets the event again once it is back and
//! makes exactly one set; a poison original lands on the dead-letter stream and the plugin goes
//! on; a delete removes the thumbnails; `restart thumbnailer` keeps every other container.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use xtask::testkit::docker::{container_logs, docker, inspect};
use xtask::testkit::http::get;
use xtask::testkit::png::png_rgb;
use xtask::testkit::{json, ok, wait_for};

use crate::stack::Stack;

/// The sizes the plugin renders by default (PIXIE_THUMBNAIL_SIZES).
const SIZES: [u32; 2] = [256, 1024];

/// How long the plugin may take to render a small photo (its first event waits for its start).
const RENDERED_WITHIN: Duration = Duration::from_secs(60);

/// How long a killed render waits for its redelivery: the plugin's ack wait (30 s by default),
/// then the render.
const REDELIVERED_WITHIN: Duration = Duration::from_secs(120);

pub fn thumbnails_through_the_plugin(stack: &Stack) {
    // An upload: its thumbnails in S3 and Postgres, then served by core as stored.
    let good = stack.upload_png(&png_rgb(640, 480, |x, y| [x as u8, y as u8, 7]));
    wait_one_set(stack, &good, RENDERED_WITHIN);
    for size in SIZES {
        let served = get(
            stack.http,
            &format!("/api/photos/{good}/thumbnail?size={size}"),
        )
        .unwrap();
        assert_eq!(served.status, 200, "{}", served.text());
        assert!(
            served.body == thumbnail_object(stack, &good, size),
            "core did not serve the plugin's {size} thumbnail of {good}"
        );
    }

    // Killed mid-render: nothing stored; once it is back the event comes again, one set.
    let plugin = stack.container("thumbnailer");
    let big = png_rgb(3000, 3000, |x, y| {
        [(x / 12) as u8, (y / 12) as u8, (x ^ y) as u8]
    });
    let rendering = RenderWatch::start(&plugin);
    let killed = stack.upload_png(&big);
    rendering.kill_when_rendering(&plugin, &killed);
    let before_kill = container_logs(&plugin);
    assert!(
        !stored_line(&before_kill, &killed),
        "the render of {killed} finished before the kill; the test proves nothing:\n{before_kill}"
    );
    // Killed is stopped: the restart policy leaves it so.
    assert_eq!(inspect(&plugin, "{{.State.Status}}"), "exited");

    // While it is down: a poison original (a valid PNG header, then nothing), as a damaged
    // object reads.
    let dead_before = dead_letters(stack);
    let poison = stack.upload_png(&png_rgb(64, 48, |x, y| [x as u8, y as u8, 1]));
    let original = format!("/data/pixie/originals/{poison}");
    stack.exec_ok("s3", &["truncate", "-s", "60", &original]);

    // Back, through the xtask: every other container keeps its ID.
    let others = other_containers(stack);
    let restarted = stack.xtask_ok(&["restart", "thumbnailer"]);
    assert!(restarted.contains("thumbnailer ready in "), "{restarted}");
    assert_eq!(
        other_containers(stack),
        others,
        "restart thumbnailer touched another container"
    );
    let plugin = stack.container("thumbnailer");

    // The poison is dead-lettered and the plugin goes on: the next upload gets its thumbnails.
    let next = stack.upload_png(&png_rgb(320, 240, |x, y| [y as u8, 9, x as u8]));
    wait_one_set(stack, &next, RENDERED_WITHIN);
    let dead = wait_for(RENDERED_WITHIN, || {
        (dead_letters(stack) == dead_before + 1).then_some(())
    });
    assert!(
        dead.is_some(),
        "no dead letter for {poison}:\n{}",
        container_logs(&plugin)
    );
    let logs = container_logs(&plugin);
    assert!(
        logs.lines()
            .any(|l| l.contains("event dead-lettered") && l.contains(&poison)),
        "{logs}"
    );
    assert_eq!(thumbnail_rows(stack, &poison), 0);

    // The killed render's event, delivered again: exactly one set.
    wait_one_set(stack, &killed, REDELIVERED_WITHIN);

    // A delete removes the thumbnails: the rows with the photo, the objects by the plugin.
    stack.delete(&good);
    let gone = wait_for(RENDERED_WITHIN, || {
        thumbnail_objects(stack, &good).is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "{:?} left after the delete",
        thumbnail_objects(stack, &good)
    );
    assert_eq!(thumbnail_rows(stack, &good), 0);
}

/// Waits until photo `id` has exactly one thumbnail per size, in Postgres and in S3.
fn wait_one_set(stack: &Stack, id: &str, within: Duration) {
    let expected: Vec<String> = {
        let mut names: Vec<String> = SIZES.iter().map(|s| format!("{s}.jpg")).collect();
        names.sort();
        names
    };
    let done = wait_for(within, || {
        (thumbnail_rows(stack, id) == SIZES.len() && thumbnail_objects(stack, id) == expected)
            .then_some(())
    });
    assert!(
        done.is_some(),
        "{id}: rows {}, objects {:?}, want one per size {SIZES:?}:\n{}",
        thumbnail_rows(stack, id),
        thumbnail_objects(stack, id),
        container_logs(&stack.container("thumbnailer"))
    );
}

fn thumbnail_rows(stack: &Stack, id: &str) -> usize {
    let count = stack.sql(&format!(
        "select count(*) from thumbnails where photo_id = '{id}'"
    ));
    count.parse().unwrap()
}

/// The objects under `thumbnails/<id>/` in the S3 server's bucket folder, sorted.
fn thumbnail_objects(stack: &Stack, id: &str) -> Vec<String> {
    let dir = format!("/data/pixie/thumbnails/{id}");
    let out = stack.exec("s3", &["ls", "-1", &dir]);
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    names
}

fn thumbnail_object(stack: &Stack, id: &str, size: u32) -> Vec<u8> {
    let path = format!("/data/pixie/thumbnails/{id}/{size}.jpg");
    let out = stack.exec("s3", &["cat", &path]);
    assert!(out.status.success(), "no {path}");
    out.stdout
}

/// Messages in JetStream's dead-letter stream, as the NATS server's monitoring port counts them.
fn dead_letters(stack: &Stack) -> u64 {
    let url = "http://127.0.0.1:8222/jsz?streams=true";
    let jsz = stack.exec_ok("nats", &["wget", "-qO-", url]);
    stream_messages(&json(&jsz), "PIXIE_DEADLETTER").unwrap_or(0)
}

/// The message count of stream `name` anywhere in a /jsz document.
fn stream_messages(value: &serde_json::Value, name: &str) -> Option<u64> {
    match value {
        serde_json::Value::Object(map)
            if map.get("name").and_then(|n| n.as_str()) == Some(name) =>
        {
            map.get("state")?.get("messages")?.as_u64()
        }
        serde_json::Value::Object(map) => map.values().find_map(|v| stream_messages(v, name)),
        serde_json::Value::Array(list) => list.iter().find_map(|v| stream_messages(v, name)),
        _ => None,
    }
}

/// Whether the logs say photo `id`'s thumbnails were stored.
fn stored_line(logs: &str, id: &str) -> bool {
    logs.lines()
        .any(|l| l.contains("\"msg\":\"thumbnails stored\"") && l.contains(id))
}

/// Each container of the stack but the plugin's: ID and start time.
fn other_containers(stack: &Stack) -> Vec<String> {
    ["postgres", "s3", "nats", "core"]
        .iter()
        .map(|service| inspect(&stack.container(service), "{{.Id}} {{.State.StartedAt}}"))
        .collect()
}

/// The processes of a container as the host sees them: its main process and every descendant.
/// The test runs as root beside the engine (as CI does), so they are in the host's /proc.
struct RenderWatch {
    main: u32,
    before: BTreeSet<u32>,
}

impl RenderWatch {
    fn start(container: &str) -> RenderWatch {
        let main = inspect(container, "{{.State.Pid}}").parse().unwrap();
        RenderWatch {
            main,
            before: descendants(main),
        }
    }

    /// Stops `container` the moment it starts rendering: each render decodes in a child process
    /// of the plugin's, so the first new descendant is the render. The container is frozen on
    /// the spot from the host (SIGSTOP to each of its processes: no CLI start or log polling,
    /// which took longer on Podman than a 9 Mpx render), then killed through the engine, which
    /// leaves it stopped. Its logs must say it was rendering photo `id`.
    fn kill_when_rendering(self, container: &str, id: &str) {
        let deadline = Instant::now() + RENDERED_WITHIN;
        let rendering = loop {
            let now = descendants(self.main);
            if now.difference(&self.before).next().is_some() {
                break now;
            }
            assert!(
                Instant::now() < deadline,
                "the plugin never started rendering {id}:\n{}",
                container_logs(container)
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        for pid in std::iter::once(self.main).chain(rendering) {
            // SAFETY: kill(2) with a pid and a signal number has no memory effects.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) };
        }
        ok(docker().args(["kill", container]));
        let logs = container_logs(container);
        assert!(
            logs.lines()
                .any(|l| l.contains("\"msg\":\"rendering\"") && l.contains(id)),
            "the plugin was stopped, but not while rendering {id}:\n{logs}"
        );
    }
}

/// Every process below `pid` (children, their children, …), from /proc.
fn descendants(pid: u32) -> BTreeSet<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so after the last ')'.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
        {
            parent_of.push((child, ppid));
        }
    }
    let mut found = BTreeSet::new();
    let mut pending = vec![pid];
    while let Some(parent) = pending.pop() {
        for &(child, ppid) in &parent_of {
            if ppid == parent && found.insert(child) {
                pending.push(child);
            }
        }
    }
    found
}
