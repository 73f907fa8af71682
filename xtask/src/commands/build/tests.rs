    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::build::builtin_buildkit_lock;
    use crate::files::RecordFingerprint;
    use crate::plan::{Action, ActionCx, Step, Task};
    use crate::settings::{Flags, Value};
    use crate::ui::Ui;
    use crate::workspace::{DEV_DOCKERFILE, PROD_DOCKERFILE};

    /// The build steps (the commands) of a plan.
    fn commands(plan: &Plan) -> Vec<Step> {
        plan.commands().into_iter().cloned().collect()
    }

    fn first(route: BuildRoute, env: &[(&str, &str)], flags: Flags, target: Target) -> Step {
        let ctx = ctx_with(route, env, flags);
        commands(&plan(&ctx, target, &BuildArgs::default()).unwrap()).remove(0)
    }

    #[test]
    fn prod_build_passes_base_images_and_stamp_as_build_args() {
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let plan = plan(&ctx, Target::Prod, &BuildArgs::default()).unwrap();
        let step = &commands(&plan)[0];
        assert_eq!(step.args[0], "build");
        assert_eq!(step.flag_value("--file"), Some(PROD_DOCKERFILE));
        assert_eq!(step.flag_value("--tag"), Some("pixie-core:latest"));
        let args: Vec<&str> = step.flag_values("--build-arg").collect();
        assert!(
            args.contains(&"GO_IMAGE=golang:1.26.8-alpine3.23"),
            "{args:?}"
        );
        assert!(args.contains(&"RUNTIME_IMAGE=alpine:3.23.0"), "{args:?}");
        assert!(args.contains(&"COMMIT=0123abc"), "{args:?}");
        assert!(
            args.contains(&"BUILD_DATE=2026-11-25T14:44:05Z"),
            "{args:?}"
        );
        assert!(
            !args.iter().any(|a| a.starts_with("GOGC=")),
            "GOGC unset means Go's default: {args:?}"
        );
        assert_eq!(step.args.last().map(String::as_str), Some("."));
        assert_eq!(step.env_value("DOCKER_BUILDKIT"), Some("1"));
        assert_eq!(step.cwd, ctx.ws.root);
    }

    #[test]
    fn built_in_route_builds_one_at_a_time_and_buildx_does_not_wait() {
        let built_in = ctx_with(BuildRoute::BuiltIn, &[], Flags::new());
        let step = first(BuildRoute::BuiltIn, &[], Flags::new(), Target::Dev);
        assert_eq!(step.lock, Some(builtin_buildkit_lock(&built_in.docker())));
        let step = first(BuildRoute::Buildx, &[], Flags::new(), Target::Dev);
        assert_eq!(step.lock, None);
    }

    /// build-prod of core's image alone.
    fn core_only() -> BuildArgs {
        BuildArgs {
            modules: vec!["core".into()],
            ..BuildArgs::default()
        }
    }

    #[test]
    fn buildx_route_loads_the_result_into_the_engine() {
        let plan = prod_plan(BuildRoute::Buildx, &[], Flags::new(), core_only()).unwrap();
        let step = &commands(&plan)[0];
        assert_eq!(&step.args[..2], ["buildx", "build"]);
        assert!(step.args.contains(&"--load".to_string()), "{:?}", step.args);
    }

    #[test]
    fn every_module_image_is_one_bake_on_buildx_and_one_build_each_elsewhere() {
        let targets = |route| {
            let plan = prod_plan(route, &[], Flags::new(), BuildArgs::default()).unwrap();
            commands(&plan)
                .iter()
                .map(|s| s.args[..2].join(" ") + " " + s.args.last().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(targets(BuildRoute::Buildx), ["buildx bake thumbnailer"]);
        assert_eq!(targets(BuildRoute::BuiltIn), ["build --target .", "build --target ."]);
        // Vendored (offline): buildx 0.13's bake cannot take --network=none.
        let vendored = prod_plan(
            BuildRoute::Buildx,
            &[("PIXIE_VENDOR", "true")],
            Flags::new(),
            BuildArgs::default(),
        )
        .unwrap();
        let builds: Vec<_> = commands(&vendored).into_iter().skip(1).collect();
        assert!(
            builds.len() == 2 && builds.iter().all(|s| s.args[..2] == ["buildx", "build"]),
            "{vendored}"
        );
    }

    fn prod_plan(
        route: BuildRoute,
        env: &[(&str, &str)],
        flags: Flags,
        args: BuildArgs,
    ) -> Result<Plan> {
        let ctx = ctx_with(route, env, flags);
        plan(&ctx, Target::Prod, &args)
    }

    fn text(spec: &'static settings::Spec, value: &str) -> (&'static settings::Spec, Value) {
        (spec, Value::parse(spec.kind, value).unwrap())
    }

    #[test]
    fn buildx_passes_builder_and_cache_specs_through() {
        let flags = vec![
            text(&settings::BUILDER, "remote1"),
            text(
                &settings::CACHE_FROM,
                "type=local,src=/cache reg.example/pixie:cache",
            ),
            text(
                &settings::CACHE_TO,
                "type=registry,ref=reg.example/pixie:cache,mode=max",
            ),
        ];
        let plan = prod_plan(BuildRoute::Buildx, &[], flags, core_only()).unwrap();
        let step = &commands(&plan)[0];
        assert_eq!(step.flag_value("--builder"), Some("remote1"));
        assert_eq!(
            step.flag_values("--cache-from").collect::<Vec<_>>(),
            [
                "type=local,src=/cache",
                "type=registry,ref=reg.example/pixie:cache"
            ]
        );
        assert_eq!(
            step.flag_value("--cache-to"),
            Some("type=registry,ref=reg.example/pixie:cache,mode=max")
        );
    }

    #[test]
    fn built_in_route_maps_inline_cache_and_image_refs() {
        let flags = vec![
            text(
                &settings::CACHE_FROM,
                "type=registry,ref=127.0.0.1:5000/pixie:cache",
            ),
            text(&settings::CACHE_TO, "type=inline"),
        ];
        let plan = prod_plan(BuildRoute::BuiltIn, &[], flags, BuildArgs::default()).unwrap();
        let step = &commands(&plan)[0];
        assert_eq!(
            step.flag_value("--cache-from"),
            Some("127.0.0.1:5000/pixie:cache")
        );
        assert!(step
            .flag_values("--build-arg")
            .any(|a| a == "BUILDKIT_INLINE_CACHE=1"));
        assert!(!step.args.iter().any(|a| a == "--cache-to"));
    }

    #[test]
    fn built_in_route_refuses_what_it_cannot_do_before_running() {
        let refuse = |flags: Flags| {
            format!(
                "{:#}",
                prod_plan(BuildRoute::BuiltIn, &[], flags, BuildArgs::default()).unwrap_err()
            )
        };
        let message = refuse(vec![text(
            &settings::CACHE_TO,
            "type=registry,ref=r/p:c,mode=max",
        )]);
        assert!(
            message.starts_with(
                "--cache-to `type=registry,ref=r/p:c,mode=max` needs the buildx plugin"
            ),
            "{message}"
        );
        let message = refuse(vec![text(&settings::CACHE_FROM, "type=local,src=/cache")]);
        assert!(
            message.contains("install docker-buildx-plugin"),
            "{message}"
        );
        let message = refuse(vec![text(&settings::BUILDER, "k8s")]);
        assert!(
            message.starts_with("--builder k8s needs the buildx plugin"),
            "{message}"
        );
    }

    #[test]
    fn gha_cache_without_the_actions_runtime_is_refused_up_front() {
        let message = format!(
            "{:#}",
            prod_plan(
                BuildRoute::Buildx,
                &[],
                vec![text(&settings::CACHE_TO, "type=gha,mode=max")],
                BuildArgs::default()
            )
            .unwrap_err()
        );
        assert!(
            message.contains("ACTIONS_RUNTIME_TOKEN is unset")
                && message.contains("crazy-max/ghaction-github-runtime"),
            "{message}"
        );
        let explicit = vec![text(
            &settings::CACHE_FROM,
            "type=gha,url=http://cache,token=t",
        )];
        assert!(prod_plan(BuildRoute::Buildx, &[], explicit, BuildArgs::default()).is_ok());
        let mut ctx = ctx_with(
            BuildRoute::Buildx,
            &[],
            vec![text(&settings::CACHE_TO, "type=gha,mode=max")],
        );
        ctx.host.actions_cache = true;
        assert!(plan(&ctx, Target::Prod, &BuildArgs::default()).is_ok());
    }

    #[test]
    fn push_is_a_buildx_flag_or_push_steps_on_the_built_in_route() {
        let args = || BuildArgs {
            modules: vec!["core".into()],
            push: true,
            tags: vec!["reg/pixie-core:v1".into(), "reg/pixie-core:latest".into()],
            ..BuildArgs::default()
        };
        let buildx = prod_plan(BuildRoute::Buildx, &[], Flags::new(), args()).unwrap();
        let buildx = commands(&buildx);
        assert_eq!(buildx.len(), 1);
        assert!(buildx[0].args.contains(&"--push".to_string()));
        assert!(!buildx[0].args.contains(&"--load".to_string()));
        // The built-in route cannot attest: pushing from it takes an explicit --no-attest.
        let unattested = BuildArgs {
            no_attest: true,
            ..args()
        };
        let built_in = prod_plan(BuildRoute::BuiltIn, &[], Flags::new(), unattested).unwrap();
        let built_in = commands(&built_in);
        let pushes: Vec<String> = built_in[1..].iter().map(|s| s.args.join(" ")).collect();
        assert_eq!(
            pushes,
            ["push reg/pixie-core:v1", "push reg/pixie-core:latest"]
        );
        // Only the named tags: buildx would push the local name to Docker Hub too.
        for steps in [&buildx, &built_in] {
            assert_eq!(
                steps[0].flag_values("--tag").collect::<Vec<_>>(),
                ["reg/pixie-core:v1", "reg/pixie-core:latest"]
            );
        }
    }

    #[test]
    fn buildx_pushes_attest_with_an_sbom_and_max_provenance_and_built_in_refuses() {
        let push = || BuildArgs {
            modules: vec!["core".into()],
            push: true,
            tags: vec!["reg/pixie-core:v1".into()],
            ..BuildArgs::default()
        };
        let step = &commands(&prod_plan(BuildRoute::Buildx, &[], Flags::new(), push()).unwrap())[0];
        assert!(
            step.args
                .windows(3)
                .any(|w| w == ["--push", "--sbom=true", "--provenance=mode=max"]),
            "{:?}",
            step.args
        );
        let generator = vec![text(&settings::SBOM_GENERATOR, "reg/sbom-generator:1")];
        let step = &commands(&prod_plan(BuildRoute::Buildx, &[], generator, push()).unwrap())[0];
        assert_eq!(
            step.flag_value("--attest"),
            Some("type=sbom,generator=reg/sbom-generator:1")
        );
        assert!(!step.args.contains(&"--sbom=true".to_string()));
        let unattested = BuildArgs {
            no_attest: true,
            ..push()
        };
        let step =
            &commands(&prod_plan(BuildRoute::Buildx, &[], Flags::new(), unattested).unwrap())[0];
        assert!(!step
            .args
            .iter()
            .any(|a| a.starts_with("--sbom") || a.starts_with("--provenance")));
        let message = prod_plan(BuildRoute::BuiltIn, &[], Flags::new(), push())
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "--push cannot attest (SBOM, provenance) through the engine's built-in BuildKit (/usr/bin/docker); \
             install docker-buildx-plugin to push attested images, or add --no-attest to push without"
        );
    }

    #[test]
    fn sign_takes_the_digest_buildx_reports_and_the_built_in_route_refuses() {
        let args = || BuildArgs {
            modules: vec!["core".into()],
            push: true,
            sign: Some("/keys/cosign.key".into()),
            tags: vec!["127.0.0.1:5000/pixie-core:v1".into()],
            ..BuildArgs::default()
        };
        let Ok(cosign) = sign::cosign() else {
            // No cosign here: the one-line refusal is what the plan gives.
            let message = prod_plan(BuildRoute::Buildx, &[], Flags::new(), args())
                .unwrap_err()
                .to_string();
            assert!(message.starts_with("--sign "), "{message}");
            return;
        };
        let plan = prod_plan(BuildRoute::Buildx, &[], Flags::new(), args()).unwrap();
        let metadata = commands(&plan)[0]
            .flag_value("--metadata-file")
            .unwrap()
            .to_string();
        assert_eq!(
            plan.actions::<SignPushed>(),
            [&SignPushed {
                cosign,
                key: "/keys/cosign.key".into(),
                metadata: metadata.into(),
                repositories: vec!["127.0.0.1:5000/pixie-core".into()],
            }]
        );
        let message = prod_plan(
            BuildRoute::BuiltIn,
            &[],
            Flags::new(),
            BuildArgs {
                no_attest: true,
                ..args()
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            message,
            "--sign signs the digest buildx reports for its push, but /usr/bin/docker uses the engine's built-in \
             BuildKit; install docker-buildx-plugin, or push with --no-attest and run `cosign sign --key KEY IMAGE@DIGEST`"
        );
    }

    #[test]
    fn a_multi_platform_list_is_pushed_through_buildx_only() {
        let both = || vec![text(&settings::PLATFORM, "linux/amd64,linux/arm64")];
        let push = BuildArgs {
            modules: vec!["core".into()],
            push: true,
            tags: vec!["reg/pixie-core:v1".into()],
            ..BuildArgs::default()
        };
        let step = &commands(&prod_plan(BuildRoute::Buildx, &[], both(), push.clone()).unwrap())[0];
        assert_eq!(
            step.flag_value("--platform"),
            Some("linux/amd64,linux/arm64")
        );
        let message = prod_plan(BuildRoute::BuiltIn, &[], both(), push)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "--platform linux/amd64,linux/arm64 needs the buildx route: /usr/bin/docker uses the engine's built-in \
             BuildKit, which cannot make a manifest list; install docker-buildx-plugin (or point DOCKER at a CLI with buildx)"
        );
        let message = prod_plan(BuildRoute::Buildx, &[], both(), BuildArgs::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "--platform linux/amd64,linux/arm64 makes a manifest list, which the engine's image store cannot load; \
             add --push (with --tag REGISTRY/IMAGE), or build one platform"
        );
    }

    #[test]
    fn vendor_includes_vendors_own_plan_then_builds_without_network() {
        let flags = vec![(&settings::VENDOR, Value::Bool(true))];
        let ctx = ctx_with(BuildRoute::BuiltIn, &[], flags.clone());
        let plan = plan(&ctx, Target::Prod, &BuildArgs::default()).unwrap();
        // Vendor's very plan (its lock, steps and cleanup), not the xtask started again.
        let included = plan
            .steps
            .iter()
            .find_map(|task| match task {
                Task::Include { plan, .. } => Some(plan),
                _ => None,
            })
            .expect("vendor's plan is included");
        assert_eq!(**included, vendor::plan(&ctx, false).unwrap());
        let steps = commands(&plan);
        assert_eq!(steps[0].args[..2], ["work", "vendor"]);
        assert!(!steps.iter().any(|s| s.program.ends_with("xtask")), "{plan}");
        let build = &steps[1];
        assert!(build.args.contains(&"--network=none".to_string()));
        assert!(build
            .flag_values("--build-arg")
            .any(|a| a == "GO_MOD_MODE=vendor"));
        let text = plan.to_string();
        assert!(
            text.contains("# refresh vendor/ (what `cargo xtask vendor` runs):\n")
                && text.contains("vendor.lock && flock 9\n"),
            "{text}"
        );
        // Config and env reach the same switch.
        let from_env = prod_plan(
            BuildRoute::BuiltIn,
            &[("PIXIE_VENDOR", "true")],
            Flags::new(),
            BuildArgs::default(),
        )
        .unwrap();
        // Vendoring, then one build per module image.
        assert_eq!(from_env.commands().len(), 3);
    }

    #[test]
    fn vendor_refresh_is_skipped_while_its_inputs_and_output_are_unchanged() {
        let mut ctx = ctx_with(
            BuildRoute::BuiltIn,
            &[],
            vec![(&settings::VENDOR, Value::Bool(true))],
        );
        let root = std::env::temp_dir().join(format!("xtask-vendor-skip-{}", std::process::id()));
        for file in [
            "core/go.mod",
            "core/go.sum",
            "go.work.sum",
            "vendor/modules.txt",
            "core/cmd/pixie-core/main.go",
            PROD_DOCKERFILE,
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        std::fs::write(root.join("go.work"), "go 1.26.0\nuse ./core\n").unwrap();
        ctx.ws.root = root.clone();
        let refreshes = |ctx: &Ctx| {
            commands(&plan(ctx, Target::Prod, &BuildArgs::default()).unwrap())[0].args[..2]
                == ["work", "vendor"]
        };
        assert!(refreshes(&ctx), "no fingerprint yet");
        // What a refresh records as its last step.
        let cx = ActionCx {
            ui: Ui::default(),
            since: std::time::Instant::now(),
        };
        vendor::plan(&ctx, false).unwrap().actions::<RecordFingerprint>()[0]
            .run(&cx)
            .unwrap();
        assert!(!refreshes(&ctx));
        let skipped = plan(&ctx, Target::Prod, &BuildArgs::default()).unwrap();
        assert!(
            skipped.notes[1].starts_with("vendor/ is current"),
            "{:?}",
            skipped.notes
        );
        std::fs::write(root.join("core/go.sum"), "changed").unwrap();
        assert!(refreshes(&ctx), "go.sum changed");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn export_binary_targets_the_binary_stage_into_a_local_dir() {
        for route in [BuildRoute::BuiltIn, BuildRoute::Buildx] {
            let args = BuildArgs {
                export_binary: Some("/tmp/out".into()),
                no_cache: true,
                ..BuildArgs::default()
            };
            let plan = prod_plan(route, &[], Flags::new(), args).unwrap();
            let step = &commands(&plan)[0];
            assert_eq!(step.flag_value("--target"), Some("binary"));
            assert_eq!(
                step.flag_value("--output"),
                Some("type=local,dest=/tmp/out")
            );
            assert!(step.args.contains(&"--no-cache".to_string()));
            assert!(!step.args.contains(&"--load".to_string()));
        }
    }

    #[test]
    fn platform_gogc_and_netrc_settings_reach_the_build() {
        let flags = vec![
            text(&settings::PLATFORM, "linux/arm64"),
            text(&settings::GOGC, "off"),
            text(&settings::NETRC, "/home/u/.netrc"),
            text(
                &settings::GOPROXY,
                "http://goproxy.corp,https://proxy.golang.org",
            ),
            text(&settings::GONOSUMDB, "corp.example/*"),
        ];
        let step = first(BuildRoute::BuiltIn, &[], flags, Target::Prod);
        assert_eq!(step.flag_value("--platform"), Some("linux/arm64"));
        assert!(step.flag_values("--build-arg").any(|a| a == "GOGC=off"));
        assert_eq!(
            step.flag_value("--secret"),
            Some("id=netrc,src=/home/u/.netrc")
        );
        let args: Vec<&str> = step.flag_values("--build-arg").collect();
        assert!(
            args.contains(&"GOPROXY=http://goproxy.corp,https://proxy.golang.org")
                && args.contains(&"GONOSUMDB=corp.example/*")
                && !args
                    .iter()
                    .any(|a| a.starts_with("GOPRIVATE=") || a.contains("netrc")),
            "{args:?}"
        );
    }

    #[test]
    fn env_overrides_base_images() {
        let step = first(
            BuildRoute::BuiltIn,
            &[("PIXIE_GO_IMAGE", "pixie-base/go:1.26.8")],
            Flags::new(),
            Target::Dev,
        );
        assert_eq!(step.flag_value("--file"), Some(DEV_DOCKERFILE));
        assert_eq!(step.flag_value("--tag"), Some("pixie-core-dev:latest"));
        assert_eq!(
            step.flag_values("--build-arg").collect::<Vec<_>>(),
            ["GO_IMAGE=pixie-base/go:1.26.8"]
        );
    }
