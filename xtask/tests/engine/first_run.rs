//! A machine where provisioning never ran: builds stop before BuildKit with one line naming the
//! missing base image and the fix, and `doctor` shows the same as a FAIL line.

use xtask::testkit::docker::require_engine;
use xtask::testkit::text;

use crate::xtask;

const MISSING: &str = "pixie-never-provisioned/go:0";

#[test]
fn a_missing_base_image_is_one_line_naming_the_fix() {
    require_engine();
    let expected = format!(
        "base image {MISSING} (base_images.go) is not on the engine and cannot be pulled; run \
         `bash .ci/provision` to make local base images, or set base_images.go (env \
         PIXIE_GO_IMAGE) to an image the engine has"
    );
    for command in ["build-prod", "build-dev"] {
        let out = xtask()
            .arg(command)
            .env("PIXIE_GO_IMAGE", MISSING)
            .output()
            .unwrap();
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some(format!("error: {expected}").as_str()),
            "{stderr}"
        );
        assert!(!stderr.contains("failed to do request"), "{stderr}");
    }
    let out = xtask()
        .arg("doctor")
        .env("PIXIE_GO_IMAGE", MISSING)
        .output()
        .unwrap();
    let stdout = text(&out).0;
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("FAIL base_images.go   {expected}")),
        "{stdout}"
    );
    // The provisioned image, from deployments/pixie.local.yaml or the environment, passes.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok   base_images.runtime") && l.ends_with(" on the engine")),
        "{stdout}"
    );
}
