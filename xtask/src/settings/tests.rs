use super::*;
use anyhow::Result;
use std::path::Path;

fn resolve(yaml: &str, env: &[(&str, &str)], flags: Flags) -> Result<Config> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |var: &str| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone());
    Config::resolve_text(yaml, &lookup, &flags)
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let yaml = "run:\n  http_port: 8081\n  grpc_port: 9091\nbase_images:\n  go: local/go:1\n";
    let flags = vec![(&HTTP_PORT, Value::Port(8083))];
    let cfg = resolve(
        yaml,
        &[("PIXIE_HTTP_PORT", "8082"), ("PIXIE_GRPC_PORT", "9092")],
        flags,
    )
    .unwrap();
    assert_eq!(
        (cfg.port(&HTTP_PORT), cfg.source(&HTTP_PORT)),
        (8083, &Source::Flag)
    );
    assert_eq!(
        (cfg.port(&GRPC_PORT), cfg.source(&GRPC_PORT)),
        (9092, &Source::Env("PIXIE_GRPC_PORT"))
    );
    assert_eq!(
        (cfg.text(&GO_IMAGE), cfg.source(&GO_IMAGE)),
        ("local/go:1", &Source::File)
    );
    assert_eq!(cfg.source(&RUNTIME_IMAGE), &Source::Default);
}

#[test]
fn unknown_key_cites_its_line() {
    let message = format!(
        "{:#}",
        resolve("build:\n  gogc: 200\n  vendr: true\n", &[], Flags::new()).unwrap_err()
    );
    assert!(message.contains("unknown field `vendr`"), "{message}");
    assert!(message.contains("line 3"), "{message}");
    let message = format!(
        "{:#}",
        resolve("bild:\n  gogc: 200\n", &[], Flags::new()).unwrap_err()
    );
    assert!(message.contains("unknown field `bild`"), "{message}");
}

#[test]
fn wrong_type_cites_its_line() {
    let message = format!(
        "{:#}",
        resolve("run:\n  http_port: eighty\n", &[], Flags::new()).unwrap_err()
    );
    assert_eq!(
        message,
        "run.http_port: expected a port 1-65535, found `eighty` (line 2)"
    );
    let yaml = "build:\n  vendor: false\n  # tuned\n  gogc: banana\nrun:\n  http_port: 1\n";
    let message = format!("{:#}", resolve(yaml, &[], Flags::new()).unwrap_err());
    assert!(
        message.starts_with("build.gogc: `banana` is not a GOGC value")
            && message.ends_with(" (line 4)"),
        "{message}"
    );
}

#[test]
fn a_key_or_section_given_twice_names_both_lines() {
    let message = |yaml: &str| format!("{:#}", resolve(yaml, &[], Flags::new()).unwrap_err());
    assert_eq!(
        message("build:\n  vendor: true\n  gogc: 200\n  vendor: false\n"),
        "build.vendor is set twice (lines 2 and 4); keep one"
    );
    assert_eq!(
        message("build:\n  vendor: true\nrun:\n  bind: 127.0.0.1\nbuild:\n  gogc: 200\n"),
        "section build appears twice (lines 1 and 5); merge them into one"
    );
}

#[test]
fn unknown_variables_are_named_with_the_closest_setting() {
    let names = [
        "PIXIE_GO_IMAEG",
        "PIXIE_DECODE_MEMORY",
        "PIXIE_CI_X",
        "HOME",
        "PIXIE_HTTP_PORT",
    ];
    assert_eq!(
            unknown_variables(names.map(String::from)),
            ["PIXIE_GO_IMAEG is not a setting (ignored); did you mean PIXIE_GO_IMAGE? (`cargo xtask config` lists them)"]
        );
}

/// The services' own variables are not mistakes: every `PIXIE_*` name the settings packages
/// of every module read is known here, so a new one cannot be forgotten.
#[test]
fn core_runtime_variables_are_known() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ws = crate::workspace::Workspace::at(root.clone());
    let mut dirs = vec![root.join("core/pkg/settings")];
    for m in ws.go_modules().unwrap() {
        dirs.push(root.join(&m.dir).join("internal/config"));
    }
    dirs.retain(|d| d.is_dir());
    let mut names = Vec::new();
    for entry in dirs.iter().flat_map(|dir| std::fs::read_dir(dir).unwrap()) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".go") || name.ends_with("_test.go") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for quoted in source.split('"').skip(1).step_by(2) {
            if quoted.starts_with("PIXIE_")
                && quoted.len() > 6
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                names.push(quoted.to_string());
            }
        }
    }
    assert!(names.len() > 20, "read {names:?} from {dirs:?}");
    assert_eq!(unknown_variables(names), Vec::<String>::new());
}

#[test]
fn bad_env_value_names_the_variable() {
    let message = resolve("", &[("PIXIE_HTTP_PORT", "70000")], Flags::new())
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("PIXIE_HTTP_PORT=70000 is invalid"),
        "{message}"
    );
}

#[test]
fn gogc_accepts_off_numbers_and_empty_only() {
    assert_eq!("off".parse::<Gogc>().unwrap(), Gogc("off".into()));
    assert_eq!("400".parse::<Gogc>().unwrap(), Gogc("400".into()));
    assert_eq!("".parse::<Gogc>().unwrap(), Gogc::default());
    assert!("0".parse::<Gogc>().is_err());
    assert!("fast".parse::<Gogc>().is_err());
    let cfg = resolve("build:\n  gogc: 200\n", &[], Flags::new()).unwrap();
    assert_eq!(cfg.gogc(&GOGC), &Gogc("200".into()));
}

#[test]
fn cache_lists_are_words_in_env_and_file() {
    let cfg = resolve(
        "build:\n  cache_from: \"a b\"\n",
        &[("PIXIE_CACHE_TO", "type=inline")],
        Flags::new(),
    )
    .unwrap();
    assert_eq!(cfg.words(&CACHE_FROM), ["a", "b"]);
    assert_eq!(cfg.text(&CACHE_TO), "type=inline");
}

#[test]
fn every_default_parses_and_every_key_reads_as_its_kind() {
    let cfg = resolve("", &[], Flags::new()).unwrap();
    for spec in ALL {
        Value::parse(spec.kind, spec.default).unwrap();
        match spec.kind {
            Kind::Text => drop(cfg.text(spec)),
            Kind::Bool => drop(cfg.flag(spec)),
            Kind::Port => drop(cfg.port(spec)),
            Kind::Addr | Kind::Stack => drop(cfg.text(spec)),
            Kind::Gogc => drop(cfg.gogc(spec)),
            Kind::Words => drop(cfg.words(spec)),
        }
        assert!(spec.env.starts_with("PIXIE_"), "{}", spec.key);
        assert_eq!(
            spec.flag.is_empty(),
            spec.flag_of == FlagOf::None,
            "{}",
            spec.key
        );
    }
}

fn repo_file(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read_to_string(root.join(name)).unwrap()
}

#[test]
fn the_committed_config_file_sets_every_key_to_its_default() {
    let cfg = Config::resolve_text(&repo_file(CONFIG_FILE), &|_| None, &Flags::new()).unwrap();
    let defaults = resolve("", &[], Flags::new()).unwrap();
    for spec in ALL {
        assert_eq!(
            cfg.source(spec),
            &Source::File,
            "{} is not in {CONFIG_FILE}",
            spec.key
        );
        assert_eq!(
            cfg.value(spec),
            defaults.value(spec),
            "{} in {CONFIG_FILE}",
            spec.key
        );
    }
}

#[test]
fn the_readme_settings_table_is_the_generated_one() {
    let readme = repo_file("README.md");
    let start = readme
        .find("| key | env | flag | default |")
        .expect("README has the settings table");
    let end = readme[start..]
        .find("\n\n")
        .map_or(readme.len(), |e| start + e + 1);
    assert_eq!(
        &readme[start..end],
        markdown_table(),
        "README's settings table drifted from settings::ALL; paste settings::markdown_table()"
    );
}
