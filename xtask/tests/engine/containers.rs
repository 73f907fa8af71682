//! Issue 4, checked on running containers of the production image: a hardened container that
//! serves photos and keeps them on its volume, graceful stop, and both runtime bases healthy.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use xtask::testkit::docker::{
    assert_all_capabilities_dropped, docker, health_status, image_layer_paths, inspect,
    require_engine, run_detached, wait_healthy, Volumes,
};
use xtask::testkit::http::{self, get_text, multipart_file};
use xtask::testkit::png::png_rgb;
use xtask::testkit::{json, ok, text, unique_name, wait_for};

use crate::{image_size_mb, prod_image, xtask_ok, HARDENED};

/// The production image on the `scratch` runtime base, built once.
fn scratch_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        require_engine();
        let image = "pixie-core:e2e-scratch";
        xtask_ok(
            &["build-prod", "--module", "core"],
            &[
                ("PIXIE_RUNTIME_IMAGE", "scratch"),
                ("PIXIE_PROD_IMAGE", image),
            ],
        );
        image.to_string()
    })
}

/// Uploads `png` and returns the new photo's id.
fn upload(port: u16, png: &[u8]) -> String {
    let (content_type, body) = multipart_file("file", "e2e.png", "image/png", png);
    let resp = http::request(
        port,
        "POST",
        "/api/photos",
        &[("Content-Type", &content_type)],
        &body,
    )
    .unwrap();
    assert_eq!(resp.status, 201, "upload: {}", resp.text());
    let body = resp.text();
    let photo = json(&body);
    assert_eq!(photo["content_type"].as_str(), Some("image/png"), "{body}");
    photo["id"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| panic!("no id in {body}"))
}

fn assert_photo_served(port: u16, id: &str, png: &[u8]) {
    let list = http::request(port, "GET", "/api/photos", &[], &[]).unwrap();
    assert_eq!(list.status, 200, "{}", list.text());
    assert!(
        list.text().contains(&format!("\"{id}\"")),
        "{id} not listed: {}",
        list.text()
    );
    let original =
        http::request(port, "GET", &format!("/api/photos/{id}/original"), &[], &[]).unwrap();
    assert_eq!(original.status, 200, "{}", original.text());
    assert_eq!(original.header("content-type"), Some("image/png"));
    assert!(original.body == png, "original differs from the upload");
    let thumb = http::request(
        port,
        "GET",
        &format!("/api/photos/{id}/thumbnail?size=64"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(thumb.status, 200, "{}", thumb.text());
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    assert!(
        thumb.body.starts_with(&[0xff, 0xd8, 0xff]) && thumb.body.ends_with(&[0xff, 0xd9]),
        "thumbnail is not a JPEG ({} bytes)",
        thumb.body.len()
    );
}

#[test]
fn hardened_container_stores_photos_that_survive_a_new_container_on_the_volume() {
    let image = prod_image();
    let volume = unique_name("pixie-e2e-data");
    let _volume = Volumes(vec![volume.clone()]);
    ok(docker().args(["volume", "create", &volume]));
    let mount = format!("{volume}:/data");
    let mut args = HARDENED.to_vec();
    args.extend(["-v", &mount]);

    let png = png_rgb(96, 64, |x, y| [(x * 2) as u8, (y * 3) as u8, 0x5a]);
    let (guard, id, port) = run_detached(image, &args);
    wait_healthy(&id, port, Duration::from_secs(30));
    assert_eq!(
        inspect(
            &id,
            "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.SecurityOpt}}"
        ),
        r#"true ["no-new-privileges"]"#
    );
    assert_all_capabilities_dropped(&id);
    // As the kernel sees the service: no capabilities at all, and no privilege gain possible.
    let status = ok(docker().args(["exec", &id, "cat", "/proc/1/status"]));
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {k} in {status}"))
            .to_string()
    };
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapBnd:"), "0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "1");
    // Even root (which owns /usr) cannot write there: the root filesystem is read-only.
    let write = docker()
        .args(["exec", "-u", "0", &id, "touch", "/usr/x"])
        .output()
        .unwrap();
    let (_, why) = text(&write);
    assert!(
        !write.status.success() && why.contains("Read-only file system"),
        "the root filesystem is writable: {why}"
    );

    let photo = upload(port, &png);
    assert_photo_served(port, &photo, &png);
    drop(guard); // rm -f -v: the container and anonymous volumes go, the named volume stays

    let (_guard, id2, port2) = run_detached(image, &args);
    wait_healthy(&id2, port2, Duration::from_secs(30));
    assert_photo_served(port2, &photo, &png);
}

#[test]
fn docker_stop_ends_the_service_through_its_own_sigterm_handling_within_2s() {
    let image = prod_image();
    let (_guard, id, port) = run_detached(image, &HARDENED);
    wait_healthy(&id, port, Duration::from_secs(30));
    let started = Instant::now();
    ok(docker().args(["stop", "--time", "10", &id]));
    let took = started.elapsed();
    eprintln!("docker stop took {:.2}s", took.as_secs_f64());
    let logs = docker().args(["logs", &id]).output().unwrap();
    let (out, err) = text(&logs);
    assert!(
        took < Duration::from_secs(2),
        "docker stop took {took:?} (SIGTERM ignored? the engine kills after --time):\n{out}{err}"
    );
    assert_eq!(
        inspect(&id, "{{.State.ExitCode}} {{.State.OOMKilled}}"),
        "0 false",
        "{out}{err}"
    );
    assert!(
        err.contains("shutdown complete") || out.contains("shutdown complete"),
        "the service did not log its own shutdown:\n{out}{err}"
    );
}

fn assert_healthcheck_passes(image: &str) {
    let mut args = HARDENED.to_vec();
    args.extend(["--health-interval", "1s"]);
    let (_guard, id, port) = run_detached(image, &args);
    let state = wait_for(Duration::from_secs(30), || {
        match health_status(&id).as_str() {
            "healthy" => Some("healthy".to_string()),
            "unhealthy" => Some("unhealthy".to_string()),
            _ => None,
        }
    });
    let health = inspect(&id, "{{json .State.Health}}");
    assert_eq!(state.as_deref(), Some("healthy"), "{image}: {health}");
    let (status, body) = get_text(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{image}: {body}");
    eprintln!("image sizes: {image} {:.1} MB", image_size_mb(image));
}

#[test]
fn busybox_runtime_image_becomes_healthy() {
    assert_healthcheck_passes(prod_image());
}

#[test]
fn scratch_runtime_image_becomes_healthy() {
    let image = scratch_image();
    // Really scratch: no shell in any layer.
    let paths = image_layer_paths(image);
    assert!(
        !paths
            .iter()
            .any(|(_, p)| p == "bin/sh" || p == "bin/busybox"),
        "{image} has a shell"
    );
    assert_healthcheck_passes(image);
}
