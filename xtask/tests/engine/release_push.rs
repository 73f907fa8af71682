//! A release push through the shared BuildKit builder of `.ci/provision-builders`: one signed,
//! attested, two-platform list on a real registry, whose amd64 image serves.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use xtask::testkit::docker::{docker, run_detached, wait_healthy, Untag};
use xtask::testkit::registry::LocalRegistry;
use xtask::testkit::{ok, repo_root, text, unique_name, RemoveDir};

use crate::registry_cache::{
    build_on_remote_builder, builder_docker_config, builder_name, buildx, cli_on_path, combined,
    config_value, require_remote_builder, PROVISION_HINT,
};
use crate::xtask;

/// The SBOM generator of `.ci/sbom-generator`, built on the remote builder from `go_image` and
/// pushed to `reg`: BuildKit's default scanner cannot be pulled here.
fn push_sbom_generator(reg: &str, go_image: &str) -> String {
    let image = format!("{reg}/pixie-sbom-generator:test");
    ok(&mut buildx(&[
        "build",
        "--builder",
        &builder_name(),
        "--push",
        "--tag",
        &image,
        "--build-arg",
        &format!("GO_IMAGE={go_image}"),
        repo_root().join(".ci/sbom-generator").to_str().unwrap(),
    ]));
    image
}

/// `buildx imagetools inspect IMAGE --format FORMAT`, parsed.
fn imagetools(image: &str, format: &str) -> serde_json::Value {
    xtask::testkit::json(&ok(&mut buildx(&[
        "imagetools",
        "inspect",
        image,
        "--format",
        format,
    ])))
}

const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

fn cosign() -> PathBuf {
    let path: PathBuf = std::env::var_os("PIXIE_CI_COSIGN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/opt/pixie-ci/tools/cosign-v2.6.5/cosign".into());
    assert!(
        path.is_file(),
        "{} is missing; {PROVISION_HINT}",
        path.display()
    );
    path
}

/// `cosign verify` of `image` against `public_key`, offline (no transparency log) on the
/// loopback http registry.
fn cosign_verify(public_key: &Path, image: &str) -> Output {
    Command::new(cosign())
        .args(["verify", "--key"])
        .arg(public_key)
        .args([
            "--insecure-ignore-tlog=true",
            "--allow-insecure-registry",
            "--allow-http-registry",
            image,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_release_push_is_one_signed_attested_two_platform_list_whose_amd64_image_serves() {
    let _builder = require_remote_builder();
    // Without cosign, --sign is one line naming the fix, before anything runs.
    let out = xtask()
        .args(["--dry-run", "build-prod", "--module", "core"])
        .args(["--builder", &builder_name()])
        .args([
            "--push",
            "--tag",
            "127.0.0.1:1/p:v1",
            "--sign",
            "cosign.key",
        ])
        .env("DOCKER", cli_on_path())
        .env("DOCKER_CONFIG", builder_docker_config())
        .env("PIXIE_CI_COSIGN", "/nonexistent/cosign")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out).1.trim_end().lines().last(),
        Some(
            "error: --sign: PIXIE_CI_COSIGN points at /nonexistent/cosign, which does not exist; run \
             `sudo bash .ci/provision-builders` (it builds cosign v2.6.5 and prints PIXIE_CI_COSIGN) or unset it \
             to use cosign on PATH"
        )
    );

    let registry = LocalRegistry::start().unwrap_or_else(|e| panic!("{e:#}"));
    let reg = registry.host();
    let mut untag = Untag(Vec::new());
    let go_image = registry
        .push_image(&config_value("base_images.go"), &mut untag.0)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let generator = push_sbom_generator(&reg, &go_image);
    // The base image pinned by digest, as the README recommends.
    let go_digest = imagetools(&go_image, "{{json .Manifest}}")["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let pinned_go = format!("{go_image}@{go_digest}");
    let keys = std::env::temp_dir().join(unique_name("pixie-cosign"));
    std::fs::create_dir_all(&keys).unwrap();
    let _remove_keys = RemoveDir(keys.clone());
    let password = "pixie-test-password";
    ok(Command::new(cosign())
        .args(["generate-key-pair"])
        .current_dir(&keys)
        .env("COSIGN_PASSWORD", password)
        .stdin(Stdio::null()));

    // A netrc secret rides along: its content must stay out of the provenance.
    let netrc_password = unique_name("netrc-password");
    let netrc = keys.join("netrc");
    std::fs::write(
        &netrc,
        format!("machine goproxy.invalid login ci password {netrc_password}\n"),
    )
    .unwrap();
    let release = format!("{reg}/pixie-core:release");
    // The checkout itself (not a copy): the stamp, and so the provenance, names its HEAD.
    let started = Instant::now();
    build_on_remote_builder(
        &repo_root(),
        &[
            ("PIXIE_GO_IMAGE", &pinned_go),
            // scratch exists for every platform; the local busybox base is amd64 only.
            ("PIXIE_RUNTIME_IMAGE", "scratch"),
            ("PIXIE_PROD_IMAGE", &release),
            ("PIXIE_SBOM_GENERATOR", &generator),
            ("PIXIE_CI_COSIGN", cosign().to_str().unwrap()),
            ("COSIGN_PASSWORD", password),
            ("PIXIE_NETRC", netrc.to_str().unwrap()),
        ],
        &[
            "--push",
            "--tag",
            &release,
            "--platform",
            &PLATFORMS.join(","),
            "--sign",
            keys.join("cosign.key").to_str().unwrap(),
        ],
    );
    let build_secs = started.elapsed().as_secs_f64();

    let index = imagetools(&release, "{{json .Manifest}}");
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("not a manifest list: {index}"))
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or(""),
                m["platform"]["architecture"].as_str().unwrap_or("")
            )
        })
        .filter(|p| p != "unknown/unknown") // the attestation manifests
        .collect();
    assert_eq!(platforms, PLATFORMS, "{index}");
    let pushed_digest = index["digest"].as_str().unwrap().to_string();

    let head = crate::head_commit();
    let sbom = imagetools(&release, "{{json .SBOM}}");
    let provenance = imagetools(&release, "{{json .Provenance}}");
    for platform in PLATFORMS {
        let spdx = sbom[platform]["SPDX"].to_string();
        assert!(
            spdx.contains("pkg:golang/github.com/pixie-photos/pixie/core")
                && spdx.contains("pkg:golang/google.golang.org/grpc@"),
            "{platform}: the SBOM does not list the binary's modules: {spdx}"
        );
        let slsa = provenance[platform]["SLSA"].to_string();
        assert!(
            slsa.contains(&format!("\"build-arg:COMMIT\":\"{head}\"")),
            "{platform}: the provenance does not name commit {head}: {slsa}"
        );
        assert!(
            slsa.contains(&go_digest),
            "{platform}: the provenance lacks the pinned base: {slsa}"
        );
    }

    // The signature verifies against the public key, on the pushed digest.
    let public_key = keys.join("cosign.pub");
    let verified = cosign_verify(&public_key, &release);
    assert!(
        verified.status.success(),
        "cosign verify: {}",
        combined(&verified)
    );
    assert!(
        text(&verified).0.contains(&pushed_digest),
        "verified another digest than {pushed_digest}: {}",
        combined(&verified)
    );

    // The engine pulls its own platform from the list and serves it.
    untag.0.push(release.clone());
    ok(docker().args(["pull", "-q", &release]));
    assert_eq!(
        ok(docker().args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            &release
        ])),
        "amd64"
    );
    let (container, id, port) = run_detached(&release, &[]);
    wait_healthy(&id, port, Duration::from_secs(30));
    drop(container);

    // Another image pushed under the same tag: the signature no longer verifies.
    ok(&mut buildx(&[
        "imagetools",
        "create",
        "--builder",
        &builder_name(),
        "--tag",
        &release,
        &go_image,
    ]));
    let tampered = cosign_verify(&public_key, &release);
    assert!(
        !tampered.status.success(),
        "a re-pushed tag still verifies: {}",
        combined(&tampered)
    );
    eprintln!(
        "release push (2 platforms, SBOM + max provenance each, cosign signature, remote builder): \
         {build_secs:.1}s; cosign verify passed on {pushed_digest}, failed on the re-pushed tag"
    );
    drop(untag);
}
