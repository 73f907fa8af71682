//! `run-dev --stack full`: core and the thumbnailer plugin hot-reload independently (each from
//! the dev image with its own air), a save restarts only the process that is built from the
//! saved file, and no reload recreates a container.

use std::time::Duration;

use xtask::testkit::docker::{container_logs, docker, inspect, require_engine, TestProject};
use xtask::testkit::{wait_for, RemoveDir};

use crate::run_dev::{edit_default_version, edit_version_in, RunDev};

/// Every container of the dev stack.
const SERVICES: [&str; 5] = ["postgres", "s3", "nats", "core", "thumbnailer"];

#[test]
fn run_dev_stack_full_hot_reloads_core_and_the_plugin_each_alone() {
    require_engine();
    let ws = xtask::testkit::workspace_copy("run-dev-stack");
    let _remove = RemoveDir(ws.clone());
    let project = TestProject::new("xtask-stack-dev", "dev-stack");
    let state = ws.join("state").display().to_string();
    let env = [("PIXIE_STACK", "full"), ("XDG_STATE_HOME", state.as_str())];
    let mut run = RunDev::start(&ws, &project.prefix, crate::dev_image(), &env);
    // Core may serve before the plugin's first build is done; the xtask waits for both.
    let first = wait_for(Duration::from_secs(600), || {
        run.log()
            .contains("thumbnailer ready in ")
            .then(|| run.version())
            .flatten()
    });
    assert!(
        first.is_some(),
        "run-dev --stack full never served:\n{}",
        run.log()
    );
    let containers = || {
        SERVICES.map(|service| {
            let id = project.service_container(service);
            inspect(&id, "{{.Id}} {{.State.StartedAt}}")
        })
    };
    // How often each process started in its container: air logs its `serving` line each time.
    let starts = |service: &str, line: &str| {
        container_logs(&project.service_container(service))
            .matches(line)
            .count()
    };
    let core_starts = || starts("core", "\"msg\":\"pixie-core serving\"");
    let plugin_starts = || starts("thumbnailer", "\"msg\":\"pixie-thumbnailer serving\"");
    let plugin_version = || {
        let id = project.service_container("thumbnailer");
        let url = "http://127.0.0.1:8081/version";
        let out = docker()
            .args(["exec", &id, "wget", "-qO-", url])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let before = containers();
    let plugin_started = plugin_starts();
    assert_eq!(plugin_started, 1, "{}", run.log());

    // A save in core's own code: core restarts, the plugin does not.
    edit_default_version(&ws, "dev-stack-reloaded");
    let reloaded = wait_for(Duration::from_secs(60), || {
        run.version().filter(|b| b.contains("dev-stack-reloaded"))
    });
    assert!(reloaded.is_some(), "edit not served:\n{}", run.log());
    // As long as core's reload took: a watching air would have restarted the plugin by now.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        plugin_starts(),
        plugin_started,
        "a save in core/internal restarted the plugin"
    );

    // A save in the plugin: the plugin restarts, core does not.
    let core_started = core_starts();
    edit_version_in(
        &ws,
        "plugins/thumbnailer/internal/buildinfo/buildinfo.go",
        "plugin-reloaded",
    );
    let plugin_reloaded = wait_for(Duration::from_secs(120), || {
        plugin_version().filter(|v| v.contains("plugin-reloaded"))
    });
    assert!(
        plugin_reloaded.is_some(),
        "the plugin's edit not served:\n{}",
        container_logs(&project.service_container("thumbnailer"))
    );
    assert_eq!(plugin_starts(), plugin_started + 1);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        core_starts(),
        core_started,
        "a save in the plugin restarted core"
    );
    assert!(run
        .version()
        .is_some_and(|v| v.contains("dev-stack-reloaded")));
    assert_eq!(containers(), before, "a hot reload recreated a container");
    run.interrupt(&project);
}
