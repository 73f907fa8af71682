use super::*;
use crate::ctx::fake::ctx_with;
use crate::docker::build::{DockerBuild, Output, Secret};
use crate::docker::engine::BuildRoute;
use crate::docker::podman::RemoveBuildahLeftovers;
use crate::plan::Task;
use crate::settings::Flags;
use crate::workspace::PROD_DOCKERFILE;

const OLD_PODMAN: BuildRoute = BuildRoute::Buildah { layer_cache: false };

fn prod(route: BuildRoute) -> (crate::ctx::Ctx, DockerBuild) {
    let ctx = ctx_with(route, &[], Flags::new());
    let build = DockerBuild {
        compile_stage: Some("build".into()),
        tags: vec!["pixie-core:latest".into()],
        ..DockerBuild::new("build prod image", PROD_DOCKERFILE)
            .build_arg("GO_IMAGE", "pixie-base/go:1.26.8")
            .build_arg("VERSION", "v1")
    };
    (ctx, build)
}

fn builder_of(plan: &Plan) -> &Builder {
    &plan.actions::<EnsureBuilder>()[0].builder
}

#[test]
fn old_podman_compiles_in_the_builder_then_builds_the_final_stage_from_its_folder() {
    let (ctx, build) = prod(OLD_PODMAN);
    let plan = build.plan(&ctx.docker()).unwrap();
    let name = builder_of(&plan).name.clone();
    assert!(
        name.starts_with(&ctx.ws.project_name("", "builder")),
        "{name}"
    );
    assert_eq!(
        plan.labels(),
        [
            format!("start builder {name} unless it runs").as_str(),
            &format!("build prod image: compile in builder {name}"),
            "build prod image"
        ]
    );
    let steps = plan.commands();
    let (exec, assembly) = (steps[0], steps[1]);
    let out = exec.flag_values("--env").next().unwrap();
    let id = out
        .strip_prefix("OUT=/builds/")
        .and_then(|rest| rest.strip_suffix("/out"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(exec.args.starts_with(&["exec".to_string()]));
    assert!(exec.args.ends_with(&[
        name.clone(),
        "sh".into(),
        format!("/src/{GO_BUILD_SCRIPT}"),
        "rootfs".into(),
        "modules".into(),
        "compile".into()
    ]));
    let env: Vec<&str> = exec.flag_values("--env").collect();
    for wanted in [
        "GO_IMAGE=pixie-base/go:1.26.8",
        "VERSION=v1",
        "TARGETOS=linux",
    ] {
        assert!(env.contains(&wanted), "{env:?}");
    }
    let context = ctx.ws.path("target/xtask/builder").join(id);
    assert_eq!(
        assembly.flag_value("--build-context"),
        Some(format!("build={}", context.display()).as_str())
    );
    assert!(assembly.args.contains(&"--layers=false".to_string()));
    assert!(assembly.lock.is_some(), "podman builds stay one at a time");
    let cleanup: Vec<&Task> = plan.cleanup.iter().collect();
    assert_eq!(
        cleanup[1].action::<RemoveTree>(),
        Some(&RemoveTree(context))
    );
    let stop = cleanup[0].action::<StopJobIfInterrupted>().unwrap();
    assert_eq!(
        stop.args(),
        [
            "exec",
            &name,
            "sh",
            "-c",
            KILL_BY_ARGUMENT,
            &format!("/builds/{id}/out/")
        ]
    );
    assert!(cleanup[2].action::<RemoveBuildahLeftovers>().is_some());
    let builder = builder_of(&plan);
    assert_eq!((builder.offline, &builder.netrc), (false, &None));
    // Two builds never share an output folder.
    let again = build.plan(&ctx.docker()).unwrap();
    assert_ne!(
        again.commands()[1].flag_value("--build-context"),
        assembly.flag_value("--build-context")
    );
}

#[test]
fn with_a_fingerprint_the_builder_the_compile_and_the_assembly_wait_on_the_skip_file() {
    let (ctx, _) = prod(OLD_PODMAN);
    let builder = Builder::of(&ctx.docker(), "pixie-base/go:1.26.8", false, None);
    let job = builder.job();
    let skip = SkipUnchanged {
        podman: builder.podman.clone(),
        tags: vec!["pixie-core:latest".into()],
        fingerprint: "00ff".into(),
        skip: job.context.with_extension("skip"),
    };
    let assemble = Step::new("build prod image", &builder.podman, &ctx.ws.root);
    let plan = builder.plan(&job, &[], assemble, Some(skip.clone()));
    assert_eq!(plan.actions::<SkipUnchanged>(), [&skip]);
    assert_eq!(
        plan.actions::<EnsureBuilder>()[0].unless_exists.as_ref(),
        Some(&skip.skip)
    );
    for step in plan.commands() {
        assert_eq!(
            step.unless_exists.as_ref(),
            Some(&skip.skip),
            "{}",
            step.label
        );
    }
    assert!(plan
        .cleanup
        .iter()
        .any(|t| t.action::<RemoveFile>() == Some(&RemoveFile(skip.skip.clone()))));
    assert!(plan.labels()[0].starts_with("skip build prod image"));
}

#[test]
fn the_builder_route_is_for_old_podman_and_a_compile_stage_only() {
    for route in [
        BuildRoute::BuiltIn,
        BuildRoute::Buildx,
        BuildRoute::Buildah { layer_cache: true },
    ] {
        let (ctx, build) = prod(route);
        let plan = build.plan(&ctx.docker()).unwrap();
        assert_eq!(plan.labels(), ["build prod image"], "{route:?}");
    }
    let (ctx, build) = prod(OLD_PODMAN);
    let dev = DockerBuild {
        compile_stage: None,
        ..build
    };
    assert_eq!(
        dev.plan(&ctx.docker()).unwrap().commands()[0].args[0],
        "build"
    );
}

#[test]
fn vendored_builds_get_an_offline_builder_and_the_netrc_is_its_only_secret() {
    let (ctx, build) = prod(OLD_PODMAN);
    let netrc = Secret {
        id: "netrc".into(),
        src: "/home/u/.netrc".into(),
    };
    let offline = DockerBuild {
        offline: true,
        secrets: vec![netrc.clone()],
        output: Output::Local("/tmp/out".into()),
        stage: Some("binary".into()),
        ..build.clone()
    };
    let plan = offline.plan(&ctx.docker()).unwrap();
    let builder = builder_of(&plan);
    assert!(builder.offline);
    let online = build.plan(&ctx.docker()).unwrap();
    assert_ne!(
        builder.name,
        builder_of(&online).name,
        "other settings, another builder"
    );
    assert_eq!(builder.netrc.as_deref(), Some(Path::new("/home/u/.netrc")));
    let run = builder.run_args("k");
    assert!(
        run.windows(2).any(|w| w == ["--network", "none"]),
        "{run:?}"
    );
    assert!(
        run.contains(&"/home/u/.netrc:/root/.netrc:ro".to_string()),
        "{run:?}"
    );
    let assembly = plan.commands()[1];
    assert!(
        assembly.flag_value("--secret").is_none(),
        "the compile stage is not run"
    );
    assert_eq!(assembly.flag_value("--target"), Some("binary"));
    assert_eq!(
        assembly.flag_value("--output"),
        Some("type=local,dest=/tmp/out")
    );
    let other = DockerBuild {
        secrets: vec![Secret {
            id: "npmrc".into(),
            ..netrc
        }],
        ..build
    };
    assert_eq!(
            other.plan(&ctx.docker()).unwrap_err().to_string(),
            "secret `npmrc`: the Podman builder route mounts only the `netrc` secret; drop it, or use Podman 5.4+ or Docker"
        );
}

#[test]
fn the_builder_runs_read_only_over_the_checkout_and_its_dry_run_is_shell() {
    let (ctx, build) = prod(OLD_PODMAN);
    let plan = build.plan(&ctx.docker()).unwrap();
    let run = builder_of(&plan).run_args("k");
    let root = ctx.ws.root.display();
    for mount in [
        format!("{root}:/src:ro"),
        format!("{root}/target/xtask/builder:/builds"),
        "pixie-go-mod-cache:/go/pkg/mod".into(),
        "pixie-go-build-cache:/root/.cache/go-build".into(),
    ] {
        assert!(run.contains(&mount), "{mount} in {run:?}");
    }
    assert!(run
        .windows(2)
        .any(|w| w == ["--label", "pixie.builder.key=k"]));
    let text = plan.to_string();
    let check = Command::new("bash")
        .args(["-n", "-c", &text])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_key_names_the_image_and_this_very_checkout() {
    let dir = std::env::temp_dir().join(format!("xtask-builder-key-{}", std::process::id()));
    let builds = dir.join("target/xtask/builder");
    std::fs::create_dir_all(&builds).unwrap();
    let builder = Builder {
        podman: "podman".into(),
        name: "b".into(),
        go_image: "go".into(),
        workspace: dir.clone(),
        builds: builds.clone(),
        offline: false,
        netrc: None,
    };
    let first = builder.key("sha256:1").unwrap();
    assert!(first.starts_with("image=sha256:1,workspace="), "{first}");
    assert_ne!(builder.key("sha256:2").unwrap(), first);
    // The builds folder made again (`clean`, `cargo clean`) is another folder: its inode
    // cannot be the old one's while a builder's mount (here: an open handle) holds that.
    let mounted = std::fs::File::open(&builds).unwrap();
    std::fs::remove_dir_all(&builds).unwrap();
    std::fs::create_dir_all(&builds).unwrap();
    let remade = builder.key("sha256:1").unwrap();
    drop(mounted);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_ne!(remade, first);
}
