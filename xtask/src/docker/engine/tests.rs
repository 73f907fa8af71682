use super::*;

fn probe(path: &str, version: Option<&str>, has_buildx: bool) -> CliProbe {
    CliProbe {
        path: path.into(),
        version: version.map(|v| {
            let kind = if path.ends_with("podman") {
                CliKind::Podman
            } else {
                CliKind::Docker
            };
            (kind, v.to_string())
        }),
        has_buildx,
    }
}

#[test]
fn parses_cli_versions() {
    let docker = |v: &str| Some((CliKind::Docker, v.to_string()));
    assert_eq!(
        parse_cli_version("Docker version 20.10.24+dfsg1, build 297e128\n"),
        docker("20.10.24+dfsg1")
    );
    assert_eq!(
        parse_cli_version("Docker version 28.2.2, build e6534b4"),
        docker("28.2.2")
    );
    assert_eq!(
        parse_cli_version("podman version 4.3.1\n"),
        Some((CliKind::Podman, "4.3.1".to_string()))
    );
    assert_eq!(
        parse_cli_version("docker version 4.3.1"),
        Some((CliKind::Podman, "4.3.1".to_string()))
    );
    assert_eq!(parse_cli_version("nerdctl version 1.7.0"), None);
}

#[test]
fn podman_builds_with_buildah_and_layer_caching_only_from_5_4() {
    let route = |v: &str| probe("/usr/bin/podman", Some(v), false).route().unwrap();
    assert_eq!(route("4.3.1"), BuildRoute::Buildah { layer_cache: false });
    assert_eq!(route("5.3.2"), BuildRoute::Buildah { layer_cache: false });
    assert_eq!(route("5.4.2"), BuildRoute::Buildah { layer_cache: true });
    assert_eq!(
        route("6.0.0-dev"),
        BuildRoute::Buildah { layer_cache: true }
    );
}

#[test]
fn podman_is_chosen_when_no_docker_cli_can_build_and_named_in_the_note() {
    let probes = [
        probe("/usr/local/bin/docker", Some("28.2.2"), false),
        probe("/usr/bin/podman", Some("4.3.1"), false),
    ];
    let cli = choose_cli(&probes, false).unwrap();
    assert_eq!(cli.path, PathBuf::from("/usr/bin/podman"));
    assert!(cli.is_podman());
    let engine = Engine {
        cli,
        probes: probes.to_vec(),
        problem: None,
        compose: None,
    };
    assert_eq!(
            engine.note(),
            "Podman CLI: /usr/bin/podman (4.3.1), build route: podman build (buildah) of the final stage, \
             the compile in a builder container: before Podman 5.4 its layer cache ignores bind-mounted sources; skipped /usr/local/bin/docker: \
             28.2.2 has no buildx plugin, which BuildKit needs since CLI 23.0"
        );
}

#[test]
fn skips_a_new_cli_without_buildx_for_an_old_one_with_builtin_buildkit() {
    // The mix on our machines: 28.x first on PATH without buildx, Debian's 20.10 behind it.
    let probes = [
        probe("/usr/local/bin/docker", Some("28.2.2"), false),
        probe("/usr/bin/docker", Some("20.10.24+dfsg1"), false),
    ];
    let cli = choose_cli(&probes, false).unwrap();
    assert_eq!(cli.path, PathBuf::from("/usr/bin/docker"));
    assert_eq!(cli.route, BuildRoute::BuiltIn);
}

#[test]
fn prefers_the_first_cli_with_buildx() {
    let probes = [
        probe("/opt/docker", Some("28.2.2"), true),
        probe("/usr/bin/docker", Some("20.10.24"), false),
    ];
    let cli = choose_cli(&probes, false).unwrap();
    assert_eq!(
        (cli.path, cli.route),
        (PathBuf::from("/opt/docker"), BuildRoute::Buildx)
    );
}

#[test]
fn names_every_refusal_and_the_fix_when_none_can_build() {
    let probes = [
        probe("/usr/local/bin/docker", Some("28.2.2"), false),
        probe("/x/docker", None, false),
    ];
    let message = choose_cli(&probes, false).unwrap_err().to_string();
    assert!(
        message.contains("/usr/local/bin/docker: 28.2.2 has no buildx plugin"),
        "{message}"
    );
    assert!(message.contains("/x/docker: does not run"), "{message}");
    assert!(message.contains("install the buildx plugin"), "{message}");
    assert!(!message.contains('\n'));
}

#[test]
fn an_override_that_cannot_build_is_an_error_not_a_fallback() {
    let probes = [probe("/usr/local/bin/docker", Some("28.2.2"), false)];
    let message = choose_cli(&probes, true).unwrap_err().to_string();
    assert!(
        message.starts_with("DOCKER=/usr/local/bin/docker cannot run BuildKit builds"),
        "{message}"
    );
}

#[test]
fn no_cli_at_all_says_how_to_install_one() {
    let message = choose_cli(&[], false).unwrap_err().to_string();
    assert!(
        message.contains("no docker or podman CLI on PATH"),
        "{message}"
    );
}
