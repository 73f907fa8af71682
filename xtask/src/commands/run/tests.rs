    use super::*;
    use crate::ctx::fake::ctx_with;
    use crate::docker::compose::LinkDocker;
    use crate::docker::engine::BuildRoute;
    use crate::files::SyncTree;
    use crate::plan::Step;
    use crate::settings::{Flags, Value};
    use crate::ui::Ui;
    use crate::workspace::{DEV_COMPOSE, PROD_COMPOSE, PROD_DOCKERFILE};

    fn v1() -> Compose {
        Compose::Standalone {
            path: "/usr/bin/docker-compose".into(),
            version: "1.29.2".into(),
        }
    }

    fn with_compose(mut ctx: Ctx, compose: Compose) -> Ctx {
        ctx.engine.as_mut().unwrap().compose = Some(Ok(compose));
        ctx
    }

    fn ctx(env: &[(&str, &str)]) -> Ctx {
        with_compose(ctx_with(BuildRoute::BuiltIn, env, Flags::new()), v1())
    }

    fn commands(plan: &Plan) -> Vec<Step> {
        plan.commands().into_iter().cloned().collect()
    }

    #[test]
    fn always_builds_first_then_runs_compose_up_that_announces_readiness() {
        for target in [Target::Prod, Target::Dev] {
            let ctx = ctx(&[]);
            let plan = plan(&ctx, target, false, &Live::default()).unwrap();
            let steps = commands(&plan);
            assert_eq!(steps.len(), 2, "{plan}");
            assert_eq!(steps[0].flag_value("--file"), Some(target.dockerfile()));
            assert_eq!(steps[0].args[0], "build");
            assert_eq!(
                steps[1].ready,
                Some(Ready {
                    host: "127.0.0.1".into(),
                    port: 8080,
                    path: "/healthz"
                })
            );
        }
        let text = plan(&ctx(&[]), Target::Prod, false, &Live::default()).unwrap().to_string();
        assert!(
            text.contains(&format!("--file {PROD_DOCKERFILE}")),
            "{text}"
        );
        assert!(
            text.contains("# (xtask) meanwhile: print `ready on http://127.0.0.1:8080` once http://127.0.0.1:8080/healthz answers 200"),
            "{text}"
        );
    }

    #[test]
    fn run_dev_in_the_foreground_regenerates_core_gen_beside_compose_up() {
        let ctx = ctx(&[]);
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        let watch = up.watch.as_deref().expect("run-dev watches proto/");
        assert_eq!(watch, &super::super::proto::watch(&ctx));
        assert_eq!(watch.dir, ctx.ws.path("proto"));
        assert_eq!(watch.extension, "proto");
        assert_eq!(
            watch.plan.as_ref().unwrap().locks[0].path,
            ctx.ws.path("target/xtask/proto.lock")
        );
        let regeneration = watch.plan.as_ref().unwrap();
        assert_eq!(
            regeneration,
            &super::super::proto::regeneration_plan(&ctx).unwrap()
        );
        assert_eq!(
            regeneration.actions::<SyncTree>(),
            [&SyncTree {
                staging: crate::fsutil::staging_path(&ctx.ws.path("proto/gen")).unwrap(),
                target: ctx.ws.path("proto/gen"),
            }]
        );
        let text = plan.to_string();
        let meanwhile = format!(
            "# (xtask) meanwhile: on every change of a .proto file under {}, regenerate proto/gen:\n\
             #   # hold {} until the cleanup below ends",
            ctx.ws.path("proto").display(),
            ctx.ws.path("target/xtask/proto.lock").display()
        );
        assert!(text.contains(&meanwhile), "{text}");
        assert!(
            text.contains(
                "\n#   protoc --version  # (xtask) fail unless it says libprotoc 3.21.12\n"
            ),
            "{text}"
        );
        assert!(text.contains("--go_out"), "{text}");
        // Not detached (nothing would watch), never prod.
        for (target, detach) in [(Target::Dev, true), (Target::Prod, false)] {
            let other = super::plan(&ctx, target, detach, &Live::default()).unwrap();
            assert!(
                commands(&other).iter().all(|s| s.watch.is_none()),
                "{other}"
            );
            assert!(!other.to_string().contains("on every change"), "{other}");
        }
    }

    #[test]
    fn run_dev_without_go_still_starts_and_its_watch_says_why() {
        let mut ctx = ctx(&[]);
        ctx.host.go = None;
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert_eq!(
            up.watch.unwrap().plan,
            Err("Go is not installed (no `go` on PATH), which is needed to install the protoc plugins; install Go 1.26 from https://go.dev/dl/".into())
        );
        assert!(
            plan.to_string()
                .contains("#   (not on this machine: Go is not installed"),
            "{plan}"
        );
    }

    #[test]
    fn port_check_comes_first_and_the_docker_link_and_the_build_checks_before_compose() {
        let ctx = ctx(&[]);
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        assert_eq!(
            plan.labels(),
            [
                "check that the ports on 127.0.0.1 are free",
                "link the chosen docker CLI for compose",
                "check that core/go.mod and go.sum are tidy",
                "check that the daemon answers",
                "check that the base images are on the engine or pullable",
                "build dev image pixie-core-dev:latest",
                "run pixie-core (dev) on http://127.0.0.1:8080",
            ]
        );
        assert_eq!(
            plan.actions::<PortsFree>(),
            [&PortsFree {
                bind: "127.0.0.1".into(),
                ports: vec![(8080, "--http-port"), (9090, "--grpc-port")],
                ours: Some(project(&ctx, Target::Dev, &Live::default()).unwrap().running(&ctx.docker(), Some("core"))),
            }]
        );
        assert_eq!(
            plan.actions::<LinkDocker>(),
            [&LinkDocker {
                cli: "/usr/bin/docker".into(),
                dir: ctx.docker().shim_dir(),
            }]
        );
        let text = plan.to_string();
        assert!(
            text.contains(
                "# (xtask) fail unless nothing listens on 127.0.0.1:8080, 127.0.0.1:9090"
            ),
            "{text}"
        );
        assert!(text.contains("ln -sfn /usr/bin/docker"), "{text}");
        assert!(text.contains("mod tidy -diff)"), "{text}");
        assert!(
            text.contains("/usr/bin/docker image inspect golang:1.26.8-alpine3.23 >/dev/null || /usr/bin/docker manifest inspect --insecure golang:1.26.8-alpine3.23 >/dev/null"),
            "{text}"
        );
    }

    #[test]
    fn compose_up_then_down_always_under_one_project() {
        let ctx = ctx(&[("PIXIE_PROJECT", "t1")]);
        let plan = plan(&ctx, Target::Dev, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        let down = plan.cleanup[0].step().unwrap();
        assert_eq!(
            up.program,
            std::path::PathBuf::from("/usr/bin/docker-compose")
        );
        assert_eq!(up.flag_value("--project-name"), Some("t1-dev"));
        assert_eq!(up.flag_value("--file"), Some(DEV_COMPOSE));
        assert!(
            up.args
                .join(" ")
                .ends_with("up --no-color --remove-orphans"),
            "{:?}",
            up.args
        );
        assert_eq!(down.flag_value("--project-name"), Some("t1-dev"));
        assert!(down
            .args
            .ends_with(&["down".to_string(), "--remove-orphans".to_string()]));
    }

    #[test]
    fn detach_starts_in_the_background_waits_for_healthz_and_leaves_it_running() {
        let ctx = ctx(&[("PIXIE_PROJECT", "t2")]);
        let plan = plan(&ctx, Target::Prod, true, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert!(
            up.args
                .join(" ")
                .ends_with("up --no-color --detach --remove-orphans"),
            "{:?}",
            up.args
        );
        assert_eq!(up.ready, None);
        assert_eq!(
            plan.actions::<WaitReady>(),
            [&WaitReady {
                ready: Ready::on("127.0.0.1", 8080, "/healthz"),
                timeout: Duration::from_secs(60),
                fix: "see why with `cargo xtask logs prod`; `cargo xtask stop prod` removes it"
                    .into(),
            }]
        );
        assert!(plan.cleanup.is_empty(), "{plan}");
    }

    #[test]
    fn compose_v1_finds_the_chosen_docker_first_on_path() {
        let ctx = ctx(&[]);
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        let path = up.env_value("PATH").unwrap().to_string();
        assert_eq!(
            path,
            format!("{}:$PATH", ctx.docker().shim_dir().display())
        );
    }

    #[test]
    fn compose_plugin_runs_through_the_chosen_cli() {
        let ctx = with_compose(
            ctx_with(BuildRoute::Buildx, &[], Flags::new()),
            Compose::Plugin {
                version: "2.29.0".into(),
            },
        );
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert_eq!(up.program, ctx.cli().path);
        assert_eq!(up.args[0], "compose");
    }

    #[test]
    fn ports_and_image_reach_compose_interpolation() {
        let flags = vec![(&settings::HTTP_PORT, Value::Port(18080))];
        let ctx = with_compose(
            ctx_with(BuildRoute::BuiltIn, &[("PIXIE_GRPC_PORT", "19090")], flags),
            v1(),
        );
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let up = commands(&plan).pop().unwrap();
        assert_eq!(up.env_value("PIXIE_HTTP_PORT"), Some("18080"));
        assert_eq!(up.env_value("PIXIE_GRPC_PORT"), Some("19090"));
        assert_eq!(up.env_value("PIXIE_IMAGE"), Some("pixie-core:latest"));
        assert_eq!(up.env_value("PIXIE_BIND"), Some("127.0.0.1"));
        assert_eq!(up.env_value("PIXIE_API_TOKEN_HOST_FILE"), None);
    }

    #[test]
    fn loopback_is_127_slash_8_v6_one_and_localhost() {
        for bind in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback(bind), "{bind}");
        }
        for bind in ["0.0.0.0", "::", "192.168.1.10", "example.com", ""] {
            assert!(!is_loopback(bind), "{bind}");
        }
    }

    #[test]
    fn a_non_loopback_bind_without_a_token_is_refused_before_any_step() {
        let ctx = ctx(&[("PIXIE_BIND", "0.0.0.0")]);
        let message = plan(&ctx, Target::Prod, false, &Live::default()).unwrap_err().to_string();
        assert_eq!(message, "PIXIE_BIND=0.0.0.0 is not a loopback address and no API token is set; set PIXIE_API_TOKEN_FILE (or PIXIE_API_TOKEN), or bind to 127.0.0.1");
        // run-dev keeps its own rules (compose.dev.yaml publishes on loopback by default).
        assert!(plan(&ctx, Target::Dev, false, &Live::default()).is_ok());
        let mut both = ctx;
        both.host.api_token_var = true;
        both.host.api_token_file = Some("/t".into());
        assert_eq!(
            plan(&both, Target::Prod, false, &Live::default()).unwrap_err().to_string(),
            "PIXIE_API_TOKEN and PIXIE_API_TOKEN_FILE are both set; unset one of them"
        );
    }

    #[test]
    fn a_token_goes_to_compose_as_a_file_on_up_and_down_never_as_a_value() {
        let mut ctx = ctx(&[("PIXIE_BIND", "0.0.0.0"), ("PIXIE_PROJECT", "t3")]);
        ctx.host.api_token_file = Some("/home/me/pixie-token".into());
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        let file = ctx.ws.path("target/xtask/secrets/t3-prod/api_token");
        assert_eq!(
            plan.actions::<WriteToken>(),
            [&WriteToken {
                from: TokenFrom::File("/home/me/pixie-token".into()),
                to: file.clone(),
            }]
        );
        let up = commands(&plan).pop().unwrap();
        let down = plan.cleanup[0].step().unwrap();
        for step in [&up, down] {
            assert_eq!(
                step.flag_values("--file").collect::<Vec<_>>(),
                [PROD_COMPOSE, PROD_TOKEN_COMPOSE]
            );
            assert_eq!(
                step.env_value("PIXIE_API_TOKEN_HOST_FILE"),
                Some(file.to_str().unwrap())
            );
        }
        assert_eq!(
            plan.cleanup.last(),
            Some(&action("remove the API token file", RemoveFile(file.clone())))
        );
        let text = plan.to_string();
        assert!(
            text.contains(&format!(
                "cat /home/me/pixie-token > {0} && chmod 444 {0}",
                file.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn a_token_from_the_environment_is_copied_by_name_not_by_value() {
        let mut ctx = ctx(&[]);
        ctx.host.api_token_var = true;
        let plan = plan(&ctx, Target::Prod, false, &Live::default()).unwrap();
        assert_eq!(
            plan.actions::<WriteToken>()[0].from,
            TokenFrom::Var("PIXIE_API_TOKEN")
        );
        assert!(
            plan.to_string()
                .contains("printf '%s\\n' \"$PIXIE_API_TOKEN\" >"),
            "{plan}"
        );
    }

    fn cx() -> ActionCx {
        ActionCx {
            ui: Ui::default(),
            since: Instant::now(),
        }
    }

    #[test]
    fn a_taken_port_is_reported_with_the_flag_to_change_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let check = PortsFree {
            bind: "127.0.0.1".into(),
            ports: vec![(port, "--http-port")],
            ours: Some(Step::new("prints nothing", "true", "/")),
        };
        let message = check.run(&cx()).unwrap_err().to_string();
        assert_eq!(message, format!("port {port} on 127.0.0.1 is already in use; stop what listens there or pick another with --http-port"));
        // Taken by this very project's core: a second run takes it over.
        let ours = PortsFree {
            ours: Some(Step::new("core runs", "echo", "/").arg("c0ffee")),
            ..check
        };
        ours.run(&cx()).unwrap();
    }

    #[test]
    fn an_address_of_no_interface_is_not_called_in_use() {
        // TEST-NET-1 (RFC 5737): never assigned to a machine.
        let check = PortsFree {
            bind: "192.0.2.1".into(),
            ports: vec![(8080, "--http-port")],
            ours: None,
        };
        let message = check.run(&cx()).unwrap_err().to_string();
        assert_eq!(message, "cannot publish on 192.0.2.1: it is not an address of this machine; set run.bind (PIXIE_BIND) to one of its addresses, such as 127.0.0.1");
        let check = PortsFree {
            bind: "localhost:1".into(),
            ports: vec![(8080, "--http-port")],
            ours: None,
        };
        let message = check.run(&cx()).unwrap_err().to_string();
        assert_eq!(message, "PIXIE_BIND=localhost:1 is not an IP address; set run.bind (PIXIE_BIND) to one such as 127.0.0.1 or 0.0.0.0");
    }

    /// A value for `spec` other than its default, as a user would set it.
    fn sample(spec: &settings::Spec) -> &'static str {
        match spec.key {
            "build.platform" => "linux/arm64",
            "build.gogc" => "200",
            "build.goflags" => "-tags=netgo",
            "build.vendor" => "true",
            "build.builder" => "remote1",
            "build.cache_from" => "type=local,src=/cache",
            "build.cache_to" => "type=inline",
            "build.netrc" => "/home/u/.netrc",
            "build.sbom_generator" => "reg/sbom-generator:1",
            "build.goproxy" => "http://goproxy.corp",
            "build.goprivate" => "corp.example/*",
            "build.gonosumdb" => "corp.example/*",
            "base_images.go" => "local/go:1",
            "base_images.runtime" => "local/runtime:1",
            "images.prod" => "pixie-core:sample",
            "images.dev" => "pixie-core-dev:sample",
            "images.thumbnailer" => "pixie-thumbnailer:sample",
            other => panic!("{other} is a build setting without a sample: add one"),
        }
    }

    /// The settings that decide what a build makes.
    fn build_settings() -> Vec<&'static settings::Spec> {
        settings::ALL
            .into_iter()
            .filter(|s| ["build.", "base_images.", "images."].iter().any(|p| s.key.starts_with(p)))
            .collect()
    }

    /// build-*'s plan and run-*'s with `spec` set (or not), on the buildx route, which takes
    /// every setting.
    fn plans(target: Target, spec: Option<&'static settings::Spec>) -> (Plan, Plan) {
        let env: Vec<(&str, &str)> = spec.map(|s| (s.env, sample(s))).into_iter().collect();
        let ctx = with_compose(
            ctx_with(BuildRoute::Buildx, &env, Flags::new()),
            Compose::Plugin {
                version: "2.29.0".into(),
            },
        );
        // run-* build core's image (build-prod's --module core).
        let core = crate::commands::build::BuildArgs {
            modules: vec!["core".into()],
            ..Default::default()
        };
        let build = crate::commands::build::plan(&ctx, target, &core).unwrap();
        (build, plan(&ctx, target, false, &Live::default()).unwrap())
    }

    /// #24: whichever command builds, every build setting reaches the build the same way.
    #[test]
    fn run_builds_with_every_build_setting_exactly_as_build_does() {
        for target in [Target::Prod, Target::Dev] {
            let (default_build, _) = plans(target, None);
            for spec in build_settings() {
                let (build, run) = plans(target, Some(spec));
                let built: Vec<_> = build.tasks();
                let ran: Vec<_> = run.tasks();
                assert!(
                    ran.windows(built.len()).any(|w| w == built.as_slice()),
                    "{} ({}): run-{}'s build differs from build-{}'s:\n{build}\n---\n{run}",
                    spec.key,
                    sample(spec),
                    target.name(),
                    target.name()
                );
                // What the setting does to the build (none: it is not a setting of this build).
                let applies = match target {
                    // The SBOM generator is a push's (build-prod --push); run-prod runs core's.
                    Target::Prod => {
                        !["build.sbom_generator", "images.dev", "images.thumbnailer"]
                            .contains(&spec.key)
                    }
                    // The dev image installs air; module resolution reaches its tidy check.
                    Target::Dev => [
                        "build.platform",
                        "build.builder",
                        "build.cache_from",
                        "build.cache_to",
                        "base_images.go",
                        "images.dev",
                        "build.netrc",
                        "build.goproxy",
                        "build.goprivate",
                        "build.gonosumdb",
                    ]
                    .contains(&spec.key),
                };
                assert_eq!(
                    built != default_build.tasks(),
                    applies,
                    "{} ({}) on build-{}:\n{build}",
                    spec.key,
                    sample(spec),
                    target.name()
                );
            }
        }
    }

    #[test]
    fn vendored_run_prod_builds_offline_from_vendor_like_build_prod() {
        let (build, run) = plans(Target::Prod, Some(&settings::VENDOR));
        for plan in [&build, &run] {
            let text = plan.to_string();
            assert!(
                text.contains("--network=none") && text.contains("GO_MOD_MODE=vendor"),
                "{text}"
            );
        }
    }
