//! The tests that build images and run containers through a real engine: the one the xtask
//! detects (`DOCKER`, `DOCKER_HOST`, `DOCKER_CONFIG` select another; `DOCKER=podman` tests
//! Podman; `PIXIE_TEST_PUBLISHED_ADDR` says where an engine in a network namespace of its own
//! publishes ports). `cargo xtask test` runs this binary once per configured engine. They fail,
//! never skip, when no engine answers. Images shared between modules are built once per run
//! (below). libtest starts tests in name order, so the slowest have names that sort early.

mod build_prod;
mod compose_files;
mod containers;
mod first_run;
mod images;
mod module_images;
mod registry_cache;
mod release_push;
mod run_dev;
mod run_dev_stop;
mod run_prod;
mod stack;
mod stack_dev;
mod stack_failures;
mod stack_plugin;
mod supply_chain;
mod untagged;

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use xtask::testkit::docker::{docker, inspect, require_engine, Containers};
use xtask::testkit::{ok, repo_root, text, unique_name, wait_for};

pub fn xtask() -> Command {
    xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"))
}

/// Runs `cargo xtask <args>` with `env`, requires success, returns stdout + stderr.
pub fn xtask_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = xtask()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "cargo xtask {args:?} (env {env:?}) failed:\n{stdout}\n{stderr}"
    );
    format!("{stdout}{stderr}")
}

/// Core's production image, built once per run with every module's ([`prod_images`]).
pub fn prod_image() -> &'static str {
    &prod_images()[0].1
}

/// Every module's production image (module name, image), core's first, built once per run by
/// one `cargo xtask build-prod`.
pub fn prod_images() -> &'static [(String, String)] {
    static IMAGES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        require_engine();
        build_prod_images(&repo_root(), "e2e", &["build-prod"]).0
    })
}

/// `cargo xtask COMMAND` (a build-prod command line, such as `-v build-prod --vendor`) in
/// workspace `ws`, every module's image tagged `TAG` (`pixie-core:TAG`,
/// `pixie-thumbnailer:TAG`, ...): returns (module name, image) as built, and the xtask's output.
pub fn build_prod_images(
    ws: &std::path::Path,
    tag: &str,
    command: &[&str],
) -> (Vec<(String, String)>, String) {
    let workspace = xtask::workspace::Workspace::at(ws.to_path_buf());
    let modules = xtask::target::ModuleImage::all(&workspace).unwrap();
    let images: Vec<(String, String)> = modules
        .iter()
        .map(|m| (m.name().to_string(), format!("{}:{tag}", m.binary())))
        .collect();
    let mut env = vec![("PIXIE_WORKSPACE", ws.to_str().unwrap())];
    for (module, (_, image)) in modules.iter().zip(&images) {
        let spec = module
            .setting()
            .unwrap_or_else(|| panic!("module {} has no images.NAME setting", module.name()));
        env.push((spec.env, image));
    }
    let log = xtask_ok(command, &env);
    (images, log)
}

/// The settings naming every module's image of [`prod_images`] (`PIXIE_PROD_IMAGE`,
/// `PIXIE_THUMBNAILER_IMAGE`, ...), for the commands that run them (`run-prod --stack full`).
pub fn prod_image_settings() -> Vec<(String, String)> {
    let workspace = xtask::workspace::Workspace::at(repo_root());
    let modules = xtask::target::ModuleImage::all(&workspace).unwrap();
    modules
        .iter()
        .zip(prod_images())
        .map(|(module, (_, image))| (module.setting().unwrap().env.to_string(), image.clone()))
        .collect()
}

/// The dev image, built once per run through `cargo xtask build-dev`.
pub fn dev_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_engine();
        let image = "pixie-core-dev:e2e";
        xtask_ok(&["build-dev"], &[("PIXIE_DEV_IMAGE", image)]);
        image.to_string()
    })
}

/// The flags the production compose file runs with, for `docker run`.
pub const HARDENED: [&str; 7] = [
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];

pub fn image_size_mb(image: &str) -> f64 {
    inspect(image, "{{.Size}}").parse::<f64>().unwrap() / 1e6
}

pub fn head_commit() -> String {
    ok(Command::new("git")
        .arg("-C")
        .arg(repo_root())
        .args(["rev-parse", "HEAD"]))
}

pub fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let status = wait_for(within, || child.try_wait().unwrap());
    if status.is_none() {
        let _ = child.kill();
    }
    status.and_then(|s| s.code())
}

/// The numeric uid of an image's `USER` (`65532` or `65532:65532`); panics unless numeric.
pub fn numeric_uid(user: &str) -> u32 {
    user.split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER is not numeric: {user:?}"))
}

/// A plain container on the engine's default network gets an address and runs to its end.
/// `cargo xtask test` also runs it on engine A after each other engine's tests: a second engine
/// must not break the first (a second dockerd given `--bridge` deletes the first one's docker0).
#[test]
fn the_engine_runs_a_container_on_its_default_network() {
    require_engine();
    let config = xtask::settings::Config::load(&repo_root(), &Vec::new()).unwrap();
    let image = config.text(&xtask::settings::RUNTIME_IMAGE).to_string();
    let name = unique_name("pixie-still-runs");
    let _guard = Containers(vec![name.clone()]);
    let address = ok(docker()
        .args(["run", "--name", &name, &image, "sh", "-c"])
        .arg("ip -4 -o addr show eth0 2>/dev/null | awk '{print $4}' || hostname -i"));
    assert!(
        address.contains('.'),
        "the container on the default network has no IPv4 address: {address:?} (image {image})"
    );
}
