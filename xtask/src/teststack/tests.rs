use super::*;

fn fake_bins() -> Binaries {
    Binaries {
        postgres_bin: "/pg/bin".into(),
        nats_server: "/ci/nats-server".into(),
        versitygw: "/ci/versitygw".into(),
    }
}

#[test]
fn missing_binaries_are_named_with_the_fix() {
    let none = |_: &str| None;
    let message = Binaries::locate(|var| match var {
        "PIXIE_CI_POSTGRES_BIN" => Some("/nowhere/pg".into()),
        "PIXIE_CI_VERSITYGW" => Some("/nowhere/versitygw".into()),
        _ => none(var),
    })
    .unwrap_err();
    assert!(
        message.starts_with(
            "the stack suites need PostgreSQL 15, nats-server and versitygw, and PostgreSQL 15 (/nowhere/pg has no postgres), "
        ) && message.contains("versitygw (/nowhere/versitygw does not exist) missing; run `sudo bash .ci/provision-stack` and export the PIXIE_CI_* lines it prints"),
        "{message}"
    );
}

#[test]
fn the_suite_gets_every_address_the_binaries_and_required() {
    let servers = Servers::plan(fake_bins(), Path::new("/tmp")).unwrap();
    let env = servers.test_env();
    let value = |k: &str| {
        env.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        value("PIXIE_TEST_DATABASE_URL"),
        Some(
            format!(
                "postgres://pixie@127.0.0.1:{}/postgres?sslmode=disable",
                servers.postgres_port
            )
            .as_str()
        )
    );
    assert_eq!(
        value("PIXIE_TEST_NATS_URL"),
        Some(format!("nats://127.0.0.1:{}", servers.nats_port).as_str())
    );
    assert_eq!(value("PIXIE_TEST_VERSITYGW"), Some("/ci/versitygw"));
    assert_eq!(value("PIXIE_TEST_STACK_REQUIRED"), Some("1"));
    let ports = [
        servers.postgres_port,
        servers.s3_port,
        servers.nats_port,
        servers.nats_monitor_port,
    ];
    assert!(ports.iter().all(|p| *p > 0), "{ports:?}");
    assert!(
        servers
            .dir
            .to_string_lossy()
            .starts_with("/tmp/pixie-stack-"),
        "{}",
        servers.dir.display()
    );
}

#[test]
fn a_dry_run_plans_without_the_binaries_and_a_run_names_the_fix() {
    let missing = Err("the message".to_string());
    assert!(Servers::for_run(&missing, Path::new("/tmp"), true).is_ok());
    let error = Servers::for_run(&missing, Path::new("/tmp"), false).unwrap_err();
    assert_eq!(error.to_string(), "the message");
}

#[test]
fn stopping_what_never_started_is_no_error() {
    let servers = Servers::plan(fake_bins(), &std::env::temp_dir()).unwrap();
    servers.stop().unwrap();
    assert!(!servers.dir.exists());
}

/// The real servers: up and answering, then gone without a trace (run by `cargo xtask test`,
/// where `.ci/provision-stack` has put them; it fails, never skips, without them).
#[cfg(feature = "engine-tests")]
#[test]
fn starts_the_servers_then_stops_them_leaving_nothing() {
    let bins = Binaries::locate(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|e| panic!("{e}"));
    let servers = Servers::plan(bins, &std::env::temp_dir()).unwrap();
    let ui = Ui {
        quiet: true,
        verbose: false,
    };
    let started = servers.start(&ui);
    let pids: Vec<libc::pid_t> = ["postgres", "versitygw", "nats-server"]
        .iter()
        .filter_map(|n| servers.pid(n))
        .collect();
    let stopped = servers.stop();
    started.unwrap();
    stopped.unwrap();
    assert_eq!(pids.len(), 3);
    for pid in pids {
        // SAFETY: signal 0 only checks that the process exists.
        assert_eq!(
            unsafe { libc::kill(pid, 0) },
            -1,
            "process {pid} still runs"
        );
    }
    assert!(!servers.dir.exists());
    for port in [servers.postgres_port, servers.s3_port, servers.nats_port] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something still listens on {port}"
        );
    }
}
