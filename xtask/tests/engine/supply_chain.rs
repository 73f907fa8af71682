//! Supply chain on the engine: a private Go module behind basic auth reaches the build through
//! the netrc secret only (and never any layer or the history).

use std::path::Path;
use std::process::{Command, Stdio};

use xtask::testkit::docker::{docker, hold_podman_build_lock, require_engine, Untag};
use xtask::testkit::goproxy::PrivateProxy;
use xtask::testkit::{json, ok, text, unique_name, workspace_copy, RemoveDir};

use crate::registry_cache::config_value;
use crate::xtask;

/// The host address the engine's build containers reach: `PIXIE_TEST_HOST_ADDR` where the engine
/// lives apart (another network namespace, Podman's own network), else the engine's bridge
/// gateway (172.17.0.1 here). The 20.10 engine lists only the subnet; its gateway is the
/// subnet's first address.
fn bridge_gateway() -> String {
    if let Ok(addr) = std::env::var("PIXIE_TEST_HOST_ADDR") {
        if !addr.is_empty() {
            return addr;
        }
    }
    let ipam = ok(docker().args([
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}}{{end}}",
    ]));
    let (gateway, subnet) = ipam.split_once(' ').unwrap_or(("", &ipam));
    if !gateway.is_empty() {
        return gateway.to_string();
    }
    let network: std::net::Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    std::net::Ipv4Addr::from(u32::from(network) + 1).to_string()
}

/// The configured Go base image plus the proxy's certificate in its CA bundle: how a company
/// base image trusts its private proxy.
fn go_image_trusting(proxy: &PrivateProxy, dir: &Path, untag: &mut Untag) -> String {
    let image = format!("pixie-test/go-private-ca:{}", unique_name("t"));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(proxy.ca_file(), dir.join("proxy-ca.crt")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "ARG GO_IMAGE\nFROM ${GO_IMAGE}\nCOPY proxy-ca.crt /usr/local/share/proxy-ca.crt\n\
         RUN cat /usr/local/share/proxy-ca.crt >> /etc/ssl/certs/ca-certificates.crt\n",
    )
    .unwrap();
    untag.0.push(image.clone());
    let _held = hold_podman_build_lock();
    ok(docker()
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "-q", "--tag", &image, "--build-arg"])
        .arg(format!("GO_IMAGE={}", config_value("base_images.go")))
        .arg(dir));
    image
}

/// Requires the private module from core/go.mod, with the go.sum lines the host's Go computes
/// through the proxy.
fn require_private_module(ws: &Path, proxy: &PrivateProxy, scratch: &Path, netrc: &Path) {
    let modcache = scratch.join("modcache");
    let wanted = format!("{}@{}", proxy.module, proxy.version);
    let out = Command::new("go")
        .args(["mod", "download", "-json", &wanted])
        .current_dir(scratch)
        .env("GOPROXY", proxy.url())
        .env("GONOSUMDB", &proxy.module)
        .env("GOFLAGS", "-modcacherw")
        .env("GOMODCACHE", &modcache)
        .env("NETRC", netrc)
        .env("SSL_CERT_FILE", proxy.ca_file())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "host go: {}",
        text(&out).0 + &text(&out).1
    );
    let info = json(&text(&out).0);
    let sum = |key: &str| info[key].as_str().unwrap().to_string();
    let go_mod = ws.join("core/go.mod");
    let mut text_mod = std::fs::read_to_string(&go_mod).unwrap();
    text_mod.push_str(&format!("\nrequire {} {}\n", proxy.module, proxy.version));
    std::fs::write(&go_mod, text_mod).unwrap();
    let go_sum = ws.join("core/go.sum");
    let mut text_sum = std::fs::read_to_string(&go_sum).unwrap();
    text_sum.push_str(&format!(
        "{m} {v} {}\n{m} {v}/go.mod {}\n",
        sum("Sum"),
        sum("GoModSum"),
        m = proxy.module,
        v = proxy.version
    ));
    std::fs::write(&go_sum, text_sum).unwrap();
}

#[test]
fn private_module_downloads_with_the_netrc_secret_and_fails_clearly_without_it() {
    require_engine();
    // A version never built before: BuildKit's module cache mount must not already hold it.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let proxy = PrivateProxy::start(
        &bridge_gateway(),
        "pixie.private/secretlib",
        &format!("v1.0.{secs}"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let ws = workspace_copy("private-module");
    let _remove = RemoveDir(ws.clone());
    let scratch = std::env::temp_dir().join(unique_name("pixie-private-scratch"));
    std::fs::create_dir_all(&scratch).unwrap();
    let _remove_scratch = RemoveDir(scratch.clone());
    let netrc = scratch.join("netrc");
    std::fs::write(&netrc, proxy.netrc()).unwrap();
    require_private_module(&ws, &proxy, &scratch, &netrc);
    let mut untag = Untag(Vec::new());
    let go_image = go_image_trusting(&proxy, &scratch.join("go-image"), &mut untag);
    let image = format!("pixie-core:{}", unique_name("private"));
    untag.0.push(image.clone());
    let build = |extra: &[&str]| {
        let out = xtask()
            .args(["build-prod", "--module", "core"])
            .args(extra)
            .env("PIXIE_WORKSPACE", &ws)
            .env("PIXIE_GO_IMAGE", &go_image)
            .env("PIXIE_PROD_IMAGE", &image)
            .env(
                "PIXIE_GOPROXY",
                format!("{},https://proxy.golang.org", proxy.url()),
            )
            .env("PIXIE_GONOSUMDB", &proxy.module)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };

    let host_requests = proxy.requests().len();
    let (code, log) = build(&[]);
    assert_eq!(code, Some(1), "built without credentials:\n{log}");
    // In workspace mode (go.work) the download asks for the version's .info first.
    let unauthorized = format!(
        "{}/@v/{}.info: 401 Unauthorized",
        proxy.module, proxy.version
    );
    assert!(
        log.contains(&unauthorized),
        "no `{unauthorized}` in:\n{log}"
    );
    let failed_requests = proxy.requests().len();
    assert!(
        proxy.requests()[host_requests..]
            .iter()
            .all(|r| !r.authorized),
        "{:?}",
        proxy.requests()
    );

    let (code, log) = build(&["--netrc", netrc.to_str().unwrap()]);
    assert_eq!(code, Some(0), "build with the netrc failed:\n{log}");
    let zip = format!("/{}/@v/{}.zip", proxy.module, proxy.version);
    assert!(
        proxy.requests()[failed_requests..]
            .iter()
            .any(|r| r.path == zip && r.authorized),
        "the module zip was never fetched with the credentials: {:?}",
        proxy.requests()
    );

    // The password is in no layer, no history line, no image config.
    let history = ok(docker().args([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &image,
    ]));
    assert!(!history.contains(&proxy.password), "{history}");
    let config = ok(docker().args(["image", "inspect", &image]));
    assert!(!config.contains(&proxy.password), "{config}");
    let saved = docker()
        .args(["save", &image])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(saved.status.success());
    let needle = proxy.password.as_bytes();
    assert!(
        !saved.stdout.windows(needle.len()).any(|w| w == needle),
        "the netrc's password is in a layer of {image}"
    );
    drop(untag);
}

/// Secrets and decoys planted in a copy of the checkout, none of which may reach the context.
const PLANTED_ABSENT: [&str; 33] = [
    ".env",
    ".netrc",
    "target/junk",
    "core/.netrc",
    "core/.ssh/id_ed25519",
    "core/.ssh/config",
    "core/.ssh/known_hosts",
    "core/.aws/credentials",
    "core/.envrc",
    "core/.env",
    "core/.env.local",
    "core/.git/config",
    "core/.cache/leak.go",
    "core/.vendor.new/modules.txt",
    "core/.vendor.new-4242/modules.txt",
    "proto/.gen.new/photo/v1/photo.pb.go",
    "core/server.crt",
    "core/internal/server/tls.crt",
    "core/secret.pem",
    "core/tls.key",
    "core/id_rsa",
    "core/notes.txt",
    "core/internal/config/config.yaml",
    "core/internal/config/leak_test.go",
    "core/internal/config/testdata/in.txt",
    "core/internal/config/testdata/fixture.go",
    "core/tmp/air.log",
    "core/tmp/main.go",
    "proto/.git/HEAD",
    "proto/.netrc",
    "deployments/docker/.env",
    "core/vendor/.git/config",
    "core/vendor/github.com/acme/lib/.env",
];

/// Planted vendor files an offline build needs: they must reach the context.
const PLANTED_PRESENT: [&str; 4] = [
    "core/vendor/modules.txt",
    "core/vendor/github.com/acme/lib/lib.go",
    "core/vendor/github.com/acme/lib/asm_amd64.s",
    "core/vendor/github.com/acme/lib/LICENSE",
];

/// What the builds read, of the tracked files: go.mod/go.sum, non-test Go files and embedded SQL
/// migrations outside test helpers and dot-folders, the .proto files and the proto module's
/// generated Go, go.work and every module's go.mod/go.sum, the air config and the production
/// image's Go script.
fn belongs_in_context(path: &str) -> bool {
    let hidden = path.split('/').any(|part| part.starts_with('.'));
    match path {
        "core/go.mod"
        | "core/go.sum"
        | "go.work"
        | "go.work.sum"
        | "proto/go.mod"
        | "proto/go.sum"
        | "deployments/docker/air.toml"
        | "deployments/docker/go-build.sh" => true,
        _ if hidden => false,
        _ if path.starts_with("core/") => {
            (path.ends_with(".go") || path.ends_with(".sql") && path.contains("/migrations/"))
                && !path.ends_with("_test.go")
                && !path.contains("/testdata/")
                && !path.starts_with("core/tmp/")
                && !path.starts_with("core/pkg/imagetest/")
                && !path.starts_with("core/internal/conformance/")
                && !path.starts_with("core/pkg/stacktest/")
                && !path.starts_with("core/pkg/apitest/")
        }
        _ if path.starts_with("proto/") => {
            path.ends_with(".proto") || path.starts_with("proto/gen/") && path.ends_with(".go")
        }
        // The workspace stage reads every module's go.mod and go.sum.
        _ if path.starts_with("plugins/") => path.ends_with("/go.mod") || path.ends_with("/go.sum"),
        _ => false,
    }
}

#[test]
fn planted_secrets_and_decoys_never_reach_the_build_context() {
    require_engine();
    let root = xtask::testkit::repo_root();
    let scratch = std::env::temp_dir().join(unique_name("pixie-context"));
    let ws = scratch.join("ws");
    let _remove = RemoveDir(scratch.clone());
    let tracked = ok(Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "--cached"]));
    let tracked: Vec<&str> = tracked
        .lines()
        .filter(|p| root.join(p).is_file()) // a file deleted in the work tree is not sent
        .collect();
    let write = |path: &str, content: &[u8]| {
        let path = ws.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    for path in &tracked {
        write(path, &std::fs::read(root.join(path)).unwrap());
    }
    for path in PLANTED_ABSENT.iter().chain(&PLANTED_PRESENT) {
        write(path, format!("planted {path}\n").as_bytes());
    }
    std::fs::write(scratch.join("ctx.Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();

    let out_dir = scratch.join("out");
    let held = hold_podman_build_lock();
    let out = docker()
        .env("DOCKER_BUILDKIT", "1")
        .arg("build")
        .arg("--file")
        .arg(scratch.join("ctx.Dockerfile"))
        .arg("--output")
        .arg(format!("type=local,dest={}", out_dir.display()))
        .arg(&ws)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(held);
    assert!(out.status.success(), "{}", text(&out).1);
    let mut sent: Vec<String> = xtask::fsutil::walk(&out_dir)
        .unwrap()
        .iter()
        .map(|p| {
            p.strip_prefix(&out_dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        // Known gap, not asserted: a dot-less file name (core/Makefile) cannot be told from a
        // package folder by the patterns.
        .filter(|p| p.rsplit('/').next().unwrap().contains('.') || p.starts_with("core/vendor/"))
        .collect();
    sent.sort();
    let mut expected: Vec<String> = tracked
        .iter()
        .filter(|p| belongs_in_context(p))
        .map(|p| p.to_string())
        .chain(PLANTED_PRESENT.iter().map(|p| p.to_string()))
        .collect();
    expected.sort();
    for path in PLANTED_ABSENT {
        assert!(
            !sent.iter().any(|s| s == path),
            "{path} reached the context"
        );
    }
    assert_eq!(
        sent, expected,
        "the context is not exactly what the builds read"
    );
    for path in [
        "README.md",
        "core/README.md",
        "proto/README.md",
        "deployments/docker/core.Dockerfile",
        ".ci/run",
        "xtask/Cargo.toml",
    ] {
        assert!(
            tracked.contains(&path) && !sent.iter().any(|s| s == path),
            "{path}"
        );
    }
}
