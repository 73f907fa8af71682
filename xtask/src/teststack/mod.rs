//! The stack's servers for the modules' stack suites (core/pkg/stacktest): `cargo xtask test`
//! starts PostgreSQL 15, versitygw (S3) and nats-server (JetStream) on loopback, on free ports,
//! with their data in one temporary folder, hands their addresses to `go test` through the
//! `PIXIE_TEST_*` variables that stacktest's package doc defines, and stops them afterwards, also
//! after Ctrl-C (a cleanup step) or if the xtask dies (each server gets a parent-death signal).
//!
//! The binaries come from `.ci/provision-stack` (`PIXIE_CI_POSTGRES_BIN`, `PIXIE_CI_NATS_SERVER`,
//! `PIXIE_CI_VERSITYGW`), else from Debian's PostgreSQL 15 folder and PATH.

use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::plan::shell::quote as shell_quote;
use crate::plan::{Action, ActionCx};
use crate::ready::{Ready, PROBE_INTERVAL};
use crate::signals::{interrupted, Interrupted};
use crate::ui::Ui;

/// Debian's PostgreSQL 15, where `.ci/provision-stack` installs it.
const DEBIAN_POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The root credentials of the throwaway S3 server (loopback only, removed afterwards).
const S3_ACCESS_KEY: &str = "pixie-test";
const S3_SECRET_KEY: &str = "pixie-test-secret";

/// How long the servers get to answer after starting.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the servers' programs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// Folder of initdb, postgres and pg_isready.
    pub postgres_bin: PathBuf,
    pub nats_server: PathBuf,
    pub versitygw: PathBuf,
}

impl Binaries {
    /// Finds the binaries through `var` (the environment), or says which are missing and how to
    /// get them.
    pub fn locate(var: impl Fn(&str) -> Option<String>) -> Result<Binaries, String> {
        let postgres_bin = var("PIXIE_CI_POSTGRES_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| DEBIAN_POSTGRES_BIN.into());
        let program = |ci_var: &str, name: &str| {
            var(ci_var)
                .map(PathBuf::from)
                .or_else(|| which::which(name).ok())
        };
        let nats_server = program("PIXIE_CI_NATS_SERVER", "nats-server");
        let versitygw = program("PIXIE_CI_VERSITYGW", "versitygw");
        let mut missing = Vec::new();
        if !postgres_bin.join("postgres").is_file() {
            missing.push(format!(
                "PostgreSQL 15 ({} has no postgres)",
                postgres_bin.display()
            ));
        }
        for (name, found) in [("nats-server", &nats_server), ("versitygw", &versitygw)] {
            match found {
                Some(path) if path.is_file() => {}
                Some(path) => missing.push(format!("{name} ({} does not exist)", path.display())),
                None => missing.push(format!("{name} (not on PATH)")),
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "the stack suites need PostgreSQL 15, nats-server and versitygw, and {} missing; run `sudo bash .ci/provision-stack` and export the PIXIE_CI_* lines it prints",
                missing.join(", ")
            ));
        }
        Ok(Binaries {
            postgres_bin,
            nats_server: nats_server.unwrap_or_default(),
            versitygw: versitygw.unwrap_or_default(),
        })
    }
}

/// One run's servers: plain data, so the plan prints and compares them; [`Servers::start`] and
/// [`Servers::stop`] do the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers {
    /// Holds every server's data and log, and their pid files.
    pub dir: PathBuf,
    pub bins: Binaries,
    pub postgres_port: u16,
    pub s3_port: u16,
    pub nats_port: u16,
    pub nats_monitor_port: u16,
}

impl Servers {
    /// Picks free loopback ports and a fresh folder under `temp_dir`.
    pub fn plan(bins: Binaries, temp_dir: &Path) -> Result<Servers> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Ok(Servers {
            dir: temp_dir.join(format!("pixie-stack-{}-{stamp}", std::process::id())),
            bins,
            postgres_port: free_port()?,
            s3_port: free_port()?,
            nats_port: free_port()?,
            nats_monitor_port: free_port()?,
        })
    }

    /// What `go test` needs to run the stack suite on these servers (see stacktest): addresses,
    /// binaries, and that a missing server is a failure.
    pub fn test_env(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        [
            (
                "PIXIE_TEST_DATABASE_URL",
                format!(
                    "postgres://pixie@127.0.0.1:{}/postgres?sslmode=disable",
                    self.postgres_port
                ),
            ),
            (
                "PIXIE_TEST_S3_ENDPOINT",
                format!("http://127.0.0.1:{}", self.s3_port),
            ),
            ("PIXIE_TEST_S3_ACCESS_KEY", S3_ACCESS_KEY.to_string()),
            ("PIXIE_TEST_S3_SECRET_KEY", S3_SECRET_KEY.to_string()),
            (
                "PIXIE_TEST_NATS_URL",
                format!("nats://127.0.0.1:{}", self.nats_port),
            ),
            ("PIXIE_TEST_POSTGRES_BIN", path(&self.bins.postgres_bin)),
            ("PIXIE_TEST_NATS_SERVER", path(&self.bins.nats_server)),
            ("PIXIE_TEST_VERSITYGW", path(&self.bins.versitygw)),
            ("PIXIE_TEST_STACK_REQUIRED", "1".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    }

    /// The dry run's line for [`Servers::start`].
    pub fn start_line(&self) -> String {
        format!(
            "# (xtask) start postgres on 127.0.0.1:{}, versitygw on 127.0.0.1:{} and nats-server on 127.0.0.1:{} with their data in {}; wait until they answer",
            self.postgres_port,
            self.s3_port,
            self.nats_port,
            shell_quote(&self.dir.to_string_lossy())
        )
    }

    /// The dry run's line for [`Servers::stop`].
    pub fn stop_line(&self) -> String {
        format!(
            "# (xtask) stop the servers started from {} (SIGTERM, then SIGKILL after 10 s) and remove it",
            shell_quote(&self.dir.to_string_lossy())
        )
    }

    /// Starts the three servers and waits until each answers; on failure the caller's cleanup
    /// ([`Servers::stop`]) removes what was started.
    pub fn start(&self, ui: &Ui) -> Result<()> {
        let started = Instant::now();
        let postgres_user = if unsafe { libc::geteuid() } == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        // initdb and postgres run as the postgres user when we are root: they must reach it.
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755))?;
        let pg_data = self.dir.join("postgres");
        std::fs::create_dir_all(&pg_data)?;
        if let Some((uid, gid)) = postgres_user {
            chown(&pg_data, Some(uid), Some(gid)).with_context(|| {
                format!("cannot give {} to the postgres user", pg_data.display())
            })?;
        }
        for sub in ["s3/data", "s3/iam", "nats"] {
            std::fs::create_dir_all(self.dir.join(sub))?;
        }

        let mut initdb = Command::new(self.bins.postgres_bin.join("initdb"));
        initdb
            .args([
                "-U",
                "pixie",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&pg_data);
        self.run_to_end("initdb", initdb, postgres_user)?;

        let mut postgres = Command::new(self.bins.postgres_bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&pg_data)
            .arg("-p")
            .arg(self.postgres_port.to_string());
        for setting in [
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "fsync=off",
            "max_connections=200",
        ] {
            postgres.args(["-c", setting]);
        }
        self.spawn("postgres", postgres, postgres_user, libc::SIGQUIT)?;

        let mut s3 = Command::new(&self.bins.versitygw);
        s3.env("ROOT_ACCESS_KEY", S3_ACCESS_KEY)
            .env("ROOT_SECRET_KEY", S3_SECRET_KEY)
            .args([
                "--port",
                &format!("127.0.0.1:{}", self.s3_port),
                "--health",
                "/health",
                "--keep-alive",
                "--quiet",
                "--iam-dir",
            ])
            .arg(self.dir.join("s3/iam"))
            .arg("posix")
            .arg(self.dir.join("s3/data"));
        self.spawn("versitygw", s3, None, libc::SIGKILL)?;

        let mut nats = Command::new(&self.bins.nats_server);
        nats.args([
            "-a",
            "127.0.0.1",
            "-p",
            &self.nats_port.to_string(),
            "-m",
            &self.nats_monitor_port.to_string(),
            "-js",
            "--server_name",
            "pixie-xtask",
            "-sd",
        ])
        .arg(self.dir.join("nats"));
        self.spawn("nats-server", nats, None, libc::SIGKILL)?;

        let pg_isready = self.bins.postgres_bin.join("pg_isready");
        let postgres_answers = || {
            Command::new(&pg_isready)
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.postgres_port.to_string(),
                ])
                .status()
                .is_ok_and(|s| s.success())
        };
        let s3_answers = Ready::on("127.0.0.1", self.s3_port, "/health");
        let nats_answers = Ready::on(
            "127.0.0.1",
            self.nats_monitor_port,
            "/healthz?js-enabled-only=true",
        );
        self.wait("postgres", postgres_answers)?;
        self.wait("versitygw", || s3_answers.answers())?;
        self.wait("nats-server", || nats_answers.answers())?;
        ui.info(format_args!(
            "stack servers ready in {:.1} s: postgres 127.0.0.1:{}, s3 http://127.0.0.1:{}, nats nats://127.0.0.1:{}",
            started.elapsed().as_secs_f64(),
            self.postgres_port,
            self.s3_port,
            self.nats_port
        ));
        Ok(())
    }

    /// Runs a one-shot program (initdb) to its end, its output in its log.
    fn run_to_end(&self, name: &str, mut command: Command, user: Option<(u32, u32)>) -> Result<()> {
        command
            .stdin(Stdio::null())
            .stdout(self.log(name)?)
            .stderr(self.log(name)?);
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid);
        }
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))?;
        if !status.success() {
            bail!("{name} failed ({status}); {}", self.log_tail(name));
        }
        Ok(())
    }

    /// Starts a server in a process group of its own (a Ctrl-C reaches the xtask, whose cleanup
    /// stops it), killed by `death_signal` if the xtask dies, its pid in `NAME.pid`.
    fn spawn(
        &self,
        name: &str,
        mut command: Command,
        user: Option<(u32, u32)>,
        death_signal: libc::c_int,
    ) -> Result<()> {
        command
            .stdin(Stdio::null())
            .stdout(self.log(name)?)
            .stderr(self.log(name)?)
            .process_group(0);
        if let Some((uid, gid)) = user {
            command.uid(uid).gid(gid);
        }
        // SAFETY: prctl is async-signal-safe; it runs after the uid change, which would clear it.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", command.get_program().to_string_lossy()))?;
        std::fs::write(self.dir.join(format!("{name}.pid")), child.id().to_string())?;
        Ok(())
    }

    /// Waits until `answers`, failing with the server's log when it exits or takes too long.
    fn wait(&self, name: &str, answers: impl Fn() -> bool) -> Result<()> {
        let started = Instant::now();
        let pid = self.pid(name).unwrap_or_default();
        while !answers() {
            if interrupted() {
                return Err(Interrupted.into());
            }
            if !alive(pid) {
                bail!("{name} exited before answering; {}", self.log_tail(name));
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "{name} did not answer within {} s; {}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail(name)
                );
            }
            std::thread::sleep(PROBE_INTERVAL);
        }
        Ok(())
    }

    /// Stops every server this run started (SIGTERM; SIGINT for postgres's fast shutdown; SIGKILL
    /// after 10 s) and removes the folder. Safe to call when nothing or only part was started.
    pub fn stop(&self) -> Result<()> {
        for (name, signal) in [
            ("nats-server", libc::SIGTERM),
            ("versitygw", libc::SIGTERM),
            ("postgres", libc::SIGINT),
        ] {
            let Some(pid) = self.pid(name) else { continue };
            // SAFETY: kill/waitpid on a child of this process, recorded when it was spawned.
            unsafe { libc::kill(pid, signal) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while !reaped(pid) {
                if Instant::now() > deadline {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = std::fs::remove_file(self.dir.join(format!("{name}.pid")));
        }
        crate::fsutil::remove_tree(&self.dir)
    }

    fn pid(&self, name: &str) -> Option<libc::pid_t> {
        std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn log(&self, name: &str) -> Result<std::fs::File> {
        let path = self.dir.join(format!("{name}.log"));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))
    }

    /// The last lines of a server's log, for an error message.
    fn log_tail(&self, name: &str) -> String {
        let log = std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "its last log lines: {}",
            lines[lines.len().saturating_sub(5)..].join(" | ")
        )
    }
}

/// Whether the child `pid` is still running (not yet exited).
fn alive(pid: libc::pid_t) -> bool {
    let mut status = 0;
    // SAFETY: a non-blocking waitpid on our own child; 0 means it has not changed state.
    pid > 0 && unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == 0
}

/// Whether the child `pid` has exited (reaping it); true also for one already reaped.
fn reaped(pid: libc::pid_t) -> bool {
    !alive(pid)
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// The postgres user's uid and gid: initdb and postgres refuse to run as root.
fn postgres_user() -> Result<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        bail!("running as root, the test Postgres runs as the postgres user, which is missing; run `sudo bash .ci/provision-stack`");
    }
    Ok(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

/// Starts the stack's servers for the modules' stack suites and waits until they answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartStack(pub Servers);

impl Action for StartStack {
    fn shell_line(&self) -> String {
        self.0.start_line()
    }

    fn run(&self, cx: &ActionCx) -> Result<()> {
        self.0.start(&cx.ui)
    }
}

/// Stops them and removes their data; nothing to do when they were not started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopStack(pub Servers);

impl Action for StopStack {
    fn shell_line(&self) -> String {
        self.0.stop_line()
    }

    fn run(&self, _cx: &ActionCx) -> Result<()> {
        self.0.stop()
    }
}

impl Servers {
    /// The servers of one `cargo xtask test` run, or the error naming the fix when a binary is
    /// missing; a dry run prints its plan all the same, with the programs' plain names.
    pub fn for_run(
        found: &Result<Binaries, String>,
        temp_dir: &Path,
        dry_run: bool,
    ) -> Result<Servers> {
        let bins = match found {
            Ok(bins) => bins.clone(),
            Err(_) if dry_run => Binaries {
                postgres_bin: DEBIAN_POSTGRES_BIN.into(),
                nats_server: "nats-server".into(),
                versitygw: "versitygw".into(),
            },
            Err(missing) => bail!("{missing}"),
        };
        Servers::plan(bins, temp_dir)
    }
}

#[cfg(test)]
mod tests;
