use super::*;
use crate::ctx::fake::ctx_with;
use crate::settings::Flags;

#[test]
fn cache_specs_parse_into_what_each_route_can_express() {
    assert_eq!(CacheSpec::parse("type=inline"), CacheSpec::Inline);
    assert_eq!(
        CacheSpec::parse("ref=r/p:c,type=registry"),
        CacheSpec::Registry("r/p:c".into())
    );
    assert_eq!(
        CacheSpec::parse("r/p:c").buildx(),
        "type=registry,ref=r/p:c"
    );
    assert_eq!(
        CacheSpec::parse("type=registry,ref=r/p:c,mode=max"),
        CacheSpec::Other("type=registry,ref=r/p:c,mode=max".into())
    );
}

#[test]
fn base_images_pinned_by_digest_pass_and_a_malformed_digest_is_one_line() {
    let ctx = ctx_with(BuildRoute::Buildx, &[], Flags::new());
    let digest = "a".repeat(64);
    let build = |go: &str| {
        DockerBuild::new("b", crate::workspace::PROD_DOCKERFILE)
            .build_arg("GO_IMAGE", go)
            .step(&ctx.docker())
    };
    let pinned = format!("golang:1.26.8-alpine3.23@sha256:{digest}");
    let step = build(&pinned).unwrap();
    assert!(step
        .flag_values("--build-arg")
        .any(|a| a == format!("GO_IMAGE={pinned}")));
    assert!(build("golang:1.26.8-alpine3.23").is_ok());
    for bad in [
        "golang:1.26@sha256:abc",
        "golang:1.26@sha512:x",
        &format!("golang:1.26@sha256:{}", "A".repeat(64)),
    ] {
        let name = bad.split('@').next().unwrap();
        assert_eq!(
                build(bad).unwrap_err().to_string(),
                format!("base image `{bad}` has a malformed digest: write it as {name}@sha256:<64 lowercase hex digits>, the `Digest:` line of `docker buildx imagetools inspect {name}`")
            );
    }
}

#[test]
fn secrets_stages_and_local_outputs_are_typed_flags() {
    let ctx = ctx_with(BuildRoute::Buildx, &[], Flags::new());
    let build = DockerBuild {
        stage: Some("binary".into()),
        output: Output::Local("/tmp/out".into()),
        secrets: vec![Secret {
            id: "netrc".into(),
            src: "/home/u/.netrc".into(),
        }],
        plain_progress: true,
        ..DockerBuild::new("b", crate::workspace::PROD_DOCKERFILE)
    };
    let step = build.step(&ctx.docker()).unwrap();
    assert_eq!(
        &step.args[..6],
        [
            "buildx",
            "build",
            "--target",
            "binary",
            "--output",
            "type=local,dest=/tmp/out"
        ]
    );
    assert_eq!(
        step.flag_value("--secret"),
        Some("id=netrc,src=/home/u/.netrc")
    );
    assert_eq!(step.env_value("BUILDKIT_PROGRESS"), Some("plain"));
}

const OLD_PODMAN: BuildRoute = BuildRoute::Buildah { layer_cache: false };

#[test]
fn podman_builds_docker_format_without_layers_on_old_buildah_and_without_buildkit_env() {
    let ctx = ctx_with(OLD_PODMAN, &[], Flags::new());
    let step = DockerBuild {
        tags: vec!["pixie-core:latest".into()],
        offline: true,
        plain_progress: true,
        timestamp: Some(1_795_617_845),
        ..DockerBuild::new("b", crate::workspace::PROD_DOCKERFILE)
    }
    .step(&ctx.docker())
    .unwrap();
    assert_eq!(step.program, PathBuf::from("/usr/bin/podman"));
    assert_eq!(
        step.args,
        [
            "build",
            "--format",
            "docker",
            "--layers=false",
            "--timestamp=1795617845",
            "--file",
            crate::workspace::PROD_DOCKERFILE,
            "--tag",
            "pixie-core:latest",
            "--network=none",
            "."
        ]
    );
    assert!(step.env.is_empty(), "{:?}", step.env);
    assert_eq!(step.lock, Some(podman_build_lock(&ctx.docker())));
    let cleanup = DockerBuild::default().cleanup(&ctx.docker()).unwrap();
    assert!(cleanup.action::<RemoveBuildahLeftovers>().is_some());
    let new = ctx_with(BuildRoute::Buildah { layer_cache: true }, &[], Flags::new());
    let step = DockerBuild::new("b", crate::workspace::DEV_DOCKERFILE)
        .step(&new.docker())
        .unwrap();
    assert_eq!(step.args[..3], ["build", "--format", "docker"]);
    assert!(!step.args.contains(&"--layers=false".to_string()));
}

#[test]
fn podman_cross_builds_name_the_host_platform_and_keep_secrets_targets_and_local_output() {
    let ctx = ctx_with(OLD_PODMAN, &[], Flags::new());
    let step = DockerBuild {
        stage: Some("binary".into()),
        output: Output::Local("/tmp/out".into()),
        platform: Some("linux/arm64".into()),
        secrets: vec![Secret {
            id: "netrc".into(),
            src: "/home/u/.netrc".into(),
        }],
        ..DockerBuild::new("b", crate::workspace::PROD_DOCKERFILE)
    }
    .step(&ctx.docker())
    .unwrap();
    assert_eq!(step.flag_value("--target"), Some("binary"));
    assert_eq!(
        step.flag_value("--output"),
        Some("type=local,dest=/tmp/out")
    );
    assert_eq!(step.flag_value("--platform"), Some("linux/arm64"));
    assert_eq!(
        step.flag_values("--build-arg").collect::<Vec<_>>(),
        [format!("BUILDPLATFORM={}", host_platform())]
    );
    assert_eq!(
        step.flag_value("--secret"),
        Some("id=netrc,src=/home/u/.netrc")
    );
    assert!(!step.args.contains(&"--load".to_string()));
}

#[test]
fn podman_refuses_buildkit_caches_and_builders_in_one_line() {
    let ctx = ctx_with(OLD_PODMAN, &[], Flags::new());
    let refuse = |build: DockerBuild| format!("{:#}", build.step(&ctx.docker()).unwrap_err());
    let base = || DockerBuild::new("b", crate::workspace::PROD_DOCKERFILE);
    assert_eq!(
            refuse(DockerBuild {
                cache_to: Some(CacheSpec::Registry("r/p:c".into())),
                ..base()
            }),
            "--cache-to `type=registry,ref=r/p:c` needs BuildKit: /usr/bin/podman builds with podman build \
             (buildah), which keeps its cache in Podman's own store; drop --cache-to, or point DOCKER at a \
             docker CLI with buildx"
        );
    assert!(refuse(DockerBuild {
        cache_from: vec![CacheSpec::Inline],
        ..base()
    })
    .starts_with("--cache-from `type=inline` needs BuildKit"));
    assert_eq!(
            refuse(DockerBuild {
                builder: Some("remote".into()),
                ..base()
            }),
            "--builder remote needs Docker's buildx plugin, but /usr/bin/podman builds with podman build \
             (buildah); drop --builder, or point DOCKER at a docker CLI with buildx"
        );
}

#[test]
fn podman_pushes_with_a_push_step_after_the_build() {
    assert!(OLD_PODMAN.pushes_separately() && BuildRoute::BuiltIn.pushes_separately());
    assert!(!BuildRoute::Buildx.pushes_separately());
    let ctx = ctx_with(OLD_PODMAN, &[], Flags::new());
    let step = DockerBuild {
        output: Output::Push,
        tags: vec!["reg/p:1".into()],
        ..DockerBuild::new("b", crate::workspace::PROD_DOCKERFILE)
    }
    .step(&ctx.docker())
    .unwrap();
    assert!(!step.args.iter().any(|a| a == "--push"));
    assert_eq!(
        push_step(&ctx.docker(), "reg/p:1").shell_line(),
        "/usr/bin/podman push reg/p:1"
    );
}
