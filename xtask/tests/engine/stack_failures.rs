//! `--stack full` when something does not come up: a server that never becomes healthy is named
//! with its last log lines and the likely fix, a missing server image or a Postgres image without
//! `PG_MAJOR` is one line before anything starts, and a failed migration stops the run before
//! core starts; each time nothing of the run is left.

use crate::stack::Stack;
use xtask::testkit::docker::require_engine;

/// The NATS image of the settings: an image that runs, but no versitygw and no PG_MAJOR.
fn nats_image() -> String {
    let config = xtask::settings::Config::load(&xtask::testkit::repo_root(), &Vec::new()).unwrap();
    config.text(&xtask::settings::NATS_IMAGE).to_string()
}

#[test]
fn a_server_that_does_not_come_up_is_named_with_its_logs_and_nothing_stays() {
    require_engine();
    let stack = Stack::new("xtask-stack-bad", "prod-stack");
    // The NATS image has no versitygw: the s3 service cannot start.
    let nats = nats_image();
    let (succeeded, output) = stack.xtask(&["run-prod", "--detach"], &[("PIXIE_S3_IMAGE", &nats)]);
    assert!(!succeeded, "{output}");
    let line = output
        .lines()
        .find(|l| l.starts_with("error: s3 did not become healthy: "))
        .unwrap_or_else(|| panic!("no line naming s3:\n{output}"));
    assert!(
        line.contains("; its last log lines: ") && line.contains("versitygw"),
        "{line}"
    );
    assert!(
        line.ends_with("; service_images.s3 (PIXIE_S3_IMAGE) must name a versitygw image; `cargo xtask logs s3 --stack full` shows more"),
        "{line}"
    );
    stack.project.assert_gone(&output);
}

#[test]
fn a_missing_server_image_and_a_postgres_image_without_pg_major_are_one_line_errors() {
    require_engine();
    let stack = Stack::new("xtask-stack-images", "prod-stack");
    let last = |stderr: &str| stderr.trim_end().lines().last().unwrap_or("").to_string();
    let (succeeded, _, stderr) =
        stack.run(&["run-prod"], &[("PIXIE_S3_IMAGE", "pixie-missing/s3:1")]);
    assert!(!succeeded);
    assert_eq!(
        last(&stderr),
        "error: the s3 image pixie-missing/s3:1 is not on the engine and cannot be pulled; on a machine without a registry run `bash .ci/provision-stack-images`, or set service_images.s3 (PIXIE_S3_IMAGE) to an image the engine has"
    );
    let nats = nats_image();
    let (succeeded, _, stderr) = stack.run(&["run-prod"], &[("PIXIE_POSTGRES_IMAGE", &nats)]);
    assert!(!succeeded);
    assert_eq!(
        last(&stderr),
        format!("error: the Postgres image {nats} sets no PG_MAJOR, which names its data volume; set service_images.postgres (PIXIE_POSTGRES_IMAGE) to an image of the official postgres family or one built by .ci/provision-stack-images")
    );
    stack.project.assert_gone(&stderr);
}

#[test]
fn a_failed_migration_stops_the_run_before_core_starts() {
    require_engine();
    let stack = Stack::new("xtask-stack-migrate", "prod-stack");
    // Secrets made by hand, with a database URL core refuses: the migrate one-shot exits 2.
    let dir = stack.secrets();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, value) in [
        ("postgres_password", "pw0123456789abcdefghij"),
        ("s3_access_key", "AKIA0123456789ABCDEF"),
        ("s3_secret_key", "secret0123456789abcdefghijklmnopqrstuvwx"),
        ("database_url", "mysql://pixie@postgres/pixie"),
    ] {
        // Readable by everyone: core's user reads the URL without the one-shot's chown.
        std::fs::write(dir.join(name), value).unwrap();
    }
    let (succeeded, output) = stack.xtask(&["run-prod", "--detach"], &[]);
    assert!(!succeeded, "{output}");
    assert!(
        output.contains("error: apply core's migrations (pixie-core migrate) failed (exit 2)"),
        "{output}"
    );
    assert!(
        !output.contains("start pixie-core"),
        "core was started:\n{output}"
    );
    stack.project.assert_gone(&output);
}
