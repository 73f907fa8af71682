//! How the bench times things: one-step plans through [`crate::exec`] (so failures, Ctrl-C and
//! output capture behave as in every other command), a `wait4` runner where peak memory matters,
//! and an HTTP probe for the dev container's answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::commands::Ctx;
use crate::engine::BuildRoute;
use crate::exec::{self, Interrupted, Ui};
use crate::plan::{Mode, Plan, Step};

/// Runs one step with its output captured (shown only if it fails); returns its wall time.
pub fn timed(step: Step, ui: &Ui) -> Result<f64> {
    let step = Step {
        mode: Mode::Captured,
        ..step
    };
    let plan = Plan {
        steps: vec![step],
        ..Plan::default()
    };
    let timings = exec::run(&plan, ui)?;
    Ok(timings.total().as_secs_f64())
}

/// `docker build` of `dockerfile` with the copy as context, by the same route as the xtask's
/// own builds, passing the configured base images.
pub fn docker_build(ctx: &Ctx, dockerfile: &str, tag: &str) -> Step {
    let cli = ctx.cli();
    let step = Step::new(format!("build {tag}"), &cli.path, &ctx.ws.root);
    let step = match cli.route {
        BuildRoute::Buildx => step.args(["buildx", "build", "--load"]),
        BuildRoute::BuiltIn => step.arg("build"),
    };
    step.args(["--file", dockerfile, "--tag", tag])
        .arg("--build-arg")
        .arg(format!("GO_IMAGE={}", ctx.config.go_image.value))
        .arg("--build-arg")
        .arg(format!("RUNTIME_IMAGE={}", ctx.config.runtime_image.value))
        .arg(".")
        .envs(ctx.docker_env())
}

/// `step` (a `docker build … .`) with `extra` arguments placed before the context argument.
pub fn with_build_flags(mut step: Step, extra: &[&str]) -> Step {
    let context = step
        .args
        .pop()
        .expect("a docker build ends with its context");
    step.args.extend(extra.iter().map(|s| s.to_string()));
    step.args.push(context);
    // Captured output is only read on failure: the plain log reads better than the animation.
    step.envs([("BUILDKIT_PROGRESS", "plain")])
}

/// `step` (a build) exporting the files of stage `target` to `dest` (`type=local,dest=DIR`)
/// instead of loading an image: buildx cannot do both, so its `--load` goes.
pub fn exporting(mut step: Step, target: &str, dest: &str) -> Step {
    step.args.retain(|a| a != "--load");
    with_build_flags(step, &["--target", target, "--output", dest])
}

/// Wall time and peak resident memory of one process tree.
pub struct Usage {
    pub seconds: f64,
    /// Largest RSS of the child or any descendant it waited for (Linux `wait4` ru_maxrss), KiB.
    pub peak_rss_kib: u64,
}

/// Runs `command` and reads its resource usage with `wait4`, as `/usr/bin/time -v` does.
pub fn run_with_usage(mut command: Command, what: &str) -> Result<Usage> {
    let started = Instant::now();
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.context("no stderr pipe")?;
    // Drained on a thread so a chatty failure cannot fill the pipe and stall the child.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut status: libc::c_int = 0;
    // SAFETY: plain-data out-parameter, zero-initialised as the C API expects.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut signalled = false;
    loop {
        // SAFETY: wait4 on our own child with valid pointers to locals.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        if done < 0 {
            bail!(
                "waiting for {what} failed: {}",
                std::io::Error::last_os_error()
            );
        }
        if exec::interrupted() && !signalled {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGINT) };
            signalled = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let seconds = started.elapsed().as_secs_f64();
    let stderr = reader.join().unwrap_or_default();
    if signalled {
        return Err(Interrupted.into());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        eprint!("{stderr}");
        bail!("{what} failed (wait status {status})");
    }
    Ok(Usage {
        seconds,
        peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    })
}

/// The body of `GET path` on 127.0.0.1:`port` if it answered 200, else `None` (not up yet,
/// restarting, or an error status).
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    // One write: a request split over several segments can be answered and reset half-read.
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status_line = head.lines().next()?;
    status_line
        .split_whitespace()
        .nth(1)
        .filter(|code| *code == "200")
        .map(|_| body.to_string())
}

/// Polls `GET path` until `accept` takes the body; returns the seconds since `since`.
pub fn wait_for_answer(
    port: u16,
    path: &str,
    since: Instant,
    timeout: Duration,
    accept: impl Fn(&str) -> bool,
) -> Result<f64> {
    loop {
        if exec::interrupted() {
            return Err(Interrupted.into());
        }
        if http_get(port, path).is_some_and(|body| accept(&body)) {
            return Ok(since.elapsed().as_secs_f64());
        }
        if since.elapsed() > timeout {
            bail!(
                "no expected answer on http://127.0.0.1:{port}{path} within {}s",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{} was not produced", path.display()))?
        .len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::tests::ctx_with;
    use crate::config::Overrides;

    #[test]
    fn baseline_build_uses_the_configured_base_images_and_route() {
        let ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[
                ("PIXIE_GO_IMAGE", "local/go:1"),
                ("PIXIE_RUNTIME_IMAGE", "local/rt:1"),
            ],
            Overrides::default(),
        );
        let step = docker_build(
            &ctx,
            "deployments/bench/before.Dockerfile",
            "pixie-bench-x:1",
        );
        assert_eq!(step.args[0], "build");
        assert_eq!(
            step.flag_values("--build-arg").collect::<Vec<_>>(),
            ["GO_IMAGE=local/go:1", "RUNTIME_IMAGE=local/rt:1"]
        );
        assert_eq!(step.env_value("DOCKER_BUILDKIT"), Some("1"));
        let buildx = ctx_with(BuildRoute::Buildx, &[], Overrides::default());
        assert_eq!(
            &docker_build(&buildx, "f", "t").args[..3],
            ["buildx", "build", "--load"]
        );
    }

    #[test]
    fn extra_build_flags_go_before_the_context() {
        let step = Step::new("b", "docker", "/").args(["build", "--tag", "t", "."]);
        let step = with_build_flags(step, &["--no-cache"]);
        assert_eq!(step.args, ["build", "--tag", "t", "--no-cache", "."]);
        assert_eq!(step.env_value("BUILDKIT_PROGRESS"), Some("plain"));
        let buildx = Step::new("b", "docker", "/").args(["buildx", "build", "--load", "."]);
        assert_eq!(
            exporting(buildx, "binary", "type=local,dest=/o").args,
            [
                "buildx",
                "build",
                "--target",
                "binary",
                "--output",
                "type=local,dest=/o",
                "."
            ]
        );
    }

    #[test]
    fn usage_runner_reports_time_memory_and_failure() {
        let mut ok = Command::new("sh");
        ok.args(["-c", "sleep 0.1"]);
        let usage = run_with_usage(ok, "sleep").unwrap();
        assert!(usage.seconds >= 0.1, "{}", usage.seconds);
        assert!(usage.peak_rss_kib > 0);
        let mut failing = Command::new("sh");
        failing.args(["-c", "exit 3"]);
        assert!(run_with_usage(failing, "exit").is_err());
    }

    #[test]
    fn http_probe_reads_200_bodies_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for reply in [
                "HTTP/1.1 200 OK\r\n\r\n{\"version\":\"bench-1\"}",
                "HTTP/1.1 503 Service Unavailable\r\n\r\nno",
            ] {
                let (mut conn, _) = listener.accept().unwrap();
                // Read the whole request first: closing with unread bytes resets the connection.
                let mut request = Vec::new();
                let mut buf = [0u8; 512];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = conn.read(&mut buf).unwrap();
                    assert!(n > 0, "client closed before finishing its request");
                    request.extend_from_slice(&buf[..n]);
                }
                conn.write_all(reply.as_bytes()).unwrap();
            }
        });
        assert_eq!(
            http_get(port, "/version").as_deref(),
            Some("{\"version\":\"bench-1\"}")
        );
        assert_eq!(http_get(port, "/version"), None);
        server.join().unwrap();
    }
}
