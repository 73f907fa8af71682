//! What the bench leaves in the engine's image store: its rebuilds under its own tags untag the
//! image before (dangling `<none>` on Docker 20.10's built-in BuildKit and on Podman), and
//! `MadeImages`, which the bench notes every build in, removes exactly those at its end.

use std::path::Path;

use xtask::docker::untagged::MadeImages;
use xtask::testkit::docker::{docker, engine, hold_podman_build_lock, require_engine};
use xtask::testkit::{ok, unique_name, RemoveDir};

/// Builds a one-file image under `tag` from `dir` whose content is `marker`.
fn build(dir: &Path, tag: &str, marker: &str) {
    std::fs::write(dir.join("marker"), marker).unwrap();
    let _held = hold_podman_build_lock();
    ok(docker()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--quiet", "--tag", tag])
        .arg(dir));
}

/// Image IDs without the `sha256:` that Docker writes everywhere and Podman only in `images`.
fn bare(id: &str) -> String {
    id.trim().trim_start_matches("sha256:").to_string()
}

fn image_ids(filter: &str) -> Vec<String> {
    ok(docker().args(["images", "--quiet", "--no-trunc", "--filter", filter]))
        .lines()
        .map(bare)
        .collect()
}

fn id_of(tag: &str) -> String {
    bare(&ok(
        docker().args(["image", "inspect", "--format", "{{.Id}}", tag])
    ))
}

#[test]
fn rebuilds_under_one_tag_leave_no_dangling_image_once_the_untagged_are_removed() {
    require_engine();
    let dir = std::env::temp_dir().join(unique_name("pixie-untagged"));
    std::fs::create_dir_all(&dir).unwrap();
    let _remove = RemoveDir(dir.clone());
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY marker /marker\n",
    )
    .unwrap();
    let tag = format!("{}:1", unique_name("pixie-bench-untagged"));
    let cli = &engine().cli.path;
    let mut made = MadeImages::default();
    let mut ids = Vec::new();
    for marker in ["first", "second", "third"] {
        build(&dir, &tag, &format!("{marker} {tag}"));
        made.note(cli, &tag);
        ids.push(id_of(&tag));
    }
    let dangling = image_ids("dangling=true");
    assert!(
        ids[..2].iter().all(|id| dangling.contains(id)),
        "the rebuilds should have left the first two images untagged: {ids:?} among {dangling:?}"
    );
    assert_eq!(made.remove_untagged(cli), Vec::<String>::new());
    let dangling = image_ids("dangling=true");
    for id in &ids[..2] {
        assert!(!dangling.contains(id), "{id} is still dangling");
    }
    assert_eq!(id_of(&tag), ids[2], "the tagged image stays");
    ok(docker().args(["rmi", &tag]));
}
