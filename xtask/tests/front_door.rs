//! The command line a newcomer meets, as forgiving as just and task: where to start, typo
//! suggestions, help in one style, every dry run valid shell, completions as people type under
//! bash and zsh, and the Makefile forwarding every command. Needs no Docker engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use xtask::commands::ALL;
use xtask::testkit::{ok, repo_root, scratch_dir, text, RemoveDir};

fn xtask() -> Command {
    xtask::testkit::xtask_at(env!("CARGO_BIN_EXE_xtask"))
}

/// A command's example without `cargo xtask` and without the shell around it (`> file && …`).
fn example_args(example: &str) -> Vec<&str> {
    example
        .split_whitespace()
        .skip(2)
        .take_while(|w| !matches!(*w, ">" | "&&" | "|" | ";"))
        .collect()
}

#[test]
fn no_command_says_where_to_start_and_lists_the_commands() {
    let out = xtask().output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("\nStart here: `cargo xtask run-dev`"),
        "{stdout}"
    );
    for registration in ALL {
        assert!(
            stdout.contains(&format!("\n  {:<12} ", registration.name)),
            "{}: {stdout}",
            registration.name
        );
    }
}

#[test]
fn list_json_gives_each_command_its_about_and_example() {
    let rows = xtask::testkit::json(&ok(xtask().args(["--list", "--json"])));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), ALL.len());
    for (row, registration) in rows.iter().zip(ALL) {
        assert_eq!(row["name"], registration.name);
        assert_eq!(row["about"], registration.about);
        assert_eq!(row["example"], registration.example);
    }
}

#[test]
fn a_typo_in_a_command_or_a_flag_gets_a_suggestion_and_exit_2() {
    for (args, tip) in [
        (&["buid-prod"][..], "'build-prod'"),
        (
            &["build-prod", "--platfrom", "x"],
            "a similar argument exists: '--platform'",
        ),
        (&["run-dev", "--detatch"], "'--detach'"),
    ] {
        let out = xtask().args(args).output().unwrap();
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("tip: "), "{args:?}: {stderr}");
        assert!(stderr.contains(tip), "{args:?}: {stderr}");
    }
}

/// Every placeholder of `help` is `<UPPER>` (or `[UPPER]` in a usage line).
fn placeholders_are_upper_case(help: &str) -> Result<(), String> {
    for (open, close) in [('<', '>'), ('[', ']')] {
        for piece in help.split(open).skip(1) {
            let Some(inside) = piece.split(close).next() else {
                continue;
            };
            let placeholder = !inside.is_empty()
                && !inside.contains(' ')
                && inside
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_=".contains(c));
            let usage = open == '<'
                || help
                    .lines()
                    .any(|l| l.starts_with("Usage:") && l.contains(&format!("[{inside}]")));
            if placeholder && usage && inside.chars().any(|c| c.is_ascii_lowercase()) {
                return Err(format!("{open}{inside}{close}"));
            }
        }
    }
    Ok(())
}

fn help_of(args: &[&str]) -> String {
    let out = xtask()
        .args(args)
        .arg("--help")
        .env("COLUMNS", "70")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    text(&out).0
}

#[test]
fn help_has_global_options_apart_one_placeholder_style_examples_and_no_figures() {
    let top = help_of(&[]);
    assert!(top.contains("\nExamples:\n  cargo xtask "), "{top}");
    let mut helps = vec![("cargo xtask".to_string(), top)];
    for registration in ALL.iter().filter(|r| r.name != "bench") {
        // bench's --help is the bench package's own.
        let help = help_of(&[registration.name]);
        assert!(
            help.contains(&format!("\nExample:\n  {}", registration.example)),
            "{}:\n{help}",
            registration.name
        );
        helps.push((registration.name.to_string(), help));
    }
    for (name, help) in &helps {
        let global = help
            .split("\nGlobal options:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: no Global options section:\n{help}"));
        assert!(global.contains("-n, --dry-run"), "{name}:\n{help}");
        let options = help.split("\nGlobal options:\n").next().unwrap();
        assert!(
            !options.contains("--dry-run"),
            "{name}: --dry-run outside its section"
        );
        placeholders_are_upper_case(help)
            .unwrap_or_else(|p| panic!("{name}: placeholder {p}:\n{help}"));
        assert!(
            help.lines().all(|l| l.chars().count() <= 70),
            "{name}:\n{help}"
        );
        // Measurements live in docs/performance.md, never in help.
        let words: Vec<&str> = help.split_whitespace().collect();
        let figure = words.windows(2).find(|pair| {
            let unit = pair[1].trim_end_matches([')', '.', ';', ',']);
            pair[0]
                .trim_start_matches(['(', '~'])
                .parse::<f64>()
                .is_ok()
                && ["s", "ms", "MB", "MiB", "GB", "GiB", "%"].contains(&unit)
        });
        assert_eq!(figure, None, "{name} help has a measurement:\n{help}");
    }
    let help = help_of(&["build-prod"]);
    for spec in xtask::settings::ALL
        .into_iter()
        .filter(|s| s.flag_of == xtask::settings::FlagOf::BuildProd)
    {
        let names = format!("[env: {}]", spec.env);
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&names), "{names}:\n{help}");
    }
}

fn bash_syntax_error(script: &str) -> Option<String> {
    let mut check = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A stand-in docker that says it was called: a dry run that asks the engine anything fails.
fn recording_docker(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let called = dir.join("docker-called");
    let docker = dir.join("docker");
    std::fs::write(
        &docker,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\n[ \"$1\" = --version ] && echo 'Docker version 20.10.24, build 1' && exit 0\nexit 1\n",
            called.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    (docker, called)
}

/// Every command's dry run (its example, with `-n`) is a script bash can parse; bench's is
/// checked in the bench package, which prints it.
#[test]
fn every_dry_run_is_valid_shell() {
    let dir = scratch_dir("dry-runs");
    let _remove = RemoveDir(dir.clone());
    let (docker, called) = recording_docker(&dir);
    for registration in ALL.iter().filter(|r| r.name != "bench") {
        let args = example_args(registration.example);
        let out = xtask()
            .arg("-n")
            .args(&args)
            .env("DOCKER", &docker)
            .env("XDG_CONFIG_HOME", &dir)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stdout.trim().is_empty(), "{args:?} printed nothing");
        if let Some(error) = bash_syntax_error(&stdout) {
            panic!(
                "`cargo xtask -n {}` is not valid shell: {error}\n{stdout}",
                args.join(" ")
            );
        }
    }
    // The builds' dry runs show the checks that run first.
    let plan = ok(xtask().args(["-n", "build-prod"]).env("DOCKER", &docker));
    assert!(
        plan.contains("mod tidy -diff") && plan.contains(" image inspect "),
        "{plan}"
    );
    // doctor's asks nothing of the engine, not even which CLI it is.
    std::fs::remove_file(&called).ok();
    ok(xtask().args(["doctor", "-n"]).env("DOCKER", &docker));
    assert!(!called.exists(), "doctor --dry-run ran docker");
}

#[test]
fn the_makefile_forwards_every_command_and_its_help_is_the_xtasks() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("make");
    let _remove = RemoveDir(dir.clone());
    // What `make GOAL ARGS=--dry-run` would run.
    let planned = |goal: &str| {
        ok(Command::new("make")
            .args([
                "-n",
                "-s",
                "-f",
                "Makefile.optimize",
                goal,
                "ARGS=--dry-run",
            ])
            .env_remove("CARGO")
            .current_dir(repo_root()))
    };
    for registration in ALL {
        assert_eq!(
            planned(registration.name),
            format!("cargo xtask {} --dry-run", registration.name)
        );
    }
    // The legacy `plugins`: every plugin's image, through build-prod.
    let out = planned("plugins");
    assert_eq!(out, "cargo xtask build-prod --module thumbnailer --dry-run");
    // Stands in for `cargo`: `cargo xtask ARGS` runs this very xtask binary with ARGS.
    let cargo = dir.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\nshift\nexec {} \"$@\"\n",
            env!("CARGO_BIN_EXE_xtask")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let help = ok(Command::new("make")
        .args(["-s", "-f", "Makefile.optimize", "help"])
        .arg(format!("CARGO={}", cargo.display()))
        .current_dir(repo_root()));
    assert_eq!(format!("{help}\n"), ok(&mut xtask()) + "\n");
    // A reader that stops early (`| head -1`) is no failure of make's.
    let status = Command::new("bash")
        .args(["-o", "pipefail", "-c"])
        .arg(format!(
            "make -s -f Makefile.optimize help CARGO={} | head -1",
            cargo.display()
        ))
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "make help | head -1: {status}");
}

/// Types each of `lines` into an interactive zsh (in a pseudo-terminal) that sourced `script`,
/// presses TAB twice, and prints what the terminal showed, until `expected` shows or 10 s pass.
const ZSH_TYPIST: &str = r#"
zmodload zsh/zpty
script=$1; dump=$2; shift 2
zpty z zsh -f -i
zpty -w z "PROMPT='> '; unsetopt beep; autoload -Uz compinit && compinit -u -d $dump"
zpty -w z "source $script; zstyle ':completion:*' list-prompt ''"
while (( $# )); do
  line=$1 expected=$2; shift 2
  zpty -w -n z "$line"$'\t\t'
  out=''
  for i in {1..100}; do
    while zpty -r -t z chunk 2>/dev/null; do out+=$chunk; done
    [[ $out == *$expected* ]] && break
    sleep 0.1
  done
  print -r -- "=== $line"
  print -r -- "$out"
  zpty -w -n z $'\x15'
done
zpty -d z
"#;

fn completion_script(shell: &str, dir: &Path) -> PathBuf {
    let script = dir.join(format!("cargo-xtask.{shell}"));
    std::fs::write(&script, ok(xtask().args(["completions", shell]))).unwrap();
    script
}

#[test]
fn cargo_xtask_tab_completes_commands_and_flags_under_bash() {
    let dir = scratch_dir("bash-completion");
    let _remove = RemoveDir(dir.clone());
    let script = completion_script("bash", &dir);
    // What bash does on TAB: the function `complete -p cargo` names, with the words so far.
    let typed = |words: &str| {
        ok(Command::new("bash").args(["--norc", "--noprofile", "-c"]).arg(format!(
            "source {}\nset -- $(complete -p cargo)\nfunction=${{@: -2:1}}\n\
             COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n\
             \"$function\" cargo \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        )))
    };
    assert_eq!(typed("cargo xtask bu"), "build-prod\nbuild-dev");
    assert_eq!(typed("cargo xtask build-prod --pla"), "--platform");
    assert!(typed("cargo xtask -n logs ''").lines().any(|l| l == "dev"));
    assert!(typed("cargo xtask completions ''")
        .lines()
        .any(|l| l == "zsh"));
}

#[test]
fn cargo_xtask_tab_completes_commands_and_flags_under_zsh() {
    let dir = scratch_dir("zsh-completion");
    let _remove = RemoveDir(dir.clone());
    let script = completion_script("zsh", &dir);
    let out = Command::new("zsh")
        .args(["-f", "-c", ZSH_TYPIST, "zsh"])
        .arg(&script)
        .arg(dir.join("zcompdump"))
        .args([
            "cargo xtask bu",
            "build-prod",
            "cargo xtask build-prod --pla",
            "--platform",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("zsh does not run ({e}); run `bash .ci/provision`, which installs it")
        });
    let shown = text(&out).0;
    let (first, second) = shown
        .split_once("=== cargo xtask build-prod --pla")
        .expect(&shown);
    assert!(
        first.contains("build-prod") && first.contains("build-dev"),
        "{shown}"
    );
    assert!(
        second.contains("cargo xtask build-prod --platform"),
        "{shown}"
    );
}

/// The README is the front door: short, every command in its table, links that lead somewhere,
/// and no dated figures (they live in docs/performance.md, made from the bench's own output).
#[test]
fn the_readme_is_a_front_door() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 200,
        "README.md has {} lines",
        readme.lines().count()
    );
    for registration in ALL {
        assert!(
            readme.contains(&format!("| `{}", registration.name)),
            "README.md's commands table has no row for {}",
            registration.name
        );
    }
    for word in readme.split(['`', ' ', '(', ')', ',', '\n']) {
        let word = word.trim_end_matches(['.', ';', ':']);
        if (word.starts_with("docs/") || word == "CONTRIBUTING.md") && word.ends_with(".md") {
            assert!(
                repo_root().join(word).is_file(),
                "README.md points at {word}, which is missing"
            );
        }
    }
    let dated = readme.lines().find(|line| {
        line.as_bytes().windows(10).any(|w| {
            w.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            })
        })
    });
    assert_eq!(
        dated, None,
        "a dated figure in README.md: its place is docs/performance.md"
    );
}
