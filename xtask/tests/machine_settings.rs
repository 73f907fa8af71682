//! This machine's settings file ($XDG_CONFIG_HOME/pixie/settings.yaml, else
//! ~/.config/pixie/settings.yaml): what `.ci/provision` writes through `config --set-machine`,
//! what every checkout of the machine reads, and where it stands among the layers (flag > env >
//! checkout-local > machine > pixie.yaml > default). Needs no Docker engine.

use std::path::Path;
use std::process::Command;

use xtask::testkit::{ok, scratch_dir, text, workspace_copy, RemoveDir};

fn xtask() -> Command {
    xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"))
}

/// `config` in the checkout `ws` on the machine whose config home is `home`.
fn config(
    ws: &Path,
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let out = xtask()
        .arg("config")
        .args(args)
        .env("PIXIE_WORKSPACE", ws)
        .env("XDG_CONFIG_HOME", home)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

/// The row of `key` in `config`'s text, its spaces squeezed.
fn row(stdout: &str, key: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{key} ")))
        .unwrap_or_else(|| panic!("{key} missing:\n{stdout}"));
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn set_machine_writes_the_file_every_checkout_of_the_machine_reads() {
    let home = scratch_dir("every-checkout");
    let _home = RemoveDir(home.clone());
    let first = workspace_copy("machine-first");
    let _first = RemoveDir(first.clone());
    let second = workspace_copy("machine-second");
    let _second = RemoveDir(second.clone());
    // Written from one checkout…
    let (code, stdout, stderr) = config(
        &first,
        &home,
        &[
            "--set-machine",
            "base_images.go=pixie-base/go:9",
            "--set-machine",
            "base_images.runtime=pixie-base/rt:9",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "");
    let file = home.join("pixie/settings.yaml");
    assert!(
        stderr.contains(&format!(
            "base_images.go, base_images.runtime set in {}",
            file.display()
        )),
        "{stderr}"
    );
    // …another key later keeps the first two…
    config(
        &first,
        &home,
        &["--set-machine", "run.http_port=18080"],
        &[],
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("  go: pixie-base/go:9\n") && text.contains("  http_port: '18080'\n"),
        "{text}"
    );
    // …and the second checkout reads all of it, saying where it came from.
    let (code, stdout, stderr) = config(&second, &home, &[], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let machine = format!("# {} (this machine's)", file.display());
    assert_eq!(
        row(&stdout, "base_images.go"),
        format!("base_images.go pixie-base/go:9 {machine}")
    );
    assert_eq!(
        row(&stdout, "run.http_port"),
        format!("run.http_port 18080 {machine}")
    );
    assert_eq!(
        ok(xtask()
            .args(["config", "--get", "base_images.runtime"])
            .env("PIXIE_WORKSPACE", &second)
            .env("XDG_CONFIG_HOME", &home)),
        "pixie-base/rt:9"
    );
}

#[test]
fn the_checkout_and_the_environment_beat_the_machine_which_beats_pixie_yaml() {
    let home = scratch_dir("precedence");
    let _home = RemoveDir(home.clone());
    let ws = workspace_copy("machine-precedence");
    let _ws = RemoveDir(ws.clone());
    std::fs::create_dir_all(home.join("pixie")).unwrap();
    std::fs::write(
        home.join("pixie/settings.yaml"),
        "base_images:\n  go: machine/go:1\n  runtime: machine/rt:1\nrun:\n  bind: 127.0.0.2\n  grpc_port: 19090\n",
    )
    .unwrap();
    std::fs::write(
        ws.join("deployments/pixie.local.yaml"),
        "base_images:\n  go: checkout/go:1\n",
    )
    .unwrap();
    let (code, stdout, stderr) = config(
        &ws,
        &home,
        &["--http-port", "18081"],
        &[("PIXIE_BIND", "127.0.0.3")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let machine = format!(
        "# {} (this machine's)",
        home.join("pixie/settings.yaml").display()
    );
    assert_eq!(
        row(&stdout, "base_images.go"),
        "base_images.go checkout/go:1 # deployments/pixie.local.yaml"
    );
    assert_eq!(
        row(&stdout, "base_images.runtime"),
        format!("base_images.runtime machine/rt:1 {machine}")
    );
    assert_eq!(
        row(&stdout, "run.bind"),
        "run.bind 127.0.0.3 # env PIXIE_BIND"
    );
    assert_eq!(
        row(&stdout, "run.grpc_port"),
        format!("run.grpc_port 19090 {machine}")
    );
    assert_eq!(
        row(&stdout, "run.http_port"),
        "run.http_port 18081 # flag --http-port"
    );
    assert_eq!(
        row(&stdout, "images.prod"),
        "images.prod pixie-core:latest # deployments/pixie.yaml"
    );
}

#[test]
fn a_bad_assignment_or_machine_file_is_a_usage_error_naming_the_fix_and_writes_nothing() {
    let home = scratch_dir("bad");
    let _home = RemoveDir(home.clone());
    let ws = xtask::testkit::repo_root();
    for (assignment, message) in [
        ("base_images.og=x", "error: invalid value 'base_images.og=x' for '--set-machine <KEY=VALUE>': `base_images.og` is not a setting; did you mean base_images.go? (`cargo xtask config` lists them)"),
        ("run.http_port=eighty", "error: invalid value 'run.http_port=eighty' for '--set-machine <KEY=VALUE>': run.http_port: expected a port 1-65535, found `eighty`"),
        ("base_images.go", "error: invalid value 'base_images.go' for '--set-machine <KEY=VALUE>': `base_images.go` is not KEY=VALUE, such as base_images.go=pixie-base/go:1.26.8"),
    ] {
        let (code, _, stderr) = config(&ws, &home, &["--set-machine", assignment], &[]);
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(stderr.lines().next(), Some(message), "{stderr}");
    }
    assert!(
        !home.join("pixie").exists(),
        "a refused assignment wrote something"
    );
    // A broken machine file fails every command with the same exit code as a bad flag.
    std::fs::create_dir_all(home.join("pixie")).unwrap();
    let file = home.join("pixie/settings.yaml");
    std::fs::write(&file, "run:\n  http_port: 1\n  http_port: 2\n").unwrap();
    let (code, _, stderr) = config(&ws, &home, &[], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: {} is invalid: run.http_port is set twice (lines 2 and 3); keep one\n",
            file.display()
        )
    );
}

#[test]
fn set_machine_in_a_dry_run_prints_the_file_it_would_write_and_writes_nothing() {
    let home = scratch_dir("dry");
    let _home = RemoveDir(home.clone());
    let (code, stdout, stderr) = config(
        &xtask::testkit::repo_root(),
        &home,
        &["-n", "--set-machine", "base_images.go=pixie-base/go:9"],
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let file = home.join("pixie/settings.yaml");
    assert!(
        stdout.starts_with(&format!("# write this machine's settings file\ncat > {} <<'EOF'\n# This machine's pixie settings", file.display()))
            && stdout.ends_with("base_images:\n  go: pixie-base/go:9\nEOF\n"),
        "{stdout}"
    );
    assert!(!file.exists());
}
