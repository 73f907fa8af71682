//! `--stack full` through the engine: core on Postgres, S3 and NATS in their containers, with
//! the service images of the settings (local ones where no registry is reachable). Up to ready
//! with a line per server; an upload lands in Postgres and S3 and is listed; no secret value in
//! any container's inspect, in `config`, `--dry-run` or the logs; `migrate` alone, `seed`,
//! `logs SERVICE`, `ps`; `restart core` and a rebuilt core keep the servers' containers; a killed
//! Postgres gives 503s and core recovers by itself; `stop` and a second run keep the photos;
//! `clean --volumes` deletes them and says so; in the foreground `restart core` from another
//! terminal is followed and Ctrl-C leaves only the named volumes. The thumbnailer plugin's part
//! of the stack is in `stack_plugin.rs`, the dev stack in `stack_dev.rs`, what fails to come up
//! in `stack_failures.rs`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use xtask::testkit::docker::{
    dangling_anonymous_volumes, docker, require_engine, TestProject, Untag,
};
use xtask::testkit::http::{get_text, multipart_file, request};
use xtask::testkit::png::png_rgb;
use xtask::testkit::{free_port, ok, sigint, text, unique_name, wait_for, RemoveDir};

use crate::{prod_image, prod_image_settings, wait_exit, xtask};

/// The services `run-prod --stack full` leaves running.
const SERVICES: [&str; 5] = ["postgres", "s3", "nats", "core", "thumbnailer"];

/// Writes need it: the token reaches core on the stack as it does alone.
const TOKEN: &str = "stack-e2e-token-0123456789";

/// A stack project of its own: ports, compose project and a state folder for its secrets.
pub struct Stack {
    pub project: TestProject,
    state: PathBuf,
    _state: RemoveDir,
    pub http: u16,
    grpc: u16,
}

impl Stack {
    pub fn new(what: &str, kind: &str) -> Stack {
        let project = TestProject::new(what, kind);
        let state = std::env::temp_dir().join(unique_name("pixie-stack-state"));
        Stack {
            project,
            _state: RemoveDir(state.clone()),
            state,
            http: free_port(),
            grpc: free_port(),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("PIXIE_STACK".into(), "full".into()),
            ("PIXIE_PROJECT".into(), self.project.prefix.clone()),
            ("PIXIE_HTTP_PORT".into(), self.http.to_string()),
            ("PIXIE_GRPC_PORT".into(), self.grpc.to_string()),
            ("PIXIE_API_TOKEN".into(), TOKEN.into()),
            ("XDG_STATE_HOME".into(), self.state.display().to_string()),
            // The plugin says when it starts rendering (stack_plugin.rs kills it then).
            ("PIXIE_LOG_LEVEL".into(), "debug".into()),
        ];
        // Core's image and the plugin's, as built once per run.
        env.extend(prod_image_settings());
        env
    }

    /// `cargo xtask ARGS` in this stack's settings: (success, stdout, stderr).
    pub fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> (bool, String, String) {
        let out = xtask()
            .args(args)
            .envs(self.env())
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.success(), stdout, stderr)
    }

    /// Like [`Stack::run`], stdout and stderr together.
    pub fn xtask(&self, args: &[&str], extra: &[(&str, &str)]) -> (bool, String) {
        let (ok, stdout, stderr) = self.run(args, extra);
        (ok, format!("{stdout}{stderr}"))
    }

    pub fn xtask_ok(&self, args: &[&str]) -> String {
        let (ok, output) = self.xtask(args, &[]);
        if !ok {
            // What the services said: the failure line names one, its logs say why.
            let (_, logs) = self.xtask(&["logs"], &[]);
            let tail: Vec<&str> = logs.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "cargo xtask {args:?} failed:\n{output}\nthe stack's last log lines:\n{}",
                tail.join("\n")
            );
        }
        output
    }

    /// `cargo xtask ARGS` in the background, its output in a file: (child, read the output).
    fn spawn(&self, args: &[&str]) -> (Child, impl Fn() -> String) {
        let log = std::env::temp_dir().join(format!("{}.log", self.project.name));
        let file = File::create(&log).unwrap();
        let child = xtask()
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        (child, move || {
            std::fs::read_to_string(&log).unwrap_or_default()
        })
    }

    pub fn secrets(&self) -> PathBuf {
        self.state
            .join("pixie")
            .join(&self.project.name)
            .join("secrets")
    }

    /// The ID of `service`'s running container.
    pub fn container(&self, service: &str) -> String {
        self.project.service_container(service)
    }

    /// Each server's container ID and start time.
    fn servers(&self) -> Vec<String> {
        ["postgres", "s3", "nats"]
            .iter()
            .map(|service| {
                let id = self.container(service);
                ok(docker().args(["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", &id]))
            })
            .collect()
    }

    fn volumes(&self) -> String {
        ok(docker().args([
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project.name),
        ]))
    }

    fn upload(&self, seed: u8) -> String {
        self.upload_png(&png_rgb(48, 32, |x, y| [seed, x as u8, y as u8]))
    }

    /// Uploads `png` through core's API; returns the photo's ID.
    pub fn upload_png(&self, png: &[u8]) -> String {
        let (content_type, body) = multipart_file("file", "stack.png", "image/png", png);
        let bearer = format!("Bearer {TOKEN}");
        let headers = [
            ("Content-Type", content_type.as_str()),
            ("Authorization", bearer.as_str()),
        ];
        let response = request(self.http, "POST", "/api/photos", &headers, &body).unwrap();
        assert_eq!(response.status, 201, "{}", response.text());
        let text = response.text();
        let id = text.split("\"id\":\"").nth(1).unwrap().split('"').next();
        let id = id.unwrap().to_string();
        // No body: a server that refuses before reading one may reset the connection under it.
        let path = format!("/api/photos/{id}");
        let unauthorized = request(self.http, "DELETE", &path, &[], &[]).unwrap();
        assert_eq!(unauthorized.status, 401, "a delete without the token");
        id
    }

    /// Deletes a photo through core's API.
    pub fn delete(&self, id: &str) {
        let bearer = format!("Bearer {TOKEN}");
        let path = format!("/api/photos/{id}");
        let headers = [("Authorization", bearer.as_str())];
        let response = request(self.http, "DELETE", &path, &headers, &[]).unwrap();
        assert!(response.status / 100 == 2, "{}", response.text());
    }

    fn listed(&self) -> String {
        match get_text(self.http, "/api/photos?limit=1000") {
            Ok((200, body)) => body,
            other => panic!("listing failed: {other:?}"),
        }
    }

    /// `docker exec` of `args` in `service`'s container: its output, whatever its exit code.
    pub fn exec(&self, service: &str, args: &[&str]) -> std::process::Output {
        let container = self.container(service);
        docker()
            .arg("exec")
            .arg(&container)
            .args(args)
            .output()
            .unwrap()
    }

    /// Like [`Stack::exec`], which must succeed: its trimmed stdout.
    pub fn exec_ok(&self, service: &str, args: &[&str]) -> String {
        let out = self.exec(service, args);
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "{service}: {args:?} failed: {stdout}{stderr}"
        );
        stdout.trim().to_string()
    }

    pub fn sql(&self, query: &str) -> String {
        self.exec_ok(
            "postgres",
            &["psql", "-U", "pixie", "-d", "pixie", "-tAc", query],
        )
    }
}

/// Every secret's value, read from its file: they must be long random strings.
fn secret_values(dir: &Path) -> Vec<(String, String)> {
    let names = [
        "postgres_password",
        "database_url",
        "s3_access_key",
        "s3_secret_key",
    ];
    let mut values: Vec<(String, String)> = names
        .iter()
        .map(|name| {
            let value = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(value.len() >= 20, "{name} is too short to be generated");
            (name.to_string(), value)
        })
        .collect();
    values.push(("the API token".into(), TOKEN.into()));
    values
}

fn assert_no_secret(values: &[(String, String)], text: &str, what: &str) {
    for (name, value) in values {
        assert!(!text.contains(value.as_str()), "{what} shows {name}");
    }
}

/// PG_MAJOR of the Postgres image the settings name.
fn postgres_major() -> String {
    let config = xtask::settings::Config::load(&xtask::testkit::repo_root(), &Vec::new()).unwrap();
    let image = config.text(&xtask::settings::POSTGRES_IMAGE).to_string();
    let env = ok(docker().args([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        &image,
    ]));
    let major = env.split("PG_MAJOR=").nth(1).unwrap().split('"').next();
    major.unwrap().to_string()
}

#[test]
fn stack_full_serves_keeps_its_data_restarts_core_alone_recovers_and_hides_secrets() {
    require_engine();
    let stack = Stack::new("xtask-stack", "prod-stack");
    let up = stack.xtask_ok(&["run-prod", "--detach"]);
    for line in [
        "postgres ready in ",
        "s3 ready in ",
        "nats ready in ",
        "thumbnailer ready in ",
        "ready on http://",
    ] {
        assert!(up.contains(line), "no `{line}`:\n{up}");
    }

    // An upload is a row in Postgres, an object in S3, and listed.
    let id = stack.upload(1);
    assert!(stack.listed().contains(&id));
    let row = format!("select count(*) from photos where id = '{id}'");
    assert_eq!(stack.sql(&row), "1");
    let object = format!("/data/pixie/originals/{id}");
    stack.exec_ok("s3", &["ls", &object]);

    // Secrets: 0600 files in a 0700 folder, and no value anywhere a user or an engine shows.
    use std::os::unix::fs::PermissionsExt;
    let dir = stack.secrets();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for entry in std::fs::read_dir(&dir).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    let values = secret_values(&dir);
    for service in SERVICES {
        let inspect = ok(docker().args(["inspect", &stack.container(service)]));
        assert_no_secret(&values, &inspect, &format!("docker inspect of {service}"));
    }
    let config = stack.xtask_ok(&["config"]);
    assert!(
        config.contains(&dir.display().to_string()),
        "config does not say where the secrets are:\n{config}"
    );
    assert_no_secret(&values, &config, "config");
    assert_no_secret(
        &values,
        &stack.xtask_ok(&["run-prod", "--dry-run"]),
        "--dry-run",
    );
    assert_no_secret(&values, &stack.xtask_ok(&["logs"]), "logs");

    // ps, logs of one service, migrate alone (the schema is current), seed.
    let ps = stack.xtask_ok(&["ps"]);
    for service in SERVICES {
        assert!(
            ps.contains(&format!("{}_{service}", stack.project.name))
                || ps.contains(&format!("{}-{service}", stack.project.name)),
            "{ps}"
        );
    }
    let logs = stack.xtask_ok(&["logs", "postgres"]);
    assert!(
        logs.contains("ready to accept connections") && !logs.contains("pixie-core serving"),
        "{logs}"
    );
    let logs = stack.xtask_ok(&["logs", "thumbnailer"]);
    assert!(
        logs.contains("consuming events") && !logs.contains("pixie-core serving"),
        "{logs}"
    );
    let dangling = dangling_anonymous_volumes();
    let migrated = stack.xtask_ok(&["migrate"]);
    assert!(
        migrated.contains(" is current (version 1)") && !migrated.contains("applied"),
        "{migrated}"
    );
    // Its one-shot container goes with the volume core's image declares (VOLUME /data).
    let left: Vec<_> = dangling_anonymous_volumes()
        .difference(&dangling)
        .cloned()
        .collect();
    assert!(left.is_empty(), "migrate left volumes behind: {left:?}");
    let before = stack.listed().matches("\"id\":").count();
    let seeded = stack.xtask_ok(&["seed", "--count", "3"]);
    assert!(seeded.contains("seeded 3 photos in "), "{seeded}");
    assert_eq!(stack.listed().matches("\"id\":").count(), before + 3);

    crate::stack_plugin::thumbnails_through_the_plugin(&stack);

    // restart core, then a rebuilt core: the servers keep their containers and start times.
    let servers = stack.servers();
    let core = stack.container("core");
    let restarted = stack.xtask_ok(&["restart", "core"]);
    assert!(restarted.contains("ready on http://"), "{restarted}");
    assert_eq!(stack.servers(), servers, "restart core touched a server");
    assert_ne!(stack.container("core"), core);
    let core = stack.container("core");
    let rebuilt = format!("{}-rebuilt", prod_image());
    let _untag = Untag(vec![rebuilt.clone()]);
    let (ran, output) = stack.xtask(&["run-prod", "--detach"], &[("PIXIE_PROD_IMAGE", &rebuilt)]);
    assert!(ran, "{output}");
    assert_eq!(
        stack.servers(),
        servers,
        "a rebuilt core recreated a server"
    );
    assert_ne!(stack.container("core"), core);
    assert!(stack.listed().contains(&id));

    // A killed Postgres: 503s while it is down, then core recovers without a restart.
    let core = stack.container("core");
    let postgres = stack.container("postgres");
    ok(docker().args(["kill", &postgres]));
    let unavailable = wait_for(Duration::from_secs(30), || {
        get_text(stack.http, "/api/photos")
            .ok()
            .filter(|(s, _)| *s == 503)
    });
    assert!(unavailable.is_some(), "no 503 while Postgres is down");
    ok(docker().args(["start", &postgres]));
    let back = wait_for(Duration::from_secs(60), || {
        get_text(stack.http, "/api/photos")
            .ok()
            .filter(|(status, body)| *status == 200 && body.contains(&id))
    });
    assert!(
        back.is_some(),
        "core did not recover once Postgres was back"
    );
    assert_eq!(stack.container("core"), core, "core was restarted");

    // stop, then a second run: the photos are still there, in the volume named by major version.
    stack.xtask_ok(&["stop"]);
    stack.project.assert_gone("after stop");
    let second = stack.xtask_ok(&["run-prod", "--detach"]);
    assert!(
        stack.listed().contains(&id),
        "the photo is gone after stop and a second run"
    );
    // The schema is current: the migrations are not run again.
    assert!(
        second.contains("migrations: the schema is at version")
            && !second.contains("apply core's migrations"),
        "{second}"
    );
    let postgres_volume = format!("{}_postgres-{}", stack.project.name, postgres_major());
    assert!(
        stack.volumes().lines().any(|v| v == postgres_volume),
        "{}",
        stack.volumes()
    );

    // clean --volumes: says which volumes go, deletes them and the secrets.
    let cleaned = stack.xtask_ok(&["clean", "--volumes"]);
    let said = format!(
        "deleting the volumes of {} and their data: ",
        stack.project.name
    );
    assert!(
        cleaned.contains(&said) && cleaned.contains(&postgres_volume),
        "{cleaned}"
    );
    assert!(stack.volumes().is_empty(), "{}", stack.volumes());
    assert!(!dir.exists());
}

#[test]
fn stack_full_in_the_foreground_follows_a_restarted_core_and_leaves_only_volumes_on_sigint() {
    require_engine();
    let stack = Stack::new("xtask-stack-fg", "prod-stack");
    let (mut child, log) = stack.spawn(&["run-prod"]);
    let ready = wait_for(Duration::from_secs(300), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("run-prod exited ({status}):\n{}", log());
        }
        log().contains("ready on http://").then_some(())
    });
    assert!(ready.is_some(), "never ready:\n{}", log());

    // `restart core` from another terminal: the foreground run follows the new container.
    let servers = stack.servers();
    let core = stack.container("core");
    stack.xtask_ok(&["restart", "core"]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the foreground run ended:\n{}",
        log()
    );
    assert_eq!(stack.servers(), servers);
    assert_ne!(stack.container("core"), core);
    assert!(get_text(stack.http, "/healthz").is_ok_and(|(s, _)| s == 200));

    sigint(&child);
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(60)),
        Some(130),
        "{}",
        log()
    );
    stack.project.assert_gone(&log());
    let mut volumes: Vec<String> = stack.volumes().lines().map(String::from).collect();
    volumes.sort();
    let name = &stack.project.name;
    let mut expected = vec![
        format!("{name}_data"),
        format!("{name}_nats-data"),
        format!("{name}_postgres-{}", postgres_major()),
        format!("{name}_s3-data"),
    ];
    expected.sort();
    assert_eq!(volumes, expected, "{}", log());
}

#[test]
fn the_dry_run_of_the_stack_is_valid_shell() {
    let stack = Stack::new("xtask-stack-dry", "prod-stack");
    let (succeeded, plan, stderr) = stack.run(&["run-prod", "--dry-run"], &[]);
    assert!(succeeded, "{stderr}");
    assert!(plan.contains(" run --no-deps --name "), "{plan}");
    let mut bash = std::process::Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    bash.stdin
        .take()
        .unwrap()
        .write_all(plan.as_bytes())
        .unwrap();
    let out = bash.wait_with_output().unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{errors}\n{plan}");
}
