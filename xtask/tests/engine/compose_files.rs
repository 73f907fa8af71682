//! Issue 4, the compose files as the engine's compose renders them: hardened, loopback-only
//! ports, named volumes, the API token as a file secret, and the dev file's caches and mounts.

use xtask::testkit::docker::compose;
use xtask::testkit::{ok, repo_root};

/// `docker-compose -f FILE config`, rendered with `env` (PIXIE_BIND unset), parsed.
fn compose_config(file: &str, env: &[(&str, &str)]) -> serde_yaml::Value {
    compose_config_of(&[file], env)
}

/// `docker-compose -f FILE... config`, rendered with `env` (PIXIE_BIND unset), parsed.
fn compose_config_of(files: &[&str], env: &[(&str, &str)]) -> serde_yaml::Value {
    let mut cmd = compose();
    for file in files {
        cmd.args(["-f", file]);
    }
    let file = files.join(" + ");
    cmd.arg("config")
        .current_dir(repo_root())
        .env_remove("PIXIE_BIND")
        .env_remove("PIXIE_AIR_POLL")
        .envs(env.iter().copied());
    let rendered = ok(&mut cmd);
    serde_yaml::from_str(&rendered).unwrap_or_else(|e| panic!("{file}: {e}\n{rendered}"))
}

fn yaml_strings(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Ports as compose v1 renders them (`127.0.0.1:18080:8080/tcp`); compose v2 renders mappings
/// (`host_ip`, `published`, `target`, `protocol`), turned into the same text.
fn ports(v: &serde_yaml::Value) -> Vec<String> {
    let field = |p: &serde_yaml::Value, k: &str| match &p[k] {
        serde_yaml::Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|p| match p.as_str() {
            Some(text) => text.to_string(),
            None => format!(
                "{}:{}:{}/{}",
                field(p, "host_ip"),
                field(p, "published"),
                field(p, "target"),
                field(p, "protocol")
            ),
        })
        .collect()
}

/// Volumes as compose v1 renders them (`source:target:rw`); compose v2's mappings (`source`,
/// `target`, `read_only`) turned into the same text.
fn volumes(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .map(|m| match m.as_str() {
            Some(text) => text.to_string(),
            None => format!(
                "{}:{}:{}",
                m["source"].as_str().unwrap_or_default(),
                m["target"].as_str().unwrap_or_default(),
                if m["read_only"].as_bool() == Some(true) {
                    "ro"
                } else {
                    "rw"
                }
            ),
        })
        .collect()
}

#[test]
fn compose_files_render_hardened_loopback_only_and_with_named_volumes() {
    let env = [
        ("PIXIE_IMAGE", "pixie-core:e2e-config"),
        ("PIXIE_HTTP_PORT", "18080"),
        ("PIXIE_GRPC_PORT", "19090"),
    ];
    let prod = compose_config("deployments/docker/compose.prod.yaml", &env);
    let core = &prod["services"]["core"];
    assert_eq!(core["image"].as_str(), Some("pixie-core:e2e-config"));
    assert_eq!(core["read_only"].as_bool(), Some(true), "{core:?}");
    assert_eq!(yaml_strings(&core["tmpfs"]), ["/tmp:size=16m,mode=1777"]);
    assert_eq!(yaml_strings(&core["cap_drop"]), ["ALL"]);
    // Bounds above the service's decode budget; each compose flavour spells the values its own way.
    for limit in ["mem_limit", "pids_limit", "cpus"] {
        assert!(
            !core[limit].is_null(),
            "compose.prod.yaml sets no {limit}: {core:?}"
        );
    }
    assert_eq!(
        yaml_strings(&core["security_opt"]),
        ["no-new-privileges:true"]
    );
    assert!(
        matches!(core["restart"].as_str(), Some("unless-stopped" | "always")),
        "{core:?}"
    );
    assert_eq!(
        yaml_strings(&core["healthcheck"]["test"]),
        ["CMD", "/usr/local/bin/pixie-core", "healthcheck"]
    );
    assert_eq!(
        ports(&core["ports"]),
        ["127.0.0.1:18080:8080/tcp", "127.0.0.1:19090:9090/tcp"]
    );
    assert_eq!(volumes(&core["volumes"]), ["data:/data:rw"]);
    assert!(prod["volumes"]["data"].is_mapping(), "{prod:?}");
    // No secrets in the file: nothing credential-like in the environment it sets.
    if let Some(environment) = core["environment"].as_mapping() {
        for key in environment.keys().filter_map(|k| k.as_str()) {
            let k = key.to_ascii_uppercase();
            assert!(
                !["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
                    .iter()
                    .any(|s| k.contains(s)),
                "compose.prod.yaml sets {key}: secrets come from the environment"
            );
        }
    }

    // With an API token: a file secret, named by path, never the token itself.
    let token_file = "/run/pixie-e2e/api-token";
    let with_token = compose_config_of(
        &[
            "deployments/docker/compose.prod.yaml",
            "deployments/docker/compose.prod.token.yaml",
        ],
        &[("PIXIE_API_TOKEN_HOST_FILE", token_file)],
    );
    let core = &with_token["services"]["core"];
    assert_eq!(
        core["environment"]["PIXIE_API_TOKEN_FILE"].as_str(),
        Some("/run/secrets/pixie_api_token")
    );
    assert!(core["environment"]["PIXIE_API_TOKEN"].is_null(), "{core:?}");
    assert_eq!(
        with_token["secrets"]["pixie_api_token"]["file"].as_str(),
        Some(token_file)
    );

    let dev = compose_config(
        "deployments/docker/compose.dev.yaml",
        &[
            ("PIXIE_IMAGE", "pixie-core-dev:e2e-config"),
            ("PIXIE_AIR_POLL", "true"),
        ],
    );
    let core = &dev["services"]["core"];
    assert_eq!(core["init"].as_bool(), Some(true), "{core:?}");
    assert_eq!(core["environment"]["AIR_POLL"].as_str(), Some("true"));
    assert_eq!(
        ports(&core["ports"]),
        ["127.0.0.1:8080:8080/tcp", "127.0.0.1:9090:9090/tcp"]
    );
    let volumes = volumes(&core["volumes"]);
    for named in [
        "go-build-cache:/root/.cache/go-build:rw",
        "go-mod-cache:/go/pkg/mod:rw",
    ] {
        assert!(volumes.iter().any(|v| v == named), "{named} in {volumes:?}");
    }
    for name in ["go-build-cache", "go-mod-cache"] {
        assert!(dev["volumes"][name].is_mapping(), "named volume {name}");
    }
    assert!(
        volumes.iter().any(|v| v.ends_with(":/src/core:rw")),
        "{volumes:?}"
    );
    let dev_default = compose_config(
        "deployments/docker/compose.dev.yaml",
        &[("PIXIE_IMAGE", "x")],
    );
    assert_eq!(
        dev_default["services"]["core"]["environment"]["AIR_POLL"].as_str(),
        Some("false"),
        "polling is opt-in"
    );
}
